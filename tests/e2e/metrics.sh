#!/usr/bin/env bash
# The management plane (issue 11): the JSON API on vesseld's api.sock and the Prometheus metrics,
# checked with real parts: a container and a microVM made with the raw OCI commands, each with
# `-m 256m` (linux.resources.memory.limit = 268435456), and a real Prometheus (Debian's) on
# loopback, with its own config and data dir, that scrapes a daemon of our own.
source "$(dirname "$0")/../lib.sh"

[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
command -v prometheus >/dev/null || skip_all "prometheus not installed (scripts/install-deps installs it)"
host_prepare || skip_all "host_prepare failed"
ensure_image || skip_all "image build failed"
require_assets

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
MPORT=$(free_port)
PPORT=$(free_port)
export VESSEL_SOCKET=$T/vessel/vesseld.sock
export VESSEL_CONFIG=$T/config.toml
export VESSEL_LOG=$T/vessel/vesseld.log  # the daemon's log, read below (else /var/log/vessel's)
printf 'resource_view = false\nmetrics_address = "127.0.0.1:%s"\n' "$MPORT" > "$VESSEL_CONFIG"
API_SOCK=$T/vessel/api.sock
ROOT=$T/root
RT=("$VESSEL" --root "$ROOT")
PROM_PID=
EVENTS_PID=
cleanup_metrics() {
  [ -n "$EVENTS_PID" ] && kill "$EVENTS_PID"
  [ -n "$PROM_PID" ] && kill "$PROM_PID"
  "${RT[@]}" list -q 2>/dev/null | while read -r id; do "${RT[@]}" delete -f "$id" >/dev/null 2>&1; done
  "$VESSEL" daemon stop >/dev/null 2>&1
  true
}
on_cleanup cleanup_metrics
jqf() { printf '%s' "$BODY" | jq -r "$1"; }
state_of() { "${RT[@]}" state "$1" 2>/dev/null | jq -r .status; }
export -f state_of
export ROOT

LIMIT=268435456
B_CT=$T/b-ct; mkbundle "$B_CT" ".linux.resources.memory.limit = $LIMIT | .process.args = [\"sleep\", \"1000\"]
  | .annotations[\"io.kubernetes.cri.sandbox-name\"] = \"web\" | .annotations[\"io.kubernetes.cri.sandbox-namespace\"] = \"shop\"
  | .annotations[\"io.kubernetes.cri.container-name\"] = \"nginx\""
B_VM=$T/b-vm; mkbundle "$B_VM" ".linux.resources.memory.limit = $LIMIT | .process.args = [\"sleep\", \"1000\"]
  | .annotations[\"dev.vessel.isolation\"] = \"microvm\" | .annotations[\"test.own\"] = \"kept\""

check "daemon of our own starts" "$VESSEL" daemon start
wait_for 10 "[ -S $API_SOCK ]"
assert_eq "api.sock is root's only (0600)" "600 root" "$(stat -c '%a %U' "$API_SOCK" 2>&1)"

# --- the event stream, subscribed before anything happens ---
curl -sN --unix-socket "$API_SOCK" "http://localhost/v1/events?root=$ROOT" > "$T/events.txt" 2>/dev/null &
EVENTS_PID=$!
wait_for 10 "grep -q 'vessel events' $T/events.txt"
assert_match "events: a server-sent stream" 'vessel events' "$(cat "$T/events.txt")"

check "container: create" "${RT[@]}" create --bundle "$B_CT" ct1
check "microvm: create" "${RT[@]}" create --bundle "$B_VM" vm1
check "container: start" "${RT[@]}" start ct1
check "microvm: start" "${RT[@]}" start vm1
wait_for 60 '[ "$(state_of vm1)" = running ] && [ "$(state_of ct1)" = running ]'
assert_eq "both running" "running running" "$(state_of ct1) $(state_of vm1)"

# --- the API: list, filters, inspect, stats ---
api GET "/v1/sandboxes?root=$ROOT" "" "$API_SOCK"
assert_eq "list: 200" 200 "$CODE"
assert_eq "list: both sandboxes of the root" "ct1:container vm1:microvm" "$(jqf '[.sandboxes[] | "\(.id):\(.isolation)"] | sort | join(" ")')"
api GET "/v1/sandboxes?root=$ROOT&isolation=microvm" "" "$API_SOCK"
assert_eq "list ?isolation=microvm" "vm1" "$(jqf '[.sandboxes[].id] | join(" ")')"
api GET "/v1/sandboxes?root=$ROOT&annotation=test.own%3Dkept" "" "$API_SOCK"
assert_eq "list ?annotation=test.own=kept" "vm1" "$(jqf '[.sandboxes[].id] | join(" ")')"
api GET "/v1/sandboxes?root=$ROOT&status=stopped" "" "$API_SOCK"
assert_eq "list ?status=stopped: none" "0" "$(jqf '.sandboxes | length')"
api GET "/v1/sandboxes" "" "$API_SOCK"
assert_eq "list without ?root= has ours too (every store)" "2" "$(jqf "[.sandboxes[] | select(.root == \"$ROOT\")] | length")"

api GET "/v1/sandboxes/ct1?root=$ROOT" "" "$API_SOCK"
assert_eq "inspect container: 200" 200 "$CODE"
assert_eq "inspect container: status" running "$(jqf .status)"
assert_eq "inspect container: bundle" "$B_CT" "$(jqf .bundle)"
assert_eq "inspect container: memory limit" "$LIMIT" "$(jqf .resources.memoryLimitBytes)"
assert_eq "inspect container: the CRI pod/namespace/container" "web shop nginx" "$(jqf '"\(.kubernetes.pod) \(.kubernetes.namespace) \(.kubernetes.container)"')"
CT_PID=$("${RT[@]}" state ct1 | jq -r .pid)
assert_eq "inspect container: its pids hold its process" "true" "$(jqf "[.pids[] | tostring] | index(\"$CT_PID\") != null")"
api GET "/v1/sandboxes/vm1?root=$ROOT" "" "$API_SOCK"
assert_eq "inspect microvm: isolation" microvm "$(jqf .isolation)"
assert_eq "inspect microvm: its Firecracker API socket exists" yes "$([ -S "$(jqf .apiSocket)" ] && echo yes)"
assert_eq "inspect microvm: QEMU's pid is alive" yes "$(pid_alive "$(jqf .vmmPid)" && echo yes)"
VMM_PID=$(jqf .vmmPid)
api GET "/v1/sandboxes/ct1/stats?root=$ROOT" "" "$API_SOCK"
assert_eq "stats container: limit from its cgroup" "$LIMIT cgroup" "$(jqf '"\(.stats.memoryLimitBytes) \(.stats.source)"')"
assert_eq "stats container: some memory in use" true "$(jqf '.stats.memoryUsageBytes > 0')"
api GET "/v1/sandboxes/vm1/stats?root=$ROOT" "" "$API_SOCK"
assert_eq "stats microvm: the bundle's limit" "$LIMIT" "$(jqf .stats.memoryLimitBytes)"
assert_eq "stats microvm: the guest's numbers" guest "$(jqf .stats.source)"
assert_eq "stats microvm: QEMU's cost apart, of its QEMU" "$VMM_PID true" "$(jqf '"\(.stats.vmm.pid) \(.stats.vmm.residentBytes > .stats.memoryWorkingSetBytes)"')"
assert_eq "stats microvm: the guest's processes (sleep; the agent, PID 1, is not counted)" 1 "$(jqf .stats.pids)"
API_WS=$(jqf .stats.memoryWorkingSetBytes)
run "${RT[@]}" events --stats vm1
EV_WS=$(printf '%s' "$OUT" | jq -r .data.memory.usage.usage)
assert_eq "stats microvm: the working set is events --stats' memory usage (within 10 %)" true \
  "$(awk -v a="$API_WS" -v e="$EV_WS" 'BEGIN { d = a - e; if (d < 0) d = -d; print (e > 0 && d <= e / 10) ? "true" : "false" }')"

# --- bad input: JSON errors, 404 and 400 naming the parameter ---
api GET "/v1/sandboxes/nope?root=$ROOT" "" "$API_SOCK"
assert_eq "unknown sandbox: 404" 404 "$CODE"
assert_eq "unknown sandbox: a JSON error naming it" 'sandbox "nope" does not exist under --root '"$ROOT" "$(jqf .error)"
api GET "/v1/sandboxes?status=sleeping" "" "$API_SOCK"
assert_eq "malformed query: 400" 400 "$CODE"
assert_eq "malformed query: names the parameter" status "$(jqf .parameter)"
api GET "/v1/sandboxes/ct1?colour=red" "" "$API_SOCK"
assert_eq "unknown parameter: 400 naming it" "400 colour" "$CODE $(jqf .parameter)"
api POST "/v1/sandboxes" "{}" "$API_SOCK"
assert_eq "read-only: POST is 405" 405 "$CODE"

# --- the metrics, then through a real Prometheus ---
run curl -sf "http://127.0.0.1:$MPORT/metrics"
assert_match "metrics: the container's limit, cadvisor's name" \
  "container_spec_memory_limit_bytes\{container=\"nginx\",id=\"ct1\",isolation=\"container\",namespace=\"shop\",pod=\"web\",root=\"$ROOT\"\} 2.68435456E8" "$OUT"
assert_match "metrics: the sandboxes by isolation and state" 'vessel_sandboxes\{isolation="microvm",state="running"\} [1-9]' "$OUT"
assert_match "metrics: the accelerator" 'vessel_accelerator_info\{accelerator="(tcg|kvm)"\} 1' "$OUT"

cat > "$T/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: vessel
    static_configs:
      - targets: ["127.0.0.1:$MPORT"]
YML
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prometheus-data" \
  --web.listen-address="127.0.0.1:$PPORT" > "$T/prometheus.log" 2>&1 &
PROM_PID=$!
promql() { curl -s "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // empty'; }
export -f promql; export PPORT
wait_for 60 "[ -n \"\$(promql 'container_spec_memory_limit_bytes{id=\"vm1\",root=\"$ROOT\"}')\" ]" \
  || diag "prometheus log:" "$(tail -n 5 "$T/prometheus.log")"
assert_eq "prometheus: the container's memory limit is 256 MiB" "$LIMIT" "$(promql "container_spec_memory_limit_bytes{id=\"ct1\",root=\"$ROOT\"}")"
assert_eq "prometheus: the microVM's memory limit is 256 MiB" "$LIMIT" "$(promql "container_spec_memory_limit_bytes{id=\"vm1\",root=\"$ROOT\"}")"
assert_eq "prometheus: the microVM is running" 1 "$(promql "vessel_sandbox_state{id=\"vm1\",root=\"$ROOT\",state=\"running\"}")"
assert_eq "prometheus: the microVM's numbers are its guest's" 1 "$(promql "vessel_sandbox_stats_source_info{id=\"vm1\",root=\"$ROOT\",source=\"guest\"}")"
assert_eq "prometheus: the microVM's QEMU has its own resident memory" true "$(v=$(promql "vessel_sandbox_vmm_resident_memory_bytes{id=\"vm1\",root=\"$ROOT\"}"); [ -n "$v" ] && awk -v v="$v" 'BEGIN {exit !(v > 0)}' && echo true)"
assert_eq "prometheus: the microVM's stats are not stale" 0 "$(promql "vessel_sandbox_stats_stale{id=\"vm1\",root=\"$ROOT\"}")"
assert_eq "prometheus: the microVM's boot took some time" true "$(v=$(promql "vessel_sandbox_boot_seconds{id=\"vm1\",root=\"$ROOT\"}"); [ -n "$v" ] && awk -v v="$v" 'BEGIN {exit !(v > 0)}' && echo true)"
assert_eq "prometheus: the pod label from the CRI annotation" web "$(curl -s "http://127.0.0.1:$PPORT/api/v1/query" \
  --data-urlencode "query=container_memory_working_set_bytes{id=\"ct1\",root=\"$ROOT\"}" | jq -r '.data.result[0].metric.pod')"

# --- delete: the stream told create, start, delete of each ---
check "container: delete" "${RT[@]}" delete -f ct1
check "microvm: delete" "${RT[@]}" delete -f vm1
wait_for 15 "grep -q '\"type\":\"delete\",\"id\":\"vm1\"' $T/events.txt && grep -q '\"type\":\"delete\",\"id\":\"ct1\"' $T/events.txt"
for id in ct1 vm1; do
  got=$(sed -n 's/^data: //p' "$T/events.txt" | jq -r "select(.id == \"$id\") | .type" | grep -E '^(create|start|delete)$' | tr '\n' ' ')
  assert_eq "events: $id was created, started and deleted, in order" "create start delete " "$got"
done
kill "$EVENTS_PID"; EVENTS_PID=

# --- a metrics address that cannot be bound: one line, and the daemon serves all the rest ---
printf 'resource_view = false\nmetrics_address = "127.0.0.1:%s"\n' "$PPORT" > "$VESSEL_CONFIG"  # Prometheus holds it
check "daemon: stop" "$VESSEL" daemon stop
check "daemon: starts with a busy metrics address" "$VESSEL" daemon start
wait_for 10 '"$VESSEL" doctor | grep -q "^metrics: metrics_address"'
run "$VESSEL" doctor
assert_match "doctor: says the metrics address cannot be bound" "metrics: metrics_address 127.0.0.1:$PPORT cannot be bound" "$OUT"
assert_eq "log: one line about it" 1 "$(grep -c "metrics_address 127.0.0.1:$PPORT cannot be bound" "$T/vessel/vesseld.log" 2>&1)"
wait_for 10 "[ -S $API_SOCK ]"
api GET "/v1/sandboxes?root=$ROOT" "" "$API_SOCK"
assert_eq "a restarted daemon serves the API again" "200 0" "$CODE $(jqf '.sandboxes | length')"
check "and the client protocol" "${RT[@]}" list
printf 'resource_view = false\nmetrics_address = "nonsense"\n' > "$VESSEL_CONFIG"
check "daemon: stop again" "$VESSEL" daemon stop
check "daemon: starts with a malformed metrics address" "$VESSEL" daemon start
wait_for 10 '"$VESSEL" doctor | grep -q "^metrics: metrics_address"'
run "$VESSEL" doctor
assert_match "doctor: says the address is not HOST:PORT" 'metrics: metrics_address "nonsense" is not HOST:PORT' "$OUT"

summary
