#!/usr/bin/env bash
# Bad input, straight against the runtime with its own --root (issue #2, §6):
# each error prints exactly one line on stderr naming what was wrong, exits non-zero,
# and leaves nothing behind (state dir, cgroup, process, mount). Then 50 create/start/
# delete cycles, some killed midway, and no leftover of any kind.
source "$(dirname "$0")/../lib.sh"

diag "runtime: $VESSEL"
[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found or not executable"
host_prepare || skip_all "host_prepare failed"
ensure_image || skip_all "image build failed"

ROOT=$T/root                 # the runtime's --root
mkdir -p "$ROOT"
P=vt$$                       # container id prefix of this run
RT=("$VESSEL" --root "$ROOT")

# bundles: echo hello (from images/busybox.sh), sleep 100, no config, malformed config
B_ECHO=$T/b-echo;   mkbundle "$B_ECHO" '.'
B_SLEEP=$T/b-sleep; mkbundle "$B_SLEEP" '.process.args = ["sleep", "100"]'
B_NOCFG=$T/b-nocfg; mkdir -p "$B_NOCFG/rootfs"
B_BAD=$T/b-bad;     mkdir -p "$B_BAD/rootfs"; printf '{"ociVersion": "1.0.2", "process": {"args": ["sh"' > "$B_BAD/config.json"

# Mounts: the host is shared (other engines and tests mount things concurrently), so a
# new mount counts as ours when it names this run's ids, scratch dir or image/rootfs.
mounts_now() { awk '{print $4 " " $5 " " $10}' /proc/self/mountinfo | sort; }
new_mounts() { # new mount lines since MOUNTS0 that are ours; other new ones as diagnostics
  local m
  comm -13 <(echo "$MOUNTS0") <(mounts_now) | while IFS= read -r m; do
    case "$m" in
      *"$P"*|*"$T"*|*"$IMAGE_DIR"*) echo "$m" ;;
      *) echo "# (not ours, ignored) new mount: $m" >&2 ;;
    esac
  done
}
mounts_ours() { awk -v t="$T" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort; }

MOUNTS0=$(mounts_now)

# processes whose command line or cgroup names PATTERN (our ids)
procs_named() { # (zombies excluded: they hold nothing and are their parent's to reap)
  local p
  for p in $({ pids_matching "$1"; grep -lF -- "$1" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3; } | sort -un); do
    grep -q '^State:[[:space:]]*[ZX]' "/proc/$p/status" 2>/dev/null || { [ -d "/proc/$p" ] && echo "$p"; }
  done
}

# whatever a failing run leaves: force-delete it, then kill and remove what is still
# there (only processes and cgroups named after this run's ids), so the scratch dir can go
_rt_cleanup() {
  local id p
  for id in $(timeout 10 "$VESSEL" --root "$ROOT" list -q 2>/dev/null); do
    timeout 20 "$VESSEL" --root "$ROOT" delete --force "$id" </dev/null >/dev/null 2>&1
  done
  for p in $(procs_named "$P-"); do kill -KILL "$p" 2>/dev/null; done
  sleep 0.2
  for p in $(cgroup_dirs_named "$P-" | sort -r); do rmdir "$p" 2>/dev/null; done
}
on_cleanup _rt_cleanup

# leftovers ID — prints anything left behind for ID (empty: nothing)
leftovers() {
  local id=$1 out="" x
  x=$(find "$ROOT" -mindepth 1 -name "*$id*" 2>/dev/null); [ -n "$x" ] && out+="state: $x"$'\n'
  x=$(cgroup_dirs_named "$id"); [ -n "$x" ] && out+="cgroups: $x"$'\n'
  x=$(procs_named "$id"); [ -n "$x" ] && out+="processes: $(for p in $x; do echo "$p: $(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null)"; done)"$'\n'
  x=$(new_mounts 2>/dev/null); [ -n "$x" ] && out+="new mounts: $x"$'\n'
  x=$(mounts_ours); [ -n "$x" ] && out+="mounts under $T: $x"$'\n'
  x=$(grep -F "$id" /proc/self/mountinfo); [ -n "$x" ] && out+="mounts naming $id: $x"$'\n'
  printf '%s' "$out"
}

# bad NAME ID NEEDLE CMD... — CMD must exit non-zero (no timeout), print exactly one
# line on stderr that contains NEEDLE, and leave nothing behind for ID.
bad() {
  local name=$1 id=$2 needle=$3; shift 3
  run "$@"
  local nlines
  nlines=$(printf '%s' "$ERR" | grep -c '')
  if [ "$RC" != 0 ] && [ "$RC" != 124 ]; then pass "$name: exits non-zero"; else _fail_run "$name: exits non-zero" "expected a non-zero exit: $*"; fi
  if [ "$nlines" = 1 ]; then pass "$name: exactly one line on stderr"; else _fail_run "$name: exactly one line on stderr" "got $nlines lines on stderr"; fi
  assert_contains "$name: the message names what was wrong ($needle)" "$ERR" "$needle"
  assert_eq "$name: nothing left behind" "" "$(leftovers "$id")"
}


# ---------------------------------------------------------------- bad input
bad "missing config.json" "$P-nocfg" "config.json" "${RT[@]}" create --bundle "$B_NOCFG" "$P-nocfg"
bad "malformed config.json" "$P-badcfg" "config.json" "${RT[@]}" create --bundle "$B_BAD" "$P-badcfg"
bad "bundle path does not exist" "$P-nobundle" "$T/does-not-exist" "${RT[@]}" create --bundle "$T/does-not-exist" "$P-nobundle"
bad "run: missing config.json" "$P-nocfg2" "config.json" "${RT[@]}" run --bundle "$B_NOCFG" "$P-nocfg2"
for cmd in state kill delete start; do
  bad "unknown container id: $cmd" "$P-nosuch" "$P-nosuch" "${RT[@]}" "$cmd" "$P-nosuch"
done
bad "unknown command" "frobnicate" "frobnicate" "$VESSEL" frobnicate
bad "unknown command (with --root)" "frobnicate" "frobnicate" "${RT[@]}" frobnicate "$P-x"

# duplicate id: the second create fails and leaves the first container intact
run "${RT[@]}" create --bundle "$B_SLEEP" "$P-dup"
assert_eq "create $P-dup exits 0" "0" "$RC"
assert_eq "created container's state is created" "created" "$(vessel_status "$ROOT" "$P-dup")"
pid=$("${RT[@]}" state "$P-dup" 2>/dev/null | jq -r .pid)
run "${RT[@]}" create --bundle "$B_SLEEP" "$P-dup"
nlines=$(printf '%s' "$ERR" | grep -c '')
if [ "$RC" != 0 ] && [ "$RC" != 124 ]; then pass "duplicate id: exits non-zero"; else _fail_run "duplicate id: exits non-zero" "second create succeeded"; fi
if [ "$nlines" = 1 ]; then pass "duplicate id: exactly one line on stderr"; else _fail_run "duplicate id: exactly one line on stderr" "got $nlines lines"; fi
assert_contains "duplicate id: the message names the id" "$ERR" "$P-dup"
assert_eq "duplicate id: the first container is still created" "created" "$(vessel_status "$ROOT" "$P-dup")"
assert_eq "duplicate id: same init pid" "$pid" "$("${RT[@]}" state "$P-dup" 2>/dev/null | jq -r .pid)"
assert_eq "duplicate id: exactly one init process" "1" "$(pids_matching "$P-dup" | wc -l)"

# invalid signal: non-zero, one line, and the container keeps running
run "${RT[@]}" start "$P-dup"
assert_eq "start $P-dup exits 0" "0" "$RC"
wait_for 10 "[ \"\$(\"$VESSEL\" --root \"$ROOT\" state $P-dup 2>/dev/null | jq -r .status)\" = running ]"
run "${RT[@]}" kill "$P-dup" NOTASIGNAL
nlines=$(printf '%s' "$ERR" | grep -c '')
if [ "$RC" != 0 ] && [ "$RC" != 124 ]; then pass "invalid signal: exits non-zero"; else _fail_run "invalid signal: exits non-zero" "kill $P-dup NOTASIGNAL succeeded"; fi
if [ "$nlines" = 1 ]; then pass "invalid signal: exactly one line on stderr"; else _fail_run "invalid signal: exactly one line on stderr" "got $nlines lines"; fi
assert_contains "invalid signal: the message names the signal" "$ERR" "NOTASIGNAL"
assert_eq "invalid signal: container still running" "running" "$(vessel_status "$ROOT" "$P-dup")"
run "${RT[@]}" kill "$P-dup" 99999
assert_ne "signal number out of range: exits non-zero" "0" "$RC"
assert_contains "signal number out of range: the message names it" "$ERR" "99999"
assert_eq "signal out of range: container still running" "running" "$(vessel_status "$ROOT" "$P-dup")"
run "${RT[@]}" kill "$P-dup" KILL
assert_eq "kill KILL exits 0" "0" "$RC"
wait_for 10 "[ \"\$(\"$VESSEL\" --root \"$ROOT\" state $P-dup 2>/dev/null | jq -r .status)\" = stopped ]"
assert_eq "after SIGKILL the container is stopped" "stopped" "$(vessel_status "$ROOT" "$P-dup")"
run "${RT[@]}" delete "$P-dup"
assert_eq "delete $P-dup exits 0" "0" "$RC"
assert_eq "after delete: nothing left of $P-dup" "" "$(leftovers "$P-dup")"

# ---------------------------------------------------------------- 50 cycles
# Every cycle: create, start, wait for the exit, delete. Every 5th runs `sleep 100`
# and is stopped midway: alternately `delete --force` while running, or `kill -9` + delete.
errors=()
rt() { # quiet runtime call; records failures. Output goes to files, never to a pipe:
       # the container's init inherits the runtime's stdio and would hold a pipe open.
  local rc
  timeout -k 5 30 "${RT[@]}" "$@" </dev/null >/dev/null 2>"$T/rt.err"
  rc=$?
  if [ "$rc" != 0 ]; then
    errors+=("cycle $i: $* -> exit $rc: $(head -c 500 "$T/rt.err")")
    return 1
  fi
}
wait_status() { # ID STATUS
  local n
  for n in $(seq 1 100); do
    [ "$(vessel_status "$ROOT" "$1")" = "$2" ] && return 0
    sleep 0.05
  done
  errors+=("cycle $i: $1 did not reach '$2' (state: $("${RT[@]}" state "$1" 2>&1 | tr '\n' ' '))")
  return 1
}
t0=$(date +%s)
for i in $(seq 1 50); do
  id=$P-cyc-$i
  if [ $((i % 5)) = 0 ]; then
    rt create --bundle "$B_SLEEP" "$id" || continue
    rt start "$id"
    wait_status "$id" running
    pid=$("${RT[@]}" state "$id" 2>/dev/null | jq -r .pid)
    if [ $((i % 10)) = 0 ]; then
      rt delete --force "$id"
    else
      [ -n "$pid" ] && [ "$pid" != 0 ] && [ "$pid" != null ] && kill -9 "$pid"
      wait_status "$id" stopped
      rt delete "$id"
    fi
    # the workload must be gone, not merely forgotten
    if [ -n "$pid" ] && [ "$pid" != null ] && [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
      sleep 0.5
      [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null \
        && errors+=("cycle $i: workload pid $pid still alive after delete")
    fi
  else
    rt create --bundle "$B_ECHO" "$id" || continue
    rt start "$id"
    wait_status "$id" stopped
    rt delete "$id"
  fi
done
t1=$(date +%s)
diag "50 cycles took $((t1 - t0)) s"
if [ "${#errors[@]}" = 0 ]; then
  pass "50 create/start/delete cycles: every command succeeded"
else
  fail "50 create/start/delete cycles: every command succeeded" "${#errors[@]} errors, first ones:" "${errors[@]:0:5}"
fi
sleep 0.5
assert_eq "after 50 cycles: no state left under --root" "" "$(ls -A "$ROOT")"
assert_eq "after 50 cycles: no cgroup left" "" "$(cgroup_dirs_named "$P-cyc-")"
assert_eq "after 50 cycles: no process left (by cmdline or cgroup)" "" "$(procs_named "$P-cyc-")"
assert_eq "after 50 cycles: no new mount" "" "$(new_mounts)"
assert_eq "after 50 cycles: no mount under the scratch dir" "" "$(mounts_ours)"
run "${RT[@]}" list -q
assert_eq "after 50 cycles: list -q succeeds and shows nothing" "0:" "$RC:$OUT"

summary
