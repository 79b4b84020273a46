#!/usr/bin/env bash
# A daemon restart under load loses nothing (issue 9): 300 create/start/delete cycles from 30
# parallel callers, with vesseld killed -9 twice meanwhile. Every workload must run (each leaves a
# mark) and every command must succeed: the keeper holds the clients' socket and the seccomp
# receiver's socket, so callers that connect while no daemon runs wait in the backlog until the
# next daemon takes the sockets over. A daemon of our own (its own socket, view and keeper).
source "$(dirname "$0")/../lib.sh"

[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
host_prepare || skip_all "host_prepare failed"
ensure_image || skip_all "image build failed"

ROOT=$T/root
private_daemon
export VESSEL_LOG=$T/vesseld.log # this test's daemons only: shown when a check fails
CYCLES=${RESTART_CYCLES:-300}
CALLERS=${RESTART_CALLERS:-30}

mkdir -p "$T/marks" "$T/logs"
mkbundle "$T/b" ".process.args = [\"sh\", \"-c\", \"echo ran > /marks/\$(hostname)\"] | .root.readonly = true
  | .mounts += [{\"destination\": \"/marks\", \"type\": \"bind\", \"source\": \"$T/marks\", \"options\": [\"rbind\", \"rw\"]}]"
for i in $(seq 1 "$CYCLES"); do
  mkdir -p "$T/b$i" && jq --arg h "c$i" '.hostname = $h' "$T/b/config.json" > "$T/b$i/config.json"
done

# one cycle: create, start, wait until stopped, delete; its log says which step failed
cycle() {
  local i=$1 id=c$1 s n
  "$VESSEL" --root "$ROOT" create --bundle "$T/b$i" "$id" || { echo "create $id failed"; return 1; }
  "$VESSEL" --root "$ROOT" start "$id" || { echo "start $id failed"; return 1; }
  for n in $(seq 1 500); do
    s=$("$VESSEL" --root "$ROOT" state "$id" | jq -r .status) || { echo "state $id failed"; return 1; }
    [ "$s" = stopped ] && break
    sleep 0.02
  done
  "$VESSEL" --root "$ROOT" delete "$id" || { echo "delete $id failed"; return 1; }
}
caller() { # the cycles i ≡ k (mod CALLERS)
  local k=$1 i failed=0
  for ((i = k; i <= CYCLES; i += CALLERS)); do cycle "$i" >> "$T/logs/$k" 2>&1 || failed=$((failed + 1)); done
  return "$failed"
}
export -f cycle caller
export ROOT CYCLES CALLERS

run "$VESSEL" --root "$ROOT" list
assert_eq "the daemon starts" 0 "$RC"
first=$("$VESSEL" daemon status)
pids=()
for k in $(seq 1 "$CALLERS"); do caller "$k" & pids+=($!); done
killed=0
for at in $((CYCLES / 3)) $((2 * CYCLES / 3)); do
  wait_for 120 "[ \$(ls $T/marks | wc -l) -ge $at ]"
  pid=$("$VESSEL" daemon status 2>/dev/null)
  [ -n "$pid" ] && kill -KILL "$pid" && killed=$((killed + 1))
  sleep 0.3 # a window with no daemon: calls made now wait in the keeper's backlog
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + $?)); done
assert_eq "vesseld was killed -9 twice under load" 2 "$killed"
assert_ne "...and a new daemon serves" "$first" "$("$VESSEL" daemon status 2>/dev/null)"
assert_eq "every cycle's commands succeeded" 0 "$failed"
[ "$failed" = 0 ] || diag "$(cat "$T"/logs/* | grep -v '^$' | sort | uniq -c | sort -rn | head -n 10)"
assert_eq "every workload ran (a mark each)" "$CYCLES" "$(ls "$T/marks" | wc -l)"
run "$VESSEL" --root "$ROOT" list -q
assert_eq "nothing is left" "" "$OUT"
[ -z "$OUT" ] || diag "$("$VESSEL" --root "$ROOT" list)"
[ "$FAIL" = 0 ] || diag "the daemons' log: $(grep -v 'no record' "$VESSEL_LOG" | tail -n 30)"
summary
