package dev.vessel.view;

import java.util.Locale;

/**
 * /proc/loadavg: "1.00 0.50 0.20 1/12 4567". The three averages are the container's as estimated by
 * {@link LoadTracker}; the fourth field is its running threads over all its threads, the caller
 * counted as running as the kernel counts the reader of this file; the last pid is the host's (the
 * kernel's figure, not the container's). Without task lists it is the host's file.
 */
final class LoadavgRenderer {
    private LoadavgRenderer() {}

    static String render(ContainerResources resources, HostInfo host, double now) {
        Tasks tasks = resources.tasks();
        Loads loads = resources.loads();
        String hostText = host.loadavg();
        if (!tasks.known() || !loads.known()) {
            return hostText;
        }
        String[] fields = hostText.strip().split("\\s+");
        String lastPid = fields.length >= 5 ? fields[4] : "0";
        int threads = Math.max(1, tasks.threads());
        int running = Math.clamp(tasks.running(), 1, threads);
        return String.format(Locale.ROOT, "%.2f %.2f %.2f %d/%d %s%n",
                loads.one(), loads.five(), loads.fifteen(), running, threads, lastPid);
    }
}
