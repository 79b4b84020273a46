package dev.vessel.linux;

import java.nio.file.Files;
import java.nio.file.Path;

/** Host programs by name, found in PATH or in the system directories. */
public final class Tools {
    private Tools() {
    }

    /**
     * {@code name}'s path: in PATH, else in /usr/sbin, /sbin, /usr/bin, /bin (a daemon's PATH is
     * whatever its first caller had, possibly none; a caller's may lack the sbin directories);
     * {@code name} itself when it is nowhere, so that running it fails with its name.
     */
    public static String find(String name) {
        return lookup(name).map(Path::toString).orElse(name);
    }

    /** {@code name}'s path as {@link #find} looks for it, or empty when it is nowhere. The one PATH lookup of Vessel. */
    public static java.util.Optional<Path> lookup(String name) {
        String path = System.getenv().getOrDefault("PATH", "") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin:/usr/bin:/bin";
        for (String dir : path.split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, name))) return java.util.Optional.of(Path.of(dir, name));
        }
        return java.util.Optional.empty();
    }
}
