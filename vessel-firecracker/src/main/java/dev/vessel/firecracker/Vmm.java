package dev.vessel.firecracker;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vessel.vmm.VmmException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;

/**
 * One microVM behind Firecracker's API: what both phases share (its id, configuration, logger,
 * metrics, MMDS store), the {@link ApiPolicy} that says which actions may reach it, and the
 * controller of its phase — a {@link PrebootApiController} until the guest starts, then a
 * {@link RuntimeApiController}, as Firecracker's API thread hands over from one to the other.
 * Actions run one at a time ({@link #handle} holds this object's lock).
 *
 * <p>States: Not started → (InstanceStart or snapshot load) → Running ⇄ Paused; QEMU's exit ends it.
 */
public final class Vmm {
    public static final String VERSION = "1.7.0";
    public static final String APP_NAME = "Firecracker";

    public enum State {
        NOT_STARTED("Not started"), RUNNING("Running"), PAUSED("Paused");

        public final String api;

        State(String api) {
            this.api = api;
        }
    }

    /**
     * What Vmm needs from the host: how to start QEMU, and what it maps the configuration with —
     * asked for only when QEMU starts (finding the accelerator takes QEMU a second: the API socket
     * should not wait for it).
     */
    public record Env(Machine.Launcher launcher, java.util.function.Supplier<QemuMapping.Host> host, Path vhostVsock, Path cwd) {
        /** In this process's working directory. */
        public Env(Machine.Launcher launcher, java.util.function.Supplier<QemuMapping.Host> host, Path vhostVsock) {
            this(launcher, host, vhostVsock, Path.of("").toAbsolutePath());
        }
    }

    /**
     * A path the API was given, as the caller means it: relative to the caller's working directory
     * (where QEMU runs, too), not to whatever process serves the API.
     */
    Path path(String path) {
        return env.cwd().resolve(path);
    }

    private final String id;
    final Env env;
    private final FcLog log;
    private final FcMetrics metrics;
    private final ApiPolicy policy;
    VmConfig config = new VmConfig();
    private final Mmds mmds = new Mmds();
    private final CompletableFuture<Integer> exited = new CompletableFuture<>();
    private ApiController controller;

    private Vmm(String id, Env env, FcLog log, FcMetrics metrics, ApiPolicy policy) {
        this.id = id;
        this.env = env;
        this.log = log;
        this.metrics = metrics;
        this.policy = policy;
    }

    /** A VM of our own ({@code vessel vmm}), not started yet, every action allowed. */
    public Vmm(String id, Env env, FcLog log, FcMetrics metrics) {
        this(id, env, log, metrics, ApiPolicy.UNRESTRICTED);
        this.controller = new PrebootApiController(this);
    }

    /**
     * The API of a microVM that is already running and belongs to someone else (Vessel's OCI
     * runtime: a {@code microvm} container), under {@link ApiPolicy#managedBy}: inspected, paused,
     * resumed, snapshotted, given a logger and metrics; the rest is a 400 naming the endpoint,
     * after the same validation as for a VM of our own. Its state is read from QEMU, since the
     * owner may pause it too, and {@link #kill} leaves it be.
     */
    public static Vmm managed(String id, VmConfig config, Machine machine, String owner, FcLog log, FcMetrics metrics) {
        Vmm vmm = new Vmm(id, new Env(argv -> {
            throw new VmmException(owner + " started this microVM");
        }, () -> {
            throw new IllegalStateException(owner + " started this microVM");
        }, Path.of("/dev/vhost-vsock")), log, metrics, ApiPolicy.managedBy(owner));
        vmm.config = config;
        vmm.controller = new RuntimeApiController(vmm, machine, State.RUNNING, true);
        return vmm;
    }

    /** Checks {@code action} against the policy and runs it in the current phase; its answer's JSON value, or null (204). */
    public synchronized Object handle(VmmAction action) throws ApiException {
        policy.check(action);
        return controller.handle(action);
    }

    /** The guest has started (InstanceStart, snapshot load): from now on the runtime controller answers. */
    void started(RuntimeApiController runtime) {
        controller = runtime;
        runtime.machine().exit().thenAccept(status -> {
            synchronized (this) {
                log.info("QEMU exited with status " + status);
                metrics.flushQuietly(this);
            }
            exited.complete(status);
        });
    }

    /** Null for a VM of our own, else who owns it (see {@link #managed}). */
    public String owner() {
        return policy.owner();
    }

    public String id() {
        return id;
    }

    /** Completes with QEMU's exit status once a started guest has ended. */
    public CompletableFuture<Integer> exited() {
        return exited;
    }

    public synchronized State state() {
        return controller.state();
    }

    public synchronized long qemuPid() {
        return controller.qemuPid();
    }

    public FcLog log() {
        return log;
    }

    public FcMetrics metrics() {
        return metrics;
    }

    public Mmds mmds() {
        return mmds;
    }

    /** Ends QEMU (we are exiting); never a managed VM's, which is its owner's to end. */
    public synchronized void kill() {
        if (policy.owner() == null && controller instanceof RuntimeApiController r) r.machine().kill();
    }

    /** For metrics: a JSON object of what this VM is. */
    synchronized void describe(ObjectNode node) {
        node.put("state", controller.state().api);
        node.put("qemu_pid", controller.qemuPid());
    }

    // ------------------------------------------------------------------ what both phases answer alike

    /**
     * What both controllers answer the same way, before boot and after: the VM's description and
     * configuration, the logger, metrics and MMDS. Balloon updates differ (after boot they reach
     * the guest) and stay with each controller.
     */
    Object anyTime(VmmAction.AnyTime action, State state) throws ApiException {
        switch (action) {
            case VmmAction.GetInstanceInfo a -> {
                return info(state);
            }
            case VmmAction.GetVersion a -> {
                return new Model.FirecrackerVersion(VERSION);
            }
            case VmmAction.GetMachineConfig a -> {
                return config.machine();
            }
            case VmmAction.GetFullVmConfig a -> {
                return config.export();
            }
            case VmmAction.GetBalloonConfig a -> {
                return balloon();
            }
            case VmmAction.ConfigureLogger a -> configureLogger(a.logger());
            case VmmAction.ConfigureMetrics a -> configureMetrics(a.metrics());
            case VmmAction.FlushMetrics a -> flushMetrics();
            case VmmAction.GetMmds a -> {
                return mmds(a);
            }
            case VmmAction.PutMmds a -> mmds(a);
            case VmmAction.PatchMmds a -> mmds(a);
            case VmmAction.UpdateBalloon a -> throw new IllegalStateException("a controller's own action: " + a);
            case VmmAction.UpdateBalloonStatistics a -> throw new IllegalStateException("a controller's own action: " + a);
        }
        return null;
    }

    Model.InstanceInfo info(State state) {
        return new Model.InstanceInfo(id, state.api, VERSION, APP_NAME);
    }

    void configureLogger(Model.Logger l) throws ApiException {
        log.configure(l, l.logPath() == null ? null : path(l.logPath()));
        config.logger(l);
    }

    void configureMetrics(Model.Metrics m) throws ApiException {
        metrics.configure(path(m.metricsPath()));
        config.metrics(m);
    }

    void flushMetrics() throws ApiException {
        if (!metrics.configured()) throw ApiException.badRequest("FlushMetrics: the metrics system is not initialized (PUT /metrics first)");
        try {
            metrics.flush(this);
        } catch (IOException e) {
            throw ApiException.badRequest("FlushMetrics: " + e.getMessage());
        }
    }

    Model.Balloon balloon() throws ApiException {
        if (config.balloon() == null) throw ApiException.badRequest("The balloon device is not configured (PUT /balloon).");
        return config.balloon();
    }

    /** PATCH /balloon's new configuration, checked against the machine. */
    Model.Balloon updatedBalloon(Model.BalloonUpdate u) throws ApiException {
        Model.Balloon b = balloon();
        checkBalloonSize(u.amountMib());
        return new Model.Balloon(u.amountMib(), b.deflateOnOom(), b.statsPollingIntervalS(), b.freePageHinting(),
                b.freePageReporting());
    }

    void checkBalloonSize(long amountMib) throws ApiException {
        if (amountMib > config.machine().memSizeMib()) {
            throw ApiException.badRequest("field `amount_mib`: the balloon (" + amountMib
                    + " MiB) cannot be larger than the guest's memory (" + config.machine().memSizeMib() + " MiB)");
        }
    }

    /** PATCH /balloon/statistics's new configuration. */
    Model.Balloon updatedBalloonStats(Model.BalloonStatsUpdate u) throws ApiException {
        Model.Balloon b = balloon();
        return new Model.Balloon(b.amountMib(), b.deflateOnOom(), u.statsPollingIntervalS(), b.freePageHinting(),
                b.freePageReporting());
    }

    /** GET/PUT/PATCH /mmds: the data store, the same in both phases. */
    Object mmds(VmmAction.AnyTime action) throws ApiException {
        switch (action) {
            case VmmAction.GetMmds a -> {
                return mmds.get();
            }
            case VmmAction.PutMmds a -> mmds.put(a.data());
            case VmmAction.PatchMmds a -> mmds.patch(a.patch());
            default -> throw new IllegalArgumentException("not an MMDS action: " + action);
        }
        return null;
    }

    void readable(String path, String field) throws ApiException {
        Path p = path(path);
        if (!Files.isReadable(p) || Files.isDirectory(p)) {
            throw ApiException.badRequest("field `" + field + "`: cannot open " + path
                    + (Files.exists(p) ? (Files.isDirectory(p) ? ": a directory" : ": permission denied") : ": no such file"));
        }
    }

    static void noNetRateLimit(Model.RateLimiter r, String field) throws ApiException {
        if (r != null && r.limits()) {
            throw ApiException.badRequest("field `" + field + "`: network rate limiting is not supported by Vessel"
                    + " (QEMU has no per-NIC throttle; shape the tap with tc instead)");
        }
    }

    static String shellQuote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }
}
