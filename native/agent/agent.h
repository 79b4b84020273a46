/* vessel-agent: what vessel-agent.c (boot, control port) and proc.c (processes, stream ports) share. */

/* The control protocol's version (docs/microvm.md), said in READY; AgentClient.PROTOCOL must match. */
#define AGENT_PROTOCOL "3"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#define MAXRL 16
#define MAXGIDS 64

struct buf { char *p; size_t len, cap; };

/* A process to run: the process lines of a CREATE or EXEC block. */
struct spec {
    char **argv, **env;
    int argc, envc;
    char *cwd;
    uid_t uid;
    gid_t gid, gids[MAXGIDS];
    int ngids;
    int rlres[MAXRL];
    struct rlimit rl[MAXRL];
    int nrl;
    int tty, nnp;
    int caps;              /* a caps line came: apply the five sets below (else leave the agent's) */
    uint64_t bounding, effective, permitted, inheritable, ambient; /* bit N: capability N */
    int oom, has_oom;      /* oomScoreAdj */
    /* process 0 only (CREATE's lines), applied in its own mount namespace, after its /proc */
    char **masked, **ro;   /* maskedPaths, readonlyPaths */
    int nmasked, nro, rootro;
    struct sock_fprog *seccomp; /* installed right before exec (NULL: none) */
    /* a pod's container (CONTAINER): its rootfs in the pod's share, its guest cgroup; an exec: whose namespaces */
    char *root, *cgroup;
    int join;              /* EXEC: the process whose namespaces it joins (0: the sandbox's) */
    int newuts;            /* CONTAINER: a UTS namespace of its own (else the pod's) */
    int sharepid;          /* CONTAINER: the pod's PID namespace, process 0's (shareProcessNamespace), not one of its own */
    /* process 0: a user namespace of its own with these maps ("C H N" lines, as /proc/PID/uid_map
       takes them; NULL: the agent's), and rootfsPropagation's flags for its / (0: left private) */
    char *uidmap, *gidmap;
    unsigned long propagation;
};

enum pstate { P_PREPARED, P_RUNNING, P_EXITED, P_DONE };

/* Process N: its pid, its stream port and the agent's ends of its stdio. */
struct proc {
    int n;
    pid_t pid;
    enum pstate state;
    int port, connected;   /* the port's fd; whether the relay (host side) is connected */
    int relayed;           /* a relay has been connected at some point */
    int in, out, err;      /* stdin (write end), stdout, stderr (read ends); -1 once closed */
    int tty;               /* in and out are the pty's master (err is -1) */
    int start_w, status_r; /* closing start_w lets the child exec; status_r reports its setup */
    struct buf obuf, ibuf, inbuf; /* frames to the relay, frames from it, bytes for stdin */
    int status;            /* exit status, shell convention */
    long long exited_ms;
    int pi_port, pi_out, pi_err, pi_in; /* indexes in the poll set, -1 if not polled */
    char *cgroup;          /* a pod's container: its cgroup under the agent's cgroup2 (NULL: none) */
    struct sock_fprog *filter; /* a pod's container: its seccomp filter, for its execs too (NULL: none) */
    struct proc *next;
};

extern struct proc *procs;
extern int procfd; /* the agent's own /proc (the guest's root pid namespace) */

void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
long long now_ms(void);
void buf_add(struct buf *b, const void *p, size_t n);
void buf_drop(struct buf *b, size_t n);
int port_connected(int fd);
int port_setup(int fd);

/* vessel-agent.c: in the child of a pod's container, before its process is set up (0, or -1 with err) */
int member_setup(struct spec *s, char *err, size_t errlen);
extern int cgfd; /* the guest's cgroup2, mounted by a pod's CREATE (-1: none) */

/* proc.c */
struct proc *proc_find(int n);
struct proc *proc_new(int n, int port);
void proc_free(struct proc *p);
int proc_prepare(struct proc *p, struct spec *s, char *err, size_t errlen);
int proc_start(struct proc *p, char *err, size_t errlen);
int proc_pollset(struct proc *p, struct pollfd *pfd, int n);
void proc_io(struct proc *p, struct pollfd *pfd);
int proc_step(struct proc *p); /* returns 1 when the process is done (X queued) right now */
void proc_reaped(pid_t pid, int wstatus);
void proc_flush(struct proc *p);

/* net.c: 0, or -1 with errno set */
int net_ifindex_name(const char *name);
int net_ifindex_mac(const char *mac);
int net_hwaddr(int ifindex, const char *mac);                /* aa:bb:cc:dd:ee:ff */
int net_up(int ifindex, int mtu);                            /* mtu 0: unchanged */
int net_addr(int ifindex, const char *cidr);                 /* 10.88.0.5/16, fd00::5/64 */
int net_route(const char *dest, const char *gw, int ifindex); /* gw NULL: on-link */
int net_kernel_ip(const char *spec, char *err, size_t errlen); /* the kernel's ip= (static) */

/* stats.c: the answers of STATS and TOP, "OK ..." lines for ctl_send */
void stats_answer(int procfd, char *b, size_t len);
void top_answer(int procfd, char *b, size_t len);
void stats_cgroup_answer(int procfd, int cgroup, char *b, size_t len); /* a pod's container: its cgroup's numbers */
