package dev.vessel.runtime;

import dev.vessel.linux.Cgroup;
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
 * @param source {@link #CGROUP}, {@link #QEMU_PROCESS} or {@link #GUEST}
 */
public record SandboxStats(double cpuSeconds, long memoryUsageBytes, long memoryWorkingSetBytes, long memoryLimitBytes,
        long networkRxBytes, long networkTxBytes, long fsReadBytes, long fsWriteBytes, long pids, String source) {
    /** The container's own cgroup: the workload's numbers. */
    public static final String CGROUP = "cgroup";
    /** QEMU's process on the host: the VM's cost, not the guest's view (until the agent reports it). */
    public static final String QEMU_PROCESS = "qemu-process";
    /** The guest's own numbers, through the agent. */
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
                cgroup.readLong("pids", "pids.current", 0), CGROUP);
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
     * A microVM's numbers as the host sees its QEMU process: CPU time, resident memory and block
     * I/O of QEMU itself, with the limit the bundle gave the guest. An approximation until the
     * guest's own numbers come through the agent (then {@link #GUEST} replaces it). The network
     * counters are those of {@code netnsPid}'s namespace, or zeros for 0.
     */
    public static SandboxStats ofQemuProcess(long qemuPid, long netnsPid, long memoryLimitBytes) {
        Path proc = Path.of("/proc", Long.toString(qemuPid));
        double cpu = 0;
        long rss = 0;
        long threads = 0;
        long[] io = new long[2];
        try {
            cpu = cpuSecondsOfStat(Files.readString(proc.resolve("stat")));
            Map<String, Long> status = keyed(Files.readString(proc.resolve("status")));
            rss = status.getOrDefault("VmRSS", 0L) * 1024;
            threads = status.getOrDefault("Threads", 0L);
            Map<String, Long> ioStat = keyed(Files.readString(proc.resolve("io")));
            io[0] = ioStat.getOrDefault("read_bytes", 0L);
            io[1] = ioStat.getOrDefault("write_bytes", 0L);
        } catch (IOException | RuntimeException e) {
            // QEMU gone meanwhile: zeros, as for a stopped sandbox
        }
        long[] net = netnsPid > 0 ? netDev(Path.of("/proc", Long.toString(netnsPid), "net", "dev")) : new long[2];
        return new SandboxStats(cpu, rss, rss, memoryLimitBytes, net[0], net[1], io[0], io[1], threads, QEMU_PROCESS);
    }

    /** utime + stime of /proc/PID/stat, in seconds (USER_HZ is 100). */
    static double cpuSecondsOfStat(String stat) {
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split("\\s+");
        // after the name: state is field 3, utime field 14, stime field 15 (1-based)
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
    }

    /** "Key: 123 kB" or "key: 123" lines; the first number of each. */
    static Map<String, Long> keyed(String text) {
        Map<String, Long> values = new java.util.HashMap<>();
        for (String line : text.lines().toList()) {
            int colon = line.indexOf(':');
            if (colon < 0) continue;
            String[] f = line.substring(colon + 1).trim().split("\\s+");
            if (f.length > 0) Cgroup.parseLong(f[0]).ifPresent(v -> values.put(line.substring(0, colon).trim(), v));
        }
        return values;
    }

    /** A sandbox with nothing running. */
    public static SandboxStats none(String source, long memoryLimitBytes) {
        return new SandboxStats(0, 0, 0, memoryLimitBytes, 0, 0, 0, 0, 0, source);
    }
}
