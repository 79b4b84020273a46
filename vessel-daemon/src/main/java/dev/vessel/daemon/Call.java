package dev.vessel.daemon;

import dev.vessel.oci.Isolation;
import dev.vessel.oci.OciException;
import dev.vessel.oci.ViewPlan;
import dev.vessel.runtime.ContainerDriver;
import dev.vessel.runtime.IsolationDriver;
import dev.vessel.runtime.Outcome;
import dev.vessel.runtime.SandboxRecord;
import dev.vessel.runtime.SandboxStore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One client call: what was asked, where to answer, and the options that apply to it. It is the
 * drivers' {@link IsolationDriver.Context} and carries out the {@link Outcome}s they return as
 * protocol frames.
 */
final class Call implements IsolationDriver.Context {
    final Protocol.Request request;
    final Protocol.Replier reply;
    final Settings settings;
    /** What the resource view adds to a container; null when the view is off or unavailable. */
    final ViewPlan view;
    final Drivers drivers;
    /** Vessel's own commands (daemon, assets, doctor, image) are the dispatcher's. */
    final Dispatcher dispatcher;
    LowLevelRuntime.GlobalOptions global;
    /** What this call creates when the bundle does not say: --isolation, else the daemon's default. */
    Isolation isolation;
    private LowLevelRuntime runtime;
    private SandboxStore store;
    private Boolean clientStderrIsTerminal; // found at the first progress line

    /** The drivers, one per isolation, and where their stores live. */
    record Drivers(Map<Isolation, IsolationDriver> byIsolation, Path storeBase) {
        IsolationDriver of(Isolation isolation) {
            IsolationDriver driver = byIsolation.get(isolation);
            if (driver == null) throw new OciException("isolation " + isolation.label() + " is not available");
            return driver;
        }

        ContainerDriver container() {
            return (ContainerDriver) of(Isolation.CONTAINER);
        }

        dev.vessel.runtime.MicroVmDriver microVm() {
            return (dev.vessel.runtime.MicroVmDriver) of(Isolation.MICROVM);
        }
    }

    Call(Protocol.Request request, Protocol.Replier reply, Settings settings, ViewPlan view, Drivers drivers,
            Dispatcher dispatcher) {
        this.dispatcher = dispatcher;
        this.request = request;
        this.reply = reply;
        this.settings = settings;
        this.view = view;
        this.drivers = drivers;
    }

    /** A call sent again because the daemon it was sent to died before answering it: it may have half run. */
    @Override
    public boolean retried() {
        return request.attempt() > 0;
    }

    /** A path from the command line, relative to the client's working directory. */
    Path resolve(String path) {
        return Path.of(request.cwd()).resolve(path).normalize();
    }

    /** {@link #resolve}, or null for null. */
    String resolveOrNull(String path) {
        return path == null ? null : resolve(path).toString();
    }

    LowLevelRuntime runtime() {
        if (runtime == null) {
            runtime = LowLevelRuntime.resolve(settings.lowLevelRuntime());
        }
        return runtime;
    }

    Path root() {
        return global.root();
    }

    @Override
    public SandboxStore store() {
        if (store == null) store = SandboxStore.forRoot(drivers.storeBase(), root());
        return store;
    }

    @Override
    public List<String> runtimeArgv() {
        return runtime().globalArgs(global);
    }

    @Override
    public List<String> env() {
        return request.env();
    }

    @Override
    public long clientPid() {
        return request.pid();
    }

    /** On the client's stderr, when it is a terminal (see {@link #isTerminal}); a client gone meanwhile misses it. */
    @Override
    public void progress(String line) {
        if (clientStderrIsTerminal == null) clientStderrIsTerminal = isTerminal(request.pid());
        if (!clientStderrIsTerminal) return;
        try {
            reply.stderr("vessel: " + line + "\n");
        } catch (IOException e) {
            clientStderrIsTerminal = false;
        }
    }

    /** Whether process {@code pid}'s stderr (fd 2) is a terminal: a pty, a virtual console or the console. */
    static boolean isTerminal(long pid) {
        if (pid <= 1) return false;
        try {
            return isTerminalDevice(java.nio.file.Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "fd", "2")).toString());
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    /** A terminal's device path (what /proc/PID/fd/N links to): /dev/pts/N, /dev/ttyN, /dev/console. */
    static boolean isTerminalDevice(String target) {
        return target.startsWith("/dev/pts/") || target.matches("/dev/tty[0-9]*") || target.equals("/dev/console");
    }

    @Override
    public List<String> globalArgs() {
        List<String> args = new ArrayList<>(List.of("--root", root().toString()));
        if (global.log() != null) args.addAll(List.of("--log", global.log()));
        if (global.logFormat() != null) args.addAll(List.of("--log-format", global.logFormat()));
        return args;
    }

    /**
     * The sandbox {@code id} of this root: Vessel's record, or, for a container the low-level
     * runtime has but Vessel has no record of (created by an older Vessel or by crun itself), a
     * record made up from it. A container record the runtime has forgotten is stale and goes.
     */
    Optional<SandboxRecord> find(String id) {
        Optional<SandboxRecord> record = store().load(id);
        if (record.isPresent() && record.get().isolation() == Isolation.CONTAINER
                && ContainerDriver.isStale(store(), record.get())) {
            store().remove(id);
            record = Optional.empty();
        }
        if (record.isEmpty() && ContainerDriver.runtimeHas(store(), id)) {
            record = Optional.of(new SandboxRecord(id, Isolation.CONTAINER, null, null, null, null, Map.of(), null, null));
        }
        return record;
    }

    SandboxRecord require(String id) {
        return find(id).orElseThrow(() -> new OciException("container \"" + id + "\" does not exist"));
    }

    boolean exists(String id) {
        return find(id).isPresent();
    }

    void print(String text) {
        try {
            reply.stdout(text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Carries out an outcome as frames, following its continuations, up to (not including) a
     * stream, which is returned: the caller streams it once it has let go of the sandbox's lock.
     */
    Outcome.Stream carryOut(Outcome outcome) throws IOException {
        while (outcome != null) {
            switch (outcome) {
                case Outcome.Exit exit -> {
                    if (!exit.stdout().isEmpty()) reply.stdout(exit.stdout());
                    if (!exit.stderr().isEmpty()) reply.stderr(exit.stderr());
                    reply.exit(exit.status());
                    outcome = null;
                }
                case Outcome.Exec exec -> {
                    reply.exec(new Protocol.Program(exec.argv(), exec.env(), exec.files()));
                    outcome = null;
                }
                case Outcome.Spawn spawn -> outcome = spawn.then().apply(
                        reply.spawn(new Protocol.Program(spawn.argv(), spawn.env(), List.of())));
                case Outcome.Capture capture -> {
                    Protocol.Captured captured = reply.capture(new Protocol.Program(capture.argv(), capture.env(), List.of()));
                    outcome = capture.then().apply(captured.status(),
                            new String(captured.output(), java.nio.charset.StandardCharsets.UTF_8));
                }
                case Outcome.Relay relay -> outcome = relay.then().apply(reply.relay(relay.port(), relay.pidFile(),
                        relay.consoleSocket(), relay.tty(), relay.detach(), relay.afterExit()));
                case Outcome.Go go -> {
                    reply.go();
                    outcome = null;
                }
                case Outcome.Stream stream -> {
                    return stream;
                }
            }
        }
        return null;
    }

    /** Removes a directory tree of our own (a scratch directory); what cannot go stays. */
    static void deleteQuietly(Path dir) {
        if (dir == null) return;
        try (var paths = java.nio.file.Files.walk(dir)) {
            paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // left in /tmp
        }
    }

    /** Streams the lines of a stream outcome, then exits with its status. */
    void stream(Outcome.Stream stream) throws IOException {
        int status = stream.body().write(line -> reply.stdout(line + "\n"));
        reply.exit(status);
    }

    /** Carries out what an operation on sandbox {@code id} returns, holding the sandbox's lock meanwhile. */
    void locked(String id, java.util.function.Function<SandboxRecord, Outcome> operation) throws IOException {
        Outcome.Stream stream;
        try (SandboxStore.Lock lock = store().lock(id)) {
            SandboxRecord record = require(id); // again, under the lock
            stream = carryOut(operation.apply(record));
        }
        if (stream != null) stream(stream);
    }
}
