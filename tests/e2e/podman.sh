#!/usr/bin/env bash
# podman end-to-end: `podman --runtime $VESSEL` with the local busybox image (issue #2, §5).
source "$(dirname "$0")/../lib.sh"

diag "runtime: $VESSEL"
[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found or not executable"
host_prepare || skip_all "host_prepare failed"
podman_start || skip_all "podman set-up (load of $IMAGE_NAME) failed"

BB=$IMAGE_NAME
P=vt$$              # container name prefix for this run


# ---------------------------------------------------------------- run, exit status
run podman_v run --rm "$BB" echo hi
assert_eq "run --rm echo hi prints hi" "hi" "$OUT"
assert_eq "run --rm echo hi exits 0" "0" "$RC"

assert_rc "sh -c 'exit 7' exits 7" 7 podman_v run --rm "$BB" sh -c 'exit 7'

run podman_v run --rm "$BB" sh -c 'cat /www/index.html; id -u; pwd'
assert_eq "image content, uid 0, cwd /" "hello from vessel
0
/" "$OUT"

run podman_v run --rm "$BB" sh -c 'echo out; echo err >&2'
assert_eq "stdout separated" "out" "$OUT"
assert_contains "stderr separated" "$ERR" "err"

run podman_t ps -a --format '{{.Names}}'
assert_eq "run --rm leaves no container" "" "$OUT"

# without a terminal, `tty` must say so (so the tty checks below can fail); busybox's tty exits 1
run podman_v run --rm "$BB" tty
assert_eq "no tty without -t: tty says so" "not a tty" "$OUT"
assert_eq "no tty without -t: tty exits 1" 1 "$RC"

# ---------------------------------------------------------------- -it with a terminal
run with_tty podman_v run --rm -it "$BB" sh -c 'tty; echo tty-ok'
assert_eq "run -it exits 0" "0" "$RC"
assert_match "run -it: tty is /dev/pts/N" '^/dev/pts/[0-9]+' "$OUT"
assert_contains "run -it output" "$OUT" "tty-ok"

# interactive: type into the container's shell through the terminal
run with_tty_input 'echo in-$((6*7))\nexit 3\n' podman_v run --rm -it "$BB" sh
assert_contains "run -it: shell reads typed input" "$OUT" "in-42"
assert_eq "run -it: exit status of interactive shell" "3" "$RC"

# ---------------------------------------------------------------- exec
run podman_v run -d --name "$P-exec" "$BB" sleep 1000
assert_eq "run -d exits 0" "0" "$RC"
wait_for 20 "[ \"\$(podman_t inspect $P-exec --format '{{.State.Status}}')\" = running ]"
run podman_v exec "$P-exec" sh -c 'echo exec-ok; cat /proc/1/cmdline | tr "\0" " "'
assert_eq "exec: plain" "exec-ok
sleep 1000 " "$OUT"
assert_rc "exec: exit status propagates" 5 podman_v exec "$P-exec" sh -c 'exit 5'
run podman_v exec "$P-exec" tty
assert_eq "exec without -t has no tty" "not a tty 1" "$OUT $RC"
run with_tty podman_v exec -t "$P-exec" sh -c 'tty; echo exec-tty-ok'
assert_match "exec -t: tty is /dev/pts/N" '^/dev/pts/[0-9]+' "$OUT"
assert_contains "exec -t output" "$OUT" "exec-tty-ok"
run_sh "printf 'echo x-\$((3*4))\nexit 4\n' | podman_v exec -i $P-exec sh"
assert_eq "exec -i reads stdin" "x-12" "$OUT"
assert_eq "exec -i exit status" "4" "$RC"
run podman_v rm -f -t 0 "$P-exec"

# ---------------------------------------------------------------- stop
# A container that ignores SIGTERM: `podman stop -t 2` must SIGKILL it after ~2 s.
run podman_v run -d --name "$P-stubborn" "$BB" sh -c 'trap "" TERM; sleep 1000'
wait_for 20 "[ \"\$(podman_t inspect $P-stubborn --format '{{.State.Status}}')\" = running ]"
t0=$(date +%s%N)
run podman_v stop -t 2 "$P-stubborn"
t1=$(date +%s%N); ms=$(( (t1 - t0) / 1000000 ))
assert_eq "stop -t 2 (SIGTERM ignored) exits 0" "0" "$RC"
assert_eq "stop -t 2: container exited" "exited" "$(pstate "$P-stubborn")"
assert_eq "stop -t 2: killed by SIGKILL (137)" "137" "$(pexit "$P-stubborn")"
assert_ge "stop -t 2: waited for the timeout (ms)" 1900 "$ms"
assert_le "stop -t 2: did not hang (ms)" 15000 "$ms"
run podman_v rm -f "$P-stubborn"

# A container that handles SIGTERM stops on it, quickly. (PID 1 of a pid namespace
# ignores signals it has no handler for, so the workload installs one.)
run podman_v run -d --name "$P-polite" "$BB" sh -c 'trap "exit 143" TERM; sleep 1000 & wait'
wait_for 20 "[ \"\$(podman_t inspect $P-polite --format '{{.State.Status}}')\" = running ]"
t0=$(date +%s%N)
run podman_v stop -t 30 "$P-polite"
t1=$(date +%s%N); ms=$(( (t1 - t0) / 1000000 ))
assert_eq "stop (SIGTERM handled) exits 0" "0" "$RC"
assert_eq "stop: exit code from SIGTERM handler (143)" "143" "$(pexit "$P-polite")"
assert_le "stop: SIGTERM stopped it quickly (ms)" 5000 "$ms"
run podman_v rm -f "$P-polite"

# ---------------------------------------------------------------- pause / unpause
run podman_v run -d --name "$P-pause" "$BB" sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/counter; sleep 0.1; done'
wait_for 20 "[ \"\$(podman_t inspect $P-pause --format '{{.State.Status}}')\" = running ]"
pid=$(ppid_of "$P-pause")
wait_for 10 "[ -s /proc/$pid/root/tmp/counter ]"
run podman_v pause "$P-pause"
assert_eq "pause exits 0" "0" "$RC"
assert_eq "pause: state is paused" "paused" "$(pstate "$P-pause")"
if [ "$(cgroup_version)" = 2 ]; then
  assert_eq "pause: cgroup.freeze is 1" "1" "$(cat "$(cgroup_file "$pid" freezer cgroup.freeze)" 2>/dev/null)"
else
  assert_eq "pause: freezer.state is FROZEN" "FROZEN" "$(cat "$(cgroup_file "$pid" freezer freezer.state)" 2>/dev/null)"
fi
a=$(read_counter "$pid"); sleep 1.5; b=$(read_counter "$pid")
assert_eq "pause: counter does not advance" "$a" "$b"
run podman_v unpause "$P-pause"
assert_eq "unpause exits 0" "0" "$RC"
assert_eq "unpause: state is running" "running" "$(pstate "$P-pause")"
sleep 1.5; c=$(read_counter "$pid")
if [[ "$c" =~ ^[0-9]+$ && "$b" =~ ^[0-9]+$ ]] && [ "$c" -gt "$b" ]; then
  pass "unpause: counter advances again"
else
  fail "unpause: counter advances again" "before: $b, after 1.5 s: $c"
fi
run podman_v rm -f -t 0 "$P-pause"

# ---------------------------------------------------------------- resources
# Inside the container (cgroup v1: memory/, cpu/ hierarchies; v2: unified files).
read_limits='if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  cat /sys/fs/cgroup/memory.max; cat /sys/fs/cgroup/cpu.max
else
  cat /sys/fs/cgroup/memory/memory.limit_in_bytes
  echo "$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
fi'
run podman_v run --rm --memory 64m --cpus 0.5 "$BB" sh -c "$read_limits"
assert_eq "--memory 64m --cpus 0.5 visible in the container's cgroup files" "67108864
50000 100000" "$OUT"
# and on the host, in the cgroup the container's process is in
run podman_v run -d --name "$P-res" --memory 64m --cpus 0.5 "$BB" sleep 1000
wait_for 20 "[ \"\$(podman_t inspect $P-res --format '{{.State.Status}}')\" = running ]"
pid=$(ppid_of "$P-res")
mem=$(cgroup_memory_limit "$pid"); cpu=$(cgroup_cpu_quota "$pid")
assert_eq "--memory 64m in the host's cgroup of the container" "67108864" "$mem"
assert_eq "--cpus 0.5 in the host's cgroup of the container" "50000 100000" "$cpu"
assert_contains "container's cgroup is its own (not the root)" "$(cgroup_file "$pid" memory x)" "$(podman_t inspect "$P-res" --format '{{.Id}}')"
run podman_v rm -f -t 0 "$P-res"

# ---------------------------------------------------------------- rm -f of a running container
run podman_v run -d --name "$P-rm" "$BB" sleep 1000
wait_for 20 "[ \"\$(podman_t inspect $P-rm --format '{{.State.Status}}')\" = running ]"
id=$(podman_t inspect "$P-rm" --format '{{.Id}}')
pid=$(ppid_of "$P-rm")
if pid_alive "$pid"; then pass "rm -f: container process is running before"; else fail "rm -f: container process is running before" "pid: $pid"; fi
cg=$(dirname "$(cgroup_file "$pid" memory x)")
[ -d "$cg" ] && pass "rm -f: container cgroup exists before" || fail "rm -f: container cgroup exists before" "$cg"
run podman_v rm -f "$P-rm"
assert_eq "rm -f of a running container exits 0" "0" "$RC"
run podman_t ps -a -q --no-trunc
assert_not_contains "rm -f: container gone from podman ps -a" "$OUT" "$id"
sleep 0.5
if pid_alive "$pid"; then fail "rm -f: container process gone" "pid $pid still alive: $(tr '\0' ' ' < /proc/$pid/cmdline)"; else pass "rm -f: container process gone"; fi
left=$(pids_matching "$id")
assert_eq "rm -f: no process names the container id" "" "$left"
[ -d "$cg" ] && fail "rm -f: container cgroup removed" "$cg still exists" || pass "rm -f: container cgroup removed"
assert_eq "rm -f: no cgroup dir names the container" "" "$(cgroup_dirs_named "$id")"
assert_eq "rm -f: no mount names the container" "" "$(grep -F "$id" /proc/self/mountinfo)"

# ---------------------------------------------------------------- nothing left
run podman_t ps -a -q
assert_eq "no containers left at the end" "" "$OUT"

summary
