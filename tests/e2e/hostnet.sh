#!/usr/bin/env bash
# The suites' networks are their own (issue 10, item 2). On a host whose podman already made its
# default bridge — cni-podman0 with 10.88.0.1/16, as `podman run` leaves it — the test podman runs a
# container, a published port and a microVM on its own network (vessel-test, bridge vessel-tpod0,
# 10.213.88.0/24); afterwards cni-podman0 is as it was, and the host's links, addresses, network
# namespaces, iptables chains and CNI cache are exactly as before.
source "$(dirname "$0")/../lib.sh"

diag "runtime: $VESSEL"
[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
host_prepare || skip_all "host_prepare failed"
for t in ip iptables curl jq; do command -v "$t" >/dev/null || skip_all "$t not installed"; done
run "$VESSEL" assets show
[ "$RC" = 0 ] || skip_all "guest assets missing (bin/vessel assets build): $ERR"

BB=$IMAGE_NAME
P=hn$$
PORT=18081
HOST_BR=cni-podman0
br_addr() { ip -o -4 addr show dev "$1" 2>/dev/null | awk '{print $4}'; }
cni_cache_before=$([ -e /var/lib/cni ] && echo present || echo absent)
before=$(host_net_snapshot)

# --- the host's situation: podman's own default bridge, made as podman makes it ---
made_host_br=
if ! ip link show "$HOST_BR" >/dev/null 2>&1; then
  ip link add "$HOST_BR" type bridge && ip addr add 10.88.0.1/16 dev "$HOST_BR" && ip link set "$HOST_BR" up \
    || skip_all "cannot make $HOST_BR"
  made_host_br=1
  on_cleanup "ip link del $HOST_BR"
fi
host_br_addr=$(br_addr "$HOST_BR")
[ -n "$made_host_br" ] && assert_eq "the host's podman bridge $HOST_BR has podman's default 10.88.0.1/16" 10.88.0.1/16 "$host_br_addr"
diag "$HOST_BR: ${host_br_addr:-no IPv4 address}$([ -z "$made_host_br" ] && echo ' (the host'"'"'s own)')"
host_with_br=$(host_net_snapshot)

podman_start || skip_all "podman set-up failed"

# --- the test podman's default network is its own ---
run podman_t network ls --format '{{.Name}} {{.NetworkInterface}}'
assert_contains "podman network ls: the test network ($PODMAN_NET on $PODMAN_BRIDGE)" "$OUT" "$PODMAN_NET $PODMAN_BRIDGE"
assert_not_contains "podman network ls: not podman's default network" "$OUT" "$HOST_BR"

run podman_v run --rm "$BB" sh -c 'ip -o -4 addr show dev eth0; ip route'
assert_eq "a container on the default network with $HOST_BR present: exit 0" 0 "$RC"
assert_contains "... its address is in the test subnet $PODMAN_SUBNET" "$OUT" "inet ${PODMAN_SUBNET%.*}."
assert_contains "... its default route is the test bridge" "$OUT" "default via $PODMAN_GATEWAY"
assert_not_contains "... no error about $HOST_BR" "$ERR" "$HOST_BR"
assert_eq "the test bridge $PODMAN_BRIDGE has the test gateway" "$PODMAN_GATEWAY/${PODMAN_SUBNET#*/}" "$(br_addr "$PODMAN_BRIDGE")"
assert_eq "$HOST_BR is untouched while the test podman runs" "$host_br_addr" "$(br_addr "$HOST_BR")"

web=$(podman_v run -d --name "$P-web" -p "$PORT:80" "$BB" httpd -f -p 80 -h /www)
check "a web server with a published port starts" [ -n "$web" ]
wait_for 30 "curl -sf -m 2 http://127.0.0.1:$PORT/ >/dev/null"
run curl -sf -m 5 "http://127.0.0.1:$PORT/"
assert_eq "-p $PORT:80: the host reaches the container" "$(cat "$IMAGE_DIR/rootfs/www/index.html")" "$OUT"

run podman_v run --rm --annotation dev.vessel.isolation=microvm "$BB" sh -c 'ip -o -4 addr show dev eth0'
assert_eq "a microVM on the test network with $HOST_BR present: exit 0" 0 "$RC"
assert_contains "... the guest's address is in the test subnet" "$OUT" "inet ${PODMAN_SUBNET%.*}."
assert_not_contains "... no error about $HOST_BR" "$ERR" "$HOST_BR"

# --- the suite's end: what podman_stop leaves (the same runs at exit of every suite) ---
podman_stop
assert_eq "after podman_stop: $HOST_BR still has ${host_br_addr:-its address}" "$host_br_addr" "$(br_addr "$HOST_BR")"
run ip link show "$PODMAN_BRIDGE"
assert_ne "after podman_stop: no test bridge $PODMAN_BRIDGE" 0 "$RC"
assert_eq "after podman_stop: no network namespace left" "" "$(ip netns list | grep -E '^(cni|netns)-' || true)"
assert_eq "after podman_stop: no iptables chain left by the CNI plugins" "" \
  "$(comm -13 <(sed -n '/^# iptables/,$p' <<<"$host_with_br" | tail -n +2) <(iptables_chains))"
assert_eq "after podman_stop: libcni's cache dir /var/lib/cni as before" "$cni_cache_before" \
  "$([ -e /var/lib/cni ] && echo present || echo absent)"
assert_eq "after podman_stop: links, addresses, netns and iptables chains as before" "$host_with_br" "$(host_net_snapshot)"
if [ -n "$made_host_br" ]; then
  ip link del "$HOST_BR"
  assert_eq "the host as it was found (without the $HOST_BR this test made)" "$before" "$(host_net_snapshot)"
fi

summary
