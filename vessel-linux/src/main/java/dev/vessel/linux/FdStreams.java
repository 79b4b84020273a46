package dev.vessel.linux;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Blocking streams over a raw file descriptor (a connection accepted on a socket the JDK did not
 * open: one handed over by vessel-keeper). Closing the output closes the descriptor.
 */
public final class FdStreams {
    private FdStreams() {
    }

    public static InputStream input(int fd) {
        return new InputStream() {
            private final MemorySegment buffer = Arena.ofAuto().allocate(64 * 1024);

            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (len == 0) return 0;
                long n;
                do {
                    n = Libc.read(fd, buffer, Math.min(len, buffer.byteSize()));
                } while (n == -Libc.EINTR);
                if (n < 0) throw new IOException("read: " + Libc.strerror((int) -n));
                if (n == 0) return -1;
                MemorySegment.copy(buffer, ValueLayout.JAVA_BYTE, 0, b, off, (int) n);
                return (int) n;
            }
        };
    }

    public static OutputStream output(int fd) {
        return new OutputStream() {
            private final MemorySegment buffer = Arena.ofAuto().allocate(64 * 1024);
            private boolean closed;

            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                while (len > 0) {
                    int chunk = (int) Math.min(len, buffer.byteSize());
                    MemorySegment.copy(b, off, buffer, ValueLayout.JAVA_BYTE, 0, chunk);
                    long n = Libc.write(fd, buffer, chunk);
                    if (n == -Libc.EINTR) continue;
                    if (n < 0) throw new IOException("write: " + Libc.strerror((int) -n));
                    off += (int) n;
                    len -= (int) n;
                }
            }

            @Override
            public synchronized void close() {
                if (!closed) {
                    closed = true;
                    Libc.close(fd);
                }
            }
        };
    }
}
