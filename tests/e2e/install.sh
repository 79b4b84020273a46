#!/usr/bin/env bash
# Installed like a runtime (issue 10, item 3): `make install` into a scratch prefix, the installed
# client runs --version and a container with the installed daemon, a copied client finds its daemon,
# the systemd unit and the sample config are what they say, DESTDIR stages without touching the
# prefix, and `make uninstall` leaves exactly what was there before.
source "$(dirname "$0")/../lib.sh"

host_prepare || skip_all "host_prepare failed"
ensure_image || skip_all "image build failed"
[ -f "$REPO/build/lib/vessel-daemon.jar" ] || skip_all "no build: run make build"

P=$T/prefix ETC=$T/etc
mkdir -p "$P" "$ETC"
# what a Debian host has before any install: empty /usr/local/{bin,lib,share/man} (base-files) and
# /etc/logrotate.d; make uninstall must leave them, removing only the directories make install made
mkdir -p "$P/bin" "$P/lib" "$P/share/man" "$ETC/logrotate.d"
# A daemon of our own (socket, log, config), so the host's daemon is not disturbed.
export VESSEL_SOCKET=$T/run/vesseld.sock VESSEL_LOG=$T/log/vesseld.log VESSEL_CONFIG=$ETC/vessel/config.toml
unset VESSEL_DAEMON
IV=$P/bin/vessel
daemon_pid() { "$IV" daemon status 2>/dev/null; }
cleanup_install() {
  "$IV" daemon stop >/dev/null 2>&1
  for p in $(pids_matching "vessel-keeper $T/"); do kill -KILL "$p"; done
  umount -l "$T/run/view" 2>/dev/null
  true
}
on_cleanup cleanup_install
files_under() { (cd "$1" && find . -mindepth 1 | sort); }
before=$(files_under "$T")

# --- make install PREFIX=... ---
run -t 600 make -C "$REPO" --no-print-directory install PREFIX="$P" SYSCONFDIR="$ETC" WITH_SYSTEMD=yes SYSTEMD_UNIT_DIR="$T/units"
assert_eq "make install: exit 0" 0 "$RC" || _show stderr "$ERR"
assert_eq "the client is a link into lib/vessel" "../lib/vessel/bin/vessel" "$(readlink "$IV")"
assert_eq "vessel-microvm is a link to the client" vessel "$(readlink "$P/bin/vessel-microvm")"
for f in bin/vessel bin/vesseld bin/vessel-keeper bin/vessel-agent scripts/find-jdk; do
  check "installed: lib/vessel/$f is executable" test -x "$P/lib/vessel/$f"
done
check "installed: the daemon's jars" test -f "$P/lib/vessel/build/lib/vessel-daemon.jar"
assert_eq "installed: every jar of the build" "$(cd "$REPO/build/lib" && ls ./*.jar)" "$(cd "$P/lib/vessel/build/lib" && ls ./*.jar)"
check "installed: the sample config" cmp "$REPO/packaging/config.toml" "$ETC/vessel/config.toml"
check "installed: README" test -f "$P/share/doc/vessel/README.md"
assert_contains "installed: the log's rotation" "$(cat "$ETC/logrotate.d/vessel" 2>/dev/null)" "/var/log/vessel/vesseld.log"
unit=$T/units/vesseld.service
assert_contains "unit: runs the installed daemon" "$(cat "$unit" 2>/dev/null)" "ExecStart=$P/lib/vessel/bin/vesseld"
assert_contains "unit: stopping it leaves the workloads" "$(cat "$unit" 2>/dev/null)" "KillMode=process"
assert_not_contains "unit: no placeholder left" "$(cat "$unit" 2>/dev/null)" "@"
if command -v systemd-analyze >/dev/null; then
  run systemd-analyze verify "$unit"
  assert_eq "unit: systemd-analyze verify finds nothing wrong" "" "$OUT$ERR"
fi

# --- the installed client starts the installed daemon and runs a container ---
run "$IV" --version
assert_eq "installed vessel --version: exit 0" 0 "$RC"
assert_contains "installed vessel --version" "$OUT" "vessel version"
pid=$(daemon_pid)
assert_contains "the daemon is the installed one" "$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)" "$P/lib/vessel/build/lib"
check "the daemon logs to VESSEL_LOG" test -s "$VESSEL_LOG"
assert_not_contains "the log has no library warnings" "$(cat "$VESSEL_LOG" 2>/dev/null)" "SLF4J"
assert_eq "the daemon's cgroup is /vessel/vesseld in every hierarchy" "" "$(grep -v ':/vessel/vesseld$' "/proc/$pid/cgroup" 2>/dev/null)"
keeper=$(pids_matching "vessel-keeper $T/run/" | head -n1)
assert_match "the daemon started its keeper" '^[0-9]+$' "$keeper"
assert_eq "the keeper is in /vessel/vesseld too" "" "$(grep -v ':/vessel/vesseld$' "/proc/$keeper/cgroup" 2>&1)"
mkbundle "$T/b-echo" '.process.args = ["sh", "-c", "echo installed-ok"]'
run "$IV" --root "$T/root" run --bundle "$T/b-echo" inst1
assert_eq "installed vessel runs a container" "installed-ok" "$OUT"
assert_eq "installed vessel: the workload's status" 0 "$RC"
run "$IV" doctor
assert_contains "doctor names the log" "$OUT" "log $VESSEL_LOG"
# a help page for every command the usage lists (its first word: "daemon start|stop|status" -> daemon)
run "$IV" help
cmds=$(printf '%s\n' "$OUT" | sed -n 's/^\(OCI runtime\|Vessel\) commands: *//p; /^  \{10,\}[a-z]/p' | tr ',' '\n' | awk 'NF { print $1 }')
assert_ge "vessel help lists the commands" 20 "$(printf '%s\n' "$cmds" | grep -c .)"
for c in $cmds; do
  run "$IV" help "$c"
  assert_eq "vessel help $c: exit 0" 0 "$RC"
  assert_match "vessel help $c: its usage" "^Usage: vessel $c( |\$)" "$(printf '%s\n' "$OUT" | head -n1)"
  assert_ge "vessel help $c: and what it does" 2 "$(printf '%s\n' "$OUT" | grep -c .)"
done

# --- a copied client finds its daemon ---
check "daemon stop" "$IV" daemon stop
mkdir -p "$T/copy"
cp "$P/lib/vessel/bin/vessel" "$T/copy/vessel"
run "$T/copy/vessel" --version
assert_eq "a copied installed client starts the daemon of the prefix it was built for" 0 "$RC"
assert_contains "… which is the installed one" "$(tr '\0' ' ' < "/proc/$(daemon_pid)/cmdline" 2>/dev/null)" "$P/lib/vessel"
check "daemon stop" "$IV" daemon stop
mkdir -p "$P/sbin"
cp "$REPO/bin/vessel" "$P/sbin/vessel"
run "$P/sbin/vessel" --version
assert_eq "a client copied into PREFIX/sbin finds ../lib/vessel/bin/vesseld" 0 "$RC"
assert_contains "… the installed one" "$(tr '\0' ' ' < "/proc/$(daemon_pid)/cmdline" 2>/dev/null)" "$P/lib/vessel"
rm -rf "$P/sbin"
check "daemon stop" "$IV" daemon stop
run env VESSEL_DAEMON="$T/no-such-vesseld" "$T/copy/vessel" --version
assert_ne "VESSEL_DAEMON that does not exist: non-zero" 0 "$RC"
assert_contains "… named" "$ERR" "$T/no-such-vesseld"

# --- the daemon's AOT cache: made by make install for the installed jars, never written by a daemon ---
CACHE=$P/lib/vessel/build/vesseld.aot
check "make install made the daemon's AOT cache" test -s "$CACHE"
assert_contains "… listed among the installed files" "$(cat "$P/lib/vessel/installed-files" 2>/dev/null)" "$CACHE"
cache_id=$(stat -c '%i %s %Y' "$CACHE" 2>/dev/null)
run "$IV" --version
pid=$(daemon_pid)
check "the installed daemon maps its AOT cache" grep -qF "$CACHE" "/proc/$pid/maps"
check "daemon stop" "$IV" daemon stop
wait_for 20 "! kill -0 $pid 2>/dev/null"
touch "$P/lib/vessel/build/lib/vessel-daemon.jar"
run "$IV" --version
assert_eq "a stale cache (a jar changed since): the daemon starts" 0 "$RC"
pid=$(daemon_pid)
assert_eq "… without the cache" 0 "$(grep -cF "$CACHE" "/proc/$pid/maps" 2>/dev/null)"
check "daemon stop" "$IV" daemon stop
wait_for 20 "! kill -0 $pid 2>/dev/null"
assert_eq "… and its exit leaves the cache as it was (no daemon writes it)" "$cache_id" "$(stat -c '%i %s %Y' "$CACHE" 2>/dev/null)"
mv "$CACHE" "$T/cache.kept"
run "$IV" --version
assert_eq "no cache: the daemon starts" 0 "$RC"
pid=$(daemon_pid)
check "daemon stop" "$IV" daemon stop
wait_for 20 "! kill -0 $pid 2>/dev/null"
check "… and none is written as it exits" test ! -e "$CACHE"
mv "$T/cache.kept" "$CACHE"

# --- make uninstall leaves what was there before ---
cleanup_install   # the daemon, and the keeper that would start one from the installed files
echo 'low_level_runtime = "runc"' >> "$ETC/vessel/config.toml"
run -t 120 make -C "$REPO" --no-print-directory uninstall PREFIX="$P" SYSCONFDIR="$ETC" WITH_SYSTEMD=yes SYSTEMD_UNIT_DIR="$T/units"
assert_eq "make uninstall: exit 0" 0 "$RC"
assert_contains "uninstall keeps a changed config, and says so" "$OUT" "kept $ETC/vessel/config.toml"
rm -f "$ETC/vessel/config.toml"; rmdir "$ETC/vessel"
rm -rf "$T/copy" "$T/root" "$T/b-echo" "$T/run" "$T/log" "$T/.out" "$T/.err"
assert_eq "after uninstall: exactly the files there were before" "$before" "$(files_under "$T")"
run "$IV" --version
assert_ne "the client is gone" 0 "$RC"
mkdir -p "$T/copy"; cp "$REPO/bin/vessel" "$T/copy/vessel" 2>/dev/null
if [ ! -e /usr/local/lib/vessel/bin/vesseld ]; then
  run env VESSEL_SOCKET="$T/run2/vesseld.sock" "$T/copy/vessel" --version
  assert_ne "a copied client with no daemon anywhere: non-zero" 0 "$RC"
  assert_eq "… one line" 1 "$(printf '%s\n' "$ERR" | wc -l)"
  assert_contains "… naming where it looked" "$ERR" "$T/copy/vesseld"
fi
rm -rf "$T/copy" "$T/run2"

# --- DESTDIR stages the same files, writing nothing under PREFIX ---
D=$T/dest
run -t 600 make -C "$REPO" --no-print-directory install DESTDIR="$D" PREFIX=/opt/vessel-test SYSCONFDIR=/etc WITH_SYSTEMD=yes
assert_eq "make install DESTDIR=...: exit 0" 0 "$RC"
check "DESTDIR: nothing written to the real prefix" test ! -e /opt/vessel-test
check "DESTDIR: the config under DESTDIR" test -f "$D/etc/vessel/config.toml"
assert_contains "DESTDIR: the unit names the real prefix" "$(cat "$D/opt/vessel-test/lib/systemd/system/vesseld.service" 2>/dev/null)" \
  "ExecStart=/opt/vessel-test/lib/vessel/bin/vesseld"
assert_eq "DESTDIR: the manifest lists every file, by its real path" \
  "$(cd "$D" && find . -type f -o -type l | sed 's|^\.||' | sort)" "$(sort "$D/opt/vessel-test/lib/vessel/installed-files" 2>/dev/null)"
run -t 120 make -C "$REPO" --no-print-directory uninstall DESTDIR="$D" PREFIX=/opt/vessel-test SYSCONFDIR=/etc WITH_SYSTEMD=yes
assert_eq "make uninstall DESTDIR=...: exit 0" 0 "$RC"
assert_eq "DESTDIR: nothing left (every directory under it was made by the install)" "" "$(files_under "$D")"

summary
