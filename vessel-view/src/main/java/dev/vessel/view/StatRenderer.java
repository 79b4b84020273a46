package dev.vessel.view;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * /proc/stat: the "cpu" total line and one "cpuN" line per visible CPU, renumbered 0..n-1; the
 * other lines (intr, ctxt, btime, processes, ...) are the host's.
 *
 * <p>With the cgroup's CPU accounting readable, each line shows the container's user and system
 * time, and idle is the rest of the time the CPU existed for the container (its uptime, or the
 * host's time for that CPU when the start is unknown), so user+system+idle adds up and tools such
 * as top compute sensible percentages; nice, iowait, irq, softirq, steal and guest are 0, having no
 * cgroup counterpart. Time a container spent on CPUs it is not shown (a quota narrows the cpuset)
 * is folded onto the shown ones, as lxcfs does, so no CPU time is lost. Without accounting, the
 * visible CPUs' host lines are shown.
 */
final class StatRenderer {
    private StatRenderer() {}

    private static final long NANOS_PER_TICK = 1_000_000_000L / HostInfo.USER_HZ;
    private static final int USER = 0;
    private static final int SYSTEM = 2;
    private static final int IDLE = 3;

    static String render(ContainerResources resources, HostInfo host, double now) {
        String hostText = host.stat();
        Cpus cpus = resources.cpus();
        CpuUsage usage = resources.cpuUsage();
        if (hostText.isEmpty() || (!usage.known() && !cpus.limited(host))) {
            return hostText;
        }
        HostCpuLines hostLines = HostCpuLines.parse(hostText);
        int n = cpus.visibleCount();
        long[][] rows = usage.known()
                ? containerRows(resources, hostLines, now)
                : hostRows(cpus, hostLines);
        StringBuilder out = new StringBuilder(hostText.length());
        boolean cpuLinesWritten = false;
        for (String line : hostText.split("\n")) {
            if (line.startsWith("cpu")) {
                if (!cpuLinesWritten) {
                    appendCpuLines(out, rows, n);
                    cpuLinesWritten = true;
                }
            } else if (!line.isEmpty()) {
                out.append(line).append('\n');
            }
        }
        return out.toString();
    }

    private static void appendCpuLines(StringBuilder out, long[][] rows, int n) {
        long[] total = new long[rows.length == 0 ? 10 : rows[0].length];
        for (long[] row : rows) {
            for (int f = 0; f < total.length; f++) {
                total[f] += row[f];
            }
        }
        appendRow(out, "cpu ", total); // the kernel pads the total line's name with a second space
        for (int i = 0; i < n; i++) {
            appendRow(out, "cpu" + i, rows[i]);
        }
    }

    private static void appendRow(StringBuilder out, String name, long[] row) {
        out.append(name);
        for (long value : row) {
            out.append(' ').append(Math.max(0, value));
        }
        out.append('\n');
    }

    /** The container's user and system ticks per visible CPU, idle the rest of its time. */
    private static long[][] containerRows(ContainerResources resources, HostCpuLines host, double now) {
        Cpus cpus = resources.cpus();
        CpuUsage usage = resources.cpuUsage();
        int n = cpus.visibleCount();
        long[] nanos = usagePerVisibleCpu(cpus, usage);
        double userShare = usage.totalNanos() == 0 ? 1 : (double) usage.userNanos() / usage.totalNanos();
        double uptime = resources.uptimeSeconds(now);
        long[][] rows = new long[n][host.fieldCount()];
        for (int i = 0; i < n; i++) {
            long ticks = nanos[i] / NANOS_PER_TICK;
            long user = Math.round(ticks * userShare);
            long elapsed = uptime >= 0 ? (long) (uptime * HostInfo.USER_HZ) : host.totalTicks(cpus.visibleCpu(i));
            rows[i][USER] = user;
            rows[i][SYSTEM] = ticks - user;
            rows[i][IDLE] = Math.max(0, elapsed - ticks);
        }
        return rows;
    }

    /** Nanoseconds of CPU time per visible CPU, folding time on hidden CPUs onto visible ones. */
    static long[] usagePerVisibleCpu(Cpus cpus, CpuUsage usage) {
        int n = cpus.visibleCount();
        long[] nanos = new long[n];
        if (!usage.perCpuKnown()) {
            // v2 accounts no per-CPU time: spread the total evenly.
            long total = usage.totalNanos();
            for (int i = 0; i < n; i++) {
                nanos[i] = total / n + (i < total % n ? 1 : 0);
            }
            return nanos;
        }
        int[] visible = cpus.visible();
        long[] perCpu = usage.perCpuNanos();
        int folded = 0;
        for (int cpu = 0; cpu < perCpu.length; cpu++) {
            if (perCpu[cpu] == 0) {
                continue;
            }
            int index = indexOf(visible, cpu);
            nanos[index >= 0 ? index : folded++ % n] += perCpu[cpu];
        }
        return nanos;
    }

    /** Without accounting: the host's lines of the visible CPUs, in the view's order. */
    private static long[][] hostRows(Cpus cpus, HostCpuLines host) {
        long[][] rows = new long[cpus.visibleCount()][];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = host.row(cpus.visibleCpu(i));
        }
        return rows;
    }

    private static int indexOf(int[] values, int value) {
        for (int i = 0; i < values.length; i++) {
            if (values[i] == value) {
                return i;
            }
        }
        return -1;
    }

    /** The host's "cpuN" lines, by CPU number. */
    private record HostCpuLines(List<long[]> rows, int fieldCount) {
        static HostCpuLines parse(String stat) {
            List<long[]> rows = new ArrayList<>();
            int fieldCount = 10;
            for (String line : stat.split("\n")) {
                if (!line.startsWith("cpu") || line.startsWith("cpu ")) {
                    continue;
                }
                String[] fields = line.split("\\s+");
                int cpu;
                try {
                    cpu = Integer.parseInt(fields[0].substring(3));
                } catch (NumberFormatException e) {
                    continue;
                }
                long[] row = new long[fields.length - 1];
                for (int f = 1; f < fields.length; f++) {
                    row[f - 1] = ticks(fields[f]);
                }
                fieldCount = row.length;
                while (rows.size() <= cpu) {
                    rows.add(null);
                }
                rows.set(cpu, row);
            }
            return new HostCpuLines(rows, Math.max(4, fieldCount));
        }

        long[] row(int cpu) {
            long[] row = cpu < rows.size() ? rows.get(cpu) : null;
            return row == null ? new long[fieldCount] : Arrays.copyOf(row, fieldCount);
        }

        /**
         * All the time the host accounted to a CPU, user to steal (guest time is already in user);
         * idle time is derived from it when the container's start is unknown.
         */
        long totalTicks(int cpu) {
            long[] row = row(cpu);
            long total = 0;
            for (int f = 0; f < Math.min(8, row.length); f++) {
                total += row[f];
            }
            return total;
        }

        private static long ticks(String text) {
            try {
                return Math.max(0, Long.parseLong(text));
            } catch (NumberFormatException e) {
                return 0;
            }
        }
    }
}
