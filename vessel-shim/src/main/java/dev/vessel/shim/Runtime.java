package dev.vessel.shim;

import dev.vessel.linux.Command;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Vessel's command line as the shim drives it, as the runc shim drives runc: {@code --root} per
 * containerd namespace, errors through {@code --log} (JSON lines) so the message reaches
 * containerd, stdio of created and exec'd processes straight from the engine's fifos.
 */
final class Runtime {
    /** A create takes a microVM's boot, which under TCG on a busy host is tens of seconds. */
    private static final Duration CREATE_TIMEOUT = Duration.ofSeconds(180);
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(60);

    private final String binary;
    private final Path root;

    Runtime(String binary, Path root) {
        this.binary = binary;
        this.root = root;
    }

    String binary() {
        return binary;
    }

    /** One failed call: its message is what the runtime said, for containerd's error. */
    static final class RuntimeException extends IOException {
        RuntimeException(String message) {
            super(message);
        }
    }

    /** {@code create}: returns the pid of the container's process, read from its pid file. */
    int create(String id, Path bundle, Stdio stdio, Console console) throws IOException {
        Path pidFile = bundle.resolve("init.pid");
        Path log = bundle.resolve("vessel-shim.log.json");
        List<String> args = new ArrayList<>(List.of("create", "--bundle", bundle.toString(), "--pid-file", pidFile.toString()));
        if (console != null) args.addAll(List.of("--console-socket", console.socket().toString()));
        args.add(id);
        runWithStdio(args, console != null ? Stdio.NONE : stdio, log);
        return readPid(pidFile);
    }

    /** {@code exec --detach}: the process described by {@code processJson} (an OCI process), returns its pid. */
    int exec(String id, Path processJson, Path pidFile, Stdio stdio, Path log, Console console) throws IOException {
        List<String> args = new ArrayList<>(List.of("exec", "--process", processJson.toString(), "--detach", "--pid-file", pidFile.toString()));
        if (console != null) args.addAll(List.of("--console-socket", console.socket().toString()));
        args.add(id);
        runWithStdio(args, console != null ? Stdio.NONE : stdio, log);
        return readPid(pidFile);
    }

    void start(String id) throws IOException {
        call("start", id);
    }

    void kill(String id, int signal, boolean all) throws IOException {
        if (all) call("kill", "--all", id, Integer.toString(signal));
        else call("kill", id, Integer.toString(signal));
    }

    void delete(String id, boolean force) throws IOException {
        if (force) call("delete", "--force", id);
        else call("delete", id);
    }

    void pause(String id) throws IOException {
        call("pause", id);
    }

    void resume(String id) throws IOException {
        call("resume", id);
    }

    void update(String id, Path resourcesJson) throws IOException {
        call("update", "--resources", resourcesJson.toString(), id);
    }

    /** {@code events --stats}: one JSON stats event. */
    String stats(String id) throws IOException {
        return call("events", "--stats", id);
    }

    /** {@code ps --format json}: the pids (a microVM's are the guest's). */
    String ps(String id) throws IOException {
        return call("ps", "--format", "json", id);
    }

    private String call(String... args) throws IOException {
        List<String> argv = new ArrayList<>(List.of(binary, "--root", root.toString()));
        argv.addAll(List.of(args));
        Command.Result r = Command.run(argv, "", CALL_TIMEOUT);
        if (r.status() != 0) throw new RuntimeException(args[0] + ": " + r.firstLine());
        return r.output();
    }

    private void runWithStdio(List<String> args, Stdio stdio, Path log) throws IOException {
        Files.deleteIfExists(log);
        List<String> argv = new ArrayList<>(List.of(binary, "--root", root.toString(), "--log", log.toString(), "--log-format", "json"));
        argv.addAll(args);
        int status;
        try (Stdio.Opened opened = stdio.open()) {
            status = Command.runWithStdio(argv, opened.stdin(), opened.stdout(), opened.stderr(), CREATE_TIMEOUT);
        }
        if (status != 0) throw new RuntimeException(args.getFirst() + ": " + lastLogMessage(log, status));
    }

    private static int readPid(Path pidFile) throws IOException {
        String text = Files.readString(pidFile).strip();
        try {
            return Integer.parseInt(text);
        } catch (NumberFormatException e) {
            throw new RuntimeException("the pid file " + pidFile + " holds no pid: " + text);
        }
    }

    /** The last "msg" of a JSON-lines log (runc's --log-format json), else its last line. */
    static String lastLogMessage(Path log, int status) {
        try {
            List<String> lines = Files.readAllLines(log).stream().filter(l -> !l.isBlank()).toList();
            if (lines.isEmpty()) return "exit status " + status;
            String last = lines.getLast();
            try {
                var node = new com.fasterxml.jackson.databind.ObjectMapper().readTree(last);
                if (node != null && node.hasNonNull("msg")) return node.get("msg").asText();
            } catch (IOException e) {
                // not JSON: the line as it is
            }
            return last.strip();
        } catch (IOException e) {
            return "exit status " + status;
        }
    }

    /** The engine's stdio paths for one process ("" where it gives none). */
    record Stdio(String stdin, String stdout, String stderr) {
        /** no stdio: a process with a terminal gets its stdio from the terminal */
        static final Stdio NONE = new Stdio("", "", "");

        /**
         * Opened for a child: stdout and stderr as files (the engine holds the fifos' read ends
         * open already); stdin through a descriptor opened read-write, so opening the fifo never
         * waits for a writer, closed once the child has it.
         */
        Opened open() throws IOException {
            int stdinFd = -1;
            ProcessBuilder.Redirect in = ProcessBuilder.Redirect.from(new File("/dev/null"));
            if (!stdin.isEmpty()) {
                stdinFd = dev.vessel.linux.Libc.open(stdin, dev.vessel.linux.Libc.O_RDWR | dev.vessel.linux.Libc.O_CLOEXEC);
                if (stdinFd < 0) throw new RuntimeException("cannot open stdin " + stdin + ": errno " + -stdinFd);
                in = ProcessBuilder.Redirect.from(new File("/proc/self/fd/" + stdinFd));
            }
            return new Opened(in,
                    stdout.isEmpty() ? ProcessBuilder.Redirect.DISCARD : ProcessBuilder.Redirect.appendTo(new File(stdout)),
                    stderr.isEmpty() ? ProcessBuilder.Redirect.DISCARD : ProcessBuilder.Redirect.appendTo(new File(stderr)),
                    stdinFd);
        }

        record Opened(ProcessBuilder.Redirect stdin, ProcessBuilder.Redirect stdout, ProcessBuilder.Redirect stderr,
                int stdinFd) implements AutoCloseable {
            @Override
            public void close() {
                // the child holds the fifo now; ours would keep its stdin from ever ending
                if (stdinFd >= 0) dev.vessel.linux.Libc.close(stdinFd);
            }
        }
    }
}
