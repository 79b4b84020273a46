#!/usr/bin/env bash
# MicroVM placement and stats (issue 11, items 1 and 2): QEMU runs in a cgroup of its own
# (vessel/sandbox-<run dir>), the bundle's cgroupsPath exists with the container's limit and holds
# only the relay; `events` reports the guest's own numbers (within 10 % of what the guest's
# /proc says) and QEMU's cost apart; `ps` lists the guest's processes; `update` sets CPU limits on
# the sandbox cgroup and moves memory through the balloon; a workload filling its memory is
# OOM-killed by the guest's kernel while QEMU lives; podman stats and ctr task metrics read the
# container's limit, not the engine's cgroup.
source "$(dirname "$0")/../lib.sh"

diag "runtime: $VESSEL"
[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
host_prepare || skip_all "host_prepare failed"
ensure_image || skip_all "image build failed"
require_assets
[ "$(cgroup_version)" = 1 ] && V1=1 || V1=

R=$T/root
RT=("$VESSEL" --root "$R")
P=vs$$
CG=vessel-test-$P   # the bundles' cgroupsPath parent: this run's own
# the cgroupsPath parent this run made, in every hierarchy (v1) or the unified one (v2)
remove_test_cgroups() {
  local d
  for d in /sys/fs/cgroup/*/"$CG" /sys/fs/cgroup/"$CG"; do
    [ -d "$d" ] || continue
    find "$d" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
    rmdir "$d"
  done
}
on_cleanup '"$VESSEL" --root "$R" delete --force "$P-vm"; "$VESSEL" --root "$R" delete --force "$P-oom"; remove_test_cgroups'

# cg_dir CONTROLLER PATH — the host directory of a cgroup path in a controller's hierarchy
cg_dir() { if [ -n "$V1" ]; then echo "/sys/fs/cgroup/$1/$2"; else echo "/sys/fs/cgroup/$2"; fi; }
# within PCT A B — whether A is within PCT % of B
within() { awk -v p="$1" -v a="$2" -v b="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= b * p / 100) }'; }
guest() { "${RT[@]}" exec "$1" sh -c "$2"; }
# the guest's used memory as free computes "available": MemTotal - MemAvailable, in bytes
guest_used() { guest "$1" 'awk "/^MemTotal:/ {t=\$2} /^MemAvailable:/ {a=\$2} END {print (t-a)*1024}" /proc/meminfo'; }
# the guest's CPU time from /proc/stat: user+nice+system+irq+softirq, USER_HZ 100 → ns
guest_cpu() { guest "$1" 'awk "/^cpu / {print (\$2+\$3+\$4+\$7+\$8)*10000000}" /proc/stat'; }

# ---------------------------------------------------------------- placement, events, ps, update
ID=$P-vm
mkbundle "$T/b" '.annotations["dev.vessel.isolation"] = "microvm"
  | .process.args = ["sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=100 2>/dev/null; sleep 1000"]
  | .linux.cgroupsPath = "/'"$CG"'/vm" | .linux.resources.memory.limit = 268435456
  | .linux.resources.cpu = {"quota": 100000, "period": 100000}'
check "create (microvm, 256 MiB, cgroupsPath /$CG/vm)" "${RT[@]}" create --bundle "$T/b" "$ID"
check "start" "${RT[@]}" start "$ID"
RUN=$(vm_run_dir "$R" "$ID")
QPID=$(qemus_of "$RUN/")
RELAY=$("${RT[@]}" state "$ID" | jq -r .pid)
SANDBOX=vessel/sandbox-$(basename "$RUN")
assert_ne "the VM's QEMU is found" "" "$QPID"

# placement: every thread of QEMU in the sandbox cgroup, in each hierarchy
if [ -n "$V1" ]; then
  for c in memory cpu pids; do
    assert_eq "placement: QEMU's $c cgroup is /$SANDBOX" "/$SANDBOX" \
      "$(awk -F: -v c="$c" '{n=split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3}' "/proc/$QPID/cgroup")"
  done
else
  assert_eq "placement: QEMU's cgroup is /$SANDBOX" "/$SANDBOX" "$(awk -F: '$1 == "0" {print $3}' "/proc/$QPID/cgroup")"
fi
others=$(for t in /proc/"$QPID"/task/*; do grep -c "$SANDBOX" "$t/cgroup" >/dev/null || echo "${t##*/}"; done)
assert_eq "placement: every QEMU thread is there too" "" "$others"
assert_eq "placement: the sandbox cgroup holds QEMU only" "$QPID" "$(cat "$(cg_dir memory "$SANDBOX")/cgroup.procs")"
# the container's own cgroup: there, with the limit, holding the relay only
if [ -n "$V1" ]; then lim=$(cat "$(cg_dir memory "$CG/vm")/memory.limit_in_bytes" 2>&1)
else lim=$(cat "$(cg_dir memory "$CG/vm")/memory.max" 2>&1); fi
assert_eq "cgroupsPath /$CG/vm exists with the container's limit" 268435456 "$lim"
assert_eq "cgroupsPath /$CG/vm holds the relay (the engine's pid) only" "$RELAY" "$(cat "$(cg_dir memory "$CG/vm")/cgroup.procs" 2>&1)"

# events --stats: the guest's numbers
wait_for 60 "guest $ID 'test -f /dev/shm/fill && [ \$(du -m /dev/shm/fill | cut -f1) -ge 100 ]'"
u1=$(guest_used "$ID"); c1=$(guest_cpu "$ID")
run "${RT[@]}" events --stats "$ID"
u2=$(guest_used "$ID"); c2=$(guest_cpu "$ID")
EV=$OUT
diag "events: $(printf '%s' "$EV" | jq -c '{mem: .data.memory.usage, cpu: .data.cpu.usage.total, pids: .data.pids, vessel: .data.vessel}')"
diag "guest: used $u1 / $u2, cpu $c1 / $c2"
assert_eq "events --stats: a stats event" stats "$(printf '%s' "$EV" | jq -r .type)"
limit=$(printf '%s' "$EV" | jq -r .data.memory.usage.limit)
within 10 "$limit" 268435456 && pass "events --stats: memory limit within 10 % of 256 MiB ($limit)" \
  || fail "events --stats: memory limit within 10 % of 256 MiB" "limit $limit"
used=$(printf '%s' "$EV" | jq -r .data.memory.usage.usage)
within 10 "$used" $(((u1 + u2) / 2)) && pass "events --stats: memory usage within 10 % of the guest's MemTotal-MemAvailable ($used)" \
  || fail "events --stats: memory usage within 10 % of the guest's" "events $used, guest $u1 / $u2"
assert_ge "events --stats: usage holds the 100 MiB the guest wrote to its tmpfs" 104857600 "${used:-0}"
cpu=$(printf '%s' "$EV" | jq -r .data.cpu.usage.total)
within 10 "$cpu" $(((c1 + c2) / 2)) && pass "events --stats: CPU time within 10 % of the guest's /proc/stat ($cpu)" \
  || fail "events --stats: CPU time within 10 % of the guest's /proc/stat" "events $cpu, guest $c1 / $c2"
assert_ge "events --stats: pids.current counts the guest's processes" 1 "$(printf '%s' "$EV" | jq -r .data.pids.current)"
rss=$(printf '%s' "$EV" | jq -r .data.vessel.qemu_rss_bytes)
host_rss=$(awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$QPID/status")
within 20 "$rss" "$host_rss" && pass "events --stats: QEMU's own RSS apart, as the host sees it ($rss)" \
  || fail "events --stats: data.vessel.qemu_rss_bytes is QEMU's RSS" "events $rss, /proc $host_rss"
assert_ge "events --stats: QEMU's own CPU time apart" 1 "$(printf '%s' "$EV" | jq -r .data.vessel.qemu_cpu_ns)"
assert_eq "events --stats: the sandbox cgroup named" "$SANDBOX" "$(printf '%s' "$EV" | jq -r .data.vessel.sandbox_cgroup)"
run timeout 5 "${RT[@]}" events --interval 1s "$ID"
assert_ge "events: a stats event every second" 3 "$(printf '%s\n' "$OUT" | grep -c '"type":"stats"')"

# ps: the host's relay, then the guest's processes as ps shows them
run "${RT[@]}" ps "$ID"
assert_contains "ps: the relay's host pid" "$OUT" "$RELAY"
assert_match "ps: a ps-style table of the guest" 'UID +PID +PPID +STAT +RSS +TIME +CMD' "$OUT"
assert_contains "ps: the guest's sleep with its command line" "$OUT" "sleep 1000"

# update: CPU on the sandbox cgroup, memory through the balloon, the rest refused in one line
check "update --cpu-quota 50000" "${RT[@]}" update --cpu-quota 50000 "$ID"
if [ -n "$V1" ]; then q=$(cat "$(cg_dir cpu "$SANDBOX")/cpu.cfs_quota_us"); else q=$(cut -d' ' -f1 "$(cg_dir cpu "$SANDBOX")/cpu.max"); fi
assert_eq "update: the sandbox cgroup's CPU quota is 50000" 50000 "$q"
check "update --memory 192m" "${RT[@]}" update --memory 192m "$ID"
wait_for 30 "t=\$(guest $ID 'awk \"/^MemTotal:/ {print \\\$2 * 1024}\" /proc/meminfo'); within 10 \"\$t\" 201326592"
mt=$(guest "$ID" 'awk "/^MemTotal:/ {print \$2 * 1024}" /proc/meminfo')
within 10 "$mt" 201326592 && pass "update --memory 192m: the guest's MemTotal is within 10 % of 192 MiB ($mt)" \
  || fail "update --memory 192m: the guest's MemTotal" "$mt"
run "${RT[@]}" events --stats "$ID"
within 10 "$(printf '%s' "$OUT" | jq -r .data.memory.usage.limit)" 201326592 \
  && pass "update --memory 192m: events' limit follows" || fail "update --memory 192m: events' limit follows" "$OUT"
run "${RT[@]}" update --memory 1g "$ID"
assert_ne "update --memory 1g (more than the boot size) fails" 0 "$RC"
assert_eq "update --memory 1g: one line" 1 "$(printf '%s\n' "$ERR" | grep -c .)"
assert_contains "update --memory 1g: says why" "$ERR" "more than it booted with"
run "${RT[@]}" update --pids-limit 10 "$ID"
assert_ne "update --pids-limit fails" 0 "$RC"
assert_contains "update --pids-limit: names it" "$ERR" "--pids-limit cannot be changed"

check "delete --force" "${RT[@]}" delete --force "$ID"
assert_eq "delete: the sandbox cgroup is gone" no "$([ -d "$(cg_dir memory "$SANDBOX")" ] && echo yes || echo no)"
assert_eq "delete: the container's cgroup is gone" no "$([ -d "$(cg_dir memory "$CG/vm")" ] && echo yes || echo no)"

# ---------------------------------------------------------------- OOM: the guest's killer, not the host's
ID=$P-oom
mkbundle "$T/o" '.annotations["dev.vessel.isolation"] = "microvm"
  | .process.args = ["sh", "-c", "sleep 3; tail /dev/zero; echo tail-ended; sleep 1000"]
  | .linux.cgroupsPath = "/'"$CG"'/oom" | .linux.resources.memory.limit = 134217728'
check "create (microvm, 128 MiB, a workload that fills it)" "${RT[@]}" create --bundle "$T/o" "$ID"
check "start" "${RT[@]}" start "$ID"
RUN=$(vm_run_dir "$R" "$ID")
QPID=$(qemus_of "$RUN/")
SANDBOX=vessel/sandbox-$(basename "$RUN")
bg_run events timeout 60 "${RT[@]}" events --interval 1s "$ID"
wait_for 60 "[ \"\$(guest $ID 'awk \"/^oom_kill / {print \\\$2}\" /proc/vmstat' 2>/dev/null)\" -ge 1 ] 2>/dev/null"
assert_ge "OOM: the guest's kernel OOM-killed the workload" 1 "$(guest "$ID" 'awk "/^oom_kill / {print \$2}" /proc/vmstat')"
pid_alive "$QPID" && pass "OOM: QEMU lives" || fail "OOM: QEMU lives" "QEMU $QPID is gone"
assert_eq "OOM: the container is still running" running "$(vessel_status "$R" "$ID")"
if [ -n "$V1" ]; then
  host_ooms=$(awk '/^oom_kill / {print $2}' "$(cg_dir memory "$SANDBOX")/memory.oom_control")
  assert_eq "OOM: no OOM kill in the host's sandbox cgroup" 0 "${host_ooms:-missing}"
fi
wait_for 30 "grep -q '\"type\":\"oom\"' $T/events.out"
assert_contains "events: an oom event when the guest OOM-kills" "$(cat "$T/events.out" 2>/dev/null)" '"type":"oom"'
check "delete --force" "${RT[@]}" delete --force "$ID"

remove_test_cgroups
assert_eq "the test's cgroupsPath parent is removed (nothing of the VMs left in it)" "" "$(ls -d /sys/fs/cgroup/*/"$CG" /sys/fs/cgroup/"$CG" 2>/dev/null)"

# ---------------------------------------------------------------- engines: podman stats, ctr task metrics
if podman_start; then
  run podman_v run -d --name "$P-pod" --annotation dev.vessel.isolation=microvm -m 256m "$IMAGE_NAME" sleep 1000
  assert_eq "podman run -d -m 256m (microvm)" 0 "$RC"
  wait_for 60 "[ \"\$(pstate $P-pod)\" = running ]"
  run podman_t stats --no-stream --format '{{.MemUsage}}' "$P-pod"
  diag "podman stats: $OUT"
  assert_match "podman stats: the limit is 256 MiB (268.4MB)" '/ 268\.4MB' "$OUT"
  musage=$(printf '%s' "$OUT" | awk '{print $1}')
  assert_match "podman stats: the usage is not QEMU's or the engine's (under 100 MB)" '^[0-9.]+(B|kB|MB)$' "$musage"
  case "$musage" in *MB) assert_le "podman stats: usage under 100 MB" 100 "${musage%%.*}" ;; esac
  podman_t rm -f -t 0 "$P-pod" >/dev/null 2>&1
  podman_stop # now, not at exit: the suite's end checks the host's networking is as it was
  run ip link show "$PODMAN_BRIDGE"
  assert_ne "podman_stop: no test bridge $PODMAN_BRIDGE left" 0 "$RC"
else
  fail "podman set-up" "podman_start failed"
fi
if containerd_start && containerd_import; then
  run ctr_run -d --memory-limit 268435456 --annotation dev.vessel.isolation=microvm "$IMAGE_NAME" "$P-ctr" sleep 1000
  wait_for 60 "[ \"\$(task_status $P-ctr)\" = RUNNING ]"
  run ctr_t tasks metrics "$P-ctr"
  diag "ctr tasks metrics: $(printf '%s' "$OUT" | tr '\n' ' ')"
  assert_eq "ctr tasks metrics: memory.limit_in_bytes is 256 MiB" 268435456 \
    "$(printf '%s\n' "$OUT" | awk '$1 == "memory.limit_in_bytes" {print $2}')"
  cu=$(printf '%s\n' "$OUT" | awk '$1 == "memory.usage_in_bytes" {print $2}')
  assert_le "ctr tasks metrics: usage is not QEMU's or containerd's (under 100 MB)" 104857600 "${cu:-999999999999}"
  ctr_t tasks rm -f "$P-ctr" >/dev/null 2>&1; ctr_t containers rm "$P-ctr" >/dev/null 2>&1
else
  fail "containerd set-up" "containerd_start or import failed"
fi
summary
