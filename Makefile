# Vessel. Quick start (as root, on Debian 12): `make demo`, then `make test`.
SHELL := /bin/bash
JAVA_HOME := $(shell scripts/find-jdk)
export JAVA_HOME
MVN := ./mvnw -q -B

.PHONY: all deps build images demo test unit e2e bench clean

all: build

# apt packages and host settings the runtime and its tests need; quick when all are there.
deps:
	@scripts/install-deps

build:
	@test -n "$(JAVA_HOME)" || { scripts/find-jdk; exit 1; }
	$(MVN) package -DskipTests

images: build
	@images/busybox.sh build/images/busybox

demo: deps build images
	@scripts/demo

unit:
	$(MVN) test

e2e: deps build images
	@bin/vessel daemon stop >/dev/null 2>&1 || true
	@tests/run.sh

# The end-to-end tests run against this build: a daemon from an earlier one is stopped first.
test: deps build images
	$(MVN) test
	@bin/vessel daemon stop >/dev/null 2>&1 || true
	@tests/run.sh

bench: deps build images
	@for b in bench/*/run; do $$b || exit 1; done

clean:
	$(MVN) clean
	rm -rf build bin/vessel
