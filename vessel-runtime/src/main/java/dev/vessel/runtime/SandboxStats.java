package dev.vessel.runtime;

import dev.vessel.linux.Cgroup;
import dev.vessel.vmm.GuestStats;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * One sandbox's resource use at one moment, whatever its isolation: what the management API's
 * {@code /stats} and the Prometheus metrics show. Each driver fills it from its own parts
 * ({@link IsolationDriver#stats}); {@code source} says where the numbers came from, so a reader
 * can tell the workload's own numbers from an approximation.
 *
 * @param cpuSeconds CPU time used, user and system
 * @param memoryUsageBytes memory in use, page cache included (cadvisor's container_memory_usage_bytes)
 * @param memoryWorkingSetBytes usage less inactive file pages (cadvisor's working set)
 * @param memoryLimitBytes the memory limit; 0 when there is none
 * @param networkRxBytes bytes received on the sandbox's interfaces (loopback excluded)
 * @param networkTxBytes bytes sent on them
 * @param fsReadBytes bytes read from block devices
 * @param fsWriteBytes bytes written to block devices
 * @param pids the number of processes (tasks)
 * @param source {@link #CGROUP} or {@link #GUEST}
 * @param vmm a microVM's QEMU, what it costs the host apart from the guest's numbers; null for a container
 */
public record SandboxStats(double cpuSeconds, long memoryUsageBytes, long memoryWorkingSetBytes, long memoryLimitBytes,
        long networkRxBytes, long networkTxBytes, long fsReadBytes, long fsWriteBytes, long pids, String source,
        VmmCost vmm) {
    /** The container's own cgroup: the workload's numbers. */
    public static final String CGROUP = "cgroup";
    /** The guest's own numbers, through the agent (as {@code events --stats}). */
    public static final String GUEST = "guest";

    /** A container's numbers from its cgroup, and its network from the namespace of {@code pid}. */
    public static SandboxStats ofCgroup(Cgroup cgroup, long pid) {
        boolean v2 = cgroup.isUnified();
        Map<String, Long> memStat = cgroup.readKeyed("memory", "memory.stat");
        double cpu;
        long usage;
        long limit;
        long inactiveFile;
        if (v2) {
            cpu = cgroup.readKeyed("cpu", "cpu.stat").getOrDefault("usage_usec", 0L) / 1e6;
            usage = cgroup.readLong("memory", "memory.current", 0);
            limit = cgroup.readLong("memory", "memory.max", Long.MAX_VALUE);
            inactiveFile = memStat.getOrDefault("inactive_file", 0L);
        } else {
            cpu = cgroup.readLong("cpuacct", "cpuacct.usage", 0) / 1e9;
            usage = cgroup.readLong("memory", "memory.usage_in_bytes", 0);
            limit = cgroup.readLong("memory", "memory.limit_in_bytes", Long.MAX_VALUE);
            inactiveFile = memStat.getOrDefault("total_inactive_file", memStat.getOrDefault("inactive_file", 0L));
        }
        long[] io = blockIo(cgroup);
        long[] net = netDev(Path.of("/proc", Long.toString(pid), "net", "dev"));
        return new SandboxStats(cpu, usage, Math.max(0, usage - inactiveFile), noLimit(limit), net[0], net[1], io[0], io[1],
                cgroup.readLong("pids", "pids.current", 0), CGROUP, null);
    }

    /** cgroup v1 says "no limit" with a huge page-rounded number, v2 with "max": both are 0 here, as cadvisor. */
    static long noLimit(long limit) {
        return limit >= Long.MAX_VALUE / 2 ? 0 : limit;
    }

    /** Read and written bytes of every block device of the cgroup. */
    static long[] blockIo(Cgroup cgroup) {
        long[] io = new long[2];
        if (cgroup.isUnified()) {
            cgroup.read("io", "io.stat").ifPresent(text -> text.lines().forEach(line -> {
                for (String field : line.trim().split("\\s+")) {
                    if (field.startsWith("rbytes=")) io[0] += Cgroup.parseLong(field.substring(7)).orElse(0L);
                    if (field.startsWith("wbytes=")) io[1] += Cgroup.parseLong(field.substring(7)).orElse(0L);
                }
            }));
        } else {
            cgroup.read("blkio", "blkio.throttle.io_service_bytes_recursive").ifPresent(text -> text.lines().forEach(line -> {
                String[] f = line.trim().split("\\s+");
                if (f.length == 3 && f[0].contains(":")) {
                    if (f[1].equals("Read")) io[0] += Cgroup.parseLong(f[2]).orElse(0L);
                    if (f[1].equals("Write")) io[1] += Cgroup.parseLong(f[2]).orElse(0L);
                }
            }));
        }
        return io;
    }

    /** Received and sent bytes of /proc/PID/net/dev's interfaces but loopback; zeros when unreadable. */
    static long[] netDev(Path file) {
        try {
            return parseNetDev(Files.readString(file));
        } catch (IOException e) {
            return new long[2];
        }
    }

    static long[] parseNetDev(String text) {
        long[] bytes = new long[2];
        for (String line : text.lines().toList()) {
            int colon = line.indexOf(':');
            if (colon < 0) continue; // the two header lines
            String name = line.substring(0, colon).trim();
            String[] f = line.substring(colon + 1).trim().split("\\s+");
            if (name.equals("lo") || f.length < 9) continue;
            bytes[0] += Cgroup.parseLong(f[0]).orElse(0L);
            bytes[1] += Cgroup.parseLong(f[8]).orElse(0L);
        }
        return bytes;
    }

    /**
     * A microVM's numbers from its guest (the agent's STATS, what {@code events --stats} shows):
     * CPU time, memory (usage page cache included: MemTotal − MemFree; working set: MemTotal −
     * MemAvailable, {@code events}' memory usage), processes, NICs and disks, all the guest's own.
     * The limit is the bundle's when it gives one (cadvisor's {@code spec} limit; the guest's
     * MemTotal is made to match it), else the guest's MemTotal. QEMU's own cost goes in {@code vmm}.
     */
    public static SandboxStats ofGuest(GuestStats guest, long bundleLimitBytes, VmmCost vmm) {
        long total = guest.memoryTotal();
        long usage = Math.max(0, total - guest.memory().getOrDefault("free", 0L));
        long rx = 0, tx = 0, read = 0, written = 0;
        for (GuestStats.Interface i : guest.interfaces()) {
            if (i.name().equals("lo")) continue;
            rx += i.rxBytes();
            tx += i.txBytes();
        }
        for (GuestStats.Disk d : guest.disks()) {
            read += d.readBytes();
            written += d.writeBytes();
        }
        return new SandboxStats(guest.cpuTotalNs() / 1e9, usage, guest.memoryUsed(), bundleLimitBytes > 0 ? bundleLimitBytes : total,
                rx, tx, read, written, guest.pids(), GUEST, vmm);
    }

    /**
     * What a microVM costs the host beyond its guest's numbers: QEMU's process and the sandbox
     * cgroup it runs in ({@link MicroVmCgroups}).
     *
     * @param pid QEMU's pid
     * @param cpuSeconds QEMU's CPU time, user and system (its vCPU threads included)
     * @param residentBytes QEMU's resident memory (the guest's RAM it has touched included)
     * @param sandboxCgroupMemoryBytes the memory usage of the sandbox cgroup (QEMU and its helpers); -1 when unknown
     */
    public record VmmCost(long pid, double cpuSeconds, long residentBytes, long sandboxCgroupMemoryBytes) {
        static VmmCost of(MicroVmEvents.QemuCost cost) {
            return new VmmCost(cost.pid(), cost.cpuNs() / 1e9, cost.rssBytes(), cost.cgroupMemoryBytes());
        }
    }

    /** A sandbox with nothing running. */
    public static SandboxStats none(String source, long memoryLimitBytes) {
        return new SandboxStats(0, 0, 0, memoryLimitBytes, 0, 0, 0, 0, 0, source, null);
    }
}
