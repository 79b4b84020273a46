package dev.vessel.view.fuse;

import java.time.Instant;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * For a server whose files the kernel caches: the render each inode's cached pages were filled
 * from, and the modification time that names it. GETATTR renders afresh; an unchanged render
 * keeps its snapshot and time (the kernel keeps its pages), a changed one gets a later time, which
 * makes the kernel drop its pages (FUSE_AUTO_INVAL_DATA) and READ the new snapshot. READ serves
 * the snapshot GETATTR announced, so the bytes always match the size the kernel was told.
 */
final class Snapshots {
    record Snapshot(byte[] content, long mtimeNanos) {}

    private final ConcurrentHashMap<Long, Snapshot> byNode = new ConcurrentHashMap<>();
    /** Times only grow, even across a takeover: a successor's first snapshot is always "changed". */
    private final AtomicLong lastMtime = new AtomicLong();

    /** The snapshot for a fresh render; {@code alwaysNew} for files rendered per caller, never to be reused. */
    Snapshot refresh(long nodeId, byte[] content, boolean alwaysNew) {
        return byNode.compute(nodeId, (id, old) -> old != null && !alwaysNew && Arrays.equals(old.content(), content)
                ? old : new Snapshot(content, nextMtime()));
    }

    /** The snapshot last announced, or null. */
    Snapshot get(long nodeId) {
        return byNode.get(nodeId);
    }

    /** The kernel forgot the inode: no page of it is left to match. */
    void forget(long nodeId) {
        byNode.remove(nodeId);
    }

    int size() {
        return byNode.size();
    }

    private long nextMtime() {
        Instant now = Instant.now();
        long nanos = now.getEpochSecond() * 1_000_000_000L + now.getNano();
        return lastMtime.updateAndGet(previous -> Math.max(previous + 1, nanos));
    }
}
