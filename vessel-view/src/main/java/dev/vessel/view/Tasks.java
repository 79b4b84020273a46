package dev.vessel.view;

import dev.vessel.linux.Cgroup;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.stream.Stream;

/**
 * The container's tasks: its cgroup and the cgroups below it (a container may make its own).
 *
 * @param known whether the task lists could be read; when false the view shows host counts
 * @param processes thread-group leaders (cgroup.procs)
 * @param threads all threads (v1 tasks, v2 cgroup.threads), what loadavg's "total" counts
 * @param running threads in state R (loadavg's 4th field counts these)
 * @param uninterruptible threads in state D (the kernel's load counts R and D)
 * @param earliestStartTicks the start of the oldest process, in USER_HZ ticks since boot (the
 *     container's init: it lives as long as the container); -1 when unknown
 */
public record Tasks(boolean known, int processes, int threads, int running, int uninterruptible, long earliestStartTicks) {
    public static final Tasks UNKNOWN = new Tasks(false, 0, 0, 0, 0, -1);
    private static final int MAX_DEPTH = 16;

    /** What the kernel's load average counts: running and uninterruptible threads. */
    public int loadContributors() {
        return running + uninterruptible;
    }

    /**
     * Counts the tasks. With {@code countRunnable} it reads every thread's state, with
     * {@code findStart} every process's start time: both cost a file read per task.
     */
    public static Tasks read(Cgroup cgroup, HostInfo host, boolean countRunnable, boolean findStart) {
        Path dir = taskDir(cgroup);
        if (dir == null) {
            return UNKNOWN;
        }
        List<Path> dirs = subtree(dir, cgroup.isUnified());
        List<Long> processes = ids(dirs, "cgroup.procs");
        if (processes == null) {
            return UNKNOWN;
        }
        List<Long> threads = ids(dirs, cgroup.isUnified() ? "cgroup.threads" : "tasks");
        if (threads == null) {
            threads = processes;
        }
        int running = 0;
        int uninterruptible = 0;
        if (countRunnable) {
            for (long tid : threads) {
                char state = ProcessStat.state(host.processStat(tid).orElse(""));
                if (state == 'R') {
                    running++;
                } else if (state == 'D') {
                    uninterruptible++;
                }
            }
        }
        long earliest = -1;
        if (findStart) {
            for (long pid : processes) {
                OptionalLong start = ProcessStat.startTicks(host.processStat(pid).orElse(""));
                if (start.isPresent() && (earliest < 0 || start.getAsLong() < earliest)) {
                    earliest = start.getAsLong();
                }
            }
        }
        return new Tasks(true, processes.size(), threads.size(), running, uninterruptible, earliest);
    }

    private static Path taskDir(Cgroup cgroup) {
        for (String controller : new String[] {"cpu", "cpuacct", "memory", "pids"}) {
            var dir = cgroup.dir(controller);
            if (dir.isPresent()) {
                return dir.get();
            }
        }
        return null;
    }

    /**
     * The directory, and the cgroups below it when there are any: v2 says so in cgroup.stat; on v1
     * a cgroup that lists no process of its own is looked into. Listing a tree is costly, and a
     * container's cgroup is nearly always a leaf.
     */
    private static List<Path> subtree(Path dir, boolean unified) {
        boolean hasChildren = unified
                ? Cgroup.readFile(dir.resolve("cgroup.stat")).map(t -> !t.contains("nr_descendants 0")).orElse(false)
                : Cgroup.readFile(dir.resolve("cgroup.procs")).map(String::isEmpty).orElse(false);
        if (!hasChildren) {
            return List.of(dir);
        }
        try (Stream<Path> walk = Files.walk(dir, MAX_DEPTH)) {
            return walk.filter(Files::isDirectory).toList();
        } catch (IOException | RuntimeException e) {
            return List.of(dir);
        }
    }

    /** The ids listed in {@code file} across the directories; null when the first cannot be read. */
    private static List<Long> ids(List<Path> dirs, String file) {
        List<Long> ids = new ArrayList<>();
        for (int i = 0; i < dirs.size(); i++) {
            var text = Cgroup.readFile(dirs.get(i).resolve(file));
            if (text.isEmpty()) {
                if (i == 0) {
                    return null;
                }
                continue;
            }
            text.get().lines().forEach(line -> Cgroup.parseLong(line).ifPresent(ids::add));
        }
        return ids;
    }
}
