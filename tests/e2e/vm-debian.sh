#!/usr/bin/env bash
# A real guest OS from a KubeVirt manifest (issue 14, item 4): the Debian 12 image that
# `vessel vm image build debian` makes (built once, cached in /var/lib/vessel/vm-images) run by
# `vessel vm apply` from a VirtualMachine: the image as a containerDisk (a qcow2 overlay per start: the
# image itself is never written), a persistent hostDisk for data, cloudInitNoCloud with a user and an
# SSH key, masquerade with port 22 forwarded. The test logs in with ssh (cloud-init set the hostname,
# the user, the key), writes a file on the data disk; kill -9 of QEMU under RerunOnFailure boots the VM
# again; stop (ACPI: systemd shuts down cleanly) and start keep the file; a changed spec says what
# needs a restart; Halted stops it; delete leaves nothing. A daemon of our own (socket, VM directory).
source "$(dirname "$0")/../lib.sh"

echo "# vm-debian: the Debian image is built once and cached in /var/lib/vessel/vm-images (a fresh build takes minutes; each TCG boot of it 30-90 s)"
vm_suite_daemon qemu-system-x86_64 qemu-img genisoimage debootstrap extlinux ssh ssh-keygen jq
N=deb$$
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
on_cleanup '"$VESSEL" vm delete "$N" --grace-period 0 >/dev/null 2>&1'
on_cleanup 'for p in $(qemus_of "$T/vms/"); do kill -KILL "$p"; done'

run -t 3600 "$VESSEL" vm image build debian "$T/debian.qcow2"
[ "$RC" = 0 ] || { _fail_run "vm image build debian" "expected exit 0"; summary; exit; }
pass "vm image build debian (${ERR##*$'\n'})"
IMAGE_SUM=$(md5sum < "$T/debian.qcow2")
ssh-keygen -q -t ed25519 -N '' -C vessel-test -f "$T/id" || fail "ssh-keygen"

manifest() { # STRATEGY MEMORY
  cat <<Y
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: $N
  annotations: {vessel.dev/host-ports: "22:$PORT"}
spec:
  runStrategy: $1
  template:
    metadata:
      labels: {kubevirt.io/vm: $N}
    spec:
      terminationGracePeriodSeconds: 240
      domain:
        cpu: {cores: 1}
        memory: {guest: $2}
        devices:
          disks:
          - {name: root, disk: {bus: virtio}, bootOrder: 1}
          - {name: data, disk: {bus: virtio}, serial: data1}
          - {name: cloudinit, cdrom: {bus: sata}}
          interfaces: [{name: default, masquerade: {}, ports: [{name: ssh, port: 22}]}]
      networks: [{name: default, pod: {}}]
      volumes:
      - {name: root, containerDisk: {image: "$T/debian.qcow2"}}
      - {name: data, hostDisk: {path: $T/data.raw, type: DiskOrCreate, capacity: 64Mi}}
      - name: cloudinit
        cloudInitNoCloud:
          userData: |
            #cloud-config
            users:
              - name: vessel
                shell: /bin/bash
                sudo: ALL=(ALL) NOPASSWD:ALL
                ssh_authorized_keys: ["$(cat "$T/id.pub")"]
Y
}
printable() { "$VESSEL" vm get "$N" -o json 2>/dev/null | jq -r .status.printableStatus; }
qpid() { "$VESSEL" vm get "$N" -o json 2>/dev/null | jq -r .status.vessel.pid; }
export -f printable qpid
export N
SSH=(ssh -q -i "$T/id" -p "$PORT" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
     -o ConnectTimeout=5 vessel@127.0.0.1)
in_guest() { timeout 120 "${SSH[@]}" "$@" 2>&1; }
# wait_ssh WHAT — until ssh logs in (900 s at most: TCG on a busy host); prints how long it took
wait_ssh() {
  local t0 deadline
  t0=$(date +%s); deadline=$((t0 + 900))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if timeout 20 "${SSH[@]}" true 2>/dev/null; then
      pass "$1: ssh logs in"; echo "# vm-debian: $1: ssh login after $(( $(date +%s) - t0 )) s"; return 0
    fi
    sleep 2
  done
  fail "$1: ssh logs in" "no login within 900 s; console tail:"
  tail -n 20 "$T/vms/$N/console.log" 2>/dev/null | tr -d '\r' | sed 's/^/#     /'
  return 1
}

# ---------------------------------------------------------------- first boot
manifest RerunOnFailure 1Gi > "$T/vm.yaml"
run "$VESSEL" vm apply -f "$T/vm.yaml"
assert_eq "apply: created" "virtualmachine.kubevirt.io/$N created" "$OUT"
if ! wait_ssh "first boot"; then summary; exit; fi
assert_eq "cloud-init set the hostname to the VM's name" "$N" "$(in_guest hostname)"
assert_eq "cloud-init made the user of the manifest, who logs in with its key" vessel "$(in_guest id -un)"
run -t 300 "${SSH[@]}" cloud-init status --wait
assert_contains "cloud-init finished without errors" "$OUT" "status: done"
assert_contains "the guest's address is masquerade's (10.0.2.2, by DHCP)" "$(in_guest ip -4 -o addr show scope global)" "10.0.2.2/24"
assert_eq "systemd is running (no failed units)" running "$(in_guest systemctl is-system-running --wait)"
assert_eq "get: Running" Running "$(printable)"
run "$VESSEL" vm get "$N" -o yaml
assert_contains "get -o yaml: the interface's address" "$OUT" "ipAddress: 10.0.2.2"
OUT=$(in_guest "sudo mkfs.ext4 -q /dev/disk/by-id/virtio-data1 && sudo mount /dev/disk/by-id/virtio-data1 /mnt && echo kept-$$ | sudo tee /mnt/f >/dev/null && sudo umount /mnt && echo done")
assert_eq "the data disk (hostDisk, serial data1) is formatted and written in the guest" done "$OUT"

# ---------------------------------------------------------------- RerunOnFailure after a crash
PID1=$(qpid)
kill -KILL "$PID1"
check_sh "RerunOnFailure: kill -9 of QEMU starts the VM again (another QEMU)" \
  "wait_for 120 '[ \"\$(printable)\" = Running ] && [ \"\$(qpid)\" != $PID1 ] && [ \"\$(qpid)\" != null ]'"
wait_ssh "after the crash"

# ---------------------------------------------------------------- stop (ACPI) and start keep the data
run -t 300 "$VESSEL" vm stop "$N"
assert_eq "vm stop: exit 0" 0 "$RC"
check_sh "stop: Stopped" "wait_for 300 '[ \"\$(printable)\" = Stopped ]'"
check_sh "… by an ACPI shutdown of systemd, not forced (the console says Power down)" \
  "tr -d '\\r' < '$T/vms/$N/console.log' | grep -aq 'reboot: Power down'"
assert_eq "… and its QEMU is gone" "" "$(qemus_of "$T/vms/$N/")"
check "vm start" "$VESSEL" vm start "$N"
wait_ssh "after stop and start"
OUT=$(in_guest 'sudo mount /dev/disk/by-id/virtio-data1 /mnt && cat /mnt/f && sudo umount /mnt')
assert_eq "the file written before the stop is on the data disk" "kept-$$" "$OUT"
assert_eq "the image itself was never written (the containerDisk is an overlay)" "$IMAGE_SUM" "$(md5sum < "$T/debian.qcow2")"

# ---------------------------------------------------------------- a changed spec, then Halted
manifest Always 1536Mi > "$T/vm2.yaml"
run "$VESSEL" vm apply -f "$T/vm2.yaml"
assert_contains "apply of a changed memory: says it needs a restart" "$OUT" "restart required: spec.template.spec.domain.memory.guest"
manifest Halted 1536Mi > "$T/vm3.yaml"
run -t 300 "$VESSEL" vm apply -f "$T/vm3.yaml"
assert_eq "apply with runStrategy Halted: exit 0" 0 "$RC"
check_sh "Halted: the VM stops" "wait_for 300 '[ \"\$(printable)\" = Stopped ]'"
assert_eq "… and its QEMU is gone" "" "$(qemus_of "$T/vms/$N/")"

# ---------------------------------------------------------------- delete: nothing left
check "vm delete" "$VESSEL" vm delete "$N"
assert_eq "delete: the VM's directory is gone" no "$([ -e "$T/vms/$N" ] && echo yes || echo no)"
assert_eq "delete: no QEMU of ours" "" "$(qemus_of "$T/vms/")"
run "$VESSEL" vm list -o json
assert_eq "delete: vm list is empty" 0 "$(jq length <<<"$OUT")"
summary
