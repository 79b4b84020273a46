package dev.vessel.firecracker;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vessel.vmm.VmmException;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/** A running QEMU as {@link Vmm} drives it: its QMP and its exit. Faked in unit tests. */
public interface Machine {
    JsonNode qmp(String command, Map<String, ?> arguments) throws VmmException;

    long pid();

    /** Completes with QEMU's exit status. */
    CompletableFuture<Integer> exit();

    /** Ends QEMU (SIGTERM, then SIGKILL if it lingers) and waits for it. */
    void kill();

    /** Starts QEMU with {@code argv}; its QMP is ready when this returns. */
    interface Launcher {
        Machine launch(List<String> argv) throws VmmException;
    }
}
