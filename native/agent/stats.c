/* vessel-agent: the STATS request (docs/microvm.md): the guest's own numbers, for `vessel events`
 * and the engines' stats. Everything comes from the guest's /proc, the way free, top and
 * ifconfig read it; the host cannot see any of it (a QEMU's RSS is not the guest's usage). */
#include "agent.h"
#include <dirent.h>
#include <sys/stat.h>
#include <stdarg.h>

/* A file under /proc, read whole (truncated at len - 1); 0 on failure. */
static int slurp(int procfd, const char *path, char *b, size_t len)
{
    int f = openat(procfd, path, O_RDONLY | O_CLOEXEC);
    if (f < 0) return 0;
    size_t o = 0;
    for (ssize_t n; o < len - 1 && (n = read(f, b + o, len - 1 - o)) > 0; ) o += n;
    close(f);
    b[o] = 0;
    return o > 0;
}

/* The value of "Key:   123 kB" in /proc/meminfo, in bytes (-1 if absent). */
static long long meminfo(const char *text, const char *key)
{
    size_t k = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (!strncmp(l, key, k) && l[k] == ':') return strtoll(l + k + 1, NULL, 10) * 1024;
    }
    return -1;
}

struct out { char *b; size_t len, o; };

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    if (o->o >= o->len - 1) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->b + o->o, o->len - o->o, fmt, ap);
    va_end(ap);
    if (n > 0) o->o = o->o + n < o->len ? o->o + n : o->len - 1;
}

/* The guest's processes, as PS counts them: not the agent (1), not kernel threads, not zombies. */
static int count_processes(int procfd)
{
    int d = openat(procfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), count = 0;
    DIR *dir = d >= 0 ? fdopendir(d) : NULL;
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        int pid = atoi(e->d_name), ppid = 0;
        char path[64], st[512], state, *r;
        if (pid <= 2) continue;
        snprintf(path, sizeof path, "%d/stat", pid);
        if (!slurp(procfd, path, st, sizeof st) || !(r = strrchr(st, ')'))) continue;
        if (sscanf(r + 2, "%c %d", &state, &ppid) == 2 && ppid != 2 && state != 'Z') count++;
    }
    if (dir) closedir(dir);
    return count;
}

/* OK key=value ...: memory in bytes, CPU time in ns, per-interface and per-disk counters. */
void stats_answer(int procfd, char *b, size_t len)
{
    static char text[16384];
    struct out o = { b, len, 0 };
    long long tick = 1000000000LL / sysconf(_SC_CLK_TCK);
    put(&o, "OK");
    if (slurp(procfd, "meminfo", text, sizeof text)) {
        static const char *keys[][2] = {
            { "MemTotal", "mem_total" }, { "MemFree", "mem_free" }, { "MemAvailable", "mem_available" },
            { "Buffers", "mem_buffers" }, { "Cached", "mem_cached" }, { "Shmem", "mem_shmem" },
            { "Active(file)", "mem_active_file" }, { "Inactive(file)", "mem_inactive_file" },
            { "Active(anon)", "mem_active_anon" }, { "Inactive(anon)", "mem_inactive_anon" },
            { "SReclaimable", "mem_sreclaimable" }, { "SwapTotal", "swap_total" }, { "SwapFree", "swap_free" },
        };
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            long long v = meminfo(text, keys[i][0]);
            if (v >= 0) put(&o, " %s=%lld", keys[i][1], v);
        }
    }
    if (slurp(procfd, "stat", text, sizeof text)) {
        /* cpu  user nice system idle iowait irq softirq steal: USER_HZ ticks */
        for (char *l = text; l && !strncmp(l, "cpu", 3); l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            unsigned long long v[8] = { 0 };
            char name[16];
            if (sscanf(l, "%15s %llu %llu %llu %llu %llu %llu %llu %llu", name, &v[0], &v[1], &v[2], &v[3], &v[4],
                       &v[5], &v[6], &v[7]) < 5) continue;
            unsigned long long user = v[0] + v[1], sys = v[2] + v[5] + v[6];
            if (!strcmp(name, "cpu")) {
                put(&o, " cpu_user_ns=%llu cpu_system_ns=%llu cpu_idle_ns=%llu cpu_iowait_ns=%llu cpu_steal_ns=%llu",
                    user * tick, sys * tick, v[3] * tick, v[4] * tick, v[7] * tick);
            } else {
                put(&o, " %s_ns=%llu", name, (user + sys) * tick); /* cpu0_ns=… */
            }
        }
    }
    if (slurp(procfd, "vmstat", text, sizeof text)) {
        char *k = strstr(text, "\noom_kill ");
        if (k) put(&o, " oom_kill=%lld", strtoll(k + 10, NULL, 10));
    }
    put(&o, " pids=%d", count_processes(procfd));
    if (slurp(procfd, "net/dev", text, sizeof text)) {
        /* "  eth0: rx_bytes packets errs drop fifo frame compressed multicast tx_bytes packets errs drop …" */
        for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            char *colon = strchr(l, ':'), *nl = strchr(l, '\n');
            if (!colon || (nl && colon > nl)) continue;
            char name[32];
            char *s = l;
            while (*s == ' ') s++;
            size_t n = colon - s < (long)sizeof name - 1 ? (size_t)(colon - s) : sizeof name - 1;
            memcpy(name, s, n);
            name[n] = 0;
            if (!strcmp(name, "lo")) continue;
            unsigned long long v[12] = { 0 };
            if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                       &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11]) != 12) continue;
            put(&o, " net.%s=%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu", name, v[0], v[1], v[2], v[3], v[8], v[9], v[10],
                v[11]);
        }
    }
    if (slurp(procfd, "diskstats", text, sizeof text)) {
        /* "major minor name reads merged sectors ms writes merged sectors …": sectors are 512 bytes */
        for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            unsigned long long major, minor, r, rm, rs, rt, w, wm, ws;
            char name[32];
            if (sscanf(l, "%llu %llu %31s %llu %llu %llu %llu %llu %llu %llu", &major, &minor, name, &r, &rm, &rs, &rt,
                       &w, &wm, &ws) != 10) continue;
            if (r + w == 0) continue; /* ram0…15, loop devices: never used */
            put(&o, " blk.%s=%llu,%llu,%llu,%llu,%llu,%llu", name, major, minor, r, rs * 512, w, ws * 512);
        }
    }
}

/* OK then one entry per process, as PS filters them, separated by an escaped newline ("\n"):
 * "PID PPID UID STATE RSS_BYTES CPU_NS COMMAND LINE" (the command line's NULs as blanks, cut short). */
void top_answer(int procfd, char *b, size_t len)
{
    struct out o = { b, len, 0 };
    long long tick = 1000000000LL / sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    int d = openat(procfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), first = 1;
    DIR *dir = d >= 0 ? fdopendir(d) : NULL;
    struct dirent *e;
    put(&o, "OK");
    while (dir && (e = readdir(dir))) {
        int pid = atoi(e->d_name), ppid = 0;
        char path[64], st[1024], cmd[256], state, *r;
        unsigned long long utime = 0, stime = 0;
        long long rss = 0;
        if (pid <= 2) continue;
        snprintf(path, sizeof path, "%d/stat", pid);
        if (!slurp(procfd, path, st, sizeof st) || !(r = strrchr(st, ')'))) continue;
        /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime … rss is field 24 */
        if (sscanf(r + 2, "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %*u %*u %lld",
                   &state, &ppid, &utime, &stime, &rss) < 4 || ppid == 2 || state == 'Z') continue;
        struct stat sb;
        snprintf(path, sizeof path, "%d", pid);
        unsigned uid = fstatat(procfd, path, &sb, 0) == 0 ? sb.st_uid : 0;
        snprintf(path, sizeof path, "%d/cmdline", pid);
        int f = openat(procfd, path, O_RDONLY | O_CLOEXEC);
        ssize_t n = f >= 0 ? read(f, cmd, sizeof cmd - 1) : -1;
        if (f >= 0) close(f);
        if (n <= 0) { /* no command line: the name in (), as ps shows it in [] */
            char *l = strchr(st, '(');
            n = l ? snprintf(cmd, sizeof cmd, "[%.*s]", (int)(r - l - 1), l + 1) : 0;
        }
        cmd[n < 0 ? 0 : n] = 0;
        for (ssize_t i = 0; i < n; i++) if (cmd[i] == 0 || cmd[i] == '\n' || cmd[i] == '\\') cmd[i] = ' ';
        while (n > 0 && cmd[n - 1] == ' ') cmd[--n] = 0;
        if (o.o > len - 300) break; /* the answer is one line of ctl_send's size */
        put(&o, "%s%d %d %u %c %lld %llu %s", first ? " " : "\\n", pid, ppid, uid, state, rss * page,
            (utime + stime) * tick, cmd);
        first = 0;
    }
    if (dir) closedir(dir);
}

/* A number from a cgroup file: the whole file ("max": -1), or the value of "key N" in it; -2 if absent. */
static long long cg_number(int cg, const char *file, const char *key)
{
    char text[4096];
    if (!slurp(cg, file, text, sizeof text)) return -2;
    if (!key) return !strncmp(text, "max", 3) ? -1 : strtoll(text, NULL, 10);
    size_t k = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, key, k) && l[k] == ' ') return strtoll(l + k + 1, NULL, 10);
    return -2;
}

/*
 * STATS N for a pod's container: its own cgroup's numbers in STATS's words, so that its stats
 * are its own and not the pod's: memory.max as its total (the guest's MemTotal when unlimited),
 * memory.current as what is used, cpu.stat's times, memory.events' oom_kill, pids.current.
 */
void stats_cgroup_answer(int procfd, int cg, char *b, size_t len)
{
    static char text[16384];
    struct out o = { b, len, 0 };
    long long total = cg_number(cg, "memory.max", NULL), used = cg_number(cg, "memory.current", NULL);
    if (total < 0 && slurp(procfd, "meminfo", text, sizeof text)) total = meminfo(text, "MemTotal");
    if (used < 0) used = 0;
    long long file = cg_number(cg, "memory.stat", "file"), anon = cg_number(cg, "memory.stat", "anon");
    long long active = cg_number(cg, "memory.stat", "active_file"), inactive = cg_number(cg, "memory.stat", "inactive_file");
    put(&o, "OK mem_total=%lld mem_free=%lld mem_available=%lld", total, total > used ? total - used : 0,
        total > used ? total - used : 0);
    if (file >= 0) put(&o, " mem_cached=%lld", file);
    if (anon >= 0) put(&o, " mem_active_anon=%lld", anon);
    if (active >= 0) put(&o, " mem_active_file=%lld", active);
    if (inactive >= 0) put(&o, " mem_inactive_file=%lld", inactive);
    long long user = cg_number(cg, "cpu.stat", "user_usec"), sys = cg_number(cg, "cpu.stat", "system_usec");
    put(&o, " cpu_user_ns=%lld cpu_system_ns=%lld cpu_idle_ns=0", user > 0 ? user * 1000 : 0, sys > 0 ? sys * 1000 : 0);
    long long ooms = cg_number(cg, "memory.events", "oom_kill"), pids = cg_number(cg, "pids.current", NULL);
    put(&o, " oom_kill=%lld pids=%lld", ooms > 0 ? ooms : 0, pids > 0 ? pids : 0);
}
