package dev.vessel.linux;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Unix stream sockets as raw file descriptors, for what java.nio cannot do: passing file
 * descriptors (SCM_RIGHTS). The OCI seccomp listener receives notify fds this way, and the
 * keeper holds fds for the daemon across restarts.
 */
public final class UnixSockets {
    private static final int AF_UNIX = 1;
    private static final int SOCK_STREAM = 1;
    private static final int SOCK_SEQPACKET = 5;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int SOL_SOCKET = 1;
    private static final int SCM_RIGHTS = 1;
    private static final int MSG_CMSG_CLOEXEC = 0x40000000;
    private static final int SOCKADDR_UN_SIZE = 110;
    private static final int MAX_FDS = 16;

    private static final MethodHandle SOCKET = Libc.errnoCall("socket",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle BIND = Libc.errnoCall("bind",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle CONNECT = Libc.errnoCall("connect",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle LISTEN = Libc.errnoCall("listen",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle ACCEPT4 = Libc.errnoCall("accept4",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    private static final MethodHandle POLL = Libc.errnoCall("poll",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle GETSOCKNAME = Libc.errnoCall("getsockname",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle SENDMSG = Libc.errnoCall("sendmsg",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle RECVMSG = Libc.errnoCall("recvmsg",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));

    /** Bytes read from a socket and the file descriptors that came with them. */
    public record Received(byte[] data, int[] fds) {
        public String text() {
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    private UnixSockets() {}

    /** A listening socket bound at {@code path} (which must not exist). */
    public static int listen(Path path) throws IOException {
        int fd = socket(SOCK_STREAM);
        try (Arena arena = Arena.ofConfined()) {
            int rc = (int) BIND.invokeExact(Libc.CAPTURE.get(), fd, address(arena, path), SOCKADDR_UN_SIZE);
            checkOrClose(rc, fd, "bind " + path);
            rc = (int) LISTEN.invokeExact(Libc.CAPTURE.get(), fd, 128);
            checkOrClose(rc, fd, "listen " + path);
            return fd;
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int connect(Path path) throws IOException {
        return connect(path, SOCK_STREAM);
    }

    /** Connects a SOCK_SEQPACKET socket: every send is received whole, as one message. */
    public static int connectPackets(Path path) throws IOException {
        return connect(path, SOCK_SEQPACKET);
    }

    private static int connect(Path path, int type) throws IOException {
        int fd = socket(type);
        try (Arena arena = Arena.ofConfined()) {
            int rc = (int) CONNECT.invokeExact(Libc.CAPTURE.get(), fd, address(arena, path), SOCKADDR_UN_SIZE);
            checkOrClose(rc, fd, "connect " + path);
            return fd;
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Whether {@code fd} has something to read within {@code millis} (a hang-up counts). */
    public static boolean readable(int fd, int millis) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pollfd = arena.allocate(8, 4);
            pollfd.set(JAVA_INT, 0, fd);
            pollfd.set(JAVA_SHORT, 4, (short) 1); // POLLIN
            int rc = (int) POLL.invokeExact(Libc.CAPTURE.get(), pollfd, 1L, millis);
            return rc > 0;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** The path a Unix socket is bound to, or null (not a bound Unix socket, or not a socket at all). */
    public static Path boundPath(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment address = arena.allocate(SOCKADDR_UN_SIZE, 2);
            MemorySegment length = arena.allocate(JAVA_INT);
            length.set(JAVA_INT, 0, SOCKADDR_UN_SIZE);
            int rc = (int) GETSOCKNAME.invokeExact(Libc.CAPTURE.get(), fd, address, length);
            int n = length.get(JAVA_INT, 0);
            if (rc < 0 || address.get(JAVA_SHORT, 0) != AF_UNIX || n <= 2) return null;
            byte[] bytes = address.asSlice(2, Math.min(n, SOCKADDR_UN_SIZE) - 2).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            int end = 0;
            while (end < bytes.length && bytes[end] != 0) end++;
            return end == 0 ? null : Path.of(new String(bytes, 0, end, StandardCharsets.UTF_8));
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** The accepted connection's fd, or -errno. */
    public static int accept(int listener) {
        try {
            MemorySegment capture = Libc.CAPTURE.get();
            int fd = (int) ACCEPT4.invokeExact(capture, listener, MemorySegment.NULL, MemorySegment.NULL, SOCK_CLOEXEC);
            return fd < 0 ? -Libc.errno(capture) : fd;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Sends {@code data} with {@code fds} attached. */
    public static void send(int socket, byte[] data, int... fds) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment message = message(arena, arena.allocateFrom(java.lang.foreign.ValueLayout.JAVA_BYTE, data),
                    data.length, fds.length);
            if (fds.length > 0) {
                MemorySegment control = message.get(ADDRESS, 32).reinterpret(controlSpace(fds.length));
                control.set(JAVA_LONG, 0, 16 + 4L * fds.length);
                control.set(JAVA_INT, 8, SOL_SOCKET);
                control.set(JAVA_INT, 12, SCM_RIGHTS);
                for (int i = 0; i < fds.length; i++) {
                    control.set(JAVA_INT, 16 + 4L * i, fds[i]);
                }
            }
            MemorySegment capture = Libc.CAPTURE.get();
            long sent = (long) SENDMSG.invokeExact(capture, socket, message, 0);
            Libc.check(sent < 0 ? -Libc.errno(capture) : sent, "sendmsg");
            if (sent != data.length) {
                throw new IOException("sendmsg: short write");
            }
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Receives up to {@code max} bytes and any fds sent with them; empty data means end of stream. */
    public static Received receive(int socket, int max) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(max);
            MemorySegment message = message(arena, buffer, max, MAX_FDS);
            MemorySegment capture = Libc.CAPTURE.get();
            long n;
            do {
                n = (long) RECVMSG.invokeExact(capture, socket, message, MSG_CMSG_CLOEXEC);
            } while (n < 0 && Libc.errno(capture) == Libc.EINTR);
            Libc.check(n < 0 ? -Libc.errno(capture) : n, "recvmsg");
            long controlLength = message.get(JAVA_LONG, 40);
            int[] fds = new int[0];
            if (controlLength >= 16) {
                MemorySegment control = message.get(ADDRESS, 32).reinterpret(controlLength);
                long cmsgLength = control.get(JAVA_LONG, 0);
                if (control.get(JAVA_INT, 8) == SOL_SOCKET && control.get(JAVA_INT, 12) == SCM_RIGHTS) {
                    fds = new int[(int) ((cmsgLength - 16) / 4)];
                    for (int i = 0; i < fds.length; i++) {
                        fds[i] = control.get(JAVA_INT, 16 + 4L * i);
                    }
                }
            }
            return new Received(buffer.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), fds);
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    private static long controlSpace(int fds) {
        return 16 + ((4L * fds + 7) & ~7L);
    }

    /** A struct msghdr with one iovec over {@code buffer} and room for {@code fds} descriptors. */
    private static MemorySegment message(Arena arena, MemorySegment buffer, long length, int fds) {
        MemorySegment iov = arena.allocate(16, 8);
        iov.set(ADDRESS, 0, buffer);
        iov.set(JAVA_LONG, 8, length);
        MemorySegment message = arena.allocate(56, 8);
        message.set(ADDRESS, 16, iov);
        message.set(JAVA_LONG, 24, 1);
        if (fds > 0) {
            message.set(ADDRESS, 32, arena.allocate(controlSpace(fds), 8));
            message.set(JAVA_LONG, 40, controlSpace(fds));
        }
        return message;
    }

    private static MemorySegment address(Arena arena, Path path) throws IOException {
        byte[] bytes = path.toString().getBytes(StandardCharsets.UTF_8);
        if (bytes.length >= SOCKADDR_UN_SIZE - 2) {
            throw new IOException("socket path " + path + " is too long");
        }
        MemorySegment address = arena.allocate(SOCKADDR_UN_SIZE, 2);
        address.set(JAVA_SHORT, 0, (short) AF_UNIX);
        MemorySegment.copy(bytes, 0, address, java.lang.foreign.ValueLayout.JAVA_BYTE, 2, bytes.length);
        return address;
    }

    private static int socket(int type) throws IOException {
        try {
            MemorySegment capture = Libc.CAPTURE.get();
            int fd = (int) SOCKET.invokeExact(capture, AF_UNIX, type | SOCK_CLOEXEC, 0);
            return (int) Libc.check(fd < 0 ? -Libc.errno(capture) : fd, "socket");
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    private static void checkOrClose(int rc, int fd, String what) throws IOException {
        if (rc < 0) {
            int errno = Libc.errno(Libc.CAPTURE.get());
            Libc.close(fd);
            Libc.check(-errno, what);
        }
    }
}
