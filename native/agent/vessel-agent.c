/*
 * vessel-agent: PID 1 of a Vessel microVM (see docs/microvm.md).
 *
 * Boot: mount /proc, /sys, /dev, /dev/pts, /run; load the modules in /lib/modules/load-order;
 * bring lo up; mount the 9p share "rootfs" at /rootfs; open the virtio-serial port "vessel.agent"
 * and write READY. Then serve the control protocol on that port (this file) and each process's
 * stdio on its port "vessel.proc.N" (proc.c), in one poll loop, reaping every child. The guest's
 * network is set up over rtnetlink (net.c).
 *
 * Without vessel.rootfs=9p but with root=/dev/vdX on the kernel command line, the agent is only
 * an initramfs: it mounts that disk, switches root to it and execs its init (boot_disk).
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
#include <linux/random.h>
#include <sys/ioctl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#define PORT_WAIT_MS 5000 /* how long an EXEC waits for its hot-plugged port */
#define RECHECK_MS 50     /* how often disconnected ports are looked at */
#define NINEP_OPTS "trans=virtio,version=9p2000.L,msize=512000,cache=mmap"
#define ROOT_WAIT_MS 10000 /* how long a disk boot waits for its root device */

int procfd = -1, cgfd = -1;
static int podfd = -1; /* a pod's sandbox: the pod's share (the containers' rootfs and volumes), outside the agent's root */
static int shmfd = -1; /* a pod's sandbox: the pod's /dev/shm (a tmpfs), outside the agent's root too */
static int logfd = -1, devfd = -1, portsfd = -1, sigfd = -1, created;
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

/* What either kind of boot needs first: the kernel's file systems, fds 0-2. */
static void boot_mounts(void)
{
    mnt("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mnt("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mnt("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, NULL);
    mnt("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666,mode=620");
    mnt("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755");
    int null;
    while ((null = open("/dev/null", O_RDWR)) >= 0 && null < 3) {} /* fds 0-2 exist: no pipe lands there */
    if (null > 2) close(null);
}

/* The modules, then lo: nothing (not even a container's 127.0.0.1) works on a loopback left down. */
static void boot_modules(void)
{
    load_modules();
    int lo = net_ifindex_name("lo");
    if (lo < 0 || net_up(lo, 0) < 0) logmsg("lo up: %m");
}

/* The 9p share "rootfs" at /rootfs; 9p probes synchronously at module load, but give it a moment anyway. */
static int mount_rootfs(void)
{
    mkdir("/rootfs", 0755);
    int r = -1;
    for (int i = 0; i < 100 && (r = mount("rootfs", "/rootfs", "9p", 0, NINEP_OPTS)) < 0; i++) usleep(20000);
    return r;
}

/*
 * The container's guest: its rootfs over 9p, the control port. A template's guest
 * (vessel.template) mounts nothing: QEMU cannot migrate a guest that has a 9p share mounted,
 * and each clone gets its own rootfs, mounted at its CLONE request.
 */
static void boot_9p(int template)
{
    if (!template) mount_rootfs();
    devfd = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
    procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    portsfd = open("/sys/class/virtio-ports", O_PATH | O_DIRECTORY | O_CLOEXEC);
    /* port names arrive after the ports themselves: wait for ours */
    ctl.fd = port_wait("vessel.agent", PORT_WAIT_MS);
    logfd = open("/dev/hvc0", O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (ctl.fd < 0) logmsg("no port vessel.agent: %m");
}

/* ---------------------------------------------------------------- boot from a block device */

static char cmdline[4096], *words[256];
static int nwords;

/* /proc/cmdline, split at blanks (quoted values are not supported), up to a "--" (init's own). */
static void read_cmdline(void)
{
    int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, cmdline, sizeof cmdline - 1) : -1;
    if (fd >= 0) close(fd);
    cmdline[n > 0 ? n : 0] = 0;
    for (char *w, *p = cmdline; nwords < 255 && (w = strsep(&p, " \t\n"));) {
        if (!strcmp(w, "--")) break;
        if (*w) words[nwords++] = w;
    }
}

/* The value of key=… on the command line (the last one wins, as in the kernel), or NULL. */
static const char *param(const char *key)
{
    const char *v = NULL;
    size_t l = strlen(key);
    for (int i = 0; i < nwords; i++)
        if (!strncmp(words[i], key, l) && words[i][l] == '=') v = words[i] + l + 1;
    return v;
}

static int has_word(const char *w)
{
    for (int i = 0; i < nwords; i++) if (!strcmp(words[i], w)) return 1;
    return 0;
}

/* Empty the initramfs, as switch_root does: its files are RAM the new system could not free. */
static void empty_dir(int fd, dev_t dev)
{
    DIR *d = fdopendir(fd);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        struct stat st;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev) continue; /* a mount */
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) empty_dir(sub, dev);
        }
        unlinkat(fd, e->d_name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
    }
    if (d) closedir(d);
}

/*
 * A Firecracker-style guest (`vessel vmm`): kernel, boot args and an ext4 root drive. Debian's
 * kernel has virtio_mmio, virtio_blk and ext4 as modules, so the agent does an initramfs's job
 * (what switch_root does): mount root= (rootfstype=, default ext4; ro or rw, default rw), move
 * /dev /proc /sys /run into it (a real init finds them mounted and carries on; busybox's does
 * either way), free the initramfs, chroot (an initramfs cannot be pivot_root'ed) and exec init=
 * (or /sbin/init…) as PID 1, on the kernel's console, with the kernel's arguments for init.
 * The kernel's static ip= is configured first: Debian's kernel has no IP autoconfiguration.
 * A failure powers the guest off with one line on the console: nothing would ever reap a hang.
 */
static void boot_disk(char **argv)
{
    char err[512] = "";
    const char *root = param("root"), *type = param("rootfstype"), *init = param("init"), *ip = param("ip");
    unsigned long fl = 0;
    for (int i = 0; i < nwords; i++) /* the last of ro and rw wins */
        fl = !strcmp(words[i], "ro") ? MS_RDONLY : !strcmp(words[i], "rw") ? 0 : fl;
    if (ip && net_kernel_ip(ip, err, sizeof err) < 0) {
        logmsg("%s", err); /* as with the kernel's own ip=, the boot goes on without */
        *err = 0;
    }
    struct stat st;
    long long end = now_ms() + ROOT_WAIT_MS;
    while (!strncmp(root, "/dev/", 5) && stat(root, &st) < 0 && now_ms() < end) usleep(20000); /* probed late */
    mkdir("/rootfs", 0755);
    if (strncmp(root, "/dev/", 5)) snprintf(err, sizeof err, "only a /dev/ path is supported");
    else if (stat(root, &st) < 0) snprintf(err, sizeof err, "no such device after %d s", ROOT_WAIT_MS / 1000);
    else if (mount(root, "/rootfs", type ? type : "ext4", fl, param("rootflags")) < 0)
        snprintf(err, sizeof err, "mount (%s, %s): %s", type ? type : "ext4", fl ? "ro" : "rw", strerror(errno));
    if (*err) goto fail;
    static const char *moved[] = {"/dev", "/proc", "/sys", "/run"};
    for (int i = 0; i < 4; i++) {
        char to[64];
        snprintf(to, sizeof to, "/rootfs%s", moved[i]);
        if (stat(to, &st) < 0 || !S_ISDIR(st.st_mode) || mount(moved[i], to, NULL, MS_MOVE, NULL) < 0)
            umount2(moved[i], MNT_DETACH); /* nowhere to go: gone, as switch_root does */
    }
    struct stat rs;
    if (stat("/", &rs) == 0) empty_dir(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rs.st_dev);
    if (chdir("/rootfs") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0) {
        snprintf(err, sizeof err, "switching root: %s", strerror(errno));
        goto fail;
    }
    int con = open("/dev/console", O_RDWR);
    if (con >= 0) {
        for (int i = 0; i < 3; i++) dup2(con, i);
        if (con > 2) close(con);
    }
    static const char *inits[] = {"/sbin/init", "/etc/init", "/bin/init", "/bin/sh", NULL};
    const char *only[] = {init, NULL}, **try = init ? only : inits;
    for (; *try; try++) {
        argv[0] = (char *)*try;
        execv(*try, argv);
        snprintf(err, sizeof err, "exec %s: %s", *try, strerror(errno));
    }
fail:
    logmsg("vessel-agent: cannot boot from root=%s: %s; powering off", root, err);
    sync();
    reboot(RB_POWER_OFF);
    _exit(1); /* not reached: PID 1 exiting would panic the kernel */
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
 * The host (re)connected: READY, then every EXIT it may have missed. Input is kept, and so is the
 * output queued since the last host went: the guest can see a new host's first request before
 * the news that it connected (data and connection changes come through different virtqueues),
 * so that request may already be answered, and its answer must not be lost. READY goes first.
 */
static void ctl_connected(void)
{
    logmsg("control: host connected");
    ctl.connected = 1;
    struct buf answers = ctl.out;
    ctl.out = (struct buf){0};
    ctl_send("READY " AGENT_PROTOCOL); /* the version of docs/microvm.md's control protocol */
    buf_add(&ctl.out, answers.p, answers.len);
    free(answers.p);
    for (struct proc *p = procs; p; p = p->next)
        if (p->state == P_DONE) ctl_exit(p);
    ctl_flush();
}

/*
 * What was queued for the host that went is moot. Input is not drained: what waits in the port
 * may already be the next host's request.
 */
static void ctl_disconnected(void)
{
    logmsg("control: host disconnected");
    ctl.connected = 0;
    ctl.out.len = 0;
}

/* ---------------------------------------------------------------- control port: requests */

#define MAXMOUNTS 64
#define MAXNET 64
#define MAXFILES 32
#define MAXPATHS 64   /* masked and readonly */
#define MAXSYSCTL 64
#define MAXDEVICES 64
#define MAXSECCOMP 4096 /* BPF instructions: the kernel's own limit */
/* the order they are applied in: a NIC takes its MAC while down, a route's gateway needs its subnet */
enum { HWADDR, NET, ADDR, ROUTE };
static const char *netkeys[] = {"hwaddr", "net", "addr", "route"};
static struct block {
    char verb[16];
    int n, sig, all, nm, nnet, nf;
    char *hostname, *m[MAXMOUNTS][4]; /* mount source, dest, type, options */
    struct { int kind; char *args; } net[MAXNET]; /* net, addr and route lines: their arguments */
    char *f[MAXFILES][2];             /* file dest, content */
    char *sysctl[MAXSYSCTL][2];       /* key, value */
    char *dev[MAXDEVICES][7];         /* path, type, major, minor, mode, uid, gid */
    int nsysctl, ndev;
    struct sock_filter *seccomp;      /* the container's filter (CREATE), NULL for none */
    int nseccomp;
    struct spec s;
    char err[256];
    long long deadline; /* EXEC: until when to wait for the port */
    long long sec, nsec; /* CLONE: the host's clock */
    char *entropy;       /* CLONE: the host's random bytes, in hex */
    char *pod;           /* CREATE of a pod's sandbox: the mount tag of the pod's share */
    char *limits;        /* CONTAINER: "MEMORY_MAX CPU_QUOTA CPU_PERIOD" for its cgroup ("max": none) */
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
    free(blk.entropy);
    free(blk.pod);
    free(blk.limits);
    free(blk.s.root);
    free(blk.s.cgroup);
    for (int i = 0; i < blk.nm; i++) for (int j = 0; j < 4; j++) free(blk.m[i][j]);
    for (int i = 0; i < blk.nnet; i++) free(blk.net[i].args);
    for (int i = 0; i < blk.nf; i++) { free(blk.f[i][0]); free(blk.f[i][1]); }
    for (int i = 0; i < blk.s.argc; i++) free(blk.s.argv[i]);
    for (int i = 0; i < blk.s.envc; i++) free(blk.s.env[i]);
    for (int i = 0; i < blk.s.nmasked; i++) free(blk.s.masked[i]);
    for (int i = 0; i < blk.s.nro; i++) free(blk.s.ro[i]);
    for (int i = 0; i < blk.nsysctl; i++) { free(blk.sysctl[i][0]); free(blk.sysctl[i][1]); }
    for (int i = 0; i < blk.ndev; i++) for (int j = 0; j < 7; j++) free(blk.dev[i][j]);
    free(blk.s.argv); free(blk.s.env); free(blk.s.cwd); free(blk.s.masked); free(blk.s.ro); free(blk.seccomp);
    free(blk.s.uidmap); free(blk.s.gidmap);
    memset(&blk, 0, sizeof blk);
}

static const char *rlnames[] = {"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
                                "MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"};

/* rootfsPropagation's values, as runc takes them (the spec's four and their recursive forms) */
static const struct { const char *name; unsigned long flags; } propagations[] = {
    {"shared", MS_SHARED}, {"rshared", MS_SHARED | MS_REC}, {"slave", MS_SLAVE}, {"rslave", MS_SLAVE | MS_REC},
    {"private", MS_PRIVATE}, {"rprivate", MS_PRIVATE | MS_REC}, {"unbindable", MS_UNBINDABLE},
    {"runbindable", MS_UNBINDABLE | MS_REC},
};

/* One more "C H N" line of a uid or gid map; 0, or -1 if it is not three numbers. */
static int map_add(char **map, const char *val)
{
    unsigned long c, h, n;
    char extra;
    if (sscanf(val, "%lu %lu %lu %c", &c, &h, &n, &extra) != 3 || n == 0) return -1;
    char *old = *map, *line;
    if (asprintf(&line, "%s%lu %lu %lu\n", old ? old : "", c, h, n) < 0) return -1;
    free(old);
    *map = line;
    return 0;
}

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
    else if (!strcmp(key, "file") && blk.nf < MAXFILES) {
        blk.f[blk.nf][0] = strdup(field(&val, '|'));
        blk.f[blk.nf][1] = strdup(field(&val, 0));
        blk.nf++;
    }
    else if (!strcmp(key, "time")) { if (sscanf(val, "%lld %lld", &blk.sec, &blk.nsec) != 2) goto bad; }
    else if (!strcmp(key, "entropy")) { free(blk.entropy); blk.entropy = strdup(val); }
    else if ((!strcmp(key, "net") || !strcmp(key, "addr") || !strcmp(key, "route") || !strcmp(key, "hwaddr"))
             && blk.nnet < MAXNET) {
        blk.net[blk.nnet].kind = *key == 'h' ? HWADDR : *key == 'n' ? NET : *key == 'a' ? ADDR : ROUTE;
        blk.net[blk.nnet++].args = strdup(val);
    }
    else if (!strcmp(key, "PROCESS")) {}
    else if (!strcmp(key, "pod")) { free(blk.pod); blk.pod = strdup(field(&val, 0)); }
    else if (!strcmp(key, "root")) { free(s->root); s->root = strdup(field(&val, 0)); }
    else if (!strcmp(key, "limits")) { free(blk.limits); blk.limits = strdup(val); }
    else if (!strcmp(key, "in")) s->join = atoi(val);
    else if (!strcmp(key, "uts")) s->newuts = atoi(val);
    else if (!strcmp(key, "pidns")) { if (atoi(val) != 0) goto bad; s->sharepid = 1; } /* process 0's: the only one */
    else if (!strcmp(key, "arg")) push(&s->argv, &s->argc, field(&val, 0));
    else if (!strcmp(key, "env")) push(&s->env, &s->envc, field(&val, 0));
    else if (!strcmp(key, "cwd")) { free(s->cwd); s->cwd = strdup(field(&val, 0)); }
    else if (!strcmp(key, "user")) sscanf(val, "%u %u", &s->uid, &s->gid);
    else if (!strcmp(key, "gid") && s->ngids < MAXGIDS) s->gids[s->ngids++] = strtoul(val, NULL, 10);
    else if (!strcmp(key, "tty")) s->tty = atoi(val);
    else if (!strcmp(key, "noNewPrivileges")) s->nnp = atoi(val);
    else if (!strcmp(key, "caps")) {
        unsigned long long c[5];
        if (sscanf(val, "%llx %llx %llx %llx %llx", &c[0], &c[1], &c[2], &c[3], &c[4]) != 5) goto bad;
        s->caps = 1;
        s->bounding = c[0]; s->effective = c[1]; s->permitted = c[2]; s->inheritable = c[3]; s->ambient = c[4];
    }
    else if (!strcmp(key, "oomScoreAdj")) { s->oom = atoi(val); s->has_oom = 1; }
    else if (!strcmp(key, "masked")) push(&s->masked, &s->nmasked, field(&val, 0));
    else if (!strcmp(key, "readonly")) push(&s->ro, &s->nro, field(&val, 0));
    else if (!strcmp(key, "rootReadonly")) s->rootro = atoi(val);
    else if (!strcmp(key, "uidmap")) { if (map_add(&s->uidmap, val) < 0) goto bad; }
    else if (!strcmp(key, "gidmap")) { if (map_add(&s->gidmap, val) < 0) goto bad; }
    else if (!strcmp(key, "rootfsPropagation")) {
        for (unsigned i = 0; i < sizeof propagations / sizeof *propagations; i++)
            if (!strcmp(val, propagations[i].name)) { s->propagation = propagations[i].flags; return; }
        goto bad;
    }
    else if (!strcmp(key, "sysctl") && blk.nsysctl < MAXSYSCTL) {
        blk.sysctl[blk.nsysctl][0] = strdup(field(&val, ' '));
        blk.sysctl[blk.nsysctl++][1] = strdup(field(&val, 0));
    }
    else if (!strcmp(key, "device") && blk.ndev < MAXDEVICES) {
        for (int j = 0; j < 7; j++) blk.dev[blk.ndev][j] = strdup(field(&val, '|'));
        blk.ndev++;
    }
    else if (!strcmp(key, "seccomp")) { /* the BPF program: 8 bytes an instruction, in hex, as in memory */
        size_t len = strlen(val);
        if (blk.seccomp || len % 16 || len == 0 || len / 16 > MAXSECCOMP) goto bad;
        blk.nseccomp = len / 16;
        blk.seccomp = calloc(blk.nseccomp, sizeof *blk.seccomp);
        unsigned char *b = (unsigned char *)blk.seccomp;
        for (size_t i = 0; i < len / 2; i++)
            if (sscanf(val + 2 * i, "%2hhx", &b[i]) != 1) goto bad;
    }
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
    /* crun's and runc's own (podman's --tmpfs): not the kernel's; the tmpfs starts empty here */
    {"tmpcopyup", 0, 0}, {"notmpcopyup", 0, 0},
};

/* mkdir -p of the directories above `path` */
static void mkparents(char *path)
{
    for (char *p = path + 1; (p = strchr(p, '/')); p++) { *p = 0; mkdir(path, 0755); *p = '/'; }
}

/* A mount line's options: the kernel's flags, the rest as the file system's data. */
static unsigned long mount_flags(char *opts, char *data, size_t datalen)
{
    unsigned long fl = 0;
    *data = 0;
    for (char *o; (o = strsep(&opts, ","));) {
        unsigned i = 0;
        for (; i < sizeof mflags / sizeof *mflags && strcmp(o, mflags[i].name); i++) {}
        if (i < sizeof mflags / sizeof *mflags) fl = (fl | mflags[i].set) & ~mflags[i].clear;
        else if (*o) snprintf(data + strlen(data), datalen - strlen(data), "%s%s", *data ? "," : "", o);
    }
    return fl;
}

/* One OCI mount, inside the container's root. */
static int do_mount(char *src, char *dst, char *type, char *opts, char *err, size_t errlen)
{
    char data[1024];
    unsigned long fl = mount_flags(opts, data, sizeof data);
    if (!strcmp(type, "cgroup") || !strcmp(type, "cgroup2")) return 0; /* the VM is the limit */
    if (!strcmp(type, "bind")) fl |= MS_BIND;
    struct stat ss, ds;
    if ((fl & MS_BIND) && stat(src, &ss) < 0) {
        snprintf(err, errlen, "bind source %s: %s", src, strerror(errno));
        return -1;
    }
    if (stat(dst, &ds) < 0) { /* mkdir -p, or an empty file to bind a file on */
        mkparents(dst);
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

/* The CREATE's net, addr and route lines, kind by kind (NICs up, then addresses, then routes). */
static int do_network(char *err, size_t errlen)
{
    for (int kind = HWADDR; kind <= ROUTE; kind++)
        for (int i = 0; i < blk.nnet; i++) {
            if (blk.net[i].kind != kind) continue;
            char a[64], b[64], c[64];
            int n = sscanf(blk.net[i].args, "%63s %63s %63s", a, b, c), nic = -1, r = -1;
            errno = EINVAL;
            if (kind == HWADDR && n == 2 && (nic = net_ifindex_mac(a)) >= 0) r = net_hwaddr(nic, b);
            if (kind == NET && n == 2 && (nic = net_ifindex_mac(a)) >= 0) r = net_up(nic, atoi(b));
            if (kind == ADDR && n == 2 && (nic = net_ifindex_mac(a)) >= 0) r = net_addr(nic, b);
            if (kind == ROUTE && n == 3 && (nic = net_ifindex_mac(c)) >= 0)
                r = net_route(a, strcmp(b, "-") ? b : NULL, nic);
            if (r < 0) {
                snprintf(err, errlen, "%s %s: %s", netkeys[kind], blk.net[i].args, strerror(errno));
                return -1;
            }
        }
    return 0;
}

/*
 * A `file` line's content is written to the agent's own tmpfs (/run, outside the container's
 * root) and taken as a detached bind mount (open_tree) before the agent enters the rootfs; it is
 * attached at its destination (file_attach) after the mounts, so that podman's /etc/hosts lands
 * on whatever they put at /etc. The image's own file stays as it was, under the mount.
 */
static int file_stage(int i, char *err, size_t errlen)
{
    char path[64];
    const char *content = blk.f[i][1];
    size_t len = strlen(content);
    mkdir("/run/vessel", 0700);
    snprintf(path, sizeof path, "/run/vessel/file-%d", i);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), tree = -1;
    if (fd >= 0 && write(fd, content, len) == (ssize_t)len)
        tree = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0) snprintf(err, errlen, "file %s: %s", blk.f[i][0], strerror(errno));
    if (fd >= 0) close(fd);
    return tree;
}

static int file_attach(int tree, char *dst, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dst, &st) < 0) { /* missing: an empty file to mount on */
        mkparents(dst);
        int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) close(fd);
    }
    if (move_mount(tree, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0
        || mount(NULL, dst, NULL, MS_PRIVATE, NULL) < 0) {
        snprintf(err, errlen, "file %s: %s", dst, strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * A `9p` mount line: SOURCE is a host directory exported by QEMU with that mount tag, or
 * TAG/NAME, a file NAME in it (a single host file: its directory is exported). Each tag is
 * mounted once in the agent's own /run before the agent enters the rootfs, and what the line
 * names in it taken as a detached bind mount (open_tree), attached at DEST in the mount order.
 * 9p is live both ways: a write on either side is seen on the other.
 */
static int vol_stage(int i, char *err, size_t errlen)
{
    char tag[64], dir[128], path[4200];
    const char *src = blk.m[i][0], *sub = strchrnul(src, '/');
    snprintf(tag, sizeof tag, "%.*s", (int)(sub - src), src);
    snprintf(dir, sizeof dir, "/run/vessel/9p/%s", tag);
    mkdir("/run/vessel", 0700);
    mkdir("/run/vessel/9p", 0700);
    if (mkdir(dir, 0700) == 0 && mount(tag, dir, "9p", 0, NINEP_OPTS) < 0) { /* EEXIST: mounted already */
        snprintf(err, errlen, "mount %s on %s: the host's share %s: %s", src, blk.m[i][1], tag, strerror(errno));
        rmdir(dir);
        return -1;
    }
    snprintf(path, sizeof path, "%s%s", dir, sub);
    int tree = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0) snprintf(err, errlen, "mount %s on %s: %s", src, blk.m[i][1], strerror(errno));
    return tree;
}

static int vol_attach(int tree, char *dst, char *opts, char *err, size_t errlen)
{
    char data[1024];
    unsigned long fl = mount_flags(opts, data, sizeof data) & ~(MS_BIND | MS_REC);
    struct stat ts, ds;
    if (fstat(tree, &ts) < 0) goto fail;
    if (stat(dst, &ds) < 0) { /* mkdir -p, or an empty file to bind a file on */
        mkparents(dst);
        if (S_ISDIR(ts.st_mode)) mkdir(dst, 0755);
        else close(open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    }
    if (move_mount(tree, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0) goto fail;
    if (fl && mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | fl, NULL) < 0) goto fail; /* ro, nosuid… */
    if (mount(NULL, dst, NULL, MS_PRIVATE, NULL) < 0) goto fail;
    return 0;
fail:
    snprintf(err, errlen, "mount 9p on %s: %s", dst, strerror(errno));
    return -1;
}

/*
 * The container's /dev as the OCI spec lays it out (and runc makes it): a tmpfs with null, zero,
 * full, random, urandom and tty, the /dev/fd, stdin, stdout, stderr, ptmx and core links (to the
 * devpts of /dev/pts, which the bundle mounts, or dev_finish does), then linux.devices. Never
 * the guest's devtmpfs: the guest's own devices (its disks, virtio ports, hvc0, kmsg) are not
 * the container's. The agent keeps its own /dev (devfd) for its ports.
 */
static const struct { const char *name; unsigned major, minor; } dev_defaults[] = {
    {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};
static const char *dev_links[][2] = {
    {"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"}, {"/proc/self/fd/1", "/dev/stdout"},
    {"/proc/self/fd/2", "/dev/stderr"}, {"pts/ptmx", "/dev/ptmx"}, {"/proc/kcore", "/dev/core"}, /* core: as runc, crun */
};

static int dev_node(char *path, const char *type, unsigned major, unsigned minor, mode_t mode, uid_t uid, gid_t gid)
{
    mode_t t = *type == 'b' ? S_IFBLK : *type == 'p' ? S_IFIFO : S_IFCHR; /* c and u: a character device */
    mkparents(path);
    unlink(path); /* a default device the bundle lists again is made its way */
    if (mknod(path, t | (mode & 07777), *type == 'p' ? 0 : makedev(major, minor)) < 0) return -1;
    return chmod(path, mode & 07777) < 0 || chown(path, uid, gid) < 0 ? -1 : 0; /* chmod: the umask */
}

static int dev_populate(char *err, size_t errlen)
{
    char path[64];
    for (unsigned i = 0; i < sizeof dev_defaults / sizeof *dev_defaults; i++) {
        snprintf(path, sizeof path, "/dev/%s", dev_defaults[i].name);
        if (dev_node(path, "c", dev_defaults[i].major, dev_defaults[i].minor, 0666, 0, 0) < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            return -1;
        }
    }
    for (unsigned i = 0; i < sizeof dev_links / sizeof *dev_links; i++)
        if (symlink(dev_links[i][0], dev_links[i][1]) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "%s: %s", dev_links[i][1], strerror(errno));
            return -1;
        }
    return 0;
}

/* After the mounts: a devpts of the container's own unless the bundle mounted one, then linux.devices. */
static int dev_finish(int pts, char *err, size_t errlen)
{
    if (!pts) {
        char o[] = "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620";
        if (do_mount("devpts", "/dev/pts", "devpts", o, err, errlen) < 0) return -1;
    }
    for (int i = 0; i < blk.ndev; i++) {
        char **d = blk.dev[i];
        if (dev_node(d[0], d[1], strtoul(d[2], NULL, 10), strtoul(d[3], NULL, 10), strtoul(d[4], NULL, 8),
                     strtoul(d[5], NULL, 10), strtoul(d[6], NULL, 10)) < 0) {
            snprintf(err, errlen, "device %s: %s", d[0], strerror(errno));
            return -1;
        }
    }
    return 0;
}

/*
 * The block's mounts in the container's root (the cwd's root): /dev first (the bundle's, or, if
 * none, a tmpfs as runc's before a mount under /dev or at the end), each mount in order (a staged
 * volume from `vols` where there is one), then /dev/pts and linux.devices.
 */
static int mounts_apply(int *vols, char *err, size_t errlen)
{
    int dev = 0, pts = 0;
    for (int i = 0; i <= blk.nm; i++) {
        int here = i < blk.nm && !strcmp(blk.m[i][1], "/dev");
        if (!dev && !here && (i == blk.nm || !strncmp(blk.m[i][1], "/dev/", 5))) {
            char o[] = "nosuid,strictatime,mode=755,size=65536k";
            if (do_mount("tmpfs", "/dev", "tmpfs", o, err, errlen) < 0 || dev_populate(err, errlen) < 0) return -1;
            dev = 1;
        }
        if (i == blk.nm) break;
        pts |= !strcmp(blk.m[i][1], "/dev/pts");
        char opts[1024];
        snprintf(opts, sizeof opts, "%s", blk.m[i][3]);
        if (vols[i] >= 0 ? vol_attach(vols[i], blk.m[i][1], opts, err, errlen) < 0
                         : do_mount(blk.m[i][0], blk.m[i][1], blk.m[i][2], opts, err, errlen) < 0) return -1;
        if (here && !strcmp(blk.m[i][2], "tmpfs") && dev_populate(err, errlen) < 0) return -1;
        dev |= here;
    }
    return dev_finish(pts, err, errlen);
}

/* A CREATE's sysctl lines, written in the guest's /proc/sys (the guest is the container's kernel). */
static int do_sysctls(char *err, size_t errlen)
{
    for (int i = 0; i < blk.nsysctl; i++) {
        char path[300];
        snprintf(path, sizeof path, "sys/%s", blk.sysctl[i][0]);
        for (char *c = path + 4; *c; c++) if (*c == '.') *c = '/';
        int fd = strstr(path, "..") ? (errno = EINVAL, -1) : openat(procfd, path, O_WRONLY | O_CLOEXEC);
        size_t len = strlen(blk.sysctl[i][1]);
        if (fd < 0 || write(fd, blk.sysctl[i][1], len) != (ssize_t)len) {
            snprintf(err, errlen, "sysctl %s: %s", blk.sysctl[i][0], strerror(errno));
            if (fd >= 0) close(fd);
            return -1;
        }
        close(fd);
    }
    return 0;
}

/*
 * A pod's sandbox (docs/microvm.md, "Pods"): the pod's share (the host's directory into which
 * the host bind-mounts each later container's rootfs and volumes, live over 9p) is mounted in
 * the agent's /run before the agent enters the sandbox's rootfs, and kept as an fd; so is the
 * guest's cgroup2, under which each of the pod's containers gets a cgroup of its own.
 */
#define POD_SHM "/run/vessel/shm"

static int pod_setup(char *err, size_t errlen)
{
    mkdir("/run/vessel", 0700);
    mkdir("/run/vessel/pod", 0700);
    mkdir("/run/vessel/cgroup", 0700);
    mkdir(POD_SHM, 0700);
    /* the pod's /dev/shm, one tmpfs that every container of the pod mounts (type podshm), as the
       sandbox's shm is bound into each container under runc; 64 MiB as containerd's sandbox shm */
    if (mount("shm", POD_SHM, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") < 0
        || (shmfd = open(POD_SHM, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "the pod's /dev/shm: %s", strerror(errno));
        return -1;
    }
    if (mount(blk.pod, "/run/vessel/pod", "9p", 0, NINEP_OPTS) < 0
        || (podfd = open("/run/vessel/pod", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "the pod's share %s: %s", blk.pod, strerror(errno));
        return -1;
    }
    if (mount("cgroup2", "/run/vessel/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0
        || (cgfd = open("/run/vessel/cgroup", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "the guest's cgroup2: %s", strerror(errno));
        return -1;
    }
    int fd = openat(cgfd, "cgroup.subtree_control", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || dprintf(fd, "+memory +cpu +pids") < 0) logmsg("cgroup controllers: %m");
    if (fd >= 0) close(fd);
    return 0;
}

static int cg_write(const char *name, const char *file, const char *value)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", name, file);
    int fd = openat(cgfd, path, O_WRONLY | O_CLOEXEC), r = fd >= 0 && write(fd, value, strlen(value)) >= 0 ? 0 : -1;
    int e = errno;
    if (fd >= 0) close(fd);
    errno = e;
    return r;
}

/* A pod's container's cgroup limits ("MEMORY_MAX CPU_QUOTA CPU_PERIOD", "max": none): CONTAINER's and LIMITS'. */
static int cgroup_limits(const char *name, const char *limits, char *err, size_t errlen)
{
    char mem[32] = "max", quota[32] = "max", period[32] = "100000", cpu[80];
    if (limits) sscanf(limits, "%31s %31s %31s", mem, quota, period);
    snprintf(cpu, sizeof cpu, "%s %s", quota, period);
    if (cg_write(name, "memory.max", mem) < 0) { snprintf(err, errlen, "memory.max %s: %s", mem, strerror(errno)); return -1; }
    if (cg_write(name, "cpu.max", cpu) < 0) { snprintf(err, errlen, "cpu.max %s: %s", cpu, strerror(errno)); return -1; }
    return 0;
}

/* LIMITS: "MEMORY_MAX CPU_QUOTA CPU_PERIOD" where "-" leaves a value as it is (cpu.max read for the other half). */
static int cgroup_update(const char *name, const char *limits, char *err, size_t errlen)
{
    char mem[32] = "-", quota[32] = "-", period[32] = "-", now[80] = "", cpu[80];
    if (sscanf(limits, "%31s %31s %31s", mem, quota, period) != 3) { snprintf(err, errlen, "bad limits: %s", limits); return -1; }
    if (strcmp(mem, "-") && cg_write(name, "memory.max", mem) < 0) {
        snprintf(err, errlen, "memory.max %s: %s", mem, strerror(errno));
        return -1;
    }
    if (!strcmp(quota, "-") && !strcmp(period, "-")) return 0;
    char path[128], cur_quota[32] = "max", cur_period[32] = "100000";
    snprintf(path, sizeof path, "%s/cpu.max", name);
    int fd = openat(cgfd, path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, now, sizeof now - 1) : -1;
    if (fd >= 0) close(fd);
    if (n > 0) { now[n] = 0; sscanf(now, "%31s %31s", cur_quota, cur_period); }
    snprintf(cpu, sizeof cpu, "%s %s", strcmp(quota, "-") ? quota : cur_quota, strcmp(period, "-") ? period : cur_period);
    if (cg_write(name, "cpu.max", cpu) < 0) { snprintf(err, errlen, "cpu.max %s: %s", cpu, strerror(errno)); return -1; }
    return 0;
}

/* A pod's container's cgroup, with its limits. */
static int cgroup_make(const char *name, const char *limits, char *err, size_t errlen)
{
    if (cgfd < 0) { snprintf(err, errlen, "no cgroup2 in the guest"); return -1; }
    if (mkdirat(cgfd, name, 0755) < 0 && errno != EEXIST) { snprintf(err, errlen, "cgroup %s: %s", name, strerror(errno)); return -1; }
    if (cg_write(name, "memory.swap.max", "0") < 0 && errno != ENOENT) logmsg("memory.swap.max of %s: %m", name);
    return cgroup_limits(name, limits, err, errlen);
}

/* Every process in a pod's container's cgroup killed, then the cgroup removed (it empties as they are reaped). */
static void cgroup_remove(const char *name)
{
    if (cgfd < 0 || !name) return;
    cg_write(name, "cgroup.kill", "1");
    for (int i = 0; i < 200 && unlinkat(cgfd, name, AT_REMOVEDIR) < 0 && errno == EBUSY; i++) usleep(5000);
}

/*
 * A pod's container's rootfs and volumes, taken from the pod's share as detached mounts
 * (open_tree) by the agent before it forks the container's process 1: a mount can be cloned only
 * in the namespace it is in, the agent's; the child attaches them in its own (member_setup).
 */
static int member_root = -1, member_vols[MAXMOUNTS];

static void member_unstage(void)
{
    if (member_root >= 0) close(member_root);
    member_root = -1;
    for (int i = 0; i < blk.nm; i++) if (member_vols[i] >= 0) close(member_vols[i]);
}

static int member_stage(char *err, size_t errlen)
{
    for (int i = 0; i < MAXMOUNTS; i++) member_vols[i] = -1;
    const char *root = blk.s.root + strspn(blk.s.root, "/");
    member_root = open_tree(podfd, root, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (member_root < 0) { snprintf(err, errlen, "rootfs %s: %s", blk.s.root, strerror(errno)); return -1; }
    for (int i = 0; i < blk.nm; i++) {
        if (!strcmp(blk.m[i][2], "podshm")) member_vols[i] = open_tree(shmfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
        else if (!strcmp(blk.m[i][2], "pod"))
            member_vols[i] = open_tree(podfd, blk.m[i][0] + strspn(blk.m[i][0], "/"), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        else continue;
        if (member_vols[i] < 0) {
            snprintf(err, errlen, "volume %s on %s: %s", blk.m[i][0], blk.m[i][1], strerror(errno));
            member_unstage();
            return -1;
        }
    }
    return 0;
}

/*
 * In the child that becomes a pod's container's process 1 (already PID 1 of a new PID namespace;
 * the pod's network and IPC are the agent's, so shared): a mount namespace of its own (and a UTS
 * one when its spec asks for a new one: Kubernetes' containers share the pod's), its rootfs
 * (staged by member_stage) attached over / and entered as the agent enters process 0's, then its
 * volumes and the kernel's file systems mounted as CREATE does for process 0.
 */
int member_setup(struct spec *s, char *err, size_t errlen)
{
    if (unshare(CLONE_NEWNS | (s->newuts ? CLONE_NEWUTS : 0)) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        snprintf(err, errlen, "namespaces: %s", strerror(errno));
        return -1;
    }
    if (move_mount(member_root, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0 || fchdir(member_root) < 0
        || chroot(".") < 0 || chdir("/") < 0) {
        snprintf(err, errlen, "rootfs %s: %s", s->root, strerror(errno));
        return -1;
    }
    if (s->newuts && blk.hostname && sethostname(blk.hostname, strlen(blk.hostname)) < 0) logmsg("hostname: %m");
    return mounts_apply(member_vols, err, errlen);
}

/* The container's seccomp filter (CREATE's), for process 0 and every exec. */
static struct sock_fprog seccomp_prog;

/*
 * CREATE: the network (before anything can run), the files staged, then into the rootfs
 * (switch_root: the initramfs cannot be pivoted), mounts, files, process 0.
 */
static int do_create(char *err, size_t errlen)
{
    int port = -1, trees[MAXFILES], vols[MAXMOUNTS], r = -1;
    if (created) { snprintf(err, errlen, "already created"); return -1; }
    if ((port = port_open("vessel.proc.0")) < 0) { snprintf(err, errlen, "no port vessel.proc.0"); return -1; }
    for (int i = 0; i < blk.nf; i++) trees[i] = -1;
    for (int i = 0; i < blk.nm; i++) vols[i] = -1;
    if (do_network(err, errlen) < 0 || do_sysctls(err, errlen) < 0) goto out;
    for (int i = 0; i < blk.nf; i++)
        if ((trees[i] = file_stage(i, err, errlen)) < 0) goto out;
    for (int i = 0; i < blk.nm; i++)
        if (!strcmp(blk.m[i][2], "9p") && (vols[i] = vol_stage(i, err, errlen)) < 0) goto out;
    if (blk.pod && pod_setup(err, errlen) < 0) goto out;
    for (int i = 0; i < blk.nm; i++)
        if (!strcmp(blk.m[i][2], "podshm")
            && (!blk.pod || (vols[i] = open_tree(shmfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH)) < 0)) {
            snprintf(err, errlen, "mount %s: %s", blk.m[i][1], blk.pod ? strerror(errno) : "the pod's /dev/shm is a pod's sandbox's");
            goto out;
        }
    if (chdir("/rootfs") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0) {
        snprintf(err, errlen, "entering the rootfs: %s", strerror(errno));
        goto out;
    }
    created = 1;
    if (blk.hostname && sethostname(blk.hostname, strlen(blk.hostname)) < 0)
        logmsg("hostname: %m");
    if (mounts_apply(vols, err, errlen) < 0) goto out;
    for (int i = 0; i < blk.nf; i++)
        if (file_attach(trees[i], blk.f[i][0], err, errlen) < 0) goto out;
    if (blk.seccomp) {
        seccomp_prog = (struct sock_fprog){blk.nseccomp, blk.seccomp};
        blk.seccomp = NULL; /* kept for the execs */
    }
    blk.s.seccomp = seccomp_prog.len ? &seccomp_prog : NULL;
    struct proc *p = proc_new(0, port);
    port = -1; /* the process owns it now */
    if (proc_prepare(p, &blk.s, err, errlen) < 0) proc_free(p);
    else r = 0;
out:
    for (int i = 0; i < blk.nf; i++) if (trees[i] >= 0) close(trees[i]);
    for (int i = 0; i < blk.nm; i++) if (vols[i] >= 0) close(vols[i]);
    if (port >= 0) close(port);
    return r;
}

/*
 * CLONE: this guest was restored from a template that other clones share, so it takes what makes
 * it a machine of its own before anything runs: the host's clock (the template's stopped when it
 * was saved), fresh entropy from the host mixed into the pool and the CRNG reseeded at once (every
 * clone starts from the template's CRNG state: without it they would draw the same bytes), then
 * its rootfs. Its MAC and addresses come with CREATE (hwaddr, net, addr lines), its hostname too.
 */
static int do_clone(char *err, size_t errlen)
{
    if (do_network(err, errlen) < 0) return -1; /* its hwaddr lines */
    struct timespec t = {blk.sec, blk.nsec};
    if (blk.sec > 0 && clock_settime(CLOCK_REALTIME, &t) < 0) {
        snprintf(err, errlen, "time: %s", strerror(errno));
        return -1;
    }
    size_t hex = blk.entropy ? strlen(blk.entropy) : 0, n = hex / 2;
    if (n) {
        struct rand_pool_info *pool = calloc(1, sizeof *pool + n + 4);
        for (size_t i = 0; i < n; i++) sscanf(blk.entropy + 2 * i, "%2hhx", (unsigned char *)pool->buf + i);
        pool->entropy_count = n * 8;
        pool->buf_size = n;
        int fd = open("/dev/urandom", O_RDWR | O_CLOEXEC), r = -1;
        if (fd >= 0 && ioctl(fd, RNDADDENTROPY, pool) == 0) r = ioctl(fd, RNDRESEEDCRNG);
        int e = errno;
        if (fd >= 0) close(fd);
        free(pool);
        if (r < 0) {
            snprintf(err, errlen, "entropy: %s", strerror(e));
            return -1;
        }
    }
    struct stat root, top;
    if (stat("/rootfs", &root) == 0 && stat("/", &top) == 0 && root.st_dev != top.st_dev) return 0; /* a retried CLONE */
    if (mount_rootfs() < 0) {
        snprintf(err, errlen, "mount rootfs: %s", strerror(errno));
        return -1;
    }
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
    else if (!strcmp(blk.verb, "CONTAINER")) {
        /* a pod's container: its own cgroup and seccomp filter; prepared, it waits for START as process 0 does */
        struct proc *p = proc_new(blk.n, port);
        if (blk.seccomp) {
            p->filter = malloc(sizeof *p->filter);
            *p->filter = (struct sock_fprog){blk.nseccomp, blk.seccomp};
            blk.seccomp = NULL;
        }
        blk.s.seccomp = p->filter;
        blk.s.join = 0;
        char name[32];
        snprintf(name, sizeof name, "c%d", blk.n);
        free(blk.s.cgroup);
        blk.s.cgroup = strdup(name);
        if (cgroup_make(name, blk.limits, err, sizeof err) < 0 || member_stage(err, sizeof err) < 0) {
            cgroup_remove(name);
            proc_free(p);
            ctl_err(err);
        } else if (proc_prepare(p, &blk.s, err, sizeof err) < 0) {
            member_unstage();
            cgroup_remove(name);
            proc_free(p);
            ctl_err(err);
        } else {
            member_unstage(); /* the child has its own */
            p->cgroup = strdup(name);
            ctl_send("OK %d", p->pid);
        }
    } else {
        struct proc *in = blk.s.join > 0 ? proc_find(blk.s.join) : NULL;
        if (blk.s.join > 0 && (!in || !in->cgroup || in->state >= P_EXITED)) {
            snprintf(err, sizeof err, "process %d is no running container of the pod", blk.s.join);
            ctl_err(err);
            block_free();
            return;
        }
        struct proc *p = proc_new(blk.n, port);
        blk.s.seccomp = in ? in->filter : seccomp_prog.len ? &seccomp_prog : NULL;
        if (in) { free(blk.s.cgroup); blk.s.cgroup = strdup(in->cgroup); }
        if (proc_prepare(p, &blk.s, err, sizeof err) < 0) { proc_free(p); ctl_err(err); }
        else if (proc_start(p, err, sizeof err) < 0) { proc_free(p); ctl_err(err); } /* no relay comes: its port is the host's to remove */
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
    else if (!strcmp(v, "CLONE")) {
        if (created) ctl_err("already created");
        else if (do_clone(err, sizeof err) < 0) ctl_err(err);
        else ctl_send("OK");
    } else if (!strcmp(v, "CREATE")) {
        if (do_create(err, sizeof err) < 0) ctl_err(err); else ctl_send("OK");
    } else if (!strcmp(v, "START")) {
        if (!p) ctl_err("no such process");
        else if (proc_start(p, err, sizeof err) < 0) ctl_err(err);
        else ctl_send("OK %d", p->pid);
    } else if (!strcmp(v, "CONTAINER")) {
        if (!created || podfd < 0) ctl_err("not a pod's sandbox");
        else if (p || blk.n <= 0) ctl_err("process number in use");
        else if (!blk.s.root) ctl_err("no root line");
        else { ctl.busy = 1; blk.deadline = now_ms() + PORT_WAIT_MS; exec_attempt(); return; }
    } else if (!strcmp(v, "REMOVE")) {
        /* a pod's container deleted: its processes and cgroup go; its relay has gone, or goes */
        if (!p || !p->cgroup) ctl_err("no such container process");
        else {
            cgroup_remove(p->cgroup);
            if (p->state < P_EXITED) kill(p->pid, SIGKILL);
            free(p->cgroup);
            p->cgroup = NULL;
            ctl_send("OK");
        }
    } else if (!strcmp(v, "LIMITS")) {
        /* update of a pod's container: its guest cgroup's memory.max and cpu.max */
        if (!p || !p->cgroup) ctl_err("no such container process");
        else if (!blk.limits) ctl_err("no limits line");
        else if (cgroup_update(p->cgroup, blk.limits, err, sizeof err) < 0) ctl_err(err);
        else ctl_send("OK");
    } else if (!strcmp(v, "EXEC")) {
        if (!created) ctl_err("not created");
        else if (p || blk.n <= 0) ctl_err("process number in use");
        else { ctl.busy = 1; blk.deadline = now_ms() + PORT_WAIT_MS; exec_attempt(); return; }
    } else if (!strcmp(v, "KILL")) {
        if (blk.all && blk.n == 0) { kill(-1, blk.sig); ctl_send("OK"); } /* PID 1: all but itself */
        else if (blk.all && p && p->cgroup && blk.sig == SIGKILL) { cg_write(p->cgroup, "cgroup.kill", "1"); ctl_send("OK"); }
        else if (!p || p->state >= P_EXITED) ctl_err("no such process");
        else if (kill(p->pid, blk.sig) < 0) ctl_err(strerror(errno));
        else ctl_send("OK");
    } else if (!strcmp(v, "PS")) ps();
    else if (!strcmp(v, "PROCS")) {
        /* the process numbers the agent still holds (their ports open): the host removes the others' ports */
        char out[4000] = "OK";
        size_t o = 2;
        for (struct proc *q = procs; q && o < sizeof out - 12; q = q->next) o += snprintf(out + o, sizeof out - o, " %d", q->n);
        ctl_send("%s", out);
    }
    else if (!strcmp(v, "STATS") || !strcmp(v, "TOP")) {
        char out[4000];
        int cg = blk.n > 0 && p && p->cgroup ? openat(cgfd, p->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (blk.n > 0 && !strcmp(v, "STATS") && cg < 0) ctl_err("no such container process");
        else {
            if (cg >= 0 && !strcmp(v, "STATS")) stats_cgroup_answer(procfd, cg, out, sizeof out);
            else (!strcmp(v, "STATS") ? stats_answer : top_answer)(procfd, out, sizeof out);
            ctl_send("%s", out);
        }
        if (cg >= 0) close(cg);
    }
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
        if (!p->connected && port_connected(p->port)) { p->connected = p->relayed = 1; proc_flush(p); }
}

/*
 * Process 0's relay is the container's process as the engine sees it (conmon or the shim waits
 * for it). Once it has gone, killed or done, nothing can ever reach this guest again: power off,
 * so that no VM runs on with nothing to stop it. A relay that has never connected (a container
 * created but not yet attached) keeps the guest up.
 */
static void check_relay(void)
{
    struct proc *p0 = proc_find(0);
    if (!p0 || !p0->relayed || port_connected(p0->port)) return;
    logmsg("vessel-agent: the relay of process 0 went away; powering off");
    kill(-1, SIGKILL);
    sync();
    reboot(RB_POWER_OFF);
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

int main(int argc, char **argv)
{
    (void)argc;
    if (getpid() != 1) { fprintf(stderr, "vessel-agent runs as a guest's PID 1\n"); return 2; }
    boot_mounts();
    read_cmdline();
    int disk = !has_word("vessel.rootfs=9p") && param("root");
    if (disk) logfd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC); /* no hvc0 there */
    boot_modules();
    if (disk) boot_disk(argv); /* does not return */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGPIPE);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    boot_9p(has_word("vessel.template"));
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
        check_relay();
    }
}
