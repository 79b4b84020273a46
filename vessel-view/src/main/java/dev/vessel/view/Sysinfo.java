package dev.vessel.view;

/**
 * The fields of {@code struct sysinfo} as sysinfo(2) fills them, for one container. Loads are in
 * the kernel's fixed point (1.0 = 1 << 16); memory sizes are in units of {@code memUnit} bytes (1).
 */
public record Sysinfo(long uptime, long[] loads, long totalram, long freeram, long sharedram, long bufferram,
        long totalswap, long freeswap, int procs, long totalhigh, long freehigh, int memUnit) {
    public static final int LOAD_SCALE = 1 << 16;

    public Sysinfo {
        loads = loads.clone();
    }

    @Override
    public long[] loads() {
        return loads.clone();
    }

    /** The container's numbers; each falls back to the host's inside {@link ContainerResources}. */
    static Sysinfo of(ContainerResources resources, HostInfo host, double now) {
        Memory memory = resources.memory();
        double uptime = resources.uptimeSeconds(now);
        if (uptime < 0) {
            uptime = host.uptimeSeconds();
        }
        Loads loads = resources.loads().known() ? resources.loads() : Loads.ofHost(host);
        Tasks tasks = resources.tasks();
        int procs = tasks.known() ? tasks.threads() : hostThreads(host);
        return new Sysinfo(
                (long) Math.ceil(uptime), // the kernel rounds a partial second up
                new long[] {fixedPoint(loads.one()), fixedPoint(loads.five()), fixedPoint(loads.fifteen())},
                memory.totalBytes(),
                memory.freeBytes(), // MemFree, as the kernel's freeram is
                memory.shmemBytes(),
                memory.limited() ? 0 : kb(host, "Buffers", memory.totalBytes()), // as /proc/meminfo shows
                memory.swapTotalBytes(),
                memory.swapFreeBytes(),
                Math.clamp(procs, 0, 0xffff), // an unsigned short in the kernel's struct
                0, 0, 1);
    }

    private static long fixedPoint(double load) {
        return Math.round(Math.max(0, load) * LOAD_SCALE);
    }

    private static long kb(HostInfo host, String key, long cap) {
        return Math.clamp(host.meminfoKb(key, 0) * 1024, 0, cap);
    }

    /** The total in /proc/loadavg's "running/total" field. */
    private static int hostThreads(HostInfo host) {
        String[] fields = host.loadavg().strip().split("\\s+");
        if (fields.length >= 4 && fields[3].contains("/")) {
            try {
                return Integer.parseInt(fields[3].substring(fields[3].indexOf('/') + 1));
            } catch (NumberFormatException e) {
                return 0;
            }
        }
        return 0;
    }
}
