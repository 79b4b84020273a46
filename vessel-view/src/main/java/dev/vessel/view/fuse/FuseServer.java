package dev.vessel.view.fuse;

import dev.vessel.linux.Libc;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A read-only FUSE file system served over the raw /dev/fuse protocol: a few threads each read
 * one request at a time from the same descriptor and write its reply, as libfuse does. The
 * descriptor is non-blocking and each thread waits in its own epoll, so that {@link #close} can
 * wake them (a read(2) blocked on /dev/fuse wakes for nothing but a request).
 *
 * <p>The server keeps no state the kernel depends on, so another process can take over a live
 * connection with {@link #adopt}: inode numbers are hashes of paths, and a file handle it does
 * not know is rendered again.
 *
 * <p>Two ways to serve, chosen at mount: <em>per open</em>, every open renders for its caller and
 * reads bypass the page cache (direct I/O, or passthrough where the kernel has it); <em>cached</em>,
 * OPEN is refused with ENOSYS once, so the kernel stops sending OPEN and RELEASE, and keeps
 * pages and attributes: a container directory's files ({@link FuseTree}) are answered from the
 * kernel's page cache, at the kernel's own speed, and revalidated with one GETATTR when their
 * attributes are older than {@link #ATTR_TTL_NANOS} (see {@link Snapshots}).
 */
public final class FuseServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(FuseServer.class.getName());
    private static final int THREADS = 4;
    /**
     * Cached, the kernel sends a GETATTR per reading container every ATTR_TTL_NANOS and a READ only
     * when a file changed: two threads keep one free while the other renders (each thread costs its
     * stack and 264 KiB of buffers).
     */
    private static final int CACHED_THREADS = 2;
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(2);
    /**
     * Cached mode: how long the kernel may use a container file's size and time, and with them its
     * pages, before it asks again. With the view's own render cache (as long) a change is seen within
     * 100 ms.
     */
    static final long ATTR_TTL_NANOS = 50_000_000L;

    private final int fd;
    private final int stopFd; // an eventfd made readable by close()
    private final FuseFileSystem fs;
    final FuseTree tree;
    final OpenFiles openFiles = new OpenFiles();
    /** Whether the kernel caches (see the class comment); fixed for the connection's life. */
    final boolean cached;
    final Snapshots snapshots = new Snapshots();
    /** Passthrough backing files; enabled by FUSE_INIT, or by a probe when adopting. */
    final Backings backings;
    final long startSeconds = System.currentTimeMillis() / 1000;
    private final List<Thread> threads = new ArrayList<>();
    private volatile boolean stopping;
    private final AtomicLong nextFailureLogNanos = new AtomicLong(System.nanoTime());
    private final AtomicInteger unloggedFailures = new AtomicInteger();

    private FuseServer(int fd, FuseFileSystem fs, Path backingTable, boolean cached) throws IOException {
        this.tree = new FuseTree(fs.files(), fs);
        this.cached = cached;
        this.fd = fd;
        this.fs = fs;
        this.backings = new Backings(fd, false, backingTable);
        this.stopFd = (int) Libc.check(Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK), "eventfd");
    }

    /**
     * Mounts {@code fs} on {@code mountpoint} (an existing directory), performs the FUSE_INIT
     * handshake and starts serving. Needs CAP_SYS_ADMIN.
     */
    public static FuseServer mount(Path mountpoint, FuseFileSystem fs) throws IOException {
        return mount(mountpoint, fs, null);
    }

    /**
     * Mounts with a backing table at {@code backingTable} (a file on tmpfs), which a successor
     * passes to {@link #adopt(int, FuseFileSystem, Path)} so that files held open across a
     * restart stay openable.
     */
    public static FuseServer mount(Path mountpoint, FuseFileSystem fs, Path backingTable) throws IOException {
        return mount(mountpoint, fs, backingTable, false);
    }

    /** Mounts serving per open, or {@code cached} (see the class comment). */
    public static FuseServer mount(Path mountpoint, FuseFileSystem fs, Path backingTable, boolean cached)
            throws IOException {
        if (backingTable != null) {
            java.nio.file.Files.deleteIfExists(backingTable); // a new connection: nothing to inherit
        }
        int fd = (int) Libc.check(Libc.open("/dev/fuse", Libc.O_RDWR | Libc.O_CLOEXEC | Libc.O_NONBLOCK), "open /dev/fuse");
        FuseServer server;
        try {
            server = new FuseServer(fd, fs, backingTable, cached);
            String options = "fd=" + fd + ",rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions";
            Libc.check(Libc.mount("vessel", mountpoint.toString(), "fuse.vessel",
                    Libc.MS_RDONLY | Libc.MS_NOSUID | Libc.MS_NODEV | Libc.MS_NOEXEC, options),
                    "mount fuse.vessel on " + mountpoint);
        } catch (IOException | RuntimeException e) {
            Libc.close(fd);
            throw e;
        }
        try (FuseWorker handshake = new FuseWorker(server)) {
            handshake.init();
        } catch (IOException | RuntimeException e) {
            Libc.umount2(mountpoint.toString(), Libc.MNT_DETACH);
            Libc.close(server.stopFd);
            Libc.close(fd);
            throw e;
        }
        server.start();
        return server;
    }

    /**
     * Serves a connection that another server (usually in a previous daemon process) mounted
     * and initialised; {@code fuseFd} is its /dev/fuse descriptor, passed on by a process that
     * kept it open. No FUSE_INIT is exchanged, so whether the connection has passthrough is found
     * by registering a probe backing file. Requests the previous server had read but not answered
     * are asked for again (FUSE_NOTIFY_RESEND, kernel 6.9+), so no reader stays stuck.
     */
    public static FuseServer adopt(int fuseFd, FuseFileSystem fs) throws IOException {
        return adopt(fuseFd, fs, null);
    }

    /** {@link #adopt(int, FuseFileSystem)}, taking over the predecessor's backing table. */
    public static FuseServer adopt(int fuseFd, FuseFileSystem fs, Path backingTable) throws IOException {
        return adopt(fuseFd, fs, backingTable, false);
    }

    /** {@link #adopt(int, FuseFileSystem, Path)} of a connection mounted {@code cached} or not. */
    public static FuseServer adopt(int fuseFd, FuseFileSystem fs, Path backingTable, boolean cached) throws IOException {
        int flags = (int) Libc.check(Libc.fcntl(fuseFd, Libc.F_GETFL, 0), "fcntl F_GETFL");
        Libc.check(Libc.fcntl(fuseFd, Libc.F_SETFL, flags | Libc.O_NONBLOCK), "fcntl F_SETFL");
        FuseServer server = new FuseServer(fuseFd, fs, backingTable, cached);
        server.backings.enable(!cached && Backings.probe(fuseFd));
        server.notifyResend();
        server.start();
        return server;
    }

    /** Lazily detaches the mount at {@code mountpoint}: open files stay usable until closed. */
    public static void unmount(Path mountpoint) throws IOException {
        Libc.check(Libc.umount2(mountpoint.toString(), Libc.MNT_DETACH), "umount " + mountpoint);
    }

    /** Whether OPEN answers with passthrough backing files (kernel 6.9+, negotiated at INIT). */
    public boolean passthrough() {
        return backings.enabled();
    }

    /** The /dev/fuse descriptor: hand it to a keeper process to survive a restart. */
    public int fd() {
        return fd;
    }

    /**
     * Stops serving: each thread answers the request in hand and exits. The descriptor stays
     * open, and with it the mount, for a successor to {@link #adopt}; closing it (in every process
     * that holds it) ends the connection.
     */
    @Override
    public synchronized void close() {
        if (stopping) {
            return;
        }
        stopping = true;
        try (Arena arena = Arena.ofConfined()) {
            Libc.write(stopFd, arena.allocateFrom(JAVA_LONG, 1), 8); // wakes every thread's epoll_wait
        }
        long deadline = System.nanoTime() + STOP_TIMEOUT.toNanos();
        for (Thread thread : threads) {
            try {
                thread.join(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        if (threads.stream().noneMatch(Thread::isAlive)) {
            Libc.close(stopFd); // else a stuck thread may still wait on it
        }
    }

    /** Whether to ask for passthrough at FUSE_INIT; -Dvessel.view.passthrough=false turns it off. */
    boolean passthroughWanted() {
        return !cached && !"false".equals(System.getProperty("vessel.view.passthrough"));
    }

    boolean stopping() {
        return stopping;
    }

    int stopFd() {
        return stopFd;
    }

    /**
     * Renders a file of the shared tree, or of a container's copy when {@code ref} is one; never
     * throws: a failing renderer yields the fallback, or null for EIO.
     */
    byte[] render(FuseTree.Ref ref, long callerPid) {
        FuseTree.Node node = ref.node();
        try {
            byte[] content = ref.container() == FuseTree.SHARED ? fs.render(node.path(), callerPid)
                    : fs.render(node.path(), callerPid, ref.container());
            if (content != null) {
                return content;
            }
            throw new IllegalStateException("renderer returned null");
        } catch (Throwable failure) {
            logFailure("render " + node.path() + " for pid " + callerPid, failure);
            try {
                return fs.fallback(node.path(), callerPid);
            } catch (Throwable fallbackFailure) {
                return null;
            }
        }
    }

    /** Logs one line per failure, at most one a second, so a broken renderer cannot flood the log. */
    void logFailure(String what, Throwable failure) {
        long now = System.nanoTime();
        long next = nextFailureLogNanos.get();
        if (now - next < 0 || !nextFailureLogNanos.compareAndSet(next, now + 1_000_000_000L)) {
            unloggedFailures.incrementAndGet();
            return;
        }
        int suppressed = unloggedFailures.getAndSet(0);
        LOG.log(System.Logger.Level.WARNING, "fuse: " + what + " failed: " + failure
                + (suppressed > 0 ? " (" + suppressed + " similar failures not logged)" : ""));
    }

    private void start() {
        for (int i = 0; i < (cached ? CACHED_THREADS : THREADS); i++) {
            Thread thread = Thread.ofPlatform().name("vessel-fuse-" + fd + "-" + i).daemon().unstarted(() -> {
                try (FuseWorker worker = new FuseWorker(this)) {
                    worker.serve();
                } catch (IOException e) {
                    logFailure("start a serving thread", e);
                }
            });
            threads.add(thread);
            thread.start();
        }
    }

    /** FUSE_NOTIFY_RESEND; older kernels answer EINVAL, which is harmless. */
    private void notifyResend() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment message = arena.allocate(FuseProtocol.OUT_HEADER_SIZE, 8);
            message.set(JAVA_INT, FuseProtocol.OUT_LEN, FuseProtocol.OUT_HEADER_SIZE);
            message.set(JAVA_INT, FuseProtocol.OUT_ERROR, FuseProtocol.NOTIFY_RESEND);
            message.set(JAVA_LONG, FuseProtocol.OUT_UNIQUE, 0);
            Libc.write(fd, message, message.byteSize());
        }
    }
}
