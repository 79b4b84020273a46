package dev.vessel.firecracker;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vessel.vmm.Qmp;
import dev.vessel.vmm.VmmException;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * A QEMU someone else started and owns (a {@code microvm} container's, see {@link Vmm#managed}):
 * each QMP command is a connection of its own to the VM's QMP socket — connect, command, close —
 * as the daemon's other QMP calls are, so no caller holds QEMU's one QMP client slot for longer
 * than a command. {@link #kill} does nothing: the VM is its owner's to end.
 */
public final class AttachedMachine implements Machine {
    private final Path qmpSocket;
    private final long pid;
    private final CompletableFuture<Integer> exit;

    public AttachedMachine(Path qmpSocket, long pid) {
        this.qmpSocket = qmpSocket;
        this.pid = pid;
        // not our child: its exit status is unknown (0 stands for "ended")
        this.exit = ProcessHandle.of(pid).map(h -> h.onExit().thenApply(p -> 0))
                .orElseGet(() -> CompletableFuture.completedFuture(0));
    }

    @Override
    public JsonNode qmp(String command, Map<String, ?> arguments) throws VmmException {
        try (Qmp qmp = Qmp.connect(qmpSocket, Duration.ofSeconds(5))) {
            return qmp.execute(command, arguments);
        }
    }

    @Override
    public long pid() {
        return pid;
    }

    @Override
    public CompletableFuture<Integer> exit() {
        return exit;
    }

    @Override
    public void kill() {
        // its owner's to end
    }
}
