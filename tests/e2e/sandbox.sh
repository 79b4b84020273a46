#!/usr/bin/env bash
# One sandbox model (issue 9): every isolation behind one store and one set of rules, checked
# through the command line only (state, list, exit statuses), as runc's users see it. A daemon
# of our own (its own socket and config), so kill -9 of it harms no other test.
source "$(dirname "$0")/../lib.sh"

[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
host_prepare || skip_all "host_prepare failed"
ensure_image || skip_all "image build failed"
require_assets

ROOT=$T/root
private_daemon
RT=("$VESSEL" --root "$ROOT")
jqf() { printf "%s" "$1" | jq -r "$2"; } # jqf JSON FILTER
state_of() { "${RT[@]}" state "$1" 2>/dev/null | jq -r "${2:-.status}"; }
export -f state_of
export ROOT

VM_ANN='.annotations["dev.vessel.isolation"] = "microvm" | .annotations["test.own"] = "kept"'
B_VM=$T/b-vm;   mkbundle "$B_VM" "$VM_ANN | .process.args = [\"sleep\", \"1000\"]
  | .hooks.poststart = [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat > $T/vm-hook-state.json\"]}]"
B_FG=$T/b-fg;   mkbundle "$B_FG" "$VM_ANN | .process.args = [\"sh\", \"-c\", \"echo up; sleep 25; echo still-here; exit 3\"]"
B_CT=$T/b-ct;   mkbundle "$B_CT" ".annotations[\"test.own\"] = \"kept\" | .process.args = [\"sleep\", \"1000\"]
  | .hooks.poststart = [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat > $T/hook-state.json\"]}]"

# --- a microVM and a container side by side: list and state show both ---
check "microvm: create" "${RT[@]}" create --bundle "$B_VM" vm1
check "container: create" "${RT[@]}" create --bundle "$B_CT" ct1
assert_eq "microvm: state says created" created "$(state_of vm1)"
run "${RT[@]}" list --format json
assert_eq "list --format json shows the microVM" created "$(jqf "$OUT" '.[] | select(.id == "vm1") | .status')"
assert_eq "list --format json shows the container" created "$(jqf "$OUT" '.[] | select(.id == "ct1") | .status')"
assert_eq "list: the microVM's pid is its state's" "$(state_of vm1 .pid)" "$(jqf "$OUT" '.[] | select(.id == "vm1") | .pid')"
assert_eq "list: the microVM's bundle" "$B_VM" "$(jqf "$OUT" '.[] | select(.id == "vm1") | .bundle')"
run "${RT[@]}" list
assert_match "list (table) has runc's columns" '^ID +PID +STATUS +BUNDLE +CREATED +OWNER' "$(printf '%s\n' "$OUT" | head -n1)"
assert_match "list (table) has the microVM" '^vm1 +[0-9]+ +created ' "$(printf '%s\n' "$OUT" | grep '^vm1 ')"
run "${RT[@]}" list -q
assert_eq "list -q: the ids" "$(printf 'ct1\nvm1')" "$(printf '%s\n' "$OUT" | sort)"
check "microvm: start" "${RT[@]}" start vm1
check "container: start" "${RT[@]}" start ct1
wait_for 30 '[ "$(state_of vm1)" = running ]'
assert_eq "microvm: running after start" running "$(state_of vm1)"
assert_eq "state: the bundle's own annotation" kept "$(state_of vm1 '.annotations["test.own"]')"
assert_eq "container: no bookkeeping annotation in state" null "$(state_of ct1 '.annotations["dev.vessel.bundle"]')"
assert_eq "container: the bundle's own annotation in state" kept "$(state_of ct1 '.annotations["test.own"]')"
wait_for 10 "[ -s $T/hook-state.json ]"
assert_eq "hook: the state on its stdin has the bundle's annotation" kept "$(jq -r '.annotations["test.own"]' "$T/hook-state.json" 2>&1)"
assert_eq "hook: and none of Vessel's" "" "$(jq -r '.annotations | keys[] | select(startswith("dev.vessel"))' "$T/hook-state.json" 2>&1)"
wait_for 10 "[ -s $T/vm-hook-state.json ]"
assert_eq "microvm hook: the state on its stdin has exactly the bundle's own annotations" \
  "$(jq -cS .annotations "$B_VM/config.json")" "$(jq -cS .annotations "$T/vm-hook-state.json" 2>&1)"
assert_eq "microvm hook: its status is running" running "$(jq -r .status "$T/vm-hook-state.json" 2>&1)"
run "$VESSEL" --version
spec=$(printf '%s\n' "$OUT" | sed -n 's/^spec: //p')
assert_eq "--version and state agree on the spec version" "$spec" "$(state_of ct1 .ociVersion)"
assert_eq "--version and features agree on the spec version" "$spec" "$("$VESSEL" features | jq -r .ociVersionMax)"

# --- runc's rules on a running microVM ---
run "${RT[@]}" delete vm1
assert_eq "delete without --force refuses a running microVM" 1 "$RC"
assert_eq "...with runc's message" "vessel: cannot delete container vm1 that is not stopped: running" "$ERR"
assert_eq "...and it still runs" running "$(state_of vm1)"
run "${RT[@]}" start vm1
assert_eq "start of a running microVM is refused" 1 "$RC"
run "${RT[@]}" exec --user nobody vm1 id -u
assert_eq "exec --user nobody: the name is resolved in the rootfs" 65534 "$OUT"
dpid=$("$VESSEL" daemon status)
run "${RT[@]}" exec --user no-such-user vm1 id
assert_eq "exec --user of an unknown name: exit 1" 1 "$RC"
assert_eq "...one line naming it" "vessel: user \"no-such-user\" is not in the container's /etc/passwd" "$ERR"
assert_eq "...and the daemon is the same (nothing escaped it)" "$dpid" "$("$VESSEL" daemon status)"
check "container: delete --force" "${RT[@]}" delete --force ct1

# --- the relay is the container's process: when it dies, the VM goes ---
relay=$(state_of vm1 .pid)
api=$(state_of vm1 '.annotations["dev.vessel.api-socket"]')
qemu=$(pgrep -f "[q]emu-system-x86_64 .*$(dirname "$api")/" | head -n1)
assert_match "microvm: its QEMU is found by its run dir" '^[0-9]+$' "$qemu"
kill -KILL "$relay"
wait_for 30 "! kill -0 ${qemu:-1} 2>/dev/null"
check_fails "relay killed: QEMU is gone within 30 s" kill -0 "${qemu:-1}"
assert_eq "relay killed: state says stopped" stopped "$(state_of vm1)"
check "relay killed: delete (no --force needed)" "${RT[@]}" delete vm1
run "${RT[@]}" state vm1
assert_eq "deleted: state says it does not exist" "vessel: container \"vm1\" does not exist" "$ERR"

# --- foreground run: the relay is the pid; kill -9 of vesseld harms nothing ---
"${RT[@]}" run --bundle "$B_FG" fg1 > "$T/fg.out" 2> "$T/fg.err" &
fg=$!
wait_for 60 "grep -q up $T/fg.out"
assert_eq "foreground run: state says running" running "$(state_of fg1)"
assert_eq "foreground run: state's pid is the caller's child (the relay)" "$fg" "$(state_of fg1 .pid)"
run "${RT[@]}" delete fg1
assert_eq "foreground run: delete without --force refuses" 1 "$RC"
fgapi=$(state_of fg1 '.annotations["dev.vessel.api-socket"]')
fgqemu=$(pgrep -f "[q]emu-system-x86_64 .*$(dirname "$fgapi")/" | head -n1)
assert_eq "foreground run: vm_run_dir_of names its run dir (what other suites check is gone)" \
  "$(dirname "${fgapi:-/no-api}")" "$(vm_run_dir_of "$ROOT" fg1)"
kill -KILL "$("$VESSEL" daemon status)"
wait "$fg"; rc=$?
assert_eq "foreground run after kill -9 of vesseld: the workload ran on" still-here "$(tail -n1 "$T/fg.out")"
assert_eq "...and its exit status reached the caller" 3 "$rc"
wait_for 30 "! kill -0 ${fgqemu:-1} 2>/dev/null"
check_fails "...and no QEMU is left once it exited" kill -0 "${fgqemu:-1}"
check_fails "...and no run dir is left (its relay had it deleted)" test -e "$(vm_run_dir_of "$ROOT" fg1)"
run "${RT[@]}" list -q
assert_eq "...and run removed it, as runc does" "" "$OUT"
store=$(ls /run/vessel/sandboxes 2>/dev/null | while read -r d; do [ "$(cat "/run/vessel/sandboxes/$d/root" 2>/dev/null)" = "$ROOT" ] && echo "$d"; done)
assert_eq "nothing is left in Vessel's store for this root" "" "$store"
# its directory is the first 16 hex digits of the SHA-256 of the root's path (SandboxStore.forRoot):
# not even a lock's file of a state or delete of an id that was gone may be left in it
run "${RT[@]}" state no-such-id
assert_eq "state of an id that is not there: exit 1" 1 "$RC"
store_dir=/run/vessel/sandboxes/$(printf '%s' "$ROOT" | sha256sum | cut -c1-16)
assert_eq "...and no directory (no lock's file) is left in Vessel's store for this root" "" "$(ls -A "$store_dir" 2>&1 | grep -v 'No such file')"

# --- help for every command, and bad global options ---
for c in create run start state kill delete list exec ps pause resume update events features spec daemon assets doctor image vmm vm help; do
  run "$VESSEL" "$c" --help
  assert_contains "$c --help" "$OUT" "Usage: vessel $c"
  run "$VESSEL" help "$c"
  assert_contains "vessel help $c" "$OUT" "Usage: vessel $c"
  assert_eq "vessel help $c: exit 0" 0 "$RC"
done
run "$VESSEL" --help
for c in vmm image assets doctor daemon vm; do
  assert_match "--help lists $c" "(^|[ ,])$c([ ,]|\$)" "$(printf '%s\n' "$OUT" | grep '^Vessel commands:' -A1 | tr '\n' ' ')"
done
run "$VESSEL" vm aply -f x.yaml
assert_eq "a mistyped verb of vm: did you mean" 'vessel: vm: unknown command "aply" (did you mean apply?) (see vessel vm --help)' "$ERR"
run "$VESSEL" lsit
assert_eq "an unknown command: did you mean" 'vessel: unknown command "lsit" (did you mean list?) (see vessel --help)' "$ERR"
run "$VESSEL" --root /etc/passwd list
assert_eq "--root that is a file: exit 1" 1 "$RC"
assert_eq "...one line" "vessel: --root /etc/passwd is not a directory" "$ERR"
run "$VESSEL" --root "$ROOT" --log /nonexistent-dir/log.json list
assert_eq "--log that cannot be written: exit 1" 1 "$RC"
assert_eq "...one line naming it" "vessel: --log /nonexistent-dir/log.json cannot be written: no such directory" "$ERR"

summary
