#!/usr/bin/env bash
# The outer wall confined (issue 12, item 6; docs/microvm.md, "The jail"): with `jail = true` each
# microVM's QEMU runs as a uid and gid of its own, with no capabilities, under QEMU's full seccomp
# policy, in a mount namespace that holds only what it needs; its 9p shares (root-owned files
# included) are served by virtfs-proxy-helper, its taps opened for it; a clone restores its
# template from a sealed memfd it cannot write. Nothing is left behind.
source "$(dirname "$0")/../lib.sh"

diag "runtime: $VESSEL"
[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
host_prepare || skip_all "host_prepare failed"
require_assets
[ -x /usr/lib/qemu/virtfs-proxy-helper ] || skip_all "virtfs-proxy-helper missing (qemu-system-common)"
ensure_image || skip_all "no test image"

private_daemon
printf 'resource_view = false\naccelerator = "tcg"\njail = true\n' > "$VESSEL_CONFIG"
ROOT=$T/root
N=jl$$
NS=$N
HOST_IF=${N}h
GUEST_IF=${N}g
SUBNET=10.213.$(( $$ % 200 )).

status_of() { awk -v k="$2:" '$1 == k {$1 = ""; sub(/^ /, ""); print}' "/proc/$1/status" 2>/dev/null; }
qemu_of() { local d; d=$(vm_run_dir "$ROOT" "$1") && cat "$d/qemu.pid" 2>/dev/null; }

# a volume with a file only root may read, as engines' volumes often hold
mkdir -p "$T/vol-a" "$T/vol-b"
echo secret-a > "$T/vol-a/root-only"; chmod 600 "$T/vol-a/root-only"
echo secret-b > "$T/vol-b/root-only"; chmod 600 "$T/vol-b/root-only"
# a network namespace with a veth, as an engine makes one
ip netns add "$NS"
on_cleanup "ip netns del $NS"
on_cleanup "ip link del $HOST_IF"
ip link add "$HOST_IF" type veth peer name "$GUEST_IF"
ip link set "$GUEST_IF" netns "$NS"
ip addr add "${SUBNET}1/24" dev "$HOST_IF"; ip link set "$HOST_IF" up
ip netns exec "$NS" ip addr add "${SUBNET}2/24" dev "$GUEST_IF"
ip netns exec "$NS" ip link set "$GUEST_IF" up

# a: its own rootfs, writable, and the capabilities chown and ping need in the guest
cp -a "$IMAGE_DIR/bundle/rootfs" "$T/rootfs-a"
mkbundle "$T/a" ".annotations[\"dev.vessel.isolation\"] = \"microvm\" | .process.terminal = false
  | .root.path = \"$T/rootfs-a\" | .root.readonly = false
  | .process.capabilities |= with_entries(.value += [\"CAP_CHOWN\", \"CAP_NET_RAW\"])
  | .process.args = [\"sleep\", \"1000\"]
  | .mounts += [{\"destination\": \"/v\", \"type\": \"bind\", \"source\": \"$T/vol-a\", \"options\": [\"rbind\", \"rw\"]}]
  | .linux.namespaces = [.linux.namespaces[] | select(.type != \"network\")] + [{\"type\": \"network\", \"path\": \"/var/run/netns/$NS\"}]"
# b: a new, empty network namespace (loopback only)
mkbundle "$T/b" ".annotations[\"dev.vessel.isolation\"] = \"microvm\" | .process.terminal = false
  | .process.args = [\"sleep\", \"1000\"]
  | .mounts += [{\"destination\": \"/v\", \"type\": \"bind\", \"source\": \"$T/vol-b\", \"options\": [\"rbind\", \"ro\"]}]"
cp -a "$IMAGE_DIR/bundle/rootfs" "$T/rootfs-b"
jq --arg r "$T/rootfs-b" '.root.path = $r' "$T/b/config.json" > "$T/b/c" && mv "$T/b/c" "$T/b/config.json"

run "$VESSEL" --root "$ROOT" create --bundle "$T/a" a
assert_eq "jailed create a (a volume, a veth): exit 0" 0 "$RC"
[ "$RC" = 0 ] || diag "$ERR"
run "$VESSEL" --root "$ROOT" create --bundle "$T/b" b
assert_eq "jailed create b (a read-only volume, its own rootfs copy): exit 0" 0 "$RC"
"$VESSEL" --root "$ROOT" start a >/dev/null 2>&1
"$VESSEL" --root "$ROOT" start b >/dev/null 2>&1
qa=$(qemu_of a); qb=$(qemu_of b)
check "a's QEMU runs" pid_alive "$qa"
check "b's QEMU runs" pid_alive "$qb"

# --- who QEMU is: its own ids, no capabilities, seccomp, no new privileges ---
uid_a=$(status_of "$qa" Uid | awk '{print $1}')
uid_b=$(status_of "$qb" Uid | awk '{print $1}')
assert_match "QEMU's real, effective, saved and fs uid are one unprivileged id" "^([1-9][0-9]*)[[:space:]]+\\1[[:space:]]+\\1[[:space:]]+\\1$" "$(status_of "$qa" Uid)"
assert_match "QEMU's gids likewise" "^([1-9][0-9]*)[[:space:]]+\\1[[:space:]]+\\1[[:space:]]+\\1$" "$(status_of "$qa" Gid)"
check "QEMU's uid is in the jail range (2000000000-2000065535)" test "${uid_a:-0}" -ge 2000000000 -a "${uid_a:-0}" -le 2000065535
assert_ne "each sandbox's QEMU has a uid of its own" "$uid_a" "$uid_b"
assert_eq "QEMU has no supplementary groups" "" "$(status_of "$qa" Groups)"
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
  assert_eq "QEMU's $c is empty" 0000000000000000 "$(status_of "$qa" $c)"
done
assert_eq "QEMU runs under its seccomp filter (Seccomp: 2)" 2 "$(status_of "$qa" Seccomp)"
assert_eq "QEMU has no_new_privs" 1 "$(status_of "$qa" NoNewPrivs)"
assert_contains "QEMU's -sandbox denies obsolete calls, privileges, spawning, resource control" \
  "$(tr '\0' ' ' < "/proc/$qa/cmdline")" "-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

# --- what QEMU's mount namespace holds ---
check_fails "QEMU's mount namespace is not the host's" test "$(readlink /proc/$qa/ns/mnt)" = "$(readlink /proc/self/ns/mnt)"
check_fails "from QEMU's mount namespace: no /etc/shadow" nsenter -t "$qa" -m test -e /etc/shadow
check_fails "from QEMU's mount namespace: no /etc at all" nsenter -t "$qa" -m test -e /etc
check_fails "from QEMU's mount namespace: not b's rootfs" nsenter -t "$qa" -m test -e "$T/rootfs-b"
check_fails "from QEMU's mount namespace: not its own rootfs either (served by the proxy helper)" \
  nsenter -t "$qa" -m test -e "$T/rootfs-a"
check_fails "from QEMU's mount namespace: not b's run dir" nsenter -t "$qa" -m test -e "$(vm_run_dir "$ROOT" b)"
check "from QEMU's mount namespace: its kernel is there" nsenter -t "$qa" -m test -f "$KERNEL"
check "from QEMU's mount namespace: its run dir (sockets) is there" nsenter -t "$qa" -m test -S "$(vm_run_dir "$ROOT" a)/qmp.sock"
run nsenter -t "$qa" -m -S "$uid_a" -G "$uid_a" ls /proc
assert_contains "as QEMU's uid, its /proc shows QEMU" "$OUT" "$qa"
assert_le "as QEMU's uid, its /proc shows only its uid's processes (QEMU and this ls)" 2 "$(printf '%s\n' "$OUT" | grep -c '^[0-9]')"
check_fails "as QEMU's uid, /usr is read-only" nsenter -t "$qa" -m -S "$uid_a" -G "$uid_a" touch /usr/x
check_fails "as QEMU's uid, b's QEMU is not to be seen" nsenter -t "$qa" -m -S "$uid_a" -G "$uid_a" cat "/proc/$qb/environ"

# --- 9p: root-owned files, ownership, read-only, through the proxy helper ---
run "$VESSEL" --root "$ROOT" exec a cat /v/root-only
assert_eq "jailed 9p: the guest's root reads a host file only root may read" secret-a "$OUT"
run "$VESSEL" --root "$ROOT" exec a sh -c 'echo new > /v/made; chown 1234:4321 /v/made; mkdir /v/d; echo ok'
assert_eq "jailed 9p: write, chown, mkdir in the guest" ok "$OUT"
assert_eq "jailed 9p: the file the guest made is root's on the host, then chowned" "1234:4321 new" \
  "$(stat -c %u:%g "$T/vol-a/made" 2>&1) $(cat "$T/vol-a/made" 2>&1)"
run "$VESSEL" --root "$ROOT" exec a sh -c 'echo x > /rootfs-write && cat /rootfs-write'
assert_eq "jailed 9p: the rootfs is writable" x "$OUT"
assert_eq "jailed 9p: the file is on the host, root's" "0:0 x" "$(stat -c %u:%g "$T/rootfs-a/rootfs-write" 2>&1) $(cat "$T/rootfs-a/rootfs-write" 2>&1)"
run "$VESSEL" --root "$ROOT" exec b cat /v/root-only
assert_eq "jailed 9p: b reads its own volume" secret-b "$OUT"
run "$VESSEL" --root "$ROOT" exec b sh -c 'echo no > /v/x'
assert_ne "jailed 9p: b's read-only volume refuses a write" 0 "$RC"
check_fails "jailed 9p: nothing written to b's read-only volume" test -e "$T/vol-b/x"

# --- the network: a tap opened for QEMU in the engine's namespace ---
run "$VESSEL" --root "$ROOT" exec a ping -c 1 -W 5 "${SUBNET}1"
assert_eq "jailed QEMU's guest reaches the host side of its veth" 0 "$RC"
check "its tap is in the namespace" ip netns exec "$NS" ip link show tap0_vessel
run "$VESSEL" --root "$ROOT" exec a sh -c 'echo exec-ok'
assert_eq "exec (a port hot-added over QMP in the jail)" exec-ok "$OUT"

# --- templates: a jailed clone restores its template, whose RAM it cannot change ---
# The default templates (0 NICs, 0 shares) are made by an unjailed QEMU from an empty rootfs; a
# jailed clone maps the template's RAM from a memfd the daemon holds, sealed against writes.
run "$VESSEL" assets build
assert_eq "assets build (the default templates): exit 0" 0 "$RC"
TEMPLATES=$(dirname "$KERNEL")/templates
for x in c d; do
  mkbundle "$T/$x" '.annotations["dev.vessel.isolation"] = "microvm" | .process.terminal = false | .process.args = ["sleep", "1000"]'
done
started=$EPOCHREALTIME
run "$VESSEL" --root "$ROOT" create --bundle "$T/c" c
"$VESSEL" --root "$ROOT" start c >/dev/null 2>&1
diag "jailed clone c: create + start in $(awk -v s="$started" -v e="$EPOCHREALTIME" 'BEGIN {printf "%.0f", (e - s) * 1000}') ms"
assert_eq "jailed clone c: create exit 0" 0 "$RC"
run "$VESSEL" --root "$ROOT" create --bundle "$T/d" d
assert_eq "jailed clone d: create exit 0" 0 "$RC"
"$VESSEL" --root "$ROOT" start d >/dev/null 2>&1
qc=$(qemu_of c); qd=$(qemu_of d)
cl=$(tr '\0' ' ' < "/proc/${qc:-0}/cmdline" 2>/dev/null)
assert_contains "jailed clone: its QEMU restores a template (-incoming defer)" "$cl" "-incoming defer"
assert_contains "jailed clone: its RAM is fd 99, copy-on-write (share=off)" "$cl" "mem-path=/proc/self/fd/99,share=off"
assert_contains "jailed clone: under the full -sandbox" "$cl" "-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"
uid_c=$(status_of "$qc" Uid | awk '{print $1}')
check "jailed clone: QEMU's uid is in the jail range" test "${uid_c:-0}" -ge 2000000000 -a "${uid_c:-0}" -le 2000065535
assert_eq "jailed clone: QEMU's CapEff is empty" 0000000000000000 "$(status_of "$qc" CapEff)"
assert_match "jailed clone: its fd 99 is the template's memfd" '^/memfd:vessel-template-[0-9a-f]{32} \(deleted\)$' \
  "$(readlink "/proc/$qc/fd/99" 2>&1)"
assert_eq "two jailed clones map one memfd (the template's pages shared)" "$(stat -L -c %i "/proc/$qc/fd/99" 2>&1)" \
  "$(stat -L -c %i "/proc/$qd/fd/99" 2>&1)"
check_fails "jailed clone: the templates' dir is not in its mount namespace" nsenter -t "$qc" -m test -e "$TEMPLATES"
check_fails "jailed clone: nor the templates' ramfs" nsenter -t "$qc" -m test -e /run/vessel/templates
run "$VESSEL" --root "$ROOT" exec c sh -c 'echo clone-ok'
assert_eq "jailed clone c: exec" clone-ok "$OUT"
run "$VESSEL" --root "$ROOT" exec d cat /proc/sys/kernel/random/boot_id
assert_ne "jailed clone d: exec (its own guest)" "" "$OUT"
# The seal: with QEMU's own fd on the template's RAM, as QEMU's uid in QEMU's mount namespace
# (what a compromised QEMU could do), a write, a truncate and a shared writable mapping all fail;
# root's too. The template is unchanged; what the guest writes is its own (copy-on-write).
sum_before=$(sha256sum < "/proc/$qc/fd/99" 2>&1)
# as_qemu_c CMD... — CMD as c's QEMU's uid in its mount namespace, fd 9 the memfd QEMU maps
as_qemu_c() { run sh -c 'exec 9<>"$1" && shift && exec "$@"' _ "/proc/$qc/fd/99" nsenter -t "$qc" -m -S "$uid_c" -G "$uid_c" "$@"; }
as_qemu_c sh -c 'printf X >&9'
assert_ne "as QEMU's uid: a write to the template's memfd fails" 0 "$RC"
as_qemu_c dd if=/usr/bin/sh of=/proc/self/fd/9 bs=4096 count=1 conv=notrunc
assert_ne "as QEMU's uid: the memfd opened for writing again (as QEMU opens it), a write fails" 0 "$RC"
assert_contains "as QEMU's uid: refused by the seal (EPERM)" "$ERR" "not permitted"
as_qemu_c truncate -s 0 /proc/self/fd/9
assert_ne "as QEMU's uid: truncating the template's memfd fails" 0 "$RC"
as_qemu_c python3 -c 'import mmap; mmap.mmap(9, 4096, mmap.MAP_SHARED, mmap.PROT_WRITE)'
[ -x /usr/bin/python3 ] && assert_ne "as QEMU's uid: a shared writable mapping of it fails" 0 "$RC"
run sh -c "printf X 1<>/proc/$qc/fd/99"
assert_ne "as root: a write to the template's memfd fails too" 0 "$RC"
assert_eq "the template's RAM is unchanged" "$sum_before" "$(sha256sum < "/proc/$qc/fd/99" 2>&1)"
assert_eq "the guests still run" "up up" "$("$VESSEL" --root "$ROOT" exec c echo up) $("$VESSEL" --root "$ROOT" exec d echo up)"
# kill -9 the daemon: the clones keep their memory (their own fds on the memfd); a new daemon
# makes its own memfd for the next clone
kill -9 "$("$VESSEL" daemon status 2>/dev/null)" 2>/dev/null
sleep 1
check "kill -9 of the daemon: clone c's QEMU runs" pid_alive "$qc"
run "$VESSEL" --root "$ROOT" exec c echo after
assert_eq "kill -9 of the daemon: clone c answers (a new daemon)" after "$OUT"
mkbundle "$T/e" '.annotations["dev.vessel.isolation"] = "microvm" | .process.terminal = false | .process.args = ["echo", "clone-e"]'
run "$VESSEL" --root "$ROOT" run --bundle "$T/e" e
assert_eq "a clone of the new daemon runs" clone-e "$OUT"
"$VESSEL" --root "$ROOT" delete -f e >/dev/null 2>&1
for x in c d; do "$VESSEL" --root "$ROOT" delete -f $x >/dev/null 2>&1; done
wait_for 20 "! pid_alive $qc && ! pid_alive $qd" && pass "delete: the clones' QEMUs are gone" || fail "delete: the clones' QEMUs are gone" "$qc $qd"

# --- delete: QEMU, its proxy helpers, its tap and its run dir go ---
dir_a=$(vm_run_dir "$ROOT" a)
"$VESSEL" --root "$ROOT" delete -f a >/dev/null 2>&1
"$VESSEL" --root "$ROOT" delete -f b >/dev/null 2>&1
wait_for 20 "! pid_alive $qa && ! pid_alive $qb" && pass "delete: the QEMUs are gone" || fail "delete: the QEMUs are gone" "$qa $qb"
wait_for 10 "[ -z \"\$(pgrep -f '[v]irtfs-proxy-helper .* -p $T/')\" ]" && pass "delete: their proxy helpers are gone" \
  || fail "delete: their proxy helpers are gone" "$(pgrep -af virtfs-proxy-helper)"
check_fails "delete: the tap is gone" ip netns exec "$NS" ip link show tap0_vessel
check_fails "delete: a's run dir is gone" test -e "$dir_a"

summary
