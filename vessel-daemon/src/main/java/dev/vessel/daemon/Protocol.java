package dev.vessel.daemon;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The wire protocol between the native client ({@code native/client/vessel.c}) and the daemon.
 *
 * <p>Request, client to daemon: the magic {@code VSL3}, then argv (without argv[0]), the
 * environment, the working directory, the client's pid (u32) and the attempt (u32: 0, or 1 and 2
 * when a daemon died after accepting the call and before answering anything). A list is a u32
 * count followed by strings; a string is a u32 length followed by bytes; integers are little-endian.
 *
 * <p>Reply, daemon to client: frames of one type byte, a u32 length and a payload.
 * <ul>
 *   <li>{@code A}: accepted, empty, always first: the daemon has the whole request. A client
 *       sends a request again only while it has no {@code A} (the call cannot have run);</li>
 *   <li>{@code O} / {@code E}: bytes for the client's stdout / stderr;</li>
 *   <li>{@code X}: an i32 exit status; the client exits with it;</li>
 *   <li>{@code R}: exec: argv, env, files. The client writes each file into a memfd and puts
 *       {@code /proc/self/fd/N} in place of every argument equal to {@code @file:i}, then execs;</li>
 *   <li>{@code S}: spawn: like {@code R}, but the client forks, waits and sends back the child's
 *       exit status as an i32, then reads more frames;</li>
 *   <li>{@code C}: capture: like {@code S}, but the child's stdout is captured: the client sends
 *       back the exit status (i32), then the output (u32 length, bytes), and reads more frames;</li>
 *   <li>{@code V}: relay: port path, pid-file path, console-socket path, u32 flags (1 tty, 2
 *       detach), a list (the command line an attached relay sends once its process has exited);
 *       the client answers the relay's pid as a u32; see {@link Replier#relay};</li>
 *   <li>{@code G}: go, empty, after an attached {@code V}: the client relays from now on.</li>
 *   <li>{@code M}: hold a VM ({@code vessel vmm}): a list of paths (the sockets the daemon serves
 *       for it). From here the client is a relay for the VM's children ({@link VmmCall}): it
 *       reads frames and signals at once, removes the paths and keeps waiting for its child if
 *       the daemon goes away, and exits with {@code X} (or with its child's status);</li>
 *   <li>{@code Q} (after {@code M}): start a child, like {@code S} without files, with the
 *       client's stdin and stdout, stderr through the client, SIGTERM as its parent-death
 *       signal; SIGTERM, SIGINT, SIGHUP and SIGQUIT the client gets go on to it;</li>
 *   <li>{@code K} (after {@code M}): a u32 signal for the child.</li>
 * </ul>
 *
 * <p>After {@code M} the client sends messages framed as the replies are: {@code p} (u32: the
 * child's pid), {@code e} (bytes the child wrote to stderr, which the client has also written to
 * its own), {@code w} (u32: the child's exit status, 128+n for signal n).
 */
public final class Protocol {
    static final int MAGIC = 0x334c5356; // "VSL3" read as a little-endian u32
    /** The previous versions' magics: a client of an older build may still ask a newer daemon to stop. */
    static final int MAGIC_V1 = 0x314c5356, MAGIC_V2 = 0x324c5356;
    static final int MAX_STRING = 1 << 20;
    static final int MAX_LIST = 1 << 16;

    private Protocol() {}

    /** What a client asked for. */
    public record Request(List<String> args, List<String> env, String cwd, long pid, int version, int attempt) {
        public String getenv(String name) {
            String prefix = name + "=";
            for (String entry : env) {
                if (entry.startsWith(prefix)) {
                    return entry.substring(prefix.length());
                }
            }
            return null;
        }
    }

    public static Request readRequest(InputStream stream) throws IOException {
        DataInputStream in = new DataInputStream(stream);
        int magic = readU32(in);
        if (magic != MAGIC && magic != MAGIC_V1 && magic != MAGIC_V2) {
            throw new IOException("not a vessel client (bad magic)");
        }
        List<String> args = readList(in);
        List<String> env = readList(in);
        String cwd = readString(in);
        if (magic == MAGIC_V1) return new Request(args, env, cwd, 0, 1, 0);
        long pid = Integer.toUnsignedLong(readU32(in));
        int attempt = readU32(in);
        return new Request(args, env, cwd, pid, magic == MAGIC_V2 ? 2 : 3, attempt);
    }

    static int readU32(DataInputStream in) throws IOException {
        return Integer.reverseBytes(in.readInt());
    }

    static String readString(DataInputStream in) throws IOException {
        int length = readU32(in);
        if (length < 0 || length > MAX_STRING) {
            throw new IOException("string of " + length + " bytes is too long");
        }
        byte[] bytes = new byte[length];
        in.readFully(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    static List<String> readList(DataInputStream in) throws IOException {
        int count = readU32(in);
        if (count < 0 || count > MAX_LIST) {
            throw new IOException("list of " + count + " entries is too long");
        }
        List<String> list = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            list.add(readString(in));
        }
        return list;
    }

    /** Writes reply frames. Frames are small and written whole, so the client never sees half a frame. */
    public static final class Replier {
        private final OutputStream out;
        private final DataInputStream in;

        public Replier(OutputStream out, InputStream in) {
            this.out = out;
            this.in = new DataInputStream(in);
        }

        /** The first frame of every reply: the request has arrived whole. */
        public void accepted() throws IOException {
            frame('A', new byte[0]);
        }

        /** After an attached {@link #relay}: the client relays from now on. */
        public void go() throws IOException {
            frame('G', new byte[0]);
        }

        public void stdout(String text) throws IOException {
            frame('O', text.getBytes(StandardCharsets.UTF_8));
        }

        public void stderr(String text) throws IOException {
            frame('E', text.getBytes(StandardCharsets.UTF_8));
        }

        public void exit(int status) throws IOException {
            frame('X', ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(status).array());
        }

        public void exec(Program program) throws IOException {
            frame('R', program.encode());
        }

        /** Runs the program as the client's child and returns its exit status (128+n if killed by signal n). */
        public int spawn(Program program) throws IOException {
            frame('S', program.encode());
            try {
                return readU32(in);
            } catch (EOFException e) {
                throw new IOException("client went away while its child ran", e);
            }
        }

        /** Runs the program as the client's child and returns its exit status and what it printed on stdout. */
        public Captured capture(Program program) throws IOException {
            frame('C', program.encode());
            try {
                int status = readU32(in);
                int length = readU32(in);
                if (length < 0 || length > 16 << 20) throw new IOException("captured output of " + length + " bytes");
                byte[] output = new byte[length];
                in.readFully(output);
                return new Captured(status, output);
            } catch (EOFException e) {
                throw new IOException("client went away while its child ran", e);
            }
        }

        /**
         * Has the client stand in for a microVM process whose stream port is {@code port}
         * (docs/microvm.md) and returns the relay's pid, which the client also writes to
         * {@code pidFile}. Detached, the client forks the relay; attached, the client is the
         * relay, starts relaying on {@link #go} and sends {@code afterExit} to the daemon once the
         * process has exited.
         */
        public long relay(String port, String pidFile, String consoleSocket, boolean tty, boolean detach,
                List<String> afterExit) throws IOException {
            Encoder e = new Encoder();
            e.bytes(port.getBytes(StandardCharsets.UTF_8));
            e.bytes(pidFile.getBytes(StandardCharsets.UTF_8));
            e.bytes(consoleSocket.getBytes(StandardCharsets.UTF_8));
            e.u32((tty ? 1 : 0) | (detach ? 2 : 0));
            e.list(afterExit);
            frame('V', e.toByteArray());
            try {
                return Integer.toUnsignedLong(readU32(in));
            } catch (EOFException ex) {
                throw new IOException("client went away while starting the relay", ex);
            }
        }

        /** {@code M}: the client holds a VM from now on; it removes {@code leftovers} if this daemon goes away. */
        public void hold(List<String> leftovers) throws IOException {
            Encoder e = new Encoder();
            e.list(leftovers);
            frame('M', e.toByteArray());
        }

        /** {@code Q}: starts the VM's child ({@link #hold} first); its pid and exit come as messages ({@link #message}). */
        public void startChild(List<String> argv, List<String> env) throws IOException {
            Encoder e = new Encoder();
            e.list(argv);
            e.list(env);
            frame('Q', e.toByteArray());
        }

        /** {@code K}: a signal for the VM's child. */
        public void signalChild(int signal) throws IOException {
            Encoder e = new Encoder();
            e.u32(signal);
            frame('K', e.toByteArray());
        }

        /** The next message of a client that holds a VM, or null once it has gone. */
        public Message message() throws IOException {
            int type;
            try {
                type = in.read();
                if (type < 0) return null;
                int length = readU32(in);
                if (length < 0 || length > MAX_STRING) throw new IOException("client message of " + length + " bytes");
                byte[] payload = new byte[length];
                in.readFully(payload);
                return new Message((char) type, payload);
            } catch (EOFException e) {
                return null;
            }
        }

        // several threads answer a VM's caller (the API's log lines, the child's start, the exit): whole frames each
        private synchronized void frame(char type, byte[] payload) throws IOException {
            ByteBuffer header = ByteBuffer.allocate(5).order(ByteOrder.LITTLE_ENDIAN);
            header.put((byte) type).putInt(payload.length);
            byte[] frame = new byte[5 + payload.length];
            System.arraycopy(header.array(), 0, frame, 0, 5);
            System.arraycopy(payload, 0, frame, 5, payload.length);
            out.write(frame);
            out.flush();
        }
    }

    /** A message of a client that holds a VM: {@code p} pid, {@code e} stderr bytes, {@code w} exit status. */
    public record Message(char type, byte[] payload) {
        public int u32() {
            return ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN).getInt();
        }
    }

    /** A captured child's exit status and stdout. */
    public record Captured(int status, byte[] output) {}

    /** A program for the client to run: argv (argv[0] is the path), environment, and in-memory files. */
    public record Program(List<String> argv, List<String> env, List<byte[]> files) {
        public static String fileArgument(int index) {
            return "@file:" + index;
        }

        byte[] encode() {
            Encoder e = new Encoder();
            e.list(argv);
            e.list(env);
            e.u32(files.size());
            for (byte[] file : files) {
                e.bytes(file);
            }
            return e.toByteArray();
        }
    }

    private static final class Encoder extends java.io.ByteArrayOutputStream {
        void u32(int value) {
            write(value);
            write(value >>> 8);
            write(value >>> 16);
            write(value >>> 24);
        }

        void bytes(byte[] value) {
            u32(value.length);
            writeBytes(value);
        }

        void list(List<String> values) {
            u32(values.size());
            for (String value : values) {
                bytes(value.getBytes(StandardCharsets.UTF_8));
            }
        }
    }
}
