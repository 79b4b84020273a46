#!/usr/bin/env bash
# containerd-shim-vessel-v2 (runtime_type io.containerd.vessel.v2): containerd of the test's own runs
# microVMs through Vessel's own shim, whose Stats are the guest's numbers (events --stats through the
# agent), where the runc shim reads QEMU's host cgroup. ctr run with a memory limit → ctr tasks
# metrics within 10 % of the guest's /proc/meminfo; exit codes, stdout, terminals, exec; kill -9 of vesseld
# with the task running → the task runs on and its stats come back with the next daemon; nothing
# left behind (no QEMU, no shim, no socket).
source "$(dirname "$0")/../lib.sh"

SHIM=$REPO/bin/containerd-shim-vessel-v2
diag "runtime: $VESSEL, shim: $SHIM"
[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
[ -x "$SHIM" ] || skip_all "$SHIM not found"
[ -f "$BUILD/lib/vessel-shim.jar" ] || skip_all "$BUILD/lib/vessel-shim.jar missing (make build)"
host_prepare || skip_all "host_prepare failed"
# a daemon of our own, which the shim's vessel reaches through containerd's environment, so that
# killing it (below) disturbs no other suite
private_daemon
require_assets   # (through that daemon)
# containerd finds containerd-shim-vessel-v2 in its PATH
export PATH="$REPO/bin:$PATH"
# the shim's --root for our namespace (empty once its containers are deleted), as containerd_stop
# removes the runc shim's
on_cleanup 'rmdir "/run/containerd/vessel/$CTR_NS" /run/containerd/vessel 2>/dev/null; true'
containerd_start || skip_all "containerd did not start"
containerd_import || skip_all "ctr images import failed"

BB=$IMAGE_NAME
P=sh$$
srun() { ctr_t run --runtime io.containerd.vessel.v2 --fifo-dir "$CTRD_DIR/fifo" "$@"; }
export -f srun
shim_pids() { pids_matching "-address $CTRD_SOCK"; }
export -f shim_pids
MIB=$((1 << 20))

# ---------------------------------------------------------------- run to completion: stdout, exit codes
run -t 180 srun --rm "$BB" "$P-echo" sh -c 'echo hi; uname -r'
assert_eq "shim: ctr run prints the process's stdout" hi "$(printf '%s\n' "$OUT" | head -1)"
assert_ne "shim: the process ran in a microVM (the guest's kernel)" "$(uname -r)" "$(printf '%s\n' "$OUT" | tail -1)"
[ "$RC" = 0 ] || diag "ctr run: rc $RC, $ERR"
assert_rc "shim: ctr run gives the exit status (7)" 7 srun --rm "$BB" "$P-exit" sh -c 'exit 7'
run -t 180 with_tty srun --rm -t "$BB" "$P-tty" sh -c 'tty; echo tty-ok; exit 3'
assert_match "shim: ctr run -t: a terminal" '^/dev/pts/[0-9]+' "$OUT"
assert_contains "shim: ctr run -t: its output" "$OUT" tty-ok
assert_eq "shim: ctr run -t: exit status" 3 "$RC"

# ---------------------------------------------------------------- a running task: metrics are the guest's
run -t 180 srun -d --memory-limit $((256 * MIB)) "$BB" "$P-m" \
  sh -c 'dd if=/dev/zero of=/dev/shm/ballast bs=1M count=64 2>/dev/null; i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.2; done'
wait_for 120 "[ \"\$(task_status $P-m)\" = RUNNING ]" && pass "shim: ctr run -d: RUNNING" \
  || fail "shim: ctr run -d: RUNNING" "status '$(task_status "$P-m")'; $OUT $ERR"
assert_eq "shim: the task's shim is Vessel's" io.containerd.vessel.v2 \
  "$(ctr_t containers info "$P-m" 2>/dev/null | jq -r .Runtime.Name)"
wait_for 30 "ctr_exec --exec-id w0 $P-m test -f /tmp/n" || true
sleep 2 # the ballast written

guest_used() { # MemTotal - MemAvailable inside, bytes
  ctr_exec --exec-id "m$1" "$P-m" cat /proc/meminfo | awk '$1 == "MemTotal:" {t = $2} $1 == "MemAvailable:" {a = $2} END {print (t - a) * 1024}'
}
guest_total() { ctr_exec --exec-id "t$1" "$P-m" cat /proc/meminfo | awk '$1 == "MemTotal:" {print $2 * 1024}'; }
within() { # PCT A B — A within PCT % of B
  [ -n "$2" ] && [ -n "$3" ] && [ "$3" -gt 0 ] && awk -v p="$1" -v a="$2" -v b="$3" 'BEGIN {d = a - b; if (d < 0) d = -d; exit !(d * 100 <= p * b)}'
}
u1=$(guest_used 1)
run ctr_t tasks metrics --format json "$P-m"
M=$OUT
u2=$(guest_used 2)
total=$(guest_total 1)
diag "ctr tasks metrics: $(printf '%s' "$M" | jq -c '{memory: .memory.usage, cpu: .cpu.usage.total, pids: .pids}' 2>/dev/null)" \
  "guest: used $u1 / $u2, MemTotal $total"
assert_eq "shim: ctr tasks metrics answers" 0 "$RC"
# (ctr prints cgroup v1's table only for an io.containerd.cgroups.v1.Metrics)
run ctr_t tasks metrics "$P-m"
assert_eq "shim: metrics are cgroups v1 Metrics (ctr's v1 table: memory.limit_in_bytes)" 1 \
  "$(printf '%s\n' "$OUT" | grep -c '^memory.limit_in_bytes ')"
usage=$(printf '%s' "$M" | jq -r '.memory.usage.usage // 0' 2>/dev/null)
limit=$(printf '%s' "$M" | jq -r '.memory.usage.limit // 0' 2>/dev/null)
within 10 "$usage" $(((u1 + u2) / 2)) && pass "shim: metrics' memory usage within 10 % of the guest's MemTotal - MemAvailable ($usage)" \
  || fail "shim: metrics' memory usage within 10 % of the guest's" "metrics $usage, guest $u1 / $u2"
assert_ge "shim: usage holds the 64 MiB ballast in the guest's /dev/shm" $((64 * MIB)) "${usage:-0}"
within 10 "$limit" "$total" && pass "shim: metrics' memory limit within 10 % of the guest's MemTotal ($limit)" \
  || fail "shim: metrics' memory limit within 10 % of the guest's MemTotal" "metrics $limit, guest $total"
within 10 "$limit" $((256 * MIB)) && pass "shim: metrics' memory limit within 10 % of the 256 MiB asked" \
  || fail "shim: metrics' memory limit within 10 % of 256 MiB" "metrics $limit"
assert_ge "shim: metrics count the guest's processes" 1 "$(printf '%s' "$M" | jq -r '.pids.current // 0' 2>/dev/null)"
assert_ge "shim: metrics' CPU time" 1 "$(printf '%s' "$M" | jq -r '.cpu.usage.total // 0' 2>/dev/null)"

# ---------------------------------------------------------------- exec
run ctr_exec --exec-id e1 "$P-m" sh -c 'echo exec-ok'
assert_eq "shim: exec prints its stdout" exec-ok "$OUT"
assert_rc "shim: exec gives its exit status (5)" 5 ctr_exec --exec-id e2 "$P-m" sh -c 'exit 5'
run with_tty ctr_exec -t --exec-id e3 "$P-m" sh -c 'tty; echo exec-tty-ok'
assert_match "shim: exec -t: a terminal" '^/dev/pts/[0-9]+' "$OUT"
run ctr_t tasks ps "$P-m"
assert_eq "shim: tasks ps answers" 0 "$RC"

# ---------------------------------------------------------------- kill -9 of vesseld
n1=$(ctr_exec --exec-id n1 "$P-m" cat /tmp/n)
dpid=$("$VESSEL" daemon status 2>/dev/null)
if [ -n "$dpid" ] && kill -KILL "$dpid"; then
  sleep 2
  assert_eq "shim: after kill -9 of vesseld the task is RUNNING" RUNNING "$(task_status "$P-m")"
  wait_for 60 "[ \"\$(ctr_exec --exec-id n2-\$RANDOM $P-m cat /tmp/n 2>/dev/null)\" -gt ${n1:-0} ]" \
    && pass "shim: after kill -9 of vesseld the workload goes on" || fail "shim: the workload goes on after kill -9 of vesseld" "n was $n1"
  run ctr_t tasks metrics --format json "$P-m"
  u3=$(guest_used 3)
  usage=$(printf '%s' "$OUT" | jq -r '.memory.usage.usage // 0' 2>/dev/null)
  within 10 "$usage" "$u3" && pass "shim: metrics work again with the next daemon, the guest's ($usage)" \
    || fail "shim: metrics with the next daemon" "rc $RC, metrics $usage, guest $u3; $ERR"
else
  fail "shim: kill -9 of vesseld" "no daemon pid ($dpid)"
fi

# ---------------------------------------------------------------- stop, remove, nothing left
check "shim: tasks kill -s SIGKILL" ctr_t tasks kill -s SIGKILL "$P-m"
wait_for 60 "[ \"\$(task_status $P-m)\" = STOPPED ]" && pass "shim: STOPPED after SIGKILL (its exit reached containerd)" \
  || fail "shim: STOPPED after SIGKILL" "status: $(task_status "$P-m")"
check "shim: tasks rm" ctr_t tasks rm "$P-m"
check "shim: containers rm" ctr_t containers rm "$P-m"
wait_for 30 "[ -z \"\$(our_qemus)\" ]" && pass "shim: no QEMU left" || fail "shim: no QEMU left" "$(our_qemus)"
wait_for 30 "[ -z \"\$(shim_pids)\" ]" && pass "shim: no shim process left (Shutdown after the last Delete)" \
  || fail "shim: no shim process left" "$(for p in $(shim_pids); do tr '\0' ' ' < /proc/$p/cmdline; echo; done)"
assert_eq "shim: no state of ours left in Vessel's --root" "" "$("$VESSEL" --root "/run/containerd/vessel/$CTR_NS" list -q 2>/dev/null)"
summary
