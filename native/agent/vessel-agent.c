/*
 * vessel-agent: PID 1 of a Vessel microVM (see docs/microvm.md).
 *
 * Boot: mount /proc, /sys, /dev, /dev/pts, /run; load the modules in /lib/modules/load-order;
 * mount the 9p share "rootfs" at /rootfs; open the virtio-serial port "vessel.agent" and write
 * READY. Then serve the control protocol on that port (this file) and each process's stdio on
 * its port "vessel.proc.N" (proc.c), in one poll loop, reaping every child.
 *
 * virtio-serial tells the guest whether the host end of a port is connected: poll reports
 * POLLHUP (and POLLIN, read returns 0) while it is not, so a disconnected port cannot wait in
 * poll for its host. Its O_ASYNC signal is no help either: it fires on every input interrupt as
 * well as on connection changes, with the same band. So connected ports are polled and
 * disconnected ones re-checked every RECHECK_MS while any is. A host that comes back on the
 * control port (vesseld restarted) gets READY again; nothing else is disturbed.
 */
#include "agent.h"
#include <dirent.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#define PORT_WAIT_MS 5000 /* how long an EXEC waits for its hot-plugged port */
#define RECHECK_MS 50     /* how often disconnected ports are looked at */
#define NINEP_OPTS "trans=virtio,version=9p2000.L,msize=512000,cache=mmap"

static int logfd = -1, devfd = -1, portsfd = -1, procfd = -1, sigfd = -1, created;
static struct {
    int fd, connected, busy; /* busy: an EXEC waits for its port */
    struct buf in, out;
} ctl = {.fd = -1};

/* ---------------------------------------------------------------- small helpers */

void logmsg(const char *fmt, ...)
{
    char b[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (n > (int)sizeof b - 2) n = sizeof b - 2;
    b[n++] = '\n';
    if (logfd >= 0 && write(logfd, b, n) == n) return;
    int k = open("/dev/kmsg", O_WRONLY | O_CLOEXEC); /* before /dev/hvc0 exists */
    if (k >= 0 && dprintf(k, "<3>vessel-agent: %.*s", n, b) < 0) {}
    if (k >= 0) close(k);
}

long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

void buf_add(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void buf_drop(struct buf *b, size_t n)
{
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

/* Whether the host end of a virtio-serial port is open. */
int port_connected(int fd)
{
    struct pollfd p = {fd, POLLIN | POLLOUT, 0};
    return poll(&p, 1, 0) >= 0 && !(p.revents & (POLLHUP | POLLNVAL));
}

int port_setup(int fd) { return fcntl(fd, F_SETFL, O_NONBLOCK); }

/* Open the virtio-serial port called `name` (/sys/class/virtio-ports/vportNpM/name), or -1. */
static int port_open(const char *name)
{
    int d = openat(portsfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd = -1;
    DIR *dir = d >= 0 ? fdopendir(d) : NULL;
    struct dirent *e;
    while (dir && fd < 0 && (e = readdir(dir))) {
        char path[300], got[256] = "";
        snprintf(path, sizeof path, "%s/name", e->d_name);
        int f = openat(portsfd, path, O_RDONLY | O_CLOEXEC);
        ssize_t n = f >= 0 ? read(f, got, sizeof got - 1) : -1;
        if (f >= 0) close(f);
        if (n <= 0) continue;
        got[n] = 0;
        got[strcspn(got, "\n")] = 0;
        if (!strcmp(got, name)) fd = openat(devfd, e->d_name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    }
    if (dir) closedir(dir);
    if (fd >= 0) port_setup(fd);
    return fd;
}

static int port_wait(const char *name, int ms)
{
    long long end = now_ms() + ms;
    int fd;
    while ((fd = port_open(name)) < 0 && now_ms() < end) usleep(10000);
    return fd;
}

/* ---------------------------------------------------------------- boot */

static void mnt(const char *src, const char *dst, const char *type, unsigned long fl, const char *data)
{
    mkdir(dst, 0755);
    if (mount(src, dst, type, fl, data) < 0 && errno != EBUSY) logmsg("mount %s: %m", dst);
}

static void load_modules(void)
{
    FILE *f = fopen("/lib/modules/load-order", "re");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*line || *line == '#') continue;
        char path[512];
        size_t l = strlen(line);
        snprintf(path, sizeof path, "%s%s%s", *line == '/' ? "" : "/lib/modules/", line,
                 l > 3 && !strcmp(line + l - 3, ".ko") ? "" : ".ko");
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST))
            logmsg("module %s: %m", path);
        if (fd >= 0) close(fd);
    }
    if (f) fclose(f);
}

static void boot(void)
{
    mnt("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mnt("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mnt("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, NULL);
    mnt("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666,mode=620");
    mnt("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755");
    int null;
    while ((null = open("/dev/null", O_RDWR)) >= 0 && null < 3) {} /* fds 0-2 exist: no pipe lands there */
    if (null > 2) close(null);
    load_modules();
    /* 9p probes synchronously at module load, but give it a moment anyway */
    mkdir("/rootfs", 0755);
    for (int i = 0; i < 100 && mount("rootfs", "/rootfs", "9p", 0, NINEP_OPTS) < 0; i++) usleep(20000);
    devfd = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
    procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    portsfd = open("/sys/class/virtio-ports", O_PATH | O_DIRECTORY | O_CLOEXEC);
    /* port names arrive after the ports themselves: wait for ours */
    ctl.fd = port_wait("vessel.agent", PORT_WAIT_MS);
    logfd = open("/dev/hvc0", O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (ctl.fd < 0) logmsg("no port vessel.agent: %m");
}

/* ---------------------------------------------------------------- control port: output */

static void ctl_flush(void)
{
    while (ctl.connected && ctl.out.len) {
        ssize_t n = write(ctl.fd, ctl.out.p, ctl.out.len);
        if (n > 0) buf_drop(&ctl.out, n);
        else if (n < 0 && errno == EINTR) continue;
        else break; /* EAGAIN: full or disconnected; poll or SIGIO tells */
    }
}

static void ctl_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ctl_send(const char *fmt, ...)
{
    char b[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof b - 2) n = sizeof b - 2;
    b[n++] = '\n';
    buf_add(&ctl.out, b, n);
    ctl_flush();
}

/* ERR with the message escaped, so that it stays one line. */
static void ctl_err(const char *msg)
{
    char b[2048];
    size_t o = 0;
    for (; *msg && o < sizeof b - 3; msg++) {
        if (*msg == '\\' || *msg == '\n') b[o++] = '\\';
        b[o++] = *msg == '\n' ? 'n' : *msg;
    }
    b[o] = 0;
    ctl_send("ERR %s", b);
}

void ctl_exit(struct proc *p) { ctl_send("EXIT %d %d", p->n, p->status); }

/*
 * The host (re)connected: old output is moot; READY, then every EXIT it may have missed. Input is
 * kept: a new host may have written its first request before we noticed it (we poll for the
 * connection state), and that request must not be lost.
 */
static void ctl_connected(void)
{
    logmsg("control: host connected");
    ctl.connected = 1;
    ctl.out.len = 0;
    ctl_send("READY");
    for (struct proc *p = procs; p; p = p->next)
        if (p->state == P_DONE) ctl_exit(p);
}

/* Nothing is drained here: what waits in the port may already be the next host's request. */
static void ctl_disconnected(void)
{
    logmsg("control: host disconnected");
    ctl.connected = 0;
}

/* ---------------------------------------------------------------- control port: requests */

#define MAXMOUNTS 64
static struct block {
    char verb[16];
    int n, sig, all, nm;
    char *hostname, *m[MAXMOUNTS][4]; /* mount source, dest, type, options */
    struct spec s;
    char err[256];
    long long deadline; /* EXEC: until when to wait for the port */
} blk;
static int in_block;

/* Unescape in place up to an unescaped `sep` (0: the whole string); advance *s past it. */
static char *field(char **s, char sep)
{
    char *start = *s, *r = *s, *w = *s;
    for (; *r && *r != sep; r++) {
        if (*r == '\\' && r[1]) { r++; *w++ = *r == 'n' ? '\n' : *r; }
        else *w++ = *r;
    }
    *s = *r ? r + 1 : r;
    *w = 0;
    return start;
}

static void block_free(void)
{
    free(blk.hostname);
    for (int i = 0; i < blk.nm; i++) for (int j = 0; j < 4; j++) free(blk.m[i][j]);
    for (int i = 0; i < blk.s.argc; i++) free(blk.s.argv[i]);
    for (int i = 0; i < blk.s.envc; i++) free(blk.s.env[i]);
    free(blk.s.argv); free(blk.s.env); free(blk.s.cwd);
    memset(&blk, 0, sizeof blk);
}

static const char *rlnames[] = {"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
                                "MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"};

static void push(char ***v, int *n, const char *s)
{
    *v = realloc(*v, (*n + 2) * sizeof **v);
    (*v)[(*n)++] = strdup(s);
    (*v)[*n] = NULL;
}

/* One line inside a block. */
static void block_line(char *line)
{
    char *key = line, *val = strchrnul(line, ' ');
    if (*val) *val++ = 0;
    struct spec *s = &blk.s;
    if (!strcmp(key, "hostname")) { free(blk.hostname); blk.hostname = strdup(field(&val, 0)); }
    else if (!strcmp(key, "mount") && blk.nm < MAXMOUNTS) {
        for (int j = 0; j < 4; j++) blk.m[blk.nm][j] = strdup(field(&val, '|'));
        blk.nm++;
    }
    else if (!strcmp(key, "PROCESS")) {}
    else if (!strcmp(key, "arg")) push(&s->argv, &s->argc, field(&val, 0));
    else if (!strcmp(key, "env")) push(&s->env, &s->envc, field(&val, 0));
    else if (!strcmp(key, "cwd")) { free(s->cwd); s->cwd = strdup(field(&val, 0)); }
    else if (!strcmp(key, "user")) sscanf(val, "%u %u", &s->uid, &s->gid);
    else if (!strcmp(key, "gid") && s->ngids < MAXGIDS) s->gids[s->ngids++] = strtoul(val, NULL, 10);
    else if (!strcmp(key, "tty")) s->tty = atoi(val);
    else if (!strcmp(key, "noNewPrivileges")) s->nnp = atoi(val);
    else if (!strcmp(key, "rlimit") && s->nrl < MAXRL) {
        char type[32];
        unsigned long long soft, hard;
        if (sscanf(val, "%31s %llu %llu", type, &soft, &hard) != 3) goto bad;
        const char *t = strncmp(type, "RLIMIT_", 7) ? type : type + 7;
        for (int i = 0; i < 16; i++)
            if (!strcmp(t, rlnames[i])) {
                s->rlres[s->nrl] = i;
                s->rl[s->nrl++] = (struct rlimit){soft, hard};
                return;
            }
        goto bad;
    }
    else goto bad;
    return;
bad:
    if (!*blk.err) snprintf(blk.err, sizeof blk.err, "bad line: %s %s", key, val);
}

static const struct { const char *name; unsigned long set, clear; } mflags[] = {
    {"ro", MS_RDONLY, 0}, {"rw", 0, MS_RDONLY}, {"nosuid", MS_NOSUID, 0}, {"suid", 0, MS_NOSUID},
    {"nodev", MS_NODEV, 0}, {"dev", 0, MS_NODEV}, {"noexec", MS_NOEXEC, 0}, {"exec", 0, MS_NOEXEC},
    {"relatime", MS_RELATIME, 0}, {"norelatime", 0, MS_RELATIME}, {"strictatime", MS_STRICTATIME, 0},
    {"noatime", MS_NOATIME, 0}, {"nodiratime", MS_NODIRATIME, 0}, {"sync", MS_SYNCHRONOUS, 0},
    {"bind", MS_BIND, 0}, {"rbind", MS_BIND | MS_REC, 0}, {"private", 0, 0}, {"rprivate", 0, 0},
    {"slave", 0, 0}, {"rslave", 0, 0}, {"shared", 0, 0}, {"rshared", 0, 0}, {"unbindable", 0, 0},
};

/* One OCI mount, inside the container's root. Guest /dev is the guest's devtmpfs. */
static int do_mount(char *src, char *dst, char *type, char *opts, char *err, size_t errlen)
{
    unsigned long fl = 0;
    char data[1024] = "";
    for (char *o; (o = strsep(&opts, ","));) {
        unsigned i = 0;
        for (; i < sizeof mflags / sizeof *mflags && strcmp(o, mflags[i].name); i++) {}
        if (i < sizeof mflags / sizeof *mflags) fl = (fl | mflags[i].set) & ~mflags[i].clear;
        else if (*o) snprintf(data + strlen(data), sizeof data - strlen(data), "%s%s", *data ? "," : "", o);
    }
    if (!strcmp(type, "cgroup") || !strcmp(type, "cgroup2")) return 0; /* the VM is the limit */
    if (!strcmp(type, "bind")) fl |= MS_BIND;
    if (!strcmp(dst, "/dev") && !strcmp(type, "tmpfs")) { type = "devtmpfs"; src = "devtmpfs"; *data = 0; }
    struct stat ss, ds;
    if ((fl & MS_BIND) && stat(src, &ss) < 0) {
        snprintf(err, errlen, "bind source %s: %s", src, strerror(errno));
        return -1;
    }
    if (stat(dst, &ds) < 0) { /* mkdir -p, or an empty file to bind a file on */
        for (char *p = dst + 1; (p = strchr(p, '/')); p++) { *p = 0; mkdir(dst, 0755); *p = '/'; }
        if ((fl & MS_BIND) && !S_ISDIR(ss.st_mode))
            close(open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
        else
            mkdir(dst, 0755);
    }
    /* a bind mount takes its flags only on a remount */
    unsigned long first = (fl & MS_BIND) ? fl & (MS_BIND | MS_REC) : fl;
    int remount = (fl & MS_BIND) && (fl & ~(MS_BIND | MS_REC));
    if (mount(src, dst, type, first, *data ? data : NULL) < 0
        || (remount && mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | (fl & ~MS_REC), NULL) < 0)) {
        snprintf(err, errlen, "mount %s on %s: %s", type, dst, strerror(errno));
        return -1;
    }
    return 0;
}

/* CREATE: into the rootfs (switch_root: the initramfs cannot be pivoted), mounts, process 0. */
static int do_create(char *err, size_t errlen)
{
    int port = -1, dev = 0;
    if (created) { snprintf(err, errlen, "already created"); return -1; }
    if ((port = port_open("vessel.proc.0")) < 0) { snprintf(err, errlen, "no port vessel.proc.0"); return -1; }
    if (chdir("/rootfs") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0) {
        snprintf(err, errlen, "entering the rootfs: %s", strerror(errno));
        close(port);
        return -1;
    }
    created = 1;
    if (blk.hostname && sethostname(blk.hostname, strlen(blk.hostname)) < 0)
        logmsg("hostname: %m");
    for (int i = 0; i < blk.nm; i++) {
        dev |= !strcmp(blk.m[i][1], "/dev");
        if (!dev && !strncmp(blk.m[i][1], "/dev/", 5)) { char o[] = "nosuid"; do_mount("devtmpfs", "/dev", "devtmpfs", o, err, errlen); dev = 1; }
        char opts[1024];
        snprintf(opts, sizeof opts, "%s", blk.m[i][3]);
        if (do_mount(blk.m[i][0], blk.m[i][1], blk.m[i][2], opts, err, errlen) < 0) { close(port); return -1; }
    }
    if (!dev) { char o[] = "nosuid"; do_mount("devtmpfs", "/dev", "devtmpfs", o, err, errlen); }
    struct proc *p = proc_new(0, port);
    if (proc_prepare(p, &blk.s, err, errlen) < 0) { proc_free(p); return -1; }
    return 0;
}

static void ps(void)
{
    char out[4096] = "OK";
    size_t o = 2;
    int d = openat(procfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = d >= 0 ? fdopendir(d) : NULL;
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        int pid = atoi(e->d_name), ppid = 0;
        if (pid <= 2) continue;
        char path[64], st[512];
        snprintf(path, sizeof path, "%d/stat", pid);
        int f = openat(procfd, path, O_RDONLY | O_CLOEXEC);
        ssize_t n = f >= 0 ? read(f, st, sizeof st - 1) : -1;
        if (f >= 0) close(f);
        if (n <= 0) continue;
        st[n] = 0;
        char *r = strrchr(st, ')'), state;
        if (!r || sscanf(r + 2, "%c %d", &state, &ppid) != 2 || ppid == 2 || state == 'Z') continue;
        if (o < sizeof out - 12) o += snprintf(out + o, sizeof out - o, " %d", pid);
    }
    if (dir) closedir(dir);
    ctl_send("%s", out);
}

static void exec_attempt(void)
{
    char err[512] = "", name[32];
    snprintf(name, sizeof name, "vessel.proc.%d", blk.n);
    int port = port_open(name);
    if (port < 0 && now_ms() < blk.deadline) return; /* the loop comes back in a few ms */
    ctl.busy = 0;
    if (port < 0) { snprintf(err, sizeof err, "port %s did not appear", name); ctl_err(err); }
    else {
        struct proc *p = proc_new(blk.n, port);
        if (proc_prepare(p, &blk.s, err, sizeof err) < 0) { proc_free(p); ctl_err(err); }
        else if (proc_start(p, err, sizeof err) < 0) ctl_err(err);
        else ctl_send("OK %d", p->pid);
    }
    block_free();
}

/* A whole block has arrived (END): do it and answer. */
static void block_run(void)
{
    char err[512] = "";
    struct proc *p = proc_find(blk.n);
    const char *v = blk.verb;
    if (*blk.err) ctl_err(blk.err);
    else if (!strcmp(v, "CREATE")) {
        if (do_create(err, sizeof err) < 0) ctl_err(err); else ctl_send("OK");
    } else if (!strcmp(v, "START")) {
        if (!p) ctl_err("no such process");
        else if (proc_start(p, err, sizeof err) < 0) ctl_err(err);
        else ctl_send("OK %d", p->pid);
    } else if (!strcmp(v, "EXEC")) {
        if (!created) ctl_err("not created");
        else if (p || blk.n <= 0) ctl_err("process number in use");
        else { ctl.busy = 1; blk.deadline = now_ms() + PORT_WAIT_MS; exec_attempt(); return; }
    } else if (!strcmp(v, "KILL")) {
        if (blk.all && blk.n == 0) { kill(-1, blk.sig); ctl_send("OK"); } /* PID 1: all but itself */
        else if (!p || p->state >= P_EXITED) ctl_err("no such process");
        else if (kill(p->pid, blk.sig) < 0) ctl_err(strerror(errno));
        else ctl_send("OK");
    } else if (!strcmp(v, "PS")) ps();
    else if (!strcmp(v, "POWEROFF")) {
        ctl_send("OK");
        sync();
        for (int i = 0; i < 50 && ctl.out.len; i++) { usleep(2000); ctl_flush(); }
        reboot(RB_POWER_OFF);
    } else ctl_err("unknown request");
    block_free();
}

static void ctl_line(char *line)
{
    if (!*line) return;
    if (!in_block) {
        char all[8] = "";
        memset(&blk, 0, sizeof blk);
        sscanf(line, "%15s %d %d %7s", blk.verb, &blk.n, &blk.sig, all);
        blk.all = !strcmp(all, "ALL");
        in_block = 1;
    } else if (!strcmp(line, "END")) {
        in_block = 0;
        block_run();
    } else block_line(line);
}

static void ctl_read(void)
{
    char b[16384];
    ssize_t n = read(ctl.fd, b, sizeof b);
    if (n > 0) buf_add(&ctl.in, b, n);
    else if (n == 0) ctl_disconnected();
}

static void ctl_lines(void)
{
    char *nl;
    while (!ctl.busy && (nl = memchr(ctl.in.p, '\n', ctl.in.len))) {
        size_t len = nl - ctl.in.p;
        char *line = strndup(ctl.in.p, len);
        buf_drop(&ctl.in, len + 1);
        ctl_line(line);
        free(line);
    }
}

/* ---------------------------------------------------------------- main loop */

static void check_ports(void)
{
    if (ctl.fd >= 0) {
        int c = port_connected(ctl.fd);
        if (c && !ctl.connected) ctl_connected();
        else if (!c && ctl.connected) ctl_disconnected();
    }
    for (struct proc *p = procs; p; p = p->next)
        if (!p->connected && port_connected(p->port)) { p->connected = 1; proc_flush(p); }
}

static void reap(void)
{
    int ws;
    for (pid_t pid; (pid = waitpid(-1, &ws, WNOHANG)) > 0;) {
        struct proc *p0 = proc_find(0);
        proc_reaped(pid, ws);
        /* process 0 gone: like a pid namespace's init, it takes the others with it */
        if (p0 && p0->pid == pid) kill(-1, SIGKILL);
    }
}

int main(void)
{
    if (getpid() != 1) { fprintf(stderr, "vessel-agent runs as a guest's PID 1\n"); return 2; }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGPIPE);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    boot();
    logmsg("vessel-agent: up");
    if (ctl.fd >= 0 && port_connected(ctl.fd)) ctl_connected();
    for (;;) {
        struct pollfd pfd[512];
        int n = 0, linger = 0, waiting = ctl.fd >= 0 && !ctl.connected;
        pfd[n++] = (struct pollfd){sigfd, POLLIN, 0};
        int ci = -1;
        if (ctl.connected) {
            pfd[ci = n++] = (struct pollfd){ctl.fd, (ctl.busy ? 0 : POLLIN) | (ctl.out.len ? POLLOUT : 0), 0};
        }
        for (struct proc *p = procs; p && n < 500; p = p->next) {
            n = proc_pollset(p, pfd, n);
            linger |= p->state == P_EXITED;
            waiting |= !p->connected && (p->state != P_DONE || p->obuf.len);
        }
        int r = poll(pfd, n, ctl.busy ? 10 : linger || waiting ? RECHECK_MS : -1);
        if (r < 0 && errno != EINTR) { logmsg("poll: %m"); sleep(1); continue; }
        check_ports();
        if (pfd[0].revents) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) == sizeof si) {}
            reap();
        }
        if (ci >= 0 && pfd[ci].revents) {
            if (pfd[ci].revents & POLLIN) ctl_read();
            if ((pfd[ci].revents & POLLHUP) && !port_connected(ctl.fd)) ctl_disconnected();
            ctl_flush();
        }
        for (struct proc *p = procs, *next; p; p = next) {
            next = p->next;
            if (r > 0) proc_io(p, pfd);
            proc_step(p);
            /* an exec that is done and whose relay has gone: forget it */
            if (p->n > 0 && p->state == P_DONE && !p->connected && !p->obuf.len) proc_free(p);
        }
        if (ctl.busy) exec_attempt();
        ctl_lines();
    }
}
