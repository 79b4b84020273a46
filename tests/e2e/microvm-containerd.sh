#!/usr/bin/env bash
# MicroVM isolation under containerd (issue #4, §3): `ctr run --annotation dev.vessel.isolation=microvm`
# through the runc shim, which passes --root, --log, --log-format json and calls ps --format json.
source "$(dirname "$0")/../lib.sh"

diag "runtime: $VESSEL"
[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
host_prepare || skip_all "host_prepare failed"
require_assets
containerd_start || skip_all "containerd did not start"
containerd_import || skip_all "ctr images import failed"

BB=$IMAGE_NAME
P=cv$$
VM=(--annotation dev.vessel.isolation=microvm)

run ctr_run --rm "${VM[@]}" "$BB" "$P-echo" sh -c 'echo hi; uname -r'
assert_eq "ctr microvm: echo" hi "$(printf '%s\n' "$OUT" | head -1)"
assert_ne "ctr microvm: the guest's kernel" "$(uname -r)" "$(printf '%s\n' "$OUT" | tail -1)"
assert_rc "ctr microvm: exit 7" 7 ctr_run --rm "${VM[@]}" "$BB" "$P-exit" sh -c 'exit 7'
run with_tty ctr_run --rm -t "${VM[@]}" "$BB" "$P-tty" sh -c 'tty; echo tty-ok; exit 3'
assert_match "ctr microvm -t: a terminal" '^/dev/pts/[0-9]+' "$OUT"
assert_eq "ctr microvm -t: exit status" 3 "$RC"

run ctr_run -d "${VM[@]}" "$BB" "$P-x" sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.2; done'
wait_for 60 "[ \"\$(task_status $P-x)\" = RUNNING ]"
assert_eq "ctr microvm: one QEMU of this test runs the task (so 'no QEMU left' below can fail)" 1 "$(our_qemus | wc -l)"
run ctr_exec --exec-id e1 "$P-x" sh -c 'echo exec-ok'
assert_eq "ctr microvm: exec" exec-ok "$OUT"
assert_rc "ctr microvm: exec exit status" 5 ctr_exec --exec-id e2 "$P-x" sh -c 'exit 5'
run with_tty ctr_exec -t --exec-id e3 "$P-x" sh -c 'tty; echo exec-tty-ok'
assert_match "ctr microvm: exec -t" '^/dev/pts/[0-9]+' "$OUT"
run ctr_exec -d --exec-id e4 "$P-x" sleep 999
wait_for 10 "ctr_t tasks ps $P-x | grep -q e4"
run ctr_t tasks ps "$P-x"
assert_contains "ctr microvm: tasks ps (ps --format json) lists the exec" "$OUT" "ExecID:e4"
check "ctr microvm: pause" ctr_t tasks pause "$P-x"
assert_eq "ctr microvm: PAUSED" PAUSED "$(task_status "$P-x")"
check "ctr microvm: resume" ctr_t tasks resume "$P-x"
assert_eq "ctr microvm: RUNNING" RUNNING "$(task_status "$P-x")"
check "ctr microvm: kill -s SIGKILL" ctr_t tasks kill -s SIGKILL "$P-x"
wait_for 30 "[ \"\$(task_status $P-x)\" = STOPPED ]" && pass "ctr microvm: STOPPED after SIGKILL" || fail "ctr microvm: STOPPED" "status: $(task_status "$P-x")"
check "ctr microvm: tasks rm" ctr_t tasks rm "$P-x"
check "ctr microvm: containers rm" ctr_t containers rm "$P-x"

bg_run polite ctr_run --rm "${VM[@]}" "$BB" "$P-polite" sh -c 'trap "exit 143" TERM; sleep 1000 & wait'
wait_for 60 "[ \"\$(task_status $P-polite)\" = RUNNING ]"
check "ctr microvm: tasks kill (SIGTERM)" ctr_t tasks kill "$P-polite"
assert_eq "ctr microvm: SIGTERM gives 143" 143 "$(bg_wait polite 60)"

run ctr_run -d "${VM[@]}" "$BB" "$P-rm" sleep 1000
wait_for 60 "[ \"\$(task_status $P-rm)\" = RUNNING ]"
check "ctr microvm: tasks rm -f of a running task" ctr_t tasks rm -f "$P-rm"
check "ctr microvm: containers rm" ctr_t containers rm "$P-rm"
# QEMUs sharing a rootfs of this test's containerd (under $T)
wait_for 30 "[ -z \"\$(our_qemus)\" ]" \
  && pass "ctr microvm: no QEMU left" || fail "ctr microvm: no QEMU left" "$(pgrep -af '[q]emu-system-' | grep -F "$T/")"
summary
