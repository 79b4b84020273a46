#!/usr/bin/env bash
# Firecracker's API (issue 6): `vessel vmm --api-sock` driven with plain curl, as Firecracker's
# getting-started guide does, in a network namespace of the test's own; then the API's 400s,
# MMDS (V2 tokens, read by the guest), entropy, balloon, a drive swapped after boot, pause/resume, metrics, Ctrl+Alt+Del ending the guest and the VMM, --config-file, and bad
# command lines that leave nothing behind, and a snapshot loaded by a new vessel vmm. vesseld
# serves the API and the vessel client is QEMU's parent (no JVM per VM); kill -9 of vesseld leaves
# the guest running (its API socket goes), kill -9 of the client takes QEMU and the sockets along.
# Two guest boots (each 4-8 s under TCG) and one restore; a daemon of its own (it is killed).
#   FC_INITRD=PATH   boot with this initrd instead of Vessel's (initrd_path)
source "$(dirname "$0")/../lib.sh"

[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
host_prepare || skip_all "host_prepare failed"
for t in curl mkfs.ext4 qemu-system-x86_64 ip ping jq; do command -v $t >/dev/null || skip_all "$t not installed"; done
private_daemon
require_assets
ensure_image || skip_all "busybox image missing (make images)"

NS=vfc$$
SOCK=$T/fc.sock
API_SOCK=$SOCK    # lib.sh's api: CODE and BODY of a request to it
VMM_PID=
ip netns add "$NS" || skip_all "cannot create netns $NS"
vmm_stop() { [ -n "$VMM_PID" ] && kill -KILL "$VMM_PID" 2>/dev/null; VMM_PID=; }
# descendants PID — PID's processes below it, one "pid comm" a line
descendants() { local c; for c in $(pgrep -P "$1"); do echo "$c $(cat /proc/$c/comm 2>/dev/null)"; descendants "$c"; done; }
on_cleanup vmm_stop
on_cleanup "ip netns del $NS"
on_cleanup 'for p in $(pids_matching "$T/"); do kill -KILL "$p"; done'

# expect_fault NAME PATTERN METHOD PATH BODY: a 400 whose fault_message contains PATTERN
expect_fault() {
  local name=$1 pattern=$2; shift 2
  api "$@"
  assert_eq "$name: 400" 400 "$CODE"
  assert_contains "$name: fault_message names it" "$(jq -r .fault_message <<<"$BODY" 2>/dev/null)" "$pattern"
}
start_vmm() { # [ARGS...]: vessel vmm in the netns, serial console to $T/serial.log
  : > "$T/serial.log"
  ip netns exec "$NS" "$VESSEL" vmm "$@" >"$T/serial.log" 2>"$T/vmm.err" </dev/null &
  VMM_PID=$!
}

# --- the guest: busybox, plus /fc-init (the getting-started guest's network) and busybox init ---
mkdir -p "$T/rootfs"
cp -a "$IMAGE_DIR/rootfs/." "$T/rootfs/"
cat > "$T/rootfs/fc-init" <<'INIT'
#!/bin/sh
ip addr add 172.16.0.2/24 dev eth0
ip link set eth0 up
ip route add default via 172.16.0.1 dev eth0
echo "fc-init: network up"
echo "rng: $(cat /sys/class/misc/hw_random/rng_current 2>&1)"
# fc.mmds: read the metadata service as Firecracker's MMDS guide does (V2: a token, then a GET)
if grep -q fc.mmds /proc/cmdline; then
  ip route add 169.254.169.254 dev eth0
  wget -q -O- http://169.254.169.254/latest/meta-data/ami-id >/dev/null 2>&1 || echo "mmds: no token, refused"
  token=$(printf 'PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\nX-metadata-token-ttl-seconds: 21600\r\nConnection: close\r\n\r\n' | nc 169.254.169.254 80 | tail -n1)
  echo "mmds: ami-id $(wget -q -O- --header "X-metadata-token: $token" http://169.254.169.254/latest/meta-data/ami-id)"
fi
# fc.count on the command line: a counter on the console, one a second (the snapshot test's clock)
if grep -q fc.count /proc/cmdline; then
  (i=0; while :; do echo "count $i"; i=$((i+1)); sleep 1; done) &
fi
exec /sbin/init
INIT
chmod 755 "$T/rootfs/fc-init"
# busybox init: Ctrl+Alt+Del reboots (the kernel's reboot=k ends QEMU, as it ends Firecracker)
printf '::ctrlaltdel:/sbin/reboot\n::once:/bin/echo fc-guest: init running\n' > "$T/rootfs/etc/inittab"
check "image ext4: the rootfs becomes an ext4 image" "$VESSEL" image ext4 "$T/rootfs" "$T/rootfs.ext4"
assert_contains "image ext4: one line naming the image" "$OUT" "$T/rootfs.ext4 (ext4, "
run file -b "$T/rootfs.ext4"
assert_contains "image ext4: it is ext4" "$OUT" "ext4 filesystem"
tar -C "$T/rootfs" -cf "$T/rootfs.tar" .
check "image ext4: from a tar, with --size" "$VESSEL" image ext4 "$T/rootfs.tar" "$T/from-tar.ext4" --size 64
assert_eq "image ext4: --size 64 gives 64 MiB" $((64 << 20)) "$(stat -c %s "$T/from-tar.ext4")"
check_fails "image ext4: a missing source fails" "$VESSEL" image ext4 "$T/nope" "$T/nope.ext4"
assert_eq "image ext4: one line" 1 "$(printf '%s\n' "$ERR" | wc -l)"
run "$VESSEL" image ext4 "$T/rootfs" "$T/small.ext4" --size 1
assert_ne "image ext4: too small fails" 0 "$RC"
assert_eq "image ext4: nothing left behind" "" "$(ls -A "$T" | grep -E 'small|\.tmp-')"

# --- bad command lines: one line, non-zero, nothing left (no socket, no QEMU) ---
run "$VESSEL" vmm
assert_ne "vmm: without --api-sock fails" 0 "$RC"
assert_contains "vmm: without --api-sock says so" "$ERR" "--api-sock"
assert_eq "vmm: without --api-sock: one line" 1 "$(printf '%s\n' "$ERR" | wc -l)"
: > "$T/exists.sock"
run "$VESSEL" vmm --api-sock "$T/exists.sock"
assert_ne "vmm: an existing socket path fails" 0 "$RC"
assert_contains "vmm: an existing socket path is named" "$ERR" "already exists"
assert_eq "vmm: the existing file is left alone" 0 "$(stat -c %s "$T/exists.sock")"
echo 'not json' > "$T/bad.json"
run "$VESSEL" vmm --api-sock "$T/bad.sock" --config-file "$T/bad.json"
assert_ne "vmm: a --config-file that is not JSON fails" 0 "$RC"
assert_contains "vmm: a --config-file that is not JSON: one line naming it" "$ERR" "--config-file"
assert_eq "vmm: a --config-file that is not JSON: one line" 1 "$(printf '%s\n' "$ERR" | wc -l)"
echo '{"boot-source":{"kernel_image_path":"/no/such/vmlinux"}}' > "$T/nokernel.json"
run "$VESSEL" vmm --api-sock "$T/bad.sock" --config-file "$T/nokernel.json"
assert_ne "vmm: a --config-file with a missing kernel fails" 0 "$RC"
assert_contains "vmm: ... naming the field" "$ERR" "kernel_image_path"
assert_eq "vmm: bad command lines leave no socket" "" "$(ls -A "$T" | grep -E '^bad\.sock')"
assert_eq "vmm: bad command lines leave no QEMU" "" "$(our_qemus)"
run "$VESSEL" vmm --help
assert_eq "vmm --help: status 0" 0 "$RC"
for o in --api-sock --config-file --no-api --id --level --log-path --show-level --show-log-origin --metrics-path \
         --http-api-max-payload-size --mmds-size-limit --version; do
  assert_contains "vmm --help lists $o" "$OUT" "$o"
done

# --- kill -9 of vessel vmm before boot: vesseld, which served the API, removes its sockets ---
start_vmm --api-sock "$SOCK"
wait_for 30 "[ -S '$SOCK' ]" || fail "vmm: the API socket appears" "$(cat "$T/vmm.err")"
kill -KILL "$VMM_PID"; VMM_PID=
if wait_for 10 "! ls -A '$T' | grep -qE '^fc\.sock'"; then pass "kill -9 of vessel vmm before boot: no socket left"
else fail "kill -9 of vessel vmm before boot: no socket left" "$(ls -A "$T" | grep -E '^fc\.sock')"; fi

# --- Firecracker's getting-started network flow, verbatim ---
ip netns exec "$NS" sh -c 'ip tuntap add tap0 mode tap; ip addr add 172.16.0.1/24 dev tap0; ip link set tap0 up'
start_vmm --api-sock "$SOCK"
wait_for 30 "[ -S '$SOCK' ]" || fail "vmm: the API socket appears" "$(cat "$T/vmm.err")"
api GET /
assert_eq "GET /: 200" 200 "$CODE"
assert_eq "GET /: Not started" "Not started" "$(jq -r .state <<<"$BODY")"
api GET /version
assert_match "GET /version" '^[0-9]+\.[0-9]+\.[0-9]+$' "$(jq -r .firecracker_version <<<"$BODY")"
api GET /machine-config
assert_eq "GET /machine-config: Firecracker's defaults" "1 128" "$(jq -r '"\(.vcpu_count) \(.mem_size_mib)"' <<<"$BODY")"

expect_fault "400: unknown field" '`host_name`' PUT /network-interfaces/eth0 '{"iface_id":"eth0","host_name":"tap0"}'
expect_fault "400: wrong type" '`vcpu_count`' PUT /machine-config '{"vcpu_count":"2","mem_size_mib":256}'
expect_fault "400: missing required field" '`kernel_image_path`' PUT /boot-source '{"boot_args":"console=ttyS0"}'
big=$(head -c 60000 /dev/zero | tr '\0' a)
expect_fault "400: body over 50 KiB" "51200" PUT /boot-source "{\"kernel_image_path\":\"$big\"}"
expect_fault "400: id mismatch" "does not match" PUT /drives/rootfs '{"drive_id":"other","path_on_host":"/x","is_root_device":true}'
# the two that were a 500 and Jetty's HTML page: a NUL in a path field, and `..` in the URL (curl sends it as is)
expect_fault "400: a NUL in path_on_host" '`path_on_host`' PUT /drives/rootfs '{"drive_id":"rootfs","path_on_host":"/x\u0000y","is_root_device":true}'
OUT=$(curl -s --max-time 60 --path-as-is --unix-socket "$SOCK" -w '\n%{http_code}' "http://localhost/drives/../machine-config")
assert_eq "400: a path with a .. segment" 400 "${OUT##*$'\n'}"
assert_contains "400: a path with a .. segment: Firecracker's error body" "$(jq -r .fault_message <<<"${OUT%$'\n'*}" 2>/dev/null)" "segment"
expect_fault "400: post-boot action before boot" "before starting" PATCH /vm '{"state":"Paused"}'
expect_fault "400: vsock without /dev/vhost-vsock" "vhost-vsock" PUT /vsock "{\"guest_cid\":3,\"uds_path\":\"$T/v.sock\"}"
api DELETE /boot-source
assert_eq "DELETE /boot-source: 405" 405 "$CODE"
api GET /no-such-path
assert_eq "GET /no-such-path: 404" 404 "$CODE"
expect_fault "400: GET /balloon before PUT /balloon" "not configured" GET /balloon
expect_fault "400: FlushMetrics before PUT /metrics" "metrics" PUT /actions '{"action_type":"FlushMetrics"}'
expect_fault "400: PUT /logger with an unknown level" '`level`' PUT /logger '{"level":"Loud"}'
expect_fault "400: PUT /entropy with an ops limiter" '`rate_limiter.ops`' PUT /entropy '{"rate_limiter":{"ops":{"size":1,"refill_time":100}}}'

api PUT /metrics "{\"metrics_path\":\"$T/metrics.json\"}"
assert_eq "PUT /metrics: 204" 204 "$CODE"
expect_fault "400: PUT /metrics twice" "Reinitialization" PUT /metrics "{\"metrics_path\":\"$T/metrics.json\"}"
api PUT /logger "{\"log_path\":\"$T/fc.log\",\"level\":\"Info\"}"
assert_eq "PUT /logger: 204" 204 "$CODE"
api PUT /network-interfaces/eth0 '{"iface_id":"eth0","guest_mac":"AA:FC:00:00:00:01","host_dev_name":"tap0"}'
assert_eq "PUT /network-interfaces/eth0: 204" 204 "$CODE"
boot_source=$(jq -nc --arg k "$KERNEL" --arg i "${FC_INITRD:-}" \
  '{kernel_image_path: $k, boot_args: "console=ttyS0 reboot=k panic=1 pci=off init=/fc-init fc.mmds"} + (if $i == "" then {} else {initrd_path: $i} end)')
api PUT /boot-source "$boot_source"
assert_eq "PUT /boot-source: 204" 204 "$CODE"
api PUT /drives/rootfs "{\"drive_id\":\"rootfs\",\"path_on_host\":\"$T/rootfs.ext4\",\"is_root_device\":true,\"is_read_only\":false}"
assert_eq "PUT /drives/rootfs: 204" 204 "$CODE"
expect_fault "400: a second root drive" '`is_root_device`' PUT /drives/other "{\"drive_id\":\"other\",\"path_on_host\":\"$T/rootfs.ext4\",\"is_root_device\":true}"
api PUT /machine-config '{"vcpu_count":1,"mem_size_mib":256}'
assert_eq "PUT /machine-config: 204" 204 "$CODE"
truncate -s 8M "$T/data1.img"; truncate -s 16M "$T/data2.img"
api PUT /drives/data "{\"drive_id\":\"data\",\"path_on_host\":\"$T/data1.img\",\"is_root_device\":false,\"is_read_only\":false}"
assert_eq "PUT /drives/data: 204" 204 "$CODE"
api PUT /entropy '{}'
assert_eq "PUT /entropy: 204" 204 "$CODE"
api PUT /balloon '{"amount_mib":0,"deflate_on_oom":true,"stats_polling_interval_s":1}'
assert_eq "PUT /balloon: 204" 204 "$CODE"
api PUT /mmds/config '{"version":"V2","network_interfaces":["eth0"]}'
assert_eq "PUT /mmds/config: 204" 204 "$CODE"
api PUT /mmds '{"latest":{"meta-data":{"ami-id":"ami-12345678","reservation-id":"r-1"}}}'
assert_eq "PUT /mmds: 204" 204 "$CODE"
api PUT /actions '{"action_type":"InstanceStart"}'
assert_eq "InstanceStart: 204" 204 "$CODE"
api GET /
assert_eq "GET /: Running" Running "$(jq -r .state <<<"$BODY")"
assert_eq "InstanceStart: one QEMU of this test runs (so the 'no QEMU left' checks can fail)" 1 "$(our_qemus | wc -l)"
qemu=$(our_qemus)
assert_eq "QEMU's parent is the vessel client" "$VMM_PID $(readlink -f "$VESSEL")" \
  "$(ps -o ppid= -p "$qemu" | tr -d ' ') $(readlink -f /proc/"$(ps -o ppid= -p "$qemu" | tr -d ' ')"/exe)"
assert_eq "no JVM serves the VM: the client's processes are QEMU (and MMDS's socat)" "" \
  "$(descendants "$VMM_PID" | awk '$2 !~ /^(qemu-system-x86|socat)$/')"
assert_eq "no JVM serves the VM: no vessel-firecracker process of its own" "" "$(pgrep -af 'dev[.]vessel[.]firecracker')"
assert_eq "vesseld serves the API socket" "$("$VESSEL" daemon status)" \
  "$(ss -xlpn | grep -F " $SOCK " | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n1)"

if wait_for 60 "ip netns exec $NS ping -c1 -W1 172.16.0.2"; then
  pass "getting started: the host pings the guest at 172.16.0.2"
else
  fail "getting started: the host pings the guest at 172.16.0.2" "serial: $(tail -5 "$T/serial.log")" "vmm: $(tail -3 "$T/vmm.err")"
fi
wait_for 10 "grep -q 'fc-init: network up' '$T/serial.log'"
assert_contains "serial: the guest's ttyS0 is vessel vmm's stdout" "$(cat "$T/serial.log")" "fc-init: network up"

wait_for 20 "grep -q 'mmds: ami-id' '$T/serial.log'"
assert_contains "MMDS V2: a GET without a token is refused" "$(cat "$T/serial.log")" "mmds: no token, refused"
assert_contains "MMDS V2: the guest reads its metadata with a session token" "$(grep -a 'mmds: ami-id' "$T/serial.log")" "ami-12345678"
assert_contains "entropy: the guest's hwrng is virtio-rng" "$(grep -a '^rng:' "$T/serial.log")" "virtio_rng"
# balloon: statistics from the guest's driver, then inflated by 64 MiB
wait_for 20 "curl -sf --unix-socket '$SOCK' http://localhost/balloon/statistics | jq -e '.total_memory > 0'"
api GET /balloon/statistics
assert_eq "GET /balloon/statistics: 200" 200 "$CODE"
assert_ne "GET /balloon/statistics: the guest reports its memory" null "$(jq -r .total_memory <<<"$BODY")"
api PATCH /balloon '{"amount_mib":64}'
assert_eq "PATCH /balloon after boot: 204" 204 "$CODE"
if wait_for 30 "curl -sf --unix-socket '$SOCK' http://localhost/balloon/statistics | jq -e '.actual_mib == 64'"; then
  pass "balloon: the guest gives back 64 MiB"
else fail "balloon: the guest gives back 64 MiB" "$(curl -s --unix-socket "$SOCK" http://localhost/balloon/statistics)"; fi
# a drive's backing file swapped under the running guest
api PATCH /drives/data "{\"drive_id\":\"data\",\"path_on_host\":\"$T/data2.img\"}"
assert_eq "PATCH /drives/data after boot: 204" 204 "$CODE"
if wait_for 10 "grep -aq 'vdb: detected capacity change from 16384 to 32768' '$T/serial.log'"; then
  pass "PATCH /drives: the guest sees the new file's size"
else fail "PATCH /drives: the guest sees the new file's size" "$(grep -a vdb "$T/serial.log")"; fi
api GET /vm/config
assert_eq "PATCH /drives: GET /vm/config has the new file" "$T/data2.img" "$(jq -r '.drives[] | select(.drive_id == "data") | .path_on_host' <<<"$BODY")"
api PATCH /mmds '{"latest":{"meta-data":{"reservation-id":null,"hostname":"fc"}}}'
assert_eq "PATCH /mmds after boot: 204" 204 "$CODE"
api GET /mmds
assert_eq "GET /mmds: merged" '{"ami-id":"ami-12345678","hostname":"fc"}' "$(jq -c '.latest."meta-data"' <<<"$BODY")"
expect_fault "400: PUT /boot-source after InstanceStart" "pre-boot" PUT /boot-source "$boot_source"
expect_fault "400: PUT /machine-config after InstanceStart" "/machine-config" PUT /machine-config '{"vcpu_count":2,"mem_size_mib":256}'
expect_fault "400: PATCH /machine-config after InstanceStart" "PATCH /machine-config" PATCH /machine-config '{"mem_size_mib":512}'
expect_fault "400: PUT /mmds/config after InstanceStart" "pre-boot" PUT /mmds/config '{"network_interfaces":["eth0"]}'
expect_fault "400: PUT /snapshot/load on a started VM" "pre-boot" PUT /snapshot/load "{\"snapshot_path\":\"$T/s\",\"mem_file_path\":\"$T/m\"}"
expect_fault "400: PATCH /network-interfaces with a rate limiter" '`rx_rate_limiter`' PATCH /network-interfaces/eth0 '{"iface_id":"eth0","rx_rate_limiter":{"bandwidth":{"size":100000,"refill_time":100}}}'
api PATCH /network-interfaces/eth0 '{"iface_id":"eth0"}'
assert_eq "PATCH /network-interfaces without a limiter: 204" 204 "$CODE"
expect_fault "400: PATCH /drives of no such drive" '`drive_id`' PATCH /drives/nope '{"drive_id":"nope"}'
api GET /balloon
assert_eq "GET /balloon: the new target" 64 "$(jq -r .amount_mib <<<"$BODY")"
api GET /vm/config
assert_eq "GET /vm/config: the drive" "$T/rootfs.ext4" "$(jq -r '.drives[0].path_on_host' <<<"$BODY")"
assert_eq "GET /vm/config: the interface" tap0 "$(jq -r '."network-interfaces"[0].host_dev_name' <<<"$BODY")"
assert_eq "GET /vm/config: machine-config" 256 "$(jq -r '."machine-config".mem_size_mib' <<<"$BODY")"

# pause / resume
api PATCH /vm '{"state":"Paused"}'
assert_eq "PATCH /vm Paused: 204" 204 "$CODE"
api GET /
assert_eq "GET /: Paused" Paused "$(jq -r .state <<<"$BODY")"
check_fails "paused: the guest does not answer" ip netns exec "$NS" ping -c1 -W1 172.16.0.2
api PATCH /vm '{"state":"Resumed"}'
assert_eq "PATCH /vm Resumed: 204" 204 "$CODE"
if wait_for 15 "ip netns exec $NS ping -c1 -W1 172.16.0.2"; then pass "resumed: the guest answers again"
else fail "resumed: the guest answers again"; fi

api PUT /actions '{"action_type":"FlushMetrics"}'
assert_eq "FlushMetrics: 204" 204 "$CODE"
run jq -e '.utc_timestamp_ms > 0 and .put_api_requests.actions_count >= 1' "$T/metrics.json"
assert_eq "metrics: a JSON line with Firecracker's counters" 0 "$RC"
assert_contains "logger: the log names the requests" "$(cat "$T/fc.log")" 'PUT request on "/actions"'

# shutdown: Ctrl+Alt+Del -> busybox init reboots -> QEMU ends -> vessel vmm exits, removing its sockets
wait_for 10 "grep -q 'fc-guest: init running' '$T/serial.log'"
api PUT /actions '{"action_type":"SendCtrlAltDel"}'
assert_eq "SendCtrlAltDel: 204" 204 "$CODE"
if wait_for 30 "! kill -0 $VMM_PID"; then pass "SendCtrlAltDel: the guest shuts down and vessel vmm exits"
else fail "SendCtrlAltDel: the guest shuts down and vessel vmm exits" "serial: $(tail -5 "$T/serial.log")"; fi
wait "$VMM_PID" 2>/dev/null
assert_eq "vessel vmm: exit status 0 after a clean guest shutdown" 0 "$?"
VMM_PID=
assert_eq "vessel vmm: its API and QMP sockets are gone" "" "$(ls -A "$T" | grep -E '^fc\.sock')"
assert_eq "vessel vmm: no QEMU left" "" "$(our_qemus)"

# --- --config-file: Firecracker's JSON layout boots at once; then a snapshot, loaded by a new vessel vmm ---
jq -n --arg k "$KERNEL" --arg i "${FC_INITRD:-}" --arg d "$T/rootfs.ext4" '{
  "boot-source": ({kernel_image_path: $k, boot_args: "console=ttyS0 reboot=k panic=1 pci=off init=/fc-init fc.count"}
                  + (if $i == "" then {} else {initrd_path: $i} end)),
  "drives": [{drive_id: "rootfs", path_on_host: $d, is_root_device: true, is_read_only: false}],
  "network-interfaces": [{iface_id: "eth0", guest_mac: "AA:FC:00:00:00:01", host_dev_name: "tap0"}],
  "machine-config": {vcpu_count: 2, mem_size_mib: 256}
}' > "$T/vm.json"
start_vmm --api-sock "$SOCK" --config-file "$T/vm.json" --id fc-test-2
if wait_for 60 "ip netns exec $NS ping -c1 -W1 172.16.0.2"; then pass "--config-file: the guest boots and answers"
else fail "--config-file: the guest boots and answers" "serial: $(tail -5 "$T/serial.log")" "vmm: $(tail -3 "$T/vmm.err")"; fi
api GET /
assert_eq "--config-file: GET / says Running with its --id" "fc-test-2 Running" "$(jq -r '"\(.id) \(.state)"' <<<"$BODY")"
count() { grep -a '^count ' "$1" | tail -1 | cut -d' ' -f2 | tr -d '\r'; }
wait_for 15 "grep -q '^count 2' '$T/serial.log'"
expect_fault "snapshot: a running VM is refused" "paused" PUT /snapshot/create "{\"snapshot_path\":\"$T/snap.json\",\"mem_file_path\":\"$T/snap.mem\"}"
api PATCH /vm '{"state":"Paused"}'
api PUT /snapshot/create "{\"snapshot_path\":\"$T/snap.json\",\"mem_file_path\":\"$T/snap.mem\"}"
assert_eq "snapshot/create: 204" 204 "$CODE"
before=$(count "$T/serial.log")
run jq -r '.config."machine-config".vcpu_count' "$T/snap.json"
assert_eq "snapshot/create: the state file holds the VM's configuration" 2 "$OUT"
assert_ne "snapshot/create: the memory file holds the guest" 0 "$(stat -c %s "$T/snap.mem" 2>/dev/null || echo 0)"
kill -TERM "$VMM_PID"
if wait_for 15 "! kill -0 $VMM_PID"; then pass "SIGTERM: vessel vmm exits"; else fail "SIGTERM: vessel vmm exits"; fi
VMM_PID=
assert_eq "SIGTERM: no socket, no QEMU left" "" "$(ls -A "$T" | grep -E '^fc\.sock')$(our_qemus)"

start_vmm --api-sock "$SOCK"
wait_for 30 "[ -S '$SOCK' ]"
api PUT /snapshot/load "{\"snapshot_path\":\"$T/snap.json\",\"mem_file_path\":\"$T/snap.mem\",\"resume_vm\":true}"
assert_eq "snapshot/load: 204" 204 "$CODE"
api GET /
assert_eq "snapshot/load: Running" Running "$(jq -r .state <<<"$BODY")"
wait_for 15 "grep -q '^count ' '$T/serial.log'"
after=$(grep -a '^count ' "$T/serial.log" | head -1 | cut -d' ' -f2 | tr -d '\r')
assert_eq "snapshot/load: the guest's counter goes on from where it was ($before)" "$((before + 1))" "$after"
if wait_for 15 "ip netns exec $NS ping -c1 -W1 172.16.0.2"; then pass "snapshot/load: the restored guest answers"
else fail "snapshot/load: the restored guest answers"; fi
api GET /vm/config
assert_eq "snapshot/load: GET /vm/config is the snapshot's" tap0 "$(jq -r '."network-interfaces"[0].host_dev_name' <<<"$BODY")"
expect_fault "snapshot/load: a second load is refused" "pre-boot" PUT /snapshot/load "{\"snapshot_path\":\"$T/snap.json\",\"mem_file_path\":\"$T/snap.mem\"}"

# kill -9 of vesseld: the guest is the client's and runs on; the API it served is gone with it
# (as Firecracker's is with its process): the client removes the sockets; a new daemon does not
# serve this VM again
kill -KILL "$("$VESSEL" daemon status)"
if wait_for 10 "! ls -A '$T' | grep -qE '^fc\.sock'"; then pass "kill -9 of vesseld: the VM's sockets are gone"
else fail "kill -9 of vesseld: the VM's sockets are gone" "$(ls -A "$T" | grep -E '^fc\.sock')"; fi
assert_contains "kill -9 of vesseld: vessel vmm says so" "$(cat "$T/vmm.err")" "vesseld went away"
if wait_for 15 "ip netns exec $NS ping -c1 -W1 172.16.0.2"; then pass "kill -9 of vesseld: the guest runs on"
else fail "kill -9 of vesseld: the guest runs on"; fi
check "kill -9 of vesseld: vessel vmm runs on" kill -0 "$VMM_PID"
"$VESSEL" daemon start >/dev/null
sleep 1
assert_eq "a new vesseld does not serve the VM's socket" "" "$(ls -A "$T" | grep -E '^fc\.sock')"
# kill -9 of the client: QEMU ends with it (its parent-death signal), nothing is left
qemu=$(our_qemus)
kill -KILL "$VMM_PID"; VMM_PID=
if wait_for 15 "[ -z \"\$(our_qemus)\" ]"; then pass "kill -9 of vessel vmm: its QEMU goes too"
else fail "kill -9 of vessel vmm: its QEMU goes too" "$(our_qemus)"; fi
assert_eq "after the restored VM: no socket, no QEMU left" "" "$(ls -A "$T" | grep -E '^fc\.sock')$(our_qemus)"

# kill -9 of the client while vesseld serves a running guest: the daemon removes the sockets
start_vmm --api-sock "$SOCK" --config-file "$T/vm.json"
wait_for 60 "ip netns exec $NS ping -c1 -W1 172.16.0.2" || fail "--config-file again: the guest boots" "$(tail -3 "$T/vmm.err")"
kill -KILL "$VMM_PID"; VMM_PID=
if wait_for 15 "[ -z \"\$(our_qemus)\" ] && ! ls -A '$T' | grep -qE '^fc\.sock'"; then
  pass "kill -9 of vessel vmm with a running guest: no QEMU, no socket left"
else fail "kill -9 of vessel vmm with a running guest: no QEMU, no socket left" "$(our_qemus) $(ls -A "$T" | grep -E '^fc\.sock')"; fi

# --no-api --config-file: the same VM without an API socket; SIGINT reaches QEMU as it would end Firecracker
start_vmm --no-api --config-file "$T/vm.json"
if wait_for 60 "ip netns exec $NS ping -c1 -W1 172.16.0.2"; then pass "--no-api --config-file: the guest boots and answers"
else fail "--no-api --config-file: the guest boots and answers" "$(tail -3 "$T/vmm.err")"; fi
assert_eq "--no-api: QEMU's parent is the vessel client" "$VMM_PID" "$(ps -o ppid= -p "$(our_qemus)" | tr -d ' ')"
kill -INT "$VMM_PID"
if wait_for 15 "! kill -0 $VMM_PID"; then pass "--no-api: SIGINT ends vessel vmm"; else fail "--no-api: SIGINT ends vessel vmm"; fi
assert_contains "--no-api: the SIGINT went on to QEMU" "$(cat "$T/vmm.err")" "terminating on signal 2"
assert_eq "--no-api: no QEMU, no socket left" "" "$(our_qemus)$(ls /run | grep -E "^vessel-vmm-$VMM_PID\.")"
VMM_PID=

summary
