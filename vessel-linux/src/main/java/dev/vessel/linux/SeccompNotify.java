package dev.vessel.linux;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Seccomp user notification (seccomp_unotify(2)) on x86_64: receive a trapped system call,
 * write a result into the caller's memory, and answer it — or let it run for real.
 */
public final class SeccompNotify {
    public static final int SYS_SYSINFO = 99;
    public static final int SYS_SCHED_GETAFFINITY = 204;

    private static final long IOCTL_RECV = 0xc0502100L;
    private static final long IOCTL_SEND = 0xc0182101L;
    private static final long IOCTL_ID_VALID = 0x40082102L;
    private static final int FLAG_CONTINUE = 1;
    private static final int NOTIF_SIZE = 80;
    private static final int RESP_SIZE = 24;
    private static final short POLLIN = 1;

    private static final MethodHandle PROCESS_VM_WRITEV = Libc.errnoCall("process_vm_writev",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle POLL = Libc.errnoCall("poll",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));

    /** One trapped call: its id (for the answer), the calling thread and the syscall's arguments. */
    public record Notification(long id, int pid, int syscall, long[] args) {}

    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment notif = arena.allocate(NOTIF_SIZE, 8);
    private final MemorySegment resp = arena.allocate(RESP_SIZE, 8);
    private final MemorySegment idBuffer = arena.allocate(8, 8);
    private final MemorySegment pollfd = arena.allocate(8, 4);

    /** Serves one notify fd; use from one thread. */
    public SeccompNotify(int fd) {
        this.fd = fd;
    }

    public int fd() {
        return fd;
    }

    /**
     * Waits for the next notification. Returns null when the filter has no task left (the
     * container is gone) or the fd is bad; a notification whose caller died meanwhile is skipped.
     */
    public Notification receive() {
        while (true) {
            pollfd.set(JAVA_INT, 0, fd);
            pollfd.set(JAVA_SHORT, 4, POLLIN);
            pollfd.set(JAVA_SHORT, 6, (short) 0);
            int rc = poll(-1);
            if (rc < 0 && -rc == Libc.EINTR) {
                continue;
            }
            short revents = pollfd.get(JAVA_SHORT, 6);
            if (rc < 0 || (revents & POLLIN) == 0) {
                return null; // POLLHUP: every task of the filter has exited
            }
            notif.fill((byte) 0); // the kernel insists on a zeroed buffer
            int result = Libc.ioctl(fd, IOCTL_RECV, notif);
            if (result == -Libc.ENOENT || result == -Libc.EINTR) {
                continue; // the caller was killed before we got to it
            }
            if (result < 0) {
                return null;
            }
            long[] args = new long[6];
            for (int i = 0; i < 6; i++) {
                args[i] = notif.get(JAVA_LONG, 32 + 8L * i);
            }
            return new Notification(notif.get(JAVA_LONG, 0), notif.get(JAVA_INT, 8), notif.get(JAVA_INT, 16), args);
        }
    }

    /** True while the notification's caller still waits (so its pid still names that caller). */
    public boolean stillWaiting(long id) {
        idBuffer.set(JAVA_LONG, 0, id);
        return Libc.ioctl(fd, IOCTL_ID_VALID, idBuffer) == 0;
    }

    /** Completes the call with a return value (error 0) or an error number (value ignored). */
    public void answer(long id, long value, int errno) {
        respond(id, errno == 0 ? value : 0, -errno, 0);
    }

    /** Lets the call run in the kernel as if it had not been trapped. */
    public void letThrough(long id) {
        respond(id, 0, 0, FLAG_CONTINUE);
    }

    private void respond(long id, long value, int error, int flags) {
        resp.set(JAVA_LONG, 0, id);
        resp.set(JAVA_LONG, 8, value);
        resp.set(JAVA_INT, 16, error);
        resp.set(JAVA_INT, 20, flags);
        Libc.ioctl(fd, IOCTL_SEND, resp); // ENOENT: the caller is gone, nothing to answer
    }

    private int poll(int timeoutMillis) {
        try {
            MemorySegment capture = Libc.CAPTURE.get();
            int rc = (int) POLL.invokeExact(capture, pollfd, 1L, timeoutMillis);
            return rc < 0 ? -Libc.errno(capture) : rc;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Copies {@code data} to {@code address} in process {@code pid}; returns bytes written or -errno. */
    public static long writeMemory(int pid, long address, MemorySegment data) {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment local = call.allocate(16, 8);
            local.set(ADDRESS, 0, data);
            local.set(JAVA_LONG, 8, data.byteSize());
            MemorySegment remote = call.allocate(16, 8);
            remote.set(JAVA_LONG, 0, address);
            remote.set(JAVA_LONG, 8, data.byteSize());
            MemorySegment capture = Libc.CAPTURE.get();
            long n = (long) PROCESS_VM_WRITEV.invokeExact(capture, pid, local, 1L, remote, 1L, 0L);
            return n < 0 ? -Libc.errno(capture) : n;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public void close() {
        Libc.close(fd);
        arena.close();
    }
}
