#!/usr/bin/env bash
# The resource view (issue #3): inside podman containers run by Vessel, real tools see the
# container's limits in /proc, /sys and sysinfo(2); opting out shows the host; the view survives
# kill -9 of the daemon; bad callers get sane values and never kill the server.
source "$(dirname "$0")/../lib.sh"

[ -x "$VESSEL" ] || skip_all "runtime $VESSEL not found"
host_prepare || skip_all "host_prepare failed"
podman_start || skip_all "podman set-up failed"

# podman does not pass its environment down to the runtime, so this test uses the default
# daemon (and kills it, to prove the view survives that).
VIEW=/run/vessel/view

JDK=$(dirname "$(dirname "$(readlink -f "$(command -v java 2>/dev/null || echo /usr/lib/jvm/temurin-25-jdk-amd64/bin/java)")")")
[ -x /usr/lib/jvm/temurin-25-jdk-amd64/bin/java ] && JDK=/usr/lib/jvm/temurin-25-jdk-amd64
LIBS=/usr/lib/x86_64-linux-gnu
# glibc's getconf, Python and the JDK, read-only from the host (the busybox image has no libc).
TOOLS=(-v "$LIBS:$LIBS:ro" -v "$LIBS:/lib/x86_64-linux-gnu:ro" -v /lib64:/lib64:ro
       -v /usr/bin/getconf:/usr/bin/getconf:ro -v "$JDK:/jdk:ro")
PY=$(readlink -f /usr/bin/python3 2>/dev/null)
if [ -x "$PY" ] && [ -d "/usr/lib/$(basename "$PY")" ]; then
  TOOLS+=(-v "$PY:/usr/bin/python3:ro" -v "/usr/lib/$(basename "$PY"):/usr/lib/$(basename "$PY"):ro")
  HAVE_PY=1
fi
in_ctr() { podman_v run --rm "${TOOLS[@]}" "$@"; }
# capture CMD... — like lib.sh's run (sets OUT, ERR, RC), for shell functions
capture() {
  OUT=$("$@" 2>"$T/.err" </dev/null); RC=$?; ERR=$(cat "$T/.err")
}

host_mem_mb=$(free -m | awk '/^Mem:/ {print $2}')

# --- everything ended at once (as when a machine's processes are all killed): the keeper's FUSE
# mount is left dead, and the next daemon must replace it, not run without a view ---
"$VESSEL" daemon start >/dev/null
pkill -9 -f "[v]essel-keeper /run/vessel/keeper.sock"
kill -9 "$("$VESSEL" daemon status)"
wait_for 5 "! ls $VIEW/proc >/dev/null 2>&1"
run ls "$VIEW/proc"
assert_contains "keeper and daemon killed: the mount is dead" "$ERR" "not connected"
capture in_ctr --memory 512m localhost/bb awk '/^MemTotal:/ {print $2}' /proc/meminfo
assert_eq "the next daemon remounts the view" 524288 "$OUT"
host_cpus=$(getconf _NPROCESSORS_ONLN)
heap() { awk '$2 == "MaxHeapSize" {print $4}'; }

# --- --memory 512m --cpus 1.5 ---
capture in_ctr --memory 512m --cpus 1.5 localhost/bb sh -c '
  echo "free $(free -m | awk "/^Mem:/ {print \$2}")"
  echo "top $(top -bn1 | head -1)"
  echo "uptime $(uptime)"
  echo "getconf $(getconf _NPROCESSORS_ONLN)"
  echo "cpuinfo $(grep -c ^processor /proc/cpuinfo)"
  echo "online $(cat /sys/devices/system/cpu/online)"
  echo "memtotal $(awk "/^MemTotal:/ {print \$2}" /proc/meminfo)"
  echo "negative $(grep -c -- " -" /proc/meminfo)"
  echo "catmem $(cat /proc/meminfo | awk "/^MemTotal:/ {print \$2}")"
  echo "catload $(cat /proc/loadavg | wc -w)"
  command -v python3 >/dev/null && echo "python $(python3 -c "import os; print(os.cpu_count())")"
  /jdk/bin/java -XX:-UseContainerSupport -XX:+PrintFlagsFinal -version 2>/dev/null | awk "\$2 == \"MaxHeapSize\" {print \"heap\", \$4}"'
assert_eq "512m: free -m total" 512 "$(field free)"
assert_match "512m: top's header shows 524288K in all" '^Mem: [0-9]+K used, [0-9]+K free' "$(field top)"
top_total=$(field top | sed -E 's/^Mem: ([0-9]+)K used, ([0-9]+)K free.*/\1 \2/' | awk '{print $1 + $2}')
assert_le "512m: top's used + free is at most 512 MiB" 524288 "$top_total"
assert_match "512m: uptime is the container's (minutes, not the host's)" 'up 0 min' "$(field uptime)"
assert_eq "1.5 CPUs: getconf _NPROCESSORS_ONLN" 2 "$(field getconf)"
assert_eq "1.5 CPUs: processors in /proc/cpuinfo" 2 "$(field cpuinfo)"
assert_eq "1.5 CPUs: /sys/devices/system/cpu/online" 0-1 "$(field online)"
assert_eq "512m: MemTotal" 524288 "$(field memtotal)"
assert_eq "512m: no negative value in /proc/meminfo" 0 "$(field negative)"
assert_eq "busybox cat (sendfile) reads /proc/meminfo whole" 524288 "$(field catmem)"
assert_eq "busybox cat (sendfile) reads /proc/loadavg whole" 5 "$(field catload)"
# (decided by what the host has, not by the output: a Python that fails in the container must fail here)
[ -n "${HAVE_PY:-}" ] && assert_eq "1.5 CPUs: Python's os.cpu_count()" 2 "$(field python)"
assert_eq "512m: JVM without container support sizes its heap to 1/4 of the limit" 134217728 "$(field heap)"

# --- --cpus 0.5 on this machine: one CPU everywhere, and for the JVM with the affinity annotation ---
printf 'class P { public static void main(String[] a) { System.out.println(Runtime.getRuntime().availableProcessors()); } }\n' > "$T/P.java"
capture in_ctr --cpus 0.5 --annotation dev.vessel.view.affinity=true -v "$T/P.java:/P.java:ro" localhost/bb sh -c '
  echo "getconf $(getconf _NPROCESSORS_ONLN)"
  echo "cpuinfo $(grep -c ^processor /proc/cpuinfo)"
  echo "nproc $(nproc)"
  echo "jvm $(/jdk/bin/java -XX:-UseContainerSupport /P.java)"'
assert_eq "0.5 CPUs: getconf" 1 "$(field getconf)"
assert_eq "0.5 CPUs: /proc/cpuinfo" 1 "$(field cpuinfo)"
assert_eq "0.5 CPUs + affinity: nproc (sched_getaffinity)" 1 "$(field nproc)"
assert_eq "0.5 CPUs + affinity: JVM availableProcessors()" 1 "$(field jvm)"
capture in_ctr --cpus 0.5 localhost/bb nproc
assert_eq "without the affinity annotation sched_getaffinity is the real one" "$host_cpus" "$OUT"

# --- --cpuset-cpus 0 ---
capture in_ctr --cpuset-cpus 0 localhost/bb sh -c 'echo "getconf $(getconf _NPROCESSORS_ONLN)"; echo "cpuinfo $(grep -c ^processor /proc/cpuinfo)"; echo "free $(free -m | awk "/^Mem:/ {print \$2}")"'
assert_eq "cpuset 0: getconf" 1 "$(field getconf)"
assert_eq "cpuset 0: /proc/cpuinfo" 1 "$(field cpuinfo)"
assert_eq "cpuset 0, no memory limit: free shows the host" "$host_mem_mb" "$(field free)"

# --- no limits: the host's values ---
capture in_ctr localhost/bb sh -c 'echo "free $(free -m | awk "/^Mem:/ {print \$2}")"; echo "cpuinfo $(grep -c ^processor /proc/cpuinfo)"; echo "getconf $(getconf _NPROCESSORS_ONLN)"'
assert_eq "no limits: free -m is the host's" "$host_mem_mb" "$(field free)"
assert_eq "no limits: cpuinfo is the host's" "$host_cpus" "$(field cpuinfo)"
assert_eq "no limits: getconf is the host's" "$host_cpus" "$(field getconf)"

# --- opt out ---
capture in_ctr --memory 512m --annotation dev.vessel.view=false localhost/bb sh -c 'free -m | awk "/^Mem:/ {print \$2}"; grep -c "fuse.vessel" /proc/self/mountinfo'
assert_eq "opt-out: free -m shows the host" "$host_mem_mb" "$(printf '%s\n' "$OUT" | head -1)"
assert_eq "opt-out: no view mounts" 0 "$(printf '%s\n' "$OUT" | tail -1)"

# --- restart-safe: kill -9 the daemon under a running container ---
cid=$(podman_v run -d --memory 256m localhost/bb sleep 1000)
read_view() { podman_t exec "$cid" sh -c 'awk "/^MemTotal:/ {print \$2}" /proc/meminfo; free -m | awk "/^Mem:/ {print \$2}"' 2>&1; }
assert_eq "before the restart: MemTotal and free" "$(printf '262144\n256')" "$(read_view)"
kill -9 "$("$VESSEL" daemon status)"
capture read_view
assert_eq "daemon killed: reads still give the container's values (no ENOTCONN)" "$(printf '262144\n256')" "$OUT"
assert_not_contains "daemon killed: no 'Transport endpoint is not connected'" "$OUT$ERR" "not connected"
capture podman_t exec "$cid" sh -c 'for i in $(seq 200); do cat /proc/meminfo /proc/stat /proc/cpuinfo >/dev/null || exit 1; done; echo fine'
assert_eq "200 reads after the restart" fine "$OUT"
assert_eq "container was not restarted" running "$(podman_t inspect -f '{{.State.Status}}' "$cid")"
# With no daemon at all (no vessel call restarts one), sysinfo must neither hang nor fail:
# the keeper lets the trapped call run for real, so free shows the host's memory.
podman_t exec -d "$cid" sh -c 'sleep 2; free -m | awk "/^Mem:/ {print \$2}" > /tmp/outage' >/dev/null
kill -9 "$("$VESSEL" daemon status)"
sleep 4
capture podman_t exec "$cid" cat /tmp/outage
assert_eq "sysinfo with no daemon attached: the real call, not a hang or an error" "$host_mem_mb" "$OUT"
capture read_view
assert_eq "a daemon is back and the view is the container's again" "$(printf '262144\n256')" "$OUT"
podman_t rm -f -t 0 "$cid" >/dev/null

# --- freshness: the kernel caches each container's view files; what changes is seen within 100 ms
# (FuseServer's 50 ms attribute timeout + ResourceView's 50 ms render cache). A static probe in
# the container: MemTotal at its first read, the time it sees a limit lowered by `vessel update`,
# and how long after touching 64 MiB it sees MemFree drop ---
cat > "$T/probe.c" <<'EOF_C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static long long ns(clockid_t c) { struct timespec t; clock_gettime(c, &t); return t.tv_sec * 1000000000LL + t.tv_nsec; }
static long field(const char *name) { /* kB, from /proc/meminfo read whole */
    static char buf[8192]; FILE *f = fopen("/proc/meminfo", "r"); if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f); fclose(f); buf[n] = 0;
    char *at = strstr(buf, name); return at ? atol(at + strlen(name)) : -1;
}
static void put(const char *file, long long v) { FILE *f = fopen(file, "w"); fprintf(f, "%lld\n", v); fclose(f); }
int main(int argc, char **argv) {
    long want = atol(argv[1]); /* kB: the lowered limit */
    put("/tmp/first", field("MemTotal:"));
    while (field("MemTotal:") != want) usleep(1000);
    put("/tmp/limit-seen", ns(CLOCK_REALTIME));
    long before = field("MemFree:");
    size_t size = 64 << 20; char *p = malloc(size); memset(p, 1, size);
    long long touched = ns(CLOCK_MONOTONIC);
    while (field("MemFree:") > before - 60 * 1024) usleep(1000);
    put("/tmp/usage-lag", ns(CLOCK_MONOTONIC) - touched);
    pause();
    return p[0];
}
EOF_C
mkdir -p "$T/fresh"
if gcc -O2 -static -o "$T/fresh/probe" "$T/probe.c" 2>"$T/gcc.err"; then
  ensure_image || fail "busybox image"
  FRESH=fresh-$$
  mkbundle "$T/fresh-bundle" '.process.terminal = false | .process.args = ["/tmp/probe", "131072"]
    | .linux.resources.memory.limit = 268435456
    | .mounts += [{destination: "/tmp", type: "bind", source: "'"$T/fresh"'", options: ["rbind", "rw"]}]'
  check "freshness: create" "$VESSEL" --root "$T/root" create --bundle "$T/fresh-bundle" "$FRESH"
  check "freshness: start" "$VESSEL" --root "$T/root" start "$FRESH"
  wait_for 20 "[ -s $T/fresh/first ]"
  assert_eq "MemTotal at a container's first read is its limit" 262144 "$(cat "$T/fresh/first" 2>/dev/null)"
  sleep 0.3 # the first snapshot cached, its attributes expired or not: either way it must go
  check "vessel update --memory 128m" "$VESSEL" --root "$T/root" update --memory 134217728 "$FRESH"
  updated=$(date +%s%N)
  wait_for 10 "[ -s $T/fresh/limit-seen ]"
  lag=$(( ($(cat "$T/fresh/limit-seen" 2>/dev/null || echo 0) - updated) / 1000000 ))
  echo "# a lowered limit was seen ${lag} ms after vessel update returned"
  # 100 ms, plus the probe's 1 ms polls on a loaded 2-core host
  assert_le "a lowered limit is seen inside within 100 ms (+50 ms of slack for the probe)" 150 "$lag"
  wait_for 10 "[ -s $T/fresh/usage-lag ]"
  ulag=$(( $(cat "$T/fresh/usage-lag" 2>/dev/null || echo 999999999999) / 1000000 ))
  echo "# 64 MiB touched: MemFree dropped ${ulag} ms later"
  assert_le "usage that grows is seen inside within 100 ms (+50 ms of slack)" 150 "$ulag"
  "$VESSEL" --root "$T/root" delete --force "$FRESH" >/dev/null 2>&1
else
  fail "freshness: gcc -static the probe" "$(head -n3 "$T/gcc.err")"
fi

# --- bad callers: the host (no container cgroup), exiting readers; the server lives on ---
assert_eq "a caller outside any container gets the host's MemTotal" \
  "$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)" "$(awk '/^MemTotal:/ {print $2}' "$VIEW/proc/meminfo")"
"$VESSEL" daemon start >/dev/null
for i in $(seq 20); do timeout 0.01 cat "$VIEW/proc/stat" >/dev/null 2>&1 & done; wait
capture in_ctr --memory 64m localhost/bb sh -c 'for i in $(seq 30); do (cat /proc/meminfo >/dev/null &); done; sleep 0.2; echo ok'
assert_eq "readers that exit mid-read" ok "$OUT"
pid=$("$VESSEL" daemon status)
run cat "$VIEW/proc/meminfo"
assert_eq "the server still serves after all that" 0 "$RC"
assert_eq "and it is the same daemon" "$pid" "$("$VESSEL" daemon status)"

summary
