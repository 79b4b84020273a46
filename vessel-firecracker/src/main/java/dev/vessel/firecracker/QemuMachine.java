package dev.vessel.firecracker;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vessel.linux.Tools;
import dev.vessel.vmm.Qmp;
import dev.vessel.vmm.VmmException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;

/**
 * QEMU as a child of the {@code vessel vmm} caller ({@link Caller#spawn}), sharing its stdin and
 * stdout (the guest's serial console is the caller's terminal, as Firecracker's is its own), its
 * network namespace and working directory, and ending with it (the caller sets SIGTERM as its
 * parent-death signal: even a SIGKILL of {@code vessel vmm} leaves no guest behind, and QEMU still
 * restores the terminal its stdio chardev made raw). Driven over QMP from here.
 */
public final class QemuMachine implements Machine {
    private static final int SIGTERM = 15, SIGKILL = 9;
    private final Caller.Child child;
    private final Qmp qmp;

    private QemuMachine(Caller.Child child, Qmp qmp) {
        this.child = child;
        this.qmp = qmp;
    }

    /** A launcher whose QEMUs are {@code caller}'s children and listen for QMP on {@code qmpSocket}. */
    public static Launcher launcher(Caller caller, Path qmpSocket) {
        return argv -> start(caller, argv, qmpSocket);
    }

    static Machine start(Caller caller, List<String> argv, Path qmpSocket) throws VmmException {
        try {
            Files.deleteIfExists(qmpSocket);
        } catch (IOException e) {
            throw new VmmException("cannot remove a stale " + qmpSocket + ": " + e.getMessage(), e);
        }
        if (argv.stream().anyMatch(a -> a.contains(",guestfwd="))) loopbackUp(caller);
        // QEMU's stderr goes on to the caller's, and its last line says why, when it fails to start
        AtomicReference<String> lastError = new AtomicReference<>("");
        Caller.Child child = caller.spawn(argv, line -> {
            // QEMU's own error lines start with its name; a hint may follow them
            if (line.startsWith("qemu-system") || lastError.get().isEmpty()) lastError.set(line.strip());
        });
        try {
            return new QemuMachine(child, connect(child, qmpSocket, lastError));
        } catch (VmmException e) {
            // QEMU opens its QMP socket before it realizes the devices: one that fails there breaks QMP
            Integer status = waitFor(child, 2);
            if (status == null) {
                child.signal(SIGKILL);
                waitFor(child, 5);
            } else if (!lastError.get().isEmpty() && !e.getMessage().contains(lastError.get())) {
                throw new VmmException("QEMU exited with status " + status + ": " + lastError.get(), e);
            }
            throw e;
        }
    }

    /**
     * libslirp connects a guestfwd command (MMDS) to QEMU through a TCP socket pair on 127.0.0.1:
     * in a network namespace whose loopback is down (a fresh `ip netns add`) that fails, so lo is
     * brought up (idempotent) before QEMU starts — by the caller, in its network namespace.
     */
    static void loopbackUp(Caller caller) throws VmmException {
        StringBuilder output = new StringBuilder();
        Caller.Child ip = caller.spawn(List.of(Tools.find("ip"), "link", "set", "lo", "up"), line -> output.append(line).append(' '));
        Integer status = waitFor(ip, 10);
        if (status == null || status != 0) {
            if (status == null) ip.signal(SIGKILL);
            throw new VmmException("MMDS needs the loopback interface up: ip link set lo up: "
                    + (status == null ? "no answer within 10 s" : output.toString().strip()));
        }
    }

    /** QMP, or why QEMU ended before offering it (its own message went to stderr). */
    private static Qmp connect(Caller.Child child, Path socket, AtomicReference<String> lastError) throws VmmException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (true) {
            if (child.exit().isDone()) {
                int status = child.exit().join();
                throw new VmmException("QEMU exited with status " + status + " before it was ready"
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

    /** The child's exit status, or null if it is still running after {@code seconds}. */
    private static Integer waitFor(Caller.Child child, int seconds) {
        try {
            return child.exit().get(seconds, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        } catch (java.util.concurrent.ExecutionException e) {
            return -1;
        }
    }

    @Override
    public synchronized JsonNode qmp(String command, Map<String, ?> arguments) throws VmmException {
        return qmp.execute(command, arguments);
    }

    @Override
    public long pid() {
        return child.pid();
    }

    @Override
    public CompletableFuture<Integer> exit() {
        return child.exit();
    }

    @Override
    public void kill() {
        qmp.close();
        if (child.exit().isDone()) return;
        // SIGTERM first: QEMU then puts the terminal back as it found it (its stdio chardev made it raw)
        child.signal(SIGTERM);
        if (waitFor(child, 3) == null) {
            child.signal(SIGKILL);
            waitFor(child, 10);
        }
    }
}
