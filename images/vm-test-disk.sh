#!/usr/bin/env bash
# images/vm-test-disk.sh OUT.raw
#
# A small BIOS-bootable disk for the full-VM tests (tests/e2e/vm-lifecycle.sh), from Debian's packages only:
# an ext2 file system on the whole disk (no partition table: SeaBIOS runs extlinux's boot sector from
# sector 0) holding extlinux, Debian's kernel (the linux-image-amd64 the microVM guest assets use) and a
# busybox-static initramfs with the virtio, ACPI button and evdev modules. Its init, on ttyS0:
#   - prints "vessel-test-guest up", then "tick N" every 2 s (the console's counter);
#   - counts its boots on the second virtio disk (/dev/vdb, when there is one): "boots=N" (persistence);
#   - brings each ethN up: DHCP (udhcpc: masquerade's 10.0.2.2), else 10.99.0.<last MAC byte>/24 (a bridge);
#   - serves /www on port 8080 (busybox httpd: "hello from vessel-test-guest");
#   - powers off when the ACPI power button is pressed (QEMU's system_powerdown);
#   - runs a shell on the console (commands the tests type).
# Rebuilt only when this script, busybox or the kernel package changed.
set -euo pipefail
OUT=${1:?usage: $0 OUT.raw}
SELF=$(readlink -f "${BASH_SOURCE[0]}")
BUSYBOX=${BUSYBOX:-/bin/busybox}
CACHE=${VESSEL_ASSETS_CACHE:-/var/lib/vessel/assets/cache}
die() { echo "vm-test-disk.sh: $*" >&2; exit 1; }
for t in extlinux mke2fs dpkg-deb cpio gzip losetup; do command -v "$t" >/dev/null || die "$t is required (scripts/install-deps)"; done
[ -f /usr/lib/EXTLINUX/mbr.bin ] || [ -d /usr/lib/syslinux ] || die "extlinux's files are missing (apt-get install extlinux syslinux-common)"
DEB=$(ls -1 "$CACHE"/linux-image-[0-9]*-amd64_*.deb 2>/dev/null | sort | tail -n1 || true)
if [ -z "$DEB" ]; then
  mkdir -p "$CACHE"
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [ -n "$pkg" ] || die "no linux-image package known to apt (apt-get update)"
  (cd "$CACHE" && apt-get download "$pkg" >/dev/null) || die "apt-get download $pkg failed"
  DEB=$(ls -1 "$CACHE"/linux-image-[0-9]*-amd64_*.deb | sort | tail -n1)
fi
if [ -f "$OUT" ] && [ "$OUT" -nt "$SELF" ] && [ "$OUT" -nt "$DEB" ] && [ "$OUT" -nt "$BUSYBOX" ]; then exit 0; fi

W=$(mktemp -d /tmp/vm-test-disk.XXXXXX)
LOOP=
cleanup() { mountpoint -q "$W/mnt" 2>/dev/null && umount "$W/mnt"; [ -n "$LOOP" ] && losetup -d "$LOOP"; rm -rf "$W"; }
trap cleanup EXIT
dpkg-deb -x "$DEB" "$W/deb"
KVER=$(ls "$W/deb/lib/modules")
# in dependency order (insmod resolves none)
MODS=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk failover net_failover virtio_net
      button evdev)
I=$W/initrd
mkdir -p "$I"/{bin,dev,proc,sys,tmp,etc,www,mods}
cp "$BUSYBOX" "$I/bin/busybox"
for m in "${MODS[@]}"; do
  f=$(find "$W/deb/lib/modules/$KVER" -name "$m.ko*" | head -n1)
  [ -n "$f" ] || die "module $m not in $DEB"
  case "$f" in *.xz) xz -dc "$f" > "$I/mods/$m.ko" ;; *.zst) zstd -qdc "$f" > "$I/mods/$m.ko" ;; *) cp "$f" "$I/mods/$m.ko" ;; esac
done
echo "hello from vessel-test-guest" > "$I/www/index.html"
cat > "$I/etc/udhcpc.sh" <<'S'
#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"; ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via ${router%% *} dev "$interface"
    echo "dhcp $interface $ip" ;;
esac
S
cat > "$I/init" <<'S'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /etc/modules); do insmod /mods/$m.ko || echo "insmod $m failed" >/dev/kmsg; done
hostname vessel-test-guest
exec </dev/ttyS0 >/dev/ttyS0 2>&1
echo "vessel-test-guest up"
if [ -b /dev/vdb ]; then
  n=$(dd if=/dev/vdb bs=16 count=1 2>/dev/null | tr -dc 0-9); n=$(( ${n:-0} + 1 ))
  printf '%-16s' "$n" | dd of=/dev/vdb bs=16 count=1 conv=notrunc 2>/dev/null; sync
  echo "boots=$n"
fi
ip link set lo up
for d in /sys/class/net/eth*; do
  [ -e "$d" ] || continue
  i=${d##*/}; ip link set "$i" up
  if ! udhcpc -i "$i" -s /etc/udhcpc.sh -n -q -t 3 -T 1 >/dev/null 2>&1; then
    last=$(cut -d: -f6 "$d/address"); ip addr add "10.99.0.$((0x$last))/24" dev "$i"; echo "static $i 10.99.0.$((0x$last))"
  else
    echo "dhcp $i $(ip -4 -o addr show dev "$i" | awk '{print $4}')"
  fi
done
httpd -p 8080 -h /www
for e in /sys/class/input/event*; do
  if grep -q "Power Button" "$e/device/name" 2>/dev/null; then
    ( dd if="/dev/input/${e##*/}" bs=24 count=1 >/dev/null 2>&1; echo "power button: powering off"; sync; poweroff -f ) &
  fi
done
( n=0; while :; do echo "tick $n"; n=$((n + 1)); sleep 2; done ) &
while :; do setsid cttyhack sh; done
S
chmod +x "$I/init" "$I/etc/udhcpc.sh"
printf '%s\n' "${MODS[@]}" > "$I/etc/modules"
mkdir -p "$W/fs/boot" "$W/mnt"
(cd "$I" && find . | cpio -o -H newc --quiet | gzip -1) > "$W/fs/boot/initrd.img"
cp "$W/deb/boot/vmlinuz-$KVER" "$W/fs/boot/vmlinuz"
cat > "$W/fs/boot/extlinux.conf" <<'S'
SERIAL 0 115200
DEFAULT test
TIMEOUT 1
PROMPT 0
LABEL test
  KERNEL /boot/vmlinuz
  INITRD /boot/initrd.img
  APPEND console=ttyS0 panic=-1 quiet
S
truncate -s 64M "$W/disk.raw"
mke2fs -q -t ext2 -L vmtest -d "$W/fs" "$W/disk.raw"
LOOP=$(losetup -f --show "$W/disk.raw")
mount "$LOOP" "$W/mnt"
extlinux --install "$W/mnt/boot" >/dev/null 2>&1 || die "extlinux --install failed"
umount "$W/mnt"
losetup -d "$LOOP"; LOOP=
mkdir -p "$(dirname "$OUT")"
mv "$W/disk.raw" "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
