package dev.vessel.linux;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * Thin FFM bindings to a few libc system-call wrappers. Every call returns what the syscall
 * returns, or {@code -errno} on failure (the kernel's own convention), so hot loops pay no
 * exception; {@link #check} turns a result into an {@link IOException} where failing is rare.
 */
public final class Libc {
    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 1;
    public static final int O_RDWR = 2;
    public static final int O_ACCMODE = 3;
    public static final int O_NONBLOCK = 0x800;
    public static final int O_CLOEXEC = 0x80000;
    public static final int F_GETFL = 3;
    public static final int F_SETFL = 4;
    public static final int MFD_CLOEXEC = 1;

    public static final int EPOLL_CLOEXEC = 0x80000;
    public static final int EPOLL_CTL_ADD = 1;
    public static final int EPOLLIN = 0x1;
    public static final int EPOLLEXCLUSIVE = 1 << 28;
    /** struct epoll_event is packed on x86-64 (12 bytes) and naturally aligned elsewhere (16). */
    public static final int EPOLL_EVENT_SIZE = isX86_64() ? 12 : 16;
    public static final int EPOLL_EVENT_DATA = isX86_64() ? 4 : 8;
    public static final int EFD_CLOEXEC = 0x80000;
    public static final int EFD_NONBLOCK = 0x800;

    public static final long MS_RDONLY = 1;
    public static final long MS_NOSUID = 2;
    public static final long MS_NODEV = 4;
    public static final long MS_NOEXEC = 8;
    public static final int MNT_DETACH = 2;

    public static final int ENOENT = 2;
    public static final int PROT_READ = 1;
    public static final int PROT_WRITE = 2;
    public static final int PROT_EXEC = 4;
    public static final int MAP_SHARED = 1;
    public static final int MAP_PRIVATE = 2;
    public static final int MAP_ANONYMOUS = 0x20;

    public static final int EINTR = 4;
    public static final int EIO = 5;
    public static final int EBADF = 9;
    public static final int ECHILD = 10;
    public static final int EAGAIN = 11;
    public static final int EACCES = 13;
    public static final int EINVAL = 22;
    public static final int ENODEV = 19;
    public static final int EPIPE = 32;
    public static final int ENOTDIR = 20;
    public static final int EISDIR = 21;
    public static final int EROFS = 30;
    public static final int ERANGE = 34;
    public static final int ENOSYS = 38;
    public static final int ENODATA = 61;
    public static final int ECONNABORTED = 103;

    static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final Linker.Option ERRNO = Linker.Option.captureCallState("errno");
    private static final MemoryLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO_HANDLE =
            CAPTURE_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    // One capture buffer per thread, so concurrent calls never see each other's errno.
    static final ThreadLocal<MemorySegment> CAPTURE =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE_LAYOUT));

    private static final MethodHandle OPEN = errnoCall("open",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle READ = errnoCall("read",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE = errnoCall("write",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle CLOSE = errnoCall("close",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle MOUNT = errnoCall("mount",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
    private static final MethodHandle UMOUNT2 = errnoCall("umount2",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle IOCTL = errnoCall("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle FCNTL = errnoCall("fcntl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle MEMFD_CREATE = errnoCall("memfd_create",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle EPOLL_CREATE1 = errnoCall("epoll_create1",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle EPOLL_CTL = errnoCall("epoll_ctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle EPOLL_WAIT = errnoCall("epoll_wait",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    private static final MethodHandle EVENTFD = errnoCall("eventfd",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle PRCTL = errnoCall("prctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle WAITPID = errnoCall("waitpid",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle KILL = errnoCall("kill",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle STRERROR = LINKER.downcallHandle(LIBC.findOrThrow("strerror"),
            FunctionDescriptor.of(ADDRESS, JAVA_INT));

    private static final MethodHandle MMAP = errnoCall("mmap",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MUNMAP = errnoCall("munmap",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    private Libc() {}

    public static int open(String path, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment capture = CAPTURE.get();
            int result = (int) OPEN.invokeExact(capture, arena.allocateFrom(path), flags, 0);
            return result < 0 ? -errno(capture) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static long read(int fd, MemorySegment buffer, long count) {
        try {
            MemorySegment capture = CAPTURE.get();
            long result = (long) READ.invokeExact(capture, fd, buffer, count);
            return result < 0 ? -errno(capture) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static long write(int fd, MemorySegment buffer, long count) {
        try {
            MemorySegment capture = CAPTURE.get();
            long result = (long) WRITE.invokeExact(capture, fd, buffer, count);
            return result < 0 ? -errno(capture) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int close(int fd) {
        try {
            MemorySegment capture = CAPTURE.get();
            int result = (int) CLOSE.invokeExact(capture, fd);
            return result < 0 ? -errno(capture) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** mount(2); {@code data} may be null. */
    public static int mount(String source, String target, String type, long flags, String data) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment capture = CAPTURE.get();
            int result = (int) MOUNT.invokeExact(capture, cString(arena, source), cString(arena, target),
                    cString(arena, type), flags, cString(arena, data));
            return result < 0 ? -errno(capture) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int umount2(String target, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment capture = CAPTURE.get();
            int result = (int) UMOUNT2.invokeExact(capture, arena.allocateFrom(target), flags);
            return result < 0 ? -errno(capture) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** ioctl(2) whose third argument is a pointer (or {@link MemorySegment#NULL}). */
    public static int ioctl(int fd, long request, MemorySegment argument) {
        try {
            MemorySegment capture = CAPTURE.get();
            int result = (int) IOCTL.invokeExact(capture, fd, request, argument);
            return result < 0 ? -errno(capture) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** fcntl(2) with an int argument (F_GETFL, F_SETFL, ...). */
    public static int fcntl(int fd, int command, int argument) {
        try {
            MemorySegment capture = CAPTURE.get();
            int result = (int) FCNTL.invokeExact(capture, fd, command, argument);
            return result < 0 ? -errno(capture) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** prctl(2) with one argument (the others 0), e.g. PR_SET_CHILD_SUBREAPER. */
    public static int prctl(int option, long argument) {
        try {
            MemorySegment capture = CAPTURE.get();
            int result = (int) PRCTL.invokeExact(capture, option, argument, 0L, 0L, 0L);
            return result < 0 ? -errno(capture) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** waitpid(2): the pid waited for, its status word in {@code status[0]}; or -errno. */
    public static int waitpid(int pid, int[] status, int options) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment capture = CAPTURE.get();
            MemorySegment word = arena.allocate(JAVA_INT);
            int result = (int) WAITPID.invokeExact(capture, pid, word, options);
            if (result < 0) return -errno(capture);
            status[0] = word.get(JAVA_INT, 0);
            return result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** kill(2): 0, or -errno. */
    public static int kill(int pid, int signal) {
        try {
            MemorySegment capture = CAPTURE.get();
            int result = (int) KILL.invokeExact(capture, pid, signal);
            return result < 0 ? -errno(capture) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** memfd_create(2): an anonymous shmem file; {@code name} shows in /proc/PID/fd. */
    public static int memfdCreate(String name, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment capture = CAPTURE.get();
            int result = (int) MEMFD_CREATE.invokeExact(capture, arena.allocateFrom(name), flags);
            return result < 0 ? -errno(capture) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int epollCreate1(int flags) {
        try {
            MemorySegment capture = CAPTURE.get();
            int result = (int) EPOLL_CREATE1.invokeExact(capture, flags);
            return result < 0 ? -errno(capture) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** epoll_ctl(2) with an event whose data is {@code data} (usually the fd itself). */
    public static int epollCtl(int epfd, int op, int fd, int events, long data) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment event = arena.allocate(EPOLL_EVENT_SIZE, 8);
            event.set(JAVA_INT, 0, events);
            event.set(JAVA_LONG_UNALIGNED, EPOLL_EVENT_DATA, data);
            MemorySegment capture = CAPTURE.get();
            int result = (int) EPOLL_CTL.invokeExact(capture, epfd, op, fd, event);
            return result < 0 ? -errno(capture) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** epoll_wait(2) into {@code events}, an array of EPOLL_EVENT_SIZE-byte entries. */
    public static int epollWait(int epfd, MemorySegment events, int maxEvents, int timeoutMillis) {
        try {
            MemorySegment capture = CAPTURE.get();
            int result = (int) EPOLL_WAIT.invokeExact(capture, epfd, events, maxEvents, timeoutMillis);
            return result < 0 ? -errno(capture) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** The data of entry {@code index} filled by {@link #epollWait}. */
    public static long epollEventData(MemorySegment events, int index) {
        return events.get(JAVA_LONG_UNALIGNED, (long) index * EPOLL_EVENT_SIZE + EPOLL_EVENT_DATA);
    }

    public static int eventfd(int initialValue, int flags) {
        try {
            MemorySegment capture = CAPTURE.get();
            int result = (int) EVENTFD.invokeExact(capture, initialValue, flags);
            return result < 0 ? -errno(capture) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * mmap(2) at no fixed address; returns the mapping as a segment of {@code length} bytes, or
     * a segment whose address is {@code -errno} (test with {@link #mmapFailed}).
     */
    public static MemorySegment mmap(long length, int prot, int flags, int fd, long offset) {
        try {
            MemorySegment capture = CAPTURE.get();
            MemorySegment result = (MemorySegment) MMAP.invokeExact(capture, MemorySegment.NULL, length, prot,
                    flags, fd, offset);
            return result.address() == -1L ? MemorySegment.ofAddress(-errno(capture))
                    : result.reinterpret(length);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Whether {@link #mmap} failed; the errno is then {@code -segment.address()}. */
    public static boolean mmapFailed(MemorySegment segment) {
        return segment.address() < 0;
    }

    public static int munmap(MemorySegment mapping) {
        try {
            MemorySegment capture = CAPTURE.get();
            int result = (int) MUNMAP.invokeExact(capture, mapping, mapping.byteSize());
            return result < 0 ? -errno(capture) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** The message for an errno value, e.g. "No such file or directory". */
    public static String strerror(int errno) {
        try {
            MemorySegment message = (MemorySegment) STRERROR.invokeExact(errno);
            return message.reinterpret(Long.MAX_VALUE).getString(0);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Returns {@code result} when it is not negative, else throws "what: message (errno N)". */
    public static long check(long result, String what) throws IOException {
        if (result < 0) {
            int errno = (int) -result;
            throw new IOException(what + ": " + strerror(errno) + " (errno " + errno + ")");
        }
        return result;
    }

    private static boolean isX86_64() {
        String arch = System.getProperty("os.arch");
        return arch.equals("amd64") || arch.equals("x86_64");
    }

    private static MemorySegment cString(Arena arena, String s) {
        return s == null ? MemorySegment.NULL : arena.allocateFrom(s);
    }

    static int errno(MemorySegment capture) {
        return (int) ERRNO_HANDLE.get(capture, 0L);
    }

    static MethodHandle errnoCall(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        Linker.Option[] all = new Linker.Option[options.length + 1];
        all[0] = ERRNO;
        System.arraycopy(options, 0, all, 1, options.length);
        return LINKER.downcallHandle(LIBC.findOrThrow(name), descriptor, all);
    }
}
