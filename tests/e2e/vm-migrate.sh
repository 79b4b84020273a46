#!/usr/bin/env bash
# Snapshots, restore and live migration of full VMs (issue 14, item 5; item 7's missing target), with
# the busybox test disk (images/vm-test-disk.sh: "tick N" every 2 s on ttyS0, its boots counted in
# the first 16 bytes of its hostDisk /dev/vdb).
# Covers: vm snapshot of a running VM (listed in get -o yaml's status), its counter run on, vm restore
# (the counter is back near the snapshot's value, no reboot), the same through the management API,
# vm migrate --to a second private daemon (own VESSEL_SOCKET and VESSEL_VMS_DIR): the counter carries
# on on the target (no reboot: the hostDisk's boot count unchanged, no boot banner), the source QEMU
# gone, each daemon's vm list says so; the VMs' events on /v1/events (pause, resume, migrate, create of the
# incoming VM, crash, start, exit, delete) and GET /v1/sandboxes/{name}; kill -9 of the source daemon
# mid-migration (the VM runs on exactly one side), and killed -9 between the target's prepare and QEMU's migrate
# command (the next source daemon has the target drop its waiting VM; migrationState failed); a target that gets
# nothing within waitSeconds drops its VM by itself; vessel doctor's VM lines; bad inputs (unknown snapshot, target socket missing, a
# snapshot of a stopped VM) one line, non-zero, nothing left; and nothing left after delete.
source "$(dirname "$0")/../lib.sh"

diag "runtime: $VESSEL"
vm_suite_daemon qemu-system-x86_64 qemu-img genisoimage extlinux socat curl jq
DISK=$BUILD/images/vm-test-disk.raw
"$REPO/images/vm-test-disk.sh" "$DISK" || skip_all "images/vm-test-disk.sh failed"
# the migration's target: a second daemon of this test, its own socket and VM directory (same file system)
SOCK2=$T/vessel2/vesseld.sock
mkdir -p "$T/vessel2"
v2() { VESSEL_SOCKET=$SOCK2 VESSEL_VMS_DIR=$T/vms2 VESSEL_LOG=$T/vesseld2.log "$VESSEL" "$@"; }
export SOCK2
export -f v2
P=vm$$
A=$P-a
export A   # for the functions check_sh and wait_for run in a shell of their own
on_cleanup 'for n in $("$VESSEL" vm list -o json 2>/dev/null | jq -r ".[].name"); do "$VESSEL" vm delete "$n" --grace-period 0; done'
on_cleanup 'for n in $(v2 vm list -o json 2>/dev/null | jq -r ".[].name"); do v2 vm delete "$n" --grace-period 0; done; v2 daemon stop'
on_cleanup 'for p in $(qemus_of "$T/vms"); do kill -KILL "$p"; done'
# the hooks above asked the first daemon again after private_daemon's stop (a client call starts one): stop it last
on_cleanup '"$VESSEL" daemon stop'

cat > "$T/a.yaml" <<Y
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: $A
spec:
  runStrategy: Always
  template:
    spec:
      terminationGracePeriodSeconds: 10
      domain:
        memory: {guest: 128Mi}
        devices:
          disks:
          - {name: root, disk: {bus: virtio}, bootOrder: 1}
          - {name: data, disk: {bus: virtio}}
          - {name: cloudinit, cdrom: {bus: sata}}
          interfaces: [{name: default, masquerade: {}}]
      networks: [{name: default, pod: {}}]
      volumes:
      - {name: root, containerDisk: {image: "$DISK"}}
      - {name: data, hostDisk: {path: $T/data.raw, type: DiskOrCreate, capacity: 1Mi}}
      - name: cloudinit
        cloudInitNoCloud: {userData: "#cloud-config"}
Y
log_of() { tr -d '\r' < "$1" 2>/dev/null; }
# the last tick the console log $1 shows (after byte $2, if given)
last_tick() { tail -c +$(( ${2:-0} + 1 )) "$1" 2>/dev/null | tr -d '\r' | grep -a '^tick [0-9]*$' | tail -n1 | cut -d' ' -f2; }
first_tick() { tail -c +$(( ${2:-0} + 1 )) "$1" 2>/dev/null | tr -d '\r' | grep -a '^tick [0-9]*$' | head -n1 | cut -d' ' -f2; }
size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }
hostdisk_boots() { head -c 16 "$T/data.raw" | tr -dc 0-9; }
export -f log_of last_tick first_tick size_of hostdisk_boots
LOG1=$T/vms/$A/console.log
LOG2=$T/vms2/$A/console.log

run "$VESSEL" vm apply -f "$T/a.yaml"
assert_eq "apply: created" "virtualmachine.kubevirt.io/$A created" "$OUT"
check_sh "the guest boots (its first boot on the hostDisk) and counts" \
  "wait_for 180 'log_of $LOG1 | grep -aq \"^boots=1\" && [ \"\$(last_tick $LOG1)\" -ge 3 ] 2>/dev/null'"

# ---------------------------------------------------------------- snapshot, restore
BEFORE=$(last_tick "$LOG1")
run -t 120 "$VESSEL" vm snapshot "$A" s1
assert_eq "vm snapshot: created" "0 virtualmachinesnapshot.snapshot.kubevirt.io/s1 created" "$RC $OUT"
AFTER=$(last_tick "$LOG1")
diag "counter at the snapshot: $BEFORE..$AFTER"
run "$VESSEL" vm get "$A" -o json
assert_eq "get: the snapshot in the status" "s1" "$(jq -r '.status.snapshots[0].name' <<<"$OUT")"
assert_eq "… on the run's qcow2 disk only (the raw hostDisk is not part of it)" '["d0"]' "$(jq -c '.status.snapshots[0].disks' <<<"$OUT")"
run "$VESSEL" vm get "$A" -o yaml
assert_contains "get -o yaml: snapshots listed" "$OUT" "snapshots:"
check_sh "the counter runs on past the snapshot" "wait_for 60 '[ \"\$(last_tick $LOG1)\" -ge $((AFTER + 6)) ]'"
LATE=$(last_tick "$LOG1")
MARK=$(size_of "$LOG1")
run -t 120 "$VESSEL" vm restore "$A" s1
assert_eq "vm restore: restored" "0 virtualmachinerestore.snapshot.kubevirt.io/$A-s1 restored" "$RC $OUT"
check_sh "… the guest runs on" "wait_for 30 '[ -n \"\$(first_tick $LOG1 $MARK)\" ]'"
BACK=$(first_tick "$LOG1" "$MARK")
diag "counter before the restore: $LATE, first after it: $BACK"
check_sh "restore: the counter is back near the snapshot's value ($BEFORE..$AFTER), not at $LATE" \
  "[ $BACK -ge $BEFORE ] && [ $BACK -le $((AFTER + 2)) ] && [ $BACK -lt $LATE ]"
check_sh "… no reboot (no boot banner since, the hostDisk's count is 1)" \
  "! tail -c +$((MARK + 1)) $LOG1 | grep -aq 'vessel-test-guest up' && [ \"\$(hostdisk_boots)\" = 1 ]"

# the management API: a second snapshot, restored
API=$T/vessel/api.sock
run curl -sS --unix-socket "$API" -X POST -d '{"name": "s2"}' "http://localhost/v1/vms/$A/snapshots"
assert_eq "API: POST /v1/vms/{name}/snapshots" "s1 s2" "$(jq -r '[.vm.status.snapshots[].name] | join(" ")' <<<"$OUT")"
run curl -sS --unix-socket "$API" -X PUT -d '{"snapshot": "s2"}' "http://localhost/v1/vms/$A/restore"
assert_eq "API: PUT /v1/vms/{name}/restore" "Running" "$(jq -r .status.printableStatus <<<"$OUT")"
run curl -sS --unix-socket "$API" -X PUT -d '{"snapshot": "nope"}' "http://localhost/v1/vms/$A/restore"
assert_eq "API: an unknown snapshot is a 400 naming it" "vm $A: no snapshot named \"nope\"" "$(jq -r .error <<<"$OUT")"

# ---------------------------------------------------------------- bad inputs
run "$VESSEL" vm restore "$A" no-such-snap
assert_eq "bad input: an unknown snapshot: one line, non-zero" "1 vessel: vm $A: no snapshot named \"no-such-snap\"" "$RC $ERR"
run "$VESSEL" vm snapshot "$A" "Bad_Name"
assert_match "bad input: a snapshot name that is no Kubernetes name" "^1 vessel: snapshot name \"Bad_Name\": " "$RC $ERR"
run "$VESSEL" vm migrate "$A" --to "$T/nowhere/vesseld.sock"
assert_eq "bad input: a migration target that is not there: one line, non-zero" \
  "1 vessel: vm migrate: --to $T/nowhere/vesseld.sock: no vesseld there (no such socket)" "$RC $ERR"
assert_eq "… the VM runs on here" "Running" "$("$VESSEL" vm get "$A" -o json | jq -r .status.printableStatus)"
check_sh "… one QEMU, nothing made for a target" "[ \$(qemus_of $T/vms | wc -l) = 1 ] && [ ! -e $T/nowhere ]"

run "$VESSEL" vm migrate "$A" --to "$VESSEL_SOCKET"
assert_eq "bad input: a target that refuses (the VM's own daemon: the name is taken): one line, the VM runs on" \
  "1 vessel: vm migrate: target $VESSEL_SOCKET: vm \"$A\" already exists Running" \
  "$RC $ERR $("$VESSEL" vm get "$A" -o json | jq -r .status.printableStatus)"

# ---------------------------------------------------------------- live migration to a second daemon
run v2 vm list
assert_eq "the target daemon: no VM yet" "NAME                     AGE      STATUS             READY" "$OUT"
# the management API's event streams of both daemons, the VMs' events only (the target's API comes up just after its daemon)
check_sh "(the target daemon's management API is up)" "wait_for 20 '[ -S $T/vessel2/api.sock ]'"
curl -sN --unix-socket "$API" "http://localhost/v1/events?isolation=vm" > "$T/events1" 2>/dev/null &
EV1=$!
curl -sN --unix-socket "$T/vessel2/api.sock" "http://localhost/v1/events?isolation=vm" > "$T/events2" 2>/dev/null &
EV2=$!
on_cleanup 'kill "$EV1" "$EV2" 2>/dev/null'
check_sh "(both event streams are open)" "wait_for 10 'grep -q \"vessel events\" $T/events1 && grep -q \"vessel events\" $T/events2'"
run curl -sS --unix-socket "$API" "http://localhost/v1/sandboxes/$A"
assert_eq "GET /v1/sandboxes/{name} of a VM: its sandbox entry" "$A vm running" "$(jq -r '"\(.id) \(.isolation) \(.status)"' <<<"$OUT")"
check "pause" "$VESSEL" vm pause "$A"
check "unpause" "$VESSEL" vm unpause "$A"
events_of() { sed -n 's/^data: //p' "$1" | jq -r --arg n "$A" 'select(.id == $n) | "\(.type)\(if .reason then "(" + .reason + ")" else "" end)"' | paste -sd' '; }
export -f events_of
SRCPID=$("$VESSEL" vm get "$A" -o json | jq -r .status.vessel.pid)
check_sh "the counter runs" "wait_for 30 '[ \"\$(last_tick $LOG1)\" -gt $(last_tick "$LOG1") ]'"
M0=$(last_tick "$LOG1")
run -t 400 "$VESSEL" vm migrate "$A" --to "$SOCK2"
assert_match "vm migrate: done" "^0 VM $A migrated to $SOCK2 in [0-9]+ ms" "$RC $OUT"
diag "$OUT; counter at the migration: $M0..$(last_tick "$LOG1")"
check_sh "the source QEMU is gone" "! kill -0 $SRCPID 2>/dev/null"
run "$VESSEL" vm list
assert_eq "the source daemon's vm list: no VM" "NAME                     AGE      STATUS             READY" "$OUT"
check_sh "… its VM directory gone" "[ ! -e $T/vms/$A ]"
check_sh "/v1/events of the source: the VM's pause, resume and migrate (isolation vm)" \
  "wait_for 10 '[ \"\$(events_of $T/events1)\" = \"pause resume migrate(to $SOCK2)\" ]'"
assert_eq "/v1/events of the target: the VM made for the incoming migration" "create(incoming migration)" "$(events_of "$T/events2")"
run curl -sS --unix-socket "$API" "http://localhost/v1/sandboxes/$A"
assert_eq "… the source's GET /v1/sandboxes/{name}: gone" "sandbox \"$A\" does not exist" "$(jq -r .error <<<"$OUT")"
run curl -sS --unix-socket "$T/vessel2/api.sock" "http://localhost/v1/sandboxes/$A"
assert_eq "… the target's: the VM, running" "$A vm running" "$(jq -r '"\(.id) \(.isolation) \(.status)"' <<<"$OUT")"
run v2 vm list
assert_match "the target daemon's vm list: the VM, Running" "$A +[0-9a-z]+ +Running +True" "$OUT"
check_sh "the counter carries on on the target" "wait_for 30 '[ -n \"\$(first_tick $LOG2)\" ]'"
FIRST=$(first_tick "$LOG2")
diag "first tick on the target: $FIRST"
check_sh "… from where it was ($M0), not from 0" "[ $FIRST -ge $M0 ] && [ $FIRST -le $((M0 + 30)) ]"
check_sh "… no reboot: no boot banner on the target, the hostDisk's boot count unchanged (1)" \
  "! log_of $LOG2 | grep -aq 'vessel-test-guest up' && [ \"\$(hostdisk_boots)\" = 1 ]"
check_sh "… and it keeps counting" "wait_for 30 '[ \"\$(last_tick $LOG2)\" -ge $((FIRST + 2)) ]'"
run v2 vm get "$A" -o json
assert_eq "… the snapshots went with the run" "s1 s2" "$(jq -r '[.status.snapshots[].name] | join(" ")' <<<"$OUT")"
OUT=$( (printf 'echo MIGRATED-$((6*7))\n'; sleep 3) | timeout 30 bash -c 'v2 vm console '"$A" 2>/dev/null | tr -d '\r')
assert_contains "… its console answers on the target" "$OUT" "MIGRATED-42"
run -t 120 v2 vm restore "$A" s1
assert_eq "a snapshot taken before the migration restores on the target" "0" "$RC"

# back again, through the management API of the target
run -t 400 curl -sS --unix-socket "$T/vessel2/api.sock" -X PUT -d "{\"to\": \"$VESSEL_SOCKET\"}" "http://localhost/v1/vms/$A/migrate"
assert_match "API: PUT /v1/vms/{name}/migrate back to the first daemon" "migrated to $VESSEL_SOCKET" "$(jq -r .result <<<"$OUT")"
run "$VESSEL" vm list
assert_match "… the first daemon runs it again" "$A +[0-9a-z]+ +Running +True" "$OUT"
check_sh "… one QEMU in all" "[ \$(qemus_of $T/vms | wc -l) = 1 ]"
check_sh "… the target's stream says it left" "wait_for 10 'events_of $T/events2 | grep -q \"migrate(to $VESSEL_SOCKET)\"'"
kill "$EV1" "$EV2" 2>/dev/null

# ---------------------------------------------------------------- kill -9 of the source daemon mid-migration
# QEMU carries a migration on by itself: the next source daemon quits a QEMU whose migration completed, the
# target drops one whose migration failed, and a kill between the target's prepare and QEMU's migrate command
# is settled by the next source daemon (its migration record). The migrate client, its daemon gone, sends its
# call again to the next daemon, which says what became of it rather than migrating again.
DPID=$("$VESSEL" daemon status 2>/dev/null)
"$VESSEL" vm migrate "$A" --to "$SOCK2" > "$T/migrate3.out" 2>&1 &
MIG=$!
check_sh "a third migration begins (the target's QEMU is there, waiting)" "wait_for 60 '[ \$(qemus_of $T/vms | wc -l) = 2 ]'"
kill -KILL "$DPID"
wait "$MIG"
diag "the migration's client: $(head -c 300 "$T/migrate3.out")"
# where the VM is: "source"/"target" by each daemon's vm list (the first is started again by the call)
side() {
  local s t
  s=$("$VESSEL" vm list -o json 2>/dev/null | jq -r --arg n "$A" '.[] | select(.name == $n) | .printableStatus')
  t=$(v2 vm list -o json 2>/dev/null | jq -r --arg n "$A" '.[] | select(.name == $n) | .printableStatus')
  if [ "$s" = Running ] && [ -z "$t" ]; then echo source; elif [ "$t" = Running ] && [ -z "$s" ]; then echo target
  elif [ "$s" = Running ] && [ "$t" = Starting ]; then echo waiting; else echo "source=$s target=$t"; fi
}
export -f side
check_sh "kill -9 of the source daemon mid-migration: the guest runs on one side only, no target left waiting" \
  "wait_for 90 '[ \"\$(side)\" = source ] || [ \"\$(side)\" = target ]'"
WHERE=$(side)
diag "after the kill: $WHERE; the daemons said: $(grep -ah 'while no daemon watched\|incoming migration dropped\|migrated to\|failed: ' "$VESSEL_LOG" "$T/vesseld2.log" | tail -n 3 | cut -c1-200 | paste -sd'|')"
check_sh "… one QEMU in all" "wait_for 20 '[ \$(qemus_of $T/vms | wc -l) = 1 ]'"
if [ "$WHERE" = target ]; then LOGW=$LOG2; else LOGW=$LOG1; fi
TW=$(last_tick "$LOGW")
check_sh "… its guest counts on, not rebooted (the hostDisk's boot count is 1)" \
  "wait_for 30 '[ \"\$(last_tick $LOGW)\" -gt ${TW:-0} ]' && [ \"\$(hostdisk_boots)\" = 1 ]"
sleep 3
assert_eq "… and stays so" "$WHERE" "$(side)"
if [ "$WHERE" = target ]; then
  run -t 400 v2 vm migrate "$A" --to "$VESSEL_SOCKET"
  assert_match "… back to the first daemon" "^0 VM $A migrated" "$RC $OUT"
fi

# ---------------------------------------------------------------- kill -9 between the target's prepare and QEMU's migrate
# Made certain: the target daemon is stopped (SIGSTOP) while the source asks it to prepare; the migrate client
# (so that it sends nothing again) and the source daemon are killed -9 then, and the target goes on: it prepares
# a VM no QEMU will migrate to. The next source daemon finds its record and tells the target to drop it.
DPID=$("$VESSEL" daemon status 2>/dev/null)
T2PID=$(v2 daemon status 2>/dev/null)
SRCPID=$("$VESSEL" vm get "$A" -o json | jq -r .status.vessel.pid)
kill -STOP "$T2PID"
"$VESSEL" vm migrate "$A" --to "$SOCK2" > "$T/migrate4.out" 2>&1 &
MIG=$!
check_sh "(the source records the migration before it asks the target)" "wait_for 30 '[ -e $T/vms/$A/migration.json ]'"
sleep 1
kill -KILL "$MIG"
kill -KILL "$DPID"
kill -CONT "$T2PID"
wait "$MIG" 2>/dev/null
target_status() { v2 vm list -o json 2>/dev/null | jq -r --arg n "$A" '.[] | select(.name == $n) | .printableStatus'; }
export -f target_status
check_sh "the target, let go on, prepares a VM that nothing will migrate to (two QEMUs, the target's VM Starting)" \
  "wait_for 60 '[ \"\$(target_status)\" = Starting ] && [ \$(qemus_of $T/vms | wc -l) = 2 ]'"
run "$VESSEL" vm list   # the next source daemon
check_sh "the next source daemon has the target drop it (within 30 s): the target has no VM, one QEMU" \
  "wait_for 30 '[ -z \"\$(target_status)\" ] && [ \$(qemus_of $T/vms | wc -l) = 1 ]'"
check_sh "… the source's QEMU, the same as before the kill" "kill -0 $SRCPID && [ \"\$(qemus_of $T/vms)\" = $SRCPID ]"
TW=$(last_tick "$LOG1")
check_sh "… its guest counts on, not rebooted (the hostDisk's boot count is 1)" \
  "wait_for 30 '[ \"\$(last_tick $LOG1)\" -gt ${TW:-0} ]' && [ \"\$(hostdisk_boots)\" = 1 ]"
run "$VESSEL" vm get "$A" -o json
assert_eq "… Running, its migrationState failed: the daemon restarted before QEMU was told to migrate" \
  "Running true false vesseld restarted before QEMU was told to migrate" \
  "$(jq -r '.status | "\(.printableStatus) \(.migrationState.failed) \(.migrationState.completed) \(.migrationState.failureReason)"' <<<"$OUT")"
check_sh "… nothing left in the target's VM directory" "[ -z \"\$(ls $T/vms2)\" ]"
check_sh "… both daemons' logs say so" "grep -q 'migration to .* failed: vesseld restarted before QEMU was told to migrate' $VESSEL_LOG \
  && grep -q 'incoming migration dropped: its source said the migration failed' $T/vesseld2.log"
run -t 400 "$VESSEL" vm migrate "$A" --to "$SOCK2"
assert_match "… and the next migration goes through" "^0 VM $A migrated" "$RC $OUT"
run -t 400 v2 vm migrate "$A" --to "$VESSEL_SOCKET"
assert_match "… and back" "^0 VM $A migrated" "$RC $OUT"
run curl -sS --unix-socket "$API" -X DELETE "http://localhost/v1/vms/$A/incoming"
assert_eq "DELETE …/incoming of a VM that runs (no incoming migration): refused, the VM runs on" \
  "vm \"$A\" runs here (its migration completed): not dropped Running" "$(jq -r .error <<<"$OUT") $("$VESSEL" vm get "$A" -o json | jq -r .status.printableStatus)"

# ---------------------------------------------------------------- the target's own bound
# A source gone for good before it sent a byte: the target drops its waiting VM after waitSeconds (default
# KubeVirt's progressTimeout, 150 s; 10 here), prepared by hand as a source would ask for it.
BODY=$(jq -n --rawfile m "$T/vms/$A/vm.yaml" --arg d "$T/vms/$A" '{manifest: $m, sourceDir: $d, waitSeconds: 10}')
run curl -sS --unix-socket "$T/vessel2/api.sock" -X POST -d "$BODY" "http://localhost/v1/vms/$A/incoming"
assert_eq "a target prepared through its API (waitSeconds 10), nothing sent to it" "unix:$T/vms2/$A/migrate.sock" "$(jq -r .uri <<<"$OUT")"
check_sh "… its QEMU waits beside the source's" "[ \$(qemus_of $T/vms | wc -l) = 2 ]"
check_sh "… dropped by the target itself once nothing came for 10 s (within 40 s): one QEMU, no target VM" \
  "wait_for 40 '[ -z \"\$(ls $T/vms2)\" ] && [ \$(qemus_of $T/vms | wc -l) = 1 ]'"
check_sh "… its log says why" "grep -q 'incoming migration dropped: nothing came from the source in 10 s' $T/vesseld2.log"
run curl -sS --unix-socket "$T/vessel2/api.sock" -X POST -d "$(jq -c '.waitSeconds = "soon"' <<<"$BODY")" "http://localhost/v1/vms/$A/incoming"
assert_eq "bad input: waitSeconds that is no number: a 400 naming it, nothing made" \
  "field \"waitSeconds\": a number of seconds, not \"soon\" 1" "$(jq -r .error <<<"$OUT") $(qemus_of $T/vms | wc -l)"

# ---------------------------------------------------------------- a crash and a delete on /v1/events
curl -sN --unix-socket "$API" "http://localhost/v1/events?isolation=vm" > "$T/events3" 2>/dev/null &
EV1=$!
check_sh "(the event stream of the daemon after the kill is open)" "wait_for 10 'grep -q \"vessel events\" $T/events3'"
kill -KILL "$("$VESSEL" vm get "$A" -o json | jq -r .status.vessel.pid)"
check_sh "kill -9 of QEMU under Always: crash, then start again, on /v1/events" \
  "wait_for 60 '[ \"\$(events_of $T/events3)\" = \"crash(Crashed) start\" ]'"

# ---------------------------------------------------------------- delete leaves nothing
check "delete" "$VESSEL" vm delete "$A" --grace-period 0
check_sh "… delete on /v1/events: exit, then delete" "wait_for 10 '[ \"\$(events_of $T/events3)\" = \"crash(Crashed) start exit(Stopped) delete\" ]'"
kill "$EV1" 2>/dev/null
run "$VESSEL" doctor
assert_contains "vessel doctor: OVMF for firmware efi" "$OUT" "vm firmware efi: /usr/share/OVMF/"
assert_contains "… genisoimage" "$OUT" "vm genisoimage: /"
assert_contains "… the image cache" "$OUT" "vm image cache: $T/vms/.images ("
check_sh "nothing left: no VM directory on either daemon, no QEMU, no cgroup" \
  "[ -z \"\$(ls $T/vms)\" ] && [ -z \"\$(ls $T/vms2)\" ] && [ -z \"\$(qemus_of $T/vms)\" ] && [ -z \"\$(cgroup_dirs_named vm-$P)\" ]"

[ "$FAIL" = 0 ] || { diag "the daemons' logs:"; tail -n 30 "$VESSEL_LOG" "$T/vesseld2.log" | sed 's/^/#   /'; }
summary
