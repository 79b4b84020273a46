package dev.vessel.view;

import java.util.Map;
import java.util.function.ToLongFunction;

/**
 * /proc/meminfo: every line the host has, in its order and layout, with the cgroup's numbers where
 * the cgroup has a counterpart. A line without one keeps the host's value, capped at MemTotal, so
 * no figure claims more memory than the container may have.
 */
final class MeminfoRenderer {
    private MeminfoRenderer() {}

    /** meminfo keys the cgroup answers, in bytes. */
    private static final Map<String, ToLongFunction<Memory>> FROM_CGROUP = Map.ofEntries(
            Map.entry("MemTotal", Memory::totalBytes),
            Map.entry("MemFree", Memory::freeBytes),
            Map.entry("MemAvailable", Memory::availableBytes),
            Map.entry("Buffers", m -> 0), // no per-cgroup counterpart; buffers are counted in Cached
            Map.entry("Cached", Memory::cacheBytes),
            Map.entry("SwapCached", m -> 0),
            Map.entry("Active", m -> m.activeAnonBytes() + m.activeFileBytes()),
            Map.entry("Inactive", m -> m.inactiveAnonBytes() + m.inactiveFileBytes()),
            Map.entry("Active(anon)", Memory::activeAnonBytes),
            Map.entry("Inactive(anon)", Memory::inactiveAnonBytes),
            Map.entry("Active(file)", Memory::activeFileBytes),
            Map.entry("Inactive(file)", Memory::inactiveFileBytes),
            Map.entry("Unevictable", Memory::unevictableBytes),
            Map.entry("SwapTotal", Memory::swapTotalBytes),
            Map.entry("SwapFree", Memory::swapFreeBytes),
            Map.entry("Dirty", Memory::dirtyBytes),
            Map.entry("Writeback", Memory::writebackBytes),
            Map.entry("AnonPages", Memory::anonBytes),
            Map.entry("Mapped", Memory::mappedFileBytes),
            Map.entry("Shmem", Memory::shmemBytes),
            Map.entry("KReclaimable", Memory::slabReclaimableBytes),
            Map.entry("Slab", m -> m.slabReclaimableBytes() + m.slabUnreclaimableBytes()),
            Map.entry("SReclaimable", Memory::slabReclaimableBytes),
            Map.entry("SUnreclaim", Memory::slabUnreclaimableBytes));

    /** What the kernel writes first, for when the host's own file cannot be read. */
    private static final String MINIMAL = """
            MemTotal: 0 kB
            MemFree: 0 kB
            MemAvailable: 0 kB
            Buffers: 0 kB
            Cached: 0 kB
            SwapCached: 0 kB
            Active: 0 kB
            Inactive: 0 kB
            Active(anon): 0 kB
            Inactive(anon): 0 kB
            Active(file): 0 kB
            Inactive(file): 0 kB
            Unevictable: 0 kB
            SwapTotal: 0 kB
            SwapFree: 0 kB
            Dirty: 0 kB
            Writeback: 0 kB
            AnonPages: 0 kB
            Mapped: 0 kB
            Shmem: 0 kB
            """;

    static String render(ContainerResources resources, HostInfo host, double now) {
        Memory memory = resources.memory();
        String hostText = host.meminfo();
        if (!memory.limited() && !hostText.isEmpty()) {
            return hostText;
        }
        long totalKb = memory.totalBytes() / 1024;
        StringBuilder out = new StringBuilder(hostText.length() + 64);
        (hostText.isEmpty() ? MINIMAL : hostText).lines().forEach(line -> {
            String key = MeminfoText.key(line);
            ToLongFunction<Memory> value = key == null ? null : FROM_CGROUP.get(key);
            boolean kilobytes = line.endsWith(" kB");
            if (value != null) {
                out.append(MeminfoText.line(key, Math.max(0, value.applyAsLong(memory)) / 1024, kilobytes));
            } else if (key != null && kilobytes) {
                long hostValue = host.meminfoKb(key, 0);
                out.append(MeminfoText.line(key, Math.clamp(hostValue, 0, totalKb), true));
            } else {
                out.append(line).append('\n'); // counts such as HugePages_Total: the host's
            }
        });
        return out.toString();
    }
}
