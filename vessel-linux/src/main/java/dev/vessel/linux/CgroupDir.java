package dev.vessel.linux;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * One cgroup that Vessel makes itself, by its path from the root of every hierarchy (cgroup v1:
 * each controller's mount, the named ones too; v2: the unified mount; the hybrid layout: both),
 * e.g. {@code vessel/sandbox-1a2b…}: made, given limits, joined, and removed. {@link Cgroup}
 * reads the cgroup a process is in; this is for the ones Vessel places processes in.
 */
public final class CgroupDir {
    private final String relative;
    private final Map<Path, Set<String>> hierarchies; // mount point -> its v1 controllers (none for v2)
    private final boolean unified;

    private CgroupDir(String relative, Map<Path, Set<String>> hierarchies, boolean unified) {
        this.relative = relative;
        this.hierarchies = hierarchies;
        this.unified = unified;
    }

    /** The cgroup at this path (leading and trailing slashes ignored) in every hierarchy mounted here. */
    public static CgroupDir at(String relative) throws IOException {
        return at(relative, Files.readAllLines(Path.of("/proc/self/mountinfo")));
    }

    /** As {@link #at(String)} with this mount table; pure, for tests. */
    public static CgroupDir at(String relative, List<String> mountinfo) {
        String r = relative.replaceAll("^/+|/+$", "");
        if (r.isEmpty() || r.contains("..")) throw new IllegalArgumentException("not a cgroup path: " + relative);
        Map<Path, Set<String>> mounts = new LinkedHashMap<>();
        boolean v1 = false;
        for (String line : mountinfo) {
            String[] halves = line.split(" - ", 2);
            if (halves.length < 2) continue;
            String[] left = halves[0].split(" "), right = halves[1].split(" ");
            if (left.length < 5) continue;
            if (right[0].equals("cgroup2")) mounts.put(Path.of(left[4]), Set.of());
            if (right[0].equals("cgroup") && right.length > 2) {
                mounts.put(Path.of(left[4]), Set.of(right[2].split(",")));
                v1 = true;
            }
        }
        return new CgroupDir(r, mounts, !v1);
    }

    /**
     * An OCI {@code linux.cgroupsPath} as a path from the hierarchies' roots: {@code /a/b} as
     * is, and systemd's {@code SLICE:PREFIX:NAME} as systemd lays it out
     * ({@code machine-libpod.slice:libpod:ID} → {@code machine.slice/machine-libpod.slice/libpod-ID.scope}).
     */
    public static String ociPath(String cgroupsPath) {
        String[] parts = cgroupsPath.split(":", -1);
        if (parts.length != 3) return cgroupsPath;
        StringBuilder path = new StringBuilder();
        String slice = parts[0].isEmpty() ? "system.slice" : parts[0];
        if (!slice.equals("-.slice")) {
            String name = slice.substring(0, slice.length() - (slice.endsWith(".slice") ? 6 : 0));
            int dash = -1;
            while ((dash = name.indexOf('-', dash + 1)) > 0) path.append(name, 0, dash).append(".slice/");
            path.append(name).append(".slice/");
        }
        path.append(parts[1].isEmpty() ? "" : parts[1] + "-").append(parts[2]);
        if (!parts[2].endsWith(".slice")) path.append(".scope");
        return path.toString();
    }

    public String path() {
        return relative;
    }

    public boolean isUnified() {
        return unified;
    }

    /** Its directory in every hierarchy. */
    public List<Path> dirs() {
        return hierarchies.keySet().stream().map(h -> h.resolve(relative)).toList();
    }

    /** The directory holding a controller's files: its v1 hierarchy's (cpu in "cpu,cpuacct" too), or the v2 one. */
    public Optional<Path> dir(String controller) {
        for (var h : hierarchies.entrySet()) {
            if (unified || h.getValue().contains(controller)) return Optional.of(h.getKey().resolve(relative));
        }
        return Optional.empty();
    }

    /**
     * Makes it in every hierarchy. A new v1 cpuset cgroup has no CPUs or memory nodes, and
     * nothing can join it until it has: it gets its parent's, from the top down.
     */
    public void create() throws IOException {
        for (Path dir : dirs()) {
            Files.createDirectories(dir);
            if (Files.exists(dir.resolve("cpuset.cpus")) && !unified) inheritCpuset(dir);
        }
    }

    private void inheritCpuset(Path dir) throws IOException {
        List<Path> chain = new ArrayList<>();
        for (Path d = dir; d != null && Files.exists(d.resolve("cpuset.cpus")); d = d.getParent()) chain.addFirst(d);
        for (int i = 1; i < chain.size(); i++) {
            for (String file : List.of("cpuset.cpus", "cpuset.mems")) {
                Path f = chain.get(i).resolve(file);
                if (Cgroup.readFile(f).orElse("").isEmpty()) {
                    Files.writeString(f, Cgroup.readFile(chain.get(i - 1).resolve(file)).orElse(""));
                }
            }
        }
    }

    /** The {@code cgroup.procs} files a process writes its pid to, to join it in every hierarchy. */
    public List<Path> procsFiles() {
        return dirs().stream().map(d -> d.resolve("cgroup.procs")).toList();
    }

    /** Moves a process (all its threads) into it, in every hierarchy. */
    public void join(long pid) throws IOException {
        for (Path procs : procsFiles()) Files.writeString(procs, Long.toString(pid));
    }

    /**
     * Writes a controller's file; false (logged) when the controller or the file is not there
     * (a hierarchy not mounted, a kernel without it). An invalid value throws.
     */
    public boolean write(String controller, String file, String value) throws IOException {
        Optional<Path> dir = dir(controller);
        if (dir.isEmpty() || !Files.exists(dir.get().resolve(file))) {
            Log.info("cgroup " + relative + ": no " + file + " here; " + controller + " limit not applied");
            return false;
        }
        Files.writeString(dir.get().resolve(file), value);
        return true;
    }

    /**
     * Removes it from every hierarchy, and its sub-cgroups; a cgroup whose last process has just
     * exited can be busy for a moment, so this retries for up to a second. Missing is fine.
     */
    public void remove() {
        for (Path dir : dirs()) {
            if (!Files.isDirectory(dir)) continue;
            List<Path> children = new ArrayList<>();
            try (var walk = Files.walk(dir)) {
                walk.filter(Files::isDirectory).forEach(children::add);
            } catch (IOException e) {
                Log.info("cgroup " + dir + ": " + e.getMessage());
            }
            for (Path d : children.reversed()) {
                for (int i = 0; ; i++) {
                    try {
                        Files.deleteIfExists(d);
                        break;
                    } catch (IOException e) {
                        if (i >= 100) {
                            Log.info("cannot remove cgroup " + d + ": " + e.getMessage());
                            break;
                        }
                        try {
                            Thread.sleep(10);
                        } catch (InterruptedException ie) {
                            Thread.currentThread().interrupt();
                            break;
                        }
                    }
                }
            }
        }
    }
}
