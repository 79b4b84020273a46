package dev.vessel.view;

import dev.vessel.linux.Cgroup;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/** Reading helpers over {@link Cgroup} that the resource readers share. */
final class CgroupFiles {
    private CgroupFiles() {}

    /** The controller's directory and its ancestors that hold {@code file}, nearest first. */
    static List<Path> ancestorsWith(Cgroup cgroup, String controller, String file) {
        List<Path> dirs = new ArrayList<>();
        Path dir = cgroup.dir(controller).orElse(null);
        // Limits are inherited: a parent (a pod, a slice) may be tighter than the container itself.
        // The walk stops at the first directory without the file, i.e. above the hierarchy's root.
        while (dir != null && java.nio.file.Files.isReadable(dir.resolve(file))) {
            dirs.add(dir);
            dir = dir.getParent();
        }
        return dirs;
    }

    /** A number file; empty when missing, unreadable or not a number. "max" reads as Long.MAX_VALUE. */
    static OptionalLong number(Cgroup cgroup, String controller, String file) {
        return toOptional(cgroup.read(controller, file).flatMap(Cgroup::parseLong));
    }

    static OptionalLong number(Path file) {
        return toOptional(Cgroup.readFile(file).flatMap(Cgroup::parseLong));
    }

    /** The smallest value of {@code file} in the directory and its ancestors (the effective limit). */
    static OptionalLong smallestUpwards(Cgroup cgroup, String controller, String file) {
        OptionalLong smallest = OptionalLong.empty();
        for (Path dir : ancestorsWith(cgroup, controller, file)) {
            OptionalLong value = number(dir.resolve(file));
            if (value.isPresent() && (smallest.isEmpty() || value.getAsLong() < smallest.getAsLong())) {
                smallest = value;
            }
        }
        return smallest;
    }

    /** A v1 memory.stat value: the hierarchical "total_" one when the kernel writes it. */
    static OptionalLong stat(Map<String, Long> stat, String... keys) {
        for (String key : keys) {
            Long value = stat.get(key);
            if (value != null && value >= 0) {
                return OptionalLong.of(value);
            }
        }
        return OptionalLong.empty();
    }

    private static OptionalLong toOptional(Optional<Long> value) {
        return value.filter(v -> v >= 0).map(OptionalLong::of).orElse(OptionalLong.empty());
    }
}
