package dev.vessel.view;

import dev.vessel.linux.Cgroup;
import java.util.Map;
import java.util.OptionalLong;

/**
 * A container's memory in bytes, resolved: every value is the cgroup's when it could be read and
 * the host's otherwise (capped at {@code totalBytes}), and none is negative.
 *
 * @param limited whether a memory limit below the host's MemTotal applies; when false the view
 *     shows the host's memory unchanged
 * @param totalBytes the limit, or the host's MemTotal; never 0
 * @param usageBytes memory charged to the cgroup (page cache included), as memory.usage_in_bytes /
 *     memory.current count it
 * @param swapLimited whether a swap limit applies (v1 memory.memsw.limit_in_bytes, v2 memory.swap.max)
 * @param swapTotalBytes the swap the container may use: its limit, never more than the host has
 * @param swapUsedBytes swap charged to the cgroup, at most swapTotalBytes
 */
public record Memory(
        boolean limited,
        long totalBytes,
        long usageBytes,
        long cacheBytes,
        long anonBytes,
        long activeAnonBytes,
        long inactiveAnonBytes,
        long activeFileBytes,
        long inactiveFileBytes,
        long shmemBytes,
        long mappedFileBytes,
        long unevictableBytes,
        long dirtyBytes,
        long writebackBytes,
        long slabReclaimableBytes,
        long slabUnreclaimableBytes,
        boolean swapLimited,
        long swapTotalBytes,
        long swapUsedBytes) {

    /** Limit minus usage, never below 0 (usage can exceed the limit briefly, or after a lowered limit). */
    public long freeBytes() {
        return Math.max(0, totalBytes - usageBytes);
    }

    /**
     * What the kernel's MemAvailable estimates: free memory plus what reclaim could return without
     * swapping — the file LRU pages and reclaimable slab — never more than the total.
     */
    public long availableBytes() {
        long reclaimable = activeFileBytes + inactiveFileBytes + slabReclaimableBytes;
        return Math.min(totalBytes, freeBytes() + reclaimable);
    }

    public long swapFreeBytes() {
        return Math.max(0, swapTotalBytes - swapUsedBytes);
    }

    /** The host's memory, as the view shows it when no limit applies or nothing could be read. */
    public static Memory ofHost(HostInfo host) {
        long total = host.memTotalBytes();
        long free = bytes(host, "MemFree", total);
        long cached = bytes(host, "Cached", total);
        long swapTotal = bytes(host, "SwapTotal", Long.MAX_VALUE);
        return new Memory(false, total, total - free, cached,
                bytes(host, "AnonPages", total),
                bytes(host, "Active(anon)", total), bytes(host, "Inactive(anon)", total),
                bytes(host, "Active(file)", total), bytes(host, "Inactive(file)", total),
                bytes(host, "Shmem", total), bytes(host, "Mapped", total), bytes(host, "Unevictable", total),
                bytes(host, "Dirty", total), bytes(host, "Writeback", total),
                bytes(host, "SReclaimable", total), bytes(host, "SUnreclaim", total),
                false, swapTotal, swapTotal - bytes(host, "SwapFree", swapTotal));
    }

    /** Reads the cgroup's memory controller; anything unreadable falls back to the host. */
    public static Memory read(Cgroup cgroup, HostInfo host) {
        return cgroup.isUnified() ? readV2(cgroup, host) : readV1(cgroup, host);
    }

    private static Memory readV1(Cgroup cgroup, HostInfo host) {
        // memory.stat carries the effective (hierarchical) limits and the swap in use, so one read
        // replaces four; the separate files are the fallback for a stat without them.
        Map<String, Long> stat = cgroup.readKeyed("memory", "memory.stat");
        OptionalLong limit = CgroupFiles.stat(stat, "hierarchical_memory_limit");
        if (limit.isEmpty()) {
            limit = CgroupFiles.number(cgroup, "memory", "memory.limit_in_bytes");
        }
        OptionalLong usage = CgroupFiles.number(cgroup, "memory", "memory.usage_in_bytes");
        // memsw counts memory + swap together; the swap part is the difference. Without swap
        // accounting (swapaccount=0) neither the stat keys nor the files exist.
        OptionalLong memswLimit = CgroupFiles.stat(stat, "hierarchical_memsw_limit");
        OptionalLong swapUsage = CgroupFiles.stat(stat, "total_swap", "swap");
        if (stat.isEmpty()) {
            memswLimit = CgroupFiles.number(cgroup, "memory", "memory.memsw.limit_in_bytes");
            OptionalLong memswUsage = CgroupFiles.number(cgroup, "memory", "memory.memsw.usage_in_bytes");
            if (usage.isPresent() && memswUsage.isPresent()) {
                swapUsage = OptionalLong.of(Math.max(0, memswUsage.getAsLong() - usage.getAsLong()));
            }
        }
        OptionalLong swapLimit = limit.isPresent() && memswLimit.isPresent() && memswLimit.getAsLong() != Long.MAX_VALUE
                ? OptionalLong.of(Math.max(0, memswLimit.getAsLong() - limit.getAsLong()))
                : OptionalLong.empty();
        return resolve(host, limit, usage, stat, V1_KEYS, swapLimit, swapUsage);
    }

    private static Memory readV2(Cgroup cgroup, HostInfo host) {
        Map<String, Long> stat = cgroup.readKeyed("memory", "memory.stat");
        return resolve(host,
                CgroupFiles.smallestUpwards(cgroup, "memory", "memory.max"),
                CgroupFiles.number(cgroup, "memory", "memory.current"),
                stat, V2_KEYS,
                CgroupFiles.smallestUpwards(cgroup, "memory", "memory.swap.max"),
                CgroupFiles.number(cgroup, "memory", "memory.swap.current"));
    }

    /** memory.stat names of each field, v1 (hierarchical first) and v2. */
    private record StatKeys(String[] cache, String[] anon, String[] activeAnon, String[] inactiveAnon,
            String[] activeFile, String[] inactiveFile, String[] shmem, String[] mappedFile,
            String[] unevictable, String[] dirty, String[] writeback, String[] slabReclaimable,
            String[] slabUnreclaimable) {}

    private static final StatKeys V1_KEYS = new StatKeys(
            keys("total_cache", "cache"), keys("total_rss", "rss"),
            keys("total_active_anon", "active_anon"), keys("total_inactive_anon", "inactive_anon"),
            keys("total_active_file", "active_file"), keys("total_inactive_file", "inactive_file"),
            keys("total_shmem", "shmem"), keys("total_mapped_file", "mapped_file"),
            keys("total_unevictable", "unevictable"), keys("total_dirty", "dirty"),
            keys("total_writeback", "writeback"), keys(), keys());

    private static final StatKeys V2_KEYS = new StatKeys(
            keys("file"), keys("anon"), keys("active_anon"), keys("inactive_anon"),
            keys("active_file"), keys("inactive_file"), keys("shmem"), keys("file_mapped"),
            keys("unevictable"), keys("file_dirty"), keys("file_writeback"),
            keys("slab_reclaimable"), keys("slab_unreclaimable"));

    private static Memory resolve(HostInfo host, OptionalLong limit, OptionalLong usage, Map<String, Long> stat,
            StatKeys keys, OptionalLong swapLimit, OptionalLong swapUsage) {
        Memory hostView = ofHost(host);
        long hostTotal = hostView.totalBytes();
        // "No limit" is "max" (v2), a huge page-rounded number (v1), or anything the host cannot back.
        if (limit.isEmpty() || limit.getAsLong() <= 0 || limit.getAsLong() >= hostTotal) {
            return hostView;
        }
        long total = limit.getAsLong();
        long hostSwap = hostView.swapTotalBytes();
        boolean swapLimited = swapLimit.isPresent() && swapLimit.getAsLong() < hostSwap;
        long swapTotal = swapLimited ? swapLimit.getAsLong() : hostSwap;
        return new Memory(true, total,
                usage.orElse(Math.min(total, hostView.usageBytes())),
                field(stat, keys.cache(), hostView.cacheBytes(), total),
                field(stat, keys.anon(), hostView.anonBytes(), total),
                field(stat, keys.activeAnon(), hostView.activeAnonBytes(), total),
                field(stat, keys.inactiveAnon(), hostView.inactiveAnonBytes(), total),
                field(stat, keys.activeFile(), hostView.activeFileBytes(), total),
                field(stat, keys.inactiveFile(), hostView.inactiveFileBytes(), total),
                field(stat, keys.shmem(), hostView.shmemBytes(), total),
                field(stat, keys.mappedFile(), hostView.mappedFileBytes(), total),
                field(stat, keys.unevictable(), hostView.unevictableBytes(), total),
                field(stat, keys.dirty(), hostView.dirtyBytes(), total),
                field(stat, keys.writeback(), hostView.writebackBytes(), total),
                // v1 does not account slab per cgroup: 0 rather than the host's whole slab.
                keys.slabReclaimable().length == 0 ? 0 : field(stat, keys.slabReclaimable(), 0, total),
                keys.slabUnreclaimable().length == 0 ? 0 : field(stat, keys.slabUnreclaimable(), 0, total),
                swapLimited, swapTotal, Math.min(swapTotal, swapUsage.orElse(0)));
    }

    /** A memory.stat value; when the cgroup does not have it, the host's, never above the limit. */
    private static long field(Map<String, Long> stat, String[] keys, long hostValue, long total) {
        return Math.min(total, CgroupFiles.stat(stat, keys).orElse(hostValue));
    }

    private static long bytes(HostInfo host, String key, long cap) {
        return Math.min(cap, Math.max(0, host.meminfoKb(key, 0)) * 1024);
    }

    private static String[] keys(String... keys) {
        return keys;
    }
}
