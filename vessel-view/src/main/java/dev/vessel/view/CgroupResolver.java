package dev.vessel.view;

import dev.vessel.linux.Cgroup;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Finds a process's cgroup as {@link Cgroup#ofProcess} does (its /proc/PID/cgroup against the
 * daemon's mount table), remembering the answer for a second so a tool reading several files
 * pays once. Entries are keyed by pid and the process's start time: a reused pid is a new process
 * and is looked up afresh. The mount table is re-read every few seconds.
 */
final class CgroupResolver {
    private static final long CGROUP_TTL_NANOS = 1_000_000_000L;
    private static final long MOUNTS_TTL_NANOS = 5_000_000_000L;
    private static final int MAX_ENTRIES = 4096;

    private record Entry(long startTicks, Cgroup cgroup, long resolvedAt) {}

    private record Mounts(List<String> lines, long readAt) {}

    private final Path root;
    private final Map<Long, Entry> byPid = new ConcurrentHashMap<>();
    private volatile Mounts mounts;

    CgroupResolver(Path root) {
        this.root = root;
    }

    /** The process's cgroup, or empty when it has exited or its files cannot be read. */
    Optional<Cgroup> resolve(long pid, HostInfo host) {
        if (pid <= 0) {
            return Optional.empty();
        }
        OptionalLong start = ProcessStat.startTicks(host.processStat(pid).orElse(""));
        if (start.isEmpty()) {
            return Optional.empty(); // gone, or never was
        }
        long now = System.nanoTime();
        Entry cached = byPid.get(pid);
        if (cached != null && cached.startTicks() == start.getAsLong() && now - cached.resolvedAt() < CGROUP_TTL_NANOS) {
            return Optional.of(cached.cgroup());
        }
        List<String> procCgroup;
        try {
            procCgroup = Files.readAllLines(root.resolve("proc/" + pid + "/cgroup"));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
        Cgroup cgroup = Cgroup.parse(procCgroup, mountinfo(now));
        if (byPid.size() >= MAX_ENTRIES) {
            byPid.values().removeIf(e -> now - e.resolvedAt() >= CGROUP_TTL_NANOS);
            if (byPid.size() >= MAX_ENTRIES) {
                byPid.clear();
            }
        }
        byPid.put(pid, new Entry(start.getAsLong(), cgroup, now));
        return Optional.of(cgroup);
    }

    private List<String> mountinfo(long now) {
        Mounts current = mounts;
        if (current == null || now - current.readAt() >= MOUNTS_TTL_NANOS) {
            List<String> lines;
            try {
                lines = Files.readAllLines(root.resolve("proc/self/mountinfo"));
            } catch (IOException | RuntimeException e) {
                lines = current != null ? current.lines() : List.of();
            }
            current = new Mounts(lines, now);
            mounts = current;
        }
        return current.lines();
    }
}
