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
 * daemon's mount table), remembering the answer so a tool reading several files pays once.
 *
 * <p>Entries are keyed by pid and the process's start time, so a reused pid is a new process. An
 * entry younger than {@link #TRUST_NANOS} is used without looking at /proc at all: the caller is
 * alive (it is waiting for our answer), and for its pid to have been freed and handed to another
 * process in that time the pid space would have to wrap. Older entries are checked against the
 * start time; after {@link #RESOLVE_NANOS} the cgroup is read again (processes can be moved).
 */
final class CgroupResolver {
    static final long TRUST_NANOS = 250_000_000L;
    static final long RESOLVE_NANOS = 2_000_000_000L;
    private static final long MOUNTS_TTL_NANOS = 5_000_000_000L;
    private static final int MAX_ENTRIES = 4096;

    /** A resolved cgroup; {@code key} (the /proc/PID/cgroup text) names it for caches. */
    record Resolved(String key, Cgroup cgroup) {}

    private record Entry(long startTicks, Resolved resolved, long checkedAt, long resolvedAt) {}

    private record Mounts(List<String> lines, long readAt) {}

    private final Path root;
    private final Map<Long, Entry> byPid = new ConcurrentHashMap<>();
    private volatile Mounts mounts;

    CgroupResolver(Path root) {
        this.root = root;
    }

    /**
     * The process's cgroup; empty when it has exited, its files cannot be read, or it sits at the
     * root of every hierarchy (a host process, not a container).
     */
    Optional<Resolved> resolve(long pid, HostInfo host) {
        if (pid <= 0) {
            return Optional.empty();
        }
        long now = System.nanoTime();
        Entry cached = byPid.get(pid);
        if (cached != null && now - cached.checkedAt() < TRUST_NANOS) {
            return Optional.ofNullable(cached.resolved());
        }
        OptionalLong start = ProcessStat.startTicks(host.processStat(pid).orElse(""));
        if (start.isEmpty()) {
            byPid.remove(pid);
            return Optional.empty(); // gone, or never was
        }
        if (cached != null && cached.startTicks() == start.getAsLong() && now - cached.resolvedAt() < RESOLVE_NANOS) {
            byPid.put(pid, new Entry(cached.startTicks(), cached.resolved(), now, cached.resolvedAt()));
            return Optional.ofNullable(cached.resolved());
        }
        String procCgroup;
        try {
            procCgroup = Files.readString(root.resolve("proc/" + pid + "/cgroup"));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
        List<String> lines = procCgroup.lines().toList();
        Resolved resolved = atRootOnly(lines) ? null
                : new Resolved(procCgroup, Cgroup.parse(lines, mountinfo(now)));
        remember(pid, new Entry(start.getAsLong(), resolved, now, now));
        return Optional.ofNullable(resolved);
    }

    /** "0::/" and "4:memory:/" everywhere: the process is the host's. */
    private static boolean atRootOnly(List<String> procCgroup) {
        return procCgroup.stream().map(line -> line.split(":", 3))
                .allMatch(parts -> parts.length < 3 || parts[2].equals("/"));
    }

    private void remember(long pid, Entry entry) {
        if (byPid.size() >= MAX_ENTRIES) {
            long now = entry.checkedAt();
            byPid.values().removeIf(e -> now - e.resolvedAt() >= RESOLVE_NANOS);
            if (byPid.size() >= MAX_ENTRIES) {
                byPid.clear();
            }
        }
        byPid.put(pid, entry);
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
