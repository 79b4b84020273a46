package dev.vessel.view.fuse;

import dev.vessel.linux.Libc;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * FUSE passthrough backing files (kernel 6.9+): a rendered file is written to a memfd and
 * registered with the connection (FUSE_DEV_IOC_BACKING_OPEN), and OPEN answers FOPEN_PASSTHROUGH
 * with its id, so the kernel serves read(2), sendfile(2) and splice(2) from that snapshot. Without
 * it, splice reads go through the page cache, bounded by the inode size that GETATTR cannot know
 * (busybox cat, which uses sendfile, printed nothing).
 *
 * <p>The kernel allows one backing file per inode at a time: every open of an inode that is open
 * in passthrough mode must name the same backing id, or the open fails with EIO. So a backing is
 * shared by the overlapping opens of its inode and closed when the last of them is released. An
 * open whose fresh render differs from the shared snapshot (another container, or changed
 * numbers) still names the shared id but adds FOPEN_DIRECT_IO, so its reads come to the server
 * and see its own render; only its splice reads are then unreliable, as before passthrough.
 *
 * <p>Which id each inode holds, and how many handles share it, is also kept in a small mapped
 * file (the table), because the rule outlives the daemon: after a kill -9 a process may still
 * hold a predecessor's handle, and its inode's next open must name that same id. A successor
 * reads the table and goes on sharing those ids (with direct I/O, as their content is unknown).
 */
final class Backings {
    private static final System.Logger LOG = System.getLogger(Backings.class.getName());
    private static final int ENOMEM = 12, ENFILE = 23, EMFILE = 24; // transient: keep trying later

    /** What an OPEN should answer: the backing id, and whether reads must come to the server. */
    record Opened(int backingId, boolean directIo) {}

    private static final class Backing {
        final int id;
        final byte[] content;
        int handles;

        Backing(int id, byte[] content) {
            this.id = id;
            this.content = content;
        }
    }

    private static final int SLOTS = 64;
    private static final int SLOT_SIZE = 16; // node id (long), backing id (int), handles (int)

    private final int fuseFd;
    private volatile boolean enabled;
    private final Map<Long, Backing> byNode = new HashMap<>();
    private final MemorySegment table; // null: no table, nothing outlives this server

    Backings(int fuseFd, boolean enabled) {
        this(fuseFd, enabled, null);
    }

    /** With a table at {@code tableFile}: what a predecessor left in it is taken over. */
    Backings(int fuseFd, boolean enabled, Path tableFile) {
        this.fuseFd = fuseFd;
        this.enabled = enabled;
        this.table = tableFile == null ? null : map(tableFile);
        if (table != null) {
            for (int slot = 0; slot < SLOTS; slot++) {
                long node = table.get(JAVA_LONG, (long) slot * SLOT_SIZE);
                int id = table.get(JAVA_INT, (long) slot * SLOT_SIZE + 8);
                int handles = table.get(JAVA_INT, (long) slot * SLOT_SIZE + 12);
                if (node != 0 && id > 0 && handles > 0) {
                    Backing inherited = new Backing(id, null);
                    inherited.handles = handles;
                    byNode.put(node, inherited);
                }
            }
        }
    }

    private static MemorySegment map(Path file) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            return channel.map(FileChannel.MapMode.READ_WRITE, 0, (long) SLOTS * SLOT_SIZE, Arena.ofAuto());
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "fuse: no backing table at " + file + ": " + e.getMessage());
            return null;
        }
    }

    /** Mirrors an inode's entry into the table (a few memory stores, no system call). */
    private void record(long nodeId, Backing backing) {
        if (table == null) {
            return;
        }
        int free = -1;
        for (int slot = 0; slot < SLOTS; slot++) {
            long node = table.get(JAVA_LONG, (long) slot * SLOT_SIZE);
            if (node == nodeId) {
                free = slot;
                break;
            }
            if (free < 0 && (node == 0 || table.get(JAVA_INT, (long) slot * SLOT_SIZE + 12) == 0)) {
                free = slot;
            }
        }
        if (free < 0) {
            return;
        }
        long base = (long) free * SLOT_SIZE;
        table.set(JAVA_LONG, base, backing == null ? 0 : nodeId);
        table.set(JAVA_INT, base + 8, backing == null ? 0 : backing.id);
        table.set(JAVA_INT, base + 12, backing == null ? 0 : backing.handles);
    }

    boolean enabled() {
        return enabled;
    }

    void enable(boolean value) {
        enabled = value;
    }

    /**
     * Whether this connection accepts backing files: registers an empty memfd and closes it. For a
     * connection adopted from a predecessor, which alone saw the FUSE_INIT that decided it.
     */
    static boolean probe(int fuseFd) {
        int memfd = Libc.memfdCreate("vessel-view-probe", Libc.MFD_CLOEXEC);
        if (memfd < 0) {
            return false;
        }
        try {
            int id = backingOpen(fuseFd, memfd);
            if (id <= 0) {
                return false;
            }
            backingClose(fuseFd, id);
            return true;
        } finally {
            Libc.close(memfd);
        }
    }

    /**
     * Takes a handle on the passthrough backing of {@code nodeId}, registering {@code content} as
     * one if the inode has none; null if passthrough is off or registering failed (then the open
     * uses direct I/O, which the kernel accepts only while no handle of the inode is in
     * passthrough mode: true here, as no backing of ours exists for it).
     */
    synchronized Opened open(long nodeId, byte[] content) {
        Backing backing = byNode.get(nodeId); // even if since disabled: the kernel insists on it
        if (backing == null) {
            if (!enabled) {
                return null;
            }
            int id = register(content);
            if (id <= 0) {
                return null;
            }
            backing = new Backing(id, content);
            byNode.put(nodeId, backing);
        }
        backing.handles++;
        record(nodeId, backing);
        // An inherited backing's content is unknown: its opens read through the server.
        return new Opened(backing.id, backing.content == null
                || backing.content != content && !Arrays.equals(backing.content, content));
    }

    /** Drops a handle taken by {@link #open}; the last one closes the backing id. */
    synchronized void release(long nodeId, int backingId) {
        Backing backing = byNode.get(nodeId);
        if (backing == null || backing.id != backingId) {
            return;
        }
        if (--backing.handles == 0) {
            byNode.remove(nodeId);
            backingClose(fuseFd, backingId);
            record(nodeId, null);
        } else {
            record(nodeId, backing);
        }
    }

    /**
     * Releases a handle this server never opened: a predecessor's, after a takeover. If the
     * table handed its backing over, that entry loses a handle (and closes with the last one);
     * otherwise the id is just closed: the kernel keeps the file for as long as it is open, the id
     * only lets more opens share it.
     */
    synchronized void releaseForeign(int backingId) {
        if (backingId <= 0) {
            return;
        }
        for (Map.Entry<Long, Backing> entry : byNode.entrySet()) {
            if (entry.getValue().id == backingId) {
                release(entry.getKey(), backingId);
                return;
            }
        }
        backingClose(fuseFd, backingId);
    }

    synchronized int size() {
        return byNode.size();
    }

    /** A memfd holding {@code content}, registered; the id, or -errno. */
    private int register(byte[] content) {
        int memfd = Libc.memfdCreate("vessel-view", Libc.MFD_CLOEXEC);
        if (memfd < 0) {
            return memfd;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(Math.max(1, content.length));
            MemorySegment.copy(content, 0, bytes, JAVA_BYTE, 0, content.length);
            for (long done = 0; done < content.length; ) {
                long written = Libc.write(memfd, bytes.asSlice(done), content.length - done);
                if (written == -Libc.EINTR) {
                    continue;
                }
                if (written <= 0) {
                    return written < 0 ? (int) written : -Libc.EIO;
                }
                done += written;
            }
            int id = backingOpen(fuseFd, memfd);
            if (id < 0 && id != -EMFILE && id != -ENFILE && id != -ENOMEM) {
                // EPERM: the connection was set up without passthrough; ENOTTY: no such ioctl.
                enabled = false;
                LOG.log(System.Logger.Level.INFO, "fuse: no passthrough (" + Libc.strerror(-id)
                        + "); serving reads with direct I/O");
            }
            return id;
        } finally {
            Libc.close(memfd);
        }
    }

    private static int backingOpen(int fuseFd, int fileFd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment map = arena.allocate(FuseProtocol.BACKING_MAP_SIZE, 8);
            map.set(JAVA_INT, FuseProtocol.BACKING_MAP_FD, fileFd);
            return Libc.ioctl(fuseFd, FuseProtocol.DEV_IOC_BACKING_OPEN, map);
        }
    }

    private static void backingClose(int fuseFd, int backingId) {
        try (Arena arena = Arena.ofConfined()) {
            Libc.ioctl(fuseFd, FuseProtocol.DEV_IOC_BACKING_CLOSE, arena.allocateFrom(JAVA_INT, backingId));
        }
    }
}
