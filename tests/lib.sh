# tests/lib.sh — sourced by every end-to-end test.
#
#   REPO      repository root
#   VESSEL    the OCI runtime under test (absolute path; default $REPO/bin/vessel).
#             Run against crun meanwhile with VESSEL=/usr/bin/crun.
#   BUILD     $REPO/build
#   T         this run's scratch dir (/tmp/vessel-test.XXXXXX), removed on exit
#             (kept when KEEP_SCRATCH=1)
#
# Assertions print `ok - NAME` / `not ok - NAME` (with got/expected) and count;
# `summary` prints `N passed, N failed` and returns non-zero on failures.
# Every command a check runs is bounded by `timeout` (CHECK_TIMEOUT, default 60 s).

# shellcheck shell=bash
set -u
set -o pipefail

REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
VESSEL=${VESSEL:-$REPO/bin/vessel}
case "$VESSEL" in
  /*) ;;
  */*) VESSEL=$(cd "$(dirname "$VESSEL")" && pwd)/$(basename "$VESSEL") ;;
  *) VESSEL=$(command -v "$VESSEL" || echo "$VESSEL") ;;
esac
BUILD=${BUILD:-$REPO/build}
IMAGE_DIR=${IMAGE_DIR:-$BUILD/images/busybox}
IMAGE_NAME=localhost/bb:latest
CHECK_TIMEOUT=${CHECK_TIMEOUT:-60}
export REPO VESSEL BUILD IMAGE_DIR IMAGE_NAME CHECK_TIMEOUT

# (kept short: podman refuses a runroot longer than 50 characters)
T=$(mktemp -d /tmp/vessel-test.XXXXXX)
# tests/run.sh passes VESSEL_TEST_REGISTRY and removes, at the end, whatever scratch
# dir a test left behind (e.g. one that replaced the EXIT trap)
[ -n "${VESSEL_TEST_REGISTRY:-}" ] && echo "$T" >> "$VESSEL_TEST_REGISTRY"
chmod 0755 "$T"
export T

PASS=0
FAIL=0
_TEST_NAME=$(basename "${0}")

# ------------------------------------------------------------------ output / asserts

diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

# indent a (possibly multi-line, possibly long) value for diagnostics
_show() {
  local label=$1 val=$2
  if [ "${#val}" -gt 4000 ]; then val="${val:0:4000}…(truncated)"; fi
  if [ -z "$val" ]; then printf '#   %s: (empty)\n' "$label"; return; fi
  printf '%s\n' "$val" | sed "s/^/#   $label: /"
}

pass() { PASS=$((PASS + 1)); echo "ok - $1"; }
fail() {
  local name=$1; shift
  FAIL=$((FAIL + 1))
  echo "not ok - $name"
  local line
  for line in "$@"; do printf '#   %s\n' "$line"; done
  return 0
}

# run [SECS] -- CMD...   or   run CMD...
# Runs CMD (external command or exported function) bounded by a timeout; sets
# RC, OUT (stdout), ERR (stderr). Never fails itself.
run() {
  local secs=$CHECK_TIMEOUT
  if [ "${1:-}" = "-t" ]; then secs=$2; shift 2; fi
  timeout -k 5 "$secs" bash -c '"$@"' _ "$@" >"$T/.out" 2>"$T/.err" </dev/null
  RC=$?
  OUT=$(cat "$T/.out")
  ERR=$(cat "$T/.err")
  return 0
}

# run_sh [-t SECS] 'shell snippet'  — like run, for snippets (lib functions available)
run_sh() {
  local secs=$CHECK_TIMEOUT
  if [ "${1:-}" = "-t" ]; then secs=$2; shift 2; fi
  run -t "$secs" bash -c "$1"
}

_fail_run() { # name expectation
  local name=$1 what=$2
  fail "$name" "$what"
  printf '#   exit status: %s%s\n' "$RC" "$([ "$RC" = 124 ] && echo ' (timed out)')"
  _show stdout "$OUT"
  _show stderr "$ERR"
}

# check NAME CMD...         passes when CMD exits 0 (within CHECK_TIMEOUT)
check() {
  local name=$1; shift
  run "$@"
  if [ "$RC" = 0 ]; then pass "$name"; else _fail_run "$name" "expected exit 0: $*"; return 1; fi
}

# check_sh NAME 'snippet'   passes when the bash snippet exits 0
check_sh() {
  local name=$1; shift
  run_sh "$1"
  if [ "$RC" = 0 ]; then pass "$name"; else _fail_run "$name" "expected exit 0: $1"; return 1; fi
}

# check_fails NAME CMD...   passes when CMD exits non-zero (but did not time out)
check_fails() {
  local name=$1; shift
  run "$@"
  if [ "$RC" != 0 ] && [ "$RC" != 124 ]; then pass "$name"; else _fail_run "$name" "expected a non-zero exit (no timeout): $*"; return 1; fi
}

# assert_rc NAME EXPECTED CMD...
assert_rc() {
  local name=$1 want=$2; shift 2
  run "$@"
  if [ "$RC" = "$want" ]; then pass "$name"; else _fail_run "$name" "expected exit status $want: $*"; return 1; fi
}

# assert_eq NAME EXPECTED GOT
assert_eq() {
  if [ "$2" = "$3" ]; then pass "$1"; return 0; fi
  fail "$1"; _show expected "$2"; _show got "$3"; return 1
}

# assert_ne NAME UNEXPECTED GOT
assert_ne() {
  if [ "$2" != "$3" ]; then pass "$1"; return 0; fi
  fail "$1"; _show "expected anything but" "$2"; return 1
}

# assert_contains NAME HAYSTACK NEEDLE — an empty NEEDLE (an expectation computed as nothing) fails:
# every haystack contains it, so the check could not fail
assert_contains() {
  [ -n "$3" ] || { fail "$1"; _show "expected to contain" "(nothing: the expectation is empty)"; _show got "$2"; return 1; }
  case "$2" in *"$3"*) pass "$1"; return 0 ;; esac
  fail "$1"; _show "expected to contain" "$3"; _show got "$2"; return 1
}

# assert_not_contains NAME HAYSTACK NEEDLE
assert_not_contains() {
  case "$2" in *"$3"*) fail "$1"; _show "expected not to contain" "$3"; _show got "$2"; return 1 ;; esac
  pass "$1"
}

# assert_match NAME ERE GOT — an empty ERE fails, as an empty needle does
assert_match() {
  [ -n "$2" ] || { fail "$1"; _show "expected to match" "(nothing: the expression is empty)"; _show got "$3"; return 1; }
  if printf '%s' "$3" | grep -Eq -- "$2"; then pass "$1"; return 0; fi
  fail "$1"; _show "expected to match" "$2"; _show got "$3"; return 1
}

# assert_le / assert_ge NAME LIMIT GOT (integers)
assert_le() {
  if [[ "$3" =~ ^-?[0-9]+$ ]] && [ "$3" -le "$2" ]; then pass "$1"; return 0; fi
  fail "$1"; _show "expected <=" "$2"; _show got "$3"; return 1
}
assert_ge() {
  if [[ "$3" =~ ^-?[0-9]+$ ]] && [ "$3" -ge "$2" ]; then pass "$1"; return 0; fi
  fail "$1"; _show "expected >=" "$2"; _show got "$3"; return 1
}

# wait_for SECS 'snippet' — polls (0.2 s) until the snippet succeeds; returns 1 on timeout
wait_for() {
  local secs=$1 snippet=$2 end
  end=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
  while :; do
    if timeout -k 2 10 bash -c "$snippet" >/dev/null 2>&1 </dev/null; then return 0; fi
    [ $(( $(date +%s%N) / 1000000 )) -ge "$end" ] && return 1
    sleep 0.2
  done
}

summary() {
  echo "$PASS passed, $FAIL failed"
  [ "$FAIL" = 0 ]
}

# skip_all REASON — for prerequisites the test cannot create (reported as a failure
# unless ALLOW_SKIP=1, so that a missing prerequisite never passes silently)
skip_all() {
  if [ "${ALLOW_SKIP:-0}" = 1 ]; then
    echo "# SKIP $_TEST_NAME: $*"
  else
    fail "prerequisite: $*"
  fi
  summary
  exit
}

# ------------------------------------------------------------------ tty

# with_tty CMD... — runs CMD (command or exported function) with a new pseudo-terminal
# as its controlling terminal and stdin/stdout/stderr; the terminal's output (CRs
# stripped) goes to stdout; CMD's exit status is returned.
with_tty() { /usr/bin/python3 "$REPO/tests/pty.py" -- bash -c '"$@"' _ "$@"; }
# with_tty_input TEXT CMD... — the same, typing TEXT (\n escapes allowed) into the terminal
with_tty_input() {
  local text=$1; shift
  /usr/bin/python3 "$REPO/tests/pty.py" --input "$text" -- bash -c '"$@"' _ "$@"
}

# ------------------------------------------------------------------ helpers the suites share

# pid_alive PID — PID is a live process (not a zombie)
pid_alive() { [ -n "$1" ] && [ "$1" != 0 ] && [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# field KEY — from $OUT's lines "KEY VALUE", the VALUE (for snippets that print one line per fact)
field() { printf '%s\n' "$OUT" | sed -n "s/^$1 //p"; }

# vessel_status ROOT ID — the status field of `vessel --root ROOT state ID` (empty when state fails)
vessel_status() { "$VESSEL" --root "$1" state "$2" 2>/dev/null | jq -r .status 2>/dev/null; }

# bg_run NAME CMD... — runs CMD in the background (bounded by BG_TIMEOUT, default 180 s); its exit
# status lands in $T/NAME.rc, its output in $T/NAME.out
bg_run() {
  local name=$1; shift
  ( timeout -k 5 "${BG_TIMEOUT:-180}" bash -c '"$@"' _ "$@" >"$T/$name.out" 2>&1 </dev/null; echo $? >"$T/$name.rc" ) &
}
# bg_wait NAME SECS — prints the exit status of bg_run NAME once it ended (empty after SECS)
bg_wait() { wait_for "$2" "[ -s $T/$1.rc ]"; cat "$T/$1.rc" 2>/dev/null; }

# api METHOD PATH [BODY] [SOCKET] — an HTTP request to a Firecracker API socket (default $API_SOCK);
# sets CODE (the HTTP status) and BODY (the response body)
api() {
  local out
  out=$(curl -s --max-time 60 --unix-socket "${4:-${API_SOCK:?api: no socket}}" -X "$1" \
    -H 'Content-Type: application/json' ${3:+--data-binary "$3"} -w '\n%{http_code}' "http://localhost$2")
  CODE=${out##*$'\n'}
  BODY=${out%$'\n'*}
  [ "$BODY" = "$out" ] && BODY=
  return 0
}

# require_assets — the microVM preamble: the guest assets must be there (make test builds them);
# sets KERNEL and INITRD to the guest kernel's and initrd's paths
require_assets() {
  run "$VESSEL" assets show
  [ "$RC" = 0 ] || skip_all "guest assets missing (make assets, or bin/vessel assets build): $ERR"
  KERNEL=$(printf '%s\n' "$OUT" | sed -n 's/^kernel: //p')
  INITRD=$(printf '%s\n' "$OUT" | sed -n 's/^initrd: //p')
}

# vm_run_dir ROOT ID — a microVM's run dir, from `vessel state` (the directory of its API socket)
vm_run_dir() {
  local s; s=$("$VESSEL" --root "$1" state "$2" 2>/dev/null | jq -r '.annotations["dev.vessel.api-socket"] // empty' 2>/dev/null)
  [ -n "$s" ] && dirname "$s"
}

# vm_run_dir_of ROOT ID — where a microVM's run dir is while it exists: /run/vessel/vm/ and the
# first 16 hex digits of the SHA-256 of "ROOT/ID" (MicroVmDriver.runDir; ROOT as given to --root),
# to check that a VM no one can ask `state` about any more (a foreground run's) left none
vm_run_dir_of() { printf '/run/vessel/vm/%s\n' "$(printf '%s/%s' "$1" "$2" | sha256sum | cut -c1-16)"; }

# vm_run_dirs — the microVM run dirs on this host, one a line (tests/run.sh compares them per suite)
vm_run_dirs() { ls -1 /run/vessel/vm 2>/dev/null | sed 's|^|/run/vessel/vm/|'; }

# qemus_of STRING — pids of the QEMUs whose command line contains STRING (a path of theirs:
# rootfs, drive, run dir); our_qemus — those of this run (a path under $T; a jailed QEMU names
# none, its 9p shares being served by virtfs-proxy-helpers, its children: their parents then)
qemus_of() { pgrep -af '[q]emu-system-' | grep -F -- "$1" | awk '{print $1}'; }
our_qemus() {
  local h p
  {
    qemus_of "$T/"
    for h in $(pgrep -af '[v]irtfs-proxy-helper ' | grep -F -- " -p $T/" | awk '{print $1}'); do
      p=$(ps -o ppid= -p "$h" 2>/dev/null | tr -d ' ')
      [ -n "$p" ] && ps -o comm= -p "$p" 2>/dev/null | grep -q '^qemu-system-' && echo "$p"
    done
  } | sort -un
}

# ------------------------------------------------------------------ host set-up

# host_prepare — idempotent host quirks:
#  * crun refuses the hybrid cgroup layout while the cgroup2 mount holds any controller;
#    here that is hugetlb, which a v1 hugetlb hierarchy takes off the unified mount.
host_prepare() {
  local unified=/sys/fs/cgroup/unified c
  if [ -f "$unified/cgroup.controllers" ]; then
    for c in $(cat "$unified/cgroup.controllers"); do
      if ! mountpoint -q "/sys/fs/cgroup/$c"; then
        mkdir -p "/sys/fs/cgroup/$c"
        mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" \
          || { echo "host_prepare: cannot mount cgroup v1 $c hierarchy" >&2; return 1; }
      fi
    done
    if [ -n "$(cat "$unified/cgroup.controllers")" ]; then
      echo "host_prepare: $unified/cgroup.controllers is not empty: $(cat "$unified/cgroup.controllers")" >&2
      return 1
    fi
  fi
  mkdir -p /run/netns
  return 0
}

# cgroup_version — prints 1 (v1 or hybrid) or 2 (unified)
cgroup_version() {
  if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then echo 2; else echo 1; fi
}

# ------------------------------------------------------------------ image

ensure_image() {
  "$REPO/images/busybox.sh" "$IMAGE_DIR" >/dev/null || return 1
  [ -f "$IMAGE_DIR/busybox.oci.tar" ]
}

# mkbundle DIR JQ-FILTER — a bundle of the busybox image at DIR, its config.json changed by the filter
mkbundle() { # DIR JQ-FILTER
  mkdir -p "$1"
  jq --arg rootfs "$IMAGE_DIR/bundle/rootfs" ".root.path = \$rootfs | $2" \
     "$IMAGE_DIR/bundle/config.json" > "$1/config.json"
}

# cgroup_file PID CONTROLLER(v1) FILE — host path of FILE in the cgroup of PID
cgroup_file() {
  local pid=$1 ctl=$2 file=$3 path
  if [ "$(cgroup_version)" = 2 ]; then
    path=$(awk -F: '$1 == "0" {print $3}' "/proc/$pid/cgroup")
    echo "/sys/fs/cgroup$path/$file"
  else
    path=$(awk -F: -v c="$ctl" '{n=split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3}' "/proc/$pid/cgroup")
    echo "/sys/fs/cgroup/$ctl$path/$file"
  fi
}

# read_counter PID — /tmp/counter inside the container of PID; its writer truncates then
# writes, so an empty read is retried
read_counter() {
  local v n
  for n in 1 2 3 4 5; do
    v=$(cat "/proc/$1/root/tmp/counter" 2>/dev/null); [ -n "$v" ] && break; sleep 0.02
  done
  echo "$v"
}

# cgroup_memory_limit PID / cgroup_cpu_quota PID — the limits in the host's cgroup of PID, as
# cgroup v1 writes them ("67108864", "50000 100000") or v2 ("67108864", "50000 100000")
cgroup_memory_limit() {
  if [ "$(cgroup_version)" = 2 ]; then cat "$(cgroup_file "$1" memory memory.max)" 2>&1
  else cat "$(cgroup_file "$1" memory memory.limit_in_bytes)" 2>&1; fi
}
cgroup_cpu_quota() {
  if [ "$(cgroup_version)" = 2 ]; then cat "$(cgroup_file "$1" cpu cpu.max)" 2>&1
  else echo "$(cat "$(cgroup_file "$1" cpu cpu.cfs_quota_us)" 2>&1) $(cat "$(cgroup_file "$1" cpu cpu.cfs_period_us)" 2>&1)"; fi
}

# ------------------------------------------------------------------ podman

PODMAN_DIR=$T/podman
# The test podman's network is its own — name, bridge, subnet, IPAM and cache state — never podman's
# default "podman" / cni-podman0 / 10.88.0.0/16: on a host whose podman already made cni-podman0
# the suites still work, and afterwards the host's podman finds nothing of ours (podman_stop removes
# the bridge, the iptables chains and the CNI directories the test podman created).
PODMAN_NET=vessel-test
PODMAN_BRIDGE=vessel-tpod0         # (a fixed name: a bridge left by a killed run is reused, not doubled)
PODMAN_SUBNET=10.213.88.0/24
PODMAN_GATEWAY=10.213.88.1
# native overlay when the kernel has it (no fuse-overlayfs needed as root), else vfs
if [ -z "${PODMAN_DRIVER:-}" ]; then
  if grep -qw overlay /proc/filesystems; then PODMAN_DRIVER=overlay; else PODMAN_DRIVER=vfs; fi
fi
export PODMAN_DIR PODMAN_DRIVER PODMAN_NET PODMAN_BRIDGE PODMAN_SUBNET PODMAN_GATEWAY

_podman_setup() {
  [ -f "$PODMAN_DIR/containers.conf" ] && return 0
  # what podman_stop may remove must be told from what was there before us
  iptables_chains > "$T/.iptables-before"
  host_sysctls > "$T/.podman-sysctls-before"
  [ -e /var/lib/cni ] && : > "$T/.cni-cache-existed"
  mkdir -p "$PODMAN_DIR"/{root,runroot,tmp,cni,volumes}
  local nofile nproc
  nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=1048576
  nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] && nproc=4194304
  # podman lowers its own RLIMIT_NPROC to kernel.pid_max before it starts conmon
  local pidmax; pidmax=$(cat /proc/sys/kernel/pid_max)
  [ "$pidmax" -lt "$nproc" ] && nproc=$pidmax
  # podman's default nofile/nproc (1048576) exceed this machine's hard limits (and root
  # has no CAP_SYS_RESOURCE here): pin the container defaults to the limits we have.
  # Note: a `--ulimit` flag on `podman run` replaces default_ulimits entirely.
  cat > "$PODMAN_DIR/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
log_driver = "k8s-file"
pids_limit = 0

[network]
network_backend = "cni"
cni_plugin_dirs = ["/usr/lib/cni", "/usr/libexec/cni", "/opt/cni/bin"]
network_config_dir = "$PODMAN_DIR/cni"
default_network = "$PODMAN_NET"
default_subnet = "$PODMAN_SUBNET"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PODMAN_DIR/events.log"
tmp_dir = "$PODMAN_DIR/tmp"
volume_path = "$PODMAN_DIR/volumes"
static_dir = "$PODMAN_DIR/root/libpod"
lock_type = "file"
num_locks = 256
runtime = "crun"
EOF
  # podman's own default conflist, under our name, bridge, subnet and IPAM directory: podman uses
  # a file whose network name is default_network instead of making cni-podman0
  cat > "$PODMAN_DIR/cni/$PODMAN_NET.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$PODMAN_NET",
  "plugins": [
    {"type": "bridge", "bridge": "$PODMAN_BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$PODMAN_DIR/cni-ipam", "routes": [{"dst": "0.0.0.0/0"}],
              "ranges": [[{"subnet": "$PODMAN_SUBNET", "gateway": "$PODMAN_GATEWAY"}]]}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "firewall"},
    {"type": "tuning"}
  ]
}
EOF
  cat > "$PODMAN_DIR/storage.conf" <<EOF
[storage]
driver = "$PODMAN_DRIVER"
graphroot = "$PODMAN_DIR/root"
runroot = "$PODMAN_DIR/runroot"
EOF
}

# podman_t ARGS... — podman with its own state; never touches the host's podman state
podman_t() {
  CONTAINERS_CONF=$PODMAN_DIR/containers.conf \
  CONTAINERS_STORAGE_CONF=$PODMAN_DIR/storage.conf \
  podman --root "$PODMAN_DIR/root" --runroot "$PODMAN_DIR/runroot" \
         --storage-driver "$PODMAN_DRIVER" --cgroup-manager cgroupfs \
         --events-backend file --tmpdir "$PODMAN_DIR/tmp" "$@"
}
# podman_v ARGS... — podman_t with the runtime under test
podman_v() { podman_t --runtime "$VESSEL" "$@"; }
# pstate / pexit / ppid_of NAME — a container's status, exit code and pid, as podman inspect says
pstate() { podman_t inspect "$1" --format '{{.State.Status}}' 2>/dev/null; }
pexit() { podman_t inspect "$1" --format '{{.State.ExitCode}}' 2>/dev/null; }
ppid_of() { podman_t inspect "$1" --format '{{.State.Pid}}' 2>/dev/null; }
# podman_qemu NAME — the QEMU of a podman microVM container (its 9p root is the container's merged
# dir; a jailed QEMU's is served by a virtfs-proxy-helper, its child, with -p DIR)
podman_qemu() {
  local d q h; d=$(podman_t inspect "$1" --format '{{.GraphDriver.Data.MergedDir}}' 2>/dev/null)
  [ -n "$d" ] || return 0
  q=$(qemus_of "path=$d,")
  if [ -z "$q" ]; then
    h=$(pgrep -f -- "virtfs-proxy-helper -n -f 3 -p $d\$" | head -n1)
    [ -n "$h" ] && q=$(ps -o ppid= -p "$h" | tr -d ' ')
  fi
  [ -n "$q" ] && echo "$q"
  return 0
}

# podman_start — prepare config and load localhost/bb:latest
podman_start() {
  _podman_setup
  PODMAN_STARTED=1
  ensure_image || { echo "podman_start: image build failed" >&2; return 1; }
  local out id
  out=$(timeout 120 bash -c 'podman_t load -q -i "$IMAGE_DIR/busybox.oci.tar"' 2>&1) \
    || { echo "podman_start: podman load failed: $out" >&2; return 1; }
  if ! podman_t image exists "$IMAGE_NAME"; then
    # podman names an OCI archive by its ref.name annotation; tag it as we want it
    id=$(podman_t images -q | head -n1)
    [ -n "$id" ] && podman_t tag "$id" "$IMAGE_NAME"
  fi
  podman_t image exists "$IMAGE_NAME" || { echo "podman_start: $IMAGE_NAME not present after load: $out" >&2; return 1; }
}

# podman_stop — removes the test podman's containers and state, and its host networking: the bridge,
# the iptables chains its CNI plugins made (firewall: CNI-FORWARD/CNI-ADMIN, portmap: CNI-HOSTPORT-*,
# ipMasq: CNI-<hash>) that were not there before podman_start, and libcni's cache dir /var/lib/cni
# when podman made it and nothing else is in it. Idempotent; run at exit too.
podman_stop() {
  [ -n "${PODMAN_STARTED:-}" ] || return 0
  timeout 60 bash -c 'podman_v rm -a -f -t 0' >/dev/null 2>&1
  timeout 60 bash -c 'podman_t rm -a -f -t 0' >/dev/null 2>&1
  timeout 60 bash -c 'podman_t system reset -f' >/dev/null 2>&1
  ip link del "$PODMAN_BRIDGE" 2>/dev/null
  iptables_remove_new_chains "$T/.iptables-before" 'CNI-'
  host_sysctls_restore "$T/.podman-sysctls-before"
  if [ ! -e "$T/.cni-cache-existed" ] && [ -d /var/lib/cni ] && [ -z "$(find /var/lib/cni -type f 2>/dev/null)" ]; then
    rm -rf /var/lib/cni
  fi
  PODMAN_STARTED=
  return 0
}
_podman_cleanup() { podman_stop; }

# ------------------------------------------------------------------ host networking

# iptables_chains — every chain of the filter and nat tables, IPv4 and IPv6, as CMD:TABLE:CHAIN
iptables_chains() {
  local cmd t
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null || continue
    for t in filter nat; do
      "$cmd" -w -t "$t" -S 2>/dev/null | awk -v p="$cmd:$t:" '$1 == "-N" {print p $2}'
    done
  done | sort
}

# iptables_remove_new_chains BEFORE-FILE PREFIX — deletes the chains named PREFIX* that are not in
# BEFORE-FILE (an iptables_chains listing), and every rule elsewhere that jumps to them
iptables_remove_new_chains() {
  local before=$1 prefix=$2 c cmd t chain rule
  local new; new=$(comm -13 "$before" <(iptables_chains) | awk -F: -v p="$prefix" 'index($3, p) == 1')
  [ -n "$new" ] || return 0
  for c in $new; do
    IFS=: read -r cmd t chain <<<"$c"
    "$cmd" -w -t "$t" -S 2>/dev/null | awk -v c="$chain" '$1 == "-A" { for (i = 2; i < NF; i++) if ($i == "-j" && $(i+1) == c) { print; next } }' \
      | while IFS= read -r rule; do eval "\"\$cmd\" -w -t \"\$t\" -D ${rule#-A }"; done
  done
  for c in $new; do IFS=: read -r cmd t chain <<<"$c"; "$cmd" -w -t "$t" -F "$chain" 2>/dev/null; done
  for c in $new; do IFS=: read -r cmd t chain <<<"$c"; "$cmd" -w -t "$t" -X "$chain" 2>/dev/null; done
  return 0
}

# host_sysctls — the forwarding switches that CNI's bridge plugin turns on for a gateway bridge
host_sysctls() {
  local k
  for k in net.ipv4.ip_forward net.ipv6.conf.all.forwarding; do echo "$k=$(sysctl -n "$k" 2>/dev/null)"; done
}
# host_sysctls_restore FILE — sets them back to a host_sysctls listing
host_sysctls_restore() {
  local k v
  [ -f "$1" ] || return 0
  while IFS== read -r k v; do
    [ -n "$v" ] && [ "$(sysctl -n "$k" 2>/dev/null)" != "$v" ] && sysctl -qw "$k=$v"
  done < "$1"
  return 0
}

# host_net_snapshot — the host's links (names, addresses), network namespaces, iptables chains and
# forwarding switches, for comparing before and after a suite
host_net_snapshot() {
  echo "# links"; ip -br addr show 2>&1 | awk '{$2 = ""; print}' | sort
  echo "# netns"; ip netns list 2>&1 | awk '{print $1}' | sort
  echo "# iptables"; iptables_chains
  echo "# sysctl"; host_sysctls
  echo "# state dirs"; ls -d /var/lib/cni /run/containerd 2>/dev/null
}

# ------------------------------------------------------------------ containerd

CTRD_DIR=$T/containerd
CTRD_SOCK=$CTRD_DIR/containerd.sock
CTR_NS=vessel-test
export CTRD_DIR CTRD_SOCK CTR_NS

# containerd_start — containerd with its own config, root, state and socket
containerd_start() {
  mkdir -p "$CTRD_DIR"/{root,state,opt,runc,fifo}
  # containerd 1.6 puts its shims' sockets under /run/containerd/s whatever its state dir (named by a
  # hash of our socket's path, so they never meet the host's containerd's); the dir goes if we made it
  [ -e /run/containerd ] || : > "$T/.made-run-containerd"
  cat > "$CTRD_DIR/config.toml" <<EOF
version = 2
root = "$CTRD_DIR/root"
state = "$CTRD_DIR/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$CTRD_SOCK"

[ttrpc]
  address = "$CTRD_SOCK.ttrpc"

[debug]
  address = "$CTRD_DIR/debug.sock"
  level = "info"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$CTRD_DIR/opt"
EOF
  containerd --config "$CTRD_DIR/config.toml" >"$CTRD_DIR/containerd.log" 2>&1 </dev/null &
  CTRD_PID=$!
  local i
  for i in $(seq 1 100); do
    if [ -S "$CTRD_SOCK" ] && ctr --address "$CTRD_SOCK" version >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$CTRD_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "containerd_start: containerd did not come up; log:" >&2
  tail -n 20 "$CTRD_DIR/containerd.log" >&2
  return 1
}

# ctr_t ARGS... — ctr against the test's containerd, namespace vessel-test
ctr_t() { ctr --address "$CTRD_SOCK" -n "$CTR_NS" "$@"; }
# task_status / task_pid ID — a task's status (RUNNING, PAUSED, STOPPED) and pid, as `ctr tasks ls` says
task_status() { ctr_t tasks ls 2>/dev/null | awk -v id="$1" '$1 == id {print $3}'; }
task_pid() { ctr_t tasks ls 2>/dev/null | awk -v id="$1" '$1 == id {print $2}'; }
# ctr_run ARGS... — `ctr run` with the runtime under test and the test's runc root
ctr_run() { ctr_t run --runc-binary "$VESSEL" --runc-root "$CTRD_DIR/runc" --fifo-dir "$CTRD_DIR/fifo" "$@"; }
# ctr_exec ARGS... — `ctr tasks exec` with the test's FIFO dir (ctr's default is the host's /run/containerd/fifo)
ctr_exec() { ctr_t tasks exec --fifo-dir "$CTRD_DIR/fifo" "$@"; }

containerd_import() {
  ensure_image || { echo "containerd_import: image build failed" >&2; return 1; }
  local out
  out=$(timeout 120 bash -c 'ctr_t images import "$IMAGE_DIR/busybox.oci.tar"' 2>&1) \
    || { echo "containerd_import: import failed: $out" >&2; return 1; }
  ctr_t images ls -q | grep -qx "$IMAGE_NAME" \
    || { echo "containerd_import: $IMAGE_NAME missing after import: $out" >&2; return 1; }
}

containerd_stop() {
  [ -n "${CTRD_PID:-}" ] || return 0
  local t c
  if kill -0 "$CTRD_PID" 2>/dev/null; then
    for t in $(timeout 20 bash -c 'ctr_t tasks ls -q' 2>/dev/null); do
      timeout 20 bash -c 'ctr_t tasks kill -a -s SIGKILL "$1"' _ "$t" >/dev/null 2>&1
      timeout 20 bash -c 'ctr_t tasks rm -f "$1"' _ "$t" >/dev/null 2>&1
    done
    for c in $(timeout 20 bash -c 'ctr_t containers ls -q' 2>/dev/null); do
      timeout 20 bash -c 'ctr_t containers rm "$1"' _ "$c" >/dev/null 2>&1
    done
    kill -TERM "$CTRD_PID" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$CTRD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$CTRD_PID" 2>/dev/null
  fi
  wait "$CTRD_PID" 2>/dev/null
  # shims started for our containerd (their command line names our socket)
  local p
  for p in $(pids_matching "$CTRD_SOCK"); do kill -KILL "$p" 2>/dev/null; done
  # the per-namespace parent cgroups the shim's runtime created (only when empty)
  rmdir /sys/fs/cgroup/*/"$CTR_NS" /sys/fs/cgroup/"$CTR_NS" 2>/dev/null
  # (made by us and no other containerd running: nothing in it is anyone else's)
  [ -e "$T/.made-run-containerd" ] && ! pgrep -x containerd >/dev/null && rm -rf /run/containerd
  CTRD_PID=
}

# ------------------------------------------------------------------ leftovers

# pids_matching STRING — pids (other than ours) whose command line contains STRING
pids_matching() {
  local needle=$1 d pid cmd
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    [ "$pid" = $$ ] || [ "$pid" = "$BASHPID" ] && continue
    cmd=$({ tr '\0' ' ' < "$d/cmdline"; } 2>/dev/null) || continue
    case "$cmd" in
      *"$needle"*)
        # skip our own helper shells (their command line holds the needle as an argument)
        case "$cmd" in bash\ -c*|timeout\ *|grep\ *) continue ;; esac
        echo "$pid" ;;
    esac
  done
}

# cgroup_dirs_named NAME — cgroup directories (any hierarchy) whose basename contains NAME
cgroup_dirs_named() {
  find /sys/fs/cgroup -mindepth 1 -maxdepth 6 -type d -name "*$1*" 2>/dev/null
}

# mounts_snapshot — mount points (field 5 of mountinfo), sorted
mounts_snapshot() { awk '{print $5}' /proc/self/mountinfo | sort; }

# ------------------------------------------------------------------ cleanup

# on_cleanup 'COMMAND' — run COMMAND at exit, before the lib's own cleanup.
# Tests must use this instead of `trap ... EXIT`, which would replace the lib's cleanup.
_CLEANUP_HOOKS=()
on_cleanup() { _CLEANUP_HOOKS+=("$1"); }

# private_daemon — this test's own vesseld: its socket, config ($VESSEL_CONFIG, empty unless the
# test writes one), resource view and keeper under $T/vessel, so killing it disturbs no other
# test. At the end: every sandbox of $ROOT (if set) deleted, the daemon stopped, its keeper and
# view gone.
# the full-VM suites' start: the runtime and TOOLs they need (else skip_all, naming what is missing),
# then a daemon of the test's own without the resource view, its VMs in $T/vms, its log $T/vesseld.log
vm_suite_daemon() { # TOOL...
  [ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
  local t
  for t in "$@"; do command -v "$t" >/dev/null || skip_all "$t missing (scripts/install-deps)"; done
  private_daemon
  echo 'resource_view = false' > "$VESSEL_CONFIG"
  export VESSEL_VMS_DIR=$T/vms
  export VESSEL_LOG=$T/vesseld.log
}
private_daemon() {
  export VESSEL_SOCKET=$T/vessel/vesseld.sock
  export VESSEL_CONFIG=$T/config.toml
  [ -e "$VESSEL_CONFIG" ] || : > "$VESSEL_CONFIG"
  on_cleanup _private_daemon_stop
}
_private_daemon_stop() {
  if [ -n "${ROOT:-}" ]; then
    "$VESSEL" --root "$ROOT" list -q 2>/dev/null | while read -r id; do "$VESSEL" --root "$ROOT" delete -f "$id"; done
  fi
  "$VESSEL" daemon stop
  for p in $(pids_matching "vessel-keeper $T/"); do kill -KILL "$p"; done
  umount -l "$T/vessel/view" 2>/dev/null
  true
}

_cleanup() {
  local rc=$? h m
  set +e
  for h in "${_CLEANUP_HOOKS[@]}"; do eval "$h" >/dev/null 2>&1; done
  # a hook that ran after private_daemon's (a `vessel vm delete`, say) started the daemon again
  [ "${VESSEL_SOCKET:-}" = "$T/vessel/vesseld.sock" ] && _private_daemon_stop >/dev/null 2>&1
  containerd_stop >/dev/null 2>&1
  _podman_cleanup >/dev/null 2>&1
  # unmount whatever is left under the scratch dir (deepest first)
  for m in $(awk -v t="$T" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null
  done
  if [ "${KEEP_SCRATCH:-0}" = 1 ]; then
    echo "# scratch kept: $T" >&2
  else
    rm -rf "$T" 2>/dev/null || { sleep 1; rm -rf "$T"; }
  fi
  exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

export -f diag _show pass fail run run_sh with_tty with_tty_input wait_for cgroup_version ensure_image \
  pid_alive vessel_status vm_run_dir vm_run_dir_of vm_run_dirs api qemus_of our_qemus pstate pexit ppid_of podman_qemu task_status task_pid \
  _podman_setup podman_t podman_v podman_stop iptables_chains iptables_remove_new_chains host_sysctls host_sysctls_restore host_net_snapshot ctr_t ctr_run ctr_exec pids_matching cgroup_dirs_named mounts_snapshot
