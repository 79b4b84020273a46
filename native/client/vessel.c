/*
 * vessel: the native client of the Vessel runtime.
 *
 * It hands its argv, environment and working directory to the vesseld daemon over a Unix
 * socket (starting the daemon on first use) and then does what the daemon answers: print and
 * exit, exec a program (crun with a rewritten bundle), or run one as its child and report the
 * status. The protocol is described in vessel-daemon's Protocol.java.
 *
 * Exec'ing, rather than asking the daemon to start containers, keeps every container process a
 * descendant of whoever called vessel (conmon, containerd-shim), which reap it and read its status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "relay.h"

#define DEFAULT_SOCKET "/run/vessel/vesseld.sock"
#define DEFAULT_LOG "/var/log/vessel/vesseld.log"
/* The installed layout's $PREFIX/lib/vessel, set by the build (native/Makefile) */
#ifndef VESSEL_LIBDIR
#define VESSEL_LIBDIR "/usr/local/lib/vessel"
#endif
#define MAGIC 0x334c5356u /* "VSL3" */
#define MAGIC_V2 0x324c5356u /* the previous version's, for "daemon stop" of its daemon */
#define START_TIMEOUT_MS 30000

extern char **environ;

__attribute__((noreturn, format(printf, 1, 2)))
static void die(const char *fmt, ...)
{
    va_list ap;
    fputs("vessel: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* ---- a growable byte buffer for the request ---- */

struct buf { char *data; size_t len, cap; };

static void put(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 256;
        b->data = realloc(b->data, b->cap);
        if (!b->data)
            die("out of memory");
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_u32(struct buf *b, uint32_t v)
{
    unsigned char le[4] = { v, v >> 8, v >> 16, v >> 24 };
    put(b, le, 4);
}

static void put_str(struct buf *b, const char *s)
{
    size_t n = strlen(s);
    put_u32(b, (uint32_t)n);
    put(b, s, n);
}

static void put_list(struct buf *b, char *const *list, int count)
{
    put_u32(b, (uint32_t)count);
    for (int i = 0; i < count; i++)
        put_str(b, list[i]);
}

/* ---- socket I/O ---- */

static int read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

static uint32_t get_u32(const unsigned char **p, const unsigned char *end)
{
    if (end - *p < 4)
        die("malformed reply from vesseld");
    uint32_t v = (*p)[0] | (*p)[1] << 8 | (*p)[2] << 16 | (uint32_t)(*p)[3] << 24;
    *p += 4;
    return v;
}

/* A NUL-terminated copy of the next string in a payload. */
static char *get_str(const unsigned char **p, const unsigned char *end, size_t *len_out)
{
    uint32_t n = get_u32(p, end);
    if ((size_t)(end - *p) < n)
        die("malformed reply from vesseld");
    char *s = malloc(n + 1);
    if (!s)
        die("out of memory");
    memcpy(s, *p, n);
    s[n] = '\0';
    *p += n;
    if (len_out)
        *len_out = n;
    return s;
}

static int connect_to(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(addr.sun_path))
        die("socket path %s is too long", path);
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
        return fd;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

/* ---- starting the daemon ---- */

static void mkdir_parents(char *dir)
{
    for (char *s = dir + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(dir, 0755);
            *s = '/';
        }
    }
    mkdir(dir, 0755);
}

/* True for a line another Vessel process wrote to a shared log: a keeper's, or a daemon's but not pid's. */
static int from_another_process(const char *line, pid_t pid)
{
    if (strncmp(line, "vessel-keeper[", 14) == 0)
        return 1;
    const char *tag = strstr(line, " vesseld[");
    char own[32];
    snprintf(own, sizeof(own), " vesseld[%d]: ", (int)pid);
    return tag && strncmp(tag, own, strlen(own)) != 0;
}

/* The last non-empty line that daemon `pid` (or its launcher, or its JVM) wrote to the log from
 * offset `from` on: the log is shared, and a keeper or another daemon may write to it meanwhile. */
static void last_line(const char *path, off_t from, pid_t pid, char *out, size_t size)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (from > 0 && fseeko(f, from, SEEK_SET) != 0) {
        fclose(f);
        return;
    }
    char line[1024];
    while (fgets(line, sizeof(line), f))
        if (line[0] != '\n' && !from_another_process(line, pid))
            snprintf(out, size, "%s", line);
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The daemon's launcher (vesseld, a shell script beside its jars). In order: $VESSEL_DAEMON when set;
 * vesseld beside this executable (symlinks resolved: an installed $PREFIX/bin/vessel is a link into
 * $PREFIX/lib/vessel/bin); ../lib/vessel/bin/vesseld from this executable's directory (a client
 * copied into some $PREFIX/bin); the one under the prefix this client was built for. */
static void find_launcher(char *out, size_t size)
{
    const char *env = getenv("VESSEL_DAEMON");
    if (env && *env) {
        if (access(env, X_OK) != 0)
            die("cannot start vesseld: %s (VESSEL_DAEMON): %s", env, strerror(errno));
        snprintf(out, size, "%s", env);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n < 0)
        die("cannot start vesseld: readlink /proc/self/exe: %s", strerror(errno));
    self[n] = '\0';
    const char *dir = dirname(self);
    char candidates[3][PATH_MAX];
    snprintf(candidates[0], PATH_MAX, "%s/vesseld", dir);
    snprintf(candidates[1], PATH_MAX, "%s/../lib/vessel/bin/vesseld", dir);
    snprintf(candidates[2], PATH_MAX, "%s/bin/vesseld", VESSEL_LIBDIR);
    for (int i = 0; i < 3; i++) {
        if (access(candidates[i], X_OK) == 0) {
            if (!realpath(candidates[i], out))
                snprintf(out, size, "%s", candidates[i]);
            return;
        }
    }
    die("cannot start vesseld: none of %s, %s, %s exists (set VESSEL_DAEMON to its path)",
        candidates[0], candidates[1], candidates[2]);
}

/* Where a daemon this client starts writes its output: $VESSEL_LOG, else DEFAULT_LOG. */
static const char *log_path(void)
{
    const char *env = getenv("VESSEL_LOG");
    return env && *env ? env : DEFAULT_LOG;
}

/* Starts vesseld detached from us (its own session, stdio to its log) and waits for its socket. */
static int start_daemon(const char *sock)
{
    char launcher[PATH_MAX], log[PATH_MAX], dir[PATH_MAX];
    find_launcher(launcher, sizeof(launcher));
    snprintf(log, sizeof(log), "%s", log_path());
    char log_copy[PATH_MAX];
    snprintf(log_copy, sizeof(log_copy), "%s", log);
    snprintf(dir, sizeof(dir), "%s", dirname(log_copy));
    mkdir_parents(dir);
    int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (out < 0)
        die("cannot start vesseld: its log %s: %s (VESSEL_LOG chooses another)", log, strerror(errno));
    /* the log is appended to: only what this daemon writes explains why it failed */
    off_t log_start = lseek(out, 0, SEEK_END);

    int pidpipe[2];
    if (pipe2(pidpipe, O_CLOEXEC) != 0)
        die("cannot start vesseld: pipe: %s", strerror(errno));
    pid_t child = fork();
    if (child < 0)
        die("cannot start vesseld: fork: %s", strerror(errno));
    if (child == 0) {
        /* Double fork and a new session: the daemon must not be our caller's child or in its session. */
        setsid();
        pid_t daemon = fork();
        if (daemon != 0) {
            write_all(pidpipe[1], &daemon, sizeof(daemon));
            _exit(daemon < 0);
        }
        int null = open("/dev/null", O_RDONLY);
        if (null < 0)
            _exit(126);
        dup2(null, 0);
        dup2(out, 1);
        dup2(out, 2);
        closefrom(3);
        setenv("VESSEL_SOCKET", sock, 1);
        /* The daemon hands its log to the keeper it starts. A caller's systemd identity is not the
         * daemon's: with INVOCATION_ID it would take itself for a systemd unit and stay in the
         * caller's cgroup (Vesseld.java). */
        setenv("VESSEL_LOG", log, 1);
        unsetenv("INVOCATION_ID");
        unsetenv("JOURNAL_STREAM");
        execl(launcher, "vesseld", (char *)NULL);
        _exit(127);
    }
    close(pidpipe[1]);
    close(out);
    pid_t daemon = -1;
    read_all(pidpipe[0], &daemon, sizeof(daemon));
    close(pidpipe[0]);
    waitpid(child, NULL, 0);

    for (int waited = 0; waited < START_TIMEOUT_MS; waited += 10) {
        int fd = connect_to(sock);
        if (fd >= 0)
            return fd;
        /* Another client may have started a daemon at the same time: ours then exits, theirs serves. */
        if (daemon > 0 && kill(daemon, 0) != 0 && errno == ESRCH && waited > 2000) {
            char why[512];
            last_line(log, log_start, daemon, why, sizeof(why));
            die("vesseld failed to start: %s (log: %s)", why[0] ? why : "no output", log);
        }
        sleep_ms(10);
    }
    die("vesseld did not answer on %s within %d s (log: %s)", sock, START_TIMEOUT_MS / 1000, log);
    return -1;
}

/* ---- running what the daemon answers ---- */

struct program { char **argv; char **env; };

/* Decodes an R or S payload; files become memfds, named in argv as /proc/self/fd/N. */
static struct program decode_program(const unsigned char *p, const unsigned char *end)
{
    struct program prog;
    uint32_t argc = get_u32(&p, end);
    prog.argv = calloc(argc + 1, sizeof(char *));
    for (uint32_t i = 0; i < argc; i++)
        prog.argv[i] = get_str(&p, end, NULL);
    uint32_t envc = get_u32(&p, end);
    prog.env = calloc(envc + 1, sizeof(char *));
    for (uint32_t i = 0; i < envc; i++)
        prog.env[i] = get_str(&p, end, NULL);
    uint32_t files = get_u32(&p, end);
    for (uint32_t f = 0; f < files; f++) {
        size_t len;
        char *content = get_str(&p, end, &len);
        int fd = memfd_create("vessel-file", 0);
        if (fd < 0 || write_all(fd, content, len) != 0 || lseek(fd, 0, SEEK_SET) != 0)
            die("memfd: %s", strerror(errno));
        free(content);
        char token[32], path[64];
        snprintf(token, sizeof(token), "@file:%u", f);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        for (uint32_t i = 0; i < argc; i++)
            if (strcmp(prog.argv[i], token) == 0)
                prog.argv[i] = strdup(path);
    }
    if (argc == 0)
        die("malformed reply from vesseld: empty argv");
    return prog;
}

static int run_child(struct program *prog)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        execve(prog->argv[0], prog->argv, prog->env);
        fprintf(stderr, "vessel: cannot run %s: %s\n", prog->argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die("waitpid: %s", strerror(errno));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * 'C': runs the program as our child with its stdout captured (stderr stays ours), and returns
 * its status; *out gets what it printed (for the daemon to read, e.g. the low-level runtime's
 * state, which it then shows in Vessel's own shape).
 */
static int run_captured(struct program *prog, struct buf *out)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        die("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(pipefd[1], 1);
        execve(prog->argv[0], prog->argv, prog->env);
        fprintf(stderr, "vessel: cannot run %s: %s\n", prog->argv[0], strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    char chunk[16384];
    for (ssize_t n; (n = read(pipefd[0], chunk, sizeof(chunk))) != 0;) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (out->len + (size_t)n <= (16u << 20)) /* a runtime's state is small; more is dropped */
            put(out, chunk, (size_t)n);
    }
    close(pipefd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die("waitpid: %s", strerror(errno));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void write_pid_file(const char *path, pid_t pid)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d", pid) < 0 || fclose(f) != 0 || rename(tmp, path) != 0)
        die("cannot write pid file %s: %s", path, strerror(errno));
}

/*
 * The request for argv (without argv[0]), with this process's environment, cwd and pid, and which
 * attempt it is: a call whose daemon died after accepting it is sent again (see main), and the
 * next daemon, told so, finishes what the first may have begun instead of refusing it.
 */
static struct buf make_request(char *const *args, int count, uint32_t attempt)
{
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        snprintf(cwd, sizeof(cwd), "/");
    int envc = 0;
    while (environ[envc])
        envc++;
    struct buf req = { 0 };
    put_u32(&req, MAGIC);
    put_list(&req, args, count);
    put_list(&req, environ, envc);
    put_str(&req, cwd);
    /* the golden-bytes test (ProtocolTest) dumps a request: its pid is fixed there */
    put_u32(&req, getenv("VESSEL_DUMP_REQUEST") ? 1u : (uint32_t)getpid());
    put_u32(&req, attempt);
    return req;
}

static int is_cmd(int argc, char **argv, const char *a, const char *b)
{
    return argc >= 3 && strcmp(argv[1], a) == 0 && strcmp(argv[2], b) == 0;
}

static int saved_argc;
static char **saved_argv;

/*
 * "daemon stop" of a daemon of the previous protocol version (it drops our calls: another magic):
 * the same request with its magic, which it answers (the request's layout is the same since v2),
 * its output printed. Returns whether it said it stopped.
 */
static int stop_previous_version(const char *sock, const struct buf *req)
{
    int fd = connect_to(sock);
    if (fd < 0)
        return 0;
    struct buf old = { 0 };
    put(&old, req->data, req->len);
    unsigned char le[4] = { MAGIC_V2 & 0xff, MAGIC_V2 >> 8 & 0xff, MAGIC_V2 >> 16 & 0xff, MAGIC_V2 >> 24 };
    memcpy(old.data, le, 4);
    int stopped = 0;
    unsigned char header[5];
    if (write_all(fd, old.data, old.len) == 0 && read_all(fd, header, sizeof(header)) == 0 && header[0] == 'A') {
        while (read_all(fd, header, sizeof(header)) == 0) {
            const unsigned char *h = header + 1;
            uint32_t len = get_u32(&h, header + 5);
            char *payload = malloc(len ? len : 1);
            if (!payload || read_all(fd, payload, len) != 0) { free(payload); break; }
            if (header[0] == 'O') fwrite(payload, 1, len, stdout);
            free(payload);
            if (header[0] == 'X') { stopped = 1; break; }
        }
    }
    free(old.data);
    close(fd);
    return stopped;
}

/* For "daemon stop" of a daemon of an older build, which drops our calls unanswered: SIGTERM by its pid. */
static int stop_other_version(int fd)
{
    if (!is_cmd(saved_argc, saved_argv, "daemon", "stop"))
        return 0;
    struct ucred peer;
    socklen_t len = sizeof(peer);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 || peer.pid <= 0)
        return 0;
    if (kill(peer.pid, SIGTERM) != 0)
        return 0;
    for (int i = 0; i < 500 && kill(peer.pid, 0) == 0; i++)
        sleep_ms(10);
    printf("vesseld %d (another version) stopped\n", (int)peer.pid);
    return 1;
}

/*
 * Sends the request and waits for the daemon's 'A' (accepted) frame, starting the daemon when
 * none answers. A request is sent again only while no daemon has accepted it: one that a daemon
 * accepted may have half run, so losing the connection after that is an error, not a retry.
 * Returns the connection, or -1 for "daemon stop|status" when no daemon runs (nothing to ask).
 */
static int deliver(const char *sock, const struct buf *req, int start)
{
    for (int attempt = 0;; attempt++) {
        int fd = connect_to(sock);
        if (fd < 0) {
            if (!start)
                return -1;
            fd = start_daemon(sock);
        }
        unsigned char header[5];
        int sent = write_all(fd, req->data, req->len) == 0;
        /* a connection waiting in the backlog of a socket the keeper holds is accepted once the
         * daemon the keeper starts is up: wait as long as a daemon may take to start */
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int ready;
        while ((ready = poll(&pfd, 1, START_TIMEOUT_MS)) < 0 && errno == EINTR)
            ;
        if (sent && ready == 0)
            die("vesseld on %s did not accept the call within %d s", sock, START_TIMEOUT_MS / 1000);
        if (sent && read_all(fd, header, sizeof(header)) == 0) {
            if (header[0] != 'A' || header[1] | header[2] | header[3] | header[4])
                die("unexpected first reply '%c' from vesseld on %s", header[0], sock);
            return fd;
        }
        /* A daemon killed a moment ago can still accept the connection and then drop it
         * unread; it did nothing for it, so the call goes to the next daemon. One that drops
         * every call speaks another version of the protocol: "daemon stop" stops it anyway. */
        if (attempt == 2 && is_cmd(saved_argc, saved_argv, "daemon", "stop") && stop_previous_version(sock, req))
            exit(0);
        if (attempt == 2 && stop_other_version(fd))
            exit(0);
        close(fd);
        if (attempt == 2)
            die("vesseld on %s closed the connection before accepting the call", sock);
        sleep_ms(100);
    }
}

/* Sends a follow-up request (see 'V') and prints what it answers; returns its exit status. */
static int follow_up(const char *sock, char **args, int count)
{
    struct buf req = make_request(args, count, 0);
    int fd = deliver(sock, &req, 1);
    for (;;) {
        unsigned char header[5];
        if (read_all(fd, header, sizeof(header)) != 0)
            return 255;
        const unsigned char *h = header + 1;
        uint32_t len = get_u32(&h, header + 5);
        unsigned char *payload = malloc(len ? len : 1);
        if (!payload || read_all(fd, payload, len) != 0)
            return 255;
        const unsigned char *p = payload;
        if (header[0] == 'E')
            write_all(2, payload, len);
        else if (header[0] == 'X')
            return (int)get_u32(&p, payload + len);
        free(payload);
    }
}

/*
 * 'V': become (or fork) the relay of a process in a microVM. Detached, the relay is a child that
 * outlives us (the engine, as subreaper, adopts it); attached, this process is the relay and
 * exits with the process's status. Either way the relay's pid goes to the pid file and back to
 * the daemon. The payload ends with a request (argv) that an attached relay sends to the daemon
 * once the process has exited (a foreground run's removal), so that it is done even if the
 * daemon that started the relay is gone by then.
 */
static struct relay attached;
static char **attached_after;
static int attached_after_count;

static void relay_reply(int daemon_fd, const unsigned char *p, const unsigned char *end)
{
    struct relay r = { 0 };
    r.port_path = get_str(&p, end, NULL);
    char *pid_file = get_str(&p, end, NULL);
    r.console_socket = get_str(&p, end, NULL);
    uint32_t flags = get_u32(&p, end);
    uint32_t after_count = get_u32(&p, end);
    char **after = calloc(after_count + 1, sizeof(char *));
    if (!after)
        die("out of memory");
    for (uint32_t i = 0; i < after_count; i++)
        after[i] = get_str(&p, end, NULL);
    r.tty = flags & 1;
    if (relay_prepare(&r) != 0)
        die("cannot set up the terminal for %s: %s", r.port_path, strerror(errno));
    pid_t pid = (flags & 2) ? fork() : getpid();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        /* Keep nothing of the caller's but the stdio (or terminal) we relay: an engine that
         * waits for EOF on a pipe it passed us must not wait for as long as the relay lives. */
        int keep = r.tty ? r.in : 2;
        if (keep > 3)
            close_range(3, keep - 1, 0);
        close_range(keep + 1, ~0U, 0);
        if (r.tty) {
            /* Our stdio is the caller's, unused with a terminal: holding it would keep a caller
             * that waits for EOF on it (containerd's shim does) waiting for as long as we live. */
            int null = open("/dev/null", O_RDWR);
            for (int fd = 0; fd < 3 && null >= 0; fd++)
                if (fd != r.in)
                    dup2(null, fd);
            if (null > 2)
                close(null);
        }
        exit(relay_run(&r));
    }
    if (*pid_file)
        write_pid_file(pid_file, pid);
    uint32_t v = (uint32_t)pid;
    unsigned char le[4] = { v, v >> 8, v >> 16, v >> 24 };
    if (write_all(daemon_fd, le, 4) != 0)
        die("vesseld went away while the relay started");
    if (flags & 2)
        return;
    /* attached: the daemon records our pid and starts the process, then says 'G' */
    attached = r;
    attached_after = after;
    attached_after_count = (int)after_count;
}

/* 'G' after an attached 'V': be the relay, then send its follow-up request. */
__attribute__((noreturn))
static void relay_go(const char *sock, int daemon_fd)
{
    if (!attached.port_path)
        die("malformed reply from vesseld ('G' without 'V')");
    close(daemon_fd);
    int status = relay_run(&attached);
    if (attached_after_count)
        follow_up(sock, attached_after, attached_after_count);
    exit(status);
}

/*
 * 'M': hold a VM (`vessel vmm`). vesseld serves the VM's API; we stay in the caller's process
 * tree, network namespace, working directory and terminal, and start its QEMU ('Q') as our child,
 * as Firecracker's VMM is the caller's process. From here one poll loop: the daemon's frames
 * ('Q' start the child, 'K' signal it, 'O'/'E' output, 'X' exit), our signals (SIGTERM, SIGINT,
 * SIGHUP, SIGQUIT go on to the child, as they would end Firecracker), and the child's stderr,
 * copied to ours and to the daemon (which reads QEMU's error line from it). Messages to the
 * daemon: 'p' pid, 'e' stderr bytes, 'w' exit status. If the daemon goes away (kill -9), the
 * API it served is gone: we remove its sockets (the payload's paths) and wait for the guest.
 */
static char **held_paths;
static uint32_t held_count;

static void remove_held(void)
{
    for (uint32_t i = 0; i < held_count; i++)
        unlink(held_paths[i]);
}

static void send_message(int *daemon_fd, char type, const void *payload, uint32_t len)
{
    if (*daemon_fd < 0)
        return;
    unsigned char header[5] = { (unsigned char)type, len, len >> 8, len >> 16, len >> 24 };
    if (write_all(*daemon_fd, header, 5) != 0 || (len && write_all(*daemon_fd, payload, len) != 0)) {
        close(*daemon_fd); /* gone: the next read says so too */
        *daemon_fd = -1;
    }
}

static void send_u32(int *daemon_fd, char type, uint32_t v)
{
    unsigned char le[4] = { v, v >> 8, v >> 16, v >> 24 };
    send_message(daemon_fd, type, le, 4);
}

static pid_t start_child(const unsigned char *p, const unsigned char *end, const sigset_t *blocked, int *err_out)
{
    uint32_t argc = get_u32(&p, end);
    char **argv = calloc(argc + 1, sizeof(char *));
    for (uint32_t i = 0; i < argc; i++)
        argv[i] = get_str(&p, end, NULL);
    uint32_t envc = get_u32(&p, end);
    char **env = calloc(envc + 1, sizeof(char *));
    for (uint32_t i = 0; i < envc; i++)
        env[i] = get_str(&p, end, NULL);
    if (argc == 0)
        die("malformed reply from vesseld: empty argv");
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        die("pipe: %s", strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        /* ends with us, even on our SIGKILL; SIGTERM lets QEMU restore the terminal it made raw */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(128 + SIGTERM);
        signal(SIGPIPE, SIG_DFL);
        sigprocmask(SIG_UNBLOCK, blocked, NULL);
        dup2(pipefd[1], 2);
        execve(argv[0], argv, env);
        fprintf(stderr, "vessel: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
    *err_out = pipefd[0];
    for (uint32_t i = 0; i < argc; i++)
        free(argv[i]);
    for (uint32_t i = 0; i < envc; i++)
        free(env[i]);
    free(argv);
    free(env);
    return pid;
}

/* Copies what the child wrote to stderr to ours and to the daemon; -1 at its end. */
static int drain_stderr(int err, int *daemon_fd)
{
    char chunk[4096];
    for (;;) {
        ssize_t n = read(err, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0)
            return -1;
        write_all(2, chunk, (size_t)n);
        send_message(daemon_fd, 'e', chunk, (uint32_t)n);
    }
}

__attribute__((noreturn))
static void vmm_hold(int daemon_fd, const unsigned char *p, const unsigned char *end)
{
    held_count = get_u32(&p, end);
    held_paths = calloc(held_count + 1, sizeof(char *));
    for (uint32_t i = 0; i < held_count; i++)
        held_paths[i] = get_str(&p, end, NULL);
    sigset_t mask;
    sigemptyset(&mask);
    int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT };
    for (size_t i = 0; i < sizeof(forwarded) / sizeof(*forwarded); i++)
        sigaddset(&mask, forwarded[i]);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sfd < 0)
        die("signalfd: %s", strerror(errno));
    pid_t child = 0;
    int child_err = -1, child_status = -1; /* the last child's, once it has ended */
    for (;;) {
        struct pollfd fds[3] = { { .fd = daemon_fd, .events = POLLIN }, { .fd = sfd, .events = POLLIN },
                                 { .fd = child_err, .events = POLLIN } };
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll: %s", strerror(errno));
        }
        if (child_err >= 0 && fds[2].revents && drain_stderr(child_err, &daemon_fd) < 0) {
            close(child_err);
            child_err = -1;
        }
        if (fds[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo != SIGCHLD) {
                    if (child > 0)
                        kill(child, (int)si.ssi_signo);
                    else { /* no guest yet: the VM ends here, as Firecracker's process would */
                        remove_held();
                        exit(128 + (int)si.ssi_signo);
                    }
                }
            }
            int status;
            if (child > 0 && waitpid(child, &status, WNOHANG) == child) {
                if (child_err >= 0) { /* its last words first: they may say why it ended */
                    drain_stderr(child_err, &daemon_fd);
                    close(child_err);
                    child_err = -1;
                }
                child = 0;
                child_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                send_u32(&daemon_fd, 'w', (uint32_t)child_status);
                if (daemon_fd < 0) {
                    remove_held();
                    exit(child_status);
                }
            }
        }
        if (daemon_fd >= 0 && fds[0].revents) {
            unsigned char header[5];
            unsigned char *payload = NULL;
            uint32_t len = 0;
            int ok = read_all(daemon_fd, header, 5) == 0;
            if (ok) {
                const unsigned char *h = header + 1;
                len = get_u32(&h, header + 5);
                payload = malloc(len ? len : 1);
                ok = payload && read_all(daemon_fd, payload, len) == 0;
            }
            if (!ok) {
                /* the daemon went away (kill -9): its API is gone with it; the guest is ours and runs on */
                free(payload);
                close(daemon_fd);
                daemon_fd = -1;
                remove_held();
                if (child <= 0) { /* no guest now: QEMU's status if it has run, else a failure */
                    if (child_status < 0)
                        fprintf(stderr, "vessel vmm: vesseld went away before the guest started\n");
                    exit(child_status >= 0 ? child_status : 1);
                }
                fprintf(stderr, "vessel vmm: vesseld went away: the API socket is gone, the guest runs on\n");
                continue;
            }
            const unsigned char *q = payload, *e = payload + len;
            switch (header[0]) {
            case 'O':
                write_all(1, payload, len);
                break;
            case 'E':
                write_all(2, payload, len);
                break;
            case 'Q':
                if (child > 0)
                    die("malformed reply from vesseld (a second child)");
                child = start_child(payload, e, &mask, &child_err);
                send_u32(&daemon_fd, 'p', (uint32_t)child);
                break;
            case 'K': {
                uint32_t sig = get_u32(&q, e);
                if (child > 0)
                    kill(child, (int)sig);
                break;
            }
            case 'X': {
                uint32_t status = get_u32(&q, e);
                if (child > 0) /* the daemon is done with a guest that runs: it ends with us */
                    kill(child, SIGTERM);
                exit((int)status);
            }
            default:
                die("unknown reply '%c' from vesseld", header[0]);
            }
            free(payload);
        }
    }
}

int main(int argc, char **argv)
{
    const char *sock = getenv("VESSEL_SOCKET");
    if (!sock || !*sock)
        sock = DEFAULT_SOCKET;

    saved_argc = argc;
    saved_argv = argv;
    /* Called as vessel-microvm (a link), microVMs are the default: as if --isolation=microvm came
     * first, where runc's global options go. Engines without annotations (Docker) pick it by path. */
    char **args = argv + 1;
    int count = argc - 1;
    const char *name = strrchr(argv[0], '/');
    if (strcmp(name ? name + 1 : argv[0], "vessel-microvm") == 0) {
        args = calloc(argc + 1, sizeof(char *));
        if (!args)
            die("out of memory");
        args[0] = "--isolation=microvm";
        memcpy(args + 1, argv + 1, (argc - 1) * sizeof(char *));
        count = argc;
    }
    struct buf req = make_request(args, count, 0);
    const char *dump = getenv("VESSEL_DUMP_REQUEST");
    if (dump) { /* for the protocol's golden-bytes test: the request as it would be sent */
        int out = open(dump, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (out < 0 || write_all(out, req.data, req.len) != 0)
            die("cannot write %s: %s", dump, strerror(errno));
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Asking a daemon that is not running to stop or report must not start one. */
    int query = is_cmd(argc, argv, "daemon", "stop") || is_cmd(argc, argv, "daemon", "status");
    int fd = deliver(sock, &req, !query);
    if (fd < 0) {
        fprintf(stderr, "vesseld is not running\n");
        return is_cmd(argc, argv, "daemon", "stop") ? 0 : 3;
    }

    for (uint32_t attempt = 0, frames = 0;; frames++) {
        unsigned char header[5];
        if (read_all(fd, header, sizeof(header)) != 0) {
        lost:
            /* The daemon died with our call accepted and nothing answered (kill -9, say): the
             * next one is asked again, told that this is a retry. Once anything was answered
             * (output printed, a program run) the call is not repeated. */
            if (frames > 0 || attempt == 2)
                die("vesseld closed the connection before answering");
            close(fd);
            free(req.data);
            req = make_request(args, count, ++attempt);
            fd = deliver(sock, &req, 1);
            frames = (uint32_t)-1; /* the loop's frames++ makes it 0 */
            continue;
        }
        const unsigned char *h = header + 1;
        uint32_t len = get_u32(&h, header + 5);
        unsigned char *payload = malloc(len ? len : 1);
        if (!payload)
            die("out of memory");
        if (read_all(fd, payload, len) != 0) {
            /* a frame cut short by the daemon's death was not acted on: like no frame at all */
            free(payload);
            goto lost;
        }
        const unsigned char *end = payload + len;
        switch (header[0]) {
        case 'O':
            write_all(1, payload, len);
            break;
        case 'E':
            write_all(2, payload, len);
            break;
        case 'X': {
            const unsigned char *p = payload;
            return (int)get_u32(&p, end);
        }
        case 'R': {
            struct program prog = decode_program(payload, end);
            close(fd);
            execve(prog.argv[0], prog.argv, prog.env);
            die("cannot run %s: %s", prog.argv[0], strerror(errno));
        }
        case 'S': {
            struct program prog = decode_program(payload, end);
            uint32_t status = (uint32_t)run_child(&prog);
            unsigned char le[4] = { status, status >> 8, status >> 16, status >> 24 };
            /* a daemon gone meanwhile cannot follow up; the program's own status still stands */
            if (write_all(fd, le, 4) != 0)
                return (int)status;
            break;
        }
        case 'C': {
            struct program prog = decode_program(payload, end);
            struct buf out = { 0 };
            int status = run_captured(&prog, &out);
            struct buf answer = { 0 };
            put_u32(&answer, (uint32_t)status);
            put_u32(&answer, (uint32_t)out.len);
            put(&answer, out.data ? out.data : "", out.len);
            int sent = write_all(fd, answer.data, answer.len) == 0;
            free(out.data);
            free(answer.data);
            /* What a 'C' runs only reads (the runtime's state) and nothing of it was shown: the
             * call has not been answered yet, so a daemon lost from here is asked again. */
            if (!sent) {
                frames = 0;
                goto lost;
            }
            frames = (uint32_t)-1; /* the loop's frames++ makes it 0 */
            break;
        }
        case 'V':
            relay_reply(fd, payload, end);
            break;
        case 'G':
            relay_go(sock, fd);
        case 'M':
            vmm_hold(fd, payload, end);
        default:
            die("unknown reply '%c' from vesseld", header[0]);
        }
        free(payload);
    }
}
