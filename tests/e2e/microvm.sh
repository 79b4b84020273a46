#!/usr/bin/env bash
# MicroVM isolation (issue #4): the same engines and commands, with the annotation
# dev.vessel.isolation=microvm, run the workload in its own QEMU microVM.
source "$(dirname "$0")/../lib.sh"

diag "runtime: $VESSEL"
[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
host_prepare || skip_all "host_prepare failed"
require_assets
podman_start || skip_all "podman set-up failed"
diag "$("$VESSEL" doctor | grep accelerator)"

BB=$IMAGE_NAME
P=vm$$
VM=(--annotation dev.vessel.isolation=microvm)
# only this test's QEMUs are counted or killed: those of its containers (their rootfs is under $T)

# --- run, output, exit status, what the guest sees ---
run podman_v run --rm "${VM[@]}" "$BB" echo hi
assert_eq "microvm: echo hi" hi "$OUT"
assert_eq "microvm: exit 0" 0 "$RC"
assert_rc "microvm: sh -c 'exit 7' exits 7" 7 podman_v run --rm "${VM[@]}" "$BB" sh -c 'exit 7'
run podman_v run --rm "${VM[@]}" --memory 512m --cpus 2 "$BB" sh -c '
  echo "kernel $(uname -r)"; echo "memtotal $(awk "/^MemTotal:/ {print \$2}" /proc/meminfo)"; echo "nproc $(nproc)"
  echo out; echo err >&2'
assert_ne "microvm: the guest's kernel is not the host's" "$(uname -r)" "$(field kernel)"
mt=$(field memtotal)
assert_ge "microvm: --memory 512m gives MemTotal >= 90% of 512 MiB" $((524288 * 90 / 100)) "${mt:-0}"
assert_le "microvm: --memory 512m gives MemTotal <= 110% of 512 MiB" $((524288 * 110 / 100)) "${mt:-0}"
assert_eq "microvm: --cpus 2 gives nproc 2" 2 "$(field nproc)"
assert_contains "microvm: stdout and stderr kept apart" "$ERR" "err"

# --- a file written to the rootfs is on the host afterwards ---
run podman_v run --name "$P-file" "${VM[@]}" --tmpfs /tmp "$BB" sh -c 'echo from-the-guest > /written-in-vm
  awk "\$2 == \"/tmp\" {print \$3}" /proc/mounts'
assert_eq "microvm: write to the rootfs" 0 "$RC"
assert_eq "microvm: --tmpfs /tmp (podman's tmpcopyup option) is a tmpfs in the guest" tmpfs "$OUT"
run podman_t mount "$P-file"
assert_eq "microvm: the file is visible on the host" from-the-guest "$(cat "$OUT/written-in-vm" 2>&1)"
podman_t umount "$P-file" >/dev/null 2>&1; podman_t rm -f "$P-file" >/dev/null 2>&1

# --- volumes (issue 12): directories, single files, :ro, tmpfs, /dev/shm; live both ways ---
V=$T/vol
mkdir -p "$V/d" "$V/ro" "$V/files"
echo from-host > "$V/d/f"; echo ro-data > "$V/ro/r"; echo file-host > "$V/files/single"; echo sibling > "$V/files/other"
run podman_v run --rm "${VM[@]}" -v "$V/d:/v" -v "$V/files/single:/f" -v "$V/ro:/r:ro" \
  --mount type=tmpfs,destination=/scratch "$BB" sh -c '
  echo "dir $(cat /v/f)"; echo "file $(cat /f)"; echo "ro $(cat /r/r)"
  echo from-guest > /v/g; echo file-guest > /f
  if echo x > /r/x 2>/dev/null; then echo "rowrite allowed"; else echo "rowrite refused"; fi
  echo "fro $(awk "\$2 == \"/r\" {print substr(\$4, 1, 2)}" /proc/mounts)"
  echo "scratch $(awk "\$2 == \"/scratch\" {print \$3}" /proc/mounts)"
  echo "shm $(awk "\$2 == \"/dev/shm\" {print \$3}" /proc/mounts)"
  echo "sibling $(ls / | grep -c "^other\$")"'
assert_eq "microvm -v dir:/v: the host's file is read in the guest" from-host "$(field dir)"
assert_eq "microvm -v file:/f: a single host file is read in the guest" file-host "$(field file)"
assert_eq "microvm -v dir:/r:ro: readable" ro-data "$(field ro)"
assert_eq "microvm -v dir:/r:ro: a write is refused" refused "$(field rowrite)"
assert_eq "microvm -v dir:/r:ro: mounted ro in the guest" ro "$(field fro)"
assert_eq "microvm --mount type=tmpfs: a tmpfs in the guest" tmpfs "$(field scratch)"
assert_eq "microvm: /dev/shm is a tmpfs in the guest" tmpfs "$(field shm)"
assert_eq "microvm -v file:/f: only the file shows, not its directory's other files" 0 "$(field sibling)"
assert_eq "microvm -v dir:/v: the guest's write is on the host" from-guest "$(cat "$V/d/g" 2>&1)"
assert_eq "microvm -v file:/f: the guest's write is in the host's file" file-guest "$(cat "$V/files/single" 2>&1)"
assert_eq "microvm -v dir:/r:ro: nothing written on the host" "" "$(ls "$V/ro" | grep -v '^r$')"

# live, both ways, while the workload runs; and exec joins its pid namespace
run podman_v run -d --name "$P-live" "${VM[@]}" -v "$V/d:/v" "$BB" sh -c 'echo up > /v/up
  while [ ! -f /v/from-host ]; do sleep 0.2; done; cat /v/from-host > /v/echoed; exec sleep 1000'
wait_for 60 "[ -f '$V/d/up' ]" && pass "microvm volume, live: a guest write is seen on the host while it runs" \
  || fail "microvm volume, live: a guest write is seen on the host" "$(ls "$V/d")"
echo later > "$V/d/from-host"
wait_for 20 "[ \"\$(cat '$V/d/echoed' 2>/dev/null)\" = later ]" && pass "microvm volume, live: a host write is seen in the guest" \
  || fail "microvm volume, live: a host write is seen in the guest" "$(ls "$V/d")"
run podman_v exec "$P-live" sh -c 'echo "init $(cat /proc/1/comm)"; echo "visible $(ls -d /proc/[0-9]* | wc -l)"'
assert_eq "microvm exec: /proc/1 is the workload (its pid namespace)" sleep "$(field init)"
assert_le "microvm exec: only the container's processes are visible" 5 "$(field visible)"
podman_v rm -f -t 0 "$P-live" >/dev/null 2>&1

# --- PID 1 of its own pid namespace, as under crun ---
run podman_t run --rm "$BB" sh -c 'kill -9 $$; echo "pid $$"'
crun_rc=$RC crun_out=$OUT
run podman_v run --rm "${VM[@]}" "$BB" sh -c 'kill -9 $$; echo "pid $$"'
assert_eq "microvm: sh -c 'kill -9 \$\$' exits as under crun ($crun_rc)" "$crun_rc" "$RC"
assert_eq "microvm: sh -c 'kill -9 \$\$' prints as under crun" "$crun_out" "$OUT"
assert_eq "microvm: the workload is PID 1" "pid 1" "$OUT"
zombies='(sleep 0.2 &); sleep 2; echo "zombies $(grep -l "^State:.*Z" /proc/[0-9]*/status 2>/dev/null | wc -l)"; kill -TERM $$; echo after-term'
run podman_t run --rm "$BB" sh -c "$zombies"
crun_rc=$RC crun_out=$OUT
run podman_v run --rm "${VM[@]}" "$BB" sh -c "$zombies"
assert_eq "microvm: an orphan is reaped, and SIGTERM to itself ignored, as under crun" "$crun_out" "$OUT"
assert_eq "microvm: the orphan's zombie is gone" 0 "$(field zombies)"
assert_eq "microvm: exit status as under crun" "$crun_rc" "$RC"

# a few create/start/delete cycles with volumes: no QEMU, run dir or mount left, the volume intact
vms_before=$(ls /run/vessel/vm 2>/dev/null | sort)
ok=0
for i in 1 2 3; do
  run podman_v run --rm "${VM[@]}" -v "$V/d:/v" -v "$V/files/single:/f:ro" "$BB" sh -c "cat /f >/dev/null && echo c$i > /v/cycle$i"
  [ "$RC" = 0 ] && [ "$(cat "$V/d/cycle$i" 2>/dev/null)" = "c$i" ] && ok=$((ok + 1))
done
assert_eq "microvm: 3 runs with volumes" 3 "$ok"
wait_for 20 "[ -z \"\$(our_qemus)\" ]" && pass "microvm volume cycles: no QEMU left" || fail "microvm volume cycles: no QEMU left" "$(our_qemus)"
assert_eq "microvm volume cycles: no VM dir left" "$vms_before" "$(ls /run/vessel/vm 2>/dev/null | sort)"
assert_eq "microvm volume cycles: no host mount of the volume" "" "$(grep -F "$V" /proc/self/mountinfo)"
assert_eq "microvm volume cycles: the host file intact" file-guest "$(cat "$V/files/single")"

# --- a terminal ---
run with_tty podman_v run --rm -it "${VM[@]}" "$BB" sh -c 'tty; echo tty-ok'
assert_match "microvm -it: the guest process has a terminal" '^/dev/pts/[0-9]+' "$OUT"
assert_contains "microvm -it: output" "$OUT" "tty-ok"
run with_tty_input 'echo in-$((6*7))\nexit 3\n' podman_v run --rm -it "${VM[@]}" "$BB" sh
assert_contains "microvm -it: typed input reaches the guest" "$OUT" "in-42"
assert_eq "microvm -it: exit status" 3 "$RC"

# --- exec, pause, stop, rm -f ---
run podman_v run -d --name "$P-x" "${VM[@]}" "$BB" sh -c 'trap "exit 143" TERM; i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.2; done'
assert_eq "microvm: run -d" 0 "$RC"
wait_for 60 "[ \"\$(podman_t inspect $P-x --format '{{.State.Status}}')\" = running ]"
run podman_v exec "$P-x" sh -c 'echo exec-ok; hostname'
assert_contains "microvm: exec" "$OUT" "exec-ok"
assert_rc "microvm: exec exit status" 5 podman_v exec "$P-x" sh -c 'exit 5'
run with_tty podman_v exec -t "$P-x" sh -c 'tty; echo exec-tty-ok'
assert_match "microvm: exec -t has a terminal" '^/dev/pts/[0-9]+' "$OUT"
check "microvm: pause" podman_v pause "$P-x"
assert_eq "microvm: paused" paused "$(pstate "$P-x")"
check "microvm: unpause" podman_v unpause "$P-x"
assert_eq "microvm: running again" running "$(pstate "$P-x")"
run podman_v exec "$P-x" cat /tmp/n
n1=$OUT; sleep 1
run podman_v exec "$P-x" cat /tmp/n
if [[ "$n1" =~ ^[0-9]+$ && "$OUT" =~ ^[0-9]+$ ]] && [ "$OUT" -gt "$n1" ]; then pass "microvm: the workload runs after unpause"
else fail "microvm: the workload runs after unpause" "counter: $n1, a second later: $OUT ($ERR)"; fi
run podman_v stop -t 10 "$P-x"
assert_eq "microvm: stop" 0 "$RC"
assert_eq "microvm: SIGTERM reached the guest process (exit 143)" 143 "$(pexit "$P-x")"
podman_t rm "$P-x" >/dev/null 2>&1

run podman_v run -d --name "$P-k" "${VM[@]}" "$BB" sh -c 'trap "" TERM; touch /tmp/trapped; sleep 1000'
# under TCG the shell may not have reached its trap when the container is "running"
wait_for 60 "podman_t exec $P-k test -f /tmp/trapped"
run podman_v stop -t 2 "$P-k"
assert_eq "microvm: a process ignoring SIGTERM is killed after the timeout (137)" 137 "$(pexit "$P-k")"
podman_t rm "$P-k" >/dev/null 2>&1

run podman_v run -d --name "$P-rm" "${VM[@]}" "$BB" sleep 1000
wait_for 60 "[ \"\$(pstate $P-rm)\" = running ]"
qpid=$(podman_qemu "$P-rm")
assert_match "microvm: one QEMU runs the container (found by its rootfs)" '^[0-9]+$' "$qpid"
check "microvm: rm -f of a running container" podman_v rm -f -t 0 "$P-rm"
wait_for 20 "! pid_alive '$qpid'" \
  && pass "microvm: rm -f leaves no QEMU" || fail "microvm: rm -f leaves no QEMU" "$(ps -o pid=,args= -p "${qpid:-0}")"

# --- faults: kill -9 the daemon; kill QEMU ---
run podman_v run -d --name "$P-d" "${VM[@]}" "$BB" sh -c 'sleep 8; echo survived; exit 6'
wait_for 60 "[ \"\$(podman_t inspect $P-d --format '{{.State.Status}}')\" = running ]"
kill -9 "$("$VESSEL" daemon status)" 2>/dev/null
run podman_t wait "$P-d"
assert_eq "microvm: exit status reaches podman after kill -9 of the daemon" 6 "$OUT"
assert_contains "microvm: stdout stays connected" "$(podman_t logs "$P-d" 2>&1)" "survived"
podman_t rm "$P-d" >/dev/null 2>&1

run podman_v run -d --name "$P-q" "${VM[@]}" "$BB" sleep 1000
wait_for 60 "[ \"\$(pstate $P-q)\" = running ]"
qpid=$(podman_qemu "$P-q")
assert_match "microvm: the container's own QEMU (by its rootfs)" '^[0-9]+$' "$qpid"
kill -9 "${qpid:-no-qemu}"
wait_for 20 "[ \"\$(pstate $P-q)\" = exited ]" \
  && pass "microvm: QEMU killed: the container is reported stopped" || fail "microvm: QEMU killed: stopped" "state: $(pstate "$P-q")"
assert_match "microvm: QEMU killed: non-zero status" '^[1-9][0-9]*$' "$(pexit "$P-q")"
check "microvm: QEMU killed: rm cleans up" podman_v rm -f "$P-q"

# --- bad input: no kernel, a guest that never comes up ---
mkbundle "$T/b" '.annotations["dev.vessel.isolation"] = "microvm"' 
export VESSEL_SOCKET=$T/vd/vesseld.sock VESSEL_CONFIG=$T/config.toml
printf 'assets_dir = "%s"\nresource_view = false\n' "$T/no-assets" > "$VESSEL_CONFIG"
run "$VESSEL" --root "$T/root" create --bundle "$T/b" nokernel
assert_ne "missing kernel: create fails" 0 "$RC"
assert_contains "missing kernel: says so" "$ERR" "vessel assets build"
assert_eq "missing kernel: one line" 1 "$(printf '%s\n' "$ERR" | wc -l)"
assert_eq "missing kernel: nothing left behind" "" "$(ls -A "$T/root" 2>/dev/null)"
mkbundle "$T/bm" ".annotations[\"dev.vessel.isolation\"] = \"microvm\"
  | .mounts += [{\"destination\": \"/v\", \"type\": \"bind\", \"source\": \"$T/no-such-dir\", \"options\": [\"rbind\"]}]"
run "$VESSEL" --root "$T/root" create --bundle "$T/bm" nosource
assert_eq "a bind mount whose source is missing: one line naming it" \
  "vessel: container \"nosource\": bind mount $T/no-such-dir on /v: no such file or directory" "$ERR"
assert_eq "a bind mount whose source is missing: nothing left behind" "" "$(ls -A "$T/root" 2>/dev/null)"

# a guest that never comes up (its initrd is garbage: the kernel panics): a clear error at create
# within the configured timeout, and nothing left behind
"$VESSEL" daemon stop >/dev/null 2>&1
printf 'resource_view = false\n' > "$T/plain.toml"
good_kernel=$(VESSEL_CONFIG=$T/plain.toml "$VESSEL" assets show | sed -n 's/^kernel: //p')
# where the chosen kernel's files live in an assets dir: "." (Debian's) or "vessel" (Vessel's kernel)
kdir=$(dirname "${good_kernel#/var/lib/vessel/assets/}")
mkdir -p "$T/bad-assets/$kdir"
ln -s "$good_kernel" "$T/bad-assets/$kdir/vmlinux"
"$VESSEL" daemon stop >/dev/null 2>&1
head -c 65536 /dev/urandom > "$T/bad-assets/$kdir/initrd.img"
printf 'assets_dir = "%s"\nresource_view = false\nmicrovm_boot_timeout = 15\n' "$T/bad-assets" > "$VESSEL_CONFIG"
vms_before=$(ls /run/vessel/vm 2>/dev/null | sort)
t0=$(date +%s)
run "$VESSEL" --root "$T/root" create --bundle "$T/b" noboot
assert_ne "guest never up: create fails" 0 "$RC"
assert_match "guest never up: says the agent did not come up" "agent" "$ERR"
assert_eq "guest never up: one line" 1 "$(printf '%s\n' "$ERR" | wc -l)"
assert_le "guest never up: within the timeout (15 s, plus QEMU's start)" 45 $(( $(date +%s) - t0 ))
assert_eq "guest never up: no state left" "" "$(ls -A "$T/root" 2>/dev/null)"
assert_eq "guest never up: no VM dir left" "$vms_before" "$(ls /run/vessel/vm 2>/dev/null | sort)"
assert_eq "guest never up: no QEMU left" "" "$(our_qemus)"
"$VESSEL" daemon stop >/dev/null 2>&1

# --- each guest kernel boots (guest_kernel = "debian" | "vessel"; VESSEL_GUEST_KERNEL, which
# overrides the config, picks it here): a daemon of each, whose guest runs that kernel ---
mkbundle "$T/bk" '.annotations["dev.vessel.isolation"] = "microvm" | .process.terminal = false
  | .process.args = ["cat", "/proc/version"]'
printf 'resource_view = false\n' > "$VESSEL_CONFIG"
for k in debian vessel; do
  export VESSEL_SOCKET=$T/k-$k/vesseld.sock
  # the assets of this build: its agent in the initrd (`make assets` builds Debian's set only);
  # Vessel's kernel itself is cached under the assets dir: built here only on a fresh host (minutes)
  check "guest_kernel=$k: vessel assets build" -t 1000 env VESSEL_GUEST_KERNEL=$k "$VESSEL" assets build
  run env VESSEL_GUEST_KERNEL=$k "$VESSEL" assets show
  assert_eq "guest_kernel=$k: its assets are there" 0 "$RC"
  run -t 120 env VESSEL_GUEST_KERNEL=$k "$VESSEL" --root "$T/root" run --bundle "$T/bk" "$P-k$k"
  assert_eq "guest_kernel=$k: the guest runs" 0 "$RC"
  # Debian's: "Linux version 6.1.0-57-amd64 (debian-kernel@lists.debian.org) …"; Vessel's: "Linux version 6.1.192 (…"
  [ "$k" = debian ] && want='^Linux version [^ ]+-amd64 \(debian-kernel@' || want='^Linux version 6\.1\.[0-9]+ \('
  assert_match "guest_kernel=$k: the guest boots $k's kernel" "$want" "$OUT"
  "$VESSEL" daemon stop >/dev/null 2>&1
done
unset VESSEL_SOCKET VESSEL_CONFIG

wait_for 30 "[ -z \"\$(our_qemus)\" ]" \
  && pass "microvm: no QEMU of this test left" || fail "microvm: no QEMU of this test left" "$(pgrep -af '[q]emu-system-' | grep -F "$T/")"
summary
