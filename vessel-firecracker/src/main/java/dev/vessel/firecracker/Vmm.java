package dev.vessel.firecracker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vessel.vmm.VmmException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * One microVM behind Firecracker's API: its configuration before boot, its QEMU after, and
 * Firecracker's rules about which call is allowed when. Every method is one API operation on
 * already-validated input; they run one at a time (as Firecracker's API thread runs them).
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
    public record Env(Machine.Launcher launcher, java.util.function.Supplier<QemuMapping.Host> host, Path vhostVsock) {
    }

    private final String id;
    private final Env env;
    private final FcLog log;
    private final FcMetrics metrics;
    private VmConfig config = new VmConfig();
    private State state = State.NOT_STARTED;
    private Machine machine;
    /** Anything but the logger and metrics configured: snapshot/load is refused then, as in Firecracker. */
    private boolean configured;
    private final Mmds mmds = new Mmds();
    private final CompletableFuture<Integer> exited = new CompletableFuture<>();
    /** A drive's current file node, once a PATCH has replaced the one it booted with. */
    private final Map<String, String> fileNodes = new java.util.HashMap<>();
    /** Who owns a microVM this API only looks after (see {@link #managed}); null for one of our own. */
    private String owner;

    public Vmm(String id, Env env, FcLog log, FcMetrics metrics) {
        this.id = id;
        this.env = env;
        this.log = log;
        this.metrics = metrics;
    }

    /**
     * The API of a microVM that is already running and belongs to someone else (Vessel's OCI
     * runtime: a {@code microvm} container): it can be inspected, paused, resumed, snapshotted and
     * given a logger and metrics, but everything that would change what the owner set up (the boot
     * source, drives, NICs, machine configuration, InstanceStart, snapshot load, Ctrl+Alt+Del) is a
     * 400 naming the endpoint. Validation is the same as for a VM of our own, and comes first. The
     * state (Running/Paused) is read from QEMU, since the owner may pause it too.
     */
    public static Vmm managed(String id, VmConfig config, Machine machine, String owner, FcLog log, FcMetrics metrics) {
        Vmm vmm = new Vmm(id, new Env(argv -> {
            throw new VmmException(owner + " started this microVM");
        }, () -> {
            throw new IllegalStateException(owner + " started this microVM");
        }, Path.of("/dev/vhost-vsock")), log, metrics);
        vmm.config = config;
        vmm.machine = machine;
        vmm.owner = owner;
        vmm.state = State.RUNNING;
        vmm.configured = true;
        vmm.syncState();
        return vmm;
    }

    /** Null for a VM of our own, else who owns it (see {@link #managed}). */
    public String owner() {
        return owner;
    }

    /** A managed VM's state as QEMU has it (its owner may have paused or resumed it). */
    private void syncState() {
        if (owner == null || machine == null) return;
        try {
            String status = machine.qmp("query-status", null).path("status").asText();
            state = status.equals("running") ? State.RUNNING : State.PAUSED;
        } catch (VmmException | RuntimeException e) {
            // QEMU is busy or going away: the last state known stands
        }
    }

    private ApiException readOnly(String what) {
        return ApiException.badRequest("The microVM is managed by its OCI runtime (" + owner + "): " + what
                + " is not allowed (read-only: a change would break the container's contract; use the OCI runtime's commands).");
    }

    /** Completes with QEMU's exit status once a started guest has ended. */
    public CompletableFuture<Integer> exited() {
        return exited;
    }

    public synchronized State state() {
        syncState();
        return state;
    }

    public synchronized long qemuPid() {
        return machine == null ? -1 : machine.pid();
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

    private void preBoot(String what) throws ApiException {
        if (owner != null) throw readOnly(what);
        if (state != State.NOT_STARTED) {
            throw ApiException.badRequest("The requested operation is not supported after starting the microVM: " + what
                    + " is pre-boot only.");
        }
    }

    private void postBoot(String what) throws ApiException {
        if (state == State.NOT_STARTED) {
            throw ApiException.badRequest("The requested operation is not supported before starting the microVM: " + what
                    + " is post-boot only.");
        }
    }

    // ------------------------------------------------------------------ reads

    public synchronized Model.InstanceInfo info() {
        syncState();
        return new Model.InstanceInfo(id, state.api, VERSION, APP_NAME);
    }

    public synchronized Model.MachineConfiguration machineConfig() {
        return config.machine();
    }

    public synchronized Model.FullVmConfiguration vmConfig() {
        return config.export();
    }

    // ------------------------------------------------------------------ pre-boot configuration

    public synchronized void putBootSource(Model.BootSource b) throws ApiException {
        preBoot("PUT /boot-source");
        readable(b.kernelImagePath(), "kernel_image_path");
        if (b.initrdPath() != null) readable(b.initrdPath(), "initrd_path");
        config.bootSource(b);
        configured = true;
    }

    public synchronized void putDrive(String pathId, Model.Drive d) throws ApiException {
        preBoot("PUT /drives/" + pathId);
        if (pathId.equals(d.driveId())) readable(d.pathOnHost(), "path_on_host"); // else putDrive names the mismatch
        config.putDrive(pathId, d);
        configured = true;
    }

    public synchronized void putNetworkInterface(String pathId, Model.NetworkInterface n) throws ApiException {
        preBoot("PUT /network-interfaces/" + pathId);
        noNetRateLimit(n.rxRateLimiter(), "rx_rate_limiter");
        noNetRateLimit(n.txRateLimiter(), "tx_rate_limiter");
        config.putNetworkInterface(pathId, n);
        configured = true;
    }

    public synchronized void putMachineConfig(Model.MachineConfiguration m) throws ApiException {
        preBoot("PUT /machine-config");
        Model.require(m.vcpuCount(), "vcpu_count");
        Model.require(m.memSizeMib(), "mem_size_mib");
        config.machine(m.over(Model.MachineConfiguration.DEFAULT));
        configured = true;
    }

    public synchronized void patchMachineConfig(Model.MachineConfiguration m) throws ApiException {
        preBoot("PATCH /machine-config");
        config.machine(m.over(config.machine()));
        configured = true;
    }

    public synchronized void putVsock(Model.Vsock v) throws ApiException {
        preBoot("PUT /vsock");
        if (!Files.exists(env.vhostVsock())) {
            throw ApiException.badRequest("field `uds_path`: vsock is not available on this host: " + env.vhostVsock()
                    + " is missing (modprobe vhost_vsock); Vessel's vsock needs vhost-vsock");
        }
        config.vsock(v);
        configured = true;
    }

    public synchronized void putEntropy(Model.EntropyDevice e) throws ApiException {
        preBoot("PUT /entropy");
        if (e.rateLimiter() != null && e.rateLimiter().ops() != null && e.rateLimiter().ops().limits()) {
            throw ApiException.badRequest("field `rate_limiter.ops`: not supported by Vessel (virtio-rng limits bytes"
                    + " per period only; use `rate_limiter.bandwidth`)");
        }
        config.entropy(e);
        configured = true;
    }

    public synchronized void putBalloon(Model.Balloon b) throws ApiException {
        preBoot("PUT /balloon");
        if (Boolean.TRUE.equals(b.freePageHinting())) {
            throw ApiException.badRequest("field `free_page_hinting`: not supported by Vessel (QEMU 7.2's"
                    + " virtio-balloon-device hints only during migration)");
        }
        if (b.amountMib() > config.machine().memSizeMib()) {
            throw ApiException.badRequest("field `amount_mib`: the balloon (" + b.amountMib()
                    + " MiB) cannot be larger than the guest's memory (" + config.machine().memSizeMib() + " MiB)");
        }
        config.balloon(b);
        configured = true;
    }

    public synchronized void putMmdsConfig(Model.MmdsConfig c) throws ApiException {
        preBoot("PUT /mmds/config");
        config.mmdsConfig(c);
        mmds.configure(c);
        configured = true;
    }

    public synchronized void putLogger(Model.Logger l) throws ApiException {
        log.configure(l);
        config.logger(l);
    }

    public synchronized void putMetrics(Model.Metrics m) throws ApiException {
        metrics.configure(Path.of(m.metricsPath()));
        config.metrics(m);
    }

    private static void readable(String path, String field) throws ApiException {
        Path p = Path.of(path);
        if (!Files.isReadable(p) || Files.isDirectory(p)) {
            throw ApiException.badRequest("field `" + field + "`: cannot open " + path
                    + (Files.exists(p) ? (Files.isDirectory(p) ? ": a directory" : ": permission denied") : ": no such file"));
        }
    }

    private static void noNetRateLimit(Model.RateLimiter r, String field) throws ApiException {
        if (r != null && r.limits()) {
            throw ApiException.badRequest("field `" + field + "`: network rate limiting is not supported by Vessel"
                    + " (QEMU has no per-NIC throttle; shape the tap with tc instead)");
        }
    }

    // ------------------------------------------------------------------ actions

    public void action(Model.InstanceActionInfo a) throws ApiException {
        switch (a.actionType()) {
            case "InstanceStart" -> instanceStart();
            case "SendCtrlAltDel" -> sendCtrlAltDel();
            case "FlushMetrics" -> flushMetrics();
            default -> throw ApiException.badRequest("field `action_type`: unknown action " + a.actionType());
        }
    }

    public synchronized void instanceStart() throws ApiException {
        preBoot("InstanceStart");
        requireMmdsTools(config);
        List<String> argv = QemuMapping.argv(config, env.host().get());
        log.info("Starting QEMU: " + String.join(" ", argv));
        try {
            machine = env.launcher().launch(argv);
        } catch (VmmException e) {
            throw new ApiException(400, "Cannot start microvm: " + e.getMessage());
        }
        state = State.RUNNING;
        watch(machine);
        if (config.balloon() != null) {
            try {
                applyBalloon(config.balloon().amountMib());
                if (config.balloon().statsPollingIntervalS() != null && config.balloon().statsPollingIntervalS() > 0) {
                    statsInterval(config.balloon().statsPollingIntervalS());
                }
            } catch (ApiException e) {
                log.warn("balloon: " + e.getMessage());
            }
        }
        log.info("Running " + id + ": QEMU pid " + machine.pid());
    }

    /** MMDS hands the guest's connections to socat (QemuMapping#mmds). */
    private static void requireMmdsTools(VmConfig c) throws ApiException {
        if (c.mmdsConfig() == null || c.mmdsConfig().networkInterfaces().isEmpty()) return;
        if (Files.isExecutable(Path.of(dev.vessel.linux.Tools.find("socat")))) return;
        throw ApiException.badRequest("Cannot start microvm: MMDS needs socat on the host (apt-get install socat)");
    }

    private void watch(Machine m) {
        m.exit().thenAccept(status -> {
            synchronized (this) {
                log.info("QEMU exited with status " + status);
                metrics.flushQuietly(this);
            }
            exited.complete(status);
        });
    }

    /**
     * Ctrl+Alt+Del on the guest's i8042 keyboard (the controller QemuMapping adds), as Firecracker
     * does: the guest kernel hands it to init (SIGINT), which reboots, and -no-reboot ends QEMU.
     */
    public synchronized void sendCtrlAltDel() throws ApiException {
        if (owner != null) throw readOnly("SendCtrlAltDel");
        postBoot("SendCtrlAltDel");
        qmp("send-key", Map.of("keys", List.of(
                Map.of("type", "qcode", "data", "ctrl"), Map.of("type", "qcode", "data", "alt"),
                Map.of("type", "qcode", "data", "delete"))));
    }

    public synchronized void flushMetrics() throws ApiException {
        if (!metrics.configured()) throw ApiException.badRequest("FlushMetrics: the metrics system is not initialized (PUT /metrics first)");
        try {
            metrics.flush(this);
        } catch (IOException e) {
            throw ApiException.badRequest("FlushMetrics: " + e.getMessage());
        }
    }

    public synchronized void patchVm(Model.Vm vm) throws ApiException {
        postBoot("PATCH /vm");
        syncState();
        if (vm.state().equals("Paused")) {
            qmp("stop", null);
            state = State.PAUSED;
        } else {
            qmp("cont", null);
            state = State.RUNNING;
        }
    }

    // ------------------------------------------------------------------ post-boot updates

    /**
     * A new backing file for a running drive: a new file node, then the drive's raw node re-opened
     * onto it (blockdev-reopen: virtio-blk has no medium to change), then the old node deleted, then
     * block_resize to the new file's size so the guest is told the capacity (as Firecracker does).
     */
    public synchronized void patchDrive(String pathId, Model.PartialDrive p) throws ApiException {
        if (owner != null) throw readOnly("PATCH /drives/" + pathId);
        postBoot("PATCH /drives/" + pathId);
        if (!pathId.equals(p.driveId())) {
            throw ApiException.badRequest("The id from the path does not match the id from the body! (`drive_id` is `"
                    + p.driveId() + "`, the path says `" + pathId + "`)");
        }
        Model.Drive d = config.drive(pathId);
        if (d == null) throw ApiException.badRequest("field `drive_id`: no drive with id `" + pathId + "`");
        String node = QemuMapping.nodeName(config.guestDriveOrder().indexOf(d));
        if (p.rateLimiter() != null) {
            if (d.rateLimiter() == null || !d.rateLimiter().limits()) {
                throw ApiException.badRequest("field `rate_limiter`: Vessel changes a drive's rate limiter after boot"
                        + " only when it had one at boot");
            }
            Map<String, Object> limits = new LinkedHashMap<>();
            for (String t : QemuMapping.throttle(p.rateLimiter())) {
                String[] kv = t.split("=", 2);
                limits.put(kv[0].substring(2), Long.parseLong(kv[1]));
            }
            qmp("qom-set", Map.of("path", "/objects/tg-" + node, "property", "limits", "value", limits));
        }
        if (p.pathOnHost() != null) {
            readable(p.pathOnHost(), "path_on_host");
            String oldFile = fileNode(node);
            String newFile = "file-" + node + "-" + System.nanoTime() % 100000;
            Map<String, Object> add = new LinkedHashMap<>(Map.of("driver", "file", "node-name", newFile,
                    "filename", p.pathOnHost()));
            if (d.readOnly()) add.put("read-only", true);
            qmp("blockdev-add", add);
            Map<String, Object> reopen = new LinkedHashMap<>(Map.of("driver", "raw", "node-name", node, "file", newFile));
            if (d.readOnly()) reopen.put("read-only", true);
            try {
                qmp("blockdev-reopen", Map.of("options", List.of(reopen)));
            } catch (ApiException e) {
                try {
                    qmp("blockdev-del", Map.of("node-name", newFile));
                } catch (ApiException ignored) {
                    // the first error is the one to report
                }
                throw e;
            }
            qmp("blockdev-del", Map.of("node-name", oldFile));
            fileNodes.put(node, newFile);
            try {
                qmp("block_resize", Map.of("node-name", node, "size", Files.size(Path.of(p.pathOnHost()))));
            } catch (IOException | ApiException e) {
                log.warn("drive " + pathId + ": the guest may not see the new size: " + e.getMessage());
            }
            config.putDrive(pathId, new Model.Drive(d.driveId(), d.partuuid(), d.isRootDevice(), d.cacheType(),
                    d.isReadOnly(), p.pathOnHost(), p.rateLimiter() != null ? p.rateLimiter() : d.rateLimiter(),
                    d.ioEngine(), d.socket()));
        }
    }

    /** The file node under a drive's raw node (it changes with every PATCH). */
    private String fileNode(String node) {
        return fileNodes.getOrDefault(node, "file-" + node);
    }

    public synchronized void patchNetworkInterface(String pathId, Model.PartialNetworkInterface p) throws ApiException {
        postBoot("PATCH /network-interfaces/" + pathId);
        if (!pathId.equals(p.ifaceId())) {
            throw ApiException.badRequest("The id from the path does not match the id from the body! (`iface_id` is `"
                    + p.ifaceId() + "`, the path says `" + pathId + "`)");
        }
        if (config.networkInterface(pathId) == null) {
            throw ApiException.badRequest("field `iface_id`: no network interface with id `" + pathId + "`");
        }
        noNetRateLimit(p.rxRateLimiter(), "rx_rate_limiter");
        noNetRateLimit(p.txRateLimiter(), "tx_rate_limiter");
    }

    // ------------------------------------------------------------------ balloon

    public synchronized Model.Balloon balloon() throws ApiException {
        if (config.balloon() == null) throw ApiException.badRequest("The balloon device is not configured (PUT /balloon).");
        return config.balloon();
    }

    public synchronized void patchBalloon(Model.BalloonUpdate u) throws ApiException {
        Model.Balloon b = balloon();
        if (u.amountMib() > config.machine().memSizeMib()) {
            throw ApiException.badRequest("field `amount_mib`: the balloon (" + u.amountMib()
                    + " MiB) cannot be larger than the guest's memory (" + config.machine().memSizeMib() + " MiB)");
        }
        if (state != State.NOT_STARTED) applyBalloon(u.amountMib());
        config.balloon(new Model.Balloon(u.amountMib(), b.deflateOnOom(), b.statsPollingIntervalS(), b.freePageHinting(),
                b.freePageReporting()));
    }

    public synchronized void patchBalloonStats(Model.BalloonStatsUpdate u) throws ApiException {
        Model.Balloon b = balloon();
        long before = b.statsPollingIntervalS() == null ? 0 : b.statsPollingIntervalS();
        if ((before == 0) != (u.statsPollingIntervalS() == 0) && state != State.NOT_STARTED) {
            throw ApiException.badRequest("field `stats_polling_interval_s`: statistics cannot be turned on or off after boot");
        }
        if (state != State.NOT_STARTED) statsInterval(u.statsPollingIntervalS());
        config.balloon(new Model.Balloon(b.amountMib(), b.deflateOnOom(), u.statsPollingIntervalS(), b.freePageHinting(),
                b.freePageReporting()));
    }

    /** GET /balloon/statistics: QEMU's guest-stats, in Firecracker's names. */
    public synchronized Map<String, Object> balloonStats() throws ApiException {
        Model.Balloon b = balloon();
        if (b.statsPollingIntervalS() == null || b.statsPollingIntervalS() == 0) {
            throw ApiException.badRequest("Statistics for the balloon device are not enabled (stats_polling_interval_s is 0).");
        }
        postBoot("GET /balloon/statistics");
        long actualBytes = config.machine().memSizeMib() * 1048576L - qmp("query-balloon", null).path("actual").asLong();
        long targetMib = b.amountMib();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("target_pages", targetMib * 256);
        out.put("actual_pages", actualBytes / 4096);
        out.put("target_mib", targetMib);
        out.put("actual_mib", actualBytes / 1048576);
        JsonNode stats = qmp("qom-get", Map.of("path", "/machine/peripheral/" + QemuMapping.BALLOON_ID,
                "property", "guest-stats")).path("stats");
        String[][] names = {{"stat-swap-in", "swap_in"}, {"stat-swap-out", "swap_out"},
                {"stat-major-faults", "major_faults"}, {"stat-minor-faults", "minor_faults"},
                {"stat-free-memory", "free_memory"}, {"stat-total-memory", "total_memory"},
                {"stat-available-memory", "available_memory"}, {"stat-disk-caches", "disk_caches"},
                {"stat-htlb-pgalloc", "hugetlb_allocations"}, {"stat-htlb-pgfail", "hugetlb_failures"}};
        for (String[] n : names) {
            long v = stats.path(n[0]).asLong(-1);
            if (v >= 0) out.put(n[1], v);
        }
        return out;
    }

    private void applyBalloon(long amountMib) throws ApiException {
        long value = (config.machine().memSizeMib() - amountMib) * 1048576L;
        qmp("balloon", Map.of("value", Math.max(value, 1048576L)));
    }

    private void statsInterval(long seconds) throws ApiException {
        qmp("qom-set", Map.of("path", "/machine/peripheral/" + QemuMapping.BALLOON_ID,
                "property", "guest-stats-polling-interval", "value", seconds));
    }

    // ------------------------------------------------------------------ snapshots

    /**
     * PUT /snapshot/create (paused VM): the guest's memory and device state go to mem_file_path
     * as a QEMU migration stream, and the VM's configuration to snapshot_path as JSON.
     */
    public synchronized void createSnapshot(Model.SnapshotCreateParams s) throws ApiException {
        postBoot("PUT /snapshot/create");
        syncState();
        if (state != State.PAUSED) throw ApiException.badRequest("Snapshot creation needs a paused microVM (PATCH /vm {\"state\":\"Paused\"}).");
        Path mem = Path.of(s.memFilePath()).toAbsolutePath();
        Path state = Path.of(s.snapshotPath()).toAbsolutePath();
        writableParent(mem, "mem_file_path");
        writableParent(state, "snapshot_path");
        qmp("migrate-set-capabilities", Map.of("capabilities", List.of(Map.of("capability", "events", "state", false))));
        try {
            qmp("migrate", Map.of("uri", "exec:cat > " + shellQuote(mem.toString())));
        } catch (ApiException e) {
            if (owner == null) throw e;
            // e.g. QEMU refuses to migrate while the container's 9p root filesystem is mounted
            throw new ApiException(400, "Cannot create the snapshot: " + e.getMessage());
        }
        long deadline = System.nanoTime() + 600_000_000_000L;
        while (true) {
            JsonNode m = qmp("query-migrate", null);
            String status = m.path("status").asText();
            if (status.equals("completed")) break;
            if (status.equals("failed") || status.equals("cancelled")) {
                throw new ApiException(400, "Cannot create the snapshot: " + m.path("error-desc").asText(status));
            }
            if (System.nanoTime() > deadline) throw new ApiException(400, "Cannot create the snapshot: timed out");
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ApiException(500, "interrupted");
            }
        }
        Snapshot.write(state, config, mmds);
        log.info("Snapshot created: " + state + ", memory " + mem);
    }

    /** PUT /snapshot/load, on a fresh microVM: QEMU starts from the state file's configuration and takes the memory file in. */
    public synchronized void loadSnapshot(Model.SnapshotLoadParams s) throws ApiException {
        preBoot("PUT /snapshot/load");
        if (configured) {
            throw ApiException.badRequest("Loading a microVM snapshot not allowed after configuring boot-specific resources.");
        }
        Path mem = Path.of(s.memoryFile()).toAbsolutePath();
        readable(mem.toString(), s.memFilePath() != null ? "mem_file_path" : "mem_backend.backend_path");
        VmConfig restored = Snapshot.read(Path.of(s.snapshotPath()), mmds);
        if (s.networkOverrides() != null) {
            for (Model.NetworkOverride o : s.networkOverrides()) {
                Model.NetworkInterface n = restored.networkInterface(o.ifaceId());
                if (n == null) throw ApiException.badRequest("field `network_overrides`: no interface `" + o.ifaceId() + "` in the snapshot");
                restored.putNetworkInterface(o.ifaceId(), new Model.NetworkInterface(n.ifaceId(), n.guestMac(),
                        o.hostDevName(), n.mtu(), n.rxRateLimiter(), n.txRateLimiter()));
            }
        }
        if (config.logger() != null) restored.logger(config.logger());
        if (config.metrics() != null) restored.metrics(config.metrics());
        requireMmdsTools(restored);
        List<String> argv = new java.util.ArrayList<>(QemuMapping.argv(restored, env.host().get()));
        argv.addAll(List.of("-S", "-incoming", "defer"));
        log.info("Restoring with QEMU: " + String.join(" ", argv));
        Machine m;
        try {
            m = env.launcher().launch(argv);
        } catch (VmmException e) {
            throw new ApiException(400, "Cannot load the snapshot: " + e.getMessage());
        }
        try {
            m.qmp("migrate-incoming", Map.of("uri", "exec:cat " + shellQuote(mem.toString())));
            long deadline = System.nanoTime() + 600_000_000_000L;
            while (true) {
                JsonNode st = m.qmp("query-status", null);
                String status = st.path("status").asText();
                if (!status.equals("inmigrate")) {
                    JsonNode mig = m.qmp("query-migrate", null);
                    if (mig.path("status").asText().equals("failed")) {
                        throw new VmmException(mig.path("error-desc").asText("the migration stream was refused"));
                    }
                    if (status.equals("paused") || status.equals("prelaunch") || status.equals("running")) break;
                }
                if (m.exit().isDone()) throw new VmmException("QEMU exited while loading the memory file");
                if (System.nanoTime() > deadline) throw new VmmException("timed out");
                Thread.sleep(20);
            }
        } catch (VmmException e) {
            m.kill();
            throw new ApiException(400, "Cannot load the snapshot: " + e.getMessage());
        } catch (InterruptedException e) {
            m.kill();
            Thread.currentThread().interrupt();
            throw new ApiException(500, "interrupted");
        }
        config = restored;
        machine = m;
        state = State.PAUSED;
        watch(m);
        if (Boolean.TRUE.equals(s.resumeVm())) {
            qmp("cont", null);
            state = State.RUNNING;
        }
        log.info("Snapshot loaded from " + s.snapshotPath() + "; QEMU pid " + m.pid());
    }

    private static void writableParent(Path p, String field) throws ApiException {
        Path parent = p.getParent();
        if (parent == null || !Files.isDirectory(parent) || !Files.isWritable(parent)) {
            throw ApiException.badRequest("field `" + field + "`: cannot write " + p + " (its directory does not exist or is not writable)");
        }
        if (Files.isDirectory(p)) throw ApiException.badRequest("field `" + field + "`: " + p + " is a directory");
    }

    static String shellQuote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

    // ------------------------------------------------------------------ plumbing

    private JsonNode qmp(String command, Map<String, ?> args) throws ApiException {
        if (machine == null) throw ApiException.badRequest("The microVM is not running.");
        try {
            return machine.qmp(command, args);
        } catch (VmmException e) {
            throw new ApiException(400, e.getMessage());
        }
    }

    /** Ends QEMU (we are exiting); never a managed VM's, which is its owner's to end. */
    public synchronized void kill() {
        if (machine != null && owner == null) machine.kill();
    }

    /** For metrics: a JSON object of what this VM is. */
    synchronized void describe(ObjectNode node) {
        syncState();
        node.put("state", state.api);
        node.put("qemu_pid", qemuPid());
    }
}
