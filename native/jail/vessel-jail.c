/*
 * vessel-jail: starts a microVM's QEMU confined, as Firecracker's jailer starts Firecracker
 * (docs/microvm.md, "The jail"; issue 12, item 6).
 *
 * Usage: vessel-jail --uid U --gid G --root DIR [--ro PATH]... [--rw PATH]... [--dev PATH]...
 *                    [--tap NAME]... [--share PATH]... [--fd N=PATH]... [--proxy-helper PATH]
 *                    [--ready-qmp SOCKET] [--kvm] -- PROGRAM ARG...
 *
 * As root, in this order:
 *  1. each --tap NAME is opened (/dev/net/tun, TUNSETIFF, IFF_VNET_HDR) in the network namespace
 *     we run in, and left open as fd 100, 101, …: QEMU takes them as `-netdev tap,fd=N` (it could
 *     not create a tap without CAP_NET_ADMIN), and a tap vanishes with the last fd on it;
 *  1b. each --fd N=PATH is PATH opened read-only and left open as fd N (3-99): what QEMU is
 *     given but must not reach by a path in its jail: a template's RAM (a memfd the daemon holds,
 *     sealed against writes, PATH /proc/DAEMON/fd/M; QEMU maps /proc/self/fd/N copy-on-write)
 *     and its device state (`migrate-incoming fd:N`);
 *  2. each --share PATH gets a virtfs-proxy-helper (root, in the host's mount namespace, so later
 *     mounts under PATH are seen; it chroots into PATH and keeps only the capabilities a
 *     passthrough 9p server needs) on one end of a socketpair; QEMU gets the other end as fd 200,
 *     201, … (`-fsdev proxy,sock_fd=N`); each helper ends when QEMU's end closes;
 *  3. a mount namespace of its own (the host's mounts seen as a slave: nothing goes back), a tmpfs
 *     mounted on DIR holding only the --ro / --rw paths (bind mounts at the same paths, read-only,
 *     nosuid, nodev but for --dev nodes), /usr's links (bin, lib, lib64, sbin) and a /proc that
 *     shows only its own processes; pivot_root into it;
 *  4. no supplementary groups (with --kvm: /dev/kvm's group only), gid G, every capability dropped from the bounding set, uid U (which
 *     clears the others), no ambient ones, no_new_privs;
 *  with --ready-qmp SOCKET, steps 2-4 and PROGRAM (QEMU) are a child's, in a session of its own
 *  (so the proxy helpers are QEMU's children), and we exit 0 once it answers on its QMP socket (it
 *  has set the VM up and runs its main loop), or 1 if it ended first. QEMU's own -daemonize cannot
 *  go with -sandbox spawn=deny: its fork comes after the filter. Without it, PROGRAM replaces us.
 * Any failure: one line on stderr, exit 125, nothing of ours left running.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PATHS 64
#define TAP_FD_BASE 100
#define SHARE_FD_BASE 200

static const char *ro[MAX_PATHS], *rw[MAX_PATHS], *dev[MAX_PATHS], *taps[MAX_PATHS], *shares[MAX_PATHS], *fds[MAX_PATHS];
static int nro, nrw, ndev, ntaps, nshares, nfds;
static pid_t helpers[MAX_PATHS];

static void fail(const char *what, const char *arg)
{
    int e = errno;
    fprintf(stderr, "vessel-jail: %s%s%s%s%s\n", what, arg ? " " : "", arg ? arg : "", e ? ": " : "", e ? strerror(e) : "");
    for (int i = 0; i < nshares; i++) {
        if (helpers[i] > 0) kill(helpers[i], SIGKILL);
    }
    exit(125);
}

static void add(const char **list, int *n, const char *value)
{
    if (*n == MAX_PATHS) {
        errno = 0;
        fail("too many paths of one kind, over", "64");
    }
    list[(*n)++] = value;
}

static unsigned long number(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || !*s || v == 0 || v >= 0xffffffffUL) {
        errno = 0;
        fail(what, s);
    }
    return v;
}

/* mkdir -p of PATH's directories under root, then PATH itself as a directory or an empty file */
static void make_point(const char *root, const char *path, int directory)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s%s", root, path) >= (int)sizeof p) {
        errno = ENAMETOOLONG;
        fail("path", path);
    }
    for (char *s = p + strlen(root) + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) && errno != EEXIST) fail("mkdir", p);
        *s = '/';
    }
    if (directory) {
        if (mkdir(p, 0755) && errno != EEXIST) fail("mkdir", p);
    } else {
        int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0) fail("create", p);
        close(fd);
    }
}

static void bind_path(const char *root, const char *path, unsigned long flags)
{
    struct stat st;
    char target[4096];
    if (stat(path, &st)) fail("bind", path);
    make_point(root, path, S_ISDIR(st.st_mode));
    snprintf(target, sizeof target, "%s%s", root, path);
    if (mount(path, target, NULL, MS_BIND | MS_REC, NULL)) fail("bind mount", path);
    if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | flags, NULL)) fail("remount", path);
}

static void open_taps(void)
{
    for (int i = 0; i < ntaps; i++) {
        int fd = open("/dev/net/tun", O_RDWR);
        if (fd < 0) fail("open /dev/net/tun for", taps[i]);
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        if (strlen(taps[i]) >= IFNAMSIZ) {
            errno = ENAMETOOLONG;
            fail("tap", taps[i]);
        }
        strcpy(ifr.ifr_name, taps[i]);
        if (ioctl(fd, TUNSETIFF, &ifr)) fail("TUNSETIFF", taps[i]);
        if (dup2(fd, TAP_FD_BASE + i) < 0) fail("dup2 for", taps[i]);
        close(fd);
    }
}

/* --fd N=PATH: PATH opened read-only (as root, before the jail) at fd N, inherited by PROGRAM */
static void open_fds(void)
{
    for (int i = 0; i < nfds; i++) {
        char *end;
        errno = 0;
        long n = strtol(fds[i], &end, 10);
        if (errno || end == fds[i] || *end != '=' || n < 3 || n > 99 || end[1] != '/') {
            errno = 0;
            fail("--fd: not N=PATH with N from 3 to 99 and PATH absolute:", fds[i]);
        }
        int fd = open(end + 1, O_RDONLY | O_CLOEXEC);
        if (fd < 0) fail("open", end + 1);
        if (fd != n) {
            if (dup2(fd, (int)n) < 0) fail("dup2 for", end + 1);
            close(fd);
        } else if (fcntl(fd, F_SETFD, 0)) {
            fail("fcntl for", end + 1);
        }
    }
}

static void start_proxies(const char *helper)
{
    for (int i = 0; i < nshares; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) fail("socketpair for", shares[i]);
        pid_t pid = fork();
        if (pid < 0) fail("fork for", shares[i]);
        if (pid == 0) {
            /* the helper: only its end of the socket (fd 3), nothing of QEMU's */
            if (dup2(sv[1], 3) < 0) _exit(125);
            for (int fd = 4; fd < 1024; fd++) close(fd);
            char *argv[] = {(char *)helper, "-n", "-f", "3", "-p", (char *)shares[i], NULL};
            execv(helper, argv);
            fprintf(stderr, "vessel-jail: exec %s: %s\n", helper, strerror(errno));
            _exit(125);
        }
        helpers[i] = pid;
        close(sv[1]);
        if (dup2(sv[0], SHARE_FD_BASE + i) < 0) fail("dup2 for", shares[i]);
        close(sv[0]);
    }
}

static void enter_root(const char *root)
{
    if (unshare(CLONE_NEWNS)) fail("unshare the mount namespace", NULL);
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL)) fail("make / a slave", NULL);
    if (mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k,nr_inodes=1024")) {
        fail("mount a tmpfs on", root);
    }
    unsigned long common = MS_NOSUID | MS_NODEV;
    for (int i = 0; i < nro; i++) bind_path(root, ro[i], common | MS_RDONLY);
    for (int i = 0; i < nrw; i++) bind_path(root, rw[i], common | MS_NOEXEC);
    for (int i = 0; i < ndev; i++) {
        if (access(dev[i], F_OK) == 0) bind_path(root, dev[i], MS_NOSUID | MS_NOEXEC);
    }
    const char *links[][2] = {{"usr/bin", "bin"}, {"usr/sbin", "sbin"}, {"usr/lib", "lib"}, {"usr/lib64", "lib64"}};
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", root, links[i][1]);
        if (symlink(links[i][0], p) && errno != EEXIST) fail("symlink", p);
    }
    make_point(root, "/proc", 1);
    char proc[4096];
    snprintf(proc, sizeof proc, "%s/proc", root);
    /* QEMU finds its data directory from /proc/self/exe; it sees no other process */
    if (mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible,subset=pid")) {
        fail("mount /proc in", root);
    }
    if (mount(NULL, root, NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "mode=0755")) {
        fail("remount read-only", root);
    }
    if (chdir(root)) fail("chdir", root);
    if (syscall(SYS_pivot_root, ".", ".")) fail("pivot_root into", root);
    if (umount2(".", MNT_DETACH)) fail("detach the old root", NULL);
    if (chdir("/")) fail("chdir /", NULL);
}

static void drop_privileges(uid_t uid, gid_t gid, int kvm)
{
    /* with --kvm, the one supplementary group is /dev/kvm's (0660 root:kvm on Debian), as a
     * Firecracker jail's uid must be able to open it; else none */
    struct stat st;
    gid_t kvm_group;
    if (kvm && stat("/dev/kvm", &st) == 0 && st.st_gid != 0) {
        kvm_group = st.st_gid;
        if (setgroups(1, &kvm_group)) fail("setgroups", NULL);
    } else if (setgroups(0, NULL)) {
        fail("setgroups", NULL);
    }
    if (setresgid(gid, gid, gid)) fail("setresgid", NULL);
    for (int cap = 0; cap <= 63; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL) fail("drop a capability from the bounding set", NULL);
    }
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0)) fail("PR_SET_KEEPCAPS", NULL);
    if (setresuid(uid, uid, uid)) fail("setresuid", NULL);
    if (syscall(SYS_capset, &header, data)) fail("capset", NULL);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)) fail("clear the ambient capabilities", NULL);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) fail("PR_SET_NO_NEW_PRIVS", NULL);
}

/* whether QEMU answers on QMP: its greeting read, qmp_capabilities answered */
static int qmp_answers(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) return 0;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int ok = 0, lines = 0;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
        char buf[4096];
        ssize_t n;
        int sent = 0;
        while (lines < 2 && (n = read(fd, buf, sizeof buf)) > 0) {
            for (ssize_t k = 0; k < n; k++) lines += buf[k] == '\n';
            if (lines >= 1 && !sent) {
                const char *hello = "{\"execute\":\"qmp_capabilities\"}\n";
                if (write(fd, hello, strlen(hello)) < 0) break;
                sent = 1;
            }
        }
        ok = lines >= 2;
    }
    close(fd);
    return ok;
}

/* the parent's side of --ready-qmp: 0 once the child (becoming QEMU) answers on QMP, 1 if it ended first */
static int wait_ready(pid_t pid, char **argv, const char *qmp)
{
    for (;;) {
        int status;
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) {
            fprintf(stderr, "vessel-jail: %s ended (%s %d) before it answered on %s\n", argv[0],
                    WIFEXITED(status) ? "status" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), qmp);
            return 1;
        }
        if (access(qmp, F_OK) == 0 && qmp_answers(qmp)) return 0;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int main(int argc, char **argv)
{
    const char *ready_qmp = NULL;
    int kvm = 0;
    unsigned long uid = 0, gid = 0;
    const char *root = NULL, *helper = "/usr/lib/qemu/virtfs-proxy-helper";
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (!strcmp(a, "--kvm")) {
            kvm = 1;
            continue;
        }
        if (i + 1 >= argc) {
            errno = 0;
            fail("a value is missing after", a);
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--uid")) uid = number(v, "--uid: not a uid other than 0:");
        else if (!strcmp(a, "--gid")) gid = number(v, "--gid: not a gid other than 0:");
        else if (!strcmp(a, "--root")) root = v;
        else if (!strcmp(a, "--ro")) add(ro, &nro, v);
        else if (!strcmp(a, "--rw")) add(rw, &nrw, v);
        else if (!strcmp(a, "--dev")) add(dev, &ndev, v);
        else if (!strcmp(a, "--tap")) add(taps, &ntaps, v);
        else if (!strcmp(a, "--share")) add(shares, &nshares, v);
        else if (!strcmp(a, "--fd")) add(fds, &nfds, v);
        else if (!strcmp(a, "--proxy-helper")) helper = v;
        else if (!strcmp(a, "--ready-qmp")) ready_qmp = v;
        else {
            errno = 0;
            fail("unknown option", a);
        }
    }
    errno = 0;
    if (!uid || !gid || !root || root[0] != '/') fail("usage: vessel-jail --uid U --gid G --root DIR [...] -- PROGRAM ARG...", NULL);
    if (i >= argc) fail("no program to run", NULL);
    if (argv[i][0] != '/') fail("the program must be an absolute path:", argv[i]);
    for (int k = 0; k < nro + nrw; k++) {
        const char *p = k < nro ? ro[k] : rw[k - nro];
        if (p[0] != '/') fail("not an absolute path:", p);
    }
    open_taps();
    open_fds();
    if (ready_qmp) {
        pid_t pid = fork();
        if (pid < 0) fail("fork", NULL);
        if (pid > 0) {
            for (int k = 0; k < ntaps; k++) close(TAP_FD_BASE + k);
            return wait_ready(pid, argv + i, ready_qmp);
        }
        setsid();
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0 && null != 0) {
            dup2(null, 0);
            close(null);
        }
    }
    start_proxies(helper);
    enter_root(root);
    drop_privileges((uid_t)uid, (gid_t)gid, kvm);
    execv(argv[i], argv + i);
    fail("exec", argv[i]);
    return 125;
}
