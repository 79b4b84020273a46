package dev.vessel.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vessel.linux.NetNs;
import dev.vessel.linux.Tools;
import dev.vessel.oci.BundleConfig;
import dev.vessel.oci.Isolation;
import dev.vessel.oci.OciException;
import dev.vessel.vmm.Accelerator;
import dev.vessel.vmm.AgentClient;
import dev.vessel.vmm.GuestAssets;
import dev.vessel.vmm.GuestProcess;
import dev.vessel.vmm.HostProbe;
import dev.vessel.vmm.QemuCommand;
import dev.vessel.vmm.Qmp;
import dev.vessel.vmm.VmmException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * {@code microvm} isolation through the OCI commands (docs/microvm.md): each container is a QEMU
 * microVM whose agent runs the process; the client stays on as the process's relay.
 *
 * <p>Nothing here is needed while a container runs: QEMU is detached, the relay talks to QEMU's
 * sockets, and every call reads what it needs from {@code <root>/<id>/microvm.json}, QMP and the
 * agent afresh, so a restarted daemon carries on.
 */
final class MicroVms {
    static final String STATE_FILE = "microvm.json";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path RUN_DIR = Path.of("/run/vessel/vm");
    private static final Set<String> GUEST_MOUNT_TYPES = Set.of("proc", "sysfs", "tmpfs", "devpts", "mqueue");
    private static final long DEFAULT_MEMORY = 256L << 20;
    /** Host files larger than this are not copied into a guest (see {@link #hostFiles}). */
    private static final long MAX_HOST_FILE = 64 << 10;

    private final GuestAssets assets;
    private final String qemu;
    private final Duration bootTimeout;
    private volatile Accelerator accelerator;
    private volatile Long tscKhz;
    private volatile Boolean sandbox;

    MicroVms(GuestAssets assets, String qemu, Duration bootTimeout) {
        this.assets = assets;
        this.qemu = Tools.find(qemu); // also run through nsenter, which searches its own PATH
        this.bootTimeout = bootTimeout;
    }

    static boolean isMicroVm(Call call, String id) {
        return Files.isRegularFile(call.containerDir(id).resolve(STATE_FILE));
    }

    // ---- create and start ----

    void create(Call call, String id, BundleConfig config, String pidFile, String consoleSocket) throws IOException {
        prepare(call, id, config, pidFile, consoleSocket, true);
        call.reply.exit(0);
    }

    /**
     * {@code run} in the foreground: the client becomes the process's relay and exits with its
     * status; the container is removed afterwards, as runc does.
     */
    void run(Call call, String id, BundleConfig config, String pidFile, String consoleSocket) throws IOException {
        prepare(call, id, config, pidFile, consoleSocket, false);
        ObjectNode state = load(call, id);
        try (AgentClient agent = agent(state)) {
            agent.start(0); // the agent holds the output until the relay is connected
            agent.awaitExit(0, Duration.ofDays(365));
        } catch (VmmException e) {
            throw new OciException("container \"" + id + "\": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            destroy(call.containerDir(id), Path.of(state.path("runDir").asText()));
        }
    }

    /** The container's own process, as the base of an exec given on the command line (env, user, cwd). */
    ObjectNode defaultProcess(Call call, String id) throws IOException {
        ObjectNode process = load(call, id).path("process").deepCopy();
        process.remove(List.of("args", "terminal", "consoleSize", "capabilities", "rlimits"));
        return process;
    }

    private void prepare(Call call, String id, BundleConfig config, String pidFile, String consoleSocket, boolean detach)
            throws IOException {
        if (!assets.present()) {
            throw new OciException("container \"" + id + "\": the guest kernel or initrd is missing in " + assets.dir()
                    + " (run: vessel assets build)");
        }
        JsonNode tree = config.tree();
        long memory = tree.at("/linux/resources/memory/limit").asLong(DEFAULT_MEMORY);
        int memoryMib = guestMemoryMib(memory);
        long quota = tree.at("/linux/resources/cpu/quota").asLong(0);
        long period = tree.at("/linux/resources/cpu/period").asLong(100_000);
        int vcpus = quota > 0 && period > 0 ? (int) Math.max(1, (quota + period - 1) / period) : 1;
        vcpus = Math.min(vcpus, Runtime.getRuntime().availableProcessors());
        boolean tty = tree.at("/process/terminal").asBoolean(false);
        if (tty && (consoleSocket == null || consoleSocket.isEmpty())) {
            throw new OciException("container \"" + id + "\": process.terminal is true but no --console-socket was given");
        }
        GuestProcess process = GuestProcess.fromOci(tree.path("process"));

        Path stateDir = call.containerDir(id);
        Path runDir = runDir(call.root(), id);
        Files.createDirectories(stateDir);
        try {
            Files.createDirectories(runDir);
            Files.writeString(runDir.resolve(MicroVmApis.STATE_DIR_FILE), stateDir.toAbsolutePath() + "\n");
            ObjectNode state = JSON.createObjectNode()
                    .put("id", id)
                    .put("bundle", config.bundle().toString())
                    .put("rootfs", config.rootfs().toString())
                    .put("runDir", runDir.toString())
                    .put("memoryMib", memoryMib)
                    .put("vcpus", vcpus)
                    .put("created", Instant.now().toString())
                    .put("started", false)
                    .put("execs", 0);
            state.set("process", tree.path("process"));
            state.set("annotations", tree.path("annotations").isObject() ? tree.get("annotations") : JSON.createObjectNode());
            ((ObjectNode) state.get("annotations")).put(Isolation.ANNOTATION, Isolation.MICROVM.label());
            GuestNetwork network = network(id, tree);
            if (network != null) {
                // saved before QEMU starts, so that a failure from here on removes the redirects
                state.put("netns", network.ns().path().toString());
                network.devices().forEach(state.putArray("redirected")::add);
                // for Firecracker's API (GET /vm/config): each NIC as the guest got it
                ArrayNode nics = state.putArray("nics");
                List<String> devices = network.devices();
                List<QemuCommand.Nic> qemuNics = network.qemuNics();
                for (int i = 0; i < qemuNics.size(); i++) {
                    nics.addObject().put("iface_id", i < devices.size() ? devices.get(i) : "eth" + i)
                            .put("guest_mac", qemuNics.get(i).mac()).put("host_dev_name", qemuNics.get(i).tap());
                }
            }
            save(stateDir, state);
            state.put("qemuPid", boot(runDir, config.rootfs(), memoryMib, vcpus, network, state));
            save(stateDir, state);
            if (network != null) {
                network.plumb();
            }
            try (AgentClient agent = AgentClient.connect(runDir.resolve(QemuCommand.AGENT_SOCKET), bootTimeout)) {
                agent.create(tree.path("hostname").asText(id), guestMounts(tree), hostFiles(tree, config.rootfs()),
                        network == null ? List.of() : network.guestNics(),
                        network == null ? List.of() : network.guestRoutes(), process);
            } catch (VmmException e) {
                throw new IOException(e.getMessage(), e);
            }
            long relay = relay(call, runDir.resolve(QemuCommand.processSocket(0)), pidFile, consoleSocket, tty, detach);
            state.put("relayPid", relay);
            save(stateDir, state);
            MicroVmApis.serve(state);
        } catch (IOException | RuntimeException e) {
            String console = consoleTail(runDir);
            destroy(stateDir, runDir);
            if (e instanceof OciException) {
                throw e;
            }
            throw new OciException("container \"" + id + "\": " + e.getMessage() + console);
        }
    }

    /**
     * The network the guest takes over (see {@link GuestNetwork}), or null for loopback only: a
     * new, empty namespace (as for a container) or one with no usable interface (warned).
     */
    private static GuestNetwork network(String id, JsonNode tree) throws IOException {
        for (JsonNode ns : tree.at("/linux/namespaces")) {
            if (ns.path("type").asText().equals("network")) {
                String path = ns.path("path").asText("");
                if (path.isEmpty()) {
                    return null;
                }
                if (!Files.exists(Path.of(path))) {
                    throw new OciException("container \"" + id + "\": network namespace " + path + " does not exist");
                }
                GuestNetwork network = GuestNetwork.inspect(NetNs.at(Path.of(path)));
                if (network.isEmpty()) {
                    Vesseld.log("microvm " + id + ": warning: network namespace " + path
                            + " has no usable interface: the guest has loopback only");
                    return null;
                }
                return network;
            }
        }
        Vesseld.log("microvm " + id + ": warning: no network namespace (the host's network): a VM cannot share it, "
                + "the guest has loopback only");
        return null;
    }

    /** Starts QEMU detached from us (it must outlive the daemon) and returns its pid. */
    private long boot(Path runDir, Path rootfs, int memoryMib, int vcpus, GuestNetwork network, ObjectNode state)
            throws IOException {
        if (accelerator == null) {
            accelerator = Accelerator.detect();
            tscKhz = HostProbe.tscKhz();
            sandbox = HostProbe.qemuSupportsSandbox(qemu);
            if (!accelerator.isKvm()) {
                Vesseld.log("microvm: " + accelerator.describe());
            }
        }
        QemuCommand command = QemuCommand.builder()
                .binary(qemu).memoryMib(memoryMib).vcpus(vcpus).accelerator(accelerator.kind())
                .kernel(assets.kernel()).initrd(assets.initrd()).tscKhz(tscKhz)
                .rootfs(rootfs).stateDir(runDir).sandbox(sandbox);
        List<String> argv = new ArrayList<>();
        if (network != null) {
            // QEMU opens (and so creates) its taps in the namespace it runs in: the container's.
            network.qemuNics().forEach(command::nic);
            argv.addAll(network.ns().enter());
        }
        argv.addAll(command.build());
        // what Firecracker's API shows as the boot source
        state.put("kernel", assets.kernel().toString()).put("initrd", assets.initrd().toString())
                .put("bootArgs", command.kernelCmdline());
        // -daemonize: QEMU returns once the VM is set up (so errors come back to create) and then
        // lives on in a session of its own. It does not go with -nographic.
        argv.replaceAll(a -> a.equals("-nographic") ? "-display" : a);
        argv.add(argv.indexOf("-display") + 1, "none");
        argv.addAll(List.of("-daemonize", "-pidfile", runDir.resolve("qemu.pid").toString()));
        Path log = runDir.resolve("qemu.log");
        Process process = new ProcessBuilder(argv).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        try {
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IOException("QEMU did not start within 60 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while QEMU started");
        }
        if (process.exitValue() != 0) {
            String why = Files.readAllLines(log).stream().filter(l -> !l.isBlank()).reduce((a, b) -> b).orElse("no output");
            throw new IOException("QEMU failed: " + why);
        }
        return Long.parseLong(Files.readString(runDir.resolve("qemu.pid")).trim());
    }

    /**
     * Has the client stand in for guest process {@code port}: detached (create, exec -d) it forks
     * a relay and reports its pid; attached (exec) it becomes the relay and never answers.
     */
    private static long relay(Call call, Path port, String pidFile, String consoleSocket, boolean tty, boolean detach)
            throws IOException {
        String pidPath = pidFile == null ? "" : call.resolve(pidFile).toString();
        String console = consoleSocket == null ? "" : call.resolve(consoleSocket).toString();
        return call.reply.relay(port.toString(), pidPath, console, tty, detach);
    }

    void start(Call call, String id) throws IOException {
        ObjectNode state = load(call, id);
        if (state.path("started").asBoolean()) {
            throw new OciException("container \"" + id + "\" has already been started");
        }
        if (!alive(state.path("relayPid").asLong())) {
            throw new OciException("container \"" + id + "\" is stopped");
        }
        try (AgentClient agent = agent(state)) {
            agent.start(0);
        } catch (VmmException e) {
            throw failure(id, e);
        }
        state.put("started", true);
        save(call.containerDir(id), state);
        call.reply.exit(0);
    }

    // ---- inspection ----

    String status(ObjectNode state) {
        long relay = state.path("relayPid").asLong();
        if (!alive(relay) || !alive(state.path("qemuPid").asLong())) {
            return "stopped";
        }
        if (!state.path("started").asBoolean()) {
            return "created";
        }
        try (Qmp qmp = qmp(state)) {
            return "paused".equals(qmp.status()) ? "paused" : "running";
        } catch (VmmException | RuntimeException e) {
            return "running";
        }
    }

    /** The OCI state, as runc prints it. */
    ObjectNode state(Call call, String id) throws IOException {
        ObjectNode state = load(call, id);
        String status = status(state);
        ObjectNode oci = JSON.createObjectNode()
                .put("ociVersion", "1.0.2")
                .put("id", id)
                .put("pid", status.equals("stopped") ? 0 : state.path("relayPid").asLong())
                .put("status", status)
                .put("bundle", state.path("bundle").asText())
                .put("rootfs", state.path("rootfs").asText())
                .put("created", state.path("created").asText())
                .put("owner", "root");
        ObjectNode annotations = state.path("annotations").isObject()
                ? ((ObjectNode) state.get("annotations")).deepCopy() : JSON.createObjectNode();
        Path api = MicroVmApis.socket(Path.of(state.path("runDir").asText()));
        if (Files.exists(api)) {
            annotations.put(MicroVmApis.ANNOTATION, api.toString());
        }
        oci.set("annotations", annotations);
        return oci;
    }

    void ps(Call call, String id, String format) throws IOException {
        ObjectNode state = load(call, id);
        if (status(state).equals("stopped")) {
            throw new OciException("container \"" + id + "\" is not running");
        }
        // The host's pids of the container's processes are their relays (engines map execs by them).
        List<Long> pids = new ArrayList<>();
        pids.add(state.path("relayPid").asLong());
        state.path("execRelays").forEach(p -> {
            if (alive(p.asLong())) {
                pids.add(p.asLong());
            }
        });
        if ("json".equals(format)) {
            ArrayNode array = JSON.createArrayNode();
            pids.forEach(array::add);
            call.print(JSON.writeValueAsString(array) + "\n");
        } else {
            StringBuilder out = new StringBuilder("PID\n");
            pids.forEach(p -> out.append(p).append('\n'));
            try (AgentClient agent = agent(state)) {
                out.append("# in the guest: ").append(String.join(" ", agent.ps().stream().map(String::valueOf).toList())).append('\n');
            } catch (VmmException e) {
                throw failure(id, e);
            }
            call.print(out.toString());
        }
        call.reply.exit(0);
    }

    // ---- signals, pause, delete ----

    void kill(Call call, String id, int signal, boolean all) throws IOException {
        ObjectNode state = load(call, id);
        if (status(state).equals("stopped")) {
            throw new OciException("container \"" + id + "\" is not running");
        }
        try (AgentClient agent = agent(state)) {
            agent.kill(0, signal, all);
        } catch (VmmException e) {
            throw failure(id, e);
        }
        call.reply.exit(0);
    }

    void pause(Call call, String id, boolean pause) throws IOException {
        ObjectNode state = load(call, id);
        String status = status(state);
        if (!status.equals(pause ? "running" : "paused")) {
            throw new OciException("container \"" + id + "\" is " + status + ", not " + (pause ? "running" : "paused"));
        }
        try (Qmp qmp = qmp(state)) {
            qmp.execute(pause ? "stop" : "cont");
        } catch (VmmException e) {
            throw failure(id, e);
        }
        call.reply.exit(0);
    }

    void delete(Call call, String id, boolean force) throws IOException {
        ObjectNode state = load(call, id);
        String status = status(state);
        if (!force && !status.equals("stopped") && !status.equals("created")) {
            throw new OciException("container \"" + id + "\" is " + status + ": stop it first, or use delete --force");
        }
        kill(state.path("relayPid").asLong());
        kill(state.path("qemuPid").asLong());
        destroy(call.containerDir(id), Path.of(state.path("runDir").asText()));
        call.reply.exit(0);
    }

    // ---- exec ----

    void exec(Call call, String id, JsonNode process, boolean detach, String pidFile, String consoleSocket) throws IOException {
        ObjectNode state = load(call, id);
        if (!status(state).equals("running")) {
            throw new OciException("container \"" + id + "\" is not running");
        }
        boolean tty = process.path("terminal").asBoolean(false);
        int n;
        synchronized (this) {
            n = state.path("execs").asInt() + 1;
            state.put("execs", n);
            save(call.containerDir(id), state);
        }
        Path runDir = Path.of(state.path("runDir").asText());
        Path port = runDir.resolve(QemuCommand.processSocket(n));
        try (Qmp qmp = qmp(state); AgentClient agent = agent(state)) {
            qmp.addProcessPort(n, port);
            agent.exec(n, GuestProcess.fromOci(process));
        } catch (VmmException e) {
            throw failure(id, e);
        }
        long relay = relay(call, port, pidFile, consoleSocket, tty, detach);
        if (detach) {
            synchronized (this) {
                ObjectNode now = load(call, id);
                ArrayNode relays = now.has("execRelays") ? (ArrayNode) now.get("execRelays") : now.putArray("execRelays");
                relays.add(relay);
                save(call.containerDir(id), now);
            }
            call.reply.exit(0);
        }
    }

    // ---- Firecracker's API ----

    /** At the daemon's start: serve again the API sockets of the microVMs still running (in the background). */
    static void resumeApis() {
        Thread.ofPlatform().daemon().name("microvm-apis").start(() -> MicroVmApis.resume(RUN_DIR));
    }

    /** {@code vessel doctor}'s lines about the microVMs' API sockets. */
    static List<String> doctorLines() {
        List<String> lines = new ArrayList<>();
        lines.add("microVM API sockets: " + RUN_DIR + "/<hash>/" + MicroVmApis.SOCKET
                + " (Firecracker's API; `vessel state ID` names it in annotation " + MicroVmApis.ANNOTATION + ")");
        List<Path> served = MicroVmApis.served();
        lines.add("microVM API sockets served: " + (served.isEmpty() ? "none"
                : served.size() + ": " + String.join(" ", served.stream().map(Path::toString).toList())));
        return lines;
    }

    // ---- helpers ----

    /**
     * Guest RAM for a memory limit: the limit plus what the guest kernel keeps for itself (its
     * image, page structures; measured here: about 48 MiB and 1/64 of the RAM), so that MemTotal
     * in the guest is the limit.
     */
    static int guestMemoryMib(long limitBytes) {
        long limitMib = Math.max(16, (limitBytes + (1 << 20) - 1) >> 20);
        return (int) Math.min(Integer.MAX_VALUE, limitMib + 48 + limitMib / 64);
    }

    private static OciException failure(String id, VmmException e) {
        return new OciException("container \"" + id + "\": " + e.getMessage());
    }

    private static Path runDir(Path root, String id) {
        try {
            byte[] hash = MessageDigest.getInstance("SHA-256").digest((root + "/" + id).getBytes(StandardCharsets.UTF_8));
            // Unix socket paths hold 107 bytes: container roots and 64-character ids do not fit.
            return RUN_DIR.resolve(HexFormat.of().formatHex(hash, 0, 8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Small host files bind-mounted into the container (podman's /etc/hosts, /etc/resolv.conf,
     * /etc/hostname, /run/.containerenv): the guest cannot see host paths, so they go by value.
     */
    static List<AgentClient.HostFile> hostFiles(JsonNode tree, Path rootfs) {
        List<AgentClient.HostFile> files = new ArrayList<>();
        for (JsonNode m : tree.path("mounts")) {
            boolean bind = m.path("type").asText().equals("bind");
            for (JsonNode o : m.path("options")) {
                bind |= o.asText().equals("bind") || o.asText().equals("rbind");
            }
            Path source = Path.of(m.path("source").asText("/"));
            if (!bind || !source.isAbsolute() || source.startsWith(rootfs)) {
                continue;
            }
            try {
                if (Files.isRegularFile(source) && Files.size(source) <= MAX_HOST_FILE) {
                    files.add(new AgentClient.HostFile(m.path("destination").asText(), Files.readString(source)));
                }
            } catch (IOException e) { // unreadable, or not text
                Vesseld.log("microvm: host file " + source + " left out: " + e.getMessage());
            }
        }
        return files;
    }

    /** The config's mounts that make sense in a guest; host bind mounts do not (the guest has no host paths). */
    private static List<AgentClient.Mount> guestMounts(JsonNode tree) {
        List<AgentClient.Mount> mounts = new ArrayList<>();
        for (JsonNode m : tree.path("mounts")) {
            String type = m.path("type").asText();
            if (GUEST_MOUNT_TYPES.contains(type)) {
                List<String> options = new ArrayList<>();
                m.path("options").forEach(o -> options.add(o.asText()));
                mounts.add(new AgentClient.Mount(m.path("source").asText(type), m.path("destination").asText(), type, options));
            }
        }
        return mounts;
    }

    private static ObjectNode load(Call call, String id) throws IOException {
        return (ObjectNode) JSON.readTree(call.containerDir(id).resolve(STATE_FILE).toFile());
    }

    private static void save(Path stateDir, ObjectNode state) throws IOException {
        Path tmp = stateDir.resolve(STATE_FILE + ".tmp");
        Files.write(tmp, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(state));
        Files.move(tmp, stateDir.resolve(STATE_FILE), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    private static AgentClient agent(ObjectNode state) throws VmmException {
        return AgentClient.attach(Path.of(state.path("runDir").asText()).resolve(QemuCommand.AGENT_SOCKET));
    }

    private static Qmp qmp(ObjectNode state) throws VmmException {
        return Qmp.connect(Path.of(state.path("runDir").asText()).resolve(QemuCommand.QMP_SOCKET), Duration.ofSeconds(5));
    }

    private static boolean alive(long pid) {
        return pid > 0 && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    private static void kill(long pid) {
        if (pid > 0) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            for (int i = 0; i < 200 && alive(pid); i++) {
                sleep(10);
            }
        }
    }

    /** Removes every trace of a microVM: QEMU (if still there), its network redirects, sockets and files. */
    private static void destroy(Path stateDir, Path runDir) {
        MicroVmApis.stop(runDir);
        try {
            Path pidFile = runDir.resolve("qemu.pid");
            if (Files.exists(pidFile)) {
                kill(Long.parseLong(Files.readString(pidFile).trim()));
            }
        } catch (IOException | NumberFormatException e) {
            Vesseld.log("microvm cleanup: " + e.getMessage());
        }
        try {
            JsonNode state = JSON.readTree(stateDir.resolve(STATE_FILE).toFile());
            if (state.has("netns")) {
                List<String> devices = new ArrayList<>();
                state.path("redirected").forEach(d -> devices.add(d.asText()));
                GuestNetwork.unplumb(NetNs.at(Path.of(state.path("netns").asText())), devices);
            }
        } catch (IOException e) {
            // no state saved yet: nothing was redirected
        }
        deleteTree(runDir);
        deleteTree(stateDir);
    }

    private static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (var paths = Files.walk(dir)) {
            paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException | UncheckedIOException e) {
            Vesseld.log("cannot remove " + dir + ": " + e.getMessage());
        }
    }

    private static String consoleTail(Path runDir) {
        try {
            List<String> lines = Files.readAllLines(runDir.resolve(QemuCommand.CONSOLE_LOG));
            return lines.isEmpty() ? "" : " (guest console: " + lines.getLast().strip() + ")";
        } catch (IOException e) {
            return "";
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
