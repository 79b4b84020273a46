package dev.vessel.vmm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A QMP client (QEMU's JSON control protocol) over {@code qmp.sock}: connect reads the greeting
 * and negotiates capabilities; {@link #execute} sends one command and returns its {@code return}
 * value. Asynchronous events met while waiting (SHUTDOWN, STOP, RESUME, …) are kept for
 * {@link #takeEvents}. One caller at a time.
 *
 * <p>An exec's port, hot-added ({@link #addProcessPort}), is what works on QEMU 7.2's microvm:
 * {@code chardev-add} of a unix socket server without wait, then
 * {@code device_add virtserialport,bus=vser.0,chardev=procN,name=vessel.proc.N,id=procN} (the
 * controller is {@code -device virtio-serial-device,id=vser}); {@link #removeProcessPort} undoes
 * both ({@code device_del}, DEVICE_DELETED, then {@code chardev-remove}) and frees its slot.
 */
public final class Qmp implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final SocketChannel channel;
    private final BufferedReader in;
    private final OutputStream out;
    private final JsonNode greeting;
    private final List<JsonNode> events = new ArrayList<>();
    private long nextId = 1;

    private Qmp(SocketChannel channel) throws IOException, VmmException {
        this.channel = channel;
        this.in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
        this.out = Channels.newOutputStream(channel);
        JsonNode first = read();
        if (first == null || !first.has("QMP")) throw new VmmException("QMP: no greeting from QEMU");
        this.greeting = first.get("QMP");
        execute("qmp_capabilities");
    }

    /** Connects to {@code socket}, retrying while QEMU has not created it yet, up to {@code wait}. */
    public static Qmp connect(Path socket, Duration wait) throws VmmException {
        long deadline = System.nanoTime() + wait.toNanos();
        IOException last;
        do {
            SocketChannel ch = null;
            try {
                ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                ch.connect(UnixDomainSocketAddress.of(socket));
                return new Qmp(ch);
            } catch (IOException e) {
                last = e;
                closeQuietly(ch);
            } catch (VmmException e) {
                closeQuietly(ch);
                throw e;
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new VmmException("QMP connect interrupted", e);
            }
        } while (System.nanoTime() < deadline);
        throw new VmmException("cannot connect to QEMU's QMP socket " + socket + ": " + last.getMessage(), last);
    }

    /** The greeting's {@code QMP} object (version, capabilities). */
    public JsonNode greeting() {
        return greeting;
    }

    public JsonNode execute(String command) throws VmmException {
        return execute(command, null);
    }

    /** Runs {@code command} with {@code arguments} (null: none); its {@code return}, or a one-line error. */
    public JsonNode execute(String command, Map<String, ?> arguments) throws VmmException {
        ObjectNode request = JSON.createObjectNode();
        request.put("execute", command);
        if (arguments != null) request.set("arguments", JSON.valueToTree(arguments));
        long id = nextId++;
        request.put("id", id);
        try {
            out.write((JSON.writeValueAsString(request) + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            while (true) {
                JsonNode reply = read();
                if (reply == null) throw new VmmException("QMP " + command + ": QEMU closed the connection");
                if (reply.has("event")) {
                    events.add(reply);
                    continue;
                }
                if (reply.path("id").asLong(-1) != id) continue;
                if (reply.has("error")) {
                    JsonNode e = reply.get("error");
                    throw new VmmException("QMP " + command + ": " + e.path("desc").asText(e.toString()));
                }
                return reply.path("return");
            }
        } catch (IOException e) {
            throw new VmmException("QMP " + command + ": " + e.getMessage(), e);
        }
    }

    /** The events received so far (each {"event": NAME, "data": …, "timestamp": …}), oldest first; clears them. */
    public List<JsonNode> takeEvents() {
        List<JsonNode> taken = List.copyOf(events);
        events.clear();
        return taken;
    }

    /** query-status's status: "running", "paused", "shutdown", … */
    public String status() throws VmmException {
        return execute("query-status").path("status").asText();
    }

    /**
     * Adds exec N's port: a chardev listening at {@code socket} and virtserialport {@code vessel.proc.N}
     * (QEMU gives it the lowest free slot of the controller). A controller with no free slot fails
     * with {@link NoFreePort}.
     */
    public void addProcessPort(int n, Path socket) throws VmmException {
        String id = ExecPorts.id(n);
        execute("chardev-add", Map.of("id", id, "backend", Map.of("type", "socket", "data", Map.of(
                "addr", Map.of("type", "unix", "data", Map.of("path", socket.toString())),
                "server", true, "wait", false))));
        try {
            execute("device_add", Map.of("driver", "virtserialport", "bus", QemuCommand.SERIAL_BUS,
                    "chardev", id, "name", "vessel.proc." + n, "id", id));
        } catch (VmmException e) {
            try {
                execute("chardev-remove", Map.of("id", id));
            } catch (VmmException ignored) {
                // the first error is the one to report
            }
            // QEMU 7.2 says "virtio-serial-bus: Out-of-range port id specified, max. allowed: 30" when every slot is taken
            if (e.getMessage().contains("port id")) throw new NoFreePort(e.getMessage());
            throw e;
        }
    }

    /** device_add found every slot of the virtio-serial controller taken. */
    public static final class NoFreePort extends VmmException {
        NoFreePort(String message) {
            super(message);
        }
    }

    /**
     * The process ports QEMU has now (chardevs {@code procN}), each N with whether a host side (a
     * relay) is connected to its socket: QEMU's query-chardev names a socket server with no client
     * {@code disconnected:unix:…}.
     */
    public Map<Integer, Boolean> processPorts() throws VmmException {
        Map<Integer, Boolean> ports = new java.util.TreeMap<>();
        for (JsonNode chardev : execute("query-chardev")) {
            int n = ExecPorts.number(chardev.path("label").asText());
            if (n >= 0) ports.put(n, !chardev.path("filename").asText().startsWith("disconnected:"));
        }
        return ports;
    }

    /**
     * Removes process N's port and its chardev, so that its slot of the controller is free again:
     * {@code device_del}, then the DEVICE_DELETED event (QEMU finishes the unplug a moment later;
     * the chardev is busy until then), then {@code chardev-remove}. A port already gone (half of
     * it, or all) is no error.
     */
    public void removeProcessPort(int n) throws VmmException {
        String id = ExecPorts.id(n);
        boolean deviceThere = true;
        try {
            execute("device_del", Map.of("id", id));
        } catch (VmmException e) {
            if (!e.getMessage().contains("not found")) throw e;
            deviceThere = false;
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (deviceThere && !deviceDeleted(id)) {
            if (System.nanoTime() > deadline) throw new VmmException("QMP device_del " + id + ": no DEVICE_DELETED within 5 s");
            pause();
            status(); // a cheap command: the events that came meanwhile are read with its answer
        }
        while (true) {
            try {
                execute("chardev-remove", Map.of("id", id));
                return;
            } catch (VmmException e) {
                if (e.getMessage().contains("not found")) return;
                if (System.nanoTime() > deadline) throw e;
            }
            pause();
        }
    }

    /** Whether a DEVICE_DELETED event for {@code id} has come (it is taken; other events stay). */
    private boolean deviceDeleted(String id) {
        for (var it = events.iterator(); it.hasNext(); ) {
            JsonNode event = it.next();
            if (event.path("event").asText().equals("DEVICE_DELETED") && event.path("data").path("device").asText().equals(id)) {
                it.remove();
                return true;
            }
        }
        return false;
    }

    private static void pause() throws VmmException {
        try {
            Thread.sleep(10);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmException("interrupted removing a process port", e);
        }
    }

    private JsonNode read() throws IOException {
        String line = in.readLine();
        return line == null ? null : JSON.readTree(line);
    }

    @Override
    public void close() {
        closeQuietly(channel);
    }

    private static void closeQuietly(SocketChannel ch) {
        if (ch == null) return;
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }
}
