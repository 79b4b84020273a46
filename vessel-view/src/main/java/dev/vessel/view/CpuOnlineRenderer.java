package dev.vessel.view;

import java.util.stream.IntStream;

/**
 * /sys/devices/system/cpu/online: "0" or "0-1", the visible CPUs renumbered from 0 to match
 * /proc/cpuinfo and /proc/stat. glibc's get_nprocs() (sysconf(_SC_NPROCESSORS_ONLN), getconf,
 * Python's os.cpu_count, the JVM without container support) reads this file first.
 *
 * <p>possible and present are deliberately not rendered: get_nprocs_conf() and programs that size
 * per-CPU arrays indexed by sched_getcpu() (lttng, allocators) read them, and sched_getcpu() still
 * returns host CPU numbers, so shrinking them would overflow those arrays.
 */
final class CpuOnlineRenderer {
    private CpuOnlineRenderer() {}

    static String render(ContainerResources resources, HostInfo host, double now) {
        Cpus cpus = resources.cpus();
        if (!cpus.limited(host) && !host.cpuOnline().isEmpty()) {
            return host.cpuOnline();
        }
        return CpuList.format(IntStream.range(0, cpus.visibleCount()).toArray()) + "\n";
    }
}
