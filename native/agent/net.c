/*
 * vessel-agent: the guest's network, configured over rtnetlink (no iproute2 in the initrd, no
 * libraries: one request per call, answered by the kernel's ACK or its errno).
 *
 * A NIC is named by its MAC: QEMU was given the MAC of the host side's interface (the veth in the
 * container's netns), while the guest's own name for it (eth0, eth1…) depends on probe order.
 * Every function returns 0, or -1 with errno set, so the caller can name the failing line.
 */
#include "agent.h"
#include <arpa/inet.h>
#include <dirent.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <strings.h>
#include <sys/socket.h>

/* A request: the header, the family-specific message, then attributes. */
struct req {
    struct nlmsghdr h;
    union { struct ifinfomsg i; struct ifaddrmsg a; struct rtmsg r; };
    char attrs[128];
};

static void attr(struct req *q, int type, const void *data, int len)
{
    struct rtattr *a = (struct rtattr *)((char *)&q->h + NLMSG_ALIGN(q->h.nlmsg_len));
    a->rta_type = type;
    a->rta_len = RTA_LENGTH(len);
    memcpy(RTA_DATA(a), data, len);
    q->h.nlmsg_len = NLMSG_ALIGN(q->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Send the request and wait for its ACK (NLMSG_ERROR with error 0, or minus an errno). */
static int talk(struct req *q)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), err = EIO;
    if (fd < 0) return -1;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    q->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    q->h.nlmsg_seq = 1;
    if (sendto(fd, q, q->h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) { err = errno; goto out; }
    for (;;) {
        char b[4096];
        ssize_t n = recv(fd, b, sizeof b, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { err = n < 0 ? errno : EIO; goto out; }
        int len = n;
        for (struct nlmsghdr *h = (struct nlmsghdr *)b; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len))
            if (h->nlmsg_type == NLMSG_ERROR) { err = -((struct nlmsgerr *)NLMSG_DATA(h))->error; goto out; }
    }
out:
    close(fd);
    errno = err;
    return err ? -1 : 0;
}

/* "10.88.0.5/16" or "fd00::5/64" (no prefix: one host); family 0 on a malformed value. */
struct cidr { int family, len; unsigned char addr[16]; };

static struct cidr cidr(const char *s)
{
    struct cidr c = {0};
    char a[64], *slash;
    snprintf(a, sizeof a, "%s", s);
    if ((slash = strchr(a, '/'))) *slash++ = 0;
    if (inet_pton(AF_INET, a, c.addr) == 1) c.family = AF_INET, c.len = 32;
    else if (inet_pton(AF_INET6, a, c.addr) == 1) c.family = AF_INET6, c.len = 128;
    else return c;
    if (slash) {
        char *end;
        long l = strtol(slash, &end, 10);
        if (*end || end == slash || l < 0 || l > c.len) c.family = 0;
        c.len = l;
    }
    return c;
}

static int addrlen(int family) { return family == AF_INET ? 4 : 16; }

int net_ifindex_name(const char *name)
{
    int i = if_nametoindex(name);
    if (!i) errno = ENODEV;
    return i ? i : -1;
}

/* The NIC whose MAC is `mac` (any case), by /sys/class/net/NAME/address. */
int net_ifindex_mac(const char *mac)
{
    DIR *d = opendir("/sys/class/net");
    struct dirent *e;
    int found = -1;
    while (d && found < 0 && (e = readdir(d))) {
        char path[300], got[64] = "";
        snprintf(path, sizeof path, "/sys/class/net/%s/address", e->d_name);
        int f = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = f >= 0 ? read(f, got, sizeof got - 1) : -1;
        if (f >= 0) close(f);
        if (n <= 0) continue;
        got[strcspn(got, "\n")] = 0;
        if (!strcasecmp(got, mac)) found = net_ifindex_name(e->d_name);
    }
    if (d) closedir(d);
    if (found < 0) errno = ENODEV;
    return found;
}

/* Give the NIC the MAC `mac` (aa:bb:cc:dd:ee:ff): a template's clone takes its container's. */
int net_hwaddr(int ifindex, const char *mac)
{
    unsigned char a[6];
    if (sscanf(mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", a, a + 1, a + 2, a + 3, a + 4, a + 5) != 6) {
        errno = EINVAL;
        return -1;
    }
    struct req q = {.h = {.nlmsg_len = NLMSG_LENGTH(sizeof q.i), .nlmsg_type = RTM_NEWLINK}};
    q.i = (struct ifinfomsg){.ifi_family = AF_UNSPEC, .ifi_index = ifindex};
    attr(&q, IFLA_ADDRESS, a, sizeof a);
    return talk(&q);
}

/* Bring the link up, with this MTU unless mtu is 0. */
int net_up(int ifindex, int mtu)
{
    struct req q = {.h = {.nlmsg_len = NLMSG_LENGTH(sizeof q.i), .nlmsg_type = RTM_NEWLINK}};
    q.i = (struct ifinfomsg){.ifi_family = AF_UNSPEC, .ifi_index = ifindex, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
    if (mtu > 0) attr(&q, IFLA_MTU, &mtu, sizeof mtu);
    return talk(&q);
}

/*
 * Add an address (replacing an equal one: a retried CREATE is not an error). IPv6 skips duplicate
 * address detection, which would keep the address tentative, unusable, for a second or more: the
 * container's process starts right away and the netns's IPAM already made the address unique.
 */
int net_addr(int ifindex, const char *s)
{
    struct cidr c = cidr(s);
    if (!c.family) { errno = EINVAL; return -1; }
    struct req q = {.h = {.nlmsg_len = NLMSG_LENGTH(sizeof q.a), .nlmsg_type = RTM_NEWADDR,
                          .nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE}};
    q.a = (struct ifaddrmsg){.ifa_family = c.family, .ifa_prefixlen = c.len, .ifa_index = ifindex,
                             .ifa_flags = c.family == AF_INET6 ? IFA_F_NODAD : 0};
    attr(&q, IFA_LOCAL, c.addr, addrlen(c.family));
    attr(&q, IFA_ADDRESS, c.addr, addrlen(c.family));
    return talk(&q);
}

/* A route to `dest` (0.0.0.0/0, ::/0: the default) through `ifindex`, via `gw` or on-link if NULL. */
int net_route(const char *dest, const char *gw, int ifindex)
{
    struct cidr d = cidr(dest), g = {0};
    if (!d.family || (gw && (g = cidr(gw)).family != d.family)) { errno = EINVAL; return -1; }
    struct req q = {.h = {.nlmsg_len = NLMSG_LENGTH(sizeof q.r), .nlmsg_type = RTM_NEWROUTE,
                          .nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE}};
    /* on-link IPv4 routes are scope link, as `ip route add 10.0.0.0/8 dev eth0` makes them */
    q.r = (struct rtmsg){.rtm_family = d.family, .rtm_dst_len = d.len, .rtm_table = RT_TABLE_MAIN,
                         .rtm_protocol = RTPROT_BOOT, .rtm_type = RTN_UNICAST,
                         .rtm_scope = !gw && d.family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE};
    if (d.len) attr(&q, RTA_DST, d.addr, addrlen(d.family));
    if (gw) attr(&q, RTA_GATEWAY, g.addr, addrlen(g.family));
    attr(&q, RTA_OIF, &ifindex, sizeof ifindex);
    return talk(&q);
}

/*
 * The kernel's static `ip=CLIENT:SERVER:GATEWAY:NETMASK:HOSTNAME:DEVICE:AUTOCONF` (nfsroot.rst),
 * for Firecracker's getting-started guests: Debian's kernel has no IP autoconfiguration built in.
 * Only the static form (AUTOCONF off, none, static or empty, with a CLIENT); DHCP and the like
 * are refused. An empty NETMASK is the address's class's, as the kernel does; DEVICE defaults to eth0.
 */
int net_kernel_ip(const char *spec, char *err, size_t errlen)
{
    char s[256], *f[10] = {0}, *p = s;
    snprintf(s, sizeof s, "%s", spec);
    for (int i = 0; i < 10 && p; i++) { f[i] = p; if ((p = strchr(p, ':'))) *p++ = 0; }
    if (!strcmp(s, "off") || !strcmp(s, "none")) return 0;
    const char *client = f[0], *gw = f[2], *mask = f[3], *host = f[4], *dev = f[5], *auto_ = f[6];
    if (auto_ && *auto_ && strcmp(auto_, "off") && strcmp(auto_, "none") && strcmp(auto_, "static")) {
        snprintf(err, errlen, "ip=%s: only the static form is supported (AUTOCONF off)", spec);
        return -1;
    }
    struct in_addr a, m;
    if (inet_pton(AF_INET, client, &a) != 1) {
        snprintf(err, errlen, "ip=%s: only the static form is supported (CLIENT an IPv4 address)", spec);
        return -1;
    }
    if (mask && *mask && inet_pton(AF_INET, mask, &m) != 1) {
        snprintf(err, errlen, "ip=%s: bad netmask", spec);
        return -1;
    }
    int len, first = ntohl(a.s_addr) >> 24;
    if (mask && *mask) len = __builtin_popcount(m.s_addr);
    else len = first < 128 ? 8 : first < 192 ? 16 : 24;
    char addr[64];
    snprintf(addr, sizeof addr, "%s/%d", client, len);
    const char *name = dev && *dev ? dev : "eth0", *step = NULL;
    int i = net_ifindex_name(name);
    if (i < 0) step = "device";
    else if (net_up(i, 0) < 0) step = "link up";
    else if (net_addr(i, addr) < 0) step = "address";
    else if (gw && *gw && net_route("0.0.0.0/0", gw, i) < 0) step = "default route";
    if (step) {
        snprintf(err, errlen, "ip=%s: %s %s: %s", spec, step, name, strerror(errno));
        return -1;
    }
    if (host && *host && sethostname(host, strlen(host)) < 0) logmsg("ip=: hostname %s: %m", host);
    return 0;
}
