#!/usr/bin/env bash
# The OCI config inside a microVM's guest (issue 12, item 5): the same podman command under crun
# and in a microVM must show the same capabilities, noNewPrivileges, seccomp mode and filter,
# /dev layout, masked and read-only paths, read-only root, sysctl, oomScoreAdj, rlimit,
# hostname, devices, uid/gid mappings (a user namespace) and rootfsPropagation. Each check
# compares the microVM's line with crun's.
source "$(dirname "$0")/../lib.sh"

[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
command -v crun >/dev/null || skip_all "crun not installed"
host_prepare || skip_all "host_prepare failed"
require_assets
podman_start || skip_all "podman set-up failed"

BB=$IMAGE_NAME
VM=(--annotation dev.vessel.isolation=microvm)

# what the workload sees, one "key value" line each
probe='
  grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/self/status | tr -s "\t " " "
  echo "dev $(ls -A /dev | sort | tr "\n" " ")"
  for l in fd stdin stdout stderr ptmx core; do echo "link-$l $(readlink /dev/$l)"; done
  for d in null zero full random urandom tty; do echo "node-$d $(stat -c "%F %t:%T %a" /dev/$d)"; done
  echo "fuse $(stat -c "%F %t:%T %a %u:%g" /dev/fuse 2>&1)"
  echo "pts $(awk "\$2 == \"/dev/pts\" {print \$3}" /proc/mounts)"
  echo "devfs $(awk "\$2 == \"/dev\" {print \$3}" /proc/mounts)"
  echo "kcore $(head -c 16 /proc/kcore 2>/dev/null | wc -c)"
  echo "masked-dir $(ls -A /proc/acpi 2>/dev/null | wc -l)"
  if echo x > /proc/sys/kernel/domainname 2>/dev/null; then echo "sys writable"; else echo "sys read-only"; fi
  if touch /rootfile 2>/dev/null; then echo "root writable"; else echo "root read-only"; fi
  echo "sysctl $(cat /proc/sys/kernel/shm_rmid_forced)"
  echo "oom $(cat /proc/self/oom_score_adj)"
  echo "nofile $(ulimit -n)"
  echo "hostname $(hostname)"
  if mkdir /tmp/m 2>/dev/null; then echo "mkdir allowed"; else echo "mkdir refused"; fi
'
# a profile of our own: everything allowed but mkdir/mkdirat (EPERM)
cat > "$T/seccomp.json" <<'JSON'
{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
JSON
[ -c /dev/fuse ] || mknod /dev/fuse c 10 229
compare() { # NAME PODMAN-RUN-ARGS... -- (runs $probe under both)
  local name=$1; shift
  run podman_t run --rm "$@" "$BB" sh -c "$probe"; local crun_out=$OUT crun_rc=$RC
  run podman_v run --rm "${VM[@]}" "$@" "$BB" sh -c "$probe"; local vm_out=$OUT vm_rc=$RC
  assert_eq "$name: crun ran the probe" 0 "$crun_rc"
  assert_eq "$name: the microVM ran the probe" 0 "$vm_rc"
  [ "$crun_rc" = 0 ] || diag "crun: $ERR"
  assert_ge "$name: crun's probe printed every line" 24 "$(printf '%s\n' "$crun_out" | grep -c .)"
  local key
  for key in $(printf '%s\n' "$crun_out" | awk '{print $1}'); do
    # a hostname of its own only where the command gives one (else each is its container's id)
    [ "$key" = hostname ] && [[ " $* " != *" --hostname "* ]] && continue
    assert_eq "$name: $key as under crun" "$(printf '%s\n' "$crun_out" | grep -m1 "^$key ")" \
      "$(printf '%s\n' "$vm_out" | grep -m1 "^$key ")"
  done
}

# podman's defaults: its capability list, its seccomp profile, masked and read-only paths, /dev
compare "defaults" --tmpfs /tmp
# the knobs: capabilities added and dropped, no-new-privileges, our seccomp filter, read-only root,
# a sysctl, oomScoreAdj, an rlimit, a hostname, a device
compare "options" --cap-add SYS_ADMIN --cap-add NET_ADMIN --cap-drop CHOWN --cap-drop KILL \
  --security-opt no-new-privileges --security-opt seccomp="$T/seccomp.json" --read-only --tmpfs /tmp \
  --sysctl kernel.shm_rmid_forced=1 --oom-score-adj 321 --ulimit nofile=777:888 --ulimit nproc=1024:1024 --hostname oci-guest \
  --device /dev/fuse
# every capability and no filter (--privileged would also give the host's devices: not compared)
compare "all caps, unconfined" --cap-add ALL --security-opt seccomp=unconfined --tmpfs /tmp
# a non-root user: its capability sets are empty after exec, as the kernel makes them
compare "user nobody" --user 65534:65534 --tmpfs /tmp

# a terminal: /dev/console is the process's pty, as crun makes it
console='stat -c "console %F %t" /dev/console; stat -c "tty %t" "$(tty)"'
run with_tty podman_t run --rm -it "$BB" sh -c "$console"; crun_out=$(printf '%s' "$OUT" | tr -d '\r')
run with_tty podman_v run --rm -it "${VM[@]}" "$BB" sh -c "$console"; vm_out=$(printf '%s' "$OUT" | tr -d '\r')
assert_contains "-it: crun's /dev/console is a pty" "$crun_out" "console character special file 88"
assert_eq "-it: /dev/console as under crun" "$crun_out" "$vm_out"

# exec: the same sets as process 0 (podman passes them in its process.json), and --cap-add
for rt in crun vm; do
  if [ $rt = crun ]; then run podman_t run -d --name "oci-$rt-$$" --cap-drop ALL --cap-add NET_RAW "$BB" sleep 600
  else run podman_v run -d --name "oci-$rt-$$" "${VM[@]}" --cap-drop ALL --cap-add NET_RAW "$BB" sleep 600; fi
done
wait_for 60 "[ \"\$(pstate oci-vm-$$)\" = running ]"
caps='grep -E "^Cap(Prm|Eff|Bnd)" /proc/self/status | tr -s "\t " " " | tr "\n" " "'
run podman_t exec "oci-crun-$$" sh -c "$caps"; crun_exec=$OUT
run podman_v exec "oci-vm-$$" sh -c "$caps"; vm_exec=$OUT
assert_eq "exec: the container's capabilities, as under crun" "$crun_exec" "$vm_exec"
assert_ne "exec: not every capability" "" "$(printf '%s' "$vm_exec" | grep -v 000001ffffffffff)"
run podman_t exec --privileged "oci-crun-$$" sh -c "$caps"; crun_exec=$OUT
run podman_v exec --privileged "oci-vm-$$" sh -c "$caps"; vm_exec=$OUT
assert_eq "exec --privileged: the capabilities as under crun" "$crun_exec" "$vm_exec"
podman_t rm -f -t 0 "oci-crun-$$" >/dev/null 2>&1
podman_v rm -f -t 0 "oci-vm-$$" >/dev/null 2>&1

# hooks: createRuntime and prestart on the host during create (with the state on stdin, their
# own env, their args[0] as argv[0], a pid in the container's new network namespace), poststart
# after start, poststop after delete; a failing createRuntime fails the create, naming it
H=$T/hooks; mkdir -p "$H"
hook() { # NAME — a hook that records its stdin, argv[0], env and the net namespace of the state's pid
  printf '{"path": "/bin/sh", "args": ["hook-%s", "-c", "cat > %s/%s.json; echo $0 > %s/%s.argv0; env | grep -v ^PWD= | sort | tr \\"\\\\n\\" \\" \\" > %s/%s.env; readlink /proc/$(jq .pid %s/%s.json)/ns/net > %s/%s.netns 2>/dev/null; true"], "env": ["HOOK=%s", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}' \
    "$1" "$H" "$1" "$H" "$1" "$H" "$1" "$H" "$1" "$H" "$1" "$1"
}
mkbundle "$T/bh" ".annotations[\"dev.vessel.isolation\"] = \"microvm\" | .process.terminal = false
  | .process.args = [\"sh\", \"-c\", \"echo in-guest\"]
  | .hooks = {createRuntime: [$(hook createRuntime)], prestart: [$(hook prestart)],
              poststart: [$(hook poststart)], poststop: [$(hook poststop)]}"
run -t 180 "$VESSEL" --root "$T/hroot" run --bundle "$T/bh" hooked
assert_eq "hooks: the container ran" in-guest "$OUT"
for k in createRuntime prestart poststart poststop; do
  assert_eq "hooks: $k ran, given the state (id)" hooked "$(jq -r .id "$H/$k.json" 2>/dev/null)"
  assert_eq "hooks: $k's argv[0] is its args[0]" "hook-$k" "$(cat "$H/$k.argv0" 2>/dev/null)"
  assert_not_contains "hooks: $k has its own env only" "$(cat "$H/$k.env" 2>/dev/null)" "VESSEL_"
  assert_contains "hooks: $k has its env" "$(cat "$H/$k.env" 2>/dev/null)" "HOOK=$k"
done
assert_eq "hooks: createRuntime sees status creating" creating "$(jq -r .status "$H/createRuntime.json" 2>/dev/null)"
assert_eq "hooks: poststart sees status running" running "$(jq -r .status "$H/poststart.json" 2>/dev/null)"
assert_eq "hooks: poststop sees status stopped" stopped "$(jq -r .status "$H/poststop.json" 2>/dev/null)"
assert_match "hooks: createRuntime's pid is in a network namespace" '^net:\[[0-9]+\]$' "$(cat "$H/createRuntime.netns" 2>/dev/null)"
assert_ne "hooks: … a new one, not the host's" "$(readlink /proc/self/ns/net)" "$(cat "$H/createRuntime.netns" 2>/dev/null)"
mkbundle "$T/bhf" '.annotations["dev.vessel.isolation"] = "microvm" | .process.terminal = false
  | .hooks = {createRuntime: [{"path": "/bin/sh", "args": ["sh", "-c", "echo no network for you; exit 3"]}]}'
vms_before=$(ls /run/vessel/vm 2>/dev/null | sort)
run -t 120 "$VESSEL" --root "$T/hroot" create --bundle "$T/bhf" hookfail
assert_ne "a failing createRuntime hook: create fails" 0 "$RC"
assert_eq "a failing createRuntime hook: one line naming it" \
  'vessel: container "hookfail": createRuntime hook /bin/sh failed: no network for you' "$ERR"
assert_eq "a failing createRuntime hook: nothing left behind" "" "$("$VESSEL" --root "$T/hroot" list -q)"
assert_eq "a failing createRuntime hook: no VM dir left" "$vms_before" "$(ls /run/vessel/vm 2>/dev/null | sort)"
assert_eq "hooks: no holder process left" "" "$(pgrep -x sleep -a | grep infinity | awk '{print $1}' | while read p; do [ "$(readlink /proc/$p/ns/net)" = "$(cat "$H/createRuntime.netns")" ] && echo $p; done)"

# uid/gid mappings: a user namespace of the container's own in the guest, with podman's maps (its
# storage chowns the image to the host ids, which 9p shows the guest as they are), as under crun:
# the maps, root inside owning its files, the capabilities (of that namespace), rlimits and
# oom_score_adj, and exec joining it. Then what crun 1.8 refuses in a user namespace (`setrlimit
# RLIMIT_NOFILE: Operation not permitted`, `write to /proc/self/oom_score_adj: Permission denied`)
# and runc does from its parent, as the agent does: a raised hard rlimit, a lowered oom_score_adj
userns_probe='
  echo "uidmap $(tr -s " " < /proc/self/uid_map | tr "\n" ";")"
  echo "gidmap $(tr -s " " < /proc/self/gid_map | tr "\n" ";")"
  echo "id $(id)"
  echo "owner $(stat -c %u:%g /etc/passwd)"
  if touch /newfile 2>/dev/null; then echo "root writable"; else echo "root read-only"; fi
  grep -E "^Cap(Eff|Bnd)" /proc/self/status | tr -s "\t " " "
  echo "nofile $(ulimit -Sn):$(ulimit -Hn)"
  echo "oom $(cat /proc/self/oom_score_adj)"
'
# (--network none: podman 4.3's CNI bridge fails to set up a user namespace's netns, under crun too)
# (rlimits below the host's and a positive score: crun applies no more in a user namespace)
MAPS=(--network none --uidmap 0:100000:65536 --gidmap 0:100000:65536 --ulimit nofile=1024:2048 --ulimit nproc=1000:1000
      --oom-score-adj 100)
run podman_t run --rm "${MAPS[@]}" "$BB" sh -c "$userns_probe"; crun_out=$OUT crun_rc=$RC
run podman_v run --rm "${VM[@]}" "${MAPS[@]}" "$BB" sh -c "$userns_probe"; vm_out=$OUT vm_rc=$RC
assert_eq "uidmap: crun ran the probe" 0 "$crun_rc"
assert_eq "uidmap: the microVM ran the probe" 0 "$vm_rc"
[ "$vm_rc" = 0 ] || diag "microVM: $ERR"
[ "$crun_rc" = 0 ] || diag "crun: $ERR"
assert_eq "uidmap: crun's maps are the asked ones" "uidmap  0 100000 65536;" "$(printf '%s\n' "$crun_out" | grep -m1 '^uidmap ')"
for key in uidmap gidmap id owner root CapEff: CapBnd: nofile oom; do
  assert_eq "uidmap: $key as under crun" "$(printf '%s\n' "$crun_out" | grep -m1 "^$key ")" \
    "$(printf '%s\n' "$vm_out" | grep -m1 "^$key ")"
done
for rt in crun vm; do
  if [ $rt = crun ]; then run podman_t run -d --name "oci-u$rt-$$" "${MAPS[@]}" "$BB" sleep 600
  else run podman_v run -d --name "oci-u$rt-$$" "${VM[@]}" "${MAPS[@]}" "$BB" sleep 600; fi
done
wait_for 60 "[ \"\$(pstate oci-uvm-$$)\" = running ]"
run podman_t exec "oci-ucrun-$$" sh -c "$userns_probe"; crun_exec=$OUT
run podman_v exec "oci-uvm-$$" sh -c "$userns_probe"; vm_exec=$OUT
assert_eq "uidmap: exec ran in the microVM" 0 "$RC"
assert_eq "uidmap: exec's maps are the container's" "uidmap  0 100000 65536;" "$(printf '%s\n' "$vm_exec" | grep -m1 '^uidmap ')"
for key in uidmap gidmap id CapEff: nofile; do
  assert_eq "uidmap: exec's $key as under crun" "$(printf '%s\n' "$crun_exec" | grep -m1 "^$key ")" \
    "$(printf '%s\n' "$vm_exec" | grep -m1 "^$key ")"
done
podman_t rm -f -t 0 "oci-ucrun-$$" >/dev/null 2>&1
podman_v rm -f -t 0 "oci-uvm-$$" >/dev/null 2>&1
run podman_v run --rm "${VM[@]}" --network none --uidmap 0:100000:65536 --gidmap 0:100000:65536 \
  --ulimit nofile=2048:8192 --oom-score-adj -100 "$BB" sh -c "$userns_probe"
assert_eq "uidmap: a raised hard rlimit applies in the guest's user namespace" "nofile 2048:8192" "$(field nofile | sed 's/^/nofile /')"
assert_eq "uidmap: a lowered oom_score_adj applies in the guest's user namespace" "oom -100" "$(field oom | sed 's/^/oom /')"
assert_eq "uidmap: … with the maps" "uidmap  0 100000 65536;" "$(printf '%s\n' "$OUT" | grep -m1 '^uidmap ')"

# rootfsPropagation (no podman flag sets it: bundles, under crun and in a microVM): runtime-tools'
# check in shell — / bound recursively on a directory, then a bind made on /: seen through the
# first bind only when / is shared; binding / at all is refused when it is unbindable. And /'s
# propagation in mountinfo as under crun, but for slave: the guest's / has no master (docs/microvm.md)
prop_probe='
  if mount -o rbind / /home 2>/dev/null; then echo "bind-root allowed"; else echo "bind-root refused"; fi
  mount -o bind /www /var 2>/dev/null
  if [ -e /home/var/index.html ]; then echo "propagated yes"; else echo "propagated no"; fi
  echo "tags $(awk "\$5 == \"/\" { for (i = 7; \$i != \"-\"; i++) { sub(/:[0-9]+/, \"\", \$i); printf \"%s \", \$i } }" /proc/self/mountinfo)"
'
for prop in shared slave private unbindable; do
  filter=".process.terminal = false | .root.readonly = false | .linux.rootfsPropagation = \"$prop\"
    | .process.capabilities |= with_entries(.value += [\"CAP_SYS_ADMIN\"]) | .process.args = [\"sh\", \"-c\", \$probe]"
  mkdir -p "$T/bp-$prop-crun" "$T/bp-$prop-vm"
  jq --arg probe "$prop_probe" --arg rootfs "$IMAGE_DIR/bundle/rootfs" ".root.path = \$rootfs | $filter" \
    "$IMAGE_DIR/bundle/config.json" > "$T/bp-$prop-crun/config.json"
  jq '.annotations["dev.vessel.isolation"] = "microvm"' "$T/bp-$prop-crun/config.json" > "$T/bp-$prop-vm/config.json"
  run -t 60 crun --root "$T/crunroot" run --bundle "$T/bp-$prop-crun" "prop-$prop-$$"; crun_out=$OUT
  assert_eq "rootfsPropagation $prop: crun ran the probe" 0 "$RC"
  # a shared / under crun hands its binds to the host's rootfs mount: undone, or the next run sees them
  while umount -l "$IMAGE_DIR/bundle/rootfs/var" 2>/dev/null; do :; done
  while umount -l "$IMAGE_DIR/bundle/rootfs/home" 2>/dev/null; do :; done
  crun --root "$T/crunroot" delete -f "prop-$prop-$$" >/dev/null 2>&1
  run -t 180 "$VESSEL" --root "$T/proot" run --bundle "$T/bp-$prop-vm" "prop-$prop"; vm_out=$OUT
  assert_eq "rootfsPropagation $prop: the microVM ran the probe" 0 "$RC"
  [ "$RC" = 0 ] || diag "microVM: $ERR"
  for key in bind-root propagated tags; do
    [ "$prop-$key" = slave-tags ] && continue
    assert_eq "rootfsPropagation $prop: $key as under crun" "$(printf '%s\n' "$crun_out" | grep -m1 "^$key")" \
      "$(printf '%s\n' "$vm_out" | grep -m1 "^$key")"
  done
  expect="propagated no"; [ $prop = shared ] && expect="propagated yes"
  assert_eq "rootfsPropagation $prop: what runtime-tools expects" "$expect" "$(printf '%s\n' "$vm_out" | grep -m1 '^propagated')"
  expect="bind-root allowed"; [ $prop = unbindable ] && expect="bind-root refused"
  assert_eq "rootfsPropagation $prop: binding / as runtime-tools expects" "$expect" "$(printf '%s\n' "$vm_out" | grep -m1 '^bind-root')"
  [ $prop = slave ] && slave_tags=$(printf '%s\n' "$vm_out" | grep -m1 '^tags')
  "$VESSEL" --root "$T/proot" delete -f "prop-$prop" >/dev/null 2>&1
done
assert_eq "rootfsPropagation slave: / has no master in the guest (private), as documented" "tags " "$slave_tags"
assert_eq "rootfsPropagation: nothing left on the image's rootfs" "" \
  "$(awk -v r="$IMAGE_DIR/bundle/rootfs/" 'index($2, r) == 1' /proc/mounts)"
mkbundle "$T/bpbad" '.annotations["dev.vessel.isolation"] = "microvm" | .linux.rootfsPropagation = "sideways"'
run -t 60 "$VESSEL" --root "$T/proot" create --bundle "$T/bpbad" badprop
assert_ne "rootfsPropagation sideways: refused" 0 "$RC"
assert_contains "rootfsPropagation sideways: says which field" "$ERR" "linux.rootfsPropagation: 'sideways' is not one of"

# bad input: a seccomp action that cannot apply in a guest fails the create in one line
printf '{"defaultAction": "SCMP_ACT_NOTIFY"}' > "$T/notify.json"
run podman_v run --rm "${VM[@]}" --security-opt seccomp="$T/notify.json" "$BB" true
assert_ne "SCMP_ACT_NOTIFY: refused" 0 "$RC"
assert_contains "SCMP_ACT_NOTIFY: says why" "$ERR" "SCMP_ACT_NOTIFY cannot reach a host listener"
summary
