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

    /**
     * {@code file}'s text in the controller's directory and each ancestor that has it, nearest first.
     * Limits are inherited: a parent (a pod, a slice) may be tighter than the container itself. The
     * walk stops at the first directory without the file: the hierarchy's root has no limit files.
     */
    static List<String> upwards(Cgroup cgroup, String controller, String file) {
        List<String> texts = new ArrayList<>();
        Path dir = cgroup.dir(controller).orElse(null);
        for (int depth = 0; dir != null && depth < MAX_DEPTH; depth++, dir = dir.getParent()) {
            Optional<String> text = Cgroup.readFile(dir.resolve(file));
            if (text.isEmpty()) {
                break;
            }
            texts.add(text.get());
        }
        return texts;
    }

    private static final int MAX_DEPTH = 32;

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
        for (String text : upwards(cgroup, controller, file)) {
            OptionalLong value = toOptional(Cgroup.parseLong(text));
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
