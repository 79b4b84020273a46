package dev.vessel.view;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * /proc/cpuinfo: the blocks of the visible CPUs only, renumbered 0..n-1 as lxcfs does (programs count
 * "processor" lines and expect them dense), with "siblings" and "cpu cores" saying n. Other fields
 * (physical id, core id, apicid) stay the host's.
 */
final class CpuinfoRenderer {
    private CpuinfoRenderer() {}

    private static final Pattern PROCESSOR = Pattern.compile("(?m)^processor\\s*:\\s*(\\d+)\\s*$");
    private static final Pattern SIBLINGS = Pattern.compile("(?m)^(siblings\\s*:\\s*)(\\d+)\\s*$");
    private static final Pattern CORES = Pattern.compile("(?m)^(cpu cores\\s*:\\s*)(\\d+)\\s*$");

    static String render(ContainerResources resources, HostInfo host, double now) {
        String hostText = host.cpuinfo();
        Cpus cpus = resources.cpus();
        if (!cpus.limited(host)) {
            return hostText;
        }
        Map<Integer, String> byCpu = new HashMap<>();
        List<String> otherBlocks = new ArrayList<>(); // e.g. arm32's trailing "Hardware" block
        for (String rawBlock : hostText.split("\n\n")) {
            String block = trimNewlines(rawBlock);
            if (block.isBlank()) {
                continue;
            }
            Matcher processor = PROCESSOR.matcher(block);
            if (processor.find()) {
                byCpu.put(Integer.parseInt(processor.group(1)), block);
            } else {
                otherBlocks.add(block);
            }
        }
        int n = cpus.visibleCount();
        if (byCpu.isEmpty()) {
            return hostText; // a layout without "processor" blocks (s390): leave it alone
        }
        StringBuilder out = new StringBuilder(hostText.length());
        for (int i = 0; i < n; i++) {
            String block = byCpu.get(cpus.visibleCpu(i));
            if (block == null) {
                continue;
            }
            block = PROCESSOR.matcher(block).replaceFirst("processor\t: " + i);
            block = adjustTopology(block, n);
            out.append(block).append("\n\n");
        }
        for (String block : otherBlocks) {
            out.append(block).append("\n\n");
        }
        return out.toString();
    }

    private static String trimNewlines(String block) {
        int start = 0;
        int end = block.length();
        while (start < end && block.charAt(start) == '\n') {
            start++;
        }
        while (end > start && block.charAt(end - 1) == '\n') {
            end--;
        }
        return block.substring(start, end);
    }

    /** siblings = n threads; cpu cores = n divided by the host's threads per core, at least 1. */
    private static String adjustTopology(String block, int n) {
        Matcher siblings = SIBLINGS.matcher(block);
        Matcher cores = CORES.matcher(block);
        if (!siblings.find() || !cores.find()) {
            return block;
        }
        int threadsPerCore = Math.max(1,
                Integer.parseInt(siblings.group(2)) / Math.max(1, Integer.parseInt(cores.group(2))));
        int coreCount = Math.max(1, Math.ceilDiv(n, threadsPerCore));
        block = SIBLINGS.matcher(block).replaceFirst("$1" + n);
        return CORES.matcher(block).replaceFirst("$1" + coreCount);
    }
}
