package dev.vessel.view;

import dev.vessel.linux.Cgroup;
import java.nio.file.Path;
import java.util.Arrays;


/**
 * The CPUs a container may use and the limits that narrow them.
 *
 * @param cpuset the cgroup's effective cpuset among the host's online CPUs (the host's online CPUs
 *     when unreadable), ascending
 * @param quotaMicros the tightest CFS quota of the cgroup and its ancestors per {@code periodMicros};
 *     -1 when none
 * @param shares the cgroup's CPU weight in v1 shares (1024 = the default; v2 cpu.weight × 1024 / 100,
 *     the kernel's own conversion)
 * @param visible the CPUs the view shows, host numbering, in order: the cpuset, cut to the first
 *     ceil(quota / period) when a quota is set (or ceil(shares / 1024) with
 *     {@link ViewOptions#cpusFromShares}), never fewer than one
 */
public record Cpus(int[] cpuset, long quotaMicros, long periodMicros, long shares, int[] visible) {
    public static final long DEFAULT_SHARES = 1024;
    private static final long DEFAULT_PERIOD = 100_000;

    public Cpus {
        cpuset = cpuset.clone();
        visible = visible.clone();
    }

    @Override
    public int[] cpuset() {
        return cpuset.clone();
    }

    @Override
    public int[] visible() {
        return visible.clone();
    }

    public int visibleCount() {
        return visible.length;
    }

    /** Host CPU number of the {@code index}th visible CPU. */
    public int visibleCpu(int index) {
        return visible[index];
    }

    /** Whether the view shows fewer CPUs than the host has online. */
    public boolean limited(HostInfo host) {
        return !Arrays.equals(visible, host.onlineCpus());
    }

    public static Cpus ofHost(HostInfo host) {
        int[] online = host.onlineCpus();
        return new Cpus(online, -1, DEFAULT_PERIOD, DEFAULT_SHARES, online);
    }

    /** Reads cpuset, quota and shares; anything unreadable counts as unlimited. */
    public static Cpus read(Cgroup cgroup, HostInfo host, ViewOptions options) {
        int[] online = host.onlineCpus();
        int[] cpuset = CpuList.intersect(readCpuset(cgroup), online);
        if (cpuset.length == 0) {
            cpuset = online;
        }
        long[] quota = cgroup.isUnified() ? quotaV2(cgroup) : quotaV1(cgroup);
        long shares = cgroup.isUnified()
                ? CgroupFiles.number(cgroup, "cpu", "cpu.weight").stream().map(w -> w * 1024 / 100).findFirst()
                        .orElse(DEFAULT_SHARES)
                : CgroupFiles.number(cgroup, "cpu", "cpu.shares").orElse(DEFAULT_SHARES);
        return of(cpuset, quota[0], quota[1], Math.max(2, shares), options);
    }

    /** Applies the CPU count rule to known numbers. */
    public static Cpus of(int[] cpuset, long quotaMicros, long periodMicros, long shares, ViewOptions options) {
        long count = cpuset.length;
        if (options.cpusFromShares()) {
            count = Math.min(count, Math.max(1, Math.ceilDiv(shares, DEFAULT_SHARES)));
        } else if (quotaMicros > 0 && periodMicros > 0) {
            count = Math.min(count, Math.max(1, Math.ceilDiv(quotaMicros, periodMicros)));
        }
        return new Cpus(cpuset, quotaMicros, periodMicros, shares, Arrays.copyOf(cpuset, (int) count));
    }

    private static int[] readCpuset(Cgroup cgroup) {
        // The effective list is what the kernel enforces (v2's cpuset.cpus may be empty = inherited).
        String[] files = cgroup.isUnified()
                ? new String[] {"cpuset.cpus.effective", "cpuset.cpus"}
                : new String[] {"cpuset.effective_cpus", "cpuset.cpus"};
        for (String file : files) {
            int[] cpus = CpuList.parse(cgroup.read("cpuset", file).orElse(""));
            if (cpus.length > 0) {
                return cpus;
            }
        }
        return new int[0];
    }

    /** {quota, period} of the tightest v1 cpu.cfs_quota_us up the tree; quota -1 when none. */
    private static long[] quotaV1(Cgroup cgroup) {
        long[] tightest = {-1, DEFAULT_PERIOD};
        Path dir = cgroup.dir("cpu").orElse(null);
        for (String text : CgroupFiles.upwards(cgroup, "cpu", "cpu.cfs_quota_us")) {
            long quota = Cgroup.parseLong(text).orElse(-1L);
            if (quota > 0) { // the period only matters where a quota is set
                tighten(tightest, quota, CgroupFiles.number(dir.resolve("cpu.cfs_period_us")).orElse(DEFAULT_PERIOD));
            }
            dir = dir.getParent();
        }
        return tightest;
    }

    /** {quota, period} of the tightest v2 cpu.max ("max 100000" or "150000 100000") up the tree. */
    private static long[] quotaV2(Cgroup cgroup) {
        long[] tightest = {-1, DEFAULT_PERIOD};
        for (String text : CgroupFiles.upwards(cgroup, "cpu", "cpu.max")) {
            String[] fields = text.split("\\s+");
            long quota = Cgroup.parseLong(fields[0]).orElse(-1L);
            long period = fields.length > 1 ? Cgroup.parseLong(fields[1]).orElse(DEFAULT_PERIOD) : DEFAULT_PERIOD;
            tighten(tightest, quota, period);
        }
        return tightest;
    }

    private static void tighten(long[] tightest, long quota, long period) {
        if (quota <= 0 || quota == Long.MAX_VALUE || period <= 0) {
            return;
        }
        if (tightest[0] < 0 || (double) quota / period < (double) tightest[0] / tightest[1]) {
            tightest[0] = quota;
            tightest[1] = period;
        }
    }

}
