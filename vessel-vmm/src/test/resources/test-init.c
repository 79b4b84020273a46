/* A stand-in guest /init for tests and benchmarks: loads /lib/modules/load-order, says one line
 * on hvc0, then powers off (or, with "test.idle" on the kernel command line, idles). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
int main(void) {
    mount("devtmpfs", "/dev", "devtmpfs", 0, 0);
    FILE *f = fopen("/lib/modules/load-order", "r");
    char name[256], path[300];
    while (f && fgets(name, sizeof name, f)) {
        name[strcspn(name, "\n")] = 0;
        snprintf(path, sizeof path, "/lib/modules/%s", name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) { syscall(SYS_finit_module, fd, "", 0); close(fd); }
    }
    int c = -1;
    for (int i = 0; i < 2000 && c < 0; i++) { c = open("/dev/hvc0", O_WRONLY); if (c < 0) usleep(1000); }
    const char msg[] = "vessel-test-init: hello\n";
    if (c >= 0) write(c, msg, sizeof msg - 1);
    char cmd[512] = {0};
    mount("proc", "/proc", "proc", 0, 0);
    int p = open("/proc/cmdline", O_RDONLY); if (p >= 0) { read(p, cmd, sizeof cmd - 1); close(p); }
    if (strstr(cmd, "test.idle")) for (;;) pause();
    reboot(RB_POWER_OFF);
    return 0;
}
