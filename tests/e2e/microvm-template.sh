#!/usr/bin/env bash
# MicroVM templates (issue 13, item 1): a microVM starts by restoring a pre-booted template (its
# RAM mapped copy-on-write from the template's file) where one fits, and boots cold where none
# does. Each clone is its own machine: its own random bytes, the host's time, its MAC, addresses
# and hostname. Templates are made by `vessel assets build` for the defaults and in the background
# after the first cold boot of another layout, reused, replaced when an input changes, and none is
# used with `templates = false`. Nothing is left behind.
source "$(dirname "$0")/../lib.sh"

diag "runtime: $VESSEL"
[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
host_prepare || skip_all "host_prepare failed"
require_assets
podman_start || skip_all "podman set-up failed"

BB=$IMAGE_NAME
P=tp$$
VM=(--annotation dev.vessel.isolation=microvm)
TEMPLATES=$(dirname "$KERNEL")/templates
# PID's command line; for no QEMU at all a line that fails both kinds of check below (it has
# "-incoming" but not "-incoming defer"), so that a sandbox whose QEMU is not found fails them
cmdline_of() { [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" || echo "-incoming? (no QEMU found: pid '$1')"; }
# the QEMU of a sandbox of ROOT: the one whose command line names its run dir (from vessel state)
vm_qemu() { local d; d=$(vm_run_dir "$1" "$2") && qemus_of "$d/" | head -n1; }

# --- vessel assets build: the default layouts' templates ---
run "$VESSEL" assets build
assert_eq "assets build: exit 0" 0 "$RC"
assert_match "assets build: the template of a default container on loopback" \
  "template [0-9a-f]{32} \(308 MiB, 1 vCPU, [a-z]+, 0 NICs, 0 shares\): (made in [0-9]+ ms|up to date)" "$OUT"
assert_match "assets build: the template of a default container with one NIC" \
  "template [0-9a-f]{32} \(308 MiB, 1 vCPU, [a-z]+, 1 NIC, 0 shares\): (made in [0-9]+ ms|up to date)" "$OUT"
one_nic=$(printf '%s\n' "$OUT" | sed -n 's/^template \([0-9a-f]*\) (.* 1 NIC, .*/\1/p')
check "assets build: the template is under the assets dir (memory, state, inputs)" \
  test -s "$TEMPLATES/$one_nic/state" -a -f "$TEMPLATES/$one_nic/memory" -a -s "$TEMPLATES/$one_nic/inputs"
state_mtime=$(stat -c %Y.%i "$TEMPLATES/$one_nic/state" 2>/dev/null)
run "$VESSEL" assets build
assert_contains "assets build again: the templates are up to date" "$OUT" "$one_nic (308 MiB, 1 vCPU"
assert_contains "assets build again: nothing made" "$OUT" "up to date"

# --- two clones under podman's network: each its own machine ---
vms_before=$(ls /run/vessel/vm 2>/dev/null | sort)
gateway=$PODMAN_GATEWAY
for i in 1 2; do
  podman_v run -d --name "$P-c$i" --hostname "clone-$i" --mac-address "02:42:ac:11:00:0$i" "${VM[@]}" "$BB" sleep 1000 >/dev/null
done
for i in 1 2; do
  wait_for 60 "[ \"\$(podman_t exec $P-c$i echo up 2>/dev/null)\" = up ]"
  q=$(podman_qemu "$P-c$i")
  eval "q$i=\${q:-0}"
  cl=$(cmdline_of "${q:-0}")
  assert_contains "clone $i: its QEMU restores a template (-incoming defer)" "$cl" "-incoming defer"
  if [[ $cl == *"mem-path=/proc/self/fd/99,"* ]]; then
    # jailed (VESSEL_JAIL=1; docs/microvm.md, "Templates under the jail"): the template's sealed memfd
    assert_contains "clone $i (jailed): its RAM is the template's sealed memfd, copy-on-write" "$cl" "mem-path=/proc/self/fd/99,share=off"
    assert_eq "clone $i (jailed): fd 99 is that template's memfd" "/memfd:vessel-template-$one_nic (deleted)" \
      "$(readlink "/proc/${q:-0}/fd/99" 2>&1)"
  else
    assert_contains "clone $i: its RAM is on the templates' ramfs" "$cl" "mem-path=/run/vessel/templates/"
    assert_contains "clone $i: its RAM is the template's file, copy-on-write (share=off)" "$cl" "/$one_nic,share=off"
  fi
  run podman_t exec "$P-c$i" sh -c 'echo "rand $(head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n")"
    echo "time $(date +%s)"; echo "host $(hostname)"; echo "mac $(cat /sys/class/net/eth0/address)"
    echo "inet $(ip -o -4 addr show dev eth0 | awk "{print \$4}")"'
  host_now=$(date +%s)
  eval "rand$i=\$(field rand)"
  t=$(field time)
  assert_le "clone $i: the guest's clock is the host's (within 2 s)" 2 $(( ${t:-0} > host_now ? ${t:-0} - host_now : host_now - ${t:-0} ))
  assert_eq "clone $i: its own hostname" "clone-$i" "$(field host)"
  assert_eq "clone $i: its own MAC" "02:42:ac:11:00:0$i" "$(field mac)"
  assert_match "clone $i: its own address" "^$(podman_t inspect -f '{{.NetworkSettings.IPAddress}}' "$P-c$i")/" "$(field inet)"
  run podman_t exec "$P-c$i" ping -c 1 -W 5 "$gateway"
  assert_eq "clone $i: reaches the bridge ($gateway)" 0 "$RC"
done
assert_match "clones: random bytes read" '^[0-9a-f]{64}$' "$rand1"
assert_ne "clones: two clones read different random bytes" "$rand1" "$rand2"
pss=0
for i in 1 2; do q=$(podman_qemu "$P-c$i"); pss=$((pss + $(awk '/^Pss:/ {print $2}' "/proc/${q:-0}/smaps_rollup" 2>/dev/null || echo 0))); done
diag "two clones' QEMUs: PSS $((pss / 1024)) MiB together"
run podman_t exec "$P-c1" sh -c 'echo x > /from-clone; cat /from-clone'
assert_eq "clone: its rootfs is the container's (writes land on it)" x "$OUT"
for i in 1 2; do podman_v rm -f -t 0 "$P-c$i" >/dev/null 2>&1; done
wait_for 20 "! pid_alive $q1 && ! pid_alive $q2" && pass "clones deleted: their QEMUs are gone" \
  || fail "clones deleted: their QEMUs are gone" "$q1 $q2"
assert_eq "clones deleted: no VM dir left" "$vms_before" "$(ls /run/vessel/vm 2>/dev/null | sort)"
assert_eq "clones: the template was reused, not made again" "$state_mtime" "$(stat -c %Y.%i "$TEMPLATES/$one_nic/state" 2>/dev/null)"
podman_stop

# --- a daemon of this test's own, on a copy of the assets: other layouts, invalidation, off ---
private_daemon
A=$T/assets
mkdir -p "$A"
cp -p "$KERNEL" "$INITRD" "$(dirname "$KERNEL")/stamp" "$A/"
# tcg: a changed initrd would have the accelerator measured again (minutes under this host's TCG)
printf 'assets_dir = "%s"\nresource_view = false\naccelerator = "tcg"\n' "$A" > "$VESSEL_CONFIG"
ROOT=$T/root
B=$T/b
mkbundle "$B" '.annotations["dev.vessel.isolation"] = "microvm"
  | .process.args = ["sh", "-c", "echo \"rand $(head -c 32 /dev/urandom | od -An -tx1 | tr -d \" \\n\")\"; echo \"time $(date +%s)\""]
  | .process.terminal = false'
run "$VESSEL" assets build
assert_eq "own assets: assets build makes its templates" 0 "$RC"
keys_before=$(ls "$A/templates" | sort)
assert_eq "own assets: two templates" 2 "$(printf '%s\n' "$keys_before" | grep -c .)"

for i in 1 2; do
  run "$VESSEL" --root "$ROOT" run --bundle "$B" "r$i"
  assert_eq "loopback clone $i: runs" 0 "$RC"
  eval "lrand$i=\$(field rand)"
  t=$(field time); now=$(date +%s)
  assert_le "loopback clone $i: the host's time (within 2 s)" 2 $(( ${t:-0} > now ? ${t:-0} - now : now - ${t:-0} ))
done
assert_ne "loopback clones: different random bytes" "$lrand1" "$lrand2"

# create shows which way the guest came up
mkbundle "$T/s" '.annotations["dev.vessel.isolation"] = "microvm" | .process.args = ["sleep", "1000"] | .process.terminal = false'
"$VESSEL" --root "$ROOT" create --bundle "$T/s" s1 >/dev/null 2>&1
assert_contains "create: from the template" "$(cmdline_of "$(vm_qemu "$ROOT" s1)")" "-incoming defer"
"$VESSEL" --root "$ROOT" delete -f s1 >/dev/null 2>&1

# a layout with no template (--memory 300m): a cold boot that works, then a template made in the background
mkbundle "$T/m" '.annotations["dev.vessel.isolation"] = "microvm" | .process.args = ["sleep", "1000"] | .process.terminal = false
  | .linux.resources.memory.limit = 314572800'
run "$VESSEL" --root "$ROOT" create --bundle "$T/m" m1
assert_eq "no template for 300 MiB: create works" 0 "$RC"
assert_not_contains "no template for 300 MiB: a cold boot" "$(cmdline_of "$(vm_qemu "$ROOT" m1)")" "-incoming"
"$VESSEL" --root "$ROOT" start m1 >/dev/null 2>&1
"$VESSEL" --root "$ROOT" delete -f m1 >/dev/null 2>&1
wait_for 120 "[ \$(ls '$A/templates' | grep -cv '^\\.') = 3 ]" \
  && pass "no template for 300 MiB: one is made in the background" \
  || fail "no template for 300 MiB: one is made in the background" "$(ls -a "$A/templates")"
"$VESSEL" --root "$ROOT" create --bundle "$T/m" m2 >/dev/null 2>&1
assert_contains "300 MiB again: from its new template" "$(cmdline_of "$(vm_qemu "$ROOT" m2)")" "-incoming defer"
"$VESSEL" --root "$ROOT" delete -f m2 >/dev/null 2>&1

# the daemon killed -9 while it makes a template: the build's QEMU and its work dir go with it,
# and the next daemon makes that template from scratch
building() { qemus_of "$A/templates/.work-"; }
export -f building; export A
mkbundle "$T/k" '.annotations["dev.vessel.isolation"] = "microvm" | .process.args = ["sleep", "1000"] | .process.terminal = false
  | .linux.resources.memory.limit = 293601280'
"$VESSEL" --root "$ROOT" create --bundle "$T/k" k1 >/dev/null 2>&1
wait_for 60 '[ -n "$(building)" ]' && pass "kill -9 mid-build: a template is being made (its QEMU runs)" \
  || fail "kill -9 mid-build: a template is being made (its QEMU runs)" "$(ls -a "$A/templates")"
builder=$("$VESSEL" daemon status 2>/dev/null)
kill -KILL "$builder"
wait_for 15 '[ -z "$(building)" ]' && pass "kill -9 mid-build: the build's QEMU is gone within 15 s" \
  || fail "kill -9 mid-build: the build's QEMU is gone within 15 s" "$(building)"
wait_for 15 '! ls -a "$A/templates" | grep -q "^\.work-"' && pass "kill -9 mid-build: no .work dir left" \
  || fail "kill -9 mid-build: no .work dir left" "$(ls -a "$A/templates")"
assert_eq "kill -9 mid-build: no run dir of the killed daemon's build left" "" "$(ls /run/vessel/tpl 2>/dev/null | grep "^$builder-")"
"$VESSEL" --root "$ROOT" delete -f k1 >/dev/null 2>&1
count_before=$(ls "$A/templates" | grep -cv '^\.')
run "$VESSEL" --root "$ROOT" create --bundle "$T/k" k2
assert_eq "kill -9 mid-build: the next daemon creates (a cold boot)" 0 "$RC"
"$VESSEL" --root "$ROOT" delete -f k2 >/dev/null 2>&1
wait_for 120 "[ \$(ls '$A/templates' | grep -cv '^\\.') = $((count_before + 1)) ] && [ -z \"\$(building)\" ]" \
  && pass "kill -9 mid-build: the next daemon makes the template" \
  || fail "kill -9 mid-build: the next daemon makes the template" "$(ls -a "$A/templates")"
"$VESSEL" --root "$ROOT" create --bundle "$T/k" k3 >/dev/null 2>&1
assert_contains "kill -9 mid-build: the template made again is used" "$(cmdline_of "$(vm_qemu "$ROOT" k3)")" "-incoming defer"
"$VESSEL" --root "$ROOT" delete -f k3 >/dev/null 2>&1

# an input changes (the initrd is rebuilt): no template fits, a cold boot, new ones replace the old
keys_before=$(ls "$A/templates" | sort)
touch "$A/initrd.img"
"$VESSEL" --root "$ROOT" create --bundle "$T/s" s2 >/dev/null 2>&1
assert_not_contains "new initrd: the old template is not used (cold boot)" "$(cmdline_of "$(vm_qemu "$ROOT" s2)")" "-incoming"
"$VESSEL" --root "$ROOT" delete -f s2 >/dev/null 2>&1
wait_for 120 "[ \"\$(ls '$A/templates' | grep -v '^\\.' | sort)\" != \"$keys_before\" ] && [ \$(ls '$A/templates' | grep -cv '^\\.') = 1 ]" \
  && pass "new initrd: a new template replaces the stale ones" \
  || fail "new initrd: a new template replaces the stale ones" "before: $keys_before now: $(ls "$A/templates")"
# this assets dir's part of the ramfs (VmTemplates: the first 12 hex digits of its path's SHA-256)
STAGE=/run/vessel/templates/$(printf '%s' "$A" | sha256sum | cut -c1-12)
stale_staged() { for k in $keys_before; do [ -e "$STAGE/$k" ] && echo "$k"; done; }
# (wait_for runs its snippet in another bash: the function and these variables go with it)
export -f stale_staged; export STAGE keys_before
wait_for 10 '[ -z "$(stale_staged)" ]'
assert_eq "new initrd: no stale copy left on the ramfs" "" "$(stale_staged)"
check "new initrd: the new template's copy is on the ramfs" test -f "$STAGE/$(ls "$A/templates" | grep -v '^\.' | head -n1)"

# templates = false: every microVM boots cold, and none is made
"$VESSEL" daemon stop >/dev/null 2>&1
printf 'assets_dir = "%s"\nresource_view = false\naccelerator = "tcg"\ntemplates = false\n' "$A" > "$VESSEL_CONFIG"
rm -rf "$A/templates"
run "$VESSEL" --root "$ROOT" run --bundle "$B" off1
assert_eq "templates = false: a microVM runs" 0 "$RC"
"$VESSEL" --root "$ROOT" create --bundle "$T/s" off2 >/dev/null 2>&1
assert_not_contains "templates = false: a cold boot" "$(cmdline_of "$(vm_qemu "$ROOT" off2)")" "-incoming"
"$VESSEL" --root "$ROOT" delete -f off2 >/dev/null 2>&1
run "$VESSEL" assets build
assert_not_contains "templates = false: assets build makes none" "$OUT" "template"
sleep 2
assert_eq "templates = false: no template made" "" "$(ls "$A/templates" 2>/dev/null)"

# nothing left: no QEMU of this test, no VM dir, no template QEMU
assert_eq "own daemon: no VM dir left" "$vms_before" "$(ls /run/vessel/vm 2>/dev/null | sort)"
wait_for 30 "[ -z \"\$(our_qemus)\" ]" && pass "no QEMU of this test left" || fail "no QEMU of this test left" "$(our_qemus)"
assert_eq "no template being made left" "" "$(ls /run/vessel/tpl 2>/dev/null)"
summary
