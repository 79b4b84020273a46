package dev.vessel.view.fuse;

import dev.vessel.linux.Libc;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;

import static dev.vessel.view.fuse.FuseProtocol.*;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * One serving thread: reads a request from /dev/fuse into its own buffer, answers it from its own
 * reply buffer, and repeats. Nothing here allocates per request except the rendered content.
 */
final class FuseWorker implements AutoCloseable {
    /** Largest WRITE payload we accept; the kernel insists the read buffer holds one. */
    static final int MAX_WRITE = 128 * 1024;
    /** Largest READ the kernel will ask for: max_pages (32) pages. */
    static final int MAX_PAGES = 32;
    private static final int REQUEST_BUFFER = MAX_WRITE + 4096;
    private static final int REPLY_BUFFER = OUT_HEADER_SIZE + MAX_PAGES * 4096;
    /** The tree never changes while mounted, so the kernel may cache names and attributes long. */
    private static final long CACHE_SECONDS = 3600;

    private final FuseServer server;
    private final int fd;
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment request = arena.allocate(REQUEST_BUFFER, 4096);
    private final MemorySegment reply = arena.allocate(REPLY_BUFFER, 4096);
    private final MemorySegment events = arena.allocate(2L * Libc.EPOLL_EVENT_SIZE, 8);
    private final int epollFd;

    /**
     * Each worker has its own epoll; EPOLLEXCLUSIVE on /dev/fuse makes the kernel wake one idle
     * worker per request rather than all of them.
     */
    FuseWorker(FuseServer server) throws IOException {
        this.server = server;
        this.fd = server.fd();
        this.epollFd = (int) Libc.check(Libc.epollCreate1(Libc.EPOLL_CLOEXEC), "epoll_create1");
        try {
            Libc.check(Libc.epollCtl(epollFd, Libc.EPOLL_CTL_ADD, fd, Libc.EPOLLIN | Libc.EPOLLEXCLUSIVE, fd),
                    "epoll_ctl /dev/fuse");
            Libc.check(Libc.epollCtl(epollFd, Libc.EPOLL_CTL_ADD, server.stopFd(), Libc.EPOLLIN, server.stopFd()),
                    "epoll_ctl eventfd");
        } catch (IOException e) {
            close();
            throw e;
        }
    }

    /** Reads the kernel's FUSE_INIT and answers it; the first thing after mount(2). */
    void init() throws IOException {
        long length;
        do {
            length = Libc.read(fd, request, REQUEST_BUFFER);
        } while ((length == -Libc.EAGAIN && awaitRequest()) || length == -Libc.EINTR);
        Libc.check(length, "read FUSE_INIT");
        int opcode = request.get(JAVA_INT, IN_OPCODE);
        if (opcode != INIT) {
            throw new IOException("expected FUSE_INIT, got opcode " + opcode);
        }
        handle();
        if (request.get(JAVA_INT, IN_HEADER_SIZE + INIT_IN_MAJOR) != KERNEL_VERSION) {
            throw new IOException("unsupported FUSE protocol " + request.get(JAVA_INT, IN_HEADER_SIZE));
        }
    }

    /** Serves until the server stops or the connection ends. */
    void serve() {
        while (awaitRequest()) {
            long length = Libc.read(fd, request, REQUEST_BUFFER);
            if (length >= 0) {
                try {
                    handle();
                } catch (Throwable failure) {
                    server.logFailure("opcode " + request.get(JAVA_INT, IN_OPCODE), failure);
                    replyError(Libc.EIO);
                }
                continue;
            }
            int errno = (int) -length;
            // EAGAIN: another thread took the request; EINTR: a signal; ENOENT: the request died.
            if (errno != Libc.EAGAIN && errno != Libc.EINTR && errno != Libc.ENOENT) {
                if (errno != Libc.ENODEV && errno != Libc.ECONNABORTED && errno != Libc.EBADF) {
                    server.logFailure("read /dev/fuse", new IOException(Libc.strerror(errno)));
                }
                return; // unmounted, aborted or closed: exit quietly
            }
        }
    }

    /** Waits until /dev/fuse has a request (or is dead); false once the server is stopping. */
    private boolean awaitRequest() {
        if (server.stopping()) {
            return false;
        }
        int ready = Libc.epollWait(epollFd, events, 2, -1);
        for (int i = 0; i < ready; i++) {
            if (Libc.epollEventData(events, i) == server.stopFd()) {
                return false;
            }
        }
        return ready >= 0 || ready == -Libc.EINTR;
    }

    private void handle() {
        int opcode = request.get(JAVA_INT, IN_OPCODE);
        switch (opcode) {
            case INIT -> answerInit();
            case LOOKUP -> lookup();
            case GETATTR -> getattr();
            case OPEN -> open();
            case READ -> read();
            case RELEASE -> release();
            case OPENDIR -> opendir();
            case READDIR -> readdir();
            case RELEASEDIR, DESTROY -> replyOk(0);
            case STATFS -> statfs();
            case ACCESS -> access();
            // No reply is expected to these.
            case FORGET -> server.snapshots.forget(nodeId());
            case BATCH_FORGET -> batchForget();
            case INTERRUPT, NOTIFY_REPLY -> { }
            // ENOSYS to FLUSH and the xattr calls makes the kernel stop sending them: one round trip
            // less per close(2).
            case FLUSH, GETXATTR, LISTXATTR -> replyError(Libc.ENOSYS);
            case SETATTR, SYMLINK, MKNOD, MKDIR, UNLINK, RMDIR, RENAME, LINK, WRITE, SETXATTR, REMOVEXATTR,
                 CREATE, FALLOCATE, RENAME2, COPY_FILE_RANGE, TMPFILE -> replyError(Libc.EROFS);
            default -> replyError(Libc.ENOSYS);
        }
    }

    private void answerInit() {
        MemorySegment in = request;
        long body = IN_HEADER_SIZE;
        int major = in.get(JAVA_INT, body + INIT_IN_MAJOR);
        if (major < KERNEL_VERSION) {
            replyError(71); // EPROTO
            return;
        }
        int minor = major > KERNEL_VERSION ? KERNEL_MINOR_VERSION
                : Math.min(in.get(JAVA_INT, body + INIT_IN_MINOR), KERNEL_MINOR_VERSION);
        int offered = in.get(JAVA_INT, body + INIT_IN_FLAGS);
        int offered2 = (offered & FUSE_INIT_EXT) != 0 ? in.get(JAVA_INT, body + INIT_IN_FLAGS2) : 0;
        boolean passthrough = (offered2 & FUSE2_PASSTHROUGH) != 0 && server.passthroughWanted();
        MemorySegment out = payload(INIT_OUT_SIZE);
        out.set(JAVA_INT, INIT_OUT_MAJOR, KERNEL_VERSION);
        out.set(JAVA_INT, INIT_OUT_MINOR, minor);
        out.set(JAVA_INT, INIT_OUT_MAX_READAHEAD, in.get(JAVA_INT, body + INIT_IN_MAX_READAHEAD));
        // Cached: a changed size or time at GETATTR drops the inode's pages (Snapshots).
        out.set(JAVA_INT, INIT_OUT_FLAGS, offered & (FUSE_ASYNC_READ | FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES
                        | (server.cached ? FUSE_AUTO_INVAL_DATA : 0))
                | (passthrough ? FUSE_INIT_EXT : 0));
        if (passthrough) {
            // Backing files are memfds (shmem, stack depth 0): one level of stacking is enough.
            out.set(JAVA_INT, INIT_OUT_FLAGS2, FUSE2_PASSTHROUGH);
            out.set(JAVA_INT, INIT_OUT_MAX_STACK_DEPTH, 1);
        }
        server.backings.enable(passthrough);
        out.set(JAVA_SHORT, INIT_OUT_MAX_BACKGROUND, (short) 64);
        out.set(JAVA_SHORT, INIT_OUT_CONGESTION_THRESHOLD, (short) 48);
        out.set(JAVA_INT, INIT_OUT_MAX_WRITE, MAX_WRITE);
        out.set(JAVA_INT, INIT_OUT_TIME_GRAN, 1);
        out.set(JAVA_SHORT, INIT_OUT_MAX_PAGES, (short) MAX_PAGES);
        // A kernel older than 7.23 expects the 24-byte reply of its time.
        replyOk(minor >= 23 ? INIT_OUT_SIZE : 24);
    }

    private void lookup() {
        FuseTree.Ref parent = server.tree.ref(nodeId());
        if (parent == null || !parent.node().directory()) {
            replyError(parent == null ? Libc.ENOENT : Libc.ENOTDIR);
            return;
        }
        FuseTree.Ref child = server.tree.child(parent, request.getString(IN_HEADER_SIZE));
        if (child == null) {
            replyError(Libc.ENOENT);
            return;
        }
        Snapshots.Snapshot snapshot = snapshotForAttributes(child);
        if (snapshot == NO_RENDER) {
            replyError(Libc.EIO);
            return;
        }
        MemorySegment out = payload(ENTRY_OUT_SIZE);
        out.set(JAVA_LONG, ENTRY_NODEID, child.id());
        out.set(JAVA_LONG, ENTRY_VALID, CACHE_SECONDS); // names never change
        putAttrValid(out, ENTRY_ATTR_VALID, ENTRY_ATTR_VALID_NSEC, child);
        putAttr(out, ENTRY_ATTR, child, snapshot);
        replyOk(ENTRY_OUT_SIZE);
    }

    private void getattr() {
        FuseTree.Ref ref = server.tree.ref(nodeId());
        if (ref == null) {
            replyError(Libc.ENOENT);
            return;
        }
        Snapshots.Snapshot snapshot = snapshotForAttributes(ref);
        if (snapshot == NO_RENDER) {
            replyError(Libc.EIO);
            return;
        }
        MemorySegment out = payload(ATTR_OUT_SIZE);
        putAttrValid(out, ATTR_OUT_VALID, ATTR_OUT_VALID_NSEC, ref);
        putAttr(out, ATTR_OUT_ATTR, ref, snapshot);
        replyOk(ATTR_OUT_SIZE);
    }

    private static final Snapshots.Snapshot NO_RENDER = new Snapshots.Snapshot(new byte[0], 0);

    /**
     * Cached mode, a file: a fresh render's snapshot, whose size and time the kernel is told (and
     * NO_RENDER when rendering failed). Otherwise null: the static attributes.
     */
    private Snapshots.Snapshot snapshotForAttributes(FuseTree.Ref ref) {
        if (!server.cached || ref.node().directory()) {
            return null;
        }
        byte[] content = server.render(ref, callerPid());
        if (content == null) {
            return NO_RENDER;
        }
        // A file of the shared tree is rendered per caller: its pages are never to be reused.
        return server.snapshots.refresh(ref.id(), content, ref.container() == FuseTree.SHARED);
    }

    /**
     * How long the kernel may trust the attributes: directories and the per-open mode's files
     * long; in cached mode a container's file ATTR_TTL, a shared file not at all.
     */
    private void putAttrValid(MemorySegment out, long seconds, long nanos, FuseTree.Ref ref) {
        if (!server.cached || ref.node().directory()) {
            out.set(JAVA_LONG, seconds, CACHE_SECONDS);
        } else if (ref.container() != FuseTree.SHARED) {
            out.set(JAVA_LONG, seconds, FuseServer.ATTR_TTL_NANOS / 1_000_000_000L);
            out.set(JAVA_INT, nanos, (int) (FuseServer.ATTR_TTL_NANOS % 1_000_000_000L));
        }
    }

    /** fuse_batch_forget_in: count, dummy, then count of (nodeid, nlookup). */
    private void batchForget() {
        int count = request.get(JAVA_INT, IN_HEADER_SIZE);
        long length = request.get(JAVA_INT, IN_LEN);
        for (int i = 0; i < count && IN_HEADER_SIZE + 8 + 16L * (i + 1) <= length; i++) {
            server.snapshots.forget(request.get(JAVA_LONG, IN_HEADER_SIZE + 8 + 16L * i));
        }
    }

    /**
     * Renders the whole file once. With passthrough the kernel reads (and splices) the snapshot
     * itself; otherwise, or when the inode's shared backing holds another render, every READ of
     * this handle slices the same bytes.
     */
    private void open() {
        if (server.cached) {
            // Once: the kernel then opens without asking (no OPEN, no RELEASE) and keeps pages.
            replyError(Libc.ENOSYS);
            return;
        }
        FuseTree.Ref ref = server.tree.ref(nodeId());
        FuseTree.Node node = ref == null ? null : ref.node();
        if (node == null || node.directory()) {
            replyError(node == null ? Libc.ENOENT : Libc.EISDIR);
            return;
        }
        if ((request.get(JAVA_INT, IN_HEADER_SIZE + OPEN_IN_FLAGS) & Libc.O_ACCMODE) != Libc.O_RDONLY) {
            replyError(Libc.EROFS);
            return;
        }
        byte[] content = server.render(ref, callerPid());
        if (content == null) {
            replyError(Libc.EIO);
            return;
        }
        Backings.Opened backing = server.backings.open(ref.id(), content);
        int backingId = backing == null ? 0 : backing.backingId();
        long handle = server.openFiles.add(ref.id(), content, backingId);
        MemorySegment out = payload(OPEN_OUT_SIZE);
        out.set(JAVA_LONG, OPEN_OUT_FH, handle);
        if (backing == null) {
            // Direct I/O: no page cache, so a length that changes between opens is never cut short.
            out.set(JAVA_INT, OPEN_OUT_FLAGS, FOPEN_DIRECT_IO);
        } else {
            // FOPEN_DIRECT_IO overrides passthrough for read(2) (not splice): the handle's own render.
            out.set(JAVA_INT, OPEN_OUT_FLAGS, FOPEN_PASSTHROUGH | (backing.directIo() ? FOPEN_DIRECT_IO : 0));
            out.set(JAVA_INT, OPEN_OUT_BACKING_ID, backingId);
        }
        replyOk(OPEN_OUT_SIZE);
    }

    private void read() {
        long handle = request.get(JAVA_LONG, IN_HEADER_SIZE + READ_IN_FH);
        long offset = request.get(JAVA_LONG, IN_HEADER_SIZE + READ_IN_OFFSET);
        int size = request.get(JAVA_INT, IN_HEADER_SIZE + READ_IN_SIZE);
        byte[] content = server.cached ? cachedContent() : server.openFiles.get(handle, nodeId());
        if (content == null) {
            // A handle opened before a takeover (or, cached, an inode without a snapshot): render
            // again and keep it for the reads to come.
            FuseTree.Ref ref = server.tree.ref(nodeId());
            if (ref == null || ref.node().directory()) {
                replyError(ref == null ? Libc.ENOENT : Libc.EISDIR);
                return;
            }
            content = server.render(ref, callerPid());
            if (content == null) {
                replyError(Libc.EIO);
                return;
            }
            if (server.cached) {
                server.snapshots.refresh(ref.id(), content, false);
            } else {
                server.openFiles.put(handle, ref.id(), content);
            }
        }
        int count = 0;
        if (offset >= 0 && offset < content.length) {
            count = (int) Math.min(Math.min(size, content.length - offset), REPLY_BUFFER - OUT_HEADER_SIZE);
            MemorySegment.copy(content, (int) offset, reply, JAVA_BYTE, OUT_HEADER_SIZE, count);
        }
        replyOk(count);
    }

    /** Cached mode: the snapshot whose size the kernel was told, or null. */
    private byte[] cachedContent() {
        Snapshots.Snapshot snapshot = server.snapshots.get(nodeId());
        return snapshot == null ? null : snapshot.content();
    }

    private void release() {
        long handle = request.get(JAVA_LONG, IN_HEADER_SIZE + READ_IN_FH);
        OpenFiles.Entry entry = server.openFiles.remove(handle);
        int backingId = OpenFiles.backingId(handle);
        if (entry != null && !entry.foreign()) {
            if (backingId != 0) {
                server.backings.release(entry.nodeId(), backingId);
            }
        } else {
            server.backings.releaseForeign(backingId); // a predecessor's handle
        }
        replyOk(0);
    }

    private void opendir() {
        FuseTree.Ref ref = server.tree.ref(nodeId());
        FuseTree.Node node = ref == null ? null : ref.node();
        if (node == null || !node.directory()) {
            replyError(node == null ? Libc.ENOENT : Libc.ENOTDIR);
            return;
        }
        payload(OPEN_OUT_SIZE);
        replyOk(OPEN_OUT_SIZE);
    }

    /** Entries are ".", ".." and the children; an entry's offset is its index plus one. */
    private void readdir() {
        FuseTree.Ref ref = server.tree.ref(nodeId());
        FuseTree.Node dir = ref == null ? null : ref.node();
        if (dir == null || !dir.directory()) {
            replyError(dir == null ? Libc.ENOENT : Libc.ENOTDIR);
            return;
        }
        long offset = request.get(JAVA_LONG, IN_HEADER_SIZE + READ_IN_OFFSET);
        int limit = Math.min(request.get(JAVA_INT, IN_HEADER_SIZE + READ_IN_SIZE), REPLY_BUFFER - OUT_HEADER_SIZE);
        int used = 0;
        int entries = dir.children().size() + 2;
        for (long index = Math.max(0, offset); index < entries; index++) {
            String name;
            long ino;
            int type;
            if (index < 2) {
                name = index == 0 ? "." : "..";
                ino = index == 0 ? ref.id() : server.tree.parentId(ref);
                type = DT_DIR;
            } else {
                FuseTree.Node child = dir.children().get((int) index - 2);
                name = child.name();
                ino = server.tree.idIn(ref.container(), child);
                type = child.directory() ? DT_DIR : DT_REG;
            }
            byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
            int recordSize = (DIRENT_NAME + bytes.length + 7) & ~7;
            if (used + recordSize > limit) {
                break;
            }
            long at = OUT_HEADER_SIZE + used;
            reply.asSlice(at, recordSize).fill((byte) 0);
            reply.set(JAVA_LONG, at + DIRENT_INO, ino);
            reply.set(JAVA_LONG, at + DIRENT_OFF, index + 1);
            reply.set(JAVA_INT, at + DIRENT_NAMELEN, bytes.length);
            reply.set(JAVA_INT, at + DIRENT_TYPE, type);
            MemorySegment.copy(bytes, 0, reply, JAVA_BYTE, at + DIRENT_NAME, bytes.length);
            used += recordSize;
        }
        replyOk(used);
    }

    private void statfs() {
        MemorySegment out = payload(STATFS_OUT_SIZE);
        out.set(JAVA_INT, STATFS_BSIZE, 4096);
        out.set(JAVA_INT, STATFS_NAMELEN, 255);
        out.set(JAVA_INT, STATFS_FRSIZE, 4096);
        replyOk(STATFS_OUT_SIZE);
    }

    private void access() {
        if (server.tree.ref(nodeId()) == null) {
            replyError(Libc.ENOENT);
        } else if ((request.get(JAVA_INT, IN_HEADER_SIZE + ACCESS_IN_MASK) & W_OK) != 0) {
            replyError(Libc.EROFS);
        } else {
            replyOk(0);
        }
    }

    /** {@code snapshot}: a cached file's size and time; null for the static ones. */
    private void putAttr(MemorySegment out, long at, FuseTree.Ref ref, Snapshots.Snapshot snapshot) {
        FuseTree.Node node = ref.node();
        out.set(JAVA_LONG, at + ATTR_INO, ref.id());
        out.set(JAVA_LONG, at + ATTR_SIZE, snapshot == null ? node.size() : snapshot.content().length);
        out.set(JAVA_LONG, at + ATTR_ATIME, server.startSeconds);
        out.set(JAVA_LONG, at + ATTR_CTIME, server.startSeconds);
        if (snapshot == null) {
            out.set(JAVA_LONG, at + ATTR_MTIME, server.startSeconds);
        } else {
            out.set(JAVA_LONG, at + ATTR_MTIME, snapshot.mtimeNanos() / 1_000_000_000L);
            out.set(JAVA_INT, at + ATTR_MTIMENSEC, (int) (snapshot.mtimeNanos() % 1_000_000_000L));
        }
        out.set(JAVA_INT, at + ATTR_MODE, node.directory() ? S_IFDIR | 0555 : S_IFREG | 0444);
        out.set(JAVA_INT, at + ATTR_NLINK, node.directory() ? 2 + node.subdirectories() : 1);
        out.set(JAVA_INT, at + ATTR_BLKSIZE, 4096);
    }

    private long nodeId() {
        return request.get(JAVA_LONG, IN_NODEID);
    }

    /** The calling thread's id in the mounter's pid namespace, as the kernel reports it. */
    private long callerPid() {
        return Integer.toUnsignedLong(request.get(JAVA_INT, IN_PID));
    }

    /** The zeroed payload area of the reply, for a struct of {@code size} bytes. */
    private MemorySegment payload(int size) {
        MemorySegment out = reply.asSlice(OUT_HEADER_SIZE, size);
        out.fill((byte) 0);
        return out;
    }

    private void replyOk(int payloadSize) {
        send(0, OUT_HEADER_SIZE + payloadSize);
    }

    private void replyError(int errno) {
        send(-errno, OUT_HEADER_SIZE);
    }

    private void send(int error, int length) {
        reply.set(JAVA_INT, OUT_LEN, length);
        reply.set(JAVA_INT, OUT_ERROR, error);
        reply.set(JAVA_LONG, OUT_UNIQUE, request.get(JAVA_LONG, IN_UNIQUE));
        // ENOENT: the request was interrupted and is gone; nothing else to do either way.
        Libc.write(fd, reply, length);
    }

    @Override
    public void close() {
        Libc.close(epollFd);
        arena.close();
    }
}
