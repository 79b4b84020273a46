package dev.vessel.firecracker;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vessel.linux.Command;
import dev.vessel.linux.Tools;
import dev.vessel.vmm.Qmp;
import dev.vessel.vmm.VmmException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * QEMU as a child of {@code vessel vmm}, sharing its stdin, stdout and stderr (the guest's serial
 * console is QEMU's stdio, as Firecracker's is its own), so it also shares its network namespace
 * and working directory. Where util-linux's setpriv is installed QEMU runs under
 * {@code setpriv --pdeathsig SIGTERM}: it ends with us even on a SIGKILL, leaving no guest behind
 * (SIGTERM, not SIGKILL: QEMU then restores the terminal its stdio chardev made raw).
 */
public final class QemuMachine implements Machine {
    private static final Path SETPRIV = Path.of("/usr/bin/setpriv");
    private final Process process;
    private final Qmp qmp;
    private final CompletableFuture<Integer> exit = new CompletableFuture<>();

    private QemuMachine(Process process, Qmp qmp) {
        this.process = process;
        this.qmp = qmp;
        process.onExit().thenAccept(p -> exit.complete(p.exitValue()));
    }

    /** A launcher whose QEMUs listen for QMP on {@code qmpSocket}. */
    public static Launcher launcher(Path qmpSocket) {
        return argv -> start(argv, qmpSocket);
    }

    static Machine start(List<String> argv, Path qmpSocket) throws VmmException {
        List<String> cmd = new ArrayList<>();
        if (Files.isExecutable(SETPRIV)) cmd.addAll(List.of(SETPRIV.toString(), "--pdeathsig", "SIGTERM", "--"));
        cmd.addAll(argv);
        try {
            Files.deleteIfExists(qmpSocket);
        } catch (IOException e) {
            throw new VmmException("cannot remove a stale " + qmpSocket + ": " + e.getMessage(), e);
        }
        if (argv.stream().anyMatch(a -> a.contains(",guestfwd="))) loopbackUp();
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.INHERIT)
                    .redirectOutput(ProcessBuilder.Redirect.INHERIT).start();
        } catch (IOException e) {
            throw new VmmException("cannot start " + argv.getFirst() + ": " + e.getMessage(), e);
        }
        // QEMU's stderr goes on to ours, and its last line says why, when it fails to start
        java.util.concurrent.atomic.AtomicReference<String> lastError = new java.util.concurrent.atomic.AtomicReference<>("");
        Thread copier = Thread.ofPlatform().daemon().name("qemu-stderr").start(() -> {
            try (var r = new java.io.BufferedReader(new java.io.InputStreamReader(p.getErrorStream(),
                    java.nio.charset.StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    // QEMU's own error lines start with its name; a hint may follow them
                    if (line.startsWith("qemu-system") || lastError.get().isEmpty()) lastError.set(line.strip());
                    System.err.println(line);
                }
            } catch (IOException ignored) {
                // QEMU is gone
            }
        });
        try {
            Qmp qmp = connect(p, qmpSocket, lastError, copier);
            return new QemuMachine(p, qmp);
        } catch (VmmException e) {
            // QEMU opens its QMP socket before it realizes the devices: one that fails there breaks QMP
            try {
                if (p.waitFor(2, TimeUnit.SECONDS)) {
                    copier.join(1000);
                    if (!lastError.get().isEmpty()) {
                        throw new VmmException("QEMU exited with status " + p.exitValue() + ": " + lastError.get(), e);
                    }
                }
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
            } finally {
                p.destroyForcibly();
            }
            try {
                p.waitFor(5, TimeUnit.SECONDS);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
            }
            throw e;
        }
    }

    /**
     * libslirp connects a guestfwd command (MMDS) to QEMU through a TCP socket pair on 127.0.0.1:
     * in a network namespace whose loopback is down (a fresh `ip netns add`) that fails, so lo is
     * brought up (idempotent) before QEMU starts.
     */
    static void loopbackUp() throws VmmException {
        try {
            Command.Result result = Command.run(List.of(Tools.find("ip"), "link", "set", "lo", "up"), "", Duration.ofSeconds(10));
            if (result.status() != 0) {
                throw new VmmException("MMDS needs the loopback interface up: ip link set lo up: " + result.output().strip());
            }
        } catch (IOException e) {
            throw new VmmException("MMDS needs the loopback interface up: " + e.getMessage(), e);
        }
    }

    /** QMP, or why QEMU ended before offering it (its own message went to stderr). */
    private static Qmp connect(Process p, Path socket, java.util.concurrent.atomic.AtomicReference<String> lastError,
                               Thread copier) throws VmmException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (true) {
            if (!p.isAlive()) {
                try {
                    copier.join(1000); // until QEMU's last words are read
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                throw new VmmException("QEMU exited with status " + p.exitValue() + " before it was ready"
                        + (lastError.get().isEmpty() ? "" : ": " + lastError.get()));
            }
            if (Files.exists(socket)) return Qmp.connect(socket, Duration.ofSeconds(5));
            if (System.nanoTime() > deadline) throw new VmmException("QEMU did not open its QMP socket " + socket + " within 30 s");
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new VmmException("interrupted waiting for QEMU", e);
            }
        }
    }

    @Override
    public synchronized JsonNode qmp(String command, Map<String, ?> arguments) throws VmmException {
        return qmp.execute(command, arguments);
    }

    @Override
    public long pid() {
        return process.pid();
    }

    @Override
    public CompletableFuture<Integer> exit() {
        return exit;
    }

    @Override
    public void kill() {
        qmp.close();
        // SIGTERM first: QEMU then puts the terminal back as it found it (its stdio chardev made it raw)
        process.destroy();
        try {
            if (!process.waitFor(3, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }
}
