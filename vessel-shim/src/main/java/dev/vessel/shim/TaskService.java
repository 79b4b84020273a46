package dev.vessel.shim;

import dev.vessel.linux.Command;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;

/**
 * containerd's {@code containerd.task.v2.Task} service (runtime/v2/task/shim.proto) over Vessel's
 * command line: one handler per method, each decoding its request and answering its response
 * message. One shim serves every container of a pod (grouped by io.kubernetes.cri.sandbox-id, as
 * the runc shim groups them), so each request names its container.
 */
final class TaskService {
    static final String SERVICE = "containerd.task.v2.Task";
    static final String RUNC_OPTIONS = "containerd.runc.v1.Options";
    private static final Logger LOG = Logger.getLogger(TaskService.class.getName());

    /** A handler's failure with the gRPC code containerd maps to its errdefs (NotFound, AlreadyExists, ...). */
    static final class ShimException extends Exception {
        final int code;

        ShimException(int code, String message) {
            super(message);
            this.code = code;
        }
    }

    /** One container this shim runs. */
    static final class Container {
        final String id;
        final Path bundle;
        final Runtime runtime;
        final TaskProcess init;
        final Map<String, TaskProcess> execs = new ConcurrentHashMap<>();
        final boolean mountedRootfs;
        /** the guest's OOM kills last seen in a Stats answer: more since are a /tasks/oom event */
        final java.util.concurrent.atomic.AtomicLong oomKills = new java.util.concurrent.atomic.AtomicLong();

        Container(String id, Path bundle, Runtime runtime, TaskProcess init, boolean mountedRootfs) {
            this.id = id;
            this.bundle = bundle;
            this.runtime = runtime;
            this.init = init;
            this.mountedRootfs = mountedRootfs;
        }
    }

    private final Map<String, Container> containers = new ConcurrentHashMap<>();
    private final Events events;
    private final String defaultBinary;
    private final Path root;
    private final Runnable onShutdown;

    TaskService(Events events, String defaultBinary, Path root, Runnable onShutdown) {
        this.events = events;
        this.defaultBinary = defaultBinary;
        this.root = root;
        this.onShutdown = onShutdown;
    }

    /** Answers one request: the response payload, or a ShimException. */
    byte[] handle(String method, byte[] payload) throws ShimException {
        Protobuf.Message req;
        try {
            req = Protobuf.Message.parse(payload);
        } catch (IllegalArgumentException e) {
            throw new ShimException(Ttrpc.INVALID_ARGUMENT, method + ": malformed request: " + e.getMessage());
        }
        try {
            return switch (method) {
                case "Create" -> create(req);
                case "Start" -> start(req);
                case "State" -> state(req);
                case "Delete" -> delete(req);
                case "Kill" -> kill(req);
                case "Wait" -> await(req);
                case "Exec" -> exec(req);
                case "Pids" -> pids(req);
                case "Pause" -> pause(req, true);
                case "Resume" -> pause(req, false);
                case "Stats" -> stats(req);
                case "Update" -> update(req);
                case "Connect" -> connect(req);
                case "ResizePty" -> resize(req);
                case "CloseIO" -> empty(container(req.string(1)));
                case "Shutdown" -> shutdown();
                case "Checkpoint" -> throw new ShimException(Ttrpc.UNIMPLEMENTED, "checkpoint is not supported by Vessel");
                default -> throw new ShimException(Ttrpc.UNIMPLEMENTED, "unknown method " + method);
            };
        } catch (IOException e) {
            throw new ShimException(Ttrpc.UNKNOWN, e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ShimException(Ttrpc.UNKNOWN, method + ": interrupted");
        }
    }

    private Container container(String id) throws ShimException {
        Container c = containers.get(id);
        if (c == null) throw new ShimException(Ttrpc.NOT_FOUND, "container " + id + " does not exist in this shim");
        return c;
    }

    private TaskProcess process(Container c, String execId) throws ShimException {
        if (execId.isEmpty()) return c.init;
        TaskProcess p = c.execs.get(execId);
        if (p == null) throw new ShimException(Ttrpc.NOT_FOUND, "process " + execId + " does not exist in container " + c.id);
        return p;
    }

    private static byte[] empty(Object unused) {
        return new byte[0];
    }

    /** The runtime binary: BinaryName of runc-style options when containerd passes them, else the shim's default. */
    static String binaryFrom(Protobuf.Message options, String defaultBinary) {
        if (options == null || !options.string(1).endsWith(RUNC_OPTIONS)) return defaultBinary;
        byte[] value = options.bytes(2);
        if (value == null) return defaultBinary;
        String name = Protobuf.Message.parse(value).string(6);
        return name.isEmpty() ? defaultBinary : name;
    }

    private byte[] create(Protobuf.Message req) throws IOException, ShimException {
        String id = req.string(1);
        if (id.isEmpty()) throw new ShimException(Ttrpc.INVALID_ARGUMENT, "create: no container id");
        if (containers.containsKey(id)) throw new ShimException(Ttrpc.ALREADY_EXISTS, "container " + id + " exists already");
        Path bundle = Path.of(req.string(2));
        boolean terminal = req.bool(4);
        Runtime.Stdio stdio = new Runtime.Stdio(req.string(5), req.string(6), req.string(7));
        Runtime runtime = new Runtime(binaryFrom(req.message(10), defaultBinary), root);
        List<Protobuf.Message> mounts = req.messages(3);
        boolean mounted = mountRootfs(bundle, mounts);
        TaskProcess init = new TaskProcess(id, "", stdio, terminal, null);
        Container c = new Container(id, bundle, runtime, init, mounted);
        try {
            init.console = terminal ? Console.listen(consoleSocket(id, "")) : null;
            int pid = runtime.create(id, bundle, stdio, init.console);
            if (init.console != null) attach(init.console, stdio);
            init.created(pid);
        } catch (IOException e) {
            if (init.console != null) init.console.close();
            if (mounted) unmountRootfs(bundle);
            throw e;
        } finally {
            if (init.console != null) init.console.closeListener();
        }
        containers.put(id, c);
        reapInBackground(c, init);
        events.publish(Events.taskCreate(id, bundle.toString(), stdio, terminal, init.pid()));
        return new Protobuf.Writer().uint(1, init.pid()).toByteArray();
    }

    /** A console socket's path: short, as a bundle's path under containerd's state is too long for one (108 bytes). */
    private Path consoleSocket(String id, String execId) {
        try {
            byte[] d = java.security.MessageDigest.getInstance("SHA-256").digest((id + "/" + execId).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return root.resolve("tty-" + java.util.HexFormat.of().formatHex(d, 0, 8) + ".sock");
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /** The terminal's master from the runtime, relayed to the engine's fifos. */
    private static void attach(Console console, Runtime.Stdio stdio) throws IOException {
        console.receiveMaster();
        console.relay(stdio);
    }

    /** The engine's snapshot mounted at the bundle's rootfs, as the runc shim does; false when it gives none. */
    private static boolean mountRootfs(Path bundle, List<Protobuf.Message> mounts) throws IOException {
        if (mounts.isEmpty()) return false;
        Path rootfs = bundle.resolve("rootfs");
        Files.createDirectories(rootfs);
        for (Protobuf.Message m : mounts) {
            List<String> argv = new ArrayList<>(List.of("mount", "-t", m.string(1)));
            List<String> options = stringsOf(m, 4);
            if (!options.isEmpty()) argv.addAll(List.of("-o", String.join(",", options)));
            argv.addAll(List.of(m.string(2), rootfs.toString()));
            Command.Result r = Command.run(argv, "", Duration.ofSeconds(30));
            if (r.status() != 0) throw new IOException("mounting the rootfs (" + m.string(1) + "): " + r.firstLine());
        }
        return true;
    }

    private static List<String> stringsOf(Protobuf.Message m, int field) {
        List<String> out = new ArrayList<>();
        for (byte[] b : m.allBytes(field)) out.add(new String(b, java.nio.charset.StandardCharsets.UTF_8));
        return out;
    }

    private static void unmountRootfs(Path bundle) {
        try {
            Command.run(List.of("umount", "-l", bundle.resolve("rootfs").toString()), "", Duration.ofSeconds(30));
        } catch (IOException e) {
            LOG.warning("unmounting " + bundle + "/rootfs: " + e.getMessage());
        }
    }

    /** A platform thread per process, blocked in waitpid: the exit's status goes to Wait, State and /tasks/exit. */
    private void reapInBackground(Container c, TaskProcess p) {
        Thread.ofPlatform().daemon().name("reap-" + p.processId()).start(() -> {
            int status = Native.waitFor(p.pid());
            if (status < 0) {
                // not our child (it was never reparented to us): wait for it to disappear
                while (Native.kill(p.pid(), 0)) {
                    try {
                        Thread.sleep(200);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                status = 255;
            }
            Instant at = Instant.now();
            p.exited(status, at);
            events.publish(Events.taskExit(c.id, p.processId(), p.pid(), status, at));
        });
    }

    private byte[] start(Protobuf.Message req) throws IOException, ShimException {
        Container c = container(req.string(1));
        String execId = req.string(2);
        TaskProcess p = process(c, execId);
        if (p.status() != TaskProcess.CREATED) throw new ShimException(Ttrpc.FAILED_PRECONDITION, "process " + p.processId() + " is not created");
        if (execId.isEmpty()) {
            c.runtime.start(c.id);
            p.started();
            events.publish(Events.taskStart(c.id, p.pid()));
        } else {
            Path spec = c.bundle.resolve("exec-" + execId + ".json");
            Files.write(spec, p.spec);
            if (p.terminal) p.console = Console.listen(consoleSocket(c.id, execId));
            int pid;
            try {
                pid = c.runtime.exec(c.id, spec, c.bundle.resolve("exec-" + execId + ".pid"), p.stdio,
                        c.bundle.resolve("exec-" + execId + ".log.json"), p.console);
                if (p.console != null) attach(p.console, p.stdio);
            } catch (IOException e) {
                if (p.console != null) p.console.close();
                throw e;
            } finally {
                if (p.console != null) p.console.closeListener();
            }
            p.created(pid);
            p.started();
            reapInBackground(c, p);
            events.publish(Events.execStarted(c.id, execId, pid));
        }
        return new Protobuf.Writer().uint(1, p.pid()).toByteArray();
    }

    /** ResizePty (id 1, exec_id 2, width 3, height 4): a process without a terminal ignores it, as runc's shim does. */
    private byte[] resize(Protobuf.Message req) throws IOException, ShimException {
        TaskProcess p = process(container(req.string(1)), req.string(2));
        Console console = p.console;
        if (console != null) console.resize((int) req.uint(3), (int) req.uint(4));
        return new byte[0];
    }

    private byte[] state(Protobuf.Message req) throws ShimException {
        Container c = container(req.string(1));
        TaskProcess p = process(c, req.string(2));
        return new Protobuf.Writer().string(1, c.id).string(2, c.bundle.toString()).uint(3, p.pid()).uint(4, p.status())
                .string(5, p.stdio.stdin()).string(6, p.stdio.stdout()).string(7, p.stdio.stderr()).bool(8, p.terminal)
                .uint(9, p.exitStatus()).timestamp(10, p.exitedAt()).string(11, p.execId).toByteArray();
    }

    private byte[] delete(Protobuf.Message req) throws IOException, ShimException, InterruptedException {
        Container c = container(req.string(1));
        String execId = req.string(2);
        TaskProcess p = process(c, execId);
        if (!execId.isEmpty()) {
            if (p.status() == TaskProcess.RUNNING) throw new ShimException(Ttrpc.FAILED_PRECONDITION, "exec " + execId + " is running");
            c.execs.remove(execId);
            return deleteResponse(p);
        }
        // a created task that never ran is removed by force, as containerd deletes a task it failed to start
        c.runtime.delete(c.id, !p.hasExited());
        if (!p.hasExited() && !p.awaitExit(10_000)) LOG.warning("container " + c.id + ": its process did not exit after delete");
        if (c.mountedRootfs) unmountRootfs(c.bundle);
        containers.remove(c.id);
        Instant at = p.exitedAt() == null ? Instant.now() : p.exitedAt();
        events.publish(Events.taskDelete(c.id, p.pid(), p.exitStatus(), at));
        return deleteResponse(p);
    }

    private static byte[] deleteResponse(TaskProcess p) {
        return new Protobuf.Writer().uint(1, p.pid()).uint(2, p.exitStatus())
                .timestamp(3, p.exitedAt() == null ? Instant.now() : p.exitedAt()).toByteArray();
    }

    private byte[] kill(Protobuf.Message req) throws IOException, ShimException {
        Container c = container(req.string(1));
        String execId = req.string(2);
        int signal = (int) req.uint(3);
        TaskProcess p = process(c, execId);
        if (p.hasExited()) throw new ShimException(Ttrpc.NOT_FOUND, "process " + p.processId() + " has exited");
        if (execId.isEmpty()) {
            c.runtime.kill(c.id, signal, req.bool(4));
        } else if (!Native.kill(p.pid(), signal)) {
            throw new ShimException(Ttrpc.NOT_FOUND, "process " + execId + " is gone");
        }
        return new byte[0];
    }

    private byte[] await(Protobuf.Message req) throws ShimException, InterruptedException {
        Container c = container(req.string(1));
        TaskProcess p = process(c, req.string(2));
        p.awaitExit();
        return new Protobuf.Writer().uint(1, p.exitStatus()).timestamp(2, p.exitedAt()).toByteArray();
    }

    private byte[] exec(Protobuf.Message req) throws ShimException {
        Container c = container(req.string(1));
        String execId = req.string(2);
        if (execId.isEmpty() || execId.contains("/")) throw new ShimException(Ttrpc.INVALID_ARGUMENT, "exec: bad exec id '" + execId + "'");
        if (c.execs.containsKey(execId)) throw new ShimException(Ttrpc.ALREADY_EXISTS, "exec " + execId + " exists already");
        Protobuf.Message spec = req.message(7);
        byte[] json = spec == null ? null : spec.bytes(2);
        if (json == null) throw new ShimException(Ttrpc.INVALID_ARGUMENT, "exec: no process spec");
        c.execs.put(execId, new TaskProcess(c.id, execId, new Runtime.Stdio(req.string(4), req.string(5), req.string(6)), req.bool(3), json));
        events.publish(Events.execAdded(c.id, execId));
        return new byte[0];
    }

    private byte[] pids(Protobuf.Message req) throws IOException, ShimException {
        Container c = container(req.string(1));
        Protobuf.Writer w = new Protobuf.Writer();
        for (long pid : parsePids(c.runtime.ps(c.id))) {
            Protobuf.Writer info = new Protobuf.Writer().uint(1, pid);
            // an exec's process named by its exec id, as the runc shim does (ctr tasks ps shows it)
            c.execs.values().stream().filter(e -> e.pid() == pid && !e.hasExited()).findFirst().ifPresent(e ->
                    info.any(2, "containerd.runc.v1.ProcessDetails", new Protobuf.Writer().string(1, e.execId)));
            w.message(1, info);
        }
        return w.toByteArray();
    }

    /** {@code ps --format json}: a JSON array of pids. */
    static List<Long> parsePids(String json) throws IOException {
        List<Long> pids = new ArrayList<>();
        var node = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json.strip().isEmpty() ? "[]" : json);
        if (node == null || !node.isArray()) throw new IOException("ps printed no JSON array");
        node.forEach(n -> pids.add(n.asLong()));
        return pids;
    }

    private byte[] pause(Protobuf.Message req, boolean pause) throws IOException, ShimException {
        Container c = container(req.string(1));
        if (pause) c.runtime.pause(c.id);
        else c.runtime.resume(c.id);
        c.init.paused(pause);
        events.publish(pause ? Events.paused(c.id) : Events.resumed(c.id));
        return new byte[0];
    }

    private byte[] stats(Protobuf.Message req) throws IOException, ShimException {
        Container c = container(req.string(1));
        String event = c.runtime.stats(c.id);
        Protobuf.Writer metrics = Metrics.fromStatsEvent(event);
        // the OOM killer's work, seen where containerd asks for it (no poller of our own per container)
        long ooms = Metrics.oomKills(event);
        if (ooms > c.oomKills.getAndAccumulate(ooms, Math::max)) events.publish(Events.taskOom(c.id));
        return new Protobuf.Writer().any(1, Metrics.TYPE_URL, metrics).toByteArray();
    }

    /** Update: the Any's value is the OCI LinuxResources as JSON (containerd's typeurl for Go types). */
    private byte[] update(Protobuf.Message req) throws IOException, ShimException {
        Container c = container(req.string(1));
        Protobuf.Message resources = req.message(2);
        byte[] json = resources == null ? null : resources.bytes(2);
        if (json == null) throw new ShimException(Ttrpc.INVALID_ARGUMENT, "update: no resources");
        Path file = c.bundle.resolve("update-resources.json");
        Files.write(file, json);
        c.runtime.update(c.id, file);
        return new byte[0];
    }

    private byte[] connect(Protobuf.Message req) throws ShimException {
        Container c = container(req.string(1));
        return new Protobuf.Writer().uint(1, ProcessHandle.current().pid()).uint(2, c.init.pid()).string(3, "vessel-shim 1")
                .toByteArray();
    }

    /** Shutdown: the shim exits once it runs no container (containerd asks after each Delete). */
    private byte[] shutdown() {
        if (containers.isEmpty()) onShutdown.run();
        return new byte[0];
    }

    boolean idle() {
        return containers.isEmpty();
    }
}
