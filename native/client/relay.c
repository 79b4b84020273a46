/*
 * Relay mode of the vessel client: the host-side stand-in for a process that runs inside a
 * microVM. It is what conmon / containerd-shim see as the container's process: it holds the
 * stdio (or terminal) they gave it, copies it to and from the process's virtio-serial port
 * (a QEMU socket, docs/microvm.md "Stream protocol"), forwards the signals it receives, and
 * exits with the process's status. It talks to QEMU directly, never to vesseld, so the daemon
 * can restart under it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "relay.h"

#define EXIT_VM_GONE 255

static int send_frame(int fd, char type, const void *payload, uint32_t len)
{
    unsigned char header[5] = { (unsigned char)type, len, len >> 8, len >> 16, len >> 24 };
    struct iovec iov[2] = { { header, 5 }, { (void *)payload, len } };
    size_t total = 5 + len, done = 0;
    while (done < total) {
        ssize_t n = writev(fd, iov, 2);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
        for (int i = 0; i < 2; i++) {
            size_t used = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + used;
            iov[i].iov_len -= used;
            n -= (ssize_t)used;
        }
    }
    return 0;
}

/* Writes all of p, retrying on EINTR; -1 on error. (Shared with vessel.c.) */
int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int connect_port(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    for (int tries = 0; tries < 500; tries++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        usleep(10000);
    }
    return -1;
}

/* Sends the terminal's master end to the engine's console socket, as runc does. */
static int send_console(const char *socket_path, int master)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
        return -1;
    char name[] = "/dev/ptmx";
    struct iovec iov = { name, sizeof(name) - 1 };
    char control[CMSG_SPACE(sizeof(int))] = { 0 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                          .msg_controllen = sizeof(control) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &master, sizeof(int));
    int rc = sendmsg(fd, &msg, 0) < 0 ? -1 : 0;
    close(fd);
    return rc;
}

static void send_winsize(int port, int tty)
{
    struct winsize ws;
    if (ioctl(tty, TIOCGWINSZ, &ws) != 0)
        return;
    unsigned char p[4] = { ws.ws_row, ws.ws_row >> 8, ws.ws_col, ws.ws_col >> 8 };
    send_frame(port, 'W', p, 4);
}

int relay_prepare(struct relay *r)
{
    r->in = 0;
    r->out = 1;
    r->err = 2;
    if (!r->tty)
        return 0;
    /* The process's terminal is in the guest; this one stands in for it on the host. */
    int master, slave;
    if (openpty(&master, &slave, NULL, NULL, NULL) != 0)
        return -1;
    if (r->console_socket && *r->console_socket && send_console(r->console_socket, master) != 0)
        return -1;
    close(master);
    struct termios raw;
    if (tcgetattr(slave, &raw) == 0) {
        cfmakeraw(&raw);
        tcsetattr(slave, TCSANOW, &raw);
    }
    r->in = r->out = r->err = slave;
    return 0;
}

int relay_run(struct relay *r)
{
    int port = connect_port(r->port_path);
    if (port < 0) {
        fprintf(stderr, "vessel: cannot reach %s: %s\n", r->port_path, strerror(errno));
        return EXIT_VM_GONE;
    }
    /* Every signal the engine sends the container goes to the process in the guest. */
    sigset_t all;
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    sigprocmask(SIG_BLOCK, &all, NULL);
    int sfd = signalfd(-1, &all, SFD_CLOEXEC);
    if (r->tty) {
        /* With the terminal as ours, the engine's resizes reach us as SIGWINCH. Done here, in
         * the relay itself: a session leader that exits hangs its terminal up. (Best effort: a
         * process-group leader cannot start a session.) */
        if (setsid() >= 0)
            ioctl(r->in, TIOCSCTTY, 0);
        send_winsize(port, r->in);
    }

    unsigned char buf[65536];
    int in_open = 1;
    for (;;) {
        struct pollfd fds[3] = {
            { .fd = port, .events = POLLIN },
            { .fd = sfd, .events = POLLIN },
            { .fd = in_open ? r->in : -1, .events = POLLIN },
        };
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            return EXIT_VM_GONE;
        }
        if (fds[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGWINCH && r->tty) {
                    send_winsize(port, r->in);
                } else if (si.ssi_signo != SIGCHLD && si.ssi_signo != SIGPIPE) {
                    int32_t s = (int32_t)si.ssi_signo;
                    unsigned char p[4] = { s, s >> 8, s >> 16, s >> 24 };
                    send_frame(port, 'K', p, 4);
                }
            }
        }
        if (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(r->in, buf, sizeof(buf));
            if (n > 0) {
                send_frame(port, 'I', buf, (uint32_t)n);
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                in_open = 0;
                if (!r->tty)
                    send_frame(port, 'C', NULL, 0);
            }
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            unsigned char header[5];
            if (read(port, header, 1) != 1 || recv(port, header + 1, 4, MSG_WAITALL) != 4)
                return EXIT_VM_GONE; /* QEMU went away with the process */
            uint32_t len = header[1] | header[2] << 8 | header[3] << 16 | (uint32_t)header[4] << 24;
            unsigned char *payload = len <= sizeof(buf) ? buf : malloc(len);
            if (!payload || (len && recv(port, payload, len, MSG_WAITALL) != (ssize_t)len))
                return EXIT_VM_GONE;
            if (header[0] == 'O')
                write_all(r->out, payload, len);
            else if (header[0] == 'E')
                write_all(r->err, payload, len);
            else if (header[0] == 'X' && len == 4)
                return (int)(payload[0] | payload[1] << 8 | payload[2] << 16 | (uint32_t)payload[3] << 24);
            if (payload != buf)
                free(payload);
        }
    }
}
