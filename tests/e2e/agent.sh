#!/usr/bin/env bash
# The guest agent on its own (issue 9, item 5): native/agent/test-agent.py boots vessel-agent in a
# QEMU microVM with the installed guest assets and drives its wire protocol directly — READY,
# CREATE/START, EXEC on hot-plugged ports, a late relay, a tty, KILL, PS, a control-port reconnect,
# POWEROFF, the NIC/address/route and file lines (with a tap in a network namespace of its own), and
# booting from an ext4 image as `vessel vmm` does. Its "ok"/"FAIL" lines become checks here; it stops
# at its first failure, so a run that ends without a failure line or with a non-zero status fails too.
source "$(dirname "$0")/../lib.sh"

for t in python3 qemu-system-x86_64 ip mkfs.ext4; do command -v "$t" >/dev/null || skip_all "$t not installed"; done
host_prepare || skip_all "host_prepare failed"
ensure_image || skip_all "image build failed"
require_assets
[ -f "$REPO/native/agent/test-agent.py" ] || skip_all "native/agent/test-agent.py missing"

# the script makes its VM dir with mktemp under TMPDIR: ours, so the lib's cleanup removes it
TMPDIR=$T timeout -k 10 "${AGENT_TEST_TIMEOUT:-300}" /usr/bin/python3 "$REPO/native/agent/test-agent.py" \
  --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$IMAGE_DIR/rootfs" \
  >"$T/agent.out" 2>&1 </dev/null
rc=$?
checks=0 failed=0
while IFS= read -r line; do
  case "$line" in
    "ok   "*) pass "agent: ${line#ok   }"; checks=$((checks + 1)) ;;
    "FAIL "*) fail "agent: ${line#FAIL }"; checks=$((checks + 1)); failed=$((failed + 1)) ;;
    *) diag "$line" ;;
  esac
done < "$T/agent.out"
if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then
  fail "agent: test-agent.py exited $rc$([ "$rc" = 124 ] && echo ' (timed out)') without a failed check"
fi
assert_ge "agent: test-agent.py ran all its checks (it stops at the first failure)" 45 "$checks"
assert_eq "agent: no QEMU of the agent test left" "" "$(qemus_of "$T/vessel-agent-test.")"
assert_eq "agent: its network namespace is gone" "" "$(ip netns list | grep '^vessel-agent-test-' || true)"

summary
