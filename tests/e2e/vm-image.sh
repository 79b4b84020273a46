#!/usr/bin/env bash
# `vessel vm image build debian OUT.qcow2` (issue 14, item 4): a Debian 12 disk made here from
# Debian's packages boots under plain QEMU (q35, the accelerator Vessel's AcceleratorSelector chose,
# a qcow2 overlay, a NoCloud seed ISO made with genisoimage, user networking with a hostfwd for
# ssh); cloud-init sets the hostname, a user and its SSH key; the test logs in, writes a file,
# powers the VM off over QMP (ACPI: systemd shuts down cleanly), boots the same overlay again and
# finds the file. Bad input (unknown kind, OUT in a missing dir, no space, a size or package that
# is not one): one line, nothing left. The image is built once and cached under
# /var/lib/vessel/vm-images (a fresh build takes minutes); the suite says which it got.
# Runs a daemon of its own (own socket and config).
source "$(dirname "$0")/../lib.sh"

CACHE_DIR=/var/lib/vessel/vm-images
echo "# vm-image: the Debian image is built once and cached in $CACHE_DIR (a fresh build takes minutes, TCG boots take 1-3 min each)"

[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
for tool in qemu-system-x86_64 qemu-img genisoimage ssh ssh-keygen socat debootstrap extlinux losetup; do
  command -v "$tool" >/dev/null || skip_all "$tool not installed (scripts/install-deps)"
done
private_daemon
printf 'resource_view = false\n' > "$VESSEL_CONFIG"   # no FUSE mount or keeper for this daemon
export VESSEL_LOG=$T/vessel/vesseld.log
mkdir -p "$T/vessel"

QEMU_PID=
stop_qemu() { [ -n "$QEMU_PID" ] && kill -KILL "$QEMU_PID" 2>/dev/null; QEMU_PID=; }
on_cleanup stop_qemu
on_cleanup 'mountpoint -q "$T/small" && umount "$T/small"'

# what a build may leave behind: loop devices on its work files, mounts, work dirs
leftovers() {
  losetup -a 2>/dev/null | grep -F "$CACHE_DIR/" || true
  awk -v d="$CACHE_DIR/" 'index($5, d) == 1 {print "mount " $5}' /proc/self/mountinfo
  ls -d "$CACHE_DIR"/.work-* "$CACHE_DIR"/*.tmp 2>/dev/null || true
}

# ---- the image: built, or copied from the cache
start=$(date +%s)
run -t 3600 "$VESSEL" vm image build debian "$T/debian.qcow2"
took=$(( $(date +%s) - start ))
if [ "$RC" != 0 ]; then _fail_run "vm image build debian" "expected exit 0"; summary; exit; fi
pass "vm image build debian OUT.qcow2"
case "$ERR" in
  *"is cached in"*) echo "# vm-image: the image was in the cache: copied in ${took} s ($OUT)" ;;
  *) echo "# vm-image: the image was built now, in ${took} s ($OUT)" ;;
esac
assert_contains "the result names OUT and the cache" "$OUT" "$T/debian.qcow2 (debian bookworm, qcow2"
run qemu-img info --output=json "$T/debian.qcow2"
assert_eq "OUT is a qcow2" qcow2 "$(jq -r .format <<<"$OUT")"
assert_eq "of the default virtual size (3 GiB)" $((3 << 30)) "$(jq -r '."virtual-size"' <<<"$OUT")"

start=$(date +%s)
run -t 600 "$VESSEL" vm image build debian "$T/again.qcow2"
took=$(( $(date +%s) - start ))
assert_contains "a second build with the same inputs comes from the cache" "$ERR" "is cached in $CACHE_DIR/debian-bookworm-"
assert_le "and only copies (s)" 60 "$took"
echo "# vm-image: a cached build took ${took} s"
check "the copy is the cached image" cmp -s "$T/debian.qcow2" "$T/again.qcow2"
rm -f "$T/again.qcow2"

# ---- bad input: one line, non-zero, nothing left
bad() { # NAME EXPECTED-TEXT ARGS...
  local name=$1 want=$2; shift 2
  run -t 300 "$VESSEL" vm image build "$@"
  if [ "$RC" != 0 ] && [ "$RC" != 124 ] && [ "$(printf '%s\n' "$ERR" | grep -c .)" = 1 ] && [[ "$ERR" == *"$want"* ]] \
      && [ -z "$OUT" ]; then
    pass "$name"
  else
    _fail_run "$name" "expected a non-zero exit and one line with: $want"
  fi
}
bad "an unknown KIND" 'unknown image kind "ubuntu" (use debian)' ubuntu "$T/u.qcow2"
bad "OUT in a missing directory" "the directory $T/no/such does not exist" debian "$T/no/such/x.qcow2"
bad "a size that is not one" '--size: "big" is not a size' debian "$T/s.qcow2" --size big
bad "a size too small for Debian" "is too small" debian "$T/s.qcow2" --size 100M
bad "a package name that is not one" '--packages: "Bad_Name" is not a Debian package name' debian "$T/p.qcow2" --packages Bad_Name
bad "a package apt does not know" 'apt knows no package "vessel-no-such-package"' debian "$T/p.qcow2" --packages vessel-no-such-package
mkdir -p "$T/small" && mount -t tmpfs -o size=16m tmpfs "$T/small"
bad "no space for OUT" "no space for $T/small/x.qcow2" debian "$T/small/x.qcow2"
assert_eq "nothing written where there was no room" "" "$(ls -A "$T/small")"
umount "$T/small"
assert_eq "no OUT for any bad request" "" "$(ls "$T"/{u,s,p}.qcow2 2>/dev/null)"
assert_eq "no loop device, mount or work dir left by any build" "" "$(leftovers)"

# ---- boot it: plain QEMU, as the VM driver will
ACCEL=$(jq -r .verdict /var/lib/vessel/accelerator.json 2>/dev/null)
case "$ACCEL" in kvm) ACCEL_ARGS=(-accel kvm -cpu host) ;; *) ACCEL=tcg; ACCEL_ARGS=(-accel tcg) ;; esac
echo "# vm-image: accelerator $ACCEL (Vessel's AcceleratorSelector verdict in /var/lib/vessel/accelerator.json)"
check "a qcow2 overlay on the image" qemu-img create -q -f qcow2 -F qcow2 -b "$T/debian.qcow2" "$T/overlay.qcow2"
ssh-keygen -q -t ed25519 -N '' -C vessel-test -f "$T/id" || fail "ssh-keygen"
mkdir -p "$T/seed"
cat > "$T/seed/meta-data" <<EOF
instance-id: vessel-vm-image-test
local-hostname: vessel-guest
EOF
cat > "$T/seed/user-data" <<EOF
#cloud-config
users:
  - name: vessel
    shell: /bin/bash
    sudo: ALL=(ALL) NOPASSWD:ALL
    ssh_authorized_keys:
      - $(cat "$T/id.pub")
EOF
check "a NoCloud seed ISO (genisoimage, label cidata)" genisoimage -quiet -output "$T/seed.iso" -volid cidata -joliet -rock \
  "$T/seed/user-data" "$T/seed/meta-data"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

boot() { # LOG: starts QEMU in the background; QEMU_PID, BOOT_START_MS
  BOOT_START_MS=$(( $(date +%s%N) / 1000000 ))
  qemu-system-x86_64 -machine q35 "${ACCEL_ARGS[@]}" -smp 1 -m 1024 -nodefaults -display none \
    -serial "file:$1" \
    -drive "file=$T/overlay.qcow2,if=virtio,format=qcow2" \
    -drive "file=$T/seed.iso,if=virtio,format=raw,readonly=on" \
    -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$PORT-:22" -device virtio-net-pci,netdev=net0 \
    -qmp "unix:$T/qmp.sock,server=on,wait=off" </dev/null >"$T/qemu.out" 2>&1 &
  QEMU_PID=$!
}
SSH=(ssh -q -i "$T/id" -p "$PORT" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
     -o ConnectTimeout=5 vessel@127.0.0.1)
banner() { timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT && head -c 4 <&3" 2>/dev/null | grep -q SSH-; }
# waits for sshd's banner, then a login; says how long each took from QEMU's start
wait_ssh() { # WHAT
  local deadline=$(( $(date +%s) + 900 )) banner_ms= login_ms=
  while [ "$(date +%s)" -lt "$deadline" ] && pid_alive "$QEMU_PID"; do
    if [ -z "$banner_ms" ] && banner; then banner_ms=$(( $(date +%s%N) / 1000000 - BOOT_START_MS )); fi
    if [ -n "$banner_ms" ] && timeout 20 "${SSH[@]}" true 2>/dev/null; then
      login_ms=$(( $(date +%s%N) / 1000000 - BOOT_START_MS )); break
    fi
    sleep 1
  done
  if [ -n "$login_ms" ]; then
    pass "$1: ssh logs in"
    echo "# vm-image: $1 ($ACCEL): QEMU start -> sshd answers ${banner_ms} ms, -> ssh login ${login_ms} ms"
    return 0
  fi
  fail "$1: ssh logs in" "no ssh login within 900 s (banner: ${banner_ms:-none}); console tail:"
  tail -n 30 "$T/$2" | sed 's/^/#     /'
  return 1
}
in_guest() { timeout 120 "${SSH[@]}" "$@" 2>&1; }
powerdown() { # WHAT: ACPI power button over QMP, then QEMU must end by itself
  run -t 30 bash -c "printf '%s\n' '{\"execute\":\"qmp_capabilities\"}' '{\"execute\":\"system_powerdown\"}' \
    | socat -t 5 - UNIX-CONNECT:$T/qmp.sock"
  assert_contains "$1: QMP system_powerdown accepted" "$OUT" '"return": {}'
  if wait_for 300 "! kill -0 $QEMU_PID"; then
    pass "$1: the guest powers off on ACPI, QEMU exits"
    wait "$QEMU_PID" 2>/dev/null; QEMU_PID=
  else
    fail "$1: the guest powers off on ACPI, QEMU exits" "QEMU $QEMU_PID still running after 300 s"
    stop_qemu
  fi
}

boot "$T/console1.log"
if wait_ssh "first boot" console1.log; then
  assert_eq "cloud-init set the hostname" vessel-guest "$(in_guest hostname)"
  assert_eq "cloud-init made the user, who logs in with the test's key" vessel "$(in_guest id -un)"
  run -t 300 "${SSH[@]}" cloud-init status --wait
  assert_contains "cloud-init finished without errors" "$OUT" "status: done"
  run -t 120 "${SSH[@]}" systemctl is-system-running --wait
  assert_match "systemd reached running (or degraded: $OUT)" '^(running|degraded)$' "$OUT"
  [ "$OUT" = degraded ] && diag "failed units: $(in_guest systemctl --failed --no-legend | tr '\n' ';')"
  assert_match "the root account has no password" '^root L ' "$(in_guest sudo passwd -S root)"
  assert_match "a machine-id made on this boot" '^[0-9a-f]{32}$' "$(in_guest cat /etc/machine-id)"
  assert_contains "the root file system is mounted by UUID" "$(in_guest cat /etc/fstab)" "UUID="
  assert_match "DHCP on the first NIC (slirp's 10.0.2.15)" 'inet 10\.0\.2\.15/' "$(in_guest ip -4 addr)"
  assert_contains "a getty on the serial console" "$(cat "$T/console1.log")" "vessel-guest login:"
  check "write a file" "${SSH[@]}" "echo kept-$$ > /home/vessel/kept && sync"
fi
powerdown "first boot"
assert_contains "systemd shut down cleanly (console)" "$(tr -d '\r' < "$T/console1.log")" "reboot: Power down"

boot "$T/console2.log"
if wait_ssh "second boot (same overlay)" console2.log; then
  assert_eq "the file written before the power-off is there" "kept-$$" "$(in_guest cat /home/vessel/kept)"
  assert_eq "the root file system needed no journal recovery (clean unmount)" "" \
    "$(in_guest sudo dmesg | grep -i 'recovery complete\|orphan cleanup')"
fi
powerdown "second boot"
assert_eq "no QEMU of this test left" "" "$(our_qemus)"
assert_eq "no loop device, mount or work dir left" "" "$(leftovers)"
summary
