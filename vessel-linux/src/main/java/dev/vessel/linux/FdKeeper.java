package dev.vessel.linux;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The daemon's side of {@code vessel-keeper} (native/keeper): file descriptors handed to the
 * keeper outlive the daemon, and the next daemon takes them back. See the keeper's source for
 * the protocol and for what it does while no daemon is attached.
 */
public final class FdKeeper implements AutoCloseable {
    private final int socket;

    private FdKeeper(int socket) {
        this.socket = socket;
    }

    /**
     * Attaches to the keeper at {@code socketPath}, starting {@code keeper} first when none answers.
     * {@code launcher} is what the keeper runs to bring a daemon back; its output goes to {@code log}
     * (appended to), or where this process's goes when that is null.
     */
    public static FdKeeper attach(Path socketPath, Path keeper, Path launcher, Path log) throws IOException {
        try {
            return new FdKeeper(UnixSockets.connectPackets(socketPath));
        } catch (IOException notRunning) {
            Files.deleteIfExists(socketPath);
            // setsid -f: the keeper must not share the daemon's session or process group, so
            // that nothing aimed at the daemon reaches it.
            Command.start(List.of(Tools.find("setsid"), "-f", keeper.toString(), socketPath.toString(), launcher.toString()),
                    log == null ? ProcessBuilder.Redirect.INHERIT : ProcessBuilder.Redirect.appendTo(log.toFile()));
            IOException last = notRunning;
            for (int i = 0; i < 200; i++) {
                try {
                    return new FdKeeper(UnixSockets.connectPackets(socketPath));
                } catch (IOException e) {
                    last = e;
                    sleep();
                }
            }
            throw new IOException("vessel-keeper did not come up on " + socketPath + ": " + last.getMessage());
        }
    }

    /** Hands the keeper a copy of {@code fd} under {@code name}, replacing any it held by that name. */
    public synchronized void put(String name, int fd) throws IOException {
        UnixSockets.send(socket, ("PUT " + name).getBytes(StandardCharsets.UTF_8), fd);
    }

    /** The keeper closes its copy. */
    public synchronized void remove(String name) throws IOException {
        UnixSockets.send(socket, ("DEL " + name).getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Whether the keeper accepts the containers' notify fds itself ("HELLO 2"): then each new one
     * comes as a {@link #watch NEW} record. An older keeper answers nothing; the daemon then
     * accepts them itself.
     */
    public synchronized boolean hello() throws IOException {
        UnixSockets.send(socket, "HELLO".getBytes(StandardCharsets.UTF_8));
        if (!UnixSockets.readable(socket, 1000)) return false;
        UnixSockets.Received answer = UnixSockets.receive(socket, RECORD_MAX);
        for (int fd : answer.fds()) Libc.close(fd);
        return answer.text().equals("HELLO 2");
    }

    /** A container's notify fd that the keeper accepted: its name there, the fd, the OCI state. */
    public record Notify(String name, int fd, String state) {}

    /** Every descriptor the keeper holds, as fresh copies in this process, by name. */
    public synchronized Map<String, Integer> takeAll() throws IOException {
        UnixSockets.send(socket, "GET".getBytes(StandardCharsets.UTF_8));
        Map<String, Integer> fds = new LinkedHashMap<>();
        while (true) {
            UnixSockets.Received record = UnixSockets.receive(socket, RECORD_MAX);
            String text = record.text();
            if (text.equals("END") || text.isEmpty()) {
                return fds;
            }
            String name = text.startsWith("FD ") ? text.substring(3)
                    : text.startsWith("NEW ") ? text.substring(4).lines().findFirst().orElse("") : null;
            // a NEW that crossed the GET comes again in its answer: one copy is enough
            if (name != null && record.fds().length == 1 && !fds.containsKey(name)) {
                fds.put(name, record.fds()[0]);
            } else {
                for (int fd : record.fds()) {
                    Libc.close(fd);
                }
            }
        }
    }

    /** After {@link #takeAll}: each NEW record to {@code handler}, on a thread of its own, for as long as the keeper lives. */
    public void watch(java.util.function.Consumer<Notify> handler) {
        Thread.ofPlatform().daemon().name("keeper-watch").start(() -> {
            while (true) {
                UnixSockets.Received record;
                try {
                    record = UnixSockets.receive(socket, RECORD_MAX);
                } catch (IOException e) {
                    Log.info("keeper: " + e.getMessage());
                    return;
                }
                String text = record.text();
                if (text.isEmpty()) {
                    Log.info("keeper: the connection closed");
                    return;
                }
                if (text.startsWith("NEW ") && record.fds().length == 1) {
                    int nl = text.indexOf('\n');
                    handler.accept(new Notify(text.substring(4, nl < 0 ? text.length() : nl), record.fds()[0],
                            nl < 0 ? "" : text.substring(nl + 1)));
                } else {
                    for (int fd : record.fds()) Libc.close(fd);
                }
            }
        });
    }

    private static final int RECORD_MAX = 70 * 1024;

    @Override
    public void close() {
        Libc.close(socket);
    }

    private static void sleep() {
        try {
            Thread.sleep(10);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
