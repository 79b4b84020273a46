#!/usr/bin/env bash
# containerd end-to-end: `ctr run --runc-binary $VESSEL` through containerd's runc shim
# (io.containerd.runc.v2), which passes --root, --log, --log-format json to the runtime
# and calls `ps --format json` (issue #2, §5).
source "$(dirname "$0")/../lib.sh"

diag "runtime: $VESSEL"
[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found or not executable"
host_prepare || skip_all "host_prepare failed"
containerd_start || skip_all "containerd did not start"
containerd_import || skip_all "ctr images import of $IMAGE_NAME failed"

BB=$IMAGE_NAME
P=vt$$

BG_TIMEOUT=120

# ---------------------------------------------------------------- run, exit status
run ctr_run --rm "$BB" "$P-echo" echo hi
assert_eq "ctr run --rm echo hi prints hi" "hi" "$OUT"
assert_eq "ctr run --rm echo hi exits 0" "0" "$RC"

assert_rc "sh -c 'exit 7' exits 7" 7 ctr_run --rm "$BB" "$P-exit" sh -c 'exit 7'

run ctr_run --rm "$BB" "$P-img" sh -c 'cat /www/index.html; echo err >&2'
assert_contains "image content" "$OUT" "hello from vessel"
assert_contains "stderr relayed" "$ERR" "err"

run ctr_t containers ls -q
assert_eq "run --rm leaves no container" "" "$OUT"
# the shim gave the runtime its own --root: nothing left there either
assert_eq "run --rm leaves nothing under the runtime --root" "" "$(ls -A "$CTRD_DIR/runc/$CTR_NS" 2>/dev/null)"

run ctr_run --rm "$BB" "$P-notty" tty
assert_eq "no tty without -t (busybox tty: not a tty, exit 1)" "not a tty 1" "$OUT $RC"

# ---------------------------------------------------------------- -t with a terminal
run with_tty ctr_run --rm -t "$BB" "$P-tty" sh -c 'tty; echo tty-ok; exit 3'
assert_match "run -t: tty is /dev/pts/N" '^/dev/pts/[0-9]+' "$OUT"
assert_contains "run -t output" "$OUT" "tty-ok"
assert_eq "run -t: exit status" "3" "$RC"

run with_tty_input 'echo in-$((6*7))\nexit 4\n' ctr_run --rm -t "$BB" "$P-tty2" sh
assert_contains "run -t: shell reads typed input" "$OUT" "in-42"
assert_eq "run -t: exit status of interactive shell" "4" "$RC"

# ---------------------------------------------------------------- exec, ps
run ctr_run -d "$BB" "$P-exec" sleep 1000
assert_eq "ctr run -d exits 0" "0" "$RC"
wait_for 20 "[ \"\$(task_status $P-exec)\" = RUNNING ]"
assert_eq "task is RUNNING" "RUNNING" "$(task_status "$P-exec")"
run ctr_exec --exec-id e1 "$P-exec" sh -c 'echo exec-ok; cat /proc/1/cmdline | tr "\0" " "'
assert_eq "exec: plain" "exec-ok
sleep 1000 " "$OUT"
assert_rc "exec: exit status propagates" 5 ctr_exec --exec-id e2 "$P-exec" sh -c 'exit 5'
run ctr_exec --exec-id e3 "$P-exec" /nonexistent-binary
assert_ne "exec of a missing binary fails" "0" "$RC"
assert_contains "exec of a missing binary: runtime's error reaches ctr (--log json)" "$OUT$ERR" "nonexistent-binary"
run with_tty ctr_exec -t --exec-id e4 "$P-exec" sh -c 'tty; echo exec-tty-ok'
assert_match "exec -t: tty is /dev/pts/N" '^/dev/pts/[0-9]+' "$OUT"
assert_contains "exec -t output" "$OUT" "exec-tty-ok"
run ctr_exec --exec-id e5 "$P-exec" tty
assert_eq "exec without -t has no tty" "not a tty 1" "$OUT $RC"

run ctr_exec -d --exec-id e6 "$P-exec" sleep 999
assert_eq "exec -d exits 0" "0" "$RC"
pid=$(task_pid "$P-exec")
wait_for 10 "ctr_t tasks ps $P-exec | grep -q e6"
run ctr_t tasks ps "$P-exec"
assert_eq "tasks ps (runtime ps --format json) exits 0" "0" "$RC"
assert_match "tasks ps lists the init process" "(^|[[:space:]])$pid[[:space:]]" "$OUT"
assert_contains "tasks ps lists the exec'd process" "$OUT" "ExecID:e6"
assert_eq "tasks ps lists exactly 2 processes" "2" "$(printf '%s\n' "$OUT" | awk 'NR > 1 && $1 ~ /^[0-9]+$/' | wc -l)"

# ---------------------------------------------------------------- kill
# SIGTERM to a workload that handles it (PID 1 ignores signals it has no handler for)
bg_run polite ctr_run --rm "$BB" "$P-polite" sh -c 'trap "exit 143" TERM; sleep 1000 & wait'
wait_for 20 "[ \"\$(task_status $P-polite)\" = RUNNING ]"
run ctr_t tasks kill "$P-polite"
assert_eq "tasks kill (SIGTERM) exits 0" "0" "$RC"
assert_eq "SIGTERM: ctr run returns the handler's status 143" "143" "$(bg_wait polite 15)"

# SIGTERM ignored: still running; then -s SIGKILL kills it
bg_run stubborn ctr_run --rm "$BB" "$P-stubborn" sh -c 'trap "" TERM; sleep 1000'
wait_for 20 "[ \"\$(task_status $P-stubborn)\" = RUNNING ]"
run ctr_t tasks kill "$P-stubborn"
sleep 2
assert_eq "SIGTERM ignored: task still RUNNING" "RUNNING" "$(task_status "$P-stubborn")"
run ctr_t tasks kill -s SIGKILL "$P-stubborn"
assert_eq "tasks kill -s SIGKILL exits 0" "0" "$RC"
assert_eq "SIGKILL: ctr run returns 137" "137" "$(bg_wait stubborn 15)"

# ---------------------------------------------------------------- pause / resume
run ctr_run -d "$BB" "$P-pause" sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/counter; sleep 0.1; done'
wait_for 20 "[ \"\$(task_status $P-pause)\" = RUNNING ]"
pid=$(task_pid "$P-pause")
wait_for 10 "[ -s /proc/$pid/root/tmp/counter ]"
run ctr_t tasks pause "$P-pause"
assert_eq "tasks pause exits 0" "0" "$RC"
assert_eq "pause: task is PAUSED" "PAUSED" "$(task_status "$P-pause")"
if [ "$(cgroup_version)" = 2 ]; then
  assert_eq "pause: cgroup.freeze is 1" "1" "$(cat "$(cgroup_file "$pid" freezer cgroup.freeze)" 2>/dev/null)"
else
  assert_eq "pause: freezer.state is FROZEN" "FROZEN" "$(cat "$(cgroup_file "$pid" freezer freezer.state)" 2>/dev/null)"
fi
a=$(read_counter "$pid"); sleep 1.5; b=$(read_counter "$pid")
assert_eq "pause: counter does not advance" "$a" "$b"
run ctr_t tasks resume "$P-pause"
assert_eq "tasks resume exits 0" "0" "$RC"
assert_eq "resume: task is RUNNING" "RUNNING" "$(task_status "$P-pause")"
sleep 1.5; c=$(read_counter "$pid")
if [[ "$c" =~ ^[0-9]+$ && "$b" =~ ^[0-9]+$ ]] && [ "$c" -gt "$b" ]; then
  pass "resume: counter advances again"
else
  fail "resume: counter advances again" "before: $b, after 1.5 s: $c"
fi

# ---------------------------------------------------------------- resources
run ctr_run -d --memory-limit 67108864 --cpus 0.5 "$BB" "$P-res" sleep 1000
wait_for 20 "[ \"\$(task_status $P-res)\" = RUNNING ]"
pid=$(task_pid "$P-res")
mem=$(cgroup_memory_limit "$pid"); cpu=$(cgroup_cpu_quota "$pid")
assert_eq "--memory-limit 64 MiB in the container's cgroup" "67108864" "$mem"
assert_eq "--cpus 0.5 in the container's cgroup" "50000 100000" "$cpu"
assert_contains "container's cgroup is its own" "$(cgroup_file "$pid" memory x)" "$P-res"

# ---------------------------------------------------------------- delete of a running task
id=$P-exec
pid=$(task_pid "$id")
pid_alive "$pid" && pass "rm -f: task process running before" || fail "rm -f: task process running before" "pid: $pid"
cg=$(dirname "$(cgroup_file "$pid" memory x)")
[ -d "$cg" ] && pass "rm -f: task cgroup exists before" || fail "rm -f: task cgroup exists before" "$cg"
[ -d "$CTRD_DIR/runc/$CTR_NS/$id" ] && pass "rm -f: runtime state dir exists before (shim's --root)" \
  || fail "rm -f: runtime state dir exists before (shim's --root)" "$(ls -la "$CTRD_DIR/runc/$CTR_NS" 2>&1)"
run ctr_t tasks rm -f "$id"
assert_eq "tasks rm -f of a running task exits 0" "0" "$RC"
run ctr_t containers rm "$id"
assert_eq "containers rm exits 0" "0" "$RC"
sleep 0.5
pid_alive "$pid" && fail "rm -f: task process gone" "pid $pid alive" || pass "rm -f: task process gone"
assert_eq "rm -f: no process of the container (cmdline or shim)" "" "$(pids_matching "-id $id ")"
[ -d "$cg" ] && fail "rm -f: task cgroup removed" "$cg still exists" || pass "rm -f: task cgroup removed"
assert_eq "rm -f: no cgroup dir names the container" "" "$(cgroup_dirs_named "$id")"
assert_eq "rm -f: no runtime state dir left" "" "$(ls -d "$CTRD_DIR/runc/$CTR_NS/$id" 2>/dev/null)"
assert_eq "rm -f: no mount names the container" "" "$(grep -F "/$id/" /proc/self/mountinfo)"

# the other running tasks, through `ctr tasks kill` + `ctr tasks rm` / `ctr c rm`
for id in "$P-pause" "$P-res"; do
  run ctr_t tasks kill -s SIGKILL "$id"
  wait_for 10 "[ \"\$(task_status $id)\" = STOPPED ]"
  run ctr_t tasks rm "$id"
  assert_eq "tasks rm $id after SIGKILL exits 0" "0" "$RC"
  run ctr_t containers rm "$id"
done

run ctr_t tasks ls -q
assert_eq "no tasks left" "" "$OUT"
run ctr_t containers ls -q
assert_eq "no containers left" "" "$OUT"
assert_eq "nothing left under the runtime --root" "" "$(ls -A "$CTRD_DIR/runc/$CTR_NS" 2>/dev/null)"
assert_eq "no cgroup left in the namespace's cgroup" "" "$(find /sys/fs/cgroup/*/"$CTR_NS" -mindepth 1 -type d 2>/dev/null)"

summary
