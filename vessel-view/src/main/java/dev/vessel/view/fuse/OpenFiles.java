package dev.vessel.view.fuse;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The content rendered at OPEN, kept per file handle until RELEASE, so that every read of one
 * open file slices the same bytes. Handle numbers start at a random point: a server that took
 * over a connection must not hand out a number the kernel still holds from its predecessor.
 * A handle the table does not know (one from the predecessor) is simply rendered again.
 */
final class OpenFiles {
    private record Entry(long nodeId, byte[] content) {}

    private final ConcurrentHashMap<Long, Entry> entries = new ConcurrentHashMap<>();
    private final AtomicLong nextHandle = new AtomicLong(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);

    long add(long nodeId, byte[] content) {
        long handle = nextHandle.getAndIncrement();
        entries.put(handle, new Entry(nodeId, content));
        return handle;
    }

    /** The content of an open handle, or null if this server never opened it for that inode. */
    byte[] get(long handle, long nodeId) {
        Entry entry = entries.get(handle);
        return entry != null && entry.nodeId() == nodeId ? entry.content() : null;
    }

    /** Adopts a handle opened by a predecessor, with freshly rendered content. */
    void put(long handle, long nodeId, byte[] content) {
        entries.put(handle, new Entry(nodeId, content));
    }

    void remove(long handle) {
        entries.remove(handle);
    }

    int size() {
        return entries.size();
    }
}
