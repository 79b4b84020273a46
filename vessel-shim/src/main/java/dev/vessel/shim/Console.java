package dev.vessel.shim;

import dev.vessel.linux.FdStreams;
import dev.vessel.linux.Libc;
import dev.vessel.linux.UnixSockets;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.logging.Logger;

/**
 * A process's terminal, as the runc shim gives one: the runtime is handed {@code --console-socket},
 * sends the pty's master over it (SCM_RIGHTS), and the shim copies between the master and the
 * engine's stdin and stdout fifos, and sets the window size on ResizePty.
 */
final class Console implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(Console.class.getName());
    private static final long TIOCSWINSZ = 0x5414;

    private final Path socket;
    private final int listener;
    private volatile int master = -1;

    private Console(Path socket, int listener) {
        this.socket = socket;
        this.listener = listener;
    }

    /** A console socket at {@code socket} (replaced if there), listening before the runtime runs. */
    static Console listen(Path socket) throws IOException {
        Files.deleteIfExists(socket);
        return new Console(socket, UnixSockets.listen(socket));
    }

    Path socket() {
        return socket;
    }

    /** After the runtime created the process: the master it sent (queued on the socket meanwhile). */
    void receiveMaster() throws IOException {
        if (!UnixSockets.readable(listener, 10_000)) throw new IOException("the runtime sent no terminal on " + socket);
        int connection = UnixSockets.accept(listener);
        if (connection < 0) throw new IOException("accept " + socket + ": " + Libc.strerror(-connection));
        try {
            UnixSockets.Received received = UnixSockets.receive(connection, 4096);
            if (received.fds().length == 0) throw new IOException("the runtime sent no terminal descriptor on " + socket);
            master = received.fds()[0];
            for (int i = 1; i < received.fds().length; i++) Libc.close(received.fds()[i]);
        } finally {
            Libc.close(connection);
        }
    }

    /** Copies stdin → master and master → stdout on threads of their own, until the terminal hangs up. */
    void relay(Runtime.Stdio stdio) {
        int fd = master;
        if (!stdio.stdin().isEmpty()) {
            Thread.ofPlatform().daemon().name("console-in").start(() -> {
                // blocks until the engine opens its end, as it does when it attaches
                int in = Libc.open(stdio.stdin(), Libc.O_RDONLY | Libc.O_CLOEXEC);
                if (in < 0) return;
                copy(FdStreams.input(in), fd);
                Libc.close(in);
            });
        }
        Thread.ofPlatform().daemon().name("console-out").start(() -> {
            int out = stdio.stdout().isEmpty() ? -1 : Libc.open(stdio.stdout(), Libc.O_WRONLY | Libc.O_CLOEXEC);
            byte[] buffer = new byte[32 * 1024];
            InputStream from = FdStreams.input(fd);
            try (OutputStream to = out < 0 ? OutputStream.nullOutputStream() : FdStreams.output(out)) {
                int n;
                while ((n = from.read(buffer, 0, buffer.length)) > 0) to.write(buffer, 0, n);
            } catch (IOException e) {
                // EIO: every slave end is closed, the process has gone
            }
            close();
        });
    }

    private static void copy(InputStream from, int to) {
        byte[] buffer = new byte[32 * 1024];
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(buffer.length);
            int n;
            while ((n = from.read(buffer, 0, buffer.length)) > 0) {
                MemorySegment.copy(buffer, 0, out, ValueLayout.JAVA_BYTE, 0, n);
                for (long done = 0; done < n; ) {
                    long w = Libc.write(to, out.asSlice(done), n - done);
                    if (w < 0) return;
                    done += w;
                }
            }
        } catch (IOException e) {
            LOG.fine("console input: " + e.getMessage());
        }
    }

    /** ResizePty: the terminal's size (struct winsize: rows, cols, xpixel, ypixel). */
    void resize(int width, int height) throws IOException {
        int fd = master;
        if (fd < 0) return;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment size = arena.allocate(8);
            size.set(ValueLayout.JAVA_SHORT, 0, (short) height);
            size.set(ValueLayout.JAVA_SHORT, 2, (short) width);
            int rc = Libc.ioctl(fd, TIOCSWINSZ, size);
            // EBADF: the terminal hung up (the process ended) while containerd sent the size
            if (rc < 0 && rc != -Libc.EBADF) throw new IOException("resizing the terminal: " + Libc.strerror(-rc));
        }
    }

    /** The listener and its socket file go (after the master arrived, or on failure); the master once the terminal hung up. */
    void closeListener() {
        Libc.close(listener);
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            // the bundle goes with it
        }
    }

    @Override
    public synchronized void close() {
        if (master >= 0) Libc.close(master);
        master = -1;
    }
}
