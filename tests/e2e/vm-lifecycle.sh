#!/usr/bin/env bash
# Full VMs from KubeVirt VirtualMachine manifests (issue 14, items 1, 2, 3, 7): `vessel vm` with a small
# BIOS-bootable disk this test builds (images/vm-test-disk.sh: extlinux, Debian's kernel, a busybox
# initramfs whose init prints "tick N" on ttyS0, counts its boots on /dev/vdb, takes DHCP or
# 10.99.0.<MAC's last byte>, serves :8080 and powers off on the ACPI button).
# Covers: apply/get/list, console (Ctrl-] detaches), the cloud-init seed, masquerade forward host→guest
# and guest→host, RestartRequired, RerunOnFailure (restart after kill -9 of QEMU, none after a guest
# poweroff), stop (ACPI)/start keeping a hostDisk's content, kill -9 of vesseld (the VM keeps running, the
# next daemon re-adopts the same QEMU, the console still works), a host reboot (Always starts it again),
# Always after poweroff (from a containerDisk in an OCI archive), a crash loop's back-off, Once (not restarted) with an
# ephemeral volume and userDataBase64, spec.running, emptyDisk on
# scsi and a sata cdrom, Halted, Manual, UEFI, two VMs on a
# test-made bridge, a containerDisk from a registry this test runs (docker-registry, pushed with skopeo),
# snapshots of a stopped VM (its hostDisk: list, restore, delete one by one, CLI and API), ErrorUnschedulable (memory, vCPUs), every bad input (one line, non-zero, nothing left), and nothing left after delete.
# A daemon of our own (socket, VM directory), so that killing it disturbs no other test.
source "$(dirname "$0")/../lib.sh"

diag "runtime: $VESSEL"
vm_suite_daemon qemu-system-x86_64 qemu-img genisoimage extlinux socat curl jq skopeo docker-registry
DISK=$BUILD/images/vm-test-disk.raw
"$REPO/images/vm-test-disk.sh" "$DISK" || skip_all "images/vm-test-disk.sh failed"
P=vt$$
HP=$((20000 + $$ % 20000))      # host port forwarded to the guest's 8080
GP=$((HP + 1))                  # a host service the guest reaches through the gateway
BR=br$P
on_cleanup 'for n in $("$VESSEL" vm list -o json 2>/dev/null | jq -r ".[].name"); do "$VESSEL" vm delete "$n" --grace-period 0; done'
on_cleanup 'ip link delete "$BR" 2>/dev/null'
on_cleanup 'for p in $(qemus_of "$T/vms/"); do kill -KILL "$p"; done'
on_cleanup '[ -n "${HOSTSVC:-}" ] && kill "$HOSTSVC"'
on_cleanup '[ -n "${BUSY:-}" ] && kill "$BUSY"'

# manifest NAME STRATEGY [INTERFACES-YAML NETWORKS-YAML [MEMORY]] — a VirtualMachine on the test disk,
# with a persistent hostDisk for the boot counter
manifest() {
  local name=$1 strategy=$2 ifs=${3:-} nets=${4:-} mem=${5:-128Mi} image=${6:-$DISK}
  [ -n "$ifs" ] || ifs="[{name: default, masquerade: {}, ports: [{name: http, port: 8080}]}]"
  [ -n "$nets" ] || nets="[{name: default, pod: {}}]"
  cat <<Y
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: $name
  annotations: {vessel.dev/host-ports: "8080:$HP"}
spec:
  runStrategy: $strategy
  template:
    metadata:
      labels: {kubevirt.io/vm: $name}
    spec:
      terminationGracePeriodSeconds: 30
      domain:
        cpu: {cores: 1}
        memory: {guest: $mem}
        devices:
          disks:
          - {name: root, disk: {bus: virtio}, bootOrder: 1}
          - {name: data, disk: {bus: virtio}, serial: data1}
          - {name: cloudinit, cdrom: {bus: sata}}
          - {name: scratch, disk: {bus: scsi}}
          interfaces: $ifs
      networks: $nets
      volumes:
      - {name: root, containerDisk: {image: "$image"}}
      - {name: data, hostDisk: {path: $T/$name-data.raw, type: DiskOrCreate, capacity: 1Mi}}
      - {name: scratch, emptyDisk: {capacity: 16Mi}}
      - name: cloudinit
        cloudInitNoCloud:
          userData: |
            #cloud-config
            hostname: $name
          networkData: |
            version: 2
            ethernets: {eth0: ${NETDATA:-"{dhcp4: true}"}}
Y
}
printable() { "$VESSEL" vm get "$1" -o json 2>/dev/null | jq -r .status.printableStatus; }
qpid() { "$VESSEL" vm get "$1" -o json 2>/dev/null | jq -r .status.vessel.pid; }
console_log() { cat "$T/vms/$1/console.log" 2>/dev/null | tr -d '\r'; }
# type a command on the console (as a user of vessel vm console would) and give the guest time to answer
type_in() { (printf '%s\n' "$2"; sleep "${3:-3}") | timeout 30 "$VESSEL" vm console "$1" 2>/dev/null | tr -d '\r'; }
export -f printable qpid console_log
# how many boots the guest of VM $1 has counted on its hostDisk, as its console last said
boots() { console_log "$1" | grep -a '^boots=' | tail -n1 | cut -d= -f2; }
export -f boots
# whether the guest of VM $1 has finished its boot number $2 (its counter runs, its ACPI watcher too)
booted() { console_log "$1" | sed -n "/^boots=$2\$/,\$p" | grep -aq 'tick [0-9]'; }
export -f booted
BOOT=120  # seconds a TCG boot gets on a busy host

# ---------------------------------------------------------------- apply, get, list, console
A=$P-a
manifest "$A" RerunOnFailure > "$T/a.yaml"
run "$VESSEL" vm apply -f "$T/a.yaml"
assert_eq "apply: created" "virtualmachine.kubevirt.io/$A created" "$OUT"
check_sh "the guest boots and counts its first boot on the hostDisk" "wait_for $BOOT '[ \"\$(boots $A)\" = 1 ]'"
assert_eq "get: printableStatus Running" "Running" "$(printable "$A")"
run "$VESSEL" vm get "$A" -o yaml
assert_contains "get -o yaml: KubeVirt's status" "$OUT" "printableStatus: Running"
assert_contains "get -o yaml: the masquerade interface's address" "$OUT" "ipAddress: 10.0.2.2"
run "$VESSEL" vm list
assert_match "list: the VM, Running, ready" "$A +[0-9a-z]+ +Running +True" "$OUT"
check_sh "console: the guest's counter" "wait_for 30 'console_log $A | grep -aq \"^tick [0-9]\"'"
OUT=$(type_in "$A" 'echo CONSOLE-$((6*7))')
assert_contains "vessel vm console: a command typed runs in the guest" "$OUT" "CONSOLE-42"
run with_tty_input 'echo TTY-$((5*5))\n\x1d' "$VESSEL" vm console "$A"
assert_eq "vessel vm console on a terminal: Ctrl-] detaches (exit 0)" 0 "$RC"
assert_contains "… after virtctl's greeting" "$OUT" "Successfully connected to $A console. The escape sequence is ^]"
check_sh "… what was typed before it reached the guest" "wait_for 10 'console_log $A | grep -aq \"^TTY-25\"'"
PID1=$(qpid "$A")
ISO=$T/vms/$A/run-cloudinit.iso
check_sh "cloudInitNoCloud: a NoCloud seed ISO labelled cidata" "isoinfo -d -i $ISO | grep -q '^Volume id: cidata'"
assert_eq "… meta-data: instance-id and local-hostname" "instance-id: $A
local-hostname: $A" "$(isoinfo -i "$ISO" -J -x /meta-data)"
assert_contains "… user-data as given" "$(isoinfo -i "$ISO" -J -x /user-data)" "hostname: $A"
assert_contains "… network-config from networkData" "$(isoinfo -i "$ISO" -J -x /network-config)" "dhcp4: true"
check_sh "… attached as a sata cdrom" "tr '\\0' ' ' < /proc/$PID1/cmdline | grep -q 'ide-cd,bus=ide.0'"
assert_eq "emptyDisk: a blank qcow2 of its capacity for the run" "qcow2 16777216" \
  "$(qemu-img info -U --output=json "$T/vms/$A/run-scratch.qcow2" | jq -r '"\(.format) \(.["virtual-size"])"')"
check_sh "… on scsi" "tr '\\0' ' ' < /proc/$PID1/cmdline | grep -q 'virtio-scsi-pci,id=scsi0 .*scsi-hd,bus=scsi0.0'"
check_sh "QEMU runs in the VM's own cgroup under vessel/" "grep -q 'vessel/vm-$A' /proc/$PID1/cgroup"

# ---------------------------------------------------------------- masquerade
check_sh "host → guest: the forwarded port reaches the guest's httpd" \
  "wait_for 60 'curl -s -m 5 http://127.0.0.1:$HP/ | grep -q \"hello from vessel-test-guest\"'"
socat TCP-LISTEN:$GP,bind=127.0.0.1,reuseaddr,fork SYSTEM:'echo host-says-hi' >/dev/null 2>&1 &
HOSTSVC=$!
sleep 0.5
OUT=$(type_in "$A" "nc 10.0.2.1 $GP </dev/null" 4)
assert_contains "guest → host: the guest reaches a host service through the gateway 10.0.2.1" "$OUT" "host-says-hi"

# ---------------------------------------------------------------- a changed spec needs a restart
manifest "$A" RerunOnFailure "" "" 192Mi > "$T/a2.yaml"
run "$VESSEL" vm apply -f "$T/a2.yaml"
assert_contains "apply of a changed spec: says what needs a restart" "$OUT" "restart required: spec.template.spec.domain.memory.guest"
run "$VESSEL" vm get "$A" -o json
assert_eq "get: the RestartRequired condition" "True" "$(printf '%s' "$OUT" | jq -r '.status.conditions[] | select(.type=="RestartRequired") | .status')"
run "$VESSEL" vm apply -f "$T/a2.yaml"
assert_eq "apply of the same manifest again: unchanged" "virtualmachine.kubevirt.io/$A unchanged" "$OUT"

# ---------------------------------------------------------------- RerunOnFailure
kill -KILL "$PID1"
check_sh "RerunOnFailure: kill -9 of QEMU starts the VM again" "wait_for $BOOT '[ \"\$(boots $A)\" = 2 ]'"
PID2=$(qpid "$A")
assert_ne "… in a new QEMU" "$PID1" "$PID2"
check_sh "… Running" "wait_for 20 '[ \"\$(printable $A)\" = Running ]'"
run "$VESSEL" vm get "$A" -o json
assert_eq "… with the changed spec (no RestartRequired left)" "" "$(printf '%s' "$OUT" | jq -r '.status.conditions[] | select(.type=="RestartRequired") | .status')"
type_in "$A" "poweroff -f" 1 >/dev/null
check_sh "RerunOnFailure: a guest poweroff is not restarted (Stopped)" "wait_for 30 '[ \"\$(printable $A)\" = Stopped ]'"
sleep 3
assert_eq "… and stays Stopped, QEMU gone" "Stopped no" "$(printable "$A") $(pid_alive "$PID2" && echo yes || echo no)"
check_sh "… the run's disks (overlay, emptyDisk, seed ISO) went with it; the hostDisk stays" \
  "[ -z \"\$(ls $T/vms/$A | grep '^run-')\" ] && [ -f $T/$A-data.raw ]"

# ---------------------------------------------------------------- stop (ACPI) / start keeps the disk
check "start" "$VESSEL" vm start "$A"
check_sh "start: boots again, the hostDisk's count carried on" "wait_for $BOOT '[ \"\$(boots $A)\" = 3 ]'"
check_sh "… up" "wait_for 60 'booted $A 3'"
check "stop" "$VESSEL" vm stop "$A"
# within the grace period (30 s): the guest itself powered off, QEMU was not stopped by force
check_sh "stop: the guest powers off on the ACPI button, Stopped before the grace period is over" \
  "wait_for 25 '[ \"\$(printable $A)\" = Stopped ]'"
assert_contains "… the guest saw the power button" "$(console_log "$A")" "power button: powering off"
run "$VESSEL" vm get "$A" -o json
assert_eq "stop makes runStrategy Halted (as virtctl)" "Halted" "$(printf '%s' "$OUT" | jq -r .spec.runStrategy)"
check "start again" "$VESSEL" vm start "$A"
check_sh "… the disk's content is kept (boots=4)" "wait_for $BOOT '[ \"\$(boots $A)\" = 4 ]'"

# ---------------------------------------------------------------- kill -9 of vesseld
PID4=$(qpid "$A")
DPID=$("$VESSEL" daemon status 2>/dev/null)
kill -KILL "$DPID"
sleep 1
check_sh "kill -9 of vesseld: QEMU keeps running" "pid_alive $PID4"
check_sh "the next daemon re-adopts it: Running" "wait_for 30 '[ \"\$(printable $A)\" = Running ]'"
assert_eq "… the same QEMU" "$PID4" "$(qpid "$A")"
assert_ne "… under a new daemon" "$DPID" "$("$VESSEL" daemon status 2>/dev/null)"
OUT=$(type_in "$A" 'echo AFTER-$((40+2))')
assert_contains "… the console still works" "$OUT" "AFTER-42"
sleep 2
assert_eq "… undisturbed (no extra boot)" "4" "$(boots "$A")"

# ---------------------------------------------------------------- after a host reboot, runStrategy decides
# a reboot, as the next daemon sees it: no QEMU, and another boot_id than the one the state was written under
check "daemon stop (the VM keeps running)" "$VESSEL" daemon stop
kill -KILL "$PID4"
jq '.bootId = "a-boot-before"' "$T/vms/$A/state.json" > "$T/state.json" && mv "$T/state.json" "$T/vms/$A/state.json"
check "the next daemon starts (vessel vm list)" "$VESSEL" vm list
check_sh "after a host reboot the next daemon starts the VM again (Always)" "wait_for $BOOT '[ \"\$(boots $A)\" = 5 ]'"
run "$VESSEL" vm get "$A" -o json
assert_eq "… and says why its last run ended" "HostRestarted" "$(printf '%s' "$OUT" | jq -r .status.vessel.lastExit)"

# ---------------------------------------------------------------- Always (from an OCI archive), Halted
# a KubeVirt containerDisk image (the disk under /disk/, one gzip layer) as an OCI image-layout archive
O=$T/oci
mkdir -p "$O/layer/disk" "$O/img/blobs/sha256"
cp --sparse=always "$DISK" "$O/layer/disk/disk.img"
tar -C "$O/layer" -Scf - disk | gzip -1 > "$O/layer.tgz"
blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$O/img/blobs/sha256/$d"; echo "$d"; }
LD=$(blob "$O/layer.tgz"); LS=$(stat -c %s "$O/img/blobs/sha256/$LD")
echo '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' > "$O/config.json"
CS=$(stat -c %s "$O/config.json"); CD=$(blob "$O/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
  "$CD" "$CS" "$LD" "$LS" > "$O/manifest.json"
MS=$(stat -c %s "$O/manifest.json"); MD=$(blob "$O/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s}]}' "$MD" "$MS" > "$O/img/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$O/img/oci-layout"
tar -C "$O/img" -cf "$T/disk.oci.tar" .
rm -rf "$O"
B=$P-b
manifest "$B" Always "[{name: default, masquerade: {}}]" "" 128Mi "oci-archive:$T/disk.oci.tar" > "$T/b.yaml"
check "apply (Always, containerDisk from an OCI archive)" "$VESSEL" vm apply -f "$T/b.yaml"
check_sh "Always: boots" "wait_for $BOOT '[ \"\$(boots $B)\" = 1 ]'"
assert_eq "the containerDisk's disk, taken out of the archive once, backs the run's overlay" "$T/vms/.images/$MD.img" \
  "$(qemu-img info -U --output=json "$T/vms/$B/run-root.qcow2" | jq -r '.["backing-filename"]')"
BP=$(qpid "$B")
type_in "$B" "poweroff -f" 1 >/dev/null
check_sh "Always: a guest poweroff starts it again" "wait_for $BOOT '[ \"\$(boots $B)\" = 2 ]'"
assert_ne "… in a new QEMU" "$BP" "$(qpid "$B")"
# a crash loop: the first crash restarts at once, the second within a minute waits (10 s) as KubeVirt's back-off
BP=$(qpid "$B"); kill -KILL "$BP"
check_sh "a crash: started again at once" "wait_for 20 '[ \"\$(qpid $B)\" != $BP ] && [ \"\$(qpid $B)\" != 0 ]'"
BP=$(qpid "$B"); kill -KILL "$BP"
check_sh "a second crash within a minute: CrashLoopBackOff" "wait_for 8 '[ \"\$(printable $B)\" = CrashLoopBackOff ]'"
run "$VESSEL" vm get "$B" -o json
assert_eq "… with a Failure condition" "CrashLoopBackOff" "$(printf '%s' "$OUT" | jq -r '.status.conditions[] | select(.type=="Failure") | .reason')"
check_sh "… then started again after the back-off" "wait_for 40 '[ \"\$(printable $B)\" = Running ]'"
check "delete (Always)" "$VESSEL" vm delete "$B" --grace-period 0
H=$P-h
manifest "$H" Halted "[{name: default, masquerade: {}}]" > "$T/h.yaml"
check "apply -f - (stdin, Halted)" bash -c "'$VESSEL' vm apply -f - < '$T/h.yaml'"
sleep 2
assert_eq "Halted: Stopped, no QEMU" "Stopped " "$(printable "$H") $(qemus_of "$T/vms/$H/")"
check "delete (Halted)" "$VESSEL" vm delete "$H"

# ---------------------------------------------------------------- Manual, and UEFI (OVMF)
E=$P-e
cat > "$T/e.yaml" <<Y
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: $E}
spec:
  runStrategy: Manual
  template:
    spec:
      domain:
        firmware: {bootloader: {efi: {}}}
        memory: {guest: 128Mi}
        devices:
          disks: [{name: root, disk: {bus: virtio}}]
      volumes: [{name: root, containerDisk: {image: "$DISK"}}]
Y
check "apply (Manual, firmware efi)" "$VESSEL" vm apply -f "$T/e.yaml"
sleep 2
assert_eq "Manual: not started by apply" "Stopped " "$(printable "$E") $(qemus_of "$T/vms/$E/")"
check "start (Manual)" "$VESSEL" vm start "$E"
# the test disk boots by BIOS only: OVMF's boot manager finds nothing to boot and says so on the console
check_sh "efi: OVMF runs from pflash, with the VM's own variable store" \
  "wait_for $BOOT 'console_log $E | grep -aq BdsDxe' && [ -f $T/vms/$E/OVMF_VARS.fd ]"
check "delete (efi)" "$VESSEL" vm delete "$E" --grace-period 0

# ---------------------------------------------------------------- Once, an ephemeral volume, userDataBase64, spec.running
O=$P-o
cat > "$T/o.yaml" <<Y
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: $O}
spec:
  runStrategy: Once
  template:
    spec:
      domain:
        cpu: {sockets: 1, cores: 1, threads: 1}
        resources: {requests: {memory: 128Mi}}
        devices:
          disks:
          - {name: root, disk: {bus: virtio}}
          - {name: cloudinit, cdrom: {bus: sata}}
      volumes:
      - {name: root, ephemeral: {persistentVolumeClaim: {claimName: "$DISK"}}}
      - {name: cloudinit, cloudInitNoCloud: {userDataBase64: "$(printf '#cloud-config\nhostname: %s\n' "$O" | base64 -w0)"}}
Y
check "apply (Once, root an ephemeral volume, cloudInitNoCloud userDataBase64, memory from resources.requests)" "$VESSEL" vm apply -f "$T/o.yaml"
# (the boot banner: a "tick N" after the first can share its line with the console shell's prompt)
check_sh "… boots" "wait_for $BOOT 'console_log $O | grep -aq \"^vessel-test-guest up\"'"
assert_eq "ephemeral: the run writes to a qcow2 overlay on the claim's disk file, which stays as it was" "$DISK qcow2" \
  "$(qemu-img info -U --output=json "$T/vms/$O/run-root.qcow2" | jq -r '"\(.["backing-filename"]) \(.format)"')"
assert_eq "userDataBase64: decoded into the seed's user-data" "#cloud-config
hostname: $O" "$(isoinfo -i "$T/vms/$O/run-cloudinit.iso" -J -x /user-data)"
check "pause (CLI)" "$VESSEL" vm pause "$O"
assert_eq "… printableStatus Paused, condition Paused (PausedByUser)" "Paused True PausedByUser" \
  "$("$VESSEL" vm get "$O" -o json | jq -r '.status.printableStatus + " " + (.status.conditions[] | select(.type == "Paused") | "\(.status) \(.reason)")')"
run curl -sS --unix-socket "$T/vessel/api.sock" -X PUT "http://localhost/v1/vms/$O/unpause"
assert_eq "the API: PUT /v1/vms/{name}/unpause: Running" "Running" "$(jq -r .status.printableStatus <<<"$OUT")"
OPID=$(qpid "$O")
run curl -sS --unix-socket "$T/vessel/api.sock" -X PUT "http://localhost/v1/vms/$O/restart?gracePeriod=30"
assert_match "the API: PUT /v1/vms/{name}/restart (the VM as it is then: Starting while it stops, or Running again)" \
  "^(Starting|Running)$" "$(jq -r .status.printableStatus <<<"$OUT")"
check_sh "… the guest powers off on the button and boots again in a new QEMU" \
  "wait_for $BOOT '[ \$(console_log $O | grep -ac \"^vessel-test-guest up\") = 2 ] && [ \"\$(printable $O)\" = Running ] && [ \"\$(qpid $O)\" != $OPID ]'"
kill -KILL "$(qpid "$O")"
check_sh "Once: kill -9 of QEMU is not restarted (Stopped, no QEMU)" "wait_for 20 '[ \"\$(printable $O)\" = Stopped ] && [ -z \"\$(qemus_of $T/vms/$O/)\" ]'"
sleep 2
assert_eq "… and stays so, its overlay gone" "Stopped no-overlay" "$(printable "$O") $([ -e "$T/vms/$O/run-root.qcow2" ] && echo overlay || echo no-overlay)"
check "delete (Once)" "$VESSEL" vm delete "$O"
sed -e 's/runStrategy: Once/running: false/' "$T/o.yaml" > "$T/o2.yaml"
check "apply (spec.running: false)" "$VESSEL" vm apply -f "$T/o2.yaml"
sleep 2
assert_eq "… Stopped, no QEMU, runStrategy Halted in the status" "Stopped Halted " \
  "$(printable "$O") $("$VESSEL" vm get "$O" -o json | jq -r .status.runStrategy) $(qemus_of "$T/vms/$O/")"
check "delete (spec.running)" "$VESSEL" vm delete "$O"

# ---------------------------------------------------------------- two VMs on one bridge
ip link add "$BR" type bridge && ip link set "$BR" up
BRIF="[{name: lan, bridge: {}, macAddress: 'MAC'}]"
BRNET="[{name: lan, multus: {networkName: $BR}}]"
C=$P-c; D=$P-d
NETDATA="{addresses: [10.99.0.11/24]}" manifest "$C" Always "${BRIF/MAC/02:00:00:00:00:0b}" "$BRNET" > "$T/c.yaml"
manifest "$D" Always "${BRIF/MAC/02:00:00:00:00:0c}" "$BRNET" > "$T/d.yaml"
check "apply two VMs on bridge $BR" bash -c "'$VESSEL' vm apply -f '$T/c.yaml' && '$VESSEL' vm apply -f '$T/d.yaml'"
check_sh "both boot with their bridge addresses" "wait_for $BOOT 'console_log $C | grep -aq \"static eth0 10.99.0.11\" && console_log $D | grep -aq \"static eth0 10.99.0.12\"'"
check_sh "… their taps are on $BR" "[ \$(ls /sys/class/net/$BR/brif | wc -l) = 2 ]"
run "$VESSEL" vm get "$C" -o json
assert_eq "get: the bridge interface's address, from cloud-init's networkData" "10.99.0.11 $BR" \
  "$(printf '%s' "$OUT" | jq -r '.status.interfaces[0] | "\(.ipAddress) \(.bridge)"')"
OUT=$(type_in "$C" "ping -c 2 -W 2 10.99.0.12 >/dev/null && echo BRIDGE-OK" 6)
assert_contains "VM c reaches VM d over the bridge" "$OUT" "BRIDGE-OK"
check "delete both" bash -c "'$VESSEL' vm delete '$C' --grace-period 0 && '$VESSEL' vm delete '$D' --grace-period 0"
assert_eq "… their taps are gone" "0" "$(ls /sys/class/net/$BR/brif | wc -l)"

# ---------------------------------------------------------------- bad input: one line, non-zero, nothing left
nothing_left() { # NAME
  [ ! -e "$T/vms/$1" ] && [ -z "$(qemus_of "$T/vms/$1/")" ] && [ -z "$(cgroup_dirs_named "vm-$1")" ]
}
export -f nothing_left
bad() { # LABEL NAME FILE EXPECTED-SUBSTRING
  run "$VESSEL" vm apply -f "$3"
  if [ "$RC" != 0 ] && [ "$(printf '%s' "$ERR" | wc -l)" -le 1 ] && [ -n "$ERR" ] && [ -z "$OUT" ] \
      && [[ "$ERR" == *"$4"* ]] && nothing_left "$2"; then
    pass "bad input: $1"
  else
    _fail_run "bad input: $1" "one line naming '$4', a non-zero exit, nothing left"
  fi
}
X=$P-x
printf 'apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n\tname: %s\n' "$X" > "$T/bad1.yaml"
bad "malformed YAML" "$X" "$T/bad1.yaml" "malformed YAML at line"
manifest "$X" Always | sed 's/bootOrder: 1}/bootOrder: 1, bootMenu: true}/' > "$T/bad2.yaml"
bad "an unknown field" "$X" "$T/bad2.yaml" 'unknown field "spec.template.spec.domain.devices.disks[0].bootMenu"'
manifest "$X" Alwayz > "$T/bad3.yaml"
bad "a runStrategy typo" "$X" "$T/bad3.yaml" 'spec.runStrategy: Unsupported value: "Alwayz"'
manifest "$X" Always | sed 's/bus: virtio}, bootOrder/bus: ide}, bootOrder/' > "$T/bad4.yaml"
bad "a bus outside the subset" "$X" "$T/bad4.yaml" 'disks[0].disk.bus: Unsupported value: "ide"'
manifest "$X" Always | sed "s|image: \"$DISK\"|image: $T/no-such-disk.qcow2|" > "$T/bad5.yaml"
bad "a disk file that does not exist" "$X" "$T/bad5.yaml" "$T/no-such-disk.qcow2 does not exist"
manifest "$A" Always > "$T/bad6.yaml"
run "$VESSEL" vm create -f "$T/bad6.yaml"
assert_eq "bad input: a name already taken (vm create)" "1 vessel: vm \"$A\" already exists (vessel vm apply changes it)" "$RC $ERR"
socat TCP-LISTEN:$((HP + 2)),bind=127.0.0.1,reuseaddr,fork SYSTEM:true >/dev/null 2>&1 &
BUSY=$!
sleep 0.5
manifest "$X" Always | sed "s/8080:$HP/8080:$((HP + 2))/" > "$T/bad7.yaml"
bad "a forwarded port in use" "$X" "$T/bad7.yaml" "host port 127.0.0.1:$((HP + 2))/tcp is in use"
check_sh "… no file left by the refused start (VM directory, overlay, the hostDisk it would make)" "[ ! -e $T/vms/$X ] && [ ! -e $T/$X-data.raw ]"
run "$VESSEL" vm get no-such-vm
assert_eq "get of a VM that does not exist: one line" "1 vessel: vm \"no-such-vm\" does not exist" "$RC $ERR"

# ---------------------------------------------------------------- ErrorUnschedulable: more than the host can give
# accepted as KubeVirt accepts it (the virt-launcher pod stays Pending): guest memory beyond MemTotal, or more
# vCPUs than a tenth of a CPU each fits (KubeVirt's cpuAllocationRatio 10)
U=$P-u
HOSTMIB=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 ))
manifest "$U" Always "" "" "$((HOSTMIB + 1024))Mi" > "$T/u.yaml"
run "$VESSEL" vm apply -f "$T/u.yaml"
assert_eq "apply (Always, more memory than the host has): accepted, one line saying it cannot be scheduled" \
  "0 virtualmachine.kubevirt.io/$U created (ErrorUnschedulable: 0/1 nodes are available: 1 Insufficient memory.)" "$RC $OUT"
run "$VESSEL" vm get "$U" -o json
assert_eq "… printableStatus ErrorUnschedulable, condition PodScheduled False with the scheduler's message" \
  "ErrorUnschedulable False Unschedulable 0/1 nodes are available: 1 Insufficient memory." \
  "$(jq -r '.status.printableStatus + " " + (.status.conditions[] | select(.type == "PodScheduled") | "\(.status) \(.reason) \(.message)")' <<<"$OUT")"
run "$VESSEL" vm start "$U"
assert_eq "… vm start: scheduled, as virtctl says (it waits for room)" "0 VM $U was scheduled to start" "$RC $OUT"
sleep 2
assert_eq "… and it stays so (the reconciler tries again): no QEMU, no run file, no hostDisk made" "ErrorUnschedulable ||" \
  "$(printable "$U") |$(qemus_of "$T/vms/$U/")|$(ls "$T/vms/$U" | grep -v '^vm.yaml$\|^state.json$\|^console.log$')$(ls "$T/$U-data.raw" 2>/dev/null)"
check "delete (ErrorUnschedulable)" "$VESSEL" vm delete "$U" --grace-period 0
check_sh "… nothing left" "nothing_left $U && [ ! -e $T/$U-data.raw ]"
VCPUS=$(( $(nproc) * 10 + 1 ))
if [ "$VCPUS" -le 255 ]; then
  manifest "$U" Always | sed "s/cpu: {cores: 1}/cpu: {cores: $VCPUS}/" > "$T/u2.yaml"
  run "$VESSEL" vm apply -f "$T/u2.yaml"
  assert_eq "apply ($VCPUS vCPUs on $(nproc) CPUs): ErrorUnschedulable, Insufficient cpu" \
    "0 virtualmachine.kubevirt.io/$U created (ErrorUnschedulable: 0/1 nodes are available: 1 Insufficient cpu.) ErrorUnschedulable" "$RC $OUT $(printable "$U")"
  check "delete (Insufficient cpu)" "$VESSEL" vm delete "$U" --grace-period 0
  check_sh "… nothing left" "nothing_left $U && [ ! -e $T/$U-data.raw ]"
else
  diag "not checked: more vCPUs than the host can give (its $(nproc) CPUs take more than the 255 vCPUs a VM may have)"
fi

# ---------------------------------------------------------------- containerDisk from a registry
# a private registry of this test's own (Debian's docker-registry: its config, storage and a loopback port),
# holding the busybox disk as a KubeVirt containerDisk (Docker v2 manifest this time: another digest than the archive's)
RP=$((HP + 3))
mkdir -p "$T/registry"
cat > "$T/registry/config.yml" <<Y
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $T/registry/store}}
http: {addr: 127.0.0.1:$RP}
Y
docker-registry serve "$T/registry/config.yml" > "$T/registry/log" 2>&1 &
REGISTRY=$!
on_cleanup '[ -n "${REGISTRY:-}" ] && kill "$REGISTRY" 2>/dev/null'
check_sh "a private registry answers on 127.0.0.1:$RP" "wait_for 20 'curl -sf http://127.0.0.1:$RP/v2/ >/dev/null'"
check "skopeo pushes the containerDisk image to it" skopeo copy -q --format v2s2 --dest-tls-verify=false \
  "oci-archive:$T/disk.oci.tar" "docker://127.0.0.1:$RP/vessel/vm-test-disk:1"
RD=$(skopeo inspect --tls-verify=false --no-tags --format '{{.Digest}}' "docker://127.0.0.1:$RP/vessel/vm-test-disk:1" | cut -d: -f2)
R=$P-r
manifest "$R" RerunOnFailure "[{name: default, masquerade: {}}]" "" 128Mi "127.0.0.1:$RP/vessel/vm-test-disk:1" > "$T/r.yaml"
check "apply (containerDisk image HOST:PORT/NAME:TAG)" "$VESSEL" vm apply -f "$T/r.yaml"
check_sh "the VM boots from the registry's image" "wait_for $BOOT '[ \"\$(boots $R)\" = 1 ]'"
assert_eq "… pulled once into the cache by its digest, backing the run's overlay" "$T/vms/.images/$RD.img" \
  "$(qemu-img info -U --output=json "$T/vms/$R/run-root.qcow2" | jq -r '.["backing-filename"]')"
kill "$REGISTRY"; wait "$REGISTRY" 2>/dev/null; REGISTRY=
RP1=$(qpid "$R"); kill -KILL "$RP1"
check_sh "with the registry gone, RerunOnFailure starts it again from the cache (IfNotPresent)" "wait_for $BOOT '[ \"\$(boots $R)\" = 2 ]'"
check "delete (registry image)" "$VESSEL" vm delete "$R" --grace-period 0
docker-registry serve "$T/registry/config.yml" > "$T/registry/log" 2>&1 &
REGISTRY=$!
check_sh "the registry again" "wait_for 20 'curl -sf http://127.0.0.1:$RP/v2/ >/dev/null'"
manifest "$X" Always "[{name: default, masquerade: {}}]" "" 128Mi "docker://127.0.0.1:$RP/vessel/no-such-disk:1" > "$T/bad8.yaml"
bad "a registry image that does not exist" "$X" "$T/bad8.yaml" "spec.template.spec.volumes[0].containerDisk.image: \"docker://127.0.0.1:$RP/vessel/no-such-disk:1\": reading manifest 1"
kill "$REGISTRY"; wait "$REGISTRY" 2>/dev/null; REGISTRY=
manifest "$X" Always "[{name: default, masquerade: {}}]" "" 128Mi "127.0.0.1:$RP/vessel/vm-test-disk:2" > "$T/bad9.yaml"
bad "a registry that does not answer" "$X" "$T/bad9.yaml" "spec.template.spec.volumes[0].containerDisk.image: \"127.0.0.1:$RP/vessel/vm-test-disk:2\": pinging container registry 127.0.0.1:$RP"
check_sh "… no pull left behind in the cache, the registry stopped" "[ -z \"\$(ls -A $T/vms/.images | grep '^\.')\" ] && ! pgrep -f '[d]ocker-registry serve $T/' >/dev/null"

# ---------------------------------------------------------------- snapshots of a stopped VM (its hostDisk)
check_sh "(VM a up again: boot 5 done)" "wait_for $BOOT 'booted $A 5'"
check "stop (for its disk snapshots)" "$VESSEL" vm stop "$A"
check_sh "… Stopped" "wait_for 40 '[ \"\$(printable $A)\" = Stopped ]'"
run "$VESSEL" vm snapshot "$A" before
assert_eq "snapshot of a stopped VM: created" "0 virtualmachinesnapshot.snapshot.kubevirt.io/before created" "$RC $OUT"
check "… a second one" "$VESSEL" vm snapshot "$A" second
run "$VESSEL" vm snapshot list "$A" -o json
assert_eq "snapshot list: both, the stopped VM's disks (the hostDisk data), no memory" "before data false|second data false" \
  "$(printf '%s' "$OUT" | jq -r '[.[] | "\(.name) \(.disks | join(",")) \(.memory)"] | join("|")')"
check "start (after the snapshots)" "$VESSEL" vm start "$A"
check_sh "… boots (boots=6 on the hostDisk)" "wait_for $BOOT 'booted $A 6'"
run "$VESSEL" vm restore "$A" before
assert_contains "restore of a stopped VM's snapshot into the running VM: refused, one line" "$RC $ERR" "1 vessel: vm \"$A\" is running: snapshot before holds the disks of the stopped VM"
check "stop" "$VESSEL" vm stop "$A"
check_sh "… Stopped" "wait_for 40 '[ \"\$(printable $A)\" = Stopped ]'"
run "$VESSEL" vm restore "$A" before
assert_eq "restore of the stopped VM" "0 virtualmachinerestore.snapshot.kubevirt.io/$A-before restored" "$RC $OUT"
check "start (restored)" "$VESSEL" vm start "$A"
# (console.log is appended to across runs: the restored run is the second boots=6 in it)
check_sh "… its hostDisk is the snapshot's: the count goes on from 5 (boots=6 again, not 7)" \
  "wait_for $BOOT '[ \$(console_log $A | grep -ac \"^boots=6\$\") = 2 ]'"
assert_eq "… (no boots=7 in the console log)" 0 "$(console_log "$A" | grep -ac '^boots=7$')"
run "$VESSEL" vm snapshot delete "$A" second
assert_eq "snapshot delete: one of them" "0 virtualmachinesnapshot.snapshot.kubevirt.io \"second\" deleted" "$RC $OUT"
assert_eq "… the other stays" "before" "$(curl -sS --unix-socket "$T/vessel/api.sock" "http://localhost/v1/vms/$A/snapshots" | jq -r '[.snapshots[].name] | join(",")')"
assert_eq "the API: DELETE /v1/vms/NAME/snapshots/SNAP" "snapshot before deleted" "$(curl -sS --unix-socket "$T/vessel/api.sock" -X DELETE "http://localhost/v1/vms/$A/snapshots/before" | jq -r .result)"
run "$VESSEL" vm snapshot delete "$A" before
assert_eq "… deleting it again: one line" "1 vessel: vm $A: no snapshot named \"before\"" "$RC $ERR"
assert_eq "… no snapshot left, on disk either" "0 " "$("$VESSEL" vm snapshot list "$A" -o json | jq length) $(ls -A "$T/vms/$A/snapshots")"

# ---------------------------------------------------------------- stop forced after the grace period
# a guest that ignores the power button (its watcher killed from the console): QEMU is stopped by
# force once the grace period is over, and not before
OUT=$(type_in "$A" 'kill -9 $(cut -d" " -f4 /proc/$(pidof dd)/stat) && echo WATCHER-$((3*14))')
assert_contains "(the guest's power-button watcher killed from its console)" "$OUT" "WATCHER-42"
t0=$(date +%s)
check "stop --grace-period 6, the guest ignoring the button" "$VESSEL" vm stop "$A" --grace-period 6
check_sh "… QEMU stopped by force after the grace period: Stopped, no QEMU" \
  "wait_for 60 '[ \"\$(printable $A)\" = Stopped ] && [ -z \"\$(qemus_of $T/vms/$A/)\" ]'"
waited=$(( $(date +%s) - t0 ))
assert_eq "… not before the grace period was over (Stopped after $waited s, grace 6)" yes "$([ "$waited" -ge 6 ] && echo yes || echo no)"
assert_eq "… the guest did not power itself off" 0 "$(console_log "$A" | sed -n '/WATCHER-42/,$p' | grep -ac 'power button: powering off')"

# ---------------------------------------------------------------- delete leaves nothing
check "delete" "$VESSEL" vm delete "$A" --grace-period 5
check_sh "nothing left after delete: no VM directory, QEMU, cgroup or tap" \
  "[ -z \"\$(ls $T/vms)\" ] && [ -z \"\$(qemus_of $T/vms/)\" ] && [ -z \"\$(cgroup_dirs_named vm-$P)\" ] && ! ip -o link | grep -q ': vt[0-9a-f]\{10\}'"
assert_eq "… the containerDisk cache keeps the images (the archive's, the registry's, its tag's digest), no work directory" \
  "$(printf '%s\n' "$MD.img" "$RD.img" refs | sort)" "$(ls -A "$T/vms/.images" | sort)"
run "$VESSEL" vm list
assert_eq "list: no VM" "NAME                     AGE      STATUS             READY" "$OUT"

[ "$FAIL" = 0 ] || { diag "the daemon's log:"; tail -n 40 "$VESSEL_LOG" | sed 's/^/#   /'; }
summary
