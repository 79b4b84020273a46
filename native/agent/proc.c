/*
 * vessel-agent, processes: start a container process with its user, groups, capabilities, rlimits,
 * oom_score_adj, seccomp filter, cwd and stdio (pipes or a pty), and carry its stdio over its port
 * "vessel.proc.N" in frames (see docs/microvm.md, "Stream protocol"): type byte, u32 LE length, payload.
 *
 * Output is read from the process only while the relay is connected and the frames already
 * queued are few, so nothing is lost when the relay connects late: the process blocks on a full
 * pipe meanwhile. The X frame goes after the last output, then EXIT N on the control port.
 */
#include "agent.h"
#include <grp.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <termios.h>

#define OBUF_HIGH (256 * 1024) /* stop reading the process's output above this much queued */
#define LINGER_MS 200          /* after exit, wait this long for output EOF (background children) */
#define PROC_MAGIC 0x9fa0      /* statfs's f_type of a procfs */

struct proc *procs;
void ctl_exit(struct proc *p); /* vessel-agent.c: report EXIT N STATUS */

struct proc *proc_find(int n)
{
    for (struct proc *p = procs; p; p = p->next)
        if (p->n == n) return p;
    return NULL;
}

struct proc *proc_new(int n, int port)
{
    struct proc *p = calloc(1, sizeof *p);
    p->n = n;
    p->port = port;
    p->connected = p->relayed = port_connected(port);
    p->in = p->out = p->err = p->start_w = p->status_r = -1;
    p->pi_port = p->pi_out = p->pi_err = p->pi_in = -1;
    p->next = procs;
    procs = p;
    return p;
}

static void xclose(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

void proc_free(struct proc *p)
{
    for (struct proc **pp = &procs; *pp; pp = &(*pp)->next)
        if (*pp == p) { *pp = p->next; break; }
    xclose(&p->port); xclose(&p->in); xclose(&p->out); xclose(&p->err);
    xclose(&p->start_w); xclose(&p->status_r);
    free(p->obuf.p); free(p->ibuf.p); free(p->inbuf.p);
    free(p->cgroup);
    if (p->filter) free(p->filter->filter);
    free(p->filter);
    free(p);
}

/* ---------------------------------------------------------------- starting a process */

static const char *getenv_in(char **env, const char *key)
{
    size_t k = strlen(key);
    for (; env && *env; env++)
        if (!strncmp(*env, key, k) && (*env)[k] == '=') return *env + k + 1;
    return NULL;
}

/* The program's path: argv[0] itself if it has a slash, else found in the process's PATH. */
static int find_exec(const char *name, char **env, char *out, size_t len)
{
    if (strchr(name, '/')) {
        snprintf(out, len, "%s", name);
        return access(out, X_OK);
    }
    const char *path = getenv_in(env, "PATH");
    if (!path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const char *s = path; ; ) {
        const char *e = strchrnul(s, ':');
        snprintf(out, len, "%.*s/%s", (int)(e - s), e == s ? "." : s, name);
        struct stat st;
        if (!access(out, X_OK) && !stat(out, &st) && S_ISREG(st.st_mode)) return 0;
        if (!*e) break;
        s = e + 1;
    }
    errno = ENOENT;
    return -1;
}

/* HOME from /etc/passwd when the process has none, as runc does. */
static void home_of(uid_t uid, char *out, size_t len)
{
    snprintf(out, len, "/");
    FILE *f = fopen("/etc/passwd", "re");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        char *fld[7] = {0}, *s = line;
        int i = 0;
        for (; i < 7 && s; i++) fld[i] = strsep(&s, ":\n");
        if (i == 7 && fld[2] && (uid_t)strtoul(fld[2], NULL, 10) == uid && fld[5] && *fld[5]) {
            snprintf(out, len, "%s", fld[5]);
            break;
        }
    }
    if (f) fclose(f);
}

static void child_fail(int st, const char *what)
{
    char msg[256];
    int n = snprintf(msg, sizeof msg, "E%s: %s", what, strerror(errno));
    if (write(st, msg, n) < 0) {}
    _exit(127);
}

/*
 * The container's namespaces, as Kata's agent makes them: process 0 is PID 1 of a PID namespace
 * of its own (so the kernel treats it as a container's init: signals it has no handler for are
 * not delivered from inside, orphans are reparented to it, its end kills the rest) with a mount
 * namespace of its own, in which /proc is a procfs of that PID namespace. An exec joins both
 * (`ns` holds process 0's pid namespace, mount namespace and root, opened by the parent); once
 * process 0 has ended (its namespaces are gone) an exec runs in the agent's, over the same rootfs.
 */
struct nsjoin { int pid, mnt, root, user; }; /* user: -1 when process 0 is in the agent's user namespace */

static void child_namespaces(int st, const struct nsjoin *ns)
{
    if (!ns) { /* process 0: already PID 1 of its namespace (the parent unshared it) */
        struct statfs fs;
        if (unshare(CLONE_NEWNS) < 0) child_fail(st, "mount namespace");
        /* the agent's mounts are private, so nothing made here leaks back, nor the reverse */
        if (statfs("/proc", &fs) == 0 && fs.f_type == PROC_MAGIC
            && mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            child_fail(st, "proc of the pid namespace");
        return;
    }
    /* its user namespace first: the mount namespace is that namespace's */
    if (ns->user >= 0 && setns(ns->user, CLONE_NEWUSER) < 0) child_fail(st, "joining the user namespace");
    /* setns resets the root to the namespace's, the initramfs under the moved rootfs: process 0's root instead */
    if (setns(ns->mnt, CLONE_NEWNS) < 0) child_fail(st, "joining the mount namespace");
    if (fchdir(ns->root) < 0 || chroot(".") < 0) child_fail(st, "joining the container's root");
}

/* A mount's flags that a bind remount must keep (it sets them all at once). */
static unsigned long kept_flags(const char *path)
{
    struct statvfs v;
    if (statvfs(path, &v) < 0) return 0;
    return (v.f_flag & ST_NOSUID ? MS_NOSUID : 0) | (v.f_flag & ST_NODEV ? MS_NODEV : 0)
         | (v.f_flag & ST_NOEXEC ? MS_NOEXEC : 0) | (v.f_flag & ST_RDONLY ? MS_RDONLY : 0);
}

/*
 * Process 0, in its own mount namespace once its /proc is there (the masks on /proc must be on
 * that procfs): its terminal at /dev/console, maskedPaths (a directory under an empty read-only
 * tmpfs, anything else under /dev/null), readonlyPaths (read-only binds of themselves) and
 * root.readonly, as runc does them. A path that does not exist is skipped, as runc does.
 */
static void child_rootfs(int st, struct spec *s, const char *console)
{
    struct stat sb;
    if (console) {
        int fd = open("/dev/console", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) close(fd);
        if (mount(console, "/dev/console", NULL, MS_BIND, NULL) < 0) child_fail(st, "/dev/console");
    }
    for (int i = 0; i < s->nro; i++) {
        if (stat(s->ro[i], &sb) < 0 && errno == ENOENT) continue;
        if (mount(s->ro[i], s->ro[i], NULL, MS_BIND | MS_REC, NULL) < 0
            || mount(NULL, s->ro[i], NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | kept_flags(s->ro[i]), NULL) < 0)
            child_fail(st, s->ro[i]);
    }
    for (int i = 0; i < s->nmasked; i++) {
        if (stat(s->masked[i], &sb) < 0 && errno == ENOENT) continue;
        if (S_ISDIR(sb.st_mode) ? mount("tmpfs", s->masked[i], "tmpfs", MS_RDONLY, "size=0") < 0
                                : mount("/dev/null", s->masked[i], NULL, MS_BIND, NULL) < 0)
            child_fail(st, s->masked[i]);
    }
    if (s->rootro && mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | kept_flags("/"), NULL) < 0)
        child_fail(st, "root.readonly");
    /* last, as runc does it after pivot_root: on the container's / alone, never on the agent's mounts */
    if (s->propagation && mount(NULL, "/", NULL, s->propagation, NULL) < 0) child_fail(st, "rootfsPropagation");
}

static int capset3(uint64_t eff, uint64_t perm, uint64_t inh)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2] = {{eff, perm, inh}, {eff >> 32, perm >> 32, inh >> 32}};
    return syscall(SYS_capset, &h, d);
}

static uint64_t permitted_now(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) < 0) return 0;
    return d[0].permitted | (uint64_t)d[1].permitted << 32;
}

static void child_seccomp(int st, struct spec *s)
{
    if (s->seccomp && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, s->seccomp, 0, 0) < 0) child_fail(st, "seccomp");
}

/*
 * In the child: set everything up, say so on `st`, wait for start (EOF on `go`), then become
 * what the spec says, as runc's init does: the bounding set dropped while the child is still
 * root, the user taken with the capabilities kept (PR_SET_KEEPCAPS), and after start the
 * effective, permitted and inheritable sets, the ambient ones, noNewPrivileges and the seccomp
 * filter (before the capabilities go without noNewPrivileges, since installing it then needs
 * CAP_SYS_ADMIN; as late as possible with it), then exec. A failure after start is reported on
 * `st` too: START answers it.
 */
static void child(struct spec *s, int go, int st, int fds[3], int tty, const char *pts, const struct nsjoin *ns,
                  int first, int parent_done)
{
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    if (parent_done >= 0) { /* in a user namespace: its maps, rlimits and oom_score_adj are the agent's to set */
        char c;
        ssize_t n;
        while ((n = read(parent_done, &c, 1)) < 0 && errno == EINTR) {}
        if (n != 1) _exit(127);
        close(parent_done);
    }
    if (s->root) { /* a pod's container: a root and namespaces of its own, in the pod */
        char e[256];
        if (member_setup(s, e, sizeof e) < 0) {
            char msg[300];
            int n = snprintf(msg, sizeof msg, "E%s", e);
            if (write(st, msg, n) < 0) {}
            _exit(127);
        }
    } else {
        child_namespaces(st, ns);
    }
    if (s->cgroup) { /* a pod's container and its execs: its cgroup in the guest, so its limits hold */
        char path[96];
        snprintf(path, sizeof path, "%s/cgroup.procs", s->cgroup);
        int fd = openat(cgfd, path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) < 0) child_fail(st, "cgroup");
        close(fd);
        /* as crun gives a container its cgroup namespace: a pod's container sees its own cgroup (its
         * limits) at /sys/fs/cgroup, read-only; execs see it through the container's mounts */
        struct stat sb;
        if (s->root && unshare(CLONE_NEWCGROUP) == 0 && stat("/sys/fs/cgroup", &sb) == 0 && S_ISDIR(sb.st_mode)
            && mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL) < 0)
            child_fail(st, "/sys/fs/cgroup");
    }
    if (first || s->root) child_rootfs(st, s, tty ? pts : NULL);
    setsid();
    if (tty) {
        int t = open(pts, O_RDWR);
        if (t < 0 || ioctl(t, TIOCSCTTY, 0) < 0) child_fail(st, "tty");
        fds[0] = fds[1] = fds[2] = t;
    }
    for (int i = 0; i < 3; i++)
        if (dup2(fds[i], i) < 0) child_fail(st, "stdio");
    for (int i = 0; i < s->nrl && parent_done < 0; i++)
        if (setrlimit(s->rlres[i], &s->rl[i]) < 0) child_fail(st, "setrlimit");
    if (s->has_oom && parent_done < 0) {
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || dprintf(fd, "%d", s->oom) < 0) child_fail(st, "oomScoreAdj");
        close(fd);
    }
    if (chdir(s->cwd ? s->cwd : "/") < 0) child_fail(st, "cwd");
    if (s->caps)
        for (int c = 0; c < 64; c++)
            if (!(s->bounding >> c & 1) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
                child_fail(st, "capabilities: bounding set");
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) child_fail(st, "keepcaps");
    if (setgroups(s->ngids, s->gids) < 0 || setgid(s->gid) < 0) child_fail(st, "groups");
    if (setuid(s->uid) < 0) child_fail(st, "user");
    uint64_t perm = permitted_now(); /* a new uid clears the effective set: back, until start */
    if (capset3(perm, perm, 0) < 0) child_fail(st, "capabilities");
    char path[4096];
    if (s->argc == 0) { errno = EINVAL; child_fail(st, "no args"); }
    if (find_exec(s->argv[0], s->env, path, sizeof path) < 0) child_fail(st, s->argv[0]);
    if (write(st, "R", 1) < 0) _exit(127);
    char c;
    while (read(go, &c, 1) < 0 && errno == EINTR) {}
    if (!s->nnp) child_seccomp(st, s);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) child_fail(st, "keepcaps");
    if (s->caps) {
        if (capset3(s->effective, s->permitted, s->inheritable) < 0) child_fail(st, "capabilities");
        /* as runc: an ambient capability needs it permitted and inheritable; one that is not is left out */
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        for (int c = 0; c < 64; c++)
            if (s->ambient >> c & 1) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
    } else if (s->uid != 0 && capset3(0, 0, 0) < 0) {
        child_fail(st, "capabilities"); /* no capabilities given: what setuid alone leaves */
    }
    if (s->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_fail(st, "noNewPrivileges");
    if (s->nnp) child_seccomp(st, s);
    execve(path, s->argv, s->env);
    child_fail(st, s->argv[0]);
}

/* Write /proc/PID/FILE (the agent's /proc); 0, or -1 with errno set. */
static int proc_write(pid_t pid, const char *file, const char *text)
{
    char path[64];
    snprintf(path, sizeof path, "%d/%s", pid, file);
    int fd = openat(procfd, path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t len = strlen(text), n = write(fd, text, len);
    int e = errno;
    close(fd);
    errno = n == len ? 0 : n < 0 ? e : EIO;
    return n == len ? 0 : -1;
}

/*
 * What a process in a user namespace of its own cannot do for itself, done from the agent before
 * it goes on (runc's parent does the same): process 0's uid and gid maps (the agent may write any,
 * as root of the namespace above), and its rlimits and oom_score_adj, since raising a hard limit
 * or lowering the score needs the capability in the guest's root user namespace. NULL, or what failed.
 */
static const char *userns_setup(pid_t pid, const struct spec *s, int first)
{
    if (first && s->gidmap && proc_write(pid, "gid_map", s->gidmap) < 0) return "gidMappings";
    if (first && proc_write(pid, "uid_map", s->uidmap) < 0) return "uidMappings";
    for (int i = 0; i < s->nrl; i++)
        if (prlimit(pid, s->rlres[i], &s->rl[i], NULL) < 0) return "setrlimit";
    char oom[16];
    snprintf(oom, sizeof oom, "%d", s->oom);
    if (s->has_oom && proc_write(pid, "oom_score_adj", oom) < 0) return "oomScoreAdj";
    return NULL;
}

/* Whether the namespace open at fd is the agent's own of that kind (/proc/self/ns/KIND). */
static int own_namespace(int fd, const char *kind)
{
    char path[32];
    struct stat a, b;
    snprintf(path, sizeof path, "self/ns/%s", kind);
    return fstat(fd, &a) == 0 && fstatat(procfd, path, &b, 0) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* Fork process N's child, set up and waiting for proc_start. */
int proc_prepare(struct proc *p, struct spec *s, char *err, size_t errlen)
{
    int go[2] = {-1, -1}, st[2] = {-1, -1}, in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1}, ptm = -1;
    int done[2] = {-1, -1}; /* the agent's part is done (user namespaces only) */
    const char *what = NULL; /* what failed, for the error */
    char pts[64] = "";
    if (!getenv_in(s->env, "HOME")) {
        char home[512], *kv;
        home_of(s->uid, home, sizeof home);
        if (asprintf(&kv, "HOME=%s", home) > 0) {
            s->env = realloc(s->env, (s->envc + 2) * sizeof *s->env);
            s->env[s->envc++] = kv;
            s->env[s->envc] = NULL;
        }
    }
    if (pipe2(go, O_CLOEXEC) || pipe2(st, O_CLOEXEC)) goto fail;
    if (s->tty) {
        /* the container's own devpts, so that the process finds its terminal in /dev/pts */
        ptm = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
        if (ptm < 0) ptm = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
        if (ptm < 0 || unlockpt(ptm) || ptsname_r(ptm, pts, sizeof pts)) goto fail;
    } else if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(er, O_CLOEXEC)) {
        goto fail;
    }
    struct nsjoin join = {-1, -1, -1, -1}, *ns = NULL;
    int self = -1, why = 0;
    pid_t pid = -1;
    if (s->uidmap && (p->n != 0 || s->root)) {
        errno = EINVAL; /* a pod's containers share the sandbox's: not one of their own (docs/microvm.md) */
        what = "uidMappings";
        goto fail;
    }
    /* the pid namespace is chosen for the children of the agent: a new one (process 0) or
       process 0's (an exec); the agent's own is restored right after the fork */
    if ((self = openat(procfd, "self/ns/pid", O_RDONLY | O_CLOEXEC)) < 0) goto ns_fail;
    if (p->n == 0 && s->uidmap) {
        if (pipe2(done, O_CLOEXEC) < 0) goto ns_fail; /* the user namespace and the pid one, which it owns: clone */
    } else if (s->root && s->sharepid) {
        /* shareProcessNamespace: the pod's containers in process 0's (the pause's) PID namespace */
        struct proc *p0 = proc_find(0);
        char path[64];
        if (!p0 || p0->state >= P_EXITED) { errno = ESRCH; goto ns_fail; }
        snprintf(path, sizeof path, "%d/ns/pid", p0->pid);
        join.pid = openat(procfd, path, O_RDONLY | O_CLOEXEC);
        if (join.pid < 0 || setns(join.pid, CLONE_NEWPID) < 0) goto ns_fail;
    } else if (p->n == 0 || s->root) {
        if (unshare(CLONE_NEWPID) < 0) goto ns_fail;
    } else if (proc_find(s->join) && proc_find(s->join)->state < P_EXITED) {
        struct proc *p0 = proc_find(s->join); /* process 0, or the pod's container the exec is in */
        char path[64];
        ns = &join;
        snprintf(path, sizeof path, "%d/ns/pid", p0->pid);
        join.pid = openat(procfd, path, O_RDONLY | O_CLOEXEC);
        snprintf(path, sizeof path, "%d/ns/mnt", p0->pid);
        join.mnt = openat(procfd, path, O_RDONLY | O_CLOEXEC);
        snprintf(path, sizeof path, "%d/root", p0->pid);
        join.root = openat(procfd, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (join.pid < 0 || join.mnt < 0 || join.root < 0 || setns(join.pid, CLONE_NEWPID) < 0) goto ns_fail;
        snprintf(path, sizeof path, "%d/ns/user", p0->pid);
        if ((join.user = openat(procfd, path, O_RDONLY | O_CLOEXEC)) < 0) goto ns_fail;
        if (own_namespace(join.user, "user")) { close(join.user); join.user = -1; }
        else if (pipe2(done, O_CLOEXEC) < 0) goto ns_fail;
    }
    /* with CLONE_NEWUSER in the same call, the user namespace is made first and owns the pid one:
       process 0 may then mount its own /proc */
    pid = done[0] >= 0 && !ns ? (pid_t)syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, NULL)
                              : fork();
    if (pid == 0) {
        int fds[3] = {in[0], out[1], er[1]};
        /* the other processes' ends are not this one's: a prepared one's start pipe held open
           here would never read EOF (a pod has several containers prepared at once) */
        for (struct proc *q = procs; q; q = q->next) {
            int *theirs[] = {&q->start_w, &q->status_r, &q->in, &q->out, &q->err, &q->port};
            for (unsigned i = 0; i < sizeof theirs / sizeof *theirs; i++)
                if (*theirs[i] >= 0) close(*theirs[i]);
        }
        close(go[1]); /* or the start pipe never reads EOF */
        close(st[0]);
        if (done[1] >= 0) close(done[1]);
        child(s, go[0], st[1], fds, s->tty, pts, ns, p->n == 0, done[0]);
    }
    why = errno;
    if (setns(self, CLONE_NEWPID) < 0) logmsg("back to the agent's pid namespace: %m");
ns_fail:
    if (pid < 0 && !why) why = errno;
    if (self >= 0) close(self);
    if (join.pid >= 0) close(join.pid);
    if (join.mnt >= 0) close(join.mnt);
    if (join.root >= 0) close(join.root);
    if (join.user >= 0) close(join.user);
    if (pid < 0) { errno = why; goto fail; }
    if (done[0] >= 0) {
        close(done[0]);
        done[0] = -1;
        if ((what = userns_setup(pid, s, p->n == 0)) || write(done[1], "G", 1) != 1) {
            if (!what) what = "user namespace";
            why = errno;
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            errno = why;
            goto fail;
        }
        close(done[1]);
        done[1] = -1;
    }
    close(go[0]); close(st[1]);
    p->pid = pid;
    p->start_w = go[1];
    p->status_r = st[0];
    p->tty = s->tty;
    if (s->tty) {
        p->out = ptm;
        p->in = dup(ptm);
        fcntl(p->in, F_SETFD, FD_CLOEXEC);
    } else {
        close(in[0]); close(out[1]); close(er[1]);
        p->in = in[1]; p->out = out[0]; p->err = er[0];
        fcntl(p->in, F_SETFL, O_NONBLOCK);
        fcntl(p->out, F_SETFL, O_NONBLOCK);
        fcntl(p->err, F_SETFL, O_NONBLOCK);
    }
    char msg[256];
    ssize_t n;
    while ((n = read(p->status_r, msg, sizeof msg - 1)) < 0 && errno == EINTR) {}
    if (n == 1 && msg[0] == 'R') { p->state = P_PREPARED; return 0; }
    msg[n > 0 ? n : 0] = 0;
    snprintf(err, errlen, "%s", n > 1 ? msg + 1 : "process setup failed");
    waitpid(pid, NULL, 0);
    return -1;
fail:
    snprintf(err, errlen, "%s: %s", what ? what : "prepare", strerror(errno));
    int all[] = {go[0], go[1], st[0], st[1], in[0], in[1], out[0], out[1], er[0], er[1], ptm, done[0], done[1]};
    for (unsigned i = 0; i < sizeof all / sizeof *all; i++)
        if (all[i] >= 0) close(all[i]);
    return -1;
}

/* Let a prepared process exec; fails if the exec does. */
int proc_start(struct proc *p, char *err, size_t errlen)
{
    if (p->state != P_PREPARED) { snprintf(err, errlen, "process %d is not waiting for start", p->n); return -1; }
    xclose(&p->start_w);
    p->state = P_RUNNING;
    char msg[256];
    ssize_t n;
    while ((n = read(p->status_r, msg, sizeof msg - 1)) < 0 && errno == EINTR) {}
    xclose(&p->status_r);
    if (n <= 0) return 0; /* the status pipe closed on exec */
    msg[n] = 0;
    snprintf(err, errlen, "%s", msg + 1);
    return -1;
}

void proc_reaped(pid_t pid, int ws)
{
    for (struct proc *p = procs; p; p = p->next) {
        if (p->pid != pid || p->state >= P_EXITED) continue;
        p->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
        p->state = P_EXITED;
        p->exited_ms = now_ms();
        xclose(&p->start_w);
        xclose(&p->status_r);
    }
}

/* ---------------------------------------------------------------- stream frames */

static void frame(struct proc *p, char type, const void *data, uint32_t len)
{
    unsigned char h[5] = {type, len, len >> 8, len >> 16, len >> 24};
    buf_add(&p->obuf, h, 5);
    buf_add(&p->obuf, data, len);
}

void proc_flush(struct proc *p)
{
    while (p->connected && p->obuf.len) {
        ssize_t n = write(p->port, p->obuf.p, p->obuf.len);
        if (n > 0) { buf_drop(&p->obuf, n); continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN) p->connected = 0; /* ENODEV: unplugged */
        if (n < 0 && errno == EAGAIN && !port_connected(p->port)) p->connected = 0;
        break;
    }
}

/* Read what the process wrote on *fd into a frame; close *fd at EOF. */
static int pump(struct proc *p, int *fd, char type)
{
    char b[32768];
    ssize_t n = read(*fd, b, sizeof b);
    if (n > 0) frame(p, type, b, n);
    else if (n == 0 || (errno != EAGAIN && errno != EINTR)) xclose(fd); /* EIO: pty hung up */
    return n > 0;
}

static void write_stdin(struct proc *p)
{
    while (p->in >= 0 && p->inbuf.len) {
        ssize_t n = write(p->in, p->inbuf.p, p->inbuf.len);
        if (n > 0) buf_drop(&p->inbuf, n);
        else if (n < 0 && errno == EAGAIN) return;
        else if (!(n < 0 && errno == EINTR)) { xclose(&p->in); p->inbuf.len = 0; }
    }
}

static uint32_t le32(const unsigned char *b) { return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24; }

/* Frames from the relay: I (stdin), C (close stdin), K (signal), W (window size). */
static void handle_frames(struct proc *p)
{
    unsigned char *b = (unsigned char *)p->ibuf.p;
    size_t off = 0;
    while (p->ibuf.len - off >= 5 && !p->inbuf.len) {
        uint32_t len = le32(b + off + 1);
        if (p->ibuf.len - off - 5 < len) break;
        unsigned char *d = b + off + 5;
        switch (b[off]) {
        case 'I':
            if (p->in >= 0) { buf_add(&p->inbuf, d, len); write_stdin(p); }
            break;
        case 'C':
            if (!p->tty) xclose(&p->in); /* a terminal stays open */
            break;
        case 'K':
            if (len >= 4 && p->state < P_EXITED) kill(p->pid, (int)le32(d));
            break;
        case 'W':
            if (len >= 4 && p->tty && p->out >= 0) {
                struct winsize ws = {.ws_row = d[0] | d[1] << 8, .ws_col = d[2] | d[3] << 8};
                ioctl(p->out, TIOCSWINSZ, &ws);
            }
            break;
        default:
            logmsg("proc %d: unknown frame type 0x%02x", p->n, b[off]);
        }
        off += 5 + len;
    }
    buf_drop(&p->ibuf, off);
}

/* ---------------------------------------------------------------- the event loop's part */

int proc_pollset(struct proc *p, struct pollfd *pfd, int n)
{
    p->pi_port = p->pi_out = p->pi_err = p->pi_in = -1;
    if (!p->connected) return n; /* a disconnected port polls as readable forever; wait for SIGIO */
    pfd[n] = (struct pollfd){p->port, (p->inbuf.len ? 0 : POLLIN) | (p->obuf.len ? POLLOUT : 0), 0};
    p->pi_port = n++;
    if (p->obuf.len < OBUF_HIGH && p->state != P_PREPARED) {
        if (p->out >= 0) { pfd[n] = (struct pollfd){p->out, POLLIN, 0}; p->pi_out = n++; }
        if (p->err >= 0) { pfd[n] = (struct pollfd){p->err, POLLIN, 0}; p->pi_err = n++; }
    }
    if (p->in >= 0 && p->inbuf.len) { pfd[n] = (struct pollfd){p->in, POLLOUT, 0}; p->pi_in = n++; }
    return n;
}

void proc_io(struct proc *p, struct pollfd *pfd)
{
    if (p->pi_in >= 0 && pfd[p->pi_in].revents) write_stdin(p);
    if (p->pi_out >= 0 && pfd[p->pi_out].revents) pump(p, &p->out, 'O');
    if (p->pi_err >= 0 && pfd[p->pi_err].revents) pump(p, &p->err, 'E');
    if (p->pi_port >= 0) {
        short r = pfd[p->pi_port].revents;
        if (r & POLLIN) {
            char b[65536];
            ssize_t n = read(p->port, b, sizeof b);
            if (n > 0) buf_add(&p->ibuf, b, n);
            else if (n == 0) p->connected = 0; /* the relay went away; its input is dropped */
        }
        if ((r & POLLHUP) && !port_connected(p->port)) p->connected = 0;
    }
    if (!p->connected) p->ibuf.len = 0;
    if (p->inbuf.len == 0) handle_frames(p);
    proc_flush(p);
}

/* After exit, once the relay is connected: the last output, then X, then EXIT on the control port. */
int proc_step(struct proc *p)
{
    if (p->state != P_EXITED || !p->connected || p->obuf.len >= OBUF_HIGH) return 0;
    if ((p->out >= 0 || p->err >= 0) && now_ms() - p->exited_ms < LINGER_MS) return 0;
    for (int i = 0; i < 32 && p->out >= 0 && pump(p, &p->out, 'O'); i++) {} /* bounded: a */
    for (int i = 0; i < 32 && p->err >= 0 && pump(p, &p->err, 'E'); i++) {} /* child may go on */
    xclose(&p->out); xclose(&p->err); xclose(&p->in);
    unsigned char x[4] = {p->status, p->status >> 8, p->status >> 16, p->status >> 24};
    frame(p, 'X', x, 4);
    p->state = P_DONE;
    proc_flush(p);
    ctl_exit(p);
    return 1;
}
