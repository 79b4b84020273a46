#!/usr/bin/env bash
# The accelerator chosen by booting the real guest (issue 10, items 1 and 6), without special
# hardware: a QEMU wrapper (VESSEL_QEMU) that hangs under -accel kvm, as the guest kernel does on a
# kvm_pvm host, with the quick probes counted as passed (VESSEL_ACCELERATOR_PROBE=skip). The first
# microVM measures (TCG, then KVM up to the TCG time), gets TCG and still comes up; the verdict is
# cached; the next microVM does not wait again; a cached KVM verdict that no longer boots falls back
# to TCG at create and flips. Bad VESSEL_ACCELERATOR / VESSEL_QEMU / accelerator / qemu, an unreadable
# config: one line, nothing started. Runs a daemon of its own (own socket and config); the host's verdict cache is restored.
source "$(dirname "$0")/../lib.sh"

[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
host_prepare || skip_all "host_prepare failed"
ensure_image || skip_all "image build failed"
REAL_QEMU=$(command -v qemu-system-x86_64) || skip_all "qemu-system-x86_64 not installed"

export VESSEL_SOCKET=$T/vessel/vesseld.sock
export VESSEL_CONFIG=$T/config.toml
printf 'resource_view = false\n' > "$VESSEL_CONFIG"   # no FUSE mount or keeper for this daemon
export VESSEL_LOG=$T/vessel/vesseld.log # the log of the daemon the client starts (default /var/log/vessel)
LOG=$VESSEL_LOG
ROOT=$T/root
CACHE=/var/lib/vessel/accelerator.json
[ -f "$CACHE" ] && cp -p "$CACHE" "$T/cache.saved"
restore_cache() { if [ -f "$T/cache.saved" ]; then cp -p "$T/cache.saved" "$CACHE"; else rm -f "$CACHE"; fi; }
cleanup() {
  "$VESSEL" daemon stop >/dev/null 2>&1
  local p
  for p in $(cat "$T/kvm-calls" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  restore_cache
}
on_cleanup cleanup
run "$VESSEL" assets show
[ "$RC" = 0 ] || skip_all "guest assets missing (make assets): $ERR"
"$VESSEL" daemon stop >/dev/null 2>&1   # each part below starts the daemon with its own environment

# A QEMU on which the guest never comes up under KVM: it hangs (and says it was asked).
cat > "$T/qemu" <<EOF
#!/bin/sh
case " \$* " in *" -accel kvm "*) echo \$\$ >> "$T/kvm-calls"; exec sleep 100000 ;; esac
exec "$REAL_QEMU" "\$@"
EOF
chmod +x "$T/qemu"
kvm_calls() { [ -f "$T/kvm-calls" ] && wc -l < "$T/kvm-calls" || echo 0; }
WITH=(env VESSEL_QEMU="$T/qemu" VESSEL_ACCELERATOR=auto VESSEL_ACCELERATOR_PROBE=skip)
B=$T/b-vm; mkbundle "$B" '.process.args = ["sh", "-c", "echo up-in-$(uname -r)"] | .process.terminal = false
  | .annotations["dev.vessel.isolation"] = "microvm"'
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# a foreground run's relay has the sandbox deleted before it exits: its run dir must be gone then
run_dir_gone() { # ID
  local d; d=$(vm_run_dir_of "$ROOT" "$1")
  assert_eq "$1: its run dir $d is gone once run returned" "" "$([ -e "$d" ] && echo "left: $(ls -A "$d" | tr '\n' ' ')")"
}
# what this test may leave: a measurement's QEMU, a hanging "KVM" QEMU
leftovers() {
  pids_matching "/tmp/vessel-accel-"
  local p; for p in $(cat "$T/kvm-calls" 2>/dev/null); do kill -0 "$p" 2>/dev/null && echo "$p"; done
}

# --- bad input: one line naming the value or path, non-zero, no daemon ---
one_line_no_daemon() { # NAME NEEDLE
  assert_ne "$1: non-zero exit" 0 "$RC"
  assert_eq "$1: one line on stderr" 1 "$(printf '%s\n' "$ERR" | wc -l)"
  assert_contains "$1: names it" "$ERR" "$2"
  run "$VESSEL" daemon status
  assert_eq "$1: no daemon left running" 3 "$RC"
  check "$1: no socket left" test ! -e "$VESSEL_SOCKET"
}
run env VESSEL_ACCELERATOR=fast "$VESSEL" --root "$ROOT" list
one_line_no_daemon "VESSEL_ACCELERATOR=fast" 'VESSEL_ACCELERATOR: unknown value "fast" (use auto, kvm or tcg)'
run env VESSEL_QEMU="$T/no-such-qemu" "$VESSEL" --root "$ROOT" list
one_line_no_daemon "VESSEL_QEMU of a missing file" "VESSEL_QEMU: $T/no-such-qemu does not exist"
run env VESSEL_GUEST_KERNEL=bogus "$VESSEL" --root "$ROOT" list
one_line_no_daemon "VESSEL_GUEST_KERNEL=bogus" 'VESSEL_GUEST_KERNEL: "bogus" is not a guest kernel (use vessel or debian)'
printf 'accelerator = "hvf"\n' > "$T/bad.toml"
run env VESSEL_CONFIG="$T/bad.toml" "$VESSEL" --root "$ROOT" list
one_line_no_daemon "config accelerator = \"hvf\"" "$T/bad.toml: accelerator: unknown value \"hvf\""
printf 'qemu = "%s"\n' "$T/no-such-qemu" > "$T/bad.toml"
run env VESSEL_CONFIG="$T/bad.toml" "$VESSEL" --root "$ROOT" list
one_line_no_daemon "config qemu of a missing file" "$T/bad.toml: qemu: $T/no-such-qemu does not exist"
run env VESSEL_QEMU=no-such-qemu-system "$VESSEL" --root "$ROOT" list
one_line_no_daemon "VESSEL_QEMU of a name not in PATH" "VESSEL_QEMU: no-such-qemu-system is not in PATH"
printf 'qemu = "no-such-qemu-system"\n' > "$T/bad.toml"
run env VESSEL_CONFIG="$T/bad.toml" "$VESSEL" --root "$ROOT" list
one_line_no_daemon "config qemu of a name not in PATH" "$T/bad.toml: qemu: no-such-qemu-system is not in PATH"
mkdir "$T/config-dir.toml"
run env VESSEL_CONFIG="$T/config-dir.toml" "$VESSEL" --root "$ROOT" list
one_line_no_daemon "an unreadable config (a directory)" "cannot start: $T/config-dir.toml: "
printf 'accelerator = \n' > "$T/bad.toml"
run env VESSEL_CONFIG="$T/bad.toml" "$VESSEL" --root "$ROOT" list
one_line_no_daemon "a config that is not TOML" "cannot start: $T/bad.toml: "

# --- first microVM: measures, gets TCG, comes up ---
rm -f "$CACHE"
check "daemon with the hanging QEMU" "${WITH[@]}" "$VESSEL" daemon start
t0=$(now_ms)
run -t 240 "$VESSEL" --root "$ROOT" run --bundle "$B" vm1
run_dir_gone vm1
first=$(( $(now_ms) - t0 ))
diag "first microVM (with the measurement): $first ms"
assert_eq "first microVM: exit 0" 0 "$RC"
assert_match "first microVM: ran in its guest" '^up-in-[0-9]' "$OUT"
assert_eq "first microVM: nothing on stderr (an engine's create prints only errors)" "" "$ERR"
assert_contains "first microVM: the daemon's log says it measures" "$(cat "$LOG")" "vm1: accelerator: booting the guest under TCG"
assert_contains "first microVM: the daemon's log says it tries KVM" "$(cat "$LOG")" "vm1: accelerator: booting the guest under KVM"
assert_ge "first microVM: QEMU was asked for KVM" 1 "$(kvm_calls)"
assert_eq "verdict cached: tcg" tcg "$(jq -r .verdict "$CACHE" 2>&1)"
assert_contains "verdict: why" "$(jq -r .reason "$CACHE")" "under KVM the guest did not come up within"
assert_eq "verdict: KVM was booted, no KVM time" "true null" "$(jq -r '"\(.kvmBooted) \(.kvmBootMs)"' "$CACHE")"
tcg=$(jq -r .tcgBootMs "$CACHE")
assert_ge "verdict: a TCG boot time" 1 "$tcg"
assert_eq "verdict key: this host kernel" "$(uname -r)" "$(jq -r .key.hostKernel "$CACHE")"
assert_contains "verdict key: QEMU's version" "$("$REAL_QEMU" --version | head -1)" "$(jq -r .key.qemuVersion "$CACHE")"
assert_match "verdict key: the assets" '^vmlinux [0-9]+ .*, initrd.img [0-9]+ ' "$(jq -r .key.guestAssets "$CACHE")"
# the TCG boot, the KVM attempt (cut at the TCG time) and the microVM itself, plus start-up
assert_le "first microVM within 3 x the TCG time + 20 s" $(( 3 * ${tcg:-0} + 20000 )) "$first"

# --- second microVM: the verdict holds, no KVM attempt, no waiting ---
calls=$(kvm_calls)
t0=$(now_ms)
run -t 120 "$VESSEL" --root "$ROOT" run --bundle "$B" vm2
run_dir_gone vm2
second=$(( $(now_ms) - t0 ))
diag "second microVM: $second ms (TCG boot measured: $tcg ms)"
assert_eq "second microVM: exit 0" 0 "$RC"
assert_match "second microVM: ran" '^up-in-' "$OUT"
assert_not_contains "second microVM: measures nothing" "$(cat "$LOG")" "vm2: accelerator:"
assert_eq "second microVM: QEMU not asked for KVM again" "$calls" "$(kvm_calls)"
assert_le "second microVM: faster than the first by at least the KVM deadline" $(( first - tcg )) "$second"

# --- the verdict survives a daemon restart (read from the cache, not measured) ---
run "$VESSEL" daemon stop
check "daemon restarted" "${WITH[@]}" "$VESSEL" daemon start
run -t 120 "$VESSEL" --root "$ROOT" run --bundle "$B" vm3
run_dir_gone vm3
assert_eq "after a restart: exit 0" 0 "$RC"
assert_not_contains "after a restart: measures nothing" "$(cat "$LOG")" "vm3: accelerator:"

run "$VESSEL" doctor
assert_contains "doctor: the verdict" "$OUT" "accelerator: tcg (under KVM the guest did not come up within"
assert_contains "doctor: both boot times" "$OUT" "accelerator boot times: tcg $tcg ms, kvm did not come up within its deadline"
assert_contains "doctor: where it is cached" "$OUT" "accelerator verdict cache: $CACHE (measured "
assert_match "doctor: what /dev/kvm is" 'kvm device: /dev/kvm: (absent|not a KVM device|kvm[_a-z+]* \([0-9]+:[0-9]+, KVM API [0-9]+\))' "$OUT"
assert_contains "doctor: the configured QEMU" "$OUT" "qemu: $T/qemu, "
run "$VESSEL" doctor --json
assert_eq "doctor --json: the verdict as name/value" tcg \
  "$(printf '%s' "$OUT" | jq -r '.[] | select(.name == "accelerator") | .value' 2>&1 | cut -d' ' -f1)"
assert_eq "doctor --json: the device" "$(printf '%s' "$OUT" | jq -r '.[] | select(.name == "kvm device") | .value' 2>&1)" \
  "$("$VESSEL" doctor | sed -n 's/^kvm device: //p')"
run "$VESSEL" doctor --yaml
assert_ne "doctor --yaml: non-zero" 0 "$RC"
assert_eq "doctor --yaml: one line naming it" "vessel: doctor: Unknown option: '--yaml' (see vessel doctor --help)" "$ERR"

# --- a cached KVM verdict whose KVM no longer boots: TCG at create, once, and the verdict flips ---
jq '.verdict = "kvm" | .kvmBootMs = 500 | .reason = "test: KVM said to work"' "$CACHE" > "$CACHE.new" && mv "$CACHE.new" "$CACHE"
run "$VESSEL" daemon stop
check "daemon restarted on a KVM verdict" "${WITH[@]}" "$VESSEL" daemon start
calls=$(kvm_calls)
t0=$(now_ms)
run -t 180 "$VESSEL" --root "$ROOT" run --bundle "$B" vm4
run_dir_gone vm4
fallback=$(( $(now_ms) - t0 ))
diag "microVM with the KVM fallback: $fallback ms"
assert_eq "KVM fallback: exit 0" 0 "$RC"
assert_match "KVM fallback: ran under TCG" '^up-in-' "$OUT"
assert_eq "KVM fallback: one KVM attempt" $((calls + 1)) "$(kvm_calls)"
assert_eq "KVM fallback: the verdict flipped to tcg" tcg "$(jq -r .verdict "$CACHE")"
assert_contains "KVM fallback: the verdict says why" "$(jq -r .reason "$CACHE")" "a microVM did not come up under KVM at create"
assert_contains "KVM fallback: the daemon's log says why" "$(cat "$LOG")" "booting it again under TCG"
assert_contains "KVM fallback: the log names the flip" "$(cat "$LOG")" "accelerator verdict flipped to tcg in $CACHE"
calls=$(kvm_calls)
run -t 120 "$VESSEL" --root "$ROOT" run --bundle "$B" vm5
run_dir_gone vm5
assert_eq "after the flip: exit 0" 0 "$RC"
assert_eq "after the flip: no KVM attempt" "$calls" "$(kvm_calls)"

# --- a first measurement at a create on a terminal says what it does (the engines' above, stderr a
# pipe, printed nothing) ---
rm -f "$CACHE"
run -t 240 script -qec "$VESSEL --root $ROOT run --bundle $B vm-tty" /dev/null
run_dir_gone vm-tty
assert_eq "on a terminal: exit 0" 0 "$RC"
assert_contains "on a terminal: the measurement says it boots the guest under TCG" "$OUT" "vessel: accelerator: booting the guest under TCG"
assert_contains "on a terminal: … then under KVM" "$OUT" "vessel: accelerator: booting the guest under KVM"
assert_match "on a terminal: the workload ran" 'up-in-[0-9]' "$OUT"
assert_eq "on a terminal: the verdict cached again" tcg "$(jq -r .verdict "$CACHE" 2>&1)"

# --- vessel assets build: progress on stderr, and the measurement up front ---
rm -f "$CACHE"
run -t 300 "$VESSEL" assets build
assert_eq "assets build: exit 0" 0 "$RC"
assert_contains "assets build: progress (apt)" "$ERR" "guest assets: asking apt"
assert_contains "assets build: measures the accelerator" "$ERR" "accelerator: booting the guest under TCG"
assert_contains "assets build: prints the verdict" "$OUT" "accelerator: tcg ("
assert_eq "assets build: the verdict is cached" tcg "$(jq -r .verdict "$CACHE" 2>&1)"
run -t 300 "$VESSEL" assets build
assert_not_contains "assets build again: no new measurement" "$ERR" "accelerator: booting"

# --- a /dev/kvm that is another device (bind-mounted, in a mount namespace of the daemon's own) ---
run "$VESSEL" daemon stop
if [ -e /dev/kvm ]; then
kvm0=$(stat -c %t:%T /dev/kvm)
check "daemon with /dev/null over /dev/kvm" unshare -m --propagation private sh -c \
  'mount --bind /dev/null /dev/kvm && exec env VESSEL_QEMU="$1" "$2" daemon start' _ "$T/qemu" "$VESSEL"
run "$VESSEL" doctor
assert_contains "bind-mounted /dev/null: doctor names it" "$OUT" \
  "kvm device: /dev/kvm: not a KVM device (character device 1:3, KVM's is 10:232)"
assert_not_contains "bind-mounted /dev/null: not called kvm_pvm" "$(printf '%s\n' "$OUT" | grep '^kvm device')" "kvm_pvm"
run -t 120 "$VESSEL" --root "$ROOT" run --bundle "$B" vm-nokvm
run_dir_gone vm-nokvm
assert_eq "bind-mounted /dev/null: the microVM runs" 0 "$RC"
assert_eq "bind-mounted /dev/null: verdict tcg" tcg "$(jq -r .verdict "$CACHE")"
assert_eq "bind-mounted /dev/null: the verdict's reason" \
  "the quick KVM probes failed: /dev/kvm is not a KVM device (character device 1:3, KVM's is 10:232)" \
  "$(jq -r .reason "$CACHE")"
assert_eq "bind-mounted /dev/null: keyed by it" "not a KVM device (character device 1:3, KVM's is 10:232)" \
  "$(jq -r .key.kvmDevice "$CACHE")"
assert_eq "bind-mounted /dev/null: the host's /dev/kvm is untouched" "$kvm0" "$(stat -c %t:%T /dev/kvm)"
else
  diag "no /dev/kvm here: the bind-mounted /dev/kvm case is not run"
fi

# --- forced: accelerator = "tcg" neither measures nor asks for KVM ---
run "$VESSEL" daemon stop
rm -f "$CACHE"
calls=$(kvm_calls)
check "daemon with VESSEL_ACCELERATOR=tcg" env VESSEL_QEMU="$T/qemu" VESSEL_ACCELERATOR=tcg "$VESSEL" daemon start
run -t 120 "$VESSEL" --root "$ROOT" run --bundle "$B" vm6
run_dir_gone vm6
assert_eq "forced tcg: exit 0" 0 "$RC"
assert_not_contains "forced tcg: measures nothing" "$(cat "$LOG")" "vm6: accelerator:"
assert_eq "forced tcg: no KVM attempt" "$calls" "$(kvm_calls)"
assert_eq "forced tcg: no verdict written" no "$([ -f "$CACHE" ] && echo yes || echo no)"
run "$VESSEL" doctor
assert_contains "forced tcg: doctor says so" "$OUT" "accelerator: tcg (set by"

run "$VESSEL" --root "$ROOT" list -q
assert_eq "no container left" "" "$OUT"
run "$VESSEL" daemon stop
assert_eq "no QEMU left behind" "" "$(leftovers)"
summary
