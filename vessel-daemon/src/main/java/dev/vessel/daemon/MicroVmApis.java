package dev.vessel.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vessel.firecracker.Api;
import dev.vessel.firecracker.ApiException;
import dev.vessel.firecracker.ApiServer;
import dev.vessel.firecracker.AttachedMachine;
import dev.vessel.firecracker.FcLog;
import dev.vessel.firecracker.FcMetrics;
import dev.vessel.firecracker.Model;
import dev.vessel.firecracker.VmConfig;
import dev.vessel.firecracker.Vmm;
import dev.vessel.runtime.MicroVmDriver;
import dev.vessel.runtime.MicroVmState;
import dev.vessel.runtime.SandboxRecord;
import dev.vessel.vmm.QemuCommand;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Firecracker's API for every microVM of the OCI runtime (docs/firecracker-api.md, "every
 * microVM's socket"): {@code <runDir>/api.sock}, served by the daemon with {@link ApiServer} and a
 * {@link Vmm#managed managed} VMM over the VM's QMP. It starts once create has booted the VM, stops
 * (socket removed) when the VM is destroyed or QEMU ends, and a new daemon serves again the sockets
 * of the microVMs still running ({@link #resume}).
 */
final class MicroVmApis {
    static final String SOCKET = "api.sock";
    /** The state's annotation that names the socket. */
    static final String ANNOTATION = "dev.vessel.api-socket";
    static final String OWNER = "Vessel, as a microvm container";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<Path, Served> SERVED = new ConcurrentHashMap<>();

    private record Served(ApiServer server, FcLog log, FcMetrics metrics) {
    }

    private MicroVmApis() {
    }

    /** Serves a microVM's API once it is up, and stops when it is gone. */
    static final MicroVmDriver.Observer OBSERVER = new MicroVmDriver.Observer() {
        @Override
        public void booted(String id, MicroVmState vm) {
            serve(tree(id, vm));
        }

        @Override
        public void destroyed(Path runDir) {
            stop(runDir);
        }
    };

    /** The VM's state as the API reads it: its record's microVM part, with its id. */
    static JsonNode tree(String id, MicroVmState vm) {
        ObjectNode tree = JSON.valueToTree(vm);
        return tree.put("id", id);
    }

    /**
     * At the daemon's start, in the background: remove the run dirs no record names whose QEMU is
     * gone (a delete cut short), then serve again the API sockets of the microVMs still running.
     */
    static void resumeAll() {
        Thread.ofPlatform().daemon().name("microvm-apis").start(() -> {
            MicroVmDriver.removeOrphans(MicroVmDriver.RUN_DIR, MicroVmDriver.ORPHAN_MIN_AGE);
            for (SandboxRecord record : MicroVmDriver.records()) {
                if (!answers(socket(Path.of(record.microvm().runDir())))) serve(tree(record.id(), record.microvm()));
            }
        });
    }

    /** {@code vessel doctor}'s lines about the microVMs' API sockets. */
    static List<String> doctorLines() {
        List<String> lines = new ArrayList<>();
        lines.add("microVM API sockets: " + MicroVmDriver.RUN_DIR + "/<hash>/" + SOCKET
                + " (Firecracker's API; `vessel state ID` names it in annotation " + ANNOTATION + ")");
        List<Path> served = served();
        lines.add("microVM API sockets served: " + (served.isEmpty() ? "none"
                : served.size() + ": " + String.join(" ", served.stream().map(Path::toString).toList())));
        return lines;
    }

    static Path socket(Path runDir) {
        return runDir.resolve(SOCKET);
    }

    /** What the API shows of the VM: the boot source, machine and NICs microvm.json recorded. */
    static VmConfig config(JsonNode state) throws ApiException {
        VmConfig config = new VmConfig();
        if (state.hasNonNull("kernel")) {
            config.bootSource(new Model.BootSource(state.path("kernel").asText(),
                    state.hasNonNull("bootArgs") ? state.path("bootArgs").asText() : null,
                    state.hasNonNull("initrd") ? state.path("initrd").asText() : null));
        }
        config.machine(new Model.MachineConfiguration(state.path("vcpus").asInt(1), state.path("memoryMib").asInt(),
                false, "None", false, "None"));
        for (JsonNode nic : state.path("nics")) {
            String id = nic.path("iface_id").asText();
            config.putNetworkInterface(new Model.NetworkInterface(id, nic.path("guest_mac").asText(null),
                    nic.path("host_dev_name").asText(), null, null, null));
        }
        return config;
    }

    /** Serves the VM's socket (nothing if it is served already or QEMU is gone); a failure is logged, not thrown. */
    static synchronized void serve(JsonNode state) {
        Path runDir = Path.of(state.path("runDir").asText());
        String id = state.path("id").asText();
        long pid = state.path("qemuPid").asLong();
        if (SERVED.containsKey(runDir) || pid <= 0 || !ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
            return;
        }
        Path socket = socket(runDir);
        FcLog log = new FcLog(id);
        FcMetrics metrics = new FcMetrics();
        try {
            // the daemon's log gets errors only (not every 400 a client provokes), until PUT /logger
            log.configure(new Model.Logger(null, "Error", null, null, null));
            Files.deleteIfExists(socket); // a dead daemon's
            AttachedMachine machine = new AttachedMachine(runDir.resolve(QemuCommand.QMP_SOCKET), pid);
            Vmm vmm = Vmm.managed(id, config(state), machine, OWNER, log, metrics);
            ApiServer server = ApiServer.start(socket, new Api(vmm), null, null);
            SERVED.put(runDir, new Served(server, log, metrics));
            machine.exit().thenRun(() -> stop(runDir));
        } catch (IOException | ApiException | RuntimeException e) {
            Vesseld.log("microvm " + id + ": cannot serve Firecracker's API on " + socket + ": " + e.getMessage());
        }
    }

    /** Stops serving the VM's socket and removes it. */
    static void stop(Path runDir) {
        Served served = SERVED.remove(runDir);
        if (served != null) {
            served.server().close();
            served.metrics().close();
            served.log().close();
        }
        try {
            Files.deleteIfExists(socket(runDir));
        } catch (IOException e) {
            Vesseld.log("cannot remove " + socket(runDir) + ": " + e.getMessage());
        }
    }

    /** The sockets served now. */
    static List<Path> served() {
        List<Path> sockets = new ArrayList<>();
        SERVED.values().forEach(s -> sockets.add(s.server().socket()));
        sockets.sort(null);
        return sockets;
    }

    private static boolean answers(Path socket) {
        if (!Files.exists(socket)) {
            return false;
        }
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
