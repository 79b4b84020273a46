#!/usr/bin/env bash
# The client/daemon split (issue #2, §2 and §7): the daemon starts on first use, says why when it
# cannot, and can be killed with -9 under running containers without harming them; state, exec,
# kill and delete work once the next call has started a new daemon. Also runc as the low-level
# runtime, chosen in the config file.
source "$(dirname "$0")/../lib.sh"

[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
host_prepare || skip_all "host_prepare failed"
ensure_image || skip_all "image build failed"

# A daemon of our own: its own socket and config, so the host's daemon is not disturbed.
export VESSEL_SOCKET=$T/vessel/vesseld.sock
export VESSEL_CONFIG=$T/config.toml
export VESSEL_LOG=$T/vessel/vesseld.log
ROOT=$T/root
RT=("$VESSEL" --root "$ROOT")
daemon_pid() { "$VESSEL" daemon status 2>/dev/null; }
# Our daemon, and the keeper and resource view it started beside its socket.
cleanup_daemon() {
  "$VESSEL" daemon stop >/dev/null 2>&1
  for p in $(pids_matching "vessel-keeper $T/"); do kill -KILL "$p"; done
  umount -l "$T/vessel/view" 2>/dev/null
  true
}
on_cleanup cleanup_daemon

B_SLEEP=$T/b-sleep; mkbundle "$B_SLEEP" '.process.args = ["sleep", "1000"]'
B_ECHO=$T/b-echo;   mkbundle "$B_ECHO" '.process.args = ["sh", "-c", "echo from-$(cat /etc/hostname)"]'

# --- start on first use, status, stop ---
run "$VESSEL" daemon status
assert_eq "status before first use: not running, exit 3" 3 "$RC"
run "${RT[@]}" list
assert_eq "first call starts the daemon and answers" 0 "$RC"
pid=$(daemon_pid)
assert_match "daemon status prints its pid" '^[0-9]+$' "$pid"
assert_ne "the daemon runs in its own session, not the caller's" "$(ps -o sid= -p $$ | tr -d ' ')" "$(ps -o sid= -p "$pid" | tr -d ' ')"
assert_ne "the daemon is not the caller's child" "$$" "$(ps -o ppid= -p "$pid" | tr -d ' ')"
run "$VESSEL" daemon stop
assert_eq "daemon stop" 0 "$RC"
run "$VESSEL" daemon status
assert_eq "status after stop: not running" 3 "$RC"

# --- a daemon that cannot start: one line that says why, non-zero ---
run env VESSEL_SOCKET=$T/broken/vesseld.sock VESSEL_DAEMON=$T/no-such-vesseld "$VESSEL" list
assert_ne "unstartable daemon: non-zero exit" 0 "$RC"
assert_eq "unstartable daemon: one line on stderr" 1 "$(printf '%s\n' "$ERR" | wc -l)"
assert_contains "unstartable daemon: names the launcher" "$ERR" "no-such-vesseld"
printf 'state_root = "relative/path"\n' > "$T/bad.toml"
run env VESSEL_SOCKET=$T/broken2/vesseld.sock VESSEL_CONFIG=$T/bad.toml "$VESSEL" list
assert_ne "daemon with a bad config: non-zero exit" 0 "$RC"
assert_contains "daemon with a bad config: says why" "$ERR" "state_root must be an absolute path"

# --- kill -9 the daemon under a running container ---
check "create" "${RT[@]}" create --bundle "$B_SLEEP" k9
check "start" "${RT[@]}" start k9
cpid=$("${RT[@]}" state k9 | jq -r .pid)
old=$(daemon_pid)
kill -9 "$old"
sleep 0.5
check "container survives kill -9 of the daemon" kill -0 "$cpid"
run "${RT[@]}" state k9
assert_eq "state after the restart" running "$(printf '%s' "$OUT" | jq -r .status)"
assert_ne "a new daemon answered" "$old" "$(daemon_pid)"
run "${RT[@]}" exec k9 sh -c 'echo exec-ok'
assert_eq "exec after the restart" exec-ok "$OUT"
kill -9 "$(daemon_pid)"
check "kill after another restart" "${RT[@]}" kill k9 KILL
wait_for 10 "! kill -0 $cpid" && pass "container killed" || fail "container killed"
check "delete after the restart" "${RT[@]}" delete k9
check_fails "gone after delete" "${RT[@]}" state k9
assert_contains "gone after delete: state names the id" "$ERR" "k9"

# --- run in the foreground: the client becomes crun, stdout and status pass through ---
run "${RT[@]}" run --bundle "$B_ECHO" fg1
assert_eq "run: output" "from-vessel-bb" "$OUT"
assert_eq "run: status" 0 "$RC"
mkbundle "$T/b-exit" '.process.args = ["sh", "-c", "exit 7"]'
run "${RT[@]}" run --bundle "$T/b-exit" fg2
assert_eq "run: the workload's exit status" 7 "$RC"

# --- events and features ---
check "create for events" "${RT[@]}" create --bundle "$B_SLEEP" ev
run "${RT[@]}" events --stats ev
assert_eq "events --stats: runc's stats JSON" stats "$(printf '%s' "$OUT" | jq -r .type)"
assert_match "events --stats: memory usage" '^[0-9]+$' "$(printf '%s' "$OUT" | jq -r .data.memory.usage.usage)"
check "delete --force" "${RT[@]}" delete --force ev
run "${RT[@]}" features
assert_eq "features names the isolation annotation" "container|microvm" "$(printf '%s' "$OUT" | jq -r '.annotations["dev.vessel.isolation"]')"

# --- runc as the low-level runtime ---
"$VESSEL" daemon stop >/dev/null 2>&1
printf 'low_level_runtime = "runc"\n' > "$VESSEL_CONFIG"
run "$VESSEL" --version
assert_contains "--version names runc" "$OUT" "runc"
check "runc: create" "${RT[@]}" create --bundle "$B_SLEEP" r1
check "runc: start" "${RT[@]}" start r1
run "${RT[@]}" state r1
assert_eq "runc: running" running "$(printf '%s' "$OUT" | jq -r .status)"
assert_eq "runc: state names the caller's bundle, not runc's copy" "$B_SLEEP" "$(printf '%s' "$OUT" | jq -r .bundle)"
assert_eq "runc: no bookkeeping annotation in the state" null "$(printf '%s' "$OUT" | jq -r '.annotations["dev.vessel.bundle"]')"
check "runc: state.json written by runc" test -f "$ROOT/r1/state.json"
check "runc: delete --force" "${RT[@]}" delete --force r1
assert_eq "runc: the copied bundle is removed" "" "$(ls -A "$ROOT")"
run "${RT[@]}" run --bundle "$T/b-exit" r2
assert_eq "runc: run gives the workload's status" 7 "$RC"

# --- the daemon's own cgroup (issue 10, item 4): started by podman, it is not in conmon's cgroup ---
# (podman passes the runtime none of our VESSEL_* variables: conmon's vessel talks to the default
# socket; both daemons are stopped first, so whichever serves afterwards is the one podman started)
if podman_start; then
  "$VESSEL" daemon stop >/dev/null 2>&1
  env -u VESSEL_SOCKET "$VESSEL" daemon stop >/dev/null 2>&1
  run podman_v run --rm "$IMAGE_NAME" true
  assert_eq "podman run starts a daemon and runs" 0 "$RC"
  started=$(env -u VESSEL_SOCKET "$VESSEL" daemon status 2>/dev/null || "$VESSEL" daemon status 2>/dev/null)
  assert_match "the daemon podman started answers" '^[0-9]+$' "$started"
  assert_eq "its cgroup is /vessel/vesseld in every hierarchy, not conmon's" "" \
    "$(grep -v ':/vessel/vesseld$' "/proc/$started/cgroup" 2>&1)"
  check "its cgroup lines exist" grep -q . "/proc/$started/cgroup"
else
  fail "podman set-up for the cgroup check"
fi

summary
