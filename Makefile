# Vessel. Quick start (as root, on Debian 12): `make demo`, then `make test`.
SHELL := /bin/bash
JAVA_HOME := $(shell scripts/find-jdk)
export JAVA_HOME
MVN := ./mvnw -q -B

.PHONY: all deps build images assets demo test unit e2e bench clean install uninstall

# `make install` (as root): PREFIX (default /usr/local), DESTDIR, SYSCONFDIR (/etc),
# SYSTEMD_UNIT_DIR, WITH_SYSTEMD=auto|yes|no; scripts/install says where each part goes.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
export PREFIX DESTDIR SYSCONFDIR SYSTEMD_UNIT_DIR WITH_SYSTEMD

all: build

# apt packages and host settings the runtime and its tests need; quick when all are there.
deps:
	@scripts/install-deps

# then the daemon's AOT cache, from a training run (scripts/train-aot; skipped while up to date)
build:
	@test -n "$(JAVA_HOME)" || { scripts/find-jdk; exit 1; }
	$(MVN) package -DskipTests
	@scripts/train-aot .

images: build
	@images/busybox.sh build/images/busybox

# The microVM guest: Debian's kernel and an initrd around vessel-agent (rebuilt only when they change).
assets: build
	@bin/vessel daemon stop >/dev/null 2>&1 || true
	@bin/vessel assets build

demo: deps build images assets
	@scripts/demo

unit:
	$(MVN) test

e2e: deps build images assets
	@bin/vessel daemon stop >/dev/null 2>&1 || true
	@tests/run.sh

# The end-to-end tests run against this build: a daemon from an earlier one is stopped first.
test: deps build images assets
	$(MVN) test
	@bin/vessel daemon stop >/dev/null 2>&1 || true
	@tests/run.sh

bench: deps build images
	@for b in bench/*/run; do $$b || exit 1; done

install: build
	@scripts/install install

uninstall:
	@scripts/install uninstall

clean:
	$(MVN) clean
	rm -rf build bin/vessel bin/vessel-microvm
