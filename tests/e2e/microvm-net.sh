#!/usr/bin/env bash
# MicroVM networking (issue #5): the guest takes over the container's veth (tap + tc redirects both
# ways, the veth's MAC, addresses, MTU and routes) and is on the network exactly where a container
# would be: under podman's default network, under containerd with a namespace made by CNI's bridge
# plugin, and with no usable interface (loopback only, a warning). Nothing is left behind.
# Only addresses inside namespaces and bridges this test makes are used.
source "$(dirname "$0")/../lib.sh"

diag "runtime: $VESSEL"
[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
host_prepare || skip_all "host_prepare failed"
require_assets
[ -x /usr/lib/cni/bridge ] || skip_all "CNI plugins missing (apt-get install containernetworking-plugins)"
podman_start || skip_all "podman set-up failed"

BB=$IMAGE_NAME
P=vn$$
VM=(--annotation dev.vessel.isolation=microvm)
PORT=18080
# busybox-static's wget crashes on this glibc (static NSS), so HTTP from inside goes through nc
http_get() { podman_t exec "$1" sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 $2 80"; }
export -f http_get
PAGE=$(cat "$IMAGE_DIR/rootfs/www/index.html")
ip_of() { podman_t inspect -f '{{.NetworkSettings.IPAddress}}' "$1"; }
DAEMON_LOG=${VESSEL_LOG:-/var/log/vessel/vesseld.log}

# --- podman, default network: published port, the bridge, other microVMs and containers ---
web=$(podman_v run -d --name "$P-web" -p "$PORT:80" "${VM[@]}" "$BB" httpd -f -p 80 -h /www)
check "podman: a microVM web server starts" [ -n "$web" ]
wait_for 60 "curl -sf -m 2 http://127.0.0.1:$PORT/ >/dev/null"
run curl -sf -m 5 "http://127.0.0.1:$PORT/"
assert_eq "podman -p $PORT:80: curl from the host reaches httpd in the guest" 0 "$RC"
assert_eq "podman -p: the page is the image's /www/index.html" "$PAGE" "$OUT"
web_ip=$(ip_of "$web")
gateway=$(podman_t network inspect "$PODMAN_NET" -f '{{range .Subnets}}{{.Gateway}}{{end}}' 2>/dev/null)
assert_eq "podman: the test network's gateway is the test bridge's" "$PODMAN_GATEWAY" "$gateway"
run podman_t exec "$web" sh -c "ip -o -4 addr show dev eth0; cat /sys/class/net/eth0/address; ip route"
assert_contains "podman: the guest's eth0 has the container's address" "$OUT" "inet $web_ip/"
assert_contains "podman: the guest's default route is the bridge" "$OUT" "default via $gateway"
veth_mac=$(podman_t inspect -f '{{.NetworkSettings.MacAddress}}' "$web")
assert_match "podman reports the container's MAC" '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' "$veth_mac"
assert_contains "podman: the guest's MAC is the veth's" "$OUT" "${veth_mac:-(podman reported no MAC)}"
run podman_t exec "$web" ping -c 1 -W 3 "$gateway"
assert_eq "podman: the guest reaches the host's bridge address ($gateway)" 0 "$RC"
# podman writes these files on the host and bind-mounts them; the guest must see the same contents
for f in hosts resolv.conf hostname; do
  key=$(case $f in hosts) echo HostsPath ;; resolv.conf) echo ResolvConfPath ;; hostname) echo HostnamePath ;; esac)
  host_file=$(podman_t inspect -f "{{.$key}}" "$web")
  run podman_t exec "$web" cat "/etc/$f"
  assert_eq "podman: the guest's /etc/$f is podman's ($key)" "$(cat "$host_file" 2>&1)" "$OUT"
done
run podman_t exec "$web" cat /etc/hosts
assert_contains "podman: /etc/hosts names the container" "$OUT" "$P-web"
run podman_t exec "$web" uname -r
assert_ne "podman: the web server runs in its own kernel" "$(uname -r)" "$OUT"

peer=$(podman_v run -d --name "$P-peer" "${VM[@]}" "$BB" httpd -f -p 80 -h /www)
wait_for 60 "[ \"\$(podman_t exec $peer echo up 2>/dev/null)\" = up ]"
peer_ip=$(ip_of "$peer")
run http_get "$peer" "$web_ip"
assert_contains "podman: two microVMs on one network reach each other by address" "$OUT" "$PAGE"
run podman_t exec "$web" ping -c 1 -W 3 "$peer_ip"
assert_eq "podman: and back (ping)" 0 "$RC"

plain=$(podman_v run -d --name "$P-plain" "$BB" httpd -f -p 80 -h /www)
wait_for 10 "[ -n \"\$(podman_t inspect -f '{{.NetworkSettings.IPAddress}}' $plain 2>/dev/null)\" ]"
plain_ip=$(ip_of "$plain")
run http_get "$plain" "$web_ip"
assert_contains "podman: a plain container reaches a microVM" "$OUT" "$PAGE"
run http_get "$web" "$plain_ip"
assert_contains "podman: a microVM reaches a plain container" "$OUT" "$PAGE"

run podman_v run --rm --network none "${VM[@]}" "$BB" ls /sys/class/net
assert_eq "podman --network none: loopback only" lo "$OUT"

podman_t rm -f -t 0 "$web" "$peer" "$plain" >/dev/null 2>&1
run curl -sf -m 2 "http://127.0.0.1:$PORT/"
assert_ne "podman rm: the port no longer answers" 0 "$RC"

# --- containerd: a namespace made by CNI's bridge plugin, IPv4 + IPv6, MTU 1400 ---
containerd_start || skip_all "containerd did not start"
containerd_import || skip_all "ctr images import failed"
NS=vessel-$P
BR=vbr$$
CNI_CONF=$T/bridge.conf
cat > "$CNI_CONF" <<EOF
{"cniVersion": "1.0.0", "name": "vessel-ctr-test", "type": "bridge", "bridge": "$BR", "isGateway": true,
 "ipMasq": false, "mtu": 1400,
 "ipam": {"type": "host-local", "dataDir": "$T/cni-ipam",
          "ranges": [[{"subnet": "10.213.77.0/24"}], [{"subnet": "fd00:213:77::/64"}]],
          "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]}}
EOF
cni() { # ADD|DEL NETNS-NAME
  CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=/run/netns/$2 CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni \
    /usr/lib/cni/bridge < "$CNI_CONF"
}
host_sysctls > "$T/.cni-sysctls-before"   # the bridge plugin turns on forwarding (isGateway)
cleanup_net() {
  local n
  for n in $(ip netns list | awk -v p="vessel-$P" 'index($1, p) == 1 {print $1}'); do
    cni DEL "$n" >/dev/null 2>&1; ip netns del "$n" 2>/dev/null
  done
  ip link del "$BR" 2>/dev/null
  host_sysctls_restore "$T/.cni-sysctls-before"
  return 0
}
on_cleanup cleanup_net
ip netns add "$NS"
result=$(cni ADD "$NS")
check "CNI bridge ADD made the container's network" [ -n "$result" ]
ctr_ip=$(printf '%s' "$result" | jq -r '.ips[] | select(.address | contains(".")) | .address' | cut -d/ -f1)
ctr_ip6=$(printf '%s' "$result" | jq -r '.ips[] | select(.address | contains(":")) | .address' | cut -d/ -f1)
diag "CNI gave $ctr_ip and $ctr_ip6"
ctr_run -d --with-ns "network:/run/netns/$NS" "${VM[@]}" "$BB" "$P-ctr" httpd -f -p 80 -h /www >/dev/null
wait_for 60 "ping -c 1 -W 1 $ctr_ip >/dev/null"
run ping -c 1 -W 3 "$ctr_ip"
assert_eq "ctr --with-ns: the guest answers ping on the veth's address" 0 "$RC"
wait_for 30 "curl -sf -m 2 http://$ctr_ip/ >/dev/null"
run curl -sf -m 5 "http://$ctr_ip/"
assert_eq "ctr --with-ns: the guest answers TCP (httpd)" 0 "$RC"
wait_for 10 "ping -6 -c 1 -W 1 $ctr_ip6 >/dev/null"
run ping -6 -c 1 -W 3 "$ctr_ip6"
assert_eq "ctr --with-ns: the guest answers ping -6 on the veth's IPv6 address" 0 "$RC"
run ctr_exec --exec-id mtu "$P-ctr" cat /sys/class/net/eth0/mtu
assert_eq "ctr --with-ns: the guest's MTU is the veth's (1400)" 1400 "$OUT"
run ip netns exec "$NS" tc filter show dev eth0 ingress
assert_contains "ctr: the veth's ingress is redirected to the tap" "$OUT" "tap0_vessel"
ctr_t tasks kill -s SIGKILL "$P-ctr" >/dev/null 2>&1
wait_for 30 "! ctr_t tasks ls 2>/dev/null | grep -q '^$P-ctr '"
ctr_t containers rm "$P-ctr" >/dev/null 2>&1
run ip netns exec "$NS" tc qdisc show dev eth0 ingress
assert_eq "ctr rm: no qdisc or filter left on the veth" "" "$OUT"
run ip -n "$NS" -o link show
assert_not_contains "ctr rm: no tap left" "$OUT" "tap0_vessel"

# --- the raw OCI commands: QEMU killed, a namespace with nothing usable, many cycles ---
B=$T/bundle
mkbundle "$B" "(.linux.namespaces |= map(if .type == \"network\" then .path = \"/run/netns/$NS\" else . end))
  | .annotations[\"dev.vessel.isolation\"] = \"microvm\" | .process.args = [\"sleep\", \"1000\"]"
R=$T/root
"$VESSEL" --root "$R" create --bundle "$B" "$P-kill" >/dev/null
d=$(vm_run_dir "$R" "$P-kill")
qpid=$([ -n "$d" ] && qemus_of "$d/")
assert_match "the container's QEMU is found by its run dir" '^[0-9]+$' "$qpid"
kill -9 "${qpid:-no-qemu}"
wait_for 10 "[ \"\$(vessel_status $R $P-kill)\" = stopped ]" && pass "QEMU killed: vessel state says stopped" \
  || fail "QEMU killed: vessel state says stopped" "status: $(vessel_status "$R" "$P-kill")"
"$VESSEL" --root "$R" delete --force "$P-kill" >/dev/null 2>&1
run ip netns exec "$NS" tc qdisc show dev eth0 ingress
assert_eq "QEMU killed, then delete: no qdisc left on the veth" "" "$OUT"
run ip -n "$NS" -o link show
assert_not_contains "QEMU killed: no tap left" "$OUT" "tap0_vessel"

EMPTY=vessel-$P-empty
ip netns add "$EMPTY"
ip -n "$EMPTY" link add v0 type veth peer name v1   # down, no address: nothing to take over
mkbundle "$T/empty" "(.linux.namespaces |= map(if .type == \"network\" then .path = \"/run/netns/$EMPTY\" else . end))
  | .annotations[\"dev.vessel.isolation\"] = \"microvm\" | .process.args = [\"ls\", \"/sys/class/net\"]"
run "$VESSEL" --root "$R" run --bundle "$T/empty" "$P-empty"
assert_eq "no usable interface: the VM starts" 0 "$RC"
assert_eq "no usable interface: loopback only" lo "$OUT"
check_fails "no usable interface: the run left no run dir" test -e "$(vm_run_dir_of "$R" "$P-empty")"
assert_contains "no usable interface: a warning in the daemon's log" "$(tail -n 50 "$DAEMON_LOG" 2>/dev/null)" \
  "/run/netns/$EMPTY has no usable interface"

mkbundle "$T/gone" "(.linux.namespaces |= map(if .type == \"network\" then .path = \"/run/netns/vessel-$P-none\" else . end))
  | .annotations[\"dev.vessel.isolation\"] = \"microvm\""
run "$VESSEL" --root "$R" create --bundle "$T/gone" "$P-gone"
assert_ne "a network namespace that does not exist: create fails" 0 "$RC"
assert_eq "a network namespace that does not exist: one line naming it" \
  "vessel: container \"$P-gone\": network namespace /run/netns/vessel-$P-none does not exist" "$ERR"
assert_eq "a network namespace that does not exist: no state left" "" "$(ls "$R" 2>/dev/null | grep "$P-gone" || true)"

# the cycles' containers have volumes (a directory and a single file, :ro), shared over 9p
VOL=$T/vol
mkdir -p "$VOL/d"; echo vol-file > "$VOL/f"
BV=$T/vbundle
mkbundle "$BV" "(.linux.namespaces |= map(if .type == \"network\" then .path = \"/run/netns/$NS\" else . end))
  | .annotations[\"dev.vessel.isolation\"] = \"microvm\" | .process.args = [\"sleep\", \"1000\"]
  | .mounts += [{\"destination\": \"/v\", \"type\": \"bind\", \"source\": \"$VOL/d\", \"options\": [\"rbind\"]},
                {\"destination\": \"/f\", \"type\": \"bind\", \"source\": \"$VOL/f\", \"options\": [\"rbind\", \"ro\"]}]"
links_before=$(ip -n "$NS" -o link show | awk -F': ' '{print $2}' | sort)
cycles=${NET_CYCLES:-50}
ok=0
left=""
for i in $(seq "$cycles"); do
  "$VESSEL" --root "$R" create --bundle "$BV" "$P-c$i" >/dev/null 2>&1 || continue
  d=$(vm_run_dir "$R" "$P-c$i")    # a cycle counts when its QEMU ran and delete removed it
  running=$([ -n "$d" ] && qemus_of "$d/")
  "$VESSEL" --root "$R" delete --force "$P-c$i" >/dev/null 2>&1 && [ -n "$running" ] && ok=$((ok + 1))
  [ -n "$d" ] && [ -e "$d" ] && left="$left $d"
  [ -n "$d" ] && [ -n "$(qemus_of "$d/")" ] && left="$left qemu:$d"
done
assert_eq "$cycles create/delete cycles on a CNI namespace, with volumes" "$cycles" "$ok"
assert_eq "after $cycles cycles: no host mount of the volumes" "" "$(grep -F "$VOL" /proc/self/mountinfo)"
assert_eq "after $cycles cycles: the volumes as they were" "vol-file" "$(ls -A "$VOL/d")$(cat "$VOL/f")"
assert_eq "after $cycles cycles: the namespace's links are as before" "$links_before" \
  "$(ip -n "$NS" -o link show | awk -F': ' '{print $2}' | sort)"
assert_eq "after $cycles cycles: no qdisc or filter on the veth" "" "$(ip netns exec "$NS" tc qdisc show dev eth0 ingress)"
assert_eq "after $cycles cycles: no VM directory or QEMU left" "" "$left"
assert_eq "after $cycles cycles: no container state left" "" "$(ls "$R" 2>/dev/null | grep "$P-c" || true)"

summary
