package dev.vessel.linux;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The cgroup of a process, on cgroup v1, v2 or the hybrid layout: where each controller's files
 * are, and reading them. Missing or unreadable files read as empty: a container can exit at any
 * moment, and callers fall back rather than fail.
 */
public final class Cgroup {
    private final Map<String, Path> dirs; // controller ("memory", "cpu", ... or "" for v2) -> directory
    private final boolean unified;

    private Cgroup(Map<String, Path> dirs, boolean unified) {
        this.dirs = dirs;
        this.unified = unified;
    }

    public static Cgroup ofProcess(long pid) throws IOException {
        return parse(Files.readAllLines(Path.of("/proc/" + pid + "/cgroup")),
                Files.readAllLines(Path.of("/proc/self/mountinfo")));
    }

    /** Builds the map from /proc/PID/cgroup and the mount table; pure, for tests. */
    public static Cgroup parse(List<String> procCgroup, List<String> mountinfo) {
        Map<String, Path> mounts = new HashMap<>();
        Path unifiedMount = null;
        for (String line : mountinfo) {
            String[] halves = line.split(" - ", 2);
            if (halves.length < 2) {
                continue;
            }
            String[] left = halves[0].split(" ");
            String[] right = halves[1].split(" ");
            Path mountPoint = Path.of(left[4]);
            if (right[0].equals("cgroup2")) {
                unifiedMount = mountPoint;
            } else if (right[0].equals("cgroup") && right.length > 2) {
                for (String option : right[2].split(",")) {
                    mounts.put(option, mountPoint);
                }
            }
        }
        Map<String, Path> dirs = new HashMap<>();
        boolean hasV1 = false;
        for (String line : procCgroup) {
            String[] parts = line.split(":", 3);
            if (parts.length < 3) {
                continue;
            }
            String relative = parts[2].startsWith("/") ? parts[2].substring(1) : parts[2];
            if (parts[1].isEmpty()) {
                if (unifiedMount != null) {
                    dirs.put("", unifiedMount.resolve(relative));
                }
                continue;
            }
            for (String controller : parts[1].split(",")) {
                Path mount = mounts.get(controller);
                if (mount != null) {
                    dirs.put(controller, mount.resolve(relative));
                    hasV1 = true;
                }
            }
        }
        return new Cgroup(dirs, !hasV1);
    }

    /**
     * The mount point of every cgroup hierarchy in the mount table (each v1 one, the v2 one), once
     * each even when a hierarchy is mounted twice, where its root is mounted rather than one of its
     * cgroups bind-mounted elsewhere; pure, for tests.
     */
    public static List<Path> hierarchyRoots(List<String> mountinfo) {
        Map<String, Path> bySuperblock = new LinkedHashMap<>();
        Map<String, Path> subtrees = new LinkedHashMap<>();
        for (String line : mountinfo) {
            String[] halves = line.split(" - ", 2);
            if (halves.length < 2) {
                continue;
            }
            String[] left = halves[0].split(" ");
            String type = halves[1].split(" ")[0];
            if (left.length > 4 && (type.equals("cgroup") || type.equals("cgroup2"))) {
                (left[3].equals("/") ? bySuperblock : subtrees).putIfAbsent(left[2], Path.of(left[4]));
            }
        }
        subtrees.forEach(bySuperblock::putIfAbsent);
        return List.copyOf(bySuperblock.values());
    }

    /**
     * The systemd service unit ({@code x.service}) whose cgroup the process is in, by its
     * /proc/PID/cgroup lines (the name=systemd hierarchy or the unified one); pure, for tests.
     */
    public static Optional<String> serviceUnit(List<String> procCgroup) {
        for (String line : procCgroup) {
            String[] parts = line.split(":", 3);
            if (parts.length == 3 && (parts[1].isEmpty() || parts[1].equals("name=systemd"))) {
                String leaf = Path.of(parts[2]).getFileName() == null ? "" : Path.of(parts[2]).getFileName().toString();
                if (leaf.endsWith(".service")) {
                    return Optional.of(leaf);
                }
            }
        }
        return Optional.empty();
    }

    /**
     * Moves process {@code pid}, all its threads, into the cgroup {@code name} (a relative path)
     * under the root of every hierarchy, creating it. Returns one line per hierarchy where that failed (empty when
     * it joined all of them). A new v1 cpuset has no CPUs and no memory nodes and refuses tasks
     * until it has some: it gets its parent's.
     */
    public static List<String> moveUnderRoots(long pid, String name) throws IOException {
        List<String> failures = new ArrayList<>();
        for (Path root : hierarchyRoots(Files.readAllLines(Path.of("/proc/self/mountinfo")))) {
            Path dir = root.resolve(name);
            try {
                Path parent = root;
                for (Path part : root.relativize(dir)) { // each level, so that a v1 cpuset gets CPUs at every one
                    Path level = parent.resolve(part);
                    Files.createDirectories(level);
                    for (String file : List.of("cpuset.cpus", "cpuset.mems")) {
                        if (Files.exists(level.resolve(file)) && readFile(level.resolve(file)).orElse("").isEmpty()) {
                            Files.writeString(level.resolve(file), readFile(parent.resolve(file)).orElse(""));
                        }
                    }
                    parent = level;
                }
                Files.writeString(dir.resolve("cgroup.procs"), Long.toString(pid));
            } catch (IOException | RuntimeException e) {
                failures.add(dir + ": " + e.getMessage());
            }
        }
        return failures;
    }

    public boolean isUnified() {
        return unified;
    }

    /** The directory holding a v1 controller's files, or the v2 directory. */
    public Optional<Path> dir(String controller) {
        return Optional.ofNullable(unified ? dirs.get("") : dirs.get(controller));
    }

    /** A file's contents, trimmed, or empty when it does not exist or cannot be read. */
    public Optional<String> read(String controller, String file) {
        return dir(controller).flatMap(d -> readFile(d.resolve(file)));
    }

    public long readLong(String controller, String file, long fallback) {
        return read(controller, file).flatMap(Cgroup::parseLong).orElse(fallback);
    }

    /** "key value" lines (memory.stat, cpu.stat, memory.events) as a map. */
    public Map<String, Long> readKeyed(String controller, String file) {
        Map<String, Long> values = new HashMap<>();
        read(controller, file).ifPresent(text -> text.lines().forEach(line -> {
            String[] kv = line.trim().split("\\s+");
            if (kv.length == 2) {
                parseLong(kv[1]).ifPresent(v -> values.put(kv[0], v));
            }
        }));
        return values;
    }

    public static Optional<String> readFile(Path file) {
        try {
            return Optional.of(Files.readString(file).trim());
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** A number as cgroup files write it; "max" (no limit) reads as {@link Long#MAX_VALUE}. */
    public static Optional<Long> parseLong(String text) {
        String t = text.trim();
        if (t.equals("max")) {
            return Optional.of(Long.MAX_VALUE);
        }
        try {
            return Optional.of(Long.parseLong(t));
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }
}
