package dev.vessel.view;

import java.util.Arrays;
import java.util.TreeSet;

/** The kernel's CPU list format ("0-3,5"), as cpuset files and /sys/devices/system/cpu/online write it. */
final class CpuList {
    private CpuList() {}

    /** The CPU numbers in the list, ascending and distinct; empty for blank or malformed text. */
    static int[] parse(String text) {
        TreeSet<Integer> cpus = new TreeSet<>();
        String t = text.strip();
        if (t.isEmpty()) {
            return new int[0];
        }
        try {
            for (String part : t.split(",")) {
                String range = part.strip();
                int dash = range.indexOf('-');
                int first = Integer.parseInt(dash < 0 ? range : range.substring(0, dash));
                int last = dash < 0 ? first : Integer.parseInt(range.substring(dash + 1));
                if (first < 0 || last < first || last - first > 65535) {
                    return new int[0];
                }
                for (int cpu = first; cpu <= last; cpu++) {
                    cpus.add(cpu);
                }
            }
        } catch (NumberFormatException e) {
            return new int[0];
        }
        return cpus.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Ascending CPU numbers as the kernel writes them, ranges collapsed: {0,1,2,5} → "0-2,5". */
    static String format(int[] cpus) {
        int[] sorted = Arrays.stream(cpus).sorted().distinct().toArray();
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < sorted.length; ) {
            int j = i;
            while (j + 1 < sorted.length && sorted[j + 1] == sorted[j] + 1) {
                j++;
            }
            if (!out.isEmpty()) {
                out.append(',');
            }
            out.append(sorted[i]);
            if (j > i) {
                out.append('-').append(sorted[j]);
            }
            i = j + 1;
        }
        return out.toString();
    }

    /** The CPUs of {@code wanted} that are also in {@code available}, in wanted's order. */
    static int[] intersect(int[] wanted, int[] available) {
        return Arrays.stream(wanted).filter(cpu -> Arrays.binarySearch(available, cpu) >= 0).toArray();
    }
}
