#!/usr/bin/env bash
# Every microVM's Firecracker API (issue #6, item 4): a `microvm` container made with the raw OCI
# commands serves Firecracker's API on <runDir>/api.sock, named in `vessel state` and `vessel
# doctor`: instance info, its configuration, pause/resume (seen by `vessel state`), read-only
# endpoints (400 naming them), the socket served again after kill -9 of the daemon, and removed
# when QEMU ends and on delete. One boot. A daemon of our own (its own socket), so that killing it
# disturbs no other test; only QEMUs this test started are touched.
source "$(dirname "$0")/../lib.sh"

diag "runtime: $VESSEL"
[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
host_prepare || skip_all "host_prepare failed"
ensure_image || skip_all "image build failed"
command -v curl >/dev/null || skip_all "curl missing"
require_assets

export VESSEL_SOCKET=$T/vessel/vesseld.sock
export VESSEL_CONFIG=$T/config.toml
echo 'resource_view = false' > "$VESSEL_CONFIG"
R=$T/root
RT=("$VESSEL" --root "$R")
P=va$$
ID=$P-vm
on_cleanup '"$VESSEL" --root "$R" delete --force "$ID"; "$VESSEL" daemon stop'

status_of() { vessel_status "$R" "$1"; }

mkbundle "$T/b" '.annotations["dev.vessel.isolation"] = "microvm" | .process.args = ["sleep", "1000"]
  | .linux.resources.memory.limit = 134217728 | .linux.resources.cpu = {"quota": 100000, "period": 100000}'
check "create (microvm)" "${RT[@]}" create --bundle "$T/b" "$ID"
check "start" "${RT[@]}" start "$ID"

run "${RT[@]}" state "$ID"
SOCK=$(printf '%s' "$OUT" | jq -r '.annotations["dev.vessel.api-socket"] // empty')
API_SOCK=$SOCK
# the container's QEMU: its command line names the VM's run dir (the socket's directory)
qemu_arg() { # PID OPTION — the value after OPTION in QEMU's argv
  tr '\0' '\n' < "/proc/$1/cmdline" 2>/dev/null | awk -v o="$2" 'p {print; exit} $0 == o {p = 1}'
}
QPID=$(qemus_of "$(dirname "$SOCK")/")
assert_match "the container's QEMU is found by its run dir" '^[0-9]+$' "$QPID"
assert_match "vessel state: the API socket in annotation dev.vessel.api-socket" '^/run/vessel/vm/[0-9a-f]{16}/api\.sock$' "$SOCK"
check "the socket is there" test -S "$SOCK"
run "$VESSEL" doctor
assert_contains "vessel doctor: where microVM API sockets live" "$OUT" "microVM API sockets: /run/vessel/vm/<hash>/api.sock"
assert_contains "vessel doctor: lists the served socket" "$OUT" "$SOCK"

run curl -s -m 10 --unix-socket "$SOCK" http://localhost/
assert_eq "GET /: instance info (the container's id, Running)" \
  "{\"id\":\"$ID\",\"state\":\"Running\",\"vmm_version\":\"1.7.0\",\"app_name\":\"Firecracker\"}" "$OUT"
api GET /vm/config
assert_eq "GET /vm/config: 200" 200 "$CODE"
body=$BODY
assert_eq "GET /vm/config: the kernel Vessel booted" "$KERNEL" "$(jq -r '.["boot-source"].kernel_image_path' <<<"$body")"
assert_contains "GET /vm/config: Vessel's boot args" "$(jq -r '.["boot-source"].boot_args' <<<"$body")" "vessel.rootfs=9p"
assert_eq "GET /vm/config: vcpu_count is QEMU's -smp" "$(qemu_arg "$QPID" -smp)" \
  "$(jq -r '.["machine-config"].vcpu_count' <<<"$body")"
assert_eq "GET /vm/config: mem_size_mib is QEMU's -m" "$(qemu_arg "$QPID" -m)" \
  "$(jq -r '.["machine-config"].mem_size_mib' <<<"$body")"
assert_eq "GET /vm/config: no NICs (no network namespace given)" "[]" "$(jq -c '.["network-interfaces"]' <<<"$body")"
api GET /machine-config
assert_contains "GET /machine-config" "$BODY" "\"mem_size_mib\":$(qemu_arg "$QPID" -m)"

api PATCH /vm '{"state":"Paused"}'
assert_eq "PATCH /vm Paused: 204" 204 "$CODE"
assert_eq "PATCH /vm Paused: vessel state says paused" paused "$(status_of "$ID")"
run curl -s -m 10 --unix-socket "$SOCK" http://localhost/
assert_contains "GET /: Paused" "$OUT" '"state":"Paused"'
api PUT /snapshot/create "{\"snapshot_path\":\"$T/snap\",\"mem_file_path\":\"$T/mem\"}"
assert_eq "PUT /snapshot/create: QEMU cannot migrate the 9p root: 400" 400 "$CODE"
assert_contains "PUT /snapshot/create: says why" "$(jq -r .fault_message <<<"$BODY" 2>&1)" "Cannot create the snapshot"
api PATCH /vm '{"state":"Resumed"}'
assert_eq "PATCH /vm Resumed: 204" 204 "$CODE"
assert_eq "PATCH /vm Resumed: vessel state says running" running "$(status_of "$ID")"
check "vessel pause" "${RT[@]}" pause "$ID"
run curl -s -m 10 --unix-socket "$SOCK" http://localhost/
assert_contains "vessel pause: GET / says Paused" "$OUT" '"state":"Paused"'
check "vessel resume" "${RT[@]}" resume "$ID"

read_only() { # NAME METHOD PATH BODY — 400 naming the endpoint as read-only
  api "$2" "$3" "$4"
  assert_eq "$1: 400" 400 "$CODE"
  assert_contains "$1: managed by its OCI runtime, names it" "$(jq -r .fault_message <<<"$BODY" 2>&1)" \
    "managed by its OCI runtime (Vessel, as a microvm container): $5 is not allowed"
}
read_only "PUT /boot-source" PUT /boot-source "{\"kernel_image_path\":\"$KERNEL\"}" "PUT /boot-source"
read_only "PUT /drives" PUT /drives/rootfs '{"drive_id":"rootfs","path_on_host":"/etc/hostname","is_root_device":true,"is_read_only":true}' "PUT /drives/rootfs"
read_only "PUT /network-interfaces" PUT /network-interfaces/eth0 '{"iface_id":"eth0","host_dev_name":"tap0"}' "PUT /network-interfaces/eth0"
read_only "PATCH /machine-config" PATCH /machine-config '{"mem_size_mib":1024}' "PATCH /machine-config"
read_only "InstanceStart" PUT /actions '{"action_type":"InstanceStart"}' "InstanceStart"
api PUT /boot-source '{"kernel_image_path":"/x","bogus":1}'
assert_eq "validation first: 400" 400 "$CODE"
assert_contains "validation first: an unknown field is named, as in vessel vmm" "$(jq -r .fault_message <<<"$BODY" 2>&1)" "unknown field \`bogus\`"
api PATCH /vm '{"state":"Asleep"}'
assert_eq "PATCH /vm with a bad state: 400" 400 "$CODE"
assert_eq "after the refusals: still running" running "$(status_of "$ID")"
api PUT /metrics "{\"metrics_path\":\"$T/metrics\"}"
assert_eq "PUT /metrics: 204" 204 "$CODE"
api PUT /actions '{"action_type":"FlushMetrics"}'
assert_eq "FlushMetrics: 204" 204 "$CODE"
assert_contains "FlushMetrics: a JSON line with the VM's state" "$(cat "$T/metrics")" '"state":"Running"'

# --- kill -9 of the daemon: the workload goes on; the next call's daemon serves the socket again ---
old=$("$VESSEL" daemon status)
kill -9 "$old"
run "${RT[@]}" exec "$ID" echo still-here
assert_eq "after kill -9 of vesseld: exec in the container" still-here "$OUT"
wait_for 30 "curl -sf -m 2 --unix-socket '$SOCK' http://localhost/ >/dev/null" \
  && pass "after kill -9 of vesseld: the next daemon serves the socket again" \
  || fail "after kill -9 of vesseld: the socket answers again" "$(ls -l "$SOCK" 2>&1)"
assert_ne "a new daemon" "$old" "$("$VESSEL" daemon status)"
run curl -s -m 10 --unix-socket "$SOCK" http://localhost/
assert_contains "after kill -9 of vesseld: GET / is the container" "$OUT" "\"id\":\"$ID\",\"state\":\"Running\""

# --- delete: socket and server gone ---
daemon=$("$VESSEL" daemon status)
assert_ne "before delete: the daemon serves the API on a thread of its own (api-*)" "" \
  "$(cat /proc/"$daemon"/task/*/comm 2>/dev/null | grep '^api-' || true)"
check "delete --force" "${RT[@]}" delete --force "$ID"
check "after delete: the socket is gone" test ! -e "$SOCK"
check "after delete: the VM's run dir is gone" test ! -e "$(dirname "$SOCK")"
sleep 0.5
assert_eq "after delete: no API server thread left in the daemon" "" \
  "$(cat /proc/"$daemon"/task/*/comm 2>/dev/null | grep '^api-' || true)"
run "$VESSEL" doctor
assert_not_contains "after delete: vessel doctor no longer lists it" "$OUT" "$SOCK"

# --- QEMU ending on its own: the socket goes with it (a second, last boot) ---
check "create again" "${RT[@]}" create --bundle "$T/b" "$ID"
SOCK=$("${RT[@]}" state "$ID" | jq -r '.annotations["dev.vessel.api-socket"]')
check "the socket is there again" test -S "$SOCK"
QPID=$(qemus_of "$(dirname "$SOCK")/")
assert_match "the new QEMU is found by its run dir" '^[0-9]+$' "$QPID"
kill -9 "${QPID:-no-qemu}"
wait_for 15 "[ ! -e '$SOCK' ]" && pass "QEMU killed: the socket is removed" || fail "QEMU killed: the socket is removed" "$(ls -l "$SOCK" 2>&1)"
check "delete" "${RT[@]}" delete --force "$ID"
summary
