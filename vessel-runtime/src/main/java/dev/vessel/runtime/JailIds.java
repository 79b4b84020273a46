package dev.vessel.runtime;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/**
 * The uid and gid a jailed QEMU runs as (docs/microvm.md, "The jail"): one of its own per
 * sandbox, as Firecracker's jailer is given one per microVM, so that one QEMU cannot signal,
 * ptrace or read another's files. They come from a range no distribution hands out: {@value #BASE}
 * and the {@value #SLOTS} ids after it (above Debian's subordinate-id ranges, which start at 100000
 * and grow by 65536 per user); uid = gid. No user is created: nothing needs a name for them.
 *
 * <p>The id is kept in the run dir's {@value #FILE} ({@code UID GID}), written before QEMU starts:
 * a run dir holds its id until it is removed, so ids in use are the ones the run dirs name.
 */
final class JailIds {
    static final long BASE = 2_000_000_000L;
    static final int SLOTS = 65536;
    static final String FILE = "jail";

    private JailIds() {
    }

    /** {@code runDir}'s id: the one it has, else a free one (starting from its name's hash), recorded. */
    static synchronized long allocate(Path runDir) throws IOException {
        Path file = runDir.resolve(FILE);
        Long had = read(runDir);
        if (had != null) return had;
        Set<Long> used = new HashSet<>();
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(runDir.getParent())) {
            for (Path dir : dirs) {
                Long id = read(dir);
                if (id != null) used.add(id);
            }
        }
        int start = Math.floorMod(runDir.getFileName().toString().hashCode(), SLOTS);
        for (int i = 0; i < SLOTS; i++) {
            long id = BASE + (start + i) % SLOTS;
            if (used.contains(id)) continue;
            Files.writeString(file, id + " " + id + "\n");
            return id;
        }
        throw new IOException("no jail id is free: all " + SLOTS + " from " + BASE + " are in use");
    }

    /** The id a run dir has, or null (none, or not one of ours). */
    static Long read(Path runDir) {
        try {
            String[] f = Files.readString(runDir.resolve(FILE)).strip().split(" ");
            long id = Long.parseLong(f[0]);
            return id >= BASE && id < BASE + SLOTS ? id : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /**
     * Lets the jailed QEMU make its sockets, console log and pid file in {@code runDir}: group
     * {@code gid}, mode 1770. The sticky bit keeps Vessel's own files there (record, cgroups, jail)
     * from being removed or renamed by QEMU.
     */
    static void openTo(Path runDir, long gid) throws IOException {
        Files.setAttribute(runDir, "unix:gid", (int) gid);
        Files.setAttribute(runDir, "unix:mode", 01770);
    }
}
