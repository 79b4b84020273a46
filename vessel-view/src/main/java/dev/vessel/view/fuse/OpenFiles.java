package dev.vessel.view.fuse;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The content rendered at OPEN, kept per file handle until RELEASE, so that every read of one
 * open file slices the same bytes. A handle carries the passthrough backing id it was opened with
 * in its upper 32 bits (0 for none), so that a successor that took over the connection can close
 * the ids of handles it never opened when they are released. The lower 32 bits count from a
 * random point: a server that took over a connection must not hand out a number the kernel still
 * holds from its predecessor. A handle the table does not know (one from the predecessor) is
 * simply rendered again.
 */
final class OpenFiles {
    /** {@code foreign}: a predecessor's handle, re-rendered here for its reads. */
    record Entry(long nodeId, byte[] content, boolean foreign) {}

    private final ConcurrentHashMap<Long, Entry> entries = new ConcurrentHashMap<>();
    private final AtomicInteger nextHandle = new AtomicInteger(ThreadLocalRandom.current().nextInt());

    long add(long nodeId, byte[] content, int backingId) {
        long handle = (long) backingId << 32 | Integer.toUnsignedLong(nextHandle.getAndIncrement());
        entries.put(handle, new Entry(nodeId, content, false));
        return handle;
    }

    /** The backing id a handle was opened with, whoever opened it. */
    static int backingId(long handle) {
        return (int) (handle >>> 32);
    }

    /** The content of an open handle, or null if this server never opened it for that inode. */
    byte[] get(long handle, long nodeId) {
        Entry entry = entries.get(handle);
        return entry != null && entry.nodeId() == nodeId ? entry.content() : null;
    }

    /** Adopts a handle opened by a predecessor, with freshly rendered content. */
    void put(long handle, long nodeId, byte[] content) {
        entries.put(handle, new Entry(nodeId, content, true));
    }

    /** Forgets a handle; its entry, or null if this server never opened it. */
    Entry remove(long handle) {
        return entries.remove(handle);
    }

    int size() {
        return entries.size();
    }
}
