/*
 * vessel-keeper: holds file descriptors for vesseld so that they outlive it.
 *
 * The daemon's FUSE connection and each container's seccomp notify fd must stay open when the
 * daemon is killed or upgraded: a closed FUSE fd breaks every container's /proc view ("Transport
 * endpoint is not connected") and a closed notify fd makes the trapped system calls fail with
 * ENOSYS. The keeper holds a copy of each; a restarted daemon takes them back.
 *
 * While no daemon is attached it does the least that keeps containers healthy: trapped system
 * calls run for real (SECCOMP_USER_NOTIF_FLAG_CONTINUE), and a pending FUSE request starts a daemon.
 *
 * Usage: vessel-keeper SOCKET LAUNCHER. One daemon connection at a time, over SOCK_SEQPACKET:
 *   daemon -> keeper:  "PUT name" with one fd attached | "DEL name" | "GET" | "HELLO"
 *   keeper -> daemon:  for GET, "FD name" with the fd, for each one held, then "END";
 *                      for HELLO, "HELLO 2" (this protocol; an older keeper says nothing);
 *                      after HELLO, whenever a container's notify fd arrives (below),
 *                      "NEW name\nSTATE" with the fd (STATE: the OCI seccomp state, JSON)
 * Names starting with "seccomp:" are notify fds; "fuse" is the FUSE connection; "listen:" names
 * the daemon's listening sockets (the clients', the seccomp receiver's): held here, a connection
 * made while no daemon runs waits in the backlog, and starts one, instead of being refused.
 * "listen:seccomp" the keeper serves itself: it accepts each container's notify fd (crun's init
 * sends it there), holds it and hands it to the daemon, so no fd is lost in a daemon's death.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_HELD 4096
#define NAME_MAX_LEN 200
#define LAUNCH_INTERVAL 5

struct held { char name[NAME_MAX_LEN]; int fd; };

static struct held held[MAX_HELD];
static int nheld;
static const char *launcher;
static int hello;      /* the attached daemon said HELLO: it takes NEW records */
static int accepted;   /* notify fds accepted so far, for their names */

static void say(const char *fmt, const char *arg)
{
    fprintf(stderr, "vessel-keeper[%d]: ", getpid());
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
}

static void drop(int i)
{
    close(held[i].fd);
    held[i] = held[--nheld];
}

static int find(const char *name)
{
    for (int i = 0; i < nheld; i++)
        if (strcmp(held[i].name, name) == 0)
            return i;
    return -1;
}

static int send_record(int sock, const char *text, int fd)
{
    struct iovec iov = { (void *)text, strlen(text) };
    char control[CMSG_SPACE(sizeof(int))] = { 0 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (fd >= 0) {
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* Handles one record from the daemon; returns -1 when the daemon has gone. */
static int serve(int sock)
{
    char text[NAME_MAX_LEN + 8] = { 0 };
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { text, sizeof(text) - 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                          .msg_controllen = sizeof(control) };
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n <= 0)
        return -1;
    int fd = -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (c && c->cmsg_type == SCM_RIGHTS)
        memcpy(&fd, CMSG_DATA(c), sizeof(int));

    if (strncmp(text, "PUT ", 4) == 0 && fd >= 0 && strlen(text + 4) < NAME_MAX_LEN) {
        int i = find(text + 4);
        if (i >= 0)
            drop(i);
        if (nheld == MAX_HELD) {
            close(fd);
            return send_record(sock, "FULL", -1);
        }
        snprintf(held[nheld].name, NAME_MAX_LEN, "%s", text + 4);
        held[nheld++].fd = fd;
        return 0;
    }
    if (fd >= 0)
        close(fd);
    if (strncmp(text, "DEL ", 4) == 0) {
        int i = find(text + 4);
        if (i >= 0)
            drop(i);
        return 0;
    }
    if (strcmp(text, "HELLO") == 0) {
        hello = 1;
        return send_record(sock, "HELLO 2", -1);
    }
    if (strcmp(text, "GET") == 0) {
        char line[NAME_MAX_LEN + 8];
        for (int i = 0; i < nheld; i++) {
            snprintf(line, sizeof(line), "FD %s", held[i].name);
            if (send_record(sock, line, held[i].fd) < 0)
                return -1;
        }
        return send_record(sock, "END", -1);
    }
    say("unknown record \"%s\"", text);
    return 0;
}

/* No daemon: let a trapped system call run for real, or forget a filter with no task left. */
static void let_through(int i, short revents)
{
    if (!(revents & POLLIN)) {
        drop(i);
        return;
    }
    struct seccomp_notif notif;
    memset(&notif, 0, sizeof(notif));
    if (ioctl(held[i].fd, SECCOMP_IOCTL_NOTIF_RECV, &notif) < 0)
        return;
    struct seccomp_notif_resp resp = { .id = notif.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE };
    ioctl(held[i].fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

/*
 * Connections on the seccomp receiver's socket: crun connects, and sends the OCI state (JSON)
 * with the container's notify fd only later, so each waits here, polled with the rest, until its
 * message arrives: the keeper never blocks on one.
 */
#define MAX_PENDING 256
static int pending[MAX_PENDING];
static int npending;

static void accept_notify_connection(int listener)
{
    int conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0)
        return;
    if (npending == MAX_PENDING) {
        say("too many seccomp connections wait: %s", "one refused");
        close(conn);
        return;
    }
    pending[npending++] = conn;
}

/* A pending connection is readable: its notify fd, held under a name of its own and handed to the daemon if one listens. */
static void receive_notify_fd(int p, int daemon)
{
    int conn = pending[p];
    static char data[65536];
    char control[CMSG_SPACE(sizeof(int) * 4)];
    struct iovec iov = { data, sizeof(data) - 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                          .msg_controllen = sizeof(control) };
    ssize_t n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    close(conn);
    pending[p] = pending[--npending];
    int fds[4], nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); n >= 0 && c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) && nfds < 4; i++)
                memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    for (int i = 1; i < nfds; i++)
        close(fds[i]);
    if (n < 0 || nfds == 0)
        return;
    if (nheld == MAX_HELD) {
        say("holding too many fds: dropped a notify fd (%s)", "its container's trapped calls fail");
        close(fds[0]);
        return;
    }
    data[n] = '\0';
    snprintf(held[nheld].name, NAME_MAX_LEN, "seccomp:k%d", ++accepted);
    held[nheld++].fd = fds[0];
    if (daemon >= 0 && hello) {
        static char record[NAME_MAX_LEN + sizeof(data) + 8];
        snprintf(record, sizeof(record), "NEW %s\n%s", held[nheld - 1].name, data);
        send_record(daemon, record, fds[0]);
    }
}

static time_t last_launch;

static void launch_daemon(void)
{
    last_launch = time(NULL);
    say("a request waits and no daemon is attached: starting %s", launcher);
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        if (fork() == 0) {
            execl(launcher, "vesseld", (char *)NULL);
            _exit(127);
        }
        _exit(0);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: vessel-keeper SOCKET LAUNCHER\n");
        return 2;
    }
    launcher = argv[2];
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(argv[1]) >= sizeof(addr.sun_path)) {
        say("socket path %s is too long", argv[1]);
        return 1;
    }
    strcpy(addr.sun_path, argv[1]);
    int listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    unlink(argv[1]);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(listener, 8) < 0) {
        say("cannot listen on %s", argv[1]);
        return 1;
    }
    say("holding file descriptors on %s", argv[1]);

    int daemon = -1;
    struct pollfd fds[MAX_HELD + MAX_PENDING + 3];
    int owner[MAX_HELD + MAX_PENDING + 3];
    for (;;) {
        int n = 0;
        fds[n] = (struct pollfd){ .fd = listener, .events = POLLIN };
        owner[n++] = -1;
        int seccomp = find("listen:seccomp"), seccomp_at = -1;
        if (seccomp >= 0) {
            seccomp_at = n;
            fds[n] = (struct pollfd){ .fd = held[seccomp].fd, .events = POLLIN };
            owner[n++] = -1;
        }
        int pending_at = n;
        for (int p = 0; p < npending; p++) {
            fds[n] = (struct pollfd){ .fd = pending[p], .events = POLLIN };
            owner[n++] = -1;
        }
        int daemon_at = -1;
        if (daemon >= 0) {
            daemon_at = n;
            fds[n] = (struct pollfd){ .fd = daemon, .events = POLLIN };
            owner[n++] = -1;
        } else {
            int launching = time(NULL) - last_launch < LAUNCH_INTERVAL;
            for (int i = 0; i < nheld; i++) {
                if (i == seccomp)
                    continue; /* polled above: the keeper accepts there itself */
                if (launching && (strcmp(held[i].name, "fuse") == 0 || strncmp(held[i].name, "listen:", 7) == 0))
                    continue; /* a daemon is on its way; don't spin on the request it will serve */
                fds[n] = (struct pollfd){ .fd = held[i].fd, .events = POLLIN };
                owner[n++] = i;
            }
        }
        if (poll(fds, n, daemon >= 0 ? -1 : 1000) < 0) {
            if (errno == EINTR)
                continue;
            say("poll: %s", strerror(errno));
            return 1;
        }
        if (fds[0].revents & POLLIN) {
            int conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
            if (conn >= 0) {
                if (daemon >= 0)
                    close(daemon);
                daemon = conn;
                hello = 0;
                continue;
            }
        }
        int changed = 0;
        for (int p = npending - 1; p >= 0; p--) /* backwards: a received one's slot takes the last */
            if (fds[pending_at + p].revents) {
                receive_notify_fd(p, daemon);
                changed = 1;
            }
        if (seccomp_at >= 0 && (fds[seccomp_at].revents & POLLIN)) {
            accept_notify_connection(held[seccomp].fd);
            changed = 1;
        }
        if (changed)
            continue; /* held[] and pending[] may have changed: poll again */
        if (daemon >= 0) {
            if (fds[daemon_at].revents && serve(daemon) < 0) {
                close(daemon);
                daemon = -1;
                hello = 0;
                say("daemon detached; %s", "letting trapped calls through until one attaches");
            }
            continue;
        }
        /* Walk backwards: drop() moves the last entry into the freed slot. */
        for (int k = n - 1; k >= 1; k--) {
            if (!fds[k].revents || owner[k] < 0)
                continue;
            int i = owner[k];
            if (strncmp(held[i].name, "seccomp:", 8) == 0)
                let_through(i, fds[k].revents);
            else if (strcmp(held[i].name, "fuse") == 0 || strncmp(held[i].name, "listen:", 7) == 0)
                launch_daemon();
        }
    }
}
