#!/usr/bin/env bash
# A Kubernetes pod's containers share one microVM (issue 15, items 1 and 6), driven through
# bin/vessel with bundles made as containerd 1.6's CRI plugin makes them (its annotation set: the
# pause container is the sandbox, each later container names it): one QEMU for the pod, sized
# from the pod cgroup; two containers and the pause process in it, each in namespaces of its own
# with its own rootfs; localhost between them; an emptyDir (one host dir bound into both) written
# both ways; each container's memory limit held by its guest cgroup (a write past it is
# OOM-killed, the VM lives on); exec, kill, state, events --stats per container; 100 execs in a
# row, their ports given back (a daemon killed -9 midway too); delete of each
# container then of the sandbox leaves nothing (no QEMU, share, mounts, run dir, state). Bad
# input: a sandbox id Vessel does not know, a container made after its sandbox's VM died.
# Then (the follow-up): one /dev/shm for the pod (a write in one container read in the other), a
# container in the pod's PID namespace (shareProcessNamespace: the sandbox's pause is its PID 1),
# update of a container's limits (its guest cgroup's), and a pod's VM restored from a template (the
# first pod of a size boots cold, a template of that layout is made meanwhile, the next is a clone).
source "$(dirname "$0")/../lib.sh"

diag "runtime: $VESSEL"
[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
host_prepare || skip_all "host_prepare failed"
ensure_image || skip_all "image build failed"
# a daemon and guest assets of this run's own (its agent is this build's: the pod requests are
# new in the agent's protocol), with templates (the first pod boots cold: none fits it yet)
private_daemon
printf 'assets_dir = "%s"\ntemplates = true\nresource_view = false\n' "$T/assets" > "$VESSEL_CONFIG"
run "$VESSEL" assets build
[ "$RC" = 0 ] || skip_all "vessel assets build failed: $ERR"
require_assets
[ "$(cgroup_version)" = 1 ] && V1=1 || V1=

R=$T/root
ROOT=$R   # private_daemon deletes whatever is left there
RT=("$VESSEL" --root "$R")
P=pod$$
# ids as containerd makes them (64 hex digits)
SB=$(printf 'sb-%s' "$P" | sha256sum | cut -c1-64)
SB3=$(printf 'sb3-%s' "$P" | sha256sum | cut -c1-64)
CC=$(printf 'c-%s' "$P" | sha256sum | cut -c1-64)
CD=$(printf 'd-%s' "$P" | sha256sum | cut -c1-64)
CA=$(printf 'a-%s' "$P" | sha256sum | cut -c1-64)
CB=$(printf 'b-%s' "$P" | sha256sum | cut -c1-64)
DEAD=$(printf 'dead-%s' "$P" | sha256sum | cut -c1-64)
POD_UID=$(cat /proc/sys/kernel/random/uuid)
CG=vessel-test-$P            # the pod cgroup (the kubelet's kubepods/.../podUID), this run's own
POD_MEM=$((384 << 20))       # the pod's limit: its containers' limits plus the overhead
CTR_MEM=$((64 << 20))        # each container's

remove_test_cgroups() {
  local d
  for d in /sys/fs/cgroup/*/"$CG" /sys/fs/cgroup/"$CG"; do
    [ -d "$d" ] || continue
    find "$d" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
    rmdir "$d"
  done
}
# (the containers left under $R are deleted by private_daemon's own clean-up, before it stops the
# daemon: a delete run after it would start another)
on_cleanup remove_test_cgroups

# the pod cgroup with the pod's memory limit, as the kubelet sets it
if [ -n "$V1" ]; then
  mkdir -p "/sys/fs/cgroup/memory/$CG" && echo "$POD_MEM" > "/sys/fs/cgroup/memory/$CG/memory.limit_in_bytes"
else
  mkdir -p "/sys/fs/cgroup/$CG" && echo "$POD_MEM" > "/sys/fs/cgroup/$CG/memory.max"
fi

# what containerd 1.6.20's CRI plugin puts on the pause container and on each container of a pod
# (pkg/cri/annotations; the sandbox-memory and sandbox-cpu-* ones only when the kubelet sends the
# pod's resources, left out here: the pod cgroup sizes the VM)
sandbox_annotations='{"io.kubernetes.cri.container-type": "sandbox", "io.kubernetes.cri.sandbox-id": "'"$SB"'",
  "io.kubernetes.cri.sandbox-name": "web", "io.kubernetes.cri.sandbox-namespace": "default",
  "io.kubernetes.cri.sandbox-uid": "'"$POD_UID"'", "io.kubernetes.cri.sandbox-log-directory": "/var/log/pods/default_web_'"$POD_UID"'",
  "dev.vessel.isolation": "microvm"}'
container_annotations() { # NAME [SANDBOX]
  echo '{"io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.sandbox-id": "'"${2:-$SB}"'",
  "io.kubernetes.cri.container-name": "'"$1"'", "io.kubernetes.cri.image-name": "'"$IMAGE_NAME"'",
  "io.kubernetes.cri.sandbox-name": "web", "io.kubernetes.cri.sandbox-namespace": "default",
  "io.kubernetes.cri.sandbox-uid": "'"$POD_UID"'", "dev.vessel.isolation": "microvm"}'
}

# each container's own rootfs (containerd gives each a snapshot of its own), with a marker
for c in a b c d; do
  mkdir -p "$T/root-$c" && cp -a "$IMAGE_DIR/bundle/rootfs/." "$T/root-$c/" && echo "$c" > "$T/root-$c/marker"
done
mkdir -p "$T/empty"          # the kubelet's emptyDir: a host dir bound into both containers
printf '127.0.0.1 localhost\n10.0.0.9 web\n' > "$T/hosts"   # the sandbox's /etc/hosts, bound into each

mkbundle "$T/sb" '.annotations = '"$sandbox_annotations"' | .process.args = ["sleep", "100000"]
  | .hostname = "web" | .linux.cgroupsPath = "/'"$CG"'/'"$SB"'"'
# a container of the pod: its rootfs, /data (the emptyDir), /etc/hosts; the network, IPC and UTS
# namespaces the pause container's (containerd names them by /proc/PID/ns/*), its own mount and pid
mkcontainer() { # DIR NAME ARGS-JSON [SANDBOX]
  mkbundle "$1" '.annotations = '"$(container_annotations "$2" "${4:-}")"' | .root.path = "'"$T/root-$2"'"
    | .process.args = '"$3"' | .linux.cgroupsPath = "/'"$CG"'/'"$2"'"
    | .linux.resources.memory.limit = '"$CTR_MEM"'
    | .linux.namespaces = [{"type": "pid"}, {"type": "mount"}, {"type": "ipc", "path": "/proc/1/ns/ipc"},
        {"type": "uts", "path": "/proc/1/ns/uts"}, {"type": "network", "path": "/proc/1/ns/net"}]
    | .mounts += [{"destination": "/data", "type": "bind", "source": "'"$T/empty"'", "options": ["rbind", "rprivate", "rw"]},
        {"destination": "/etc/hosts", "type": "bind", "source": "'"$T/hosts"'", "options": ["rbind", "rprivate", "rw"]}]'
}
mkcontainer "$T/a" a '["httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/data"]'
mkcontainer "$T/b" b '["sleep", "100000"]'
# two file systems whose files have the same inode numbers (two tmpfs, one file each), one bound
# into a, one into b: through the one pod share (jailed, without multidevs=remap) each reads its own
for x in a b; do
  mkdir -p "$T/tmp-$x" && mount -t tmpfs -o size=1m tmpfs "$T/tmp-$x" && echo "tmpfs-$x" > "$T/tmp-$x/f"
  on_cleanup "umount -l $T/tmp-$x"
  jq --arg s "$T/tmp-$x" '.mounts += [{"destination": "/t", "type": "bind", "source": $s, "options": ["rbind", "rw"]}]' \
    "$T/$x/config.json" > "$T/$x/c.json" && mv "$T/$x/c.json" "$T/$x/config.json"
done
jq '.linux.namespaces |= map(if .type == "pid" then .path = "/proc/1/ns/pid" else . end)' "$T/c/config.json" > "$T/c/c.json" \
  && mv "$T/c/c.json" "$T/c/config.json"

# ---------------------------------------------------------------- the sandbox boots the pod's VM
check "create the pod's sandbox (pause, microvm)" "${RT[@]}" create --bundle "$T/sb" "$SB"
check "start the sandbox" "${RT[@]}" start "$SB"
RUN=$(vm_run_dir "$R" "$SB")
if [ -z "$RUN" ]; then fail "the sandbox's VM has a run dir"; summary; exit 1; fi
SHARE=/run/vessel/pods/$(basename "$RUN")
assert_eq "one QEMU for the pod" 1 "$(qemus_of "$RUN/" | wc -l)"
QPID=$(qemus_of "$RUN/")
assert_not_contains "the first pod of its size boots cold (no template fits it yet)" "$(tr '\0' ' ' < "/proc/$QPID/cmdline")" "-incoming"
QCMD=$(tr '\0' ' ' < "/proc/$QPID/cmdline")
if [[ $QCMD == *"-fsdev proxy,id=pod,"* ]]; then
  # jailed (docs/microvm.md, "The jail"): the proxy backend takes no multidevs option
  assert_eq "jailed: the pod's share is exported once, through its proxy helper" 1 "$(grep -o -- '-fsdev proxy,id=pod,' <<< "$QCMD" | wc -l)"
else
  assert_contains "the pod's share is exported once, with multidevs=remap" "$QCMD" "multidevs=remap"
fi
run "${RT[@]}" exec "$SB" awk '/^MemTotal:/ {print $2 * 1024}' /proc/meminfo
total=$OUT
assert_le "the VM is sized from the pod cgroup: MemTotal $total ≤ $POD_MEM" "$POD_MEM" "$total"
assert_ge "the VM is sized from the pod cgroup: MemTotal $total ≥ 95 % of $POD_MEM" $((POD_MEM * 95 / 100)) "$total"

# ---------------------------------------------------------------- two containers join it
check "create container a in the pod" "${RT[@]}" create --bundle "$T/a" "$CA"
check "create container b in the pod" "${RT[@]}" create --bundle "$T/b" "$CB"
assert_eq "still one QEMU for the pod after two more containers" 1 "$(qemus_of "$RUN/" | wc -l)"
assert_eq "a is created" created "$(vessel_status "$R" "$CA")"
check "start a" "${RT[@]}" start "$CA"
check "start b" "${RT[@]}" start "$CB"
assert_eq "a is running" running "$(vessel_status "$R" "$CA")"
assert_eq "b is running" running "$(vessel_status "$R" "$CB")"
assert_eq "the sandbox is running" running "$(vessel_status "$R" "$SB")"

# each its own rootfs, mount and pid namespace
run "${RT[@]}" exec "$CA" cat /marker
assert_eq "exec into a: its own rootfs" a "$OUT"
run "${RT[@]}" exec "$CB" cat /marker
assert_eq "exec into b: its own rootfs" b "$OUT"
run "${RT[@]}" exec "$CA" awk '/^Name:/ {print $2}' /proc/1/status
assert_contains "a's PID 1 is its own process (httpd)" "$OUT" httpd
run "${RT[@]}" exec "$CB" awk '/^Name:/ {print $2}' /proc/1/status
assert_contains "b's PID 1 is its own process (sleep)" "$OUT" sleep
run "${RT[@]}" exec "$SB" awk '/^Name:/ {print $2}' /proc/1/status
assert_contains "the sandbox's PID 1 is still pause's (sleep)" "$OUT" sleep
run "${RT[@]}" exec "$CB" cat /etc/hosts
assert_contains "the pod's /etc/hosts reaches b" "$OUT" "10.0.0.9 web"
run "${RT[@]}" exec "$CB" hostname
assert_eq "b shares the pod's hostname (UTS)" web "$OUT"

# the emptyDir, both ways and with the host
check_sh "a writes in the emptyDir" "'$VESSEL' --root '$R' exec '$CA' sh -c 'echo from-a > /data/a'"
run "${RT[@]}" exec "$CB" cat /data/a
assert_eq "b reads a's write in the emptyDir" from-a "$OUT"
check_sh "b writes in the emptyDir" "'$VESSEL' --root '$R' exec '$CB' sh -c 'echo from-b > /data/b'"
run "${RT[@]}" exec "$CA" cat /data/b
assert_eq "a reads b's write in the emptyDir" from-b "$OUT"
assert_eq "the host sees both" "from-a from-b" "$(cat "$T/empty/a" "$T/empty/b" | tr '\n' ' ' | sed 's/ $//')"
echo from-host > "$T/empty/h"
run "${RT[@]}" exec "$CB" cat /data/h
assert_eq "a write on the host is seen in the pod" from-host "$OUT"

# the two tmpfs volumes: the same inode numbers on the host, each container its own file
assert_eq "two tmpfs volumes: their files have one inode number on the host" "$(stat -c %i "$T/tmp-a/f")" "$(stat -c %i "$T/tmp-b/f")"
run "${RT[@]}" exec "$CA" cat /t/f
assert_eq "a reads its tmpfs volume's file" tmpfs-a "$OUT"
run "${RT[@]}" exec "$CB" cat /t/f
assert_eq "b reads its own, not a's (same inode number)" tmpfs-b "$OUT"
run "${RT[@]}" exec "$CA" sh -c 'cat /t/f; echo more-a >> /t/f'
assert_eq "a reads its own again, and appends" tmpfs-a "$OUT"
assert_eq "the host sees a's append in a's tmpfs only" "tmpfs-a more-a | tmpfs-b" "$(tr '\n' ' ' < "$T/tmp-a/f")| $(cat "$T/tmp-b/f")"

# localhost: a's httpd on 127.0.0.1:8080, reached from b
wait_for 30 "'$VESSEL' --root '$R' exec '$CB' wget -qO- http://127.0.0.1:8080/a 2>/dev/null | grep -q from-a"
run "${RT[@]}" exec "$CB" wget -qO- http://127.0.0.1:8080/a
assert_eq "b reaches a's server on localhost" from-a "$OUT"

# each container's own guest cgroup and its limit
run "${RT[@]}" exec "$CA" cat /proc/self/cgroup
assert_match "a's exec is in a's own guest cgroup" '^0::/c[0-9]+$' "$OUT"
cga=$OUT
run "${RT[@]}" exec "$CB" cat /proc/self/cgroup
assert_ne "b's guest cgroup is not a's" "$cga" "$OUT"
run "${RT[@]}" events --stats "$CA"
assert_eq "events --stats a: its limit is its own (guest cgroup)" "$CTR_MEM" "$(printf '%s\n' "$OUT" | jq -r .data.memory.usage.limit)"
used=$(printf '%s\n' "$OUT" | jq -r .data.memory.usage.usage)
assert_le "events --stats a: its usage ($used) is its own, under its limit" "$CTR_MEM" "$used"
run "${RT[@]}" exec "$CA" sh -c 'dd if=/dev/zero of=/dev/null bs=100M count=1 2>/dev/null; echo rc=$?'
assert_eq "a 100 MiB allocation in a (64 MiB limit) is OOM-killed in the guest" "rc=137" "$OUT"
run "${RT[@]}" exec "$CB" sh -c 'dd if=/dev/zero of=/dev/null bs=32M count=1 2>/dev/null; echo rc=$?'
assert_eq "32 MiB in b, within its limit, succeed" "rc=0" "$OUT"
assert_eq "the VM survived a's OOM" 1 "$(qemus_of "$RUN/" | wc -l)"
assert_eq "a is still running (its exec was killed, not its httpd)" running "$(vessel_status "$R" "$CA")"
run "${RT[@]}" events --stats "$CA"
assert_ge "events --stats a counts the OOM kill" 1 "$(printf '%s\n' "$OUT" | jq -r '.data.memory.raw.oom_kill // 0')"

# ps per container: the relays the engine knows
run "${RT[@]}" ps --format json "$CA"
assert_contains "ps a lists a's relay" "$OUT" "$("${RT[@]}" state "$CA" | jq -r .pid)"

# ---------------------------------------------------------------- exec ports are given back
# Each exec hot-adds a virtio-serial port and the VM has 28 for execs and containers at once: an
# ended exec's port is removed and its slot reused, by a daemon killed -9 meanwhile too (the ports
# of the execs that ended under the old one are found from QEMU's and the agent's live lists).
qmp_process_ports() { # RUN_DIR: how many process ports (chardevs procN) QEMU has now
  python3 - "$1/qmp.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(20); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline(); f.write('{"execute": "qmp_capabilities"}\n{"execute": "query-chardev", "id": 1}\n'); f.flush()
while True:
    r = json.loads(f.readline())
    if r.get("id") == 1: print(sum(c["label"].startswith("proc") for c in r["return"])); break
PY
}
failed=0; first_err=
for i in $(seq 1 100); do
  [ "$i" = 50 ] && kill -9 "$("$VESSEL" daemon status)" 2>/dev/null
  if ! "${RT[@]}" exec "$CB" true > /dev/null 2> "$T/exec.err"; then
    failed=$((failed + 1)); [ -n "$first_err" ] || first_err="exec $i: $(cat "$T/exec.err")"
  fi
done
assert_eq "100 sequential 'vessel exec ID true' into one microVM (the daemon killed -9 at the 50th) all exit 0" \
  "0 failed" "$failed failed${first_err:+ ($first_err)}"
ports=$(qmp_process_ports "$RUN")
# process 0's, a's, b's and the last exec's (removed when the next exec comes)
assert_le "after them the VM holds 4 process ports, not 100 ($ports)" 4 "${ports:-99}"
# 28 processes at once: a and b hold two ports, 26 execs running fill the rest, the next is refused
# in one line; once they have ended their ports are given back
started=0
for i in $(seq 1 26); do "${RT[@]}" exec -d "$CB" sleep 45 > /dev/null 2>&1 && started=$((started + 1)); done
assert_eq "26 execs running at once in the pod's VM" 26 "$started"
run "${RT[@]}" exec "$CB" true
assert_ne "a 27th exec while they run is refused" 0 "$RC"
assert_eq "…in one line" 'vessel: container "'"$CB"'": exec: its microVM has no free port for another process: 28 execs and pod containers are running in it, as many as it takes at once' "$ERR"
wait_for 120 "'$VESSEL' --root '$R' exec '$CB' true 2>/dev/null" \
  && pass "once they have ended an exec runs again" || fail "once they have ended an exec runs again" "$ERR"

# ---------------------------------------------------------------- bad input
mkbundle "$T/nosb" '.annotations = '"$(container_annotations a | jq -c '."io.kubernetes.cri.sandbox-id" = "nope"')"'
  | .root.path = "'"$T/root-a"'"'
run "${RT[@]}" create --bundle "$T/nosb" "$P-nosb"
assert_ne "a container naming an unknown sandbox fails" 0 "$RC"
assert_eq "…in one line naming it" 'vessel: container "'"$P-nosb"'": its pod'"'"'s sandbox "nope" (annotation io.kubernetes.cri.sandbox-id) is no microVM pod sandbox that Vessel knows' "$ERR"
assert_eq "…and leaves no record" "" "$("${RT[@]}" list -q 2>/dev/null | grep -x "$P-nosb")"

# ---------------------------------------------------------------- kill, delete: container, then sandbox
check "kill b (KILL)" "${RT[@]}" kill "$CB" KILL
wait_for 30 "[ \"\$('$VESSEL' --root '$R' state '$CB' | jq -r .status)\" = stopped ]"
assert_eq "b is stopped" stopped "$(vessel_status "$R" "$CB")"
assert_eq "a runs on" running "$(vessel_status "$R" "$CA")"
check "delete b" "${RT[@]}" delete "$CB"
assert_eq "b's mounts in the share are gone (a's rootfs, the emptyDir left)" "" \
  "$(awk -v s="$SHARE/c/$CB" 'index($5, s) == 1' /proc/self/mountinfo)"
run "${RT[@]}" exec "$CA" cat /data/b
assert_eq "a still reads the emptyDir after b went" from-b "$OUT"
check "delete --force a" "${RT[@]}" delete --force "$CA"
assert_eq "no mount in the share but its own once both containers went" "$SHARE" \
  "$(awk -v s="$SHARE" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -u)"
check "delete --force the sandbox" "${RT[@]}" delete --force "$SB"
wait_for 20 "! pgrep -f -- '[q]emu-system-.*$RUN/' >/dev/null"
assert_eq "no QEMU left" "" "$(qemus_of "$RUN/")"
assert_eq "no mount under the pod's share left" "" "$(awk -v s="$SHARE" 'index($5, s) == 1' /proc/self/mountinfo)"
assert_eq "the share is gone" no "$([ -e "$SHARE" ] && echo yes || echo no)"
assert_eq "the run dir is gone" no "$([ -e "$RUN" ] && echo yes || echo no)"
assert_eq "no state left" "" "$("${RT[@]}" list -q 2>/dev/null)"
assert_eq "the emptyDir's files are the host's, untouched" "from-a from-b from-host" \
  "$(cat "$T/empty/a" "$T/empty/b" "$T/empty/h" | tr '\n' ' ' | sed 's/ $//')"
assert_eq "the containers' rootfs are untouched" "a b" "$(cat "$T/root-a/marker" "$T/root-b/marker" | tr '\n' ' ' | sed 's/ $//')"

# ---------------------------------------------------------------- a pod's VM from a template
# (the first pod's cold boot had a template of its layout made in the background: the pod's share
# is in it, empty and unmounted, and the clone's own share is attached at CREATE)
wait_for 240 "grep -qs ' pod\$' '$T'/assets/templates/*/inputs" \
  && pass "a template of the pod's layout was made after its first cold boot" \
  || fail "a template of the pod's layout was made after its first cold boot" "$(ls -a "$T/assets/templates" 2>&1)"
mkbundle "$T/sb3" '.annotations = '"$(echo "$sandbox_annotations" | jq -c '."io.kubernetes.cri.sandbox-id" = "'"$SB3"'"')"'
  | .process.args = ["sleep", "100000"] | .hostname = "web3" | .linux.cgroupsPath = "/'"$CG"'/'"$SB3"'"'
check "create a second pod's sandbox, of the same size" "${RT[@]}" create --bundle "$T/sb3" "$SB3"
check "start it" "${RT[@]}" start "$SB3"
RUN3=$(vm_run_dir "$R" "$SB3")
Q3=$(qemus_of "$RUN3/")
assert_contains "its VM is restored from the template (-incoming defer)" "$(tr '\0' ' ' < "/proc/${Q3:-0}/cmdline" 2>/dev/null)" "-incoming defer"
assert_contains "…its RAM the template's, copy-on-write" "$(tr '\0' ' ' < "/proc/${Q3:-0}/cmdline" 2>/dev/null)" ",share=off"
mkcontainer "$T/d" d '["sleep", "100000"]' "$SB3"
# c: in the pod's PID namespace (shareProcessNamespace: containerd names the pause's by path)
mkcontainer "$T/c" c '["sleep", "100003"]' "$SB3"
jq '.linux.namespaces |= map(if .type == "pid" then .path = "/proc/1/ns/pid" else . end)' "$T/c/config.json" > "$T/c/c.json" \
  && mv "$T/c/c.json" "$T/c/config.json"
check "create a container in the cloned pod" "${RT[@]}" create --bundle "$T/d" "$CD"
check "start it" "${RT[@]}" start "$CD"
run "${RT[@]}" exec "$CD" cat /marker
assert_eq "the container runs on its own rootfs, through the clone's pod share" d "$OUT"
run "${RT[@]}" exec "$CD" cat /data/a
assert_eq "its emptyDir reaches it" from-a "$OUT"
run "${RT[@]}" exec "$CD" hostname
assert_eq "the clone has the pod's hostname" web3 "$OUT"

# shareProcessNamespace (c), and the pod's one /dev/shm (d and c)
check "create c, in the pod's PID namespace" "${RT[@]}" create --bundle "$T/c" "$CC"
check "start c" "${RT[@]}" start "$CC"
run "${RT[@]}" exec "$CC" sh -c 'tr "\0" " " < /proc/1/cmdline'
assert_eq "c's PID 1 is the sandbox's pause (sleep 100000): one PID namespace" "sleep 100000 " "$OUT"
run "${RT[@]}" exec "$SB3" ps
assert_contains "ps in the sandbox sees c's process" "$OUT" "sleep 100003"
run "${RT[@]}" exec "$CC" ps
assert_contains "ps in c sees the pause process" "$OUT" "sleep 100000"
run "${RT[@]}" exec "$CD" ps
assert_not_contains "d, in a PID namespace of its own, does not see c's" "$OUT" "sleep 100003"
run "${RT[@]}" exec "$CD" cat /proc/self/cgroup
cgd=$OUT
run "${RT[@]}" exec "$CC" cat /proc/self/cgroup
assert_ne "c has a guest cgroup of its own all the same" "$cgd" "$OUT"
check_sh "d writes a POSIX shm object in /dev/shm" "'$VESSEL' --root '$R' exec '$CD' sh -c 'echo shm-from-d > /dev/shm/pod-shm'"
run "${RT[@]}" exec "$CC" cat /dev/shm/pod-shm
assert_eq "c reads d's /dev/shm object: one /dev/shm for the pod" shm-from-d "$OUT"
run "${RT[@]}" exec "$SB3" cat /dev/shm/pod-shm
assert_eq "the sandbox's /dev/shm is the pod's too" shm-from-d "$OUT"
check "delete --force c" "${RT[@]}" delete --force "$CC"
run "${RT[@]}" exec "$SB3" ps
assert_not_contains "c's process is gone with it" "$OUT" "sleep 100003"

# update of a pod's container: its guest cgroup's limits
run "${RT[@]}" exec "$CD" sh -c 'dd if=/dev/zero of=/dev/null bs=100M count=1 2>/dev/null; echo rc=$?'
assert_eq "a 100 MiB allocation in d (64 MiB limit) is OOM-killed" "rc=137" "$OUT"
check "update --memory 160m d" "${RT[@]}" update --memory 160m "$CD"
run "${RT[@]}" events --stats "$CD"
assert_eq "events --stats d: its new limit (its guest cgroup's memory.max)" $((160 << 20)) "$(printf '%s\n' "$OUT" | jq -r .data.memory.usage.limit)"
run "${RT[@]}" exec "$CD" sh -c 'dd if=/dev/zero of=/dev/null bs=100M count=1 2>/dev/null; echo rc=$?'
assert_eq "100 MiB in d now fit" "rc=0" "$OUT"
check "update --cpu-quota 50000 --cpu-period 100000 d" "${RT[@]}" update --cpu-quota 50000 --cpu-period 100000 "$CD"
run "${RT[@]}" exec "$CD" cat /sys/fs/cgroup/cpu.max
assert_eq "d's guest cgroup holds the new CPU limit" "50000 100000" "$OUT"
run "${RT[@]}" events --stats "$CD"
assert_eq "…and its memory limit stays" $((160 << 20)) "$(printf '%s\n' "$OUT" | jq -r .data.memory.usage.limit)"
run "${RT[@]}" update --pids-limit 10 "$CD"
assert_ne "update of what a microVM cannot change fails" 0 "$RC"
check "delete --force the container" "${RT[@]}" delete --force "$CD"
check "delete --force the cloned pod's sandbox" "${RT[@]}" delete --force "$SB3"
wait_for 20 "! pgrep -f -- '[q]emu-system-.*$RUN3/' >/dev/null"
assert_eq "no QEMU of the cloned pod left" "" "$(qemus_of "$RUN3/")"
assert_eq "its share is gone" no "$([ -e "/run/vessel/pods/$(basename "$RUN3")" ] && echo yes || echo no)"
assert_eq "nothing left under --root" "" "$("${RT[@]}" list -q 2>/dev/null)"

# a container made after its sandbox's VM died
mkbundle "$T/sb2" '.annotations = '"$(echo "$sandbox_annotations" | jq -c '."io.kubernetes.cri.sandbox-id" = "'"$DEAD"'"')"'
  | .process.args = ["sleep", "100000"] | .linux.cgroupsPath = "/'"$CG"'/'"$DEAD"'"'
check "create a second pod's sandbox" "${RT[@]}" create --bundle "$T/sb2" "$DEAD"
RUN2=$(vm_run_dir "$R" "$DEAD")
[ -n "$RUN2" ] || { fail "the second sandbox has a run dir"; summary; exit 1; }
kill -9 $(qemus_of "$RUN2/") 2>/dev/null
wait_for 20 "! pgrep -f -- '[q]emu-system-.*$RUN2/' >/dev/null"
mkbundle "$T/late" '.annotations = '"$(container_annotations a | jq -c '."io.kubernetes.cri.sandbox-id" = "'"$DEAD"'"')"'
  | .root.path = "'"$T/root-a"'"'
run "${RT[@]}" create --bundle "$T/late" "$P-late"
assert_ne "a container made after its sandbox's VM died fails" 0 "$RC"
assert_eq "…in one line naming it" 'vessel: container "'"$P-late"'": its pod'"'"'s sandbox "'"$DEAD"'" has stopped (its microVM is gone)' "$ERR"
assert_eq "…and leaves no record" "" "$("${RT[@]}" list -q 2>/dev/null | grep -x "$P-late")"
check "delete --force the dead sandbox" "${RT[@]}" delete --force "$DEAD"
assert_eq "its share is gone" no "$([ -e "/run/vessel/pods/$(basename "$RUN2")" ] && echo yes || echo no)"
assert_eq "nothing left under --root" "" "$("${RT[@]}" list -q 2>/dev/null)"

summary
