#!/usr/bin/env bash
# tests/run.sh [PATTERN] — runs every tests/e2e/*.sh (or those whose name contains
# PATTERN), each in its own bash process, and aggregates. The last line is exactly
# `N passed, N failed` (totals); exits non-zero if anything failed.
#
#   VESSEL=/usr/bin/crun tests/run.sh      run against another runtime
#   FILE_TIMEOUT=1200                      per-file bound in seconds (microvm-net boots 50+ VMs)
#   logs: $BUILD/test-logs/<name>.log
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=${REPO:-$(cd "$HERE/.." && pwd)}
BUILD=${BUILD:-$REPO/build}
PATTERN=${1:-}
FILE_TIMEOUT=${FILE_TIMEOUT:-1200}
export REPO BUILD
LOGS=$BUILD/test-logs
mkdir -p "$LOGS"

# every test's scratch dir is registered here; whatever a test left is removed at the end
VESSEL_TEST_REGISTRY=$(mktemp /tmp/vessel-tests.XXXXXX)
export VESSEL_TEST_REGISTRY
cleanup_base() {
  local d m
  while IFS= read -r d; do
    case "$d" in /tmp/vessel-test.?*) ;; *) continue ;; esac
    [ -d "$d" ] || continue
    for m in $(awk -v t="$d" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
      umount -l "$m" 2>/dev/null
    done
    rm -rf "$d" 2>/dev/null
  done < "$VESSEL_TEST_REGISTRY"
  rm -f "$VESSEL_TEST_REGISTRY"
}
trap cleanup_base EXIT

if [ "$(id -u)" != 0 ]; then
  echo "tests/run.sh: the end-to-end tests need root" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

# build the test image once, up front (each test would otherwise race to do it)
"$REPO/images/busybox.sh" "${IMAGE_DIR:-$BUILD/images/busybox}" >/dev/null \
  || { echo "tests/run.sh: images/busybox.sh failed" >&2; echo "0 passed, 1 failed"; exit 1; }

# the host's networking, as tests/lib.sh's host_net_snapshot sees it (run in a shell of its own: the
# lib makes a scratch dir and traps EXIT)
host_net() { bash -c 'source "$1/tests/lib.sh"; host_net_snapshot' _ "$REPO" 2>&1; }
# the microVM run dirs (/run/vessel/vm/*): a suite may remove some (a daemon's start removes dead
# ones no record names) but must add none
vm_dirs() { bash -c 'source "$1/tests/lib.sh"; vm_run_dirs' _ "$REPO" 2>&1; }
# what a run dir says of whose it was, for the failure's lines
vm_dir_owner() { local f; for f in record state-dir; do [ -f "$1/$f" ] && { echo "$f $(cat "$1/$f")"; return; }; done; echo "no record file"; }

total_pass=0
total_fail=0
results=()
failed_logs=()
files=()
for f in "$HERE"/e2e/*.sh; do
  [ -e "$f" ] || continue
  case "$(basename "$f")" in *"$PATTERN"*) files+=("$f") ;; esac
done
if [ "${#files[@]}" = 0 ]; then
  echo "tests/run.sh: no test matches '$PATTERN'" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

for f in "${files[@]}"; do
  name=$(basename "$f" .sh)
  log=$LOGS/$name.log
  echo "=== $name"
  start=$(date +%s)
  net_before=$(host_net)
  vm_before=$(vm_dirs)
  timeout -k 10 "$FILE_TIMEOUT" bash "$f" </dev/null 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  secs=$(( $(date +%s) - start ))
  # every suite must leave the host's networking as it found it (links, addresses, netns, iptables chains)
  net_diff=$(diff <(printf '%s\n' "$net_before") <(host_net))
  if [ -n "$net_diff" ]; then
    { echo "not ok - $name: the host's networking is as before the suite"; printf '%s\n' "$net_diff" | sed 's/^/#   /'; } | tee -a "$log"
    host_net_changed=1
  else
    host_net_changed=0
  fi
  # every suite must leave no microVM run dir behind (the VMs it ran were deleted)
  vm_new=$(comm -13 <(printf '%s\n' "$vm_before" | sort) <(vm_dirs | sort) | grep .)
  if [ -n "$vm_new" ]; then
    { echo "not ok - $name: no microVM run dir left in /run/vessel/vm"
      for d in $vm_new; do echo "#   $d: $(vm_dir_owner "$d")"; done; } | tee -a "$log"
    vm_dirs_left=1
  else
    vm_dirs_left=0
  fi
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n1)
  if [ -n "$line" ]; then
    p=${line%% passed*}
    fl=${line#*, }; fl=${fl%% failed}
  else
    p=$(grep -c '^ok - ' "$log")
    fl=$(( $(grep -c '^not ok - ' "$log") + 1 ))
    echo "not ok - $name: no summary line (exit status $rc$([ "$rc" = 124 ] && echo ", timed out after ${FILE_TIMEOUT}s"))"
  fi
  fl=$((fl + host_net_changed + vm_dirs_left))
  if [ "$rc" != 0 ] && [ "$fl" = 0 ]; then
    fl=1
    echo "not ok - $name: exit status $rc with no failed check"
  fi
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + fl))
  results+=("$(printf '%-4s %-20s %4d passed, %3d failed  (%ds)' "$([ "$fl" = 0 ] && echo PASS || echo FAIL)" "$name" "$p" "$fl" "$secs")")
  [ "$fl" = 0 ] || failed_logs+=("$log")
done

# CI shows only the end of this output: the failed checks and their diagnostics go just above the
# table (each suite's first 30 lines of them), so a red run says why without its logs
if [ "${#failed_logs[@]}" -gt 0 ]; then
  echo
  echo "=== failures"
  for log in "${failed_logs[@]}"; do
    echo "--- $(basename "$log" .log)"
    awk '/^not ok / && !/# TODO/ {keep = 1; print; next} keep && /^#/ {print; next} {keep = 0}' "$log" | head -n 30
  done
fi

echo
echo "=== results (runtime: ${VESSEL:-$REPO/bin/vessel}; logs in $LOGS)"
printf '%s\n' "${results[@]}"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
