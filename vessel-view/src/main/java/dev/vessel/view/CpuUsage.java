package dev.vessel.view;

import dev.vessel.linux.Cgroup;
import java.util.Map;
import java.util.OptionalLong;

/**
 * CPU time the container's cgroup has used.
 *
 * @param known whether the cgroup's accounting could be read; when false the view shows host times
 * @param perCpuNanos time per host CPU, indexed by host CPU number (v1 cpuacct.usage_percpu); empty
 *     when the kernel does not account per CPU (v2)
 */
public record CpuUsage(boolean known, long userNanos, long systemNanos, long[] perCpuNanos) {
    public static final CpuUsage UNKNOWN = new CpuUsage(false, 0, 0, new long[0]);

    public CpuUsage {
        perCpuNanos = perCpuNanos.clone();
    }

    @Override
    public long[] perCpuNanos() {
        return perCpuNanos.clone();
    }

    public long totalNanos() {
        return userNanos + systemNanos;
    }

    /** Time used on host CPU {@code cpu}, or -1 when not accounted per CPU. */
    public long nanosOn(int cpu) {
        return cpu < perCpuNanos.length ? perCpuNanos[cpu] : -1;
    }

    public boolean perCpuKnown() {
        return perCpuNanos.length > 0;
    }

    public static CpuUsage read(Cgroup cgroup) {
        return cgroup.isUnified() ? readV2(cgroup) : readV1(cgroup);
    }

    private static CpuUsage readV1(Cgroup cgroup) {
        long[] perCpu = parseNumbers(cgroup.read("cpuacct", "cpuacct.usage_percpu").orElse(""));
        OptionalLong total = CgroupFiles.number(cgroup, "cpuacct", "cpuacct.usage");
        long totalNanos = total.orElse(sum(perCpu));
        if (total.isEmpty() && perCpu.length == 0) {
            return UNKNOWN;
        }
        // cpuacct.stat splits the time in USER_HZ ticks; the total in ns is more precise, so split it.
        Map<String, Long> stat = cgroup.readKeyed("cpuacct", "cpuacct.stat");
        long userTicks = Math.max(0, stat.getOrDefault("user", 0L));
        long systemTicks = Math.max(0, stat.getOrDefault("system", 0L));
        long user = userTicks + systemTicks == 0
                ? totalNanos
                : (long) (totalNanos * ((double) userTicks / (userTicks + systemTicks)));
        return new CpuUsage(true, user, totalNanos - user, perCpu);
    }

    private static CpuUsage readV2(Cgroup cgroup) {
        Map<String, Long> stat = cgroup.readKeyed("cpu", "cpu.stat");
        Long usage = stat.get("usage_usec");
        if (usage == null || usage < 0) {
            return UNKNOWN;
        }
        long user = Math.max(0, stat.getOrDefault("user_usec", usage));
        long system = Math.max(0, stat.getOrDefault("system_usec", 0L));
        return new CpuUsage(true, user * 1000, system * 1000, new long[0]);
    }

    private static long[] parseNumbers(String text) {
        if (text.isBlank()) {
            return new long[0];
        }
        String[] fields = text.strip().split("\\s+");
        long[] numbers = new long[fields.length];
        for (int i = 0; i < fields.length; i++) {
            numbers[i] = Math.max(0, Cgroup.parseLong(fields[i]).orElse(0L));
        }
        return numbers;
    }

    private static long sum(long[] values) {
        long sum = 0;
        for (long v : values) {
            sum += v;
        }
        return sum;
    }
}
