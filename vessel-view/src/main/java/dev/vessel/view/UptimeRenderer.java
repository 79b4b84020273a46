package dev.vessel.view;

import java.util.Locale;

/**
 * /proc/uptime: seconds since the container started (its oldest process, as lxcfs uses its init's
 * start), and idle seconds summed over its visible CPUs — its CPU time subtracted from the time
 * those CPUs existed for it when accounting is readable, else the host's idle scaled to its CPUs.
 */
final class UptimeRenderer {
    private UptimeRenderer() {}

    static String render(ContainerResources resources, HostInfo host, double now) {
        double uptime = resources.uptimeSeconds(now);
        if (uptime < 0) {
            return host.uptime();
        }
        return format(uptime, idleSeconds(resources, host, uptime));
    }

    static double idleSeconds(ContainerResources resources, HostInfo host, double uptime) {
        int n = resources.cpus().visibleCount();
        double available = uptime * n;
        CpuUsage usage = resources.cpuUsage();
        double idle = usage.known()
                ? available - usage.totalNanos() / 1e9
                : host.idleSeconds() * n / host.onlineCpus().length;
        return Math.clamp(idle, 0, available);
    }

    static String format(double uptime, double idle) {
        return String.format(Locale.ROOT, "%.2f %.2f%n", uptime, idle);
    }
}
