package dev.vessel.runtime.vm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vessel.linux.CgroupDir;
import dev.vessel.linux.Command;
import dev.vessel.linux.Log;
import dev.vessel.oci.OciException;
import dev.vessel.vmm.Accelerator;
import dev.vessel.vmm.LiveState;
import dev.vessel.vmm.Q35Command;
import dev.vessel.vmm.Qmp;
import dev.vessel.vmm.VmmException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * Full VMs (isolation {@code vm}): KubeVirt's VirtualMachine, one QEMU (q35) per VM, supervised
 * by vesseld over QMP, no libvirtd.
 *
 * <p>Each VM is a directory {@code <vms>/<name>/}: {@code vm.yaml} (the manifest as applied, with
 * runStrategy changed by start/stop as KubeVirt changes it), {@code state.json} ({@link VmState}),
 * and while it runs QEMU's sockets ({@code qmp.sock}, {@code serial.sock}), {@code console.log},
 * {@code qemu.pid} and the disks made for the run (qcow2 overlays of containerDisk and ephemeral
 * volumes, emptyDisks, the cloud-init seed ISO): those go when the run ends, as a
 * VirtualMachineInstance's do. Files are written atomically (a temporary file renamed).
 *
 * <p>QEMU is started with {@code -daemonize} (a session of its own, not our child) inside the VM's
 * cgroup {@code vessel/vm-<name>}: a kill -9 of vesseld leaves it running, and the next daemon
 * finds it by its pid (checked against its command line) and carries on over QMP. One thread
 * reconciles every VM twice a second: it starts what should run (after the crash-loop back-off),
 * tells a guest poweroff (QEMU in status {@code shutdown}, thanks to {@code -no-shutdown}) from a
 * crash (QEMU gone, or {@code guest-panicked}), applies runStrategy, and forces a stop whose grace
 * period is over.
 */
public final class VmDriver implements AutoCloseable {
    public static final String MANIFEST = "vm.yaml";
    public static final String STATE = "state.json";
    /** The run's snapshots (a list of {@link VmStatus.Snapshot}): "run-" as the overlays holding them, so it goes with them. */
    public static final String SNAPSHOTS = DiskSources.RUN_PREFIX + "snapshots.json";
    /** A stopped VM's snapshots: a directory each ({@code snapshot.json} and the copies of its persistent disks). */
    public static final String STORED_SNAPSHOTS = "snapshots";
    /** Marks a migration target's run until its QEMU has run the guest: a QEMU that ends before that is dropped, not restarted. */
    static final String INCOMING = DiskSources.RUN_PREFIX + "incoming";
    /** The socket a migration target's QEMU listens on ({@code migrate-incoming}). */
    public static final String MIGRATE_SOCKET = "migrate.sock";
    /**
     * The run's migration away ({@link VmStatus.MigrationState}), written before the target is asked to
     * prepare. Not "run-": the target links the run's files, and this one is the source's alone.
     */
    public static final String MIGRATION = "migration.json";
    /**
     * How long a migration target waits for the source's first byte before it drops its VM, unless the
     * source says otherwise: KubeVirt's progressTimeout. A live source would have cancelled a migration
     * that made no progress for that long; a target that got nothing in it has no source left.
     */
    public static final Duration INCOMING_WAIT = LiveState.PROGRESS_TIMEOUT;
    /** The failure reason of a migration cut short by the source daemon's end, as a retried call recognises it. */
    static final String INTERRUPTED = "vesseld restarted before QEMU was told to migrate";
    /** What a VM's QEMU and Vessel's processes serving it cost besides guest RAM, as a request (issue 14's bound). */
    static final long OVERHEAD_MIB = 64;
    /** KubeVirt's cpuAllocationRatio: a vCPU requests a tenth of a host CPU (100m). */
    static final int CPU_ALLOCATION_RATIO = 10;
    static final Duration SNAPSHOT_TIMEOUT = Duration.ofMinutes(5);
    /** The metadata annotation that maps masquerade ports to other host ports: "GUEST:HOST,…" (default: the same number). */
    public static final String HOST_PORTS = "vessel.dev/host-ports";
    /** The metadata annotation naming the host address forwarded ports bind to (default {@value #DEFAULT_HOST_ADDRESS}). */
    public static final String HOST_ADDRESS = "vessel.dev/host-address";
    public static final String DEFAULT_HOST_ADDRESS = "127.0.0.1";
    /** KubeVirt's masquerade addresses: the guest 10.0.2.2 behind the gateway 10.0.2.1. */
    public static final String MASQUERADE_NET = "10.0.2.0/24";
    public static final String MASQUERADE_GATEWAY = "10.0.2.1";
    public static final String MASQUERADE_GUEST = "10.0.2.2";
    static final Duration CRASH_LOOP_WINDOW = Duration.ofSeconds(60);
    static final Duration MAX_BACKOFF = Duration.ofMinutes(5);
    /** Where Debian's ovmf puts the UEFI firmware, by preference. */
    public static final List<Path> OVMF = List.of(Path.of("/usr/share/OVMF/OVMF_CODE.fd"), Path.of("/usr/share/OVMF/OVMF_CODE_4M.fd"));
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path root;
    private final String qemu;
    private final Supplier<Accelerator.Kind> accelerator;
    private final Map<String, ReentrantLock> locks = new ConcurrentHashMap<>();
    /** QEMU's run status as last seen (running, paused, …), by VM. */
    private final Map<String, String> qemuStatus = new ConcurrentHashMap<>();
    private final Map<String, Boolean> deleting = new ConcurrentHashMap<>();
    /** VMs this daemon is migrating away (printableStatus Migrating meanwhile). */
    private final java.util.Set<String> migrating = ConcurrentHashMap.newKeySet();
    /** VMs whose stored manifest this build refuses (logged once, left alone). */
    private final java.util.Set<String> invalid = ConcurrentHashMap.newKeySet();
    private volatile Thread reconciler;
    private volatile boolean closed;
    private volatile Events events = (type, name, status, reason) -> { };
    /** Why a VM that should run does not fit on the host (the scheduler's message), by VM; re-checked at each start. */
    private final Map<String, String> unschedulable = new ConcurrentHashMap<>();
    /** The migration target at a socket a migration record names (the daemon's management API client). */
    private volatile java.util.function.Function<String, MigrationTarget> targets = socket -> {
        throw new OciException("no migration client here to reach " + socket);
    };

    public VmDriver(Path root, String qemu, Supplier<Accelerator.Kind> accelerator) {
        this.root = root;
        this.qemu = qemu;
        this.accelerator = accelerator;
    }

    public Path root() {
        return root;
    }

    /**
     * A VM's life as events, for the management API's stream: {@code type} create, start, pause,
     * resume, exit (the run ended: {@code reason} Stopped, PoweredOff or HostRestarted), crash (QEMU
     * died or the guest panicked), delete, migrate (to {@code reason}); {@code status} the VM's
     * printableStatus after it. Called by the thread that made the change; it must not block.
     */
    public interface Events {
        void event(String type, String name, String status, String reason);
    }

    public void events(Events sink) {
        this.events = sink;
    }

    /** How this driver reaches the target a migration record names, for a daemon that finds one left by its predecessor. */
    public void migrationTargets(java.util.function.Function<String, MigrationTarget> byDescription) {
        this.targets = byDescription;
    }

    private void emit(String type, String name, String status, String reason) {
        try {
            events.event(type, name, status, reason);
        } catch (RuntimeException e) {
            Log.info("vm " + name + ": event " + type + ": " + e.getMessage());
        }
    }

    /** Starts reconciling (the daemon's start): re-adopts running QEMUs, starts what runStrategy says. */
    public synchronized void start() {
        if (reconciler != null) return;
        reconciler = Thread.ofPlatform().daemon().name("vm-reconciler").start(() -> {
            while (!closed) {
                for (String name : names()) {
                    try {
                        reconcile(name);
                    } catch (RuntimeException e) {
                        Log.info("vm " + name + ": " + e.getMessage());
                    }
                }
                try {
                    Thread.sleep(500);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
    }

    @Override
    public void close() {
        closed = true;
        Thread t = reconciler;
        if (t != null) t.interrupt();
    }

    // ---- the verbs ----

    /**
     * {@code apply}: a new VM is made (and started if runStrategy says so; a start that fails
     * leaves nothing); an existing one gets the new manifest, runStrategy at once, the rest at its
     * next start (the RestartRequired condition lists what changed). {@code create}: a name taken is refused.
     * Returns kubectl's line ("virtualmachine.kubevirt.io/NAME created").
     */
    public String apply(byte[] text, String source, boolean create) {
        VirtualMachine vm = Manifests.read(text, source);
        VmPlan plan = Manifests.plan(vm, source);
        checkHost(plan, source);
        String name = plan.name();
        try (var held = lock(name)) {
            Path dir = dir(name);
            if (Files.exists(dir.resolve(STATE))) {
                if (create) throw new OciException("vm \"" + name + "\" already exists (vessel vm apply changes it)");
                return update(name, vm, plan);
            }
            boolean desired = switch (plan.runStrategy()) {
                case Always, RerunOnFailure, Once -> true;
                case Manual, Halted -> false;
            };
            String pending = null;
            try {
                Files.createDirectories(dir);
                writeAtomically(dir.resolve(MANIFEST), Manifests.YAML.writeValueAsBytes(withoutStatus(vm)));
                VmState state = VmState.fresh(UUID.randomUUID().toString(), Instant.now().toString(), desired);
                if (desired) {
                    try {
                        state = launch(name, plan, state, false, false);
                    } catch (Unschedulable u) {
                        pending = u.reason; // accepted, as KubeVirt accepts it: it waits for room (the reconciler tries again)
                    }
                }
                save(name, state);
            } catch (IOException | RuntimeException e) {
                deleteTree(dir);
                unschedulable.remove(name);
                throw e instanceof IOException io ? new OciException("vm " + name + ": " + io.getMessage()) : (RuntimeException) e;
            }
            emit("create", name, pending != null ? "ErrorUnschedulable" : desired ? "Starting" : "Stopped", pending);
            if (desired && pending == null) emit("start", name, "Running", null);
            return "virtualmachine.kubevirt.io/" + name + " created" + (pending == null ? "" : " (ErrorUnschedulable: " + pending + ")");
        }
    }

    private String update(String name, VirtualMachine vm, VmPlan plan) {
        VirtualMachine old = manifest(name);
        VmState state = state(name);
        List<String> changed = new ArrayList<>();
        JsonNode before = JSON.valueToTree(old.spec().template());
        JsonNode after = JSON.valueToTree(vm.spec().template());
        diff("spec.template", before, after, changed);
        boolean strategyChanged = !Manifests.plan(old, MANIFEST).runStrategy().equals(plan.runStrategy());
        writeAtomically(dir(name).resolve(MANIFEST), yaml(withoutStatus(vm)));
        if (strategyChanged) {
            state = state.withDesired(switch (plan.runStrategy()) {
                case Always, RerunOnFailure -> true;
                case Halted -> false;
                case Manual, Once -> state.desired();
            });
            if (!state.desired() && state.pid() != 0 && !state.stopping()) state = requestStop(name, state, plan.gracePeriodSeconds(), false);
        }
        List<String> pending = new ArrayList<>();
        if (state.pid() != 0) {
            pending.addAll(state.restartRequired());
            for (String c : changed) if (!pending.contains(c)) pending.add(c);
            state = state.withRestartRequired(pending);
        }
        save(name, state);
        if (changed.isEmpty() && !strategyChanged) return "virtualmachine.kubevirt.io/" + name + " unchanged";
        String line = "virtualmachine.kubevirt.io/" + name + " configured";
        if (!pending.isEmpty()) line += " (restart required: " + String.join(", ", pending) + " changed; vessel vm restart " + name + ")";
        return line;
    }

    /** {@code start}: as virtctl, a Halted VM becomes Always; others just run. */
    public void startVm(String name) {
        try (var held = lock(name)) {
            VmState state = requireState(name);
            VirtualMachine vm = manifest(name);
            VmPlan plan = Manifests.plan(vm, MANIFEST);
            if (state.pid() != 0 && !state.stopping()) throw new OciException("vm \"" + name + "\" is already running");
            if (plan.runStrategy() == VmPlan.RunStrategy.Halted) setStrategy(name, vm, VmPlan.RunStrategy.Always);
            if (state.pid() != 0) { // stopping: start again once it is down
                save(name, state.stoppingUntil(state.stopDeadline(), true).withDesired(true));
                return;
            }
            checkHost(plan, name);
            state = state.withDesired(true).withFailures(0, 0);
            try {
                state = launch(name, plan, state);
            } catch (Unschedulable u) {
                // as virtctl start: scheduled, and it stays ErrorUnschedulable until it fits
            }
            save(name, state);
        }
    }

    /** {@code stop}: ACPI power button, forced after {@code graceSeconds} (null: the manifest's). As virtctl, Always/RerunOnFailure become Halted. */
    public void stopVm(String name, Long graceSeconds) {
        try (var held = lock(name)) {
            VmState state = requireState(name);
            VirtualMachine vm = manifest(name);
            VmPlan plan = Manifests.plan(vm, MANIFEST);
            if (state.pid() == 0 && !state.desired()) throw new OciException("vm \"" + name + "\" is not running");
            if (plan.runStrategy() == VmPlan.RunStrategy.Always || plan.runStrategy() == VmPlan.RunStrategy.RerunOnFailure) {
                setStrategy(name, vm, VmPlan.RunStrategy.Halted);
            }
            state = state.withDesired(false).withFailures(0, 0);
            if (state.pid() != 0) state = requestStop(name, state, graceSeconds == null ? plan.gracePeriodSeconds() : graceSeconds, false);
            save(name, state);
        }
        reconcile(name);
    }

    /** {@code restart}: a stop (ACPI, forced after the grace period), then a start with the manifest as it is now. */
    public void restartVm(String name, Long graceSeconds) {
        try (var held = lock(name)) {
            VmState state = requireState(name);
            if (state.pid() == 0) throw new OciException("vm \"" + name + "\" is not running (vessel vm start " + name + ")");
            VmPlan plan = Manifests.plan(manifest(name), MANIFEST);
            save(name, requestStop(name, state, graceSeconds == null ? plan.gracePeriodSeconds() : graceSeconds, true));
        }
        reconcile(name);
    }

    public void pauseVm(String name, boolean pause) {
        try (var held = lock(name)) {
            VmState state = requireState(name);
            if (state.pid() == 0) throw new OciException("vm \"" + name + "\" is not running");
            try (Qmp qmp = qmp(name)) {
                String now = qmp.status();
                if (pause && now.equals("paused")) throw new OciException("vm \"" + name + "\" is already paused");
                if (!pause && !now.equals("paused")) throw new OciException("vm \"" + name + "\" is not paused");
                qmp.execute(pause ? "stop" : "cont");
                qemuStatus.put(name, qmp.status());
                emit(pause ? "pause" : "resume", name, pause ? "Paused" : "Running", null);
            } catch (VmmException e) {
                throw new OciException("vm " + name + ": " + e.getMessage());
            }
        }
    }

    /** {@code delete}: stops it (ACPI, forced after the grace period), then removes it and its files. Waits. */
    public void deleteVm(String name, Long graceSeconds) {
        long deadline;
        try (var held = lock(name)) {
            VmState state = requireState(name);
            deleting.put(name, true);
            VmPlan plan = Manifests.plan(manifest(name), MANIFEST);
            long grace = graceSeconds == null ? plan.gracePeriodSeconds() : graceSeconds;
            state = state.withDesired(false);
            if (state.pid() != 0) state = requestStop(name, state, grace, false);
            save(name, state);
            deadline = System.currentTimeMillis() + grace * 1000 + 10_000;
        }
        try {
            while (true) {
                reconcile(name);
                try (var held = lock(name)) {
                    VmState state = requireState(name);
                    if (state.pid() == 0) {
                        cleanupRun(name, state);
                        deleteTree(dir(name));
                        qemuStatus.remove(name);
                        unschedulable.remove(name);
                        emit("delete", name, null, null);
                        return;
                    }
                    if (System.currentTimeMillis() > deadline) {
                        throw new OciException("vm " + name + ": QEMU " + state.pid() + " did not exit; not deleted");
                    }
                }
                sleep(200);
            }
        } finally {
            deleting.remove(name);
        }
    }

    /** The names of every VM, sorted. */
    public List<String> names() {
        if (!Files.isDirectory(root)) return List.of();
        try (var dirs = Files.list(root)) {
            return dirs.filter(d -> Files.exists(d.resolve(STATE))).map(d -> d.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    public boolean exists(String name) {
        return Files.exists(dir(name).resolve(STATE));
    }

    /** The manifest with KubeVirt's status, for get. */
    public VmStatus.Document get(String name) {
        VmState state = requireState(name);
        VirtualMachine vm = manifest(name);
        return new VmStatus.Document(vm.apiVersion(), vm.kind(), vm.metadata(), vm.spec(), status(name, vm, state));
    }

    /** The serial console's socket (only while the VM runs). */
    public Path consoleSocket(String name) {
        VmState state = requireState(name);
        if (state.pid() == 0) throw new OciException("vm \"" + name + "\" is not running (vessel vm start " + name + ")");
        return dir(name).resolve(Q35Command.SERIAL_SOCKET);
    }

    /**
     * A QMP connection to the VM's QEMU, for what works on a running VM beyond these verbs
     * (snapshots, migration). QEMU serves one QMP client at a time: close it soon; the reconciler
     * waits meanwhile. Callers hold {@link #lock} for the VM.
     */
    public Qmp qmp(String name) throws VmmException {
        return Qmp.connect(dir(name).resolve(Q35Command.QMP_SOCKET), Duration.ofSeconds(5));
    }

    /** The VM's lock: held by every verb and by the reconciler while it looks at the VM. */
    public Held lock(String name) {
        ReentrantLock lock = locks.computeIfAbsent(name, n -> new ReentrantLock());
        lock.lock();
        return lock::unlock;
    }

    /** A held lock, released by close. */
    public interface Held extends AutoCloseable {
        @Override
        void close();
    }

    /** The state directory of VM {@code name}. */
    public Path dir(String name) {
        if (!name.matches("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")) throw new OciException("no vm named \"" + name + "\"");
        return root.resolve(name);
    }

    // ---- snapshots and live migration (issue 14, item 5) ----

    /**
     * {@code snapshot} of a running VM: its memory and qcow2 disks (its overlays and emptyDisks) as
     * internal snapshot {@code snapshot} ({@code snapshot-save}); the VM runs on. A raw hostDisk cannot
     * hold an internal snapshot and is not part of it: a restore leaves its content as it is. Such
     * snapshots live in the run's overlays, so they end with the run.
     *
     * <p>Of a stopped VM: what outlives a run, as KubeVirt's snapshot of a stopped VM takes its
     * persistent volumes: each hostDisk (and the UEFI variable store) copied, sparse, into {@code
     * snapshots/SNAPSHOT/}, kept until deleted. containerDisk, ephemeral and emptyDisk volumes start
     * afresh at every run and are not part of it.
     */
    public void snapshotVm(String name, String snapshot) {
        checkSnapshotName(snapshot);
        try (var held = lock(name)) {
            VmState state = requireState(name);
            if (snapshots(name).stream().anyMatch(s -> s.name().equals(snapshot))) {
                throw new OciException("vm " + name + ": snapshot \"" + snapshot + "\" already exists");
            }
            if (state.pid() != 0 && state.stopping()) {
                throw new OciException("vm \"" + name + "\" is stopping: snapshot it when it is running or stopped");
            }
            VmPlan plan = Manifests.plan(manifest(name), MANIFEST);
            if (state.pid() == 0) {
                storedSnapshot(name, plan, snapshot);
                return;
            }
            List<String> devices = snapshotDevices(plan);
            if (devices.isEmpty()) throw new OciException("vm " + name + ": no qcow2 disk to hold a snapshot (raw hostDisks cannot)");
            try (Qmp qmp = qmp(name)) {
                LiveState.save(qmp, snapshot, devices.getFirst(), devices, SNAPSHOT_TIMEOUT);
            } catch (VmmException e) {
                throw new OciException("vm " + name + ": snapshot " + snapshot + ": " + e.getMessage());
            }
            List<VmStatus.Snapshot> run = new ArrayList<>(runSnapshots(name));
            run.add(new VmStatus.Snapshot(snapshot, Instant.now().toString(), devices, state.startedAt(), true, null));
            writeAtomically(dir(name).resolve(SNAPSHOTS), json(run));
        }
    }

    /** A stopped VM's snapshot: its hostDisks' files and UEFI variables copied into {@code snapshots/SNAPSHOT/}. */
    private void storedSnapshot(String name, VmPlan plan, String snapshot) {
        Map<String, String> hostDisks = new java.util.LinkedHashMap<>();
        for (VmPlan.PlannedDisk d : plan.disks()) {
            if (d.source() instanceof VmPlan.HostDiskSource h && Files.isRegularFile(Path.of(h.path()))) hostDisks.put(d.name(), h.path());
        }
        Path vars = dir(name).resolve("OVMF_VARS.fd");
        if (hostDisks.isEmpty() && !Files.exists(vars)) {
            throw new OciException("vm " + name + ": nothing persistent to snapshot while it is stopped (no hostDisk; containerDisk,"
                    + " ephemeral and emptyDisk volumes start afresh at every run); a running VM's snapshot holds its memory and qcow2 disks");
        }
        Path all = dir(name).resolve(STORED_SNAPSHOTS);
        Path work = all.resolve("." + snapshot + ".tmp");
        try {
            Files.createDirectories(all);
            deleteTree(work);
            Files.createDirectories(work);
            for (var e : hostDisks.entrySet()) copySparse(Path.of(e.getValue()), work.resolve(e.getKey() + ".raw"));
            if (Files.exists(vars)) copySparse(vars, work.resolve("OVMF_VARS.fd"));
            VmStatus.Snapshot s = new VmStatus.Snapshot(snapshot, Instant.now().toString(), List.copyOf(hostDisks.keySet()), null,
                    false, hostDisks);
            writeAtomically(work.resolve("snapshot.json"), json(s));
            Files.move(work, all.resolve(snapshot), StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            deleteTree(work);
            throw new OciException("vm " + name + ": snapshot " + snapshot + ": " + (e.getMessage() == null ? e : e.getMessage()));
        }
    }

    /** {@code cp --sparse=always}, into a temporary file renamed at the end: a copy cut short leaves the old file. */
    private static void copySparse(Path from, Path to) throws IOException {
        Path tmp = to.resolveSibling("." + to.getFileName() + ".copy");
        Command.Result r = Command.run(List.of("cp", "--sparse=always", "--reflink=auto", from.toString(), tmp.toString()), "",
                Duration.ofMinutes(30));
        if (r.status() != 0) {
            Files.deleteIfExists(tmp);
            throw new OciException("cp " + from + ": " + r.firstLine());
        }
        Files.move(tmp, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /**
     * {@code restore}: a running VM's snapshot puts memory and qcow2 disks back ({@code snapshot-load})
     * and the VM runs on from there; a stopped VM's snapshot puts its hostDisks' files (and UEFI
     * variables) back while the VM is stopped.
     */
    public void restoreVm(String name, String snapshot) {
        try (var held = lock(name)) {
            VmState state = requireState(name);
            VmStatus.Snapshot s = snapshots(name).stream().filter(x -> x.name().equals(snapshot)).findFirst()
                    .orElseThrow(() -> new OciException("vm " + name + ": no snapshot named \"" + snapshot + "\""));
            if (!s.ofRun()) {
                if (state.pid() != 0) {
                    throw new OciException("vm \"" + name + "\" is running: snapshot " + snapshot + " holds the disks of the stopped VM;"
                            + " restore it once the VM is stopped (vessel vm stop " + name + ")");
                }
                Path from = dir(name).resolve(STORED_SNAPSHOTS).resolve(snapshot);
                try {
                    for (var e : s.hostDisks().entrySet()) copySparse(from.resolve(e.getKey() + ".raw"), Path.of(e.getValue()));
                    if (Files.exists(from.resolve("OVMF_VARS.fd"))) copySparse(from.resolve("OVMF_VARS.fd"), dir(name).resolve("OVMF_VARS.fd"));
                } catch (IOException e) {
                    throw new OciException("vm " + name + ": restore " + snapshot + ": " + e.getMessage());
                }
                return;
            }
            requireRunning(name, "its snapshots are in the run's disks");
            try (Qmp qmp = qmp(name)) {
                LiveState.load(qmp, snapshot, s.disks().getFirst(), s.disks(), SNAPSHOT_TIMEOUT);
                qemuStatus.put(name, qmp.status());
            } catch (VmmException e) {
                throw new OciException("vm " + name + ": restore " + snapshot + ": " + e.getMessage());
            }
        }
    }

    /** {@code snapshot delete}: one snapshot removed (a running VM's from its qcow2 disks, {@code snapshot-delete}). */
    public void deleteSnapshot(String name, String snapshot) {
        try (var held = lock(name)) {
            requireState(name);
            VmStatus.Snapshot s = snapshots(name).stream().filter(x -> x.name().equals(snapshot)).findFirst()
                    .orElseThrow(() -> new OciException("vm " + name + ": no snapshot named \"" + snapshot + "\""));
            if (!s.ofRun()) {
                Path stored = dir(name).resolve(STORED_SNAPSHOTS).resolve(snapshot);
                Path gone = stored.resolveSibling("." + snapshot + ".deleted");
                try {
                    Files.move(stored, gone, StandardCopyOption.ATOMIC_MOVE); // gone from the list at once, even if removing it fails
                } catch (IOException e) {
                    throw new OciException("vm " + name + ": snapshot " + snapshot + ": " + e.getMessage());
                }
                deleteTree(gone);
                return;
            }
            requireRunning(name, "its snapshots are in the run's disks");
            try (Qmp qmp = qmp(name)) {
                LiveState.delete(qmp, snapshot, s.disks(), SNAPSHOT_TIMEOUT);
            } catch (VmmException e) {
                throw new OciException("vm " + name + ": snapshot " + snapshot + ": " + e.getMessage());
            }
            List<VmStatus.Snapshot> run = new ArrayList<>(runSnapshots(name));
            run.removeIf(x -> x.name().equals(snapshot));
            writeAtomically(dir(name).resolve(SNAPSHOTS), json(run));
        }
    }

    /** {@link #snapshots} of a VM that must exist. */
    public List<VmStatus.Snapshot> requireSnapshots(String name) {
        requireState(name);
        return snapshots(name);
    }

    /** Every snapshot, oldest first: the stopped VM's (kept) and the run's (none when it is not running). */
    public List<VmStatus.Snapshot> snapshots(String name) {
        List<VmStatus.Snapshot> all = new ArrayList<>(storedSnapshots(name));
        all.addAll(runSnapshots(name));
        all.sort(Comparator.comparing(VmStatus.Snapshot::creationTime));
        return all;
    }

    private List<VmStatus.Snapshot> runSnapshots(String name) {
        Path file = dir(name).resolve(SNAPSHOTS);
        if (!Files.exists(file)) return List.of();
        try {
            return List.of(JSON.readValue(Files.readAllBytes(file), VmStatus.Snapshot[].class));
        } catch (IOException e) {
            Log.info("vm " + name + ": " + SNAPSHOTS + ": " + e.getMessage());
            return List.of();
        }
    }

    private List<VmStatus.Snapshot> storedSnapshots(String name) {
        Path all = dir(name).resolve(STORED_SNAPSHOTS);
        if (!Files.isDirectory(all)) return List.of();
        List<VmStatus.Snapshot> found = new ArrayList<>();
        try (var dirs = Files.list(all)) {
            for (Path d : dirs.filter(d -> !d.getFileName().toString().startsWith(".")).toList()) {
                try {
                    found.add(JSON.readValue(Files.readAllBytes(d.resolve("snapshot.json")), VmStatus.Snapshot.class));
                } catch (IOException e) {
                    Log.info("vm " + name + ": snapshot " + d.getFileName() + ": " + e.getMessage());
                }
            }
        } catch (IOException e) {
            Log.info("vm " + name + ": " + all + ": " + e.getMessage());
        }
        return found;
    }

    static void checkSnapshotName(String snapshot) {
        if (snapshot == null || !snapshot.matches("[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?")) {
            throw new OciException("snapshot name \"" + snapshot + "\": lower-case letters, digits, '-' and '.' (as a Kubernetes name)");
        }
    }

    /** The block nodes a snapshot goes to: every writable qcow2 disk of the run (overlays, emptyDisks). */
    static List<String> snapshotDevices(VmPlan plan) {
        List<String> devices = new ArrayList<>();
        for (int i = 0; i < plan.disks().size(); i++) {
            VmPlan.PlannedDisk d = plan.disks().get(i);
            boolean qcow2 = d.source() instanceof VmPlan.ContainerDiskSource || d.source() instanceof VmPlan.EphemeralSource
                    || d.source() instanceof VmPlan.EmptyDiskSource;
            if (qcow2 && !d.readOnly()) devices.add("d" + i);
        }
        return devices;
    }

    private VmState requireRunning(String name, String why) {
        VmState state = requireState(name);
        if (state.pid() == 0 || state.stopping()) throw new OciException("vm \"" + name + "\" is not running (" + why + ")");
        return state;
    }

    /** A migration's target daemon, as the source's sees it (the daemon's management API on the target's socket). */
    public interface MigrationTarget {
        /** Where the target's QEMU waits for the migration ({@code unix:PATH}); it refuses with one line. */
        String prepare(String name, String uid, String created, byte[] manifest, Path sourceDir);

        /** The target's QEMU and files gone (the migration failed). */
        void abort(String name);

        String describe();
    }

    /**
     * {@code migrate}: live migration to another vesseld on this host. The target links this run's
     * files (overlays, seed ISO, snapshots) into its own directory and starts QEMU with {@code
     * -incoming defer} on them; this QEMU migrates over the target's Unix socket with KubeVirt's
     * defaults ({@link LiveState#migrate}); on success it is quit and this daemon forgets the VM
     * (its links go; the files live on under the target's names), on failure it runs on here and
     * the target is told to drop its QEMU and files. The migration is recorded ({@link #MIGRATION})
     * before the target is asked: a daemon that dies mid-way leaves it for the next, which settles it
     * ({@link #settleMigration}) rather than leave a target waiting.
     */
    public String migrateVm(String name, MigrationTarget target) {
        return migrateVm(name, target, false);
    }

    /**
     * {@code retried}: the call was sent again because the daemon it was first sent to died before
     * answering. What that daemon began is settled first (as the reconciler settles it) and told,
     * not begun again: a migration cut short fails as KubeVirt's would, and the user migrates again.
     */
    public String migrateVm(String name, MigrationTarget target, boolean retried) {
        try (var held = lock(name)) {
            if (exists(name)) reconcile(name); // settles a migration a previous daemon left half done
            if (retried && !exists(name)) {
                throw new OciException("vm \"" + name + "\" is not here: the vesseld this call was first sent to migrated it before it"
                        + " ended (vessel vm list on " + target.describe() + ")");
            }
            VmStatus.MigrationState earlier = exists(name) ? migrationState(name) : null;
            if (earlier != null && earlier.inProgress()) {
                throw new OciException("vm " + name + ": a migration to " + earlier.targetNode() + " goes on (begun by the vesseld before"
                        + " this one; vessel vm get " + name + " -o yaml shows its migrationState)");
            }
            if (retried && earlier != null && INTERRUPTED.equals(earlier.failureReason())) {
                throw new OciException("vm " + name + ": the migration to " + earlier.targetNode() + " failed: " + INTERRUPTED
                        + " (the VM runs on here; vessel vm migrate again)");
            }
            VmState state = requireRunning(name, "only a running VM migrates");
            VmPlan plan = Manifests.plan(manifest(name), MANIFEST);
            checkMigratable(plan);
            byte[] manifest;
            try {
                manifest = Files.readAllBytes(dir(name).resolve(MANIFEST));
            } catch (IOException e) {
                throw new OciException("vm " + name + ": " + e.getMessage());
            }
            // on disk before the target makes anything: a daemon that starts after this one's death finds it and settles it
            VmStatus.MigrationState record = new VmStatus.MigrationState(target.describe(), Instant.now().toString(), null, null, null, null);
            writeAtomically(dir(name).resolve(MIGRATION), json(record));
            String uri;
            try {
                uri = target.prepare(name, state.uid(), state.created(), manifest, dir(name));
            } catch (RuntimeException e) {
                writeAtomically(dir(name).resolve(MIGRATION), json(record.failedNow(e.getMessage())));
                emit("migrate-failed", name, "Running", e.getMessage());
                throw e;
            }
            LiveState.Result result;
            migrating.add(name);
            try (Qmp qmp = qmp(name)) {
                result = LiveState.migrate(qmp, uri, plan.memoryMib() << 20);
                try {
                    qmp.execute("quit");
                } catch (VmmException gone) {
                    // quit's reply may not come before QEMU exits
                }
            } catch (VmmException e) {
                migrationFailed(name, record, target, e.getMessage());
                throw new OciException("vm " + name + ": " + e.getMessage() + " (the VM runs on here)");
            } finally {
                migrating.remove(name);
            }
            waitGone(state.pid());
            cleanupRun(name, state, false);
            deleteTree(dir(name));
            qemuStatus.remove(name);
            emit("migrate", name, null, "to " + target.describe());
            Log.info("vm " + name + ": migrated to " + target.describe() + " in " + result.took().toMillis() + " ms ("
                    + result.transferredBytes() + " bytes, downtime " + result.downtimeMs() + " ms)");
            return "VM " + name + " migrated to " + target.describe() + " in " + result.took().toMillis() + " ms (downtime "
                    + result.downtimeMs() + " ms)";
        }
    }

    /** The run's migration away (its {@link #MIGRATION} record), or null. */
    public VmStatus.MigrationState migrationState(String name) {
        Path file = dir(name).resolve(MIGRATION);
        if (!Files.exists(file)) return null;
        try {
            return JSON.readValue(Files.readAllBytes(file), VmStatus.MigrationState.class);
        } catch (IOException e) {
            Log.info("vm " + name + ": " + MIGRATION + ": " + e.getMessage());
            return null;
        }
    }

    /**
     * A migration away failed ({@code why}): the target ({@code target}, or the one the record names)
     * is told to drop its waiting VM, and the record says so; the VM runs on here. Returns whether the
     * target refused because it runs the guest (the migration completed after all).
     */
    private boolean migrationFailed(String name, VmStatus.MigrationState record, MigrationTarget target, String why) {
        boolean targetRuns = false;
        try {
            (target != null ? target : targets.apply(record.targetNode())).abort(name);
        } catch (RuntimeException e) {
            targetRuns = e.getMessage() != null && e.getMessage().contains(TARGET_RUNS);
            Log.info("vm " + name + ": migration target " + record.targetNode() + ": " + e.getMessage());
        }
        if (targetRuns) return true;
        writeAtomically(dir(name).resolve(MIGRATION), json(record.failedNow(why)));
        Log.info("vm " + name + ": migration to " + record.targetNode() + " failed: " + why + "; the VM runs on here");
        emit("migrate-failed", name, "Running", why);
        return false;
    }

    /** A target's refusal to drop a VM whose QEMU has run the guest. */
    static final String TARGET_RUNS = "its migration completed";

    /**
     * A migration the record says goes on, looked at by a daemon that did not begin it (the one that
     * did holds the VM's lock throughout): QEMU carries a migration on by itself, under KubeVirt's
     * completion timeout still; one that never began (the daemon ended between the target's prepare
     * and QEMU's migrate command) or that failed is a failed migration, and the target must not wait.
     */
    private void settleMigration(String name, VmPlan plan, VmStatus.MigrationState record, Qmp qmp, String runstate)
            throws VmmException {
        JsonNode info = qmp.execute("query-migrate");
        String status = info.path("status").asText("");
        // query-migrate tells the QEMU's last migration, in or out: a VM that came here by migration says "completed"
        // while it runs, so only a QEMU no longer running the guest (finish-migrate, then postmigrate) has completed ours
        boolean earlierOne = status.equals("completed") && (runstate.equals("running") || runstate.equals("paused"));
        switch (earlierOne ? "" : status) {
            case "completed" -> { } // postmigrate at the next look: quit there
            case "", "none" -> migrationFailed(name, record, null, INTERRUPTED);
            case "failed", "cancelled" -> migrationFailed(name, record, null, "the migration " + status + " while no vesseld watched it"
                    + (info.has("error-desc") ? ": " + info.get("error-desc").asText() : ""));
            default -> { // setup, active, device, …: going on
                long gib = Math.max(1, (plan.memoryMib() + 1023) / 1024);
                Instant limit = Instant.parse(record.startTimestamp()).plus(LiveState.COMPLETION_TIMEOUT_PER_GIB.multipliedBy(gib));
                if (Instant.now().isAfter(limit)) {
                    Log.info("vm " + name + ": its migration did not complete within " + Duration.between(
                            Instant.parse(record.startTimestamp()), limit).toSeconds() + " s: cancelled");
                    qmp.execute("migrate_cancel"); // "cancelled" at a later look
                }
            }
        }
    }

    /** Same host, so what a second QEMU cannot share is refused: host ports (the source holds them) and taps (same names). */
    private static void checkMigratable(VmPlan plan) {
        for (VmPlan.PlannedNic n : plan.nics()) {
            if (n.binding() == VmPlan.Binding.BRIDGE) {
                throw new OciException("vm " + plan.name() + ": interface \"" + n.name() + "\": a bridge interface's tap cannot"
                        + " be on two QEMUs at once (no migration on one host)");
            }
            if (!n.ports().isEmpty()) {
                throw new OciException("vm " + plan.name() + ": interface \"" + n.name() + "\": forwarded host ports cannot be"
                        + " on two QEMUs at once (no migration on one host)");
            }
        }
    }

    /**
     * A migration's target: the VM made here from the source's manifest, the source run's files
     * hard-linked into its directory (one file system: the same inodes, no copy of a disk in use),
     * QEMU started on them with {@code -incoming defer} and listening. Returns the URI. On
     * failure nothing is left.
     */
    public String acceptMigration(String name, String uid, String created, byte[] manifestText, Path sourceDir) {
        return acceptMigration(name, uid, created, manifestText, sourceDir, null);
    }

    /**
     * As above; {@code wait}: how long the waiting QEMU may receive nothing before this daemon drops
     * the VM (null: {@link #INCOMING_WAIT}), so that a source gone before it sent anything leaves no
     * target waiting for ever.
     */
    public String acceptMigration(String name, String uid, String created, byte[] manifestText, Path sourceDir, Duration wait) {
        Duration waitFor = wait != null ? wait : INCOMING_WAIT;
        if (waitFor.isNegative() || waitFor.isZero()) throw new OciException("field \"waitSeconds\": a number of seconds above 0");
        VirtualMachine vm = Manifests.read(manifestText, "manifest");
        VmPlan plan = Manifests.plan(vm, "manifest");
        if (!plan.name().equals(name)) throw new OciException("manifest: metadata.name \"" + plan.name() + "\" is not \"" + name + "\"");
        checkMigratable(plan);
        checkHost(plan, "manifest");
        if (!Files.isDirectory(sourceDir)) throw new OciException("vm " + name + ": source directory " + sourceDir + " does not exist");
        // before the lock, too: a migration to the VM's own daemon holds it (the source side) and would wait for ever
        if (exists(name)) throw new OciException("vm \"" + name + "\" already exists");
        try (var held = lock(name)) {
            Path dir = dir(name);
            if (Files.exists(dir.resolve(STATE))) throw new OciException("vm \"" + name + "\" already exists");
            if (Files.exists(dir)) deleteTree(dir);
            VmState state = VmState.fresh(uid != null ? uid : UUID.randomUUID().toString(),
                    created != null ? created : Instant.now().toString(), true);
            try {
                Files.createDirectories(dir);
                try (var files = Files.list(sourceDir)) {
                    for (Path f : files.toList()) {
                        String n = f.getFileName().toString();
                        if ((n.startsWith(DiskSources.RUN_PREFIX) || n.equals("OVMF_VARS.fd")) && Files.isRegularFile(f)) {
                            Files.createLink(dir.resolve(n), f);
                        }
                    }
                }
                Path stored = sourceDir.resolve(STORED_SNAPSHOTS);
                if (Files.isDirectory(stored)) { // a stopped VM's snapshots go with it, linked as its disks are
                    try (var walk = Files.walk(stored)) {
                        for (Path f : walk.toList()) {
                            Path to = dir.resolve(sourceDir.relativize(f).toString());
                            if (Files.isDirectory(f)) Files.createDirectories(to);
                            else if (Files.isRegularFile(f)) Files.createLink(to, f);
                        }
                    }
                }
                writeAtomically(dir.resolve(MANIFEST), yaml(withoutStatus(vm)));
                writeAtomically(dir.resolve(INCOMING), json(new Incoming(sourceDir.toString(), System.currentTimeMillis(), waitFor.toSeconds())));
                state = launch(name, plan, state, true, false);
                save(name, state);
                String uri = "unix:" + dir.resolve(MIGRATE_SOCKET);
                try (Qmp qmp = qmp(name)) {
                    LiveState.acceptIncoming(qmp, uri);
                }
                // the wait counts from here: QEMU listens
                writeAtomically(dir.resolve(INCOMING), json(new Incoming(sourceDir.toString(), System.currentTimeMillis(), waitFor.toSeconds())));
                emit("create", name, "Starting", "incoming migration");
                return uri;
            } catch (IOException | RuntimeException | VmmException e) {
                if (state.pid() != 0) {
                    ProcessHandle.of(state.pid()).ifPresent(ProcessHandle::destroyForcibly);
                    waitGone(state.pid());
                }
                cleanupRun(name, state, false);
                deleteTree(dir);
                qemuStatus.remove(name);
                String why = e instanceof java.nio.file.FileSystemException fs && fs.getReason() != null
                        ? fs.getFile() + ": " + fs.getReason() : e.getMessage();
                throw new OciException(why != null && why.startsWith("vm " + name) ? why : "vm " + name + ": migration target: " + why);
            }
        }
    }

    /** A migration target's marker ({@link #INCOMING}): whence, since when its QEMU listens (epoch ms), how long it may get nothing. */
    record Incoming(String from, long preparedAt, long waitSeconds) {}

    /** The marker of a migration target's run; one this build cannot read counts from its file's time, with the default wait. */
    private Incoming incoming(String name) {
        Path file = dir(name).resolve(INCOMING);
        try {
            return JSON.readValue(Files.readAllBytes(file), Incoming.class);
        } catch (IOException e) {
            long at;
            try {
                at = Files.getLastModifiedTime(file).toMillis();
            } catch (IOException gone) {
                at = System.currentTimeMillis();
            }
            return new Incoming(null, at, INCOMING_WAIT.toSeconds());
        }
    }

    /** Whether a waiting target has had nothing from its source for longer than it may (QEMU's query-migrate has no status yet). */
    static boolean incomingExpired(Incoming in, JsonNode incomingInfo, long nowMillis) {
        return !incomingInfo.hasNonNull("status") && nowMillis - in.preparedAt() >= in.waitSeconds() * 1000;
    }

    /** A migration target whose QEMU ended before it ran the guest: its files and state gone (the guest is the source's). */
    private void dropIncoming(String name, VmState state, String why) {
        cleanupRun(name, state, false);
        deleteTree(dir(name));
        qemuStatus.remove(name);
        Log.info("vm " + name + ": incoming migration dropped: " + why);
        emit("delete", name, null, "incoming migration dropped: " + why);
    }

    /** The migration failed: the target's QEMU (still waiting, never run) killed, its files and state gone. */
    public void abortMigration(String name) {
        try (var held = lock(name)) {
            VmState state = requireState(name);
            String runs = "vm \"" + name + "\" runs here (" + TARGET_RUNS + "): not dropped";
            if (!Files.exists(dir(name).resolve(INCOMING))) throw new OciException(runs);
            if (state.pid() != 0 && alive(name, state.pid())) {
                try (Qmp qmp = qmp(name)) {
                    if (!qmp.status().equals("inmigrate")) throw new OciException(runs);
                } catch (VmmException e) {
                    throw new OciException("vm " + name + ": cannot tell whether its QEMU has run the guest (" + e.getMessage() + "): not dropped");
                }
                ProcessHandle.of(state.pid()).ifPresent(ProcessHandle::destroyForcibly);
                waitGone(state.pid());
            }
            cleanupRun(name, state, false);
            deleteTree(dir(name));
            qemuStatus.remove(name);
            Log.info("vm " + name + ": incoming migration dropped: its source said the migration failed");
            emit("delete", name, null, "incoming migration dropped");
        }
    }

    private static byte[] json(Object value) {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ---- reconciling ----

    /** Looks at VM {@code name} once and does what its state says: adopt, notice an end, restart, force a stop. */
    public void reconcile(String name) {
        try (var held = lock(name)) {
            if (!exists(name)) return;
            VmState state = state(name);
            VmPlan plan;
            try {
                plan = Manifests.plan(manifest(name), MANIFEST);
            } catch (OciException e) {
                if (invalid.add(name)) Log.info("vm " + name + ": its stored manifest is no longer valid: " + e.getMessage());
                return;
            }
            invalid.remove(name);
            String bootId = bootId();
            if (state.pid() != 0 && state.bootId() != null && !state.bootId().equals(bootId)) {
                // the host restarted: no QEMU, and runStrategy decides (Always and RerunOnFailure run again)
                boolean again = plan.runStrategy() == VmPlan.RunStrategy.Always || plan.runStrategy() == VmPlan.RunStrategy.RerunOnFailure;
                cleanupRun(name, state);
                state = state.ended("HostRestarted", Instant.now().toString(), again && state.desired(), 0, 0);
                save(name, state);
                emit("exit", name, again && state.desired() ? "Starting" : "Stopped", "HostRestarted");
            }
            if (state.pid() != 0) {
                boolean incoming = Files.exists(dir(name).resolve(INCOMING));
                VmStatus.MigrationState away = incoming ? null : migrationState(name);
                boolean settle = away != null && away.inProgress() && !migrating.contains(name);
                if (!alive(name, state.pid())) {
                    if (incoming) { // the migration failed with no source daemon to say so: the guest runs on there
                        dropIncoming(name, state, "its QEMU ended before the migration completed");
                        return;
                    }
                    if (settle && migrationFailed(name, away, null, "QEMU ended while no vesseld watched its migration")) {
                        // the target runs the guest: a daemon killed after quitting the source QEMU, before forgetting the VM
                        cleanupRun(name, state, false);
                        deleteTree(dir(name));
                        qemuStatus.remove(name);
                        Log.info("vm " + name + ": its migration completed while no daemon watched it: the VM is the target's now");
                        emit("migrate", name, null, "completed while the source daemon was away");
                        return;
                    }
                    ended(name, plan, state, state.stopping() ? "Stopped" : "Crashed");
                    return;
                }
                String status;
                try (Qmp qmp = qmp(name)) {
                    status = qmp.status();
                    if (status.equals("postmigrate")) {
                        // a migration completed that no daemon of ours saw end (the source daemon was killed mid-way):
                        // the guest runs on the target now, so this QEMU goes and this daemon forgets the VM, as migrateVm does
                        try {
                            qmp.execute("quit");
                        } catch (VmmException gone) {
                            // quit's reply may not come before QEMU exits
                        }
                        waitGone(state.pid());
                        cleanupRun(name, state, false);
                        deleteTree(dir(name));
                        qemuStatus.remove(name);
                        Log.info("vm " + name + ": its migration completed while no daemon watched it: QEMU " + state.pid()
                                + " quit, the VM is the target's now");
                        emit("migrate", name, null, "completed while the source daemon was away");
                        return;
                    }
                    if (incoming && !status.equals("inmigrate")) Files.deleteIfExists(dir(name).resolve(INCOMING));
                    if (incoming && status.equals("inmigrate") && incomingExpired(incoming(name), qmp.execute("query-migrate"),
                            System.currentTimeMillis())) {
                        // the source is gone before it sent a byte (its daemon died between our prepare and its QEMU's migrate)
                        ProcessHandle.of(state.pid()).ifPresent(ProcessHandle::destroyForcibly);
                        waitGone(state.pid());
                        dropIncoming(name, state, "nothing came from the source in " + incoming(name).waitSeconds() + " s");
                        return;
                    }
                    if (settle) settleMigration(name, plan, away, qmp, status);
                    if (status.equals("shutdown") || status.equals("guest-panicked")
                            || (state.stopping() && System.currentTimeMillis() >= state.stopDeadline())) {
                        try {
                            qmp.execute("quit");
                        } catch (VmmException gone) {
                            // quit's reply may not come before QEMU exits
                        }
                        waitGone(state.pid());
                        String how = state.stopping() ? "Stopped" : status.equals("shutdown") ? "PoweredOff" : "Crashed";
                        ended(name, plan, state, how);
                        return;
                    }
                } catch (VmmException e) {
                    return; // busy (another QMP client) or going: look again next time
                } catch (IOException e) {
                    Log.info("vm " + name + ": " + e.getMessage());
                    return;
                }
                qemuStatus.put(name, status);
                if (state.failures() > 0 && state.startedAt() != null
                        && Instant.parse(state.startedAt()).plus(CRASH_LOOP_WINDOW).isBefore(Instant.now())) {
                    save(name, state.withFailures(0, 0)); // it ran long enough: no longer a crash loop
                }
                return;
            }
            long orphan = pidFromFile(name);
            if (orphan != 0 && alive(name, orphan)) {
                // a daemon that died between QEMU's start and writing the state: adopt that QEMU, never start a second
                Log.info("vm " + name + ": adopting QEMU " + orphan + " (its pid file names it; the state did not)");
                save(name, state.running(orphan, bootId, Instant.now().toString(), List.of(), List.of()));
                return;
            }
            if (!state.desired()) unschedulable.remove(name);
            if (state.desired() && System.currentTimeMillis() >= state.backoffUntil() && !deleting.containsKey(name)) {
                try {
                    save(name, launch(name, plan, state));
                } catch (Unschedulable u) {
                    // Pending, as a pod the scheduler cannot place: tried again at the next look, no back-off
                } catch (RuntimeException e) {
                    int failures = state.failures() + 1;
                    Log.info("vm " + name + ": start failed: " + e.getMessage());
                    save(name, state.ended("FailedToStart", Instant.now().toString(), true, failures,
                            System.currentTimeMillis() + backoff(failures).toMillis()));
                }
            }
        }
    }

    /** A run has ended ({@code how}): its files go, and runStrategy says whether it runs again. */
    private void ended(String name, VmPlan plan, VmState state, String how) {
        cleanupRun(name, state);
        qemuStatus.remove(name);
        String at = Instant.now().toString();
        Log.info("vm " + name + ": QEMU " + state.pid() + " ended: " + how);
        emit(how.equals("Crashed") ? "crash" : "exit", name, null, how);
        VmPlan.RunStrategy s = plan.runStrategy();
        if (how.equals("Stopped")) {
            save(name, state.ended(how, at, state.restart(), 0, 0)); // a restart (or a start meanwhile) runs it again
            if (state.restart()) reconcile(name);
            return;
        }
        boolean crashed = how.equals("Crashed");
        boolean again = state.desired() && (s == VmPlan.RunStrategy.Always || (crashed && s == VmPlan.RunStrategy.RerunOnFailure));
        int failures = crashed ? state.failures() + 1 : 0;
        long backoff = again && failures > 1 ? System.currentTimeMillis() + backoff(failures).toMillis() : 0;
        save(name, state.ended(how, at, again, again ? failures : 0, backoff));
    }

    /** No wait after the first crash, then 10 s, doubling, up to 5 minutes (KubeVirt's crash loop back-off). */
    static Duration backoff(int failures) {
        if (failures <= 1) return Duration.ZERO;
        long seconds = 10L << Math.min(failures - 2, 10);
        return Duration.ofSeconds(Math.min(seconds, MAX_BACKOFF.toSeconds()));
    }

    private VmState requestStop(String name, VmState state, long graceSeconds, boolean thenRestart) {
        if (graceSeconds > 0) {
            try (Qmp qmp = qmp(name)) {
                if (qmp.status().equals("paused")) qmp.execute("cont"); // a paused guest cannot see the power button
                qmp.execute("system_powerdown");
            } catch (VmmException e) {
                Log.info("vm " + name + ": system_powerdown: " + e.getMessage() + "; forcing the stop");
                graceSeconds = 0;
            }
        }
        return state.stoppingUntil(System.currentTimeMillis() + graceSeconds * 1000, thenRestart);
    }

    // ---- starting QEMU ----

    /** What a start needs from the host, checked before anything is made: files there, bridges there, ports free. */
    private void checkHost(VmPlan plan, String source) {
        for (VmPlan.PlannedDisk d : plan.disks()) {
            switch (d.source()) {
                case VmPlan.ContainerDiskSource c -> {
                    if (!DiskSources.fromRegistry(c)) DiskSources.imageFile(c); // a registry's image is pulled at the start
                }
                case VmPlan.EphemeralSource e -> {
                    if (!Files.isRegularFile(Path.of(e.path()))) {
                        throw new OciException("vm " + plan.name() + ": volume \"" + d.name() + "\": disk file " + e.path()
                                + " does not exist");
                    }
                }
                case VmPlan.HostDiskSource h -> {
                    Path p = Path.of(h.path());
                    if (!h.create() && !Files.isRegularFile(p)) {
                        throw new OciException("vm " + plan.name() + ": volume \"" + d.name() + "\": hostDisk " + h.path()
                                + " does not exist (type Disk; DiskOrCreate makes it)");
                    }
                    if (h.create() && !Files.exists(p) && !Files.isDirectory(p.getParent())) {
                        throw new OciException("vm " + plan.name() + ": volume \"" + d.name() + "\": directory " + p.getParent()
                                + " does not exist");
                    }
                }
                default -> { }
            }
        }
        if (plan.efi() && ovmf().isEmpty()) {
            throw new OciException("vm " + plan.name() + ": firmware efi: OVMF is not installed (apt-get install ovmf)");
        }
        for (VmPlan.PlannedNic n : plan.nics()) {
            if (n.binding() == VmPlan.Binding.BRIDGE && !Files.isDirectory(Path.of("/sys/class/net", n.bridge(), "bridge"))) {
                throw new OciException("vm " + plan.name() + ": interface \"" + n.name() + "\": host bridge " + n.bridge()
                        + " does not exist");
            }
        }
    }

    /** Makes the run's disks, taps and cgroup and starts QEMU; on failure removes all it made and throws one line. */
    private VmState launch(String name, VmPlan plan, VmState state) {
        return launch(name, plan, state, false, true);
    }

    /**
     * As {@link #launch(String, VmPlan, VmState)}; {@code incoming}: a migration's target, on the run
     * files already in the directory (linked from the source's), QEMU waiting with {@code -incoming defer}.
     */
    private VmState launch(String name, VmPlan plan, VmState state, boolean incoming, boolean announce) {
        Path dir = dir(name);
        String unfit = schedule(name, plan);
        if (unfit != null) {
            if (!unfit.equals(unschedulable.put(name, unfit))) Log.info("vm " + name + ": ErrorUnschedulable: " + unfit);
            throw new Unschedulable(name, unfit);
        }
        unschedulable.remove(name);
        List<String> taps = new ArrayList<>();
        List<String> forwards = new ArrayList<>();
        List<Path> created = new ArrayList<>(); // hostDisks made by this start (DiskOrCreate): a failed start removes them
        try {
            Q35Command command = Q35Command.builder().binary(qemu).accelerator(accelerator.get()).name(name)
                    .topology(plan.sockets(), plan.cores(), plan.threads()).memoryMib(plan.memoryMib()).stateDir(dir);
            if (plan.efi()) {
                Path vars = dir.resolve("OVMF_VARS.fd");
                if (!Files.exists(vars)) {
                    Path code = ovmf().orElseThrow();
                    Path template = code.resolveSibling(code.getFileName().toString().replace("CODE", "VARS"));
                    Files.copy(template, vars);
                }
                command.efi(ovmf().orElseThrow(), vars);
            }
            // the ports first: a port in use is refused before any file is made
            List<List<Q35Command.Forward>> nicForwards = new ArrayList<>();
            for (VmPlan.PlannedNic n : plan.nics()) {
                nicForwards.add(n.binding() == VmPlan.Binding.MASQUERADE ? forwards(plan, n) : List.of());
            }
            boolean anyBootOrder = plan.disks().stream().anyMatch(d -> d.bootOrder() != null);
            for (int i = 0; i < plan.disks().size(); i++) {
                VmPlan.PlannedDisk d = plan.disks().get(i);
                DiskSources.Prepared file = incoming ? DiskSources.existing(dir, d) : DiskSources.prepare(dir, name, d);
                if (file.created()) created.add(file.path());
                Integer boot = d.bootOrder() != null ? d.bootOrder() : !anyBootOrder && i == 0 ? 1 : null;
                command.disk(new Q35Command.Disk("d" + i, file.path(), file.format(), Q35Command.Bus.valueOf(d.bus().toUpperCase()),
                        d.kind() == VmPlan.DiskKind.CDROM, d.readOnly(), boot, d.serial()));
            }
            for (int i = 0; i < plan.nics().size(); i++) {
                VmPlan.PlannedNic n = plan.nics().get(i);
                String mac = n.mac() != null ? n.mac() : mac(name, i);
                if (n.binding() == VmPlan.Binding.MASQUERADE) {
                    List<Q35Command.Forward> fw = nicForwards.get(i);
                    fw.forEach(f -> forwards.add(f.protocol() + ":" + f.hostAddress() + ":" + f.hostPort() + "-" + f.guestPort()));
                    command.nic(Q35Command.Nic.user("net" + i, mac, MASQUERADE_NET, MASQUERADE_GATEWAY, MASQUERADE_GUEST, fw));
                } else {
                    String tap = tapName(name, i);
                    run(List.of("ip", "tuntap", "add", "dev", tap, "mode", "tap"), "tap " + tap);
                    taps.add(tap);
                    run(List.of("ip", "link", "set", tap, "master", n.bridge(), "up"), "tap " + tap + " on " + n.bridge());
                    command.nic(Q35Command.Nic.tap("net" + i, mac, tap));
                }
            }
            for (String f : List.of(Q35Command.QMP_SOCKET, Q35Command.SERIAL_SOCKET, Q35Command.PID_FILE)) {
                Files.deleteIfExists(dir.resolve(f));
            }
            List<String> argv = new ArrayList<>(cgroupPrefix(name));
            argv.addAll(command.build());
            if (incoming) argv.addAll(List.of("-incoming", "defer"));
            Command.Result result = Command.run(argv, "", Duration.ofSeconds(60));
            if (result.status() != 0) throw new OciException("QEMU failed: " + result.firstLine());
            long pid = Long.parseLong(Files.readString(dir.resolve(Q35Command.PID_FILE)).strip());
            Log.info("vm " + name + ": QEMU " + pid + " started");
            qemuStatus.put(name, incoming ? "inmigrate" : "running");
            if (announce) emit("start", name, "Running", null);
            return state.running(pid, bootId(), Instant.now().toString(), taps, forwards);
        } catch (IOException | RuntimeException e) {
            cleanupRun(name, state.running(0, null, null, taps, forwards));
            for (Path p : created) {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // the start's failure is what matters
                }
            }
            String why = e instanceof OciException ? e.getMessage() : e instanceof IOException io ? io.getMessage() : e.toString();
            throw new OciException(why.startsWith("vm " + name) ? why : "vm " + name + ": " + why);
        }
    }

    /**
     * A start that KubeVirt's scheduler would leave Pending on this one-node cluster: the VM is
     * ErrorUnschedulable (condition PodScheduled False) and nothing is made; it starts once it fits.
     */
    static final class Unschedulable extends OciException {
        final String reason;

        Unschedulable(String name, String reason) {
            super("vm " + name + ": " + reason);
            this.reason = reason;
        }
    }

    /** Whether VM {@code name} fits beside the VMs this daemon runs: null, or the scheduler's message. */
    private String schedule(String name, VmPlan plan) {
        long otherMib = 0;
        long otherVcpus = 0;
        for (String other : names()) {
            if (other.equals(name)) continue;
            try {
                if (state(other).pid() == 0) continue;
                VmPlan p = Manifests.plan(manifest(other), MANIFEST);
                otherMib += p.memoryMib() + OVERHEAD_MIB;
                otherVcpus += (long) p.sockets() * p.cores() * p.threads();
            } catch (RuntimeException e) {
                // gone meanwhile, or a manifest this build refuses: it runs nothing of ours
            }
        }
        return unschedulable(plan.memoryMib() + OVERHEAD_MIB, (long) plan.sockets() * plan.cores() * plan.threads(),
                otherMib, otherVcpus, memTotalMib(), Runtime.getRuntime().availableProcessors());
    }

    /**
     * Kubernetes' scheduler on one node, as it sees a KubeVirt VM's virt-launcher pod: it requests
     * the guest's memory plus the overhead ({@code requestMib}), and a tenth of a CPU per vCPU
     * (KubeVirt's cpuAllocationRatio 10); the node can give {@code memTotalMib} and {@code cpus}
     * less what the VMs running there ({@code other…}) requested. Null when it fits, else the
     * scheduler's message, "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory.".
     */
    static String unschedulable(long requestMib, long vcpus, long otherMib, long otherVcpus, long memTotalMib, int cpus) {
        List<String> insufficient = new ArrayList<>();
        // in milli-CPUs: 100m per vCPU
        if ((vcpus + otherVcpus) * 1000 / CPU_ALLOCATION_RATIO > cpus * 1000L) insufficient.add("1 Insufficient cpu");
        if (requestMib + otherMib > memTotalMib) insufficient.add("1 Insufficient memory");
        return insufficient.isEmpty() ? null : "0/1 nodes are available: " + String.join(", ", insufficient) + ".";
    }

    /** The host's memory (MemTotal), MiB; unbounded where /proc/meminfo cannot be read. */
    static long memTotalMib() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
            }
        } catch (IOException | NumberFormatException e) {
            // no figure: nothing is refused for it
        }
        return Long.MAX_VALUE / 2;
    }

    /** The masquerade interface's forwards: the port from the host (the annotation may map it), each checked free. */
    private static List<Q35Command.Forward> forwards(VmPlan plan, VmPlan.PlannedNic nic) throws IOException {
        String address = plan.annotations().getOrDefault(HOST_ADDRESS, DEFAULT_HOST_ADDRESS);
        Map<Integer, Integer> mapped = new java.util.HashMap<>();
        String spec = plan.annotations().get(HOST_PORTS);
        if (spec != null && !spec.isBlank()) {
            for (String pair : spec.split(",")) {
                String[] p = pair.strip().split(":");
                try {
                    if (p.length != 2) throw new NumberFormatException();
                    mapped.put(Integer.parseInt(p[0].strip()), Integer.parseInt(p[1].strip()));
                } catch (NumberFormatException e) {
                    throw new OciException("metadata.annotations[" + HOST_PORTS + "]: Invalid value: \"" + spec
                            + "\": GUEST:HOST port pairs, comma-separated");
                }
            }
        }
        List<Q35Command.Forward> forwards = new ArrayList<>();
        for (VmPlan.PlannedPort p : nic.ports()) {
            int hostPort = mapped.getOrDefault(p.port(), p.port());
            String protocol = p.protocol().toLowerCase();
            checkFree(protocol, address, hostPort, nic.name());
            forwards.add(new Q35Command.Forward(protocol, address, hostPort, p.port()));
        }
        return forwards;
    }

    private static void checkFree(String protocol, String address, int port, String nic) {
        try {
            InetSocketAddress where = new InetSocketAddress(InetAddress.getByName(address), port);
            if (protocol.equals("udp")) {
                try (DatagramSocket s = new DatagramSocket(where)) {
                    s.getLocalPort();
                }
            } else {
                try (ServerSocket s = new ServerSocket()) {
                    s.bind(where);
                }
            }
        } catch (IOException e) {
            throw new OciException("interface \"" + nic + "\": host port " + address + ":" + port + "/" + protocol
                    + " is in use (" + e.getMessage() + ")");
        }
    }

    /** The argv prefix that puts QEMU in the VM's cgroup {@code vessel/vm-NAME} before it runs; none where that cannot be made. */
    private static List<String> cgroupPrefix(String name) {
        try {
            CgroupDir cg = CgroupDir.at("vessel/vm-" + name);
            cg.create();
            List<String> argv = new ArrayList<>(List.of("/bin/sh", "-c",
                    "while [ \"$1\" != -- ]; do echo $$ > \"$1\" || exit 125; shift; done; shift; exec \"$@\"", "vessel-cgroup"));
            cg.procsFiles().forEach(p -> argv.add(p.toString()));
            argv.add("--");
            return argv;
        } catch (IOException | RuntimeException e) {
            Log.info("vm " + name + ": warning: no cgroup of its own (" + e.getMessage() + "): QEMU is charged to vesseld's");
            return List.of();
        }
    }

    /** Removes what a run made: its disks, sockets, pid file, taps and cgroup (the console log stays). */
    private void cleanupRun(String name, VmState state) {
        cleanupRun(name, state, true);
    }

    /** {@code removeCgroup} false: another QEMU of this VM (a migration's other end) lives in it. */
    private void cleanupRun(String name, VmState state, boolean removeCgroup) {
        Path dir = dir(name);
        for (String tap : state.taps()) {
            try {
                Command.run(List.of("ip", "link", "delete", tap), "", Duration.ofSeconds(10));
            } catch (IOException e) {
                Log.info("vm " + name + ": tap " + tap + ": " + e.getMessage());
            }
        }
        DiskSources.removeRunFiles(dir);
        for (String f : List.of(Q35Command.QMP_SOCKET, Q35Command.SERIAL_SOCKET, Q35Command.PID_FILE, MIGRATION)) {
            try {
                Files.deleteIfExists(dir.resolve(f));
            } catch (IOException e) {
                Log.info("vm " + name + ": " + e.getMessage());
            }
        }
        if (!removeCgroup) return;
        try {
            CgroupDir.at("vessel/vm-" + name).remove();
        } catch (IOException | RuntimeException e) {
            Log.info("vm " + name + ": cgroup: " + e.getMessage());
        }
    }

    private static void run(List<String> argv, String what) throws IOException {
        Command.Result r = Command.run(argv, "", Duration.ofSeconds(30));
        if (r.status() != 0) throw new OciException(what + ": " + r.firstLine());
    }

    // ---- status ----

    private VmStatus status(String name, VirtualMachine vm, VmState state) {
        VmPlan plan = Manifests.plan(vm, MANIFEST);
        String printable = printableStatus(name, state);
        String now = Instant.now().toString();
        List<VmStatus.Condition> conditions = new ArrayList<>();
        boolean ready = printable.equals("Running") || printable.equals("Migrating");
        conditions.add(new VmStatus.Condition("Ready", ready ? "True" : "False", ready ? null : printable,
                ready ? null : state.lastExit() == null ? null : "last run ended: " + state.lastExit(),
                state.startedAt() != null ? state.startedAt() : state.lastExitAt()));
        if (printable.equals("Paused")) {
            conditions.add(new VmStatus.Condition("Paused", "True", "PausedByUser", "VMI was paused by user", now));
        }
        if (!state.restartRequired().isEmpty()) {
            conditions.add(new VmStatus.Condition("RestartRequired", "True", null,
                    "a non-live-updatable field was changed in the template spec: " + String.join(", ", state.restartRequired()), now));
        }
        String unfit = unschedulable.get(name);
        if (printable.equals("ErrorUnschedulable") && unfit != null) {
            conditions.add(new VmStatus.Condition("PodScheduled", "False", "Unschedulable", unfit, now));
        }
        if (printable.equals("CrashLoopBackOff")) {
            conditions.add(new VmStatus.Condition("Failure", "True", "CrashLoopBackOff", state.failures()
                    + " failed runs in a row; next start at " + Instant.ofEpochMilli(state.backoffUntil()), now));
        }
        List<VmStatus.Interface> interfaces = new ArrayList<>();
        if (state.pid() != 0) {
            for (int i = 0; i < plan.nics().size(); i++) {
                VmPlan.PlannedNic n = plan.nics().get(i);
                String mac = n.mac() != null ? n.mac() : mac(name, i);
                if (n.binding() == VmPlan.Binding.MASQUERADE) {
                    interfaces.add(new VmStatus.Interface(n.name(), mac, MASQUERADE_GUEST, List.of(MASQUERADE_GUEST), "eth" + i,
                            "domain", state.forwards(), null, null));
                } else {
                    // Vessel serves no DHCP on a bridge: the addresses cloud-init's networkData gives it, if any
                    List<String> addresses = NetworkData.addresses(networkData(plan), mac, i);
                    interfaces.add(new VmStatus.Interface(n.name(), mac, addresses.isEmpty() ? null : addresses.getFirst(),
                            addresses.isEmpty() ? null : addresses, "eth" + i, addresses.isEmpty() ? "domain" : "domain, cloud-init",
                            null, n.bridge(), tapOf(state, plan, i)));
                }
            }
        }
        Path dir = dir(name);
        VmStatus.Vessel vessel = new VmStatus.Vessel(state.pid(),
                state.pid() != 0 ? dir.resolve(Q35Command.QMP_SOCKET).toString() : null,
                state.pid() != 0 ? dir.resolve(Q35Command.SERIAL_SOCKET).toString() : null,
                dir.resolve(Q35Command.CONSOLE_LOG).toString(), state.failures(), state.lastExit(), state.lastExitAt(),
                state.startedAt(), state.pid() != 0 ? "vessel/vm-" + name : null);
        List<VmStatus.Snapshot> snapshots = snapshots(name);
        return new VmStatus(printable, ready, state.pid() != 0, plan.runStrategy().name(), conditions, interfaces, vessel,
                snapshots.isEmpty() ? null : snapshots, state.pid() != 0 ? migrationState(name) : null);
    }

    private static String networkData(VmPlan plan) {
        for (VmPlan.PlannedDisk d : plan.disks()) {
            if (d.source() instanceof VmPlan.CloudInitSource c && c.networkData() != null) return c.networkData();
        }
        return null;
    }

    /** The tap of bridge interface {@code i} (taps are listed in the order of the bridge interfaces). */
    private static String tapOf(VmState state, VmPlan plan, int i) {
        String tap = tapName(plan.name(), i);
        return state.taps().contains(tap) ? tap : null;
    }

    /** KubeVirt's printableStatus. */
    public String printableStatus(String name, VmState state) {
        if (deleting.containsKey(name)) return "Terminating";
        if (migrating.contains(name)) return "Migrating";
        if (state.pid() != 0) {
            VmStatus.MigrationState m = migrationState(name);
            if (m != null && m.inProgress()) return "Migrating";
        }
        if (state.pid() != 0) {
            if (state.stopping()) return state.restart() ? "Starting" : "Stopping";
            String s = qemuStatus.getOrDefault(name, "running");
            if (s.equals("paused")) return "Paused";
            if (s.equals("prelaunch") || s.equals("inmigrate")) return "Starting";
            return "Running";
        }
        if (state.desired() && unschedulable.containsKey(name)) return "ErrorUnschedulable";
        if (state.desired()) return state.backoffUntil() > System.currentTimeMillis() ? "CrashLoopBackOff" : "Starting";
        return "Stopped";
    }

    /** One VM for list and the sandbox catalog: name, printableStatus, created, QEMU's pid. */
    public record Summary(String name, String printableStatus, String created, long pid, boolean ready) {}

    public List<Summary> summaries() {
        List<Summary> all = new ArrayList<>();
        for (String name : names()) {
            try {
                VmState s = state(name);
                String p = printableStatus(name, s);
                all.add(new Summary(name, p, s.created(), s.pid(), p.equals("Running") || p.equals("Migrating")));
            } catch (RuntimeException e) {
                // removed meanwhile
            }
        }
        return all;
    }

    // ---- files ----

    public VmState state(String name) {
        try {
            return JSON.readValue(Files.readAllBytes(dir(name).resolve(STATE)), VmState.class);
        } catch (IOException e) {
            throw new OciException("vm \"" + name + "\" does not exist");
        }
    }

    private VmState requireState(String name) {
        if (!exists(name)) throw new OciException("vm \"" + name + "\" does not exist");
        return state(name);
    }

    private void save(String name, VmState state) {
        try {
            writeAtomically(dir(name).resolve(STATE), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(state));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private VirtualMachine manifest(String name) {
        try {
            return Manifests.read(Files.readAllBytes(dir(name).resolve(MANIFEST)), name + "/" + MANIFEST);
        } catch (IOException e) {
            throw new OciException("vm \"" + name + "\": its manifest cannot be read: " + e.getMessage());
        }
    }

    private void setStrategy(String name, VirtualMachine vm, VmPlan.RunStrategy strategy) {
        VirtualMachine.Spec s = vm.spec();
        VirtualMachine changed = new VirtualMachine(vm.apiVersion(), vm.kind(), vm.metadata(),
                new VirtualMachine.Spec(null, strategy.name(), s.template()), null);
        writeAtomically(dir(name).resolve(MANIFEST), yaml(changed));
    }

    private static VirtualMachine withoutStatus(VirtualMachine vm) {
        return new VirtualMachine(vm.apiVersion(), vm.kind(), vm.metadata(), vm.spec(), null);
    }

    private static byte[] yaml(Object value) {
        try {
            return Manifests.YAML.writeValueAsBytes(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void writeAtomically(Path file, byte[] content) {
        try {
            Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
            Files.write(tmp, content);
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void deleteTree(Path dir) {
        if (!Files.exists(dir)) return;
        try (var walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    Log.info("vm: cannot remove " + p + ": " + e.getMessage());
                }
            });
        } catch (IOException e) {
            Log.info("vm: cannot remove " + dir + ": " + e.getMessage());
        }
    }

    /** Field paths under {@code at} where the two trees differ (leaves, or whole lists that differ). */
    static void diff(String at, JsonNode a, JsonNode b, List<String> out) {
        if (a == null || a.isNull()) a = JSON.nullNode();
        if (b == null || b.isNull()) b = JSON.nullNode();
        if (a.equals(b)) return;
        if (a.isObject() && b.isObject()) {
            TreeSet<String> fields = new TreeSet<>();
            a.fieldNames().forEachRemaining(fields::add);
            b.fieldNames().forEachRemaining(fields::add);
            for (String f : fields) diff(at + "." + f, a.get(f), b.get(f), out);
        } else if (a.isArray() && b.isArray() && a.size() == b.size()) {
            for (int i = 0; i < a.size(); i++) diff(at + "[" + i + "]", a.get(i), b.get(i), out);
        } else {
            out.add(at);
        }
    }

    // ---- the host ----

    /** Whether {@code pid} is this VM's QEMU (alive, and its command line names this VM's QMP socket). */
    boolean alive(String name, long pid) {
        try {
            byte[] cmdline = Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline"));
            return new String(cmdline, StandardCharsets.UTF_8).contains(dir(name).resolve(Q35Command.QMP_SOCKET).toString());
        } catch (IOException e) {
            return false;
        }
    }

    private long pidFromFile(String name) {
        try {
            return Long.parseLong(Files.readString(dir(name).resolve(Q35Command.PID_FILE)).strip());
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
    }

    private static void waitGone(long pid) {
        long deadline = System.currentTimeMillis() + 10_000;
        while (System.currentTimeMillis() < deadline && Files.exists(Path.of("/proc", Long.toString(pid), "cmdline"))) {
            Optional<ProcessHandle> p = ProcessHandle.of(pid);
            if (p.isEmpty() || !p.get().isAlive()) return;
            sleep(50);
        }
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
    }

    static String bootId() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).strip();
        } catch (IOException e) {
            return "unknown";
        }
    }

    private static Optional<Path> ovmf() {
        return OVMF.stream().filter(Files::isRegularFile).findFirst();
    }

    /** A stable, locally administered MAC for interface {@code i} of VM {@code name}. */
    static String mac(String name, int i) {
        byte[] h = sha(name + "/" + i);
        return String.format("02:%02x:%02x:%02x:%02x:%02x", h[0], h[1], h[2], h[3], h[4]);
    }

    /** A tap name of at most 15 bytes, stable per VM and interface: "vt" and a hash. */
    static String tapName(String name, int i) {
        return "vt" + HexFormat.of().formatHex(sha(name + "/" + i)).substring(0, 10) + i % 10;
    }

    private static byte[] sha(String s) {
        try {
            return java.security.MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
