package dev.vessel.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vessel.linux.Command;
import dev.vessel.linux.Log;
import dev.vessel.linux.NetNs;
import dev.vessel.linux.Tools;
import dev.vessel.oci.BundleConfig;
import dev.vessel.oci.Isolation;
import dev.vessel.oci.OciException;
import dev.vessel.oci.OciSpec;
import dev.vessel.vmm.Accelerator;
import dev.vessel.vmm.AcceleratorSelector;
import dev.vessel.vmm.AgentClient;
import dev.vessel.vmm.ExecPorts;
import dev.vessel.vmm.GuestAssets;
import dev.vessel.vmm.GuestKernel;
import dev.vessel.vmm.GuestLinux;
import dev.vessel.vmm.SeccompBpf;
import dev.vessel.vmm.GuestProcess;
import dev.vessel.vmm.GuestStats;
import dev.vessel.vmm.HostProbe;
import dev.vessel.vmm.QemuCommand;
import dev.vessel.vmm.Qmp;
import dev.vessel.vmm.VmTemplates;
import dev.vessel.vmm.VmmException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * {@code microvm} isolation (docs/microvm.md): each sandbox is a QEMU microVM whose agent runs
 * the process; the client stands in for the process as its relay.
 *
 * <p>Nothing here is needed while a sandbox runs: QEMU is detached, the relay talks to QEMU's
 * sockets, and every operation reads the sandbox's record, QMP and the agent afresh, so a
 * restarted daemon carries on. When the relay of process 0 goes (its process exited, or the relay
 * was killed), the agent powers the guest off: nothing is left running that no one can stop.
 */
public final class MicroVmDriver implements IsolationDriver {
    public static final Path RUN_DIR = Path.of("/run/vessel/vm");
    /** In a VM's run dir: the path of its sandbox record, so that a new daemon finds it ({@link #records}). */
    public static final String RECORD_FILE = "record";
    /**
     * Where a template being made has its QEMU's sockets (not among the VMs': it is no container's),
     * in {@code <daemon pid>-<key>}: daemons on other assets make theirs beside it.
     */
    static final Path TEMPLATE_RUN_DIR = Path.of("/run/vessel/tpl");
    /**
     * Watches a template build for the daemon that runs it ({@link #watchBuild}): a line on stdin
     * ends it, end-of-file (the daemon gone, kill -9 included) kills the build's QEMU (once its
     * pid file is there, and only if that pid's command line names the build's work dir) and
     * removes the run dir ($1) and work dir ($2).
     */
    private static final String BUILD_WATCH = """
            if read -r _; then exit 0; fi
            i=0
            while [ ! -s "$1/qemu.pid" ] && [ $i -lt 40 ]; do sleep 0.25; i=$((i + 1)); done
            p=$(cat "$1/qemu.pid" 2>/dev/null)
            if [ -n "$p" ] && tr '\\0' ' ' 2>/dev/null < "/proc/$p/cmdline" | grep -qF -- "$2/"; then kill -KILL "$p"; fi
            rm -rf -- "$1" "$2"
            """;
    private static final long DEFAULT_MEMORY = 256L << 20;
    /** A pod's VM when neither its pod cgroup nor its annotations size it (Settings' pod_memory, pod_cpus). */
    public static final long DEFAULT_POD_MEMORY = 512L << 20;
    public static final int DEFAULT_POD_CPUS = 1;
    static final String BALLOON_ID = "balloon0";

    /** Told when a VM is up and when it is gone (the daemon serves Firecracker's API meanwhile). */
    public interface Observer {
        void booted(String id, MicroVmState vm);

        void destroyed(Path runDir);
    }

    private final GuestAssets assets;
    private final String qemu;
    private final Duration bootTimeout;
    private final Observer observer;
    private final AcceleratorSelector accelerators;
    private volatile Long tscKhz;
    private volatile Boolean sandbox;
    /** Null: templates are off ({@code templates = false}, VESSEL_TEMPLATES=0): every microVM boots cold. */
    private final VmTemplates templates;
    /** Templates made on first use, one at a time, in the background (the create that found none boots cold). */
    private final java.util.concurrent.ExecutorService templateMaker;
    private final java.util.Set<String> templatesMaking = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private volatile long podMemory = DEFAULT_POD_MEMORY;
    private volatile int podCpus = DEFAULT_POD_CPUS;
    /** vessel-jail's path when QEMUs run jailed ({@code jail = true}, docs/microvm.md "The jail"); null: as root. */
    private volatile Path jailHelper;
    /** The jails' roots are mounted here, each in its QEMU's own mount namespace; empty on the host. */
    static final Path JAIL_ROOT = Path.of("/run/vessel/jail");

    /** {@code skipQuickProbes}: for tests, see {@link AcceleratorSelector#PROBE_ENV}. Templates off. */
    public MicroVmDriver(GuestAssets assets, String qemu, Duration bootTimeout, AcceleratorSelector.Mode accelerator,
            boolean skipQuickProbes, Observer observer) {
        this(assets, qemu, bootTimeout, accelerator, skipQuickProbes, false, observer);
    }

    /** {@code templates}: whether microVMs start from templates where one fits (see {@link VmTemplates}). */
    public MicroVmDriver(GuestAssets assets, String qemu, Duration bootTimeout, AcceleratorSelector.Mode accelerator,
            boolean skipQuickProbes, boolean templates, Observer observer) {
        this.assets = assets;
        this.qemu = Tools.find(qemu); // also run through nsenter, which searches its own PATH
        this.bootTimeout = bootTimeout;
        this.observer = observer;
        this.accelerators = new AcceleratorSelector(accelerator, this.qemu, assets, AcceleratorSelector.DEFAULT_CACHE,
                Path.of("/dev/kvm"), skipQuickProbes, bootTimeout);
        this.templates = templates ? new VmTemplates(assets, this.qemu, VmTemplates.DEFAULT_STAGE) : null;
        this.templateMaker = templates ? java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "template-maker");
            t.setDaemon(true);
            return t;
        }) : null;
        // a template half made is no one's: what a daemon that died making one left goes (templates on or off)
        VmTemplates sweeper = this.templates != null ? this.templates : new VmTemplates(assets, this.qemu, VmTemplates.DEFAULT_STAGE);
        Thread.ofPlatform().daemon().name("template-sweep").start(() -> sweepTemplateBuilds(sweeper));
    }

    /**
     * Kills the QEMUs of template builds whose daemon is dead and removes their work and run dirs
     * (each build's watch does that when its daemon dies; this is for a watch that could not).
     */
    static void sweepTemplateBuilds(VmTemplates templates) {
        try {
            int killed = templates.sweepBuilds();
            if (Files.isDirectory(TEMPLATE_RUN_DIR)) {
                try (var dirs = Files.list(TEMPLATE_RUN_DIR)) {
                    for (Path d : dirs.toList()) {
                        String name = d.getFileName().toString();
                        long qemuPid;
                        try {
                            qemuPid = qemuPid(d);
                        } catch (IOException e) {
                            qemuPid = 0; // (its pid file went meanwhile)
                        }
                        boolean dead = name.matches("[0-9]+-.*") ? ProcessHandle.of(Long.parseLong(name.substring(0, name.indexOf('-')))).isEmpty()
                                : !alive(qemuPid); // (named by an older daemon: its key only)
                        if (!dead) continue;
                        // (a build on other assets: its QEMU too)
                        if (alive(qemuPid) && ProcessHandle.of(qemuPid).flatMap(h -> h.info().arguments())
                                .map(args -> String.join(" ", args).contains(d.toString())).orElse(false)) {
                            kill(qemuPid);
                            killed++;
                        }
                        deleteTree(d);
                    }
                }
            }
            if (killed > 0) Log.info("templates: " + killed + " QEMU(s) of a dead daemon's template builds killed");
        } catch (IOException | RuntimeException e) {
            Log.info("templates: sweeping dead daemons' builds: " + e.getMessage());
        }
    }

    /** Starts the watch of a template build in {@code runDir} and {@code work} ({@link #BUILD_WATCH}). */
    private static Process watchBuild(Path runDir, Path work) throws IOException {
        return Command.startTied(List.of("/bin/sh", "-c", BUILD_WATCH, "vessel-template-watch", runDir.toString(), work.toString()),
                ProcessBuilder.Redirect.DISCARD);
    }

    /** Ends a build's watch: the build cleaned up after itself. */
    private static void unwatch(Process watch) {
        try (var in = watch.getOutputStream()) {
            in.write("done\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        } catch (IOException e) {
            // it has gone already
        }
        try {
            if (!watch.waitFor(2, TimeUnit.SECONDS)) watch.destroyForcibly();
        } catch (InterruptedException e) {
            watch.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    /** The size of a pod's VM that neither its pod cgroup nor the CRI annotations give (Settings' pod_memory, pod_cpus). */
    public MicroVmDriver podDefaults(long memoryBytes, int cpus) {
        this.podMemory = memoryBytes;
        this.podCpus = cpus;
        return this;
    }

    /**
     * Each QEMU started from now on runs confined by {@code helper} (vessel-jail): its own uid and
     * gid, no capabilities, a mount namespace of its own (docs/microvm.md, "The jail"). Null: as
     * root, as before. A jailed clone maps its template's RAM from a memfd the daemon holds sealed
     * against writes (VmTemplates#findSealed): QEMU 7.2 opens a RAM file read-write, and a writable
     * one would let one clone change the memory every other clone starts from. Templates themselves
     * are made by an unjailed QEMU (it writes the RAM file), from an empty rootfs, no workload in it.
     */
    public MicroVmDriver jail(Path helper) {
        this.jailHelper = helper;
        return this;
    }

    /** Whether QEMUs run jailed. */
    public boolean jailed() {
        return jailHelper != null;
    }

    /** The templates, or null when they are off. */
    public VmTemplates templates() {
        return templates;
    }

    /** Which accelerator microVMs boot under (the verdict, its cache, {@code vessel doctor}'s lines). */
    public AcceleratorSelector accelerators() {
        return accelerators;
    }

    public String qemu() {
        return qemu;
    }

    public GuestAssets assets() {
        return assets;
    }

    @Override
    public Isolation isolation() {
        return Isolation.MICROVM;
    }

    // ---- create, run and start ----

    @Override
    public Outcome create(Context context, SandboxRecord record, CreateSpec spec) {
        String id = spec.id();
        BundleConfig config = spec.config();
        OciSpec oci = config.spec();
        MicroVmPod.Annotations pod = MicroVmPod.Annotations.of(oci.annotations());
        if (pod.joins()) return createInPod(context, record, spec, pod);
        boolean podSandbox = pod.role() == MicroVmPod.Role.SANDBOX;
        // before anything is made: a mount that cannot reach the guest fails the create here
        GuestMounts mounts = GuestMounts.plan(id, oci.mounts(), config.rootfs().toAbsolutePath().normalize());
        if (!mounts.ignored().isEmpty()) {
            Log.info("microvm " + id + ": mount options that cannot apply in a guest, ignored: " + String.join("; ", mounts.ignored()));
        }
        if (!assets.present()) {
            throw new OciException("container \"" + id + "\": the guest kernel or initrd is missing in " + assets.dir()
                    + " (run: vessel assets build)");
        }
        JsonNode tree = config.tree();
        boolean tty = oci.process() != null && oci.process().terminal();
        if (tty && (spec.consoleSocket() == null || spec.consoleSocket().isEmpty())) {
            throw new OciException("container \"" + id + "\": process.terminal is true but no --console-socket was given");
        }
        GuestProcess process = GuestProcess.fromOci(tree.path("process"));
        GuestLinux linux = guestLinux(id, tree);
        OciHooks.logUnsupported(id, tree);
        OciSpec.Resources resources = oci.linux().resources();
        long memory = resources.memory().limit() == null ? DEFAULT_MEMORY : resources.memory().limit();
        long quota = resources.cpu().quota() == null ? 0 : resources.cpu().quota();
        long period = resources.cpu().period() == null ? 100_000 : resources.cpu().period();
        int vcpus = quota > 0 && period > 0 ? (int) Math.max(1, (quota + period - 1) / period) : 1;
        if (podSandbox) { // the VM holds the whole pod: sized for it, not for the pause container
            MicroVmPod.Size size = MicroVmPod.size(tree, pod, podMemory, podCpus);
            memory = size.memoryBytes();
            vcpus = size.vcpus();
            Log.info("microvm " + id + ": a pod's sandbox: its VM has " + (memory >> 20) + " MiB and " + vcpus + " vCPUs ("
                    + size.source() + ")");
        }
        int memoryMib = guestMemoryMib(memory, assets.guestKernel());
        vcpus = Math.min(vcpus, Runtime.getRuntime().availableProcessors());

        SandboxStore store = context.store();
        Path runDir = runDir(store.root(), id);
        MicroVmState vm = new MicroVmState(runDir.toString(), memoryMib, vcpus, null, 0, 0, false, 0, tree.path("process"),
                null, null, null, null, null, null, null);
        Process holder = null;
        List<QemuCommand.Share> shares = new ArrayList<>(mounts.shares());
        try {
            Files.createDirectories(runDir);
            Files.writeString(runDir.resolve(RECORD_FILE), store.dir().resolve(id + ".json") + "\n");
            if (podSandbox) {
                Path share = MicroVmPod.shareDir(runDir);
                vm = vm.withPod(new MicroVmState.Pod(null, 0, share.toString(), List.of()));
                store.save(record.withStatus(Status.CREATING).withMicrovm(vm)); // before the share: a failure removes it
                MicroVmPod.makeShare(share);
                shares.add(new QemuCommand.Share(MicroVmPod.SHARE_TAG, share, false, true));
            }
            String netns = null;
            if (OciHooks.any(tree, "prestart", "createRuntime")) {
                // the hooks are given a pid in the container's network namespace (Docker's
                // libnetwork-setkey moves the veth into /proc/PID/ns/net): a holder, until QEMU is in it
                holder = netnsHolder(id, oci);
                if (newNetns(oci)) netns = "/proc/" + holder.pid() + "/ns/net";
                OciHooks.runOrFail(id, tree, hookState(record, holder.pid(), "creating"), "prestart", "createRuntime");
            }
            GuestNetwork network = network(id, oci, netns);
            if (network != null) {
                // recorded before QEMU starts, so that a failure from here on removes the redirects
                List<MicroVmState.Nic> nics = new ArrayList<>();
                List<String> devices = network.devices();
                List<QemuCommand.Nic> qemuNics = network.qemuNics();
                for (int i = 0; i < qemuNics.size(); i++) {
                    nics.add(new MicroVmState.Nic(i < devices.size() ? devices.get(i) : "eth" + i, qemuNics.get(i).mac(),
                            qemuNics.get(i).tap()));
                }
                vm = new MicroVmState(vm.runDir(), memoryMib, vcpus, null, 0, 0, false, 0, vm.process(),
                        // a namespace made for the hooks is named by its holder's pid, which dies at the
                        // end of create and may be reused: nothing to unplumb later (it ends with QEMU,
                        // or with the engine that bind-mounted it, its redirects with it)
                        netns != null ? null : network.ns().path().toString(), devices, nics, null, null, null, null, vm.pod());
            }
            record = record.withStatus(Status.CREATING).withMicrovm(vm);
            store.save(record);
            List<String> placement = MicroVmCgroups.prepare(runDir, tree, new MicroVmCgroups.OciLimits(
                    resources.memory().limit(), resources.cpu().quota(), resources.cpu().period(), resources.cpu().shares()));
            AgentClient booted = bootToReady(context, store, record, config.rootfs(), network, shares, placement);
            record = store.load(id).orElse(record);
            // after READY: a KVM boot given up on and done again under TCG has made its taps afresh
            if (network != null) network.plumb();
            try (AgentClient agent = booted) {
                String hostname = oci.hostname() == null ? id : oci.hostname();
                List<AgentClient.Nic> nics = network == null ? List.of() : network.guestNics();
                List<AgentClient.Route> routes = network == null ? List.of() : network.guestRoutes();
                if (podSandbox) {
                    agent.createSandbox(MicroVmPod.SHARE_TAG, hostname, MicroVmPod.sharedShm(mounts.mounts()), mounts.files(), nics,
                            routes, linux, process);
                } else {
                    agent.create(hostname, mounts.mounts(), mounts.files(), nics, routes, linux, process);
                }
            }
        } catch (IOException | VmmException | RuntimeException e) {
            String console = consoleTail(runDir);
            destroy(store, id, runDir);
            if (e instanceof OciException known) throw known;
            throw new OciException("container \"" + id + "\": " + e.getMessage() + console);
        } finally {
            if (holder != null) holder.destroyForcibly(); // QEMU holds the namespace now
        }
        SandboxRecord created = record.withStatus(Status.CREATED);
        Path port = runDir.resolve(QemuCommand.processSocket(0));
        if (!spec.foreground()) { // create, or run -d: a relay of its own, forked
            return new Outcome.Relay(port.toString(), nonNull(spec.pidFile()), nonNull(spec.consoleSocket()), tty, true,
                    List.of(), relay -> {
                        MicroVmCgroups.joinContainer(runDir, tree, relay);
                        SandboxRecord relayed = created.withMicrovm(created.microvm().withRelay(relay));
                        store.save(relayed);
                        observer.booted(id, relayed.microvm());
                        return spec.run() ? start(context, relayed) : Outcome.ok();
                    });
        }
        // run: the client is the relay; once the process has exited it has the sandbox removed,
        // as runc's run does, through whichever daemon answers then.
        List<String> remove = new ArrayList<>(context.globalArgs());
        remove.addAll(List.of("delete", "--force", id));
        return new Outcome.Relay(port.toString(), nonNull(spec.pidFile()), nonNull(spec.consoleSocket()), tty, false,
                remove, relay -> {
                    MicroVmCgroups.joinContainer(runDir, tree, relay);
                    MicroVmState running = created.microvm().withRelay(relay).withStarted();
                    try (AgentClient agent = agent(running)) {
                        agent.start(0); // the agent holds the output until the relay is connected
                    } catch (VmmException e) {
                        destroy(store, id, runDir);
                        throw failure(id, e);
                    }
                    store.save(created.withStatus(Status.RUNNING).withMicrovm(running));
                    observer.booted(id, running);
                    poststart(created, relay);
                    return new Outcome.Go();
                });
    }

    /**
     * A later container of a Kubernetes pod ({@link MicroVmPod}): it runs inside its sandbox's VM
     * as process N of that guest (numbered as execs are), with its rootfs and volumes bind-mounted
     * into the pod's share, namespaces of its own but the pod's network and IPC, and a guest cgroup
     * with its limits. A sandbox Vessel does not know, or whose VM has gone, fails the create in
     * one line with nothing left.
     */
    private Outcome createInPod(Context context, SandboxRecord record, CreateSpec spec, MicroVmPod.Annotations pod) {
        String id = spec.id();
        BundleConfig config = spec.config();
        OciSpec oci = config.spec();
        JsonNode tree = config.tree();
        SandboxStore store = context.store();
        String sid = pod.sandboxId();
        SandboxRecord sandbox = store.load(sid).orElse(null);
        if (sandbox == null || sandbox.isolation() != Isolation.MICROVM || sandbox.microvm() == null
                || sandbox.microvm().pod() == null || sandbox.microvm().pod().member()) {
            throw new OciException("container \"" + id + "\": its pod's sandbox \"" + sid + "\" (annotation " + pod.sandboxKey()
                    + ") is no microVM pod sandbox that Vessel knows" + (sandbox == null ? "" : " (it is a " + sandbox.isolation().label()
                    + (sandbox.microvm() != null && sandbox.microvm().podMember() ? " pod's container" : " sandbox without a pod") + ")"));
        }
        MicroVmState box = sandbox.microvm();
        if (!alive(box.qemuPid())) {
            throw new OciException("container \"" + id + "\": its pod's sandbox \"" + sid + "\" has stopped (its microVM is gone)");
        }
        if (oci.process() != null && oci.process().terminal()) {
            throw new OciException("container \"" + id + "\": process.terminal is not supported for a pod's container in a microVM");
        }
        Path rootfs = config.rootfs().toAbsolutePath().normalize();
        MicroVmPod.Plan plan = MicroVmPod.plan(id, oci.mounts(), rootfs);
        if (!plan.ignored().isEmpty()) {
            Log.info("microvm " + id + ": mount options that cannot apply in a guest, ignored: " + String.join("; ", plan.ignored()));
        }
        GuestProcess process = GuestProcess.fromOci(tree.path("process"));
        GuestLinux linux = guestLinux(id, tree);
        OciHooks.logUnsupported(id, tree);
        OciSpec.Resources resources = oci.linux().resources();
        Path runDir = Path.of(box.runDir());
        Path share = Path.of(box.pod().share());
        int n;
        try {
            n = nextProcess(runDir, box.execs());
        } catch (IOException e) {
            throw new OciException("container \"" + id + "\": its pod's sandbox \"" + sid + "\": " + e.getMessage());
        }
        String root = MicroVmPod.ROOTS + "/" + id;
        List<String> made = new ArrayList<>();
        MicroVmState vm = new MicroVmState(runDir.toString(), box.memoryMib(), box.vcpus(), box.accelerator(), box.qemuPid(), 0,
                false, 0, tree.path("process"), null, null, null, box.kernel(), box.initrd(), box.bootArgs(), null,
                new MicroVmState.Pod(sid, n, share.toString(), made));
        Path port = runDir.resolve(QemuCommand.processSocket(n));
        record = record.withStatus(Status.CREATING).withMicrovm(vm);
        try {
            store.save(record); // first: a failure from here on, or a daemon gone, undoes what the record lists
            MicroVmPod.bind(share, root, rootfs);
            made.add(root);
            for (var bind : plan.binds().entrySet()) {
                MicroVmPod.bind(share, bind.getKey(), bind.getValue());
                made.add(bind.getKey());
            }
            record = record.withMicrovm(vm.withPod(new MicroVmState.Pod(sid, n, share.toString(), made)));
            store.save(record);
            dev.vessel.linux.CgroupDir host = MicroVmCgroups.container(tree);
            if (host != null) { // the relay's, as for a microVM of its own: what engines read there is the container's limit
                host.create();
                MicroVmCgroups.applyCpu(host, resources.cpu().quota(), resources.cpu().period(), resources.cpu().shares());
                if (resources.memory().limit() != null) MicroVmCgroups.applyMemory(host, resources.memory().limit());
            }
            final int number = n;
            withNewPort(id, box, n, port, agent -> agent.container(number, root,
                    ownUts(oci) ? (oci.hostname() == null ? "" : oci.hostname()) : null,
                    MicroVmPod.sharesPids(oci), plan.mounts(),
                    new AgentClient.Limits(resources.memory().limit(), resources.cpu().quota(), resources.cpu().period()),
                    linux, process));
        } catch (Qmp.NoFreePort e) {
            removeMember(store, record.withMicrovm(record.microvm().withPod(new MicroVmState.Pod(sid, n, share.toString(), made))));
            throw new OciException("container \"" + id + "\": its pod's microVM has no free port for another process: "
                    + ExecPorts.CAPACITY + " execs and pod containers are running in it, as many as it takes at once");
        } catch (IOException | VmmException | RuntimeException e) {
            removeMember(store, record.withMicrovm(record.microvm().withPod(new MicroVmState.Pod(sid, n, share.toString(), made))));
            if (e instanceof OciException known) throw known;
            throw new OciException("container \"" + id + "\": in its pod's microVM: " + e.getMessage());
        }
        SandboxRecord created = record.withStatus(Status.CREATED);
        store.save(created);
        Log.info("microvm " + id + ": a container of the pod " + sid + ", process " + n + " of its VM");
        if (!spec.foreground()) {
            return new Outcome.Relay(port.toString(), nonNull(spec.pidFile()), nonNull(spec.consoleSocket()), false, true,
                    List.of(), relay -> {
                        MicroVmCgroups.joinContainer(runDir, tree, relay);
                        SandboxRecord relayed = created.withMicrovm(created.microvm().withRelay(relay));
                        store.save(relayed);
                        return spec.run() ? start(context, relayed) : Outcome.ok();
                    });
        }
        List<String> remove = new ArrayList<>(context.globalArgs());
        remove.addAll(List.of("delete", "--force", id));
        return new Outcome.Relay(port.toString(), nonNull(spec.pidFile()), nonNull(spec.consoleSocket()), false, false,
                remove, relay -> {
                    MicroVmCgroups.joinContainer(runDir, tree, relay);
                    MicroVmState running = created.microvm().withRelay(relay).withStarted();
                    try (AgentClient agent = agent(running)) {
                        agent.start(n);
                    } catch (VmmException e) {
                        removeMember(store, created);
                        throw failure(id, e);
                    }
                    store.save(created.withStatus(Status.RUNNING).withMicrovm(running));
                    poststart(created, relay);
                    return new Outcome.Go();
                });
    }

    /**
     * Removes a pod's container: its processes and guest cgroup (when the VM still runs), its
     * port, what it mounted in the pod's share, its host cgroup, its record. The VM stays.
     */
    private static void removeMember(SandboxStore store, SandboxRecord record) {
        MicroVmState vm = record.microvm();
        MicroVmState.Pod pod = vm.pod();
        if (alive(vm.qemuPid())) {
            try (AgentClient agent = agent(vm)) {
                agent.remove(pod.process());
            } catch (VmmException e) {
                Log.info("microvm " + record.id() + " cleanup in its pod's guest: " + e.getMessage());
            }
            try (Qmp qmp = qmp(vm)) {
                qmp.removeProcessPort(pod.process());
            } catch (VmmException e) {
                Log.info("microvm " + record.id() + " cleanup of its port: " + e.getMessage());
            }
        }
        Path share = Path.of(pod.share());
        for (String rel : pod.mounts().reversed()) MicroVmPod.unbind(share, rel);
        try {
            JsonNode config = bundleConfig(record);
            dev.vessel.linux.CgroupDir host = config == null ? null : MicroVmCgroups.container(config);
            if (host != null) host.remove();
        } catch (IOException | RuntimeException e) {
            Log.info("microvm " + record.id() + " cleanup of its cgroup: " + e.getMessage());
        }
        store.remove(record.id());
    }

    /** Whether the spec asks for a UTS namespace of its own (none named by path); Kubernetes' containers join the pod's. */
    static boolean ownUts(OciSpec oci) {
        return oci.linux().namespaces().stream().anyMatch(ns -> ns.type().equals("uts") && (ns.path() == null || ns.path().isEmpty()));
    }

    /** The process of the guest that is this container's: 0, or a pod's container's number. */
    private static int processOf(MicroVmState vm) {
        return vm.podMember() ? vm.pod().process() : 0;
    }

    /**
     * The next process number of the VM in {@code runDir} (its execs' and its pod's containers'
     * ports and processes), above {@code atLeast}; kept in the run dir under a file lock.
     */
    static int nextProcess(Path runDir, int atLeast) throws IOException {
        Path file = runDir.resolve("processes");
        // not through a link: a jailed QEMU can write in the run dir (JailIds#openTo)
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(file,
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.READ,
                java.nio.file.StandardOpenOption.WRITE, java.nio.file.LinkOption.NOFOLLOW_LINKS);
                java.nio.channels.FileLock lock = channel.lock()) {
            java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocate(32);
            channel.read(buffer, 0);
            String text = new String(buffer.array(), 0, buffer.position(), java.nio.charset.StandardCharsets.US_ASCII).strip();
            int last = text.isEmpty() ? 0 : Integer.parseInt(text);
            int n = Math.max(last, atLeast) + 1;
            channel.truncate(0);
            channel.write(java.nio.ByteBuffer.wrap((n + "\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII)), 0);
            return n;
        } catch (NumberFormatException e) {
            throw new IOException("its process counter " + file + " is not a number");
        }
    }

    /**
     * What the guest applies of the config beyond the process and the mounts, checked before
     * anything is made: a value that cannot apply fails the create in one line naming it.
     * Capability names the guest does not know are ignored with a line in the log, as runc warns.
     */
    static GuestLinux guestLinux(String id, JsonNode tree) {
        List<String> unknown = dev.vessel.vmm.Capabilities.unknown(tree.path("process").get("capabilities"));
        if (!unknown.isEmpty()) Log.info("microvm " + id + ": unknown capabilities, ignored: " + String.join(", ", unknown));
        try {
            byte[] filter = tree.path("linux").hasNonNull("seccomp") ? SeccompBpf.compile(tree.path("linux").path("seccomp")) : null;
            GuestLinux linux = GuestLinux.fromOci(tree, filter);
            linux.lines();
            return linux;
        } catch (IllegalArgumentException e) {
            throw new OciException("container \"" + id + "\": " + e.getMessage());
        }
    }

    /** A QEMU that a dead daemon's create started, and its network redirects, go with the record. */
    @Override
    public void abandon(Context context, SandboxRecord record) {
        if (record.microvm() != null && record.microvm().podMember()) {
            removeMember(context.store(), record);
            return;
        }
        if (record.microvm() != null) kill(record.microvm().qemuPid());
        destroy(context.store(), record.id(), record.microvm() == null ? runDir(context.store().root(), record.id())
                : runDir(record));
    }

    @Override
    public Outcome start(Context context, SandboxRecord record) {
        Status status = status(record);
        if (status == Status.RUNNING && context.retried()) return Outcome.ok(); // this start, done before its daemon died
        if (!status.canStart()) {
            throw new OciException("container \"" + record.id() + "\" is " + status.label() + ", not created: cannot start it");
        }
        try (AgentClient agent = agent(record.microvm())) {
            agent.start(processOf(record.microvm()));
        } catch (VmmException e) {
            throw failure(record.id(), e);
        }
        context.store().save(record.withStatus(Status.RUNNING).withMicrovm(record.microvm().withStarted()));
        poststart(record, record.microvm().relayPid());
        return Outcome.ok();
    }

    /**
     * Boots the guest under the accelerator the verdict gives (measuring it first, once per host
     * configuration, with progress lines in the daemon's log) and waits for the agent's READY.
     * Under KVM with a deadline: a guest that misses it is booted again under TCG, once, and when
     * it comes up so the verdict flips (said in the daemon's log). Each boot's QEMU is recorded.
     */
    private AgentClient bootToReady(Context context, SandboxStore store, SandboxRecord record, Path rootfs, GuestNetwork network,
            List<QemuCommand.Share> shares, List<String> placement) throws IOException, VmmException {
        String id = record.id();
        Path runDir = runDir(record);
        // progress to the daemon's log, and to a caller on a terminal: an engine's create (stderr a
        // pipe) must print nothing but its one error line (vessel assets build shows it on stderr)
        AcceleratorSelector.Choice choice = accelerators.choose(line -> {
            Log.info("microvm " + id + ": " + line);
            context.progress(line);
        });
        // a pod's VM too: its templates have the pod's share (empty, unmounted: the clone's is attached
        // at CREATE); a jailed clone too (its template's RAM sealed, see #jail)
        boolean templated = templates != null;
        if (templated) {
            AgentClient cloned = fromTemplate(store, record, rootfs, network, shares, placement, choice.kind());
            if (cloned != null) return cloned;
        }
        try {
            // QEMU's start (bounded by the deadline too), then the deadline for READY, as the boot timeout always was
            store.save(record.withMicrovm(boot(runDir, rootfs, record.microvm(), network, shares, placement, choice.kind(),
                    choice.deadline(), null)));
            AgentClient agent = AgentClient.connect(runDir.resolve(QemuCommand.AGENT_SOCKET), choice.deadline());
            if (templated) {
                VmTemplates.Layout layout = layout(record.microvm(), choice.kind(), network == null ? 0 : network.qemuNics().size(),
                        shares);
                makeTemplateLater(layout, templates.inputs(layout, tscKhz, sandbox));
            }
            return agent;
        } catch (IOException | VmmException e) {
            if (!choice.fallBack()) throw e;
            String why = "no READY within " + choice.deadline().toMillis() + " ms: " + e.getMessage();
            Log.info("microvm " + id + ": under KVM, " + why + "; booting it again under TCG");
            stopQemu(runDir);
            AgentClient agent;
            try {
                store.save(record.withMicrovm(boot(runDir, rootfs, record.microvm(), network, shares, placement,
                        Accelerator.Kind.TCG, bootTimeout, null)));
                agent = AgentClient.connect(runDir.resolve(QemuCommand.AGENT_SOCKET), bootTimeout);
            } catch (IOException | VmmException again) {
                // not KVM's fault, then: the verdict stays
                Log.info("microvm " + id + ": under TCG too: " + again.getMessage());
                throw again;
            }
            Log.info("microvm " + id + ": " + accelerators.kvmFailed(why));
            return agent;
        }
    }

    /**
     * The guest restored from the template for its layout, its agent told it is a clone (clock,
     * entropy, MACs, its rootfs mounted), or null: no template fits (one is then made in the
     * background for the next create), or restoring failed (said in the daemon's log; the template
     * is dropped, to be made again) and the caller boots cold.
     */
    private AgentClient fromTemplate(SandboxStore store, SandboxRecord record, Path rootfs, GuestNetwork network,
            List<QemuCommand.Share> shares, List<String> placement, Accelerator.Kind kind) {
        String id = record.id();
        Path runDir = runDir(record);
        MicroVmState vm = record.microvm();
        probeHost();
        List<QemuCommand.Nic> nics = network == null ? List.of() : network.qemuNics();
        VmTemplates.Layout layout = layout(vm, kind, nics.size(), shares);
        String inputs = templates.inputs(layout, tscKhz, sandbox);
        java.util.Optional<VmTemplates.Template> template;
        try {
            template = jailHelper != null ? templates.findSealed(layout, inputs) : templates.find(layout, inputs);
        } catch (IOException | RuntimeException e) {
            Log.info("microvm " + id + ": no template (" + e.getMessage() + "); booting cold");
            return null;
        }
        if (template.isEmpty()) return null; // made once this cold boot has shown that these assets boot
        long start = System.nanoTime();
        try {
            VmTemplates.Template t = template.get();
            store.save(record.withMicrovm(boot(runDir, rootfs, vm, network, shares, placement, kind, bootTimeout, t)));
            try (Qmp qmp = Qmp.connect(runDir.resolve(QemuCommand.QMP_SOCKET), Duration.ofSeconds(10))) {
                if (jailHelper != null) VmTemplates.restore(qmp, "fd:" + QemuCommand.Jail.STATE_FD, Duration.ofSeconds(30));
                else VmTemplates.restore(qmp, t.state(), Duration.ofSeconds(30));
            }
            AgentClient agent = AgentClient.connect(runDir.resolve(QemuCommand.AGENT_SOCKET), Duration.ofSeconds(20));
            try {
                byte[] entropy = new byte[64];
                new java.security.SecureRandom().nextBytes(entropy);
                agent.cloned(java.time.Instant.now(), entropy,
                        VmTemplates.macs(nics.stream().map(QemuCommand.Nic::mac).toList()));
            } catch (VmmException e) {
                agent.close();
                throw e;
            }
            Log.info("microvm " + id + ": restored from template " + t.key() + " (" + layout.describe() + ") in "
                    + (System.nanoTime() - start) / 1_000_000 + " ms");
            return agent;
        } catch (IOException | VmmException | RuntimeException e) {
            Log.info("microvm " + id + ": template " + template.get().key() + " (" + layout.describe() + ") did not restore: "
                    + e.getMessage() + "; dropped it, booting cold");
            stopQemu(runDir);
            templates.remove(template.get().key());
            return null;
        }
    }

    /**
     * A VM's device layout, as its template has it: a pod's sandbox has the pod's share after its
     * volume shares ({@code shares} holds both, the pod's last).
     */
    private static VmTemplates.Layout layout(MicroVmState vm, Accelerator.Kind kind, int nics, List<QemuCommand.Share> shares) {
        boolean pod = vm.pod() != null;
        return new VmTemplates.Layout(vm.memoryMib(), vm.vcpus(), kind, nics, shares.size() - (pod ? 1 : 0), pod);
    }

    private void makeTemplateLater(VmTemplates.Layout layout, String inputs) {
        String key = VmTemplates.key(inputs);
        if (!templatesMaking.add(key)) return;
        templateMaker.execute(() -> {
            try {
                makeTemplate(layout, line -> Log.info("templates: " + line));
            } catch (IOException | VmmException | RuntimeException e) {
                Log.info("templates: making one for " + layout.describe() + " failed: " + e.getMessage());
            } finally {
                templatesMaking.remove(key);
            }
        });
    }

    /**
     * The default layouts {@code vessel assets build} makes templates for: a container with no
     * memory or CPU limit, on loopback or with one NIC, without volumes, under the accelerator the
     * verdict gives. Others are made on first use.
     */
    public List<VmTemplates.Layout> defaultLayouts() {
        Accelerator.Kind kind = accelerators.choose(line -> { }).kind();
        int mib = guestMemoryMib(DEFAULT_MEMORY, assets.guestKernel());
        return List.of(new VmTemplates.Layout(mib, 1, kind, 0, 0), new VmTemplates.Layout(mib, 1, kind, 1, 0));
    }

    /** Templates for {@link #defaultLayouts} (those missing), stale ones removed; one line per template. Off: nothing. */
    public List<String> makeDefaultTemplates(java.util.function.Consumer<String> progress) throws IOException, VmmException {
        List<String> lines = new ArrayList<>();
        if (templates == null) return lines;
        probeHost();
        int pruned = templates.prune(tscKhz, sandbox);
        if (pruned > 0) lines.add("templates: removed " + pruned + " made for other guest assets or another QEMU");
        for (VmTemplates.Layout layout : defaultLayouts()) {
            String inputs = templates.inputs(layout, tscKhz, sandbox);
            if (templates.find(layout, inputs).isPresent()) {
                lines.add("template " + VmTemplates.key(inputs) + " (" + layout.describe() + "): up to date");
                continue;
            }
            long start = System.nanoTime();
            makeTemplate(layout, progress);
            lines.add("template " + VmTemplates.key(inputs) + " (" + layout.describe() + "): made in "
                    + (System.nanoTime() - start) / 1_000_000 + " ms");
        }
        return lines;
    }

    /**
     * Makes the template for {@code layout}: a guest booted with {@value QemuCommand#TEMPLATE_WORD}
     * (its agent mounts nothing) on an empty rootfs, NICs on no network and empty shares (the
     * devices are what counts), its RAM in a file on the ramfs (share=on); at READY, paused and its
     * device state saved; QEMU quit; kept by {@link VmTemplates#commit}.
     */
    private void makeTemplate(VmTemplates.Layout layout, java.util.function.Consumer<String> progress)
            throws IOException, VmmException {
        probeHost();
        String inputs = templates.inputs(layout, tscKhz, sandbox);
        String key = VmTemplates.key(inputs);
        synchronized (templates) {
            if (templates.find(layout, inputs).isPresent()) return;
            progress.accept("making the template " + key + " for " + layout.describe() + " ...");
            Path runDir = TEMPLATE_RUN_DIR.resolve(ProcessHandle.current().pid() + "-" + key.substring(0, 16));
            Path work = templates.workDir();
            Path memory = VmTemplates.memoryFile(work);
            Process watch = null;
            try {
                deleteTree(runDir);
                Files.createDirectories(runDir);
                // before QEMU: should this daemon die while it builds, the watch takes QEMU and the dirs down
                watch = watchBuild(runDir, work);
                Path rootfs = Files.createDirectories(work.resolve("rootfs"));
                List<QemuCommand.Share> shares = new ArrayList<>();
                for (int i = 0; i < layout.shares(); i++) {
                    shares.add(new QemuCommand.Share(GuestMounts.SHARE_TAG + i, Files.createDirectories(work.resolve("share" + i)),
                            false));
                }
                if (layout.pod()) { // as a sandbox's: tag and options as its clones' (the guest probed it), empty
                    shares.add(new QemuCommand.Share(MicroVmPod.SHARE_TAG, Files.createDirectories(work.resolve("pod")), false, true));
                }
                List<QemuCommand.Nic> nics = new ArrayList<>();
                for (int i = 0; i < layout.nics(); i++) nics.add(QemuCommand.Nic.unplugged(VmTemplates.mac(i)));
                MicroVmState vm = new MicroVmState(runDir.toString(), layout.memoryMib(), layout.vcpus(), null, 0, 0, false, 0,
                        null, null, null, null, null, null, null, null);
                MicroVmState booted = boot(runDir, rootfs, vm, nics, List.of(), shares, List.of(), layout.accelerator(), bootTimeout,
                        command -> command.memoryFile(memory, true).template(true));
                try (AgentClient ready = AgentClient.connect(runDir.resolve(QemuCommand.AGENT_SOCKET), bootTimeout)) {
                    ready.ps(); // answers: the agent serves requests
                }
                // Saved before the agent has seen us go, it would think its host still connected,
                // and say no READY to a clone's: wait for its console line.
                Path console = runDir.resolve(QemuCommand.CONSOLE_LOG);
                long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (!Files.readString(console).contains("control: host disconnected")) {
                    if (System.nanoTime() > end) throw new VmmException("the template's agent did not notice its host had gone");
                    sleep(10);
                }
                try (Qmp qmp = Qmp.connect(runDir.resolve(QemuCommand.QMP_SOCKET), Duration.ofSeconds(10))) {
                    VmTemplates.save(qmp, work.resolve("state"), Duration.ofSeconds(60));
                    try {
                        qmp.execute("quit");
                    } catch (VmmException gone) {
                        // QEMU may close QMP before it answers
                    }
                }
                for (int i = 0; i < 500 && alive(booted.qemuPid()); i++) sleep(10);
                kill(booted.qemuPid());
                sleep(200); // the `cat` writing the state file is QEMU's child, not waited for: let it finish
                templates.commit(inputs, work);
                templates.prune(tscKhz, sandbox);
                progress.accept("template " + key + " made");
            } finally {
                stopQemu(runDir);
                deleteTree(runDir);
                deleteTree(work);
                if (watch != null) unwatch(watch);
            }
        }
    }

    private void probeHost() {
        if (tscKhz == null) {
            sandbox = HostProbe.qemuSupportsSandbox(qemu);
            tscKhz = HostProbe.tscKhz();
        }
    }

    /** Kills a QEMU given up on and removes what it made in {@code runDir}, so that another can start there. */
    private static void stopQemu(Path runDir) {
        try {
            Path pidFile = runDir.resolve("qemu.pid");
            if (Files.exists(pidFile)) kill(Long.parseLong(Files.readString(pidFile).trim()));
            for (String f : List.of("qemu.pid", QemuCommand.AGENT_SOCKET, QemuCommand.QMP_SOCKET,
                    QemuCommand.processSocket(0), QemuCommand.CONSOLE_LOG)) {
                Files.deleteIfExists(runDir.resolve(f));
            }
        } catch (IOException | NumberFormatException e) {
            Log.info("microvm: stopping QEMU in " + runDir + ": " + e.getMessage());
        }
    }

    /**
     * Starts QEMU detached from us (it must outlive the daemon) under {@code kind}, through
     * {@code placement} (the argv prefix that puts it in its sandbox cgroup first, see
     * {@link MicroVmCgroups}); returns the state with its pid. QEMU must have set the VM up within
     * {@code deadline}.
     */
    private MicroVmState boot(Path runDir, Path rootfs, MicroVmState vm, GuestNetwork network, List<QemuCommand.Share> shares,
            List<String> placement, Accelerator.Kind kind, Duration deadline, VmTemplates.Template template) throws IOException {
        // QEMU opens (and so creates) its taps in the namespace it runs in: the container's.
        java.util.function.Consumer<QemuCommand> variant = template == null ? command -> { }
                : command -> command.memoryFile(template.memory(), false).incomingDefer(true).template(true);
        Path helper = jailHelper;
        if (helper != null) {
            long id = JailIds.allocate(runDir);
            JailIds.openTo(runDir, id);
            Files.createDirectories(JAIL_ROOT);
            Files.setPosixFilePermissions(JAIL_ROOT, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
            QemuCommand.Jail jail = new QemuCommand.Jail(helper, id, id, JAIL_ROOT);
            variant = variant.andThen(command -> command.jail(jail));
            if (template != null) variant = variant.andThen(command -> command.incomingState(template.state()));
        }
        return boot(runDir, rootfs, vm, network == null ? List.of() : network.qemuNics(),
                network == null ? List.of() : network.ns().enter(), shares, placement, kind, deadline, variant);
    }

    /**
     * As above with the NICs and the namespace prefix given, and {@code variant} applied to the
     * command last (a template's RAM file and kernel word, a clone's {@code -incoming}): the device
     * layout of a template and of its clones comes from this one place.
     */
    private MicroVmState boot(Path runDir, Path rootfs, MicroVmState vm, List<QemuCommand.Nic> nics, List<String> nsEnter,
            List<QemuCommand.Share> shares, List<String> placement, Accelerator.Kind kind, Duration deadline,
            java.util.function.Consumer<QemuCommand> variant) throws IOException {
        probeHost();
        QemuCommand command = QemuCommand.builder()
                .binary(qemu).memoryMib(vm.memoryMib()).vcpus(vm.vcpus()).accelerator(kind)
                .kernel(assets.kernel()).initrd(assets.initrd()).tscKhz(tscKhz)
                .rootfs(rootfs).stateDir(runDir).sandbox(sandbox)
                // update moves the guest's memory within its boot size; without deflate-on-oom the
                // ballooned pages leave MemTotal, so the guest sees the new limit as its size
                .extra("-device", "virtio-balloon-device,id=" + BALLOON_ID);
        shares.forEach(command::share); // the container's volumes
        nics.forEach(command::nic);
        variant.accept(command);
        List<String> argv = new ArrayList<>(placement);
        argv.addAll(nsEnter);
        argv.addAll(command.build());
        // -daemonize: QEMU returns once the VM is set up (so errors come back to create) and then
        // lives on in a session of its own. It does not go with -nographic.
        argv.replaceAll(a -> a.equals("-nographic") ? "-display" : a);
        argv.add(argv.indexOf("-display") + 1, "none");
        // jailed, vessel-jail detaches QEMU (its -daemonize forks after -sandbox spawn=deny)
        if (!command.jailed()) argv.add("-daemonize");
        argv.addAll(List.of("-pidfile", runDir.resolve("qemu.pid").toString()));
        Path log = runDir.resolve("qemu.log");
        Process process = Command.start(argv, ProcessBuilder.Redirect.to(log.toFile()));
        long wait = Math.min(deadline.toMillis(), TimeUnit.SECONDS.toMillis(60));
        try {
            if (!process.waitFor(wait, TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                throw new IOException("QEMU did not start within " + wait + " ms");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while QEMU started");
        }
        if (process.exitValue() != 0) {
            String why = Files.readAllLines(log).stream().filter(l -> !l.isBlank()).reduce((a, b) -> b).orElse("no output");
            throw new IOException("QEMU failed: " + why);
        }
        long pid = Long.parseLong(Files.readString(runDir.resolve("qemu.pid")).trim());
        // what Firecracker's API shows as the boot source
        return vm.withBoot(pid, assets.kernel().toString(), assets.initrd().toString(), command.kernelCmdline(),
                kind.qemuName);
    }

    /**
     * The network the guest takes over (see {@link GuestNetwork}), or null for loopback only: a
     * new, empty namespace (as for a container) or one with no usable interface (warned).
     */
    private static GuestNetwork network(String id, OciSpec oci, String made) throws IOException {
        for (OciSpec.Namespace ns : oci.linux().namespaces()) {
            if (ns.type().equals("network")) {
                String path = made != null ? made : ns.path() == null ? "" : ns.path();
                if (path.isEmpty()) return null;
                if (!Files.exists(Path.of(path))) {
                    throw new OciException("container \"" + id + "\": network namespace " + path + " does not exist");
                }
                GuestNetwork network = GuestNetwork.inspect(NetNs.at(Path.of(path)));
                if (network.isEmpty()) {
                    Log.info("microvm " + id + ": warning: network namespace " + path
                            + " has no usable interface: the guest has loopback only");
                    return null;
                }
                return network;
            }
        }
        Log.info("microvm " + id + ": warning: no network namespace (the host's network): a VM cannot share it, "
                + "the guest has loopback only");
        return null;
    }

    /** Whether the bundle asks for a new network namespace (no path): Docker's, whose hooks fill it. */
    private static boolean newNetns(OciSpec oci) {
        return oci.linux().namespaces().stream().anyMatch(n -> n.type().equals("network") && (n.path() == null || n.path().isEmpty()));
    }

    /**
     * A process that stands for the container during its create hooks, in its network namespace:
     * a new one (unshare), the bundle's (nsenter), or the host's when it names none.
     */
    private static Process netnsHolder(String id, OciSpec oci) throws IOException {
        String path = oci.linux().namespaces().stream().filter(n -> n.type().equals("network") && n.path() != null
                && !n.path().isEmpty()).map(OciSpec.Namespace::path).findFirst().orElse(null);
        boolean any = oci.linux().namespaces().stream().anyMatch(n -> n.type().equals("network"));
        List<String> argv = new ArrayList<>();
        if (path != null) argv.addAll(List.of(Tools.find("nsenter"), "--net=" + path, "--"));
        else if (any) argv.addAll(List.of(Tools.find("unshare"), "--net", "--"));
        argv.addAll(List.of(Tools.find("sleep"), "infinity"));
        Process p = Command.start(argv, ProcessBuilder.Redirect.DISCARD);
        // unshare and nsenter (without --pid) exec sleep: once /proc/PID is sleep, it is in the namespace
        for (int i = 0; i < 400 && p.isAlive(); i++) {
            try {
                if (Files.readString(Path.of("/proc/" + p.pid() + "/comm")).strip().equals("sleep")) return p;
            } catch (IOException e) {
                // gone: isAlive says so
            }
            sleep(5);
        }
        p.destroyForcibly();
        throw new OciException("container \"" + id + "\": could not make a process in its network namespace for its hooks");
    }

    /** The state a hook reads on its stdin. */
    private static OciState hookState(SandboxRecord record, long pid, String status) {
        return new OciState(OciState.SPEC_VERSION, record.id(), pid, status, record.bundle(), record.rootfs(), record.created(),
                record.owner(), record.annotations());
    }

    /** The bundle's config.json as it is now (poststart, poststop), or null when it cannot be read. */
    private static JsonNode bundleConfig(SandboxRecord record) {
        try {
            Path config = record.bundle() == null ? null : Path.of(record.bundle()).resolve("config.json");
            return config != null && Files.exists(config) ? BundleConfig.JSON.readTree(config.toFile()) : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private static void poststart(SandboxRecord record, long pid) {
        JsonNode config = bundleConfig(record);
        if (config != null && OciHooks.any(config, "poststart")) {
            OciHooks.runAndLog(record.id(), config, hookState(record, pid, "running"), "poststart");
        }
    }

    // ---- inspection ----

    /** The status from the running parts: the relay and QEMU alive, started, QEMU paused. */
    static Status status(SandboxRecord record) {
        MicroVmState vm = record.microvm();
        if (vm == null) return Status.STOPPED;
        if (record.status() == Status.CREATING) return Status.CREATING;
        if (!alive(vm.relayPid()) || !alive(vm.qemuPid())) return Status.STOPPED;
        if (!vm.started()) return Status.CREATED;
        try (Qmp qmp = qmp(vm)) {
            return "paused".equals(qmp.status()) ? Status.PAUSED : Status.RUNNING;
        } catch (VmmException | RuntimeException e) {
            return Status.RUNNING;
        }
    }

    @Override
    public OciState state(Context context, SandboxRecord record) {
        Status status = status(record);
        java.util.Map<String, String> annotations = new java.util.TreeMap<>(record.annotations());
        Path api = runDir(record).resolve("api.sock");
        if (Files.exists(api)) annotations.put("dev.vessel.api-socket", api.toString());
        annotations.put(Isolation.ANNOTATION, Isolation.MICROVM.label());
        return new OciState(OciState.SPEC_VERSION, record.id(), status.isAlive() ? record.microvm().relayPid() : 0,
                status.label(), record.bundle(), record.rootfs(), record.created(), record.owner(), annotations);
    }

    @Override
    public Outcome stateOutcome(Context context, SandboxRecord record) {
        try {
            return Outcome.print(BundleConfig.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(state(context, record)) + "\n");
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public Outcome ps(Context context, SandboxRecord record, String format, List<String> psArgs, List<String> passThrough) {
        if (!status(record).isAlive()) throw new OciException("container \"" + record.id() + "\" is not running");
        MicroVmState vm = record.microvm();
        // The host's pids of the container's processes are their relays (engines map execs by them).
        List<Long> pids = new ArrayList<>();
        pids.add(vm.relayPid());
        vm.execRelays().stream().filter(MicroVmDriver::alive).forEach(pids::add);
        if ("json".equals(format)) {
            return Outcome.print(pids.toString().replace(" ", "") + "\n");
        }
        StringBuilder out = new StringBuilder("PID\n");
        pids.forEach(p -> out.append(p).append('\n'));
        try (AgentClient agent = agent(vm)) {
            out.append("# in the guest:\n").append(guestTable(agent.top()));
        } catch (VmmException e) {
            throw failure(record.id(), e);
        }
        return Outcome.print(out.toString());
    }

    /** The guest's processes as ps shows them: UID PID PPID STAT RSS TIME CMD (RSS in KiB, TIME as m:ss). */
    static String guestTable(List<GuestStats.Process> processes) {
        StringBuilder out = new StringBuilder(String.format("%5s %5s %5s %-4s %8s %7s %s%n", "UID", "PID", "PPID", "STAT", "RSS",
                "TIME", "CMD"));
        for (GuestStats.Process p : processes) {
            long seconds = p.cpuNs() / 1_000_000_000L;
            out.append(String.format("%5d %5d %5d %-4s %8d %4d:%02d %s%n", p.uid(), p.pid(), p.ppid(), p.state(),
                    p.rssBytes() / 1024, seconds / 60, seconds % 60, p.command()));
        }
        return out.toString();
    }

    // ---- signals, pause, delete ----

    @Override
    public Outcome kill(Context context, SandboxRecord record, int signal, boolean all, List<String> passThrough) {
        Status status = status(record);
        // runc's words: containerd's shim takes a kill error holding "container not running" as
        // "already gone" (StopPodSandbox of a pod whose pause has exited must succeed)
        if (!status.canKill()) throw new OciException("cannot kill container \"" + record.id() + "\": container not running");
        try (AgentClient agent = agent(record.microvm())) {
            agent.kill(processOf(record.microvm()), signal, all);
        } catch (VmmException e) {
            throw failure(record.id(), e);
        }
        return Outcome.ok();
    }

    @Override
    public Outcome pause(Context context, SandboxRecord record, List<String> passThrough) {
        return pause(record, true);
    }

    @Override
    public Outcome resume(Context context, SandboxRecord record, List<String> passThrough) {
        return pause(record, false);
    }

    private Outcome pause(SandboxRecord record, boolean pause) {
        if (record.microvm() != null && record.microvm().podMember()) {
            throw new OciException("container \"" + record.id() + "\" runs in its pod's microVM with the pod's other containers: "
                    + (pause ? "pause" : "resume") + " the pod's sandbox \"" + record.microvm().pod().sandbox() + "\" instead");
        }
        Status status = status(record);
        if (pause ? !status.canPause() : !status.canResume()) {
            throw new OciException("container \"" + record.id() + "\" is " + status.label() + ", not "
                    + (pause ? "running" : "paused"));
        }
        try (Qmp qmp = qmp(record.microvm())) {
            qmp.execute(pause ? "stop" : "cont");
        } catch (VmmException e) {
            throw failure(record.id(), e);
        }
        return Outcome.ok();
    }

    @Override
    public Outcome delete(Context context, SandboxRecord record, boolean force, List<String> passThrough) {
        Status status = status(record);
        if (!force && !status.canDelete()) {
            throw new OciException("cannot delete container " + record.id() + " that is not stopped: " + status.label());
        }
        MicroVmState vm = record.microvm();
        if (vm != null && vm.podMember()) {
            if (vm.relayPid() != context.clientPid()) kill(vm.relayPid());
            vm.execRelays().forEach(MicroVmDriver::kill);
            removeMember(context.store(), record);
            JsonNode config = bundleConfig(record);
            if (config != null && OciHooks.any(config, "poststop")) {
                OciHooks.runAndLog(record.id(), config, hookState(record, 0, "stopped"), "poststop");
            }
            return Outcome.ok();
        }
        if (vm != null) {
            // a foreground run's relay asks for its own sandbox's removal: it is not to be killed
            if (vm.relayPid() != context.clientPid()) kill(vm.relayPid());
            vm.execRelays().forEach(MicroVmDriver::kill);
            kill(vm.qemuPid());
        }
        Path runDir = vm == null ? runDir(context.store().root(), record.id()) : runDir(record);
        if (!destroy(context.store(), record.id(), runDir)) {
            throw new OciException("container \"" + record.id() + "\": its run dir " + runDir
                    + " could not be removed (the daemon's log says why): delete it again");
        }
        JsonNode config = bundleConfig(record);
        if (config != null && OciHooks.any(config, "poststop")) {
            OciHooks.runAndLog(record.id(), config, hookState(record, 0, "stopped"), "poststop");
        }
        return Outcome.ok();
    }

    // ---- exec ----

    @Override
    public Outcome exec(Context context, SandboxRecord record, ExecSpec spec) {
        if (!status(record).canExec()) throw new OciException("container \"" + record.id() + "\" is not running");
        boolean tty = spec.process().path("terminal").asBoolean(false);
        int n;
        try {
            n = nextProcess(runDir(record), record.microvm().execs()); // a pod's containers share the VM's numbers
        } catch (IOException e) {
            throw new OciException("container \"" + record.id() + "\": exec: " + e.getMessage());
        }
        SandboxStore store = context.store();
        store.save(record.withMicrovm(record.microvm().withExecs(n)));
        MicroVmState vm = record.microvm();
        Path port = runDir(record).resolve(QemuCommand.processSocket(n));
        try {
            withNewPort(record.id(), vm, n, port, agent -> agent.exec(n, processOf(vm), GuestProcess.fromOci(spec.process())));
        } catch (Qmp.NoFreePort e) {
            throw new OciException("container \"" + record.id() + "\": exec: its microVM has no free port for another process: "
                    + ExecPorts.CAPACITY + " execs and pod containers are running in it, as many as it takes at once");
        } catch (VmmException e) {
            throw failure(record.id(), e);
        }
        return new Outcome.Relay(port.toString(), nonNull(spec.pidFile()), nonNull(spec.consoleSocket()), tty, spec.detach(),
                List.of(), relay -> {
                    if (!spec.detach()) return new Outcome.Go();
                    try (SandboxStore.Lock lock = store.lock(record.id())) {
                        store.load(record.id()).ifPresent(now -> store.save(now.withMicrovm(now.microvm().withExecRelay(relay))));
                    }
                    return Outcome.ok();
                });
    }

    /** What makes the agent hold a new process on its port (EXEC, CONTAINER). */
    private interface PortUser {
        void use(AgentClient agent) throws VmmException;
    }

    /**
     * Locks over a new port's whole making, a VM's always the same one (by its run dir; a fixed set,
     * so nothing grows with the VMs a daemon has seen): no reclaim may take a port the agent does not hold yet.
     */
    private static final Object[] PORT_LOCKS = java.util.stream.Stream.generate(Object::new).limit(64).toArray();

    /**
     * Hot-adds process n's port once the ports of processes that are done are removed (so the
     * controller's 31 slots are reused, see {@link ExecPorts}), then has the agent take the process
     * ({@code user}); if that fails, the port goes again. Under the VM's port lock throughout.
     */
    private static void withNewPort(String id, MicroVmState vm, int n, Path port, PortUser user) throws VmmException {
        synchronized (PORT_LOCKS[Math.floorMod(vm.runDir().hashCode(), PORT_LOCKS.length)]) {
            try (Qmp qmp = qmp(vm); AgentClient agent = agent(vm)) {
                reclaimPorts(id, Path.of(vm.runDir()), qmp, agent);
                qmp.addProcessPort(n, port);
                try {
                    user.use(agent);
                } catch (VmmException | RuntimeException e) {
                    try {
                        qmp.removeProcessPort(n);
                    } catch (VmmException again) {
                        Log.info("microvm " + id + ": removing the port of process " + n + " that did not start: " + again.getMessage());
                    }
                    throw e;
                }
            }
        }
    }

    /**
     * Removes the ports of the VM's processes that are done (ended, drained, relay gone), read live
     * from QEMU and the agent, so a daemon restarted meanwhile leaks none. An agent older than
     * PROCS leaves them (one line in the log).
     */
    private static void reclaimPorts(String id, Path runDir, Qmp qmp, AgentClient agent) throws VmmException {
        java.util.Set<Integer> held;
        try {
            held = agent.processes();
        } catch (VmmException e) {
            Log.info("microvm " + id + ": ports of ended execs not reclaimed (rebuild the assets for an agent with PROCS): " + e.getMessage());
            return;
        }
        for (int done : ExecPorts.reclaimable(qmp.processPorts(), held)) {
            qmp.removeProcessPort(done);
            try {
                Files.deleteIfExists(runDir.resolve(QemuCommand.processSocket(done)));
            } catch (IOException e) {
                Log.info("microvm " + id + ": " + e.getMessage());
            }
        }
    }

    /** The container's own process, as the base of an exec given on the command line (env, user, cwd). */
    public static ObjectNode defaultProcess(SandboxRecord record) {
        ObjectNode process = record.microvm().process().deepCopy();
        // its capabilities stay, as runc's exec keeps them (--cap adds to them)
        process.remove(List.of("args", "terminal", "consoleSize", "rlimits"));
        return process;
    }

    /**
     * CPU quota, period and shares go to the sandbox cgroup (QEMU's vCPU threads) and the
     * container's; memory moves within the boot size through the balloon (and the container
     * cgroup's limit follows); anything else is refused, naming it, before anything changes.
     */
    @Override
    public Outcome update(Context context, SandboxRecord record, List<String> options,
            com.fasterxml.jackson.databind.node.ObjectNode resources) {
        if (!status(record).isAlive()) throw new OciException("container \"" + record.id() + "\" is not running");
        MicroVmState vm = record.microvm();
        MicroVmCgroups.OciLimits limits = MicroVmUpdate.parse(record.id(), options, resources);
        if (vm.podMember()) return updateInPod(record, limits);
        Long balloonBytes = null;
        if (limits.memory() != null) {
            long boot = (long) vm.memoryMib() << 20;
            GuestKernel kernel = assets.guestKernel();
            long target = limits.memory() <= 0 ? boot : (long) guestMemoryMib(limits.memory(), kernel) << 20;
            if (target > boot) {
                throw new OciException("update of microvm container \"" + record.id() + "\": --memory " + limits.memory()
                        + " is more than it booted with (" + bootLimitBytes(vm.memoryMib(), kernel) + " bytes): a VM's memory only shrinks"
                        + " and grows back within its boot size");
            }
            balloonBytes = target;
        }
        Path runDir = runDir(record);
        try {
            if (balloonBytes != null) {
                try (Qmp qmp = qmp(vm)) {
                    qmp.execute("balloon", java.util.Map.of("value", balloonBytes));
                }
            }
            if (limits.cpuQuota() != null || limits.cpuPeriod() != null || limits.cpuShares() != null) {
                if (!Files.exists(runDir.resolve(MicroVmCgroups.FILE))) {
                    throw new OciException("update of microvm container \"" + record.id()
                            + "\": its QEMU has no cgroup of its own (started by an older vesseld): CPU limits cannot be set");
                }
                MicroVmCgroups.applyCpu(MicroVmCgroups.sandbox(runDir), limits.cpuQuota(), limits.cpuPeriod(), limits.cpuShares());
            }
            var container = record.bundle() == null ? null : containerCgroup(record);
            if (container != null && Files.isDirectory(container.dirs().getFirst())) {
                MicroVmCgroups.applyCpu(container, limits.cpuQuota(), limits.cpuPeriod(), limits.cpuShares());
                if (limits.memory() != null) MicroVmCgroups.applyMemory(container, limits.memory());
            }
        } catch (VmmException e) {
            throw failure(record.id(), e);
        } catch (IOException e) {
            throw new OciException("update of microvm container \"" + record.id() + "\": " + e.getMessage());
        }
        return Outcome.ok();
    }

    /**
     * update of a pod's container (CRI's UpdateContainerResources): its guest cgroup takes the new
     * memory.max and cpu.max, which the guest kernel holds (the VM's size stays the pod's), and
     * its host cgroup (the relay's, what engines read) the same limits. What is not given stays.
     */
    private Outcome updateInPod(SandboxRecord record, MicroVmCgroups.OciLimits limits) {
        MicroVmState vm = record.microvm();
        try {
            if (limits.memory() != null || limits.cpuQuota() != null || limits.cpuPeriod() != null) {
                try (AgentClient agent = agent(vm)) {
                    agent.updateLimits(vm.pod().process(), limits.memory(), limits.cpuQuota(), limits.cpuPeriod());
                }
            }
            var host = record.bundle() == null ? null : containerCgroup(record);
            if (host != null && Files.isDirectory(host.dirs().getFirst())) {
                MicroVmCgroups.applyCpu(host, limits.cpuQuota(), limits.cpuPeriod(), limits.cpuShares());
                if (limits.memory() != null) MicroVmCgroups.applyMemory(host, limits.memory());
            }
        } catch (VmmException e) {
            throw failure(record.id(), e);
        } catch (IOException e) {
            throw new OciException("update of microvm container \"" + record.id() + "\": " + e.getMessage());
        }
        return Outcome.ok();
    }

    /** The largest --memory whose guest RAM fits in memoryMib (the inverse of {@link #guestMemoryMib}). */
    static long bootLimitBytes(int memoryMib, GuestKernel kernel) {
        long mib = (memoryMib - kernel.reservedMib()) * 64L / 65;
        while (guestMemoryMib((mib + 1) << 20, kernel) <= memoryMib) mib++;
        return mib << 20;
    }

    private static dev.vessel.linux.CgroupDir containerCgroup(SandboxRecord record) {
        try {
            Path config = Path.of(record.bundle()).resolve("config.json");
            if (!Files.exists(config)) return null;
            return MicroVmCgroups.container(BundleConfig.JSON.readTree(config.toFile()));
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** The guest's statistics in runc's event shape ({@link MicroVmEvents}); an "oom" event when the guest kernel OOM-kills. */
    @Override
    public Outcome events(Context context, SandboxRecord record, boolean once, Duration interval) {
        if (!status(record).isAlive()) throw new OciException("container \"" + record.id() + "\" is not running");
        MicroVmState vm = record.microvm();
        String id = record.id();
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        GuestStats first = guestStats(id, vm); // a guest that cannot answer fails here, in one line
        return new Outcome.Stream(out -> {
            GuestStats stats = first;
            long ooms = first.oomKills();
            while (true) {
                if (stats.oomKills() > ooms) {
                    out.line(json.writeValueAsString(json.createObjectNode().put("type", "oom").put("id", id)));
                    ooms = stats.oomKills();
                }
                ObjectNode event = json.createObjectNode().put("type", "stats").put("id", id);
                event.set("data", MicroVmEvents.stats(stats, MicroVmEvents.QemuCost.of(vm.qemuPid(), runDir(record))));
                out.line(json.writeValueAsString(event)); // a client gone makes this fail, which ends the loop
                if (once) return 0;
                sleep(interval.toMillis());
                if (!alive(vm.qemuPid()) || Thread.currentThread().isInterrupted()) return 0;
                try {
                    stats = guestStats(id, vm);
                } catch (OciException e) {
                    if (!alive(vm.qemuPid())) return 0; // the VM ended meanwhile
                    throw e;
                }
            }
        });
    }

    /**
     * One sample of a running microVM's statistics, as {@code events --stats} prints its data
     * (runc's shape, the guest's numbers, QEMU's cost under {@code vessel}): for the management
     * API and metrics. A guest that does not answer throws an {@link OciException} saying so.
     */
    public static ObjectNode statsData(SandboxRecord record) {
        MicroVmState vm = record.microvm();
        return MicroVmEvents.stats(guestStats(record.id(), vm), MicroVmEvents.QemuCost.of(vm.qemuPid(), runDir(record)));
    }

    private static GuestStats guestStats(String id, MicroVmState vm) {
        try (AgentClient agent = agent(vm)) {
            return agent.stats(processOf(vm)); // a pod's container: its own guest cgroup's numbers
        } catch (VmmException e) {
            throw failure(id, e);
        }
    }

    // ---- after a daemon restart ----

    /** The records of the microVMs with a run dir: what a new daemon serves Firecracker's API for again. */
    public static List<SandboxRecord> records() {
        List<SandboxRecord> records = new ArrayList<>();
        if (!Files.isDirectory(RUN_DIR)) return records;
        try (var dirs = Files.newDirectoryStream(RUN_DIR)) {
            for (Path runDir : dirs) {
                try {
                    records.add(recordOf(runDir));
                } catch (IOException | RuntimeException e) {
                    Log.info("microvm in " + runDir + ": no record (" + e.getMessage() + ")");
                }
            }
        } catch (IOException e) {
            Log.info("cannot list " + RUN_DIR + ": " + e.getMessage());
        }
        return records;
    }

    /** The record that names {@code runDir} as its run dir (through the run dir's record file); throws when none does. */
    private static SandboxRecord recordOf(Path runDir) throws IOException {
        Path file = Path.of(Files.readString(runDir.resolve(RECORD_FILE)).strip());
        SandboxRecord record = BundleConfig.JSON.readValue(file.toFile(), SandboxRecord.class);
        if (record.microvm() == null || !runDir.toString().equals(record.microvm().runDir())) {
            throw new IOException(file + " names another run dir");
        }
        return record;
    }

    /** How long a run dir that no record names is left alone: create makes the dir a moment before it saves the record. */
    public static final Duration ORPHAN_MIN_AGE = Duration.ofMinutes(1);

    /**
     * At a daemon's start: removes the run dirs in {@code root} that no record names and whose QEMU
     * is gone (no {@code qemu.pid}, or its pid not alive), with the cgroups they list, one line in
     * the log for each; returns how many went. A run dir that was written to within
     * {@code minAge} is left: it may be a create of another daemon's, between making the dir and
     * saving the record. A dead daemon's sandbox always has a record (saved before QEMU starts),
     * so what this removes is what a delete cut short left (an older vesseld's foreground run
     * removed by the daemon as the client exited, a daemon stopped in the middle of it).
     */
    public static int removeOrphans(Path root, Duration minAge) {
        if (!Files.isDirectory(root)) return 0;
        int removed = 0;
        List<Path> dirs = new ArrayList<>();
        try (var stream = Files.newDirectoryStream(root, Files::isDirectory)) {
            stream.forEach(dirs::add);
        } catch (IOException e) {
            Log.info("cannot list " + root + ": " + e.getMessage());
            return 0;
        }
        long now = System.currentTimeMillis();
        for (Path runDir : dirs) {
            try {
                recordOf(runDir);
                continue; // named: a sandbox of its own, stopped or not, for delete to remove
            } catch (IOException | RuntimeException noRecord) {
                // an orphan, unless it is alive or new
            }
            try {
                long pid = qemuPid(runDir);
                if (alive(pid)) {
                    Log.info("microvm in " + runDir + ": no record, but its QEMU (pid " + pid + ") runs: left alone");
                    continue;
                }
                long age = now - lastWritten(runDir);
                if (age < minAge.toMillis()) continue; // maybe a create under way
                String was = describe(runDir);
                MicroVmCgroups.remove(runDir);
                // a pod's share goes with its VM (the mounts a cut-short delete left, detached first)
                if (!MicroVmPod.removeShare(MicroVmPod.shareDir(runDir))) continue;
                if (deleteTree(runDir)) {
                    removed++;
                    Log.info("microvm in " + runDir + ": removed: no record names it and its QEMU is gone"
                            + (pid > 0 ? " (pid " + pid + ")" : " (no qemu.pid)") + was);
                }
            } catch (IOException | RuntimeException e) {
                Log.info("microvm in " + runDir + ": not removed: " + e.getMessage());
            }
        }
        return removed;
    }

    /** The pid in the run dir's qemu.pid, 0 when there is none (QEMU removes it as it ends). */
    private static long qemuPid(Path runDir) throws IOException {
        Path file = runDir.resolve("qemu.pid");
        if (!Files.exists(file)) return 0;
        try {
            return Long.parseLong(Files.readString(file).strip());
        } catch (NumberFormatException e) {
            return 0; // QEMU writes it whole once set up: a partial one is a QEMU that never ran
        }
    }

    /** The newest modification time of the dir and its entries, in ms. */
    private static long lastWritten(Path dir) throws IOException {
        long last = Files.getLastModifiedTime(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS).toMillis();
        try (var entries = Files.list(dir)) {
            for (Path p : entries.toList()) {
                try {
                    last = Math.max(last, Files.getLastModifiedTime(p, java.nio.file.LinkOption.NOFOLLOW_LINKS).toMillis());
                } catch (IOException gone) {
                    return Long.MAX_VALUE; // changing now: not an orphan's
                }
            }
        }
        return last;
    }

    /** What the log says of a removed run dir: whose it was, as far as it says. */
    private static String describe(Path runDir) {
        for (String name : List.of(RECORD_FILE, "state-dir")) { // state-dir: an older vesseld's
            try {
                return ", " + name + " " + Files.readString(runDir.resolve(name)).strip();
            } catch (IOException | RuntimeException e) {
                // not this one
            }
        }
        return "";
    }

    // ---- helpers ----

    /**
     * Guest RAM for a memory limit: the limit plus what the guest kernel keeps for itself (its
     * image, page structures: {@link GuestKernel#reservedMib} and 1/64 of the RAM), so that
     * MemTotal in the guest is the limit.
     */
    static int guestMemoryMib(long limitBytes, GuestKernel kernel) {
        long limitMib = Math.max(16, (limitBytes + (1 << 20) - 1) >> 20);
        return (int) Math.min(Integer.MAX_VALUE, limitMib + kernel.reservedMib() + limitMib / 64);
    }

    private static String nonNull(String s) {
        return s == null ? "" : s;
    }

    private static OciException failure(String id, VmmException e) {
        return new OciException("container \"" + id + "\": " + e.getMessage());
    }

    /** Unix socket paths hold 107 bytes: container roots and 64-character ids do not fit, a hash does. */
    static Path runDir(Path root, String id) {
        return RUN_DIR.resolve(SandboxStore.hash(root + "/" + id));
    }

    private static Path runDir(SandboxRecord record) {
        return Path.of(record.microvm().runDir());
    }

    private static AgentClient agent(MicroVmState vm) throws VmmException {
        return AgentClient.attach(Path.of(vm.runDir()).resolve(QemuCommand.AGENT_SOCKET));
    }

    private static Qmp qmp(MicroVmState vm) throws VmmException {
        return Qmp.connect(Path.of(vm.runDir()).resolve(QemuCommand.QMP_SOCKET), Duration.ofSeconds(5));
    }

    /** Whether {@code pid} runs: a zombie does not (a QEMU killed whose reaper has not waited for it yet). */
    static boolean alive(long pid) {
        if (pid <= 0 || !ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) return false;
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            int close = stat.lastIndexOf(')');
            return close < 0 || close + 2 >= stat.length() || stat.charAt(close + 2) != 'Z';
        } catch (IOException e) {
            return false; // gone meanwhile
        }
    }

    private static void kill(long pid) {
        if (pid <= 0) return;
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        for (int i = 0; i < 200 && alive(pid); i++) sleep(10);
    }

    /**
     * Removes every trace of a microVM: QEMU (if still there), its network redirects, sockets,
     * files and, once its run dir is gone, its record; false (the record kept) when the run dir is not.
     */
    private boolean destroy(SandboxStore store, String id, Path runDir) {
        observer.destroyed(runDir);
        try {
            Path pidFile = runDir.resolve("qemu.pid");
            if (Files.exists(pidFile)) kill(Long.parseLong(Files.readString(pidFile).trim()));
        } catch (IOException | NumberFormatException e) {
            Log.info("microvm cleanup: " + e.getMessage());
        }
        MicroVmCgroups.remove(runDir);
        try {
            store.load(id).map(SandboxRecord::microvm).filter(vm -> vm.netns() != null)
                    .ifPresent(vm -> GuestNetwork.unplumb(NetNs.at(Path.of(vm.netns())), vm.redirected()));
        } catch (RuntimeException e) {
            Log.info("microvm " + id + " cleanup: " + e.getMessage());
        }
        // a pod's share: its mounts detached, then it goes (only once nothing is mounted there)
        if (!MicroVmPod.removeShare(MicroVmPod.shareDir(runDir))) return false;
        // a run dir left, the record is kept: it names the run dir, for a delete to try again
        if (!deleteTree(runDir)) return false;
        store.remove(id);
        return true;
    }

    /**
     * Removes {@code dir} and everything in it; true when it is gone. Entries may vanish meanwhile
     * (QEMU unlinks its sockets and pid file as it ends, the API server its socket), which aborts a
     * {@link Files#walk}: so a walk that fails is tried again, a few times.
     */
    static boolean deleteTree(Path dir) {
        IOException last = null;
        for (int attempt = 0; attempt < 5 && Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS); attempt++) {
            try (var paths = Files.walk(dir)) {
                for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            } catch (IOException e) {
                last = e;
            } catch (UncheckedIOException e) {
                last = e.getCause();
            }
            if (last != null && Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) sleep(20);
        }
        if (!Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return true;
        Log.info("cannot remove " + dir + ": " + (last == null ? "still there" : last.getClass().getSimpleName() + " " + last.getMessage()));
        return false;
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

    /**
     * The guest's own numbers through its agent, the source of {@code events --stats}, with
     * QEMU's cost apart ({@link SandboxStats#ofGuest}). A VM that is not running gives zeros and
     * the bundle's limit; a paused one, or a guest that cannot answer, throws an {@link
     * OciException} that says so (the metrics then keep its last numbers and mark them stale).
     */
    @Override
    public SandboxStats stats(Context context, SandboxRecord record) {
        return stats(context, record, null);
    }

    @Override
    public SandboxStats stats(Context context, SandboxRecord record, OciState state) {
        long limit = bundleMemoryLimit(record);
        MicroVmState vm = record.microvm();
        String status = state != null ? state.status() : status(record).label();
        if (vm == null || !alive(vm.qemuPid()) || !Set.of("created", "running", "paused").contains(status)) {
            return SandboxStats.none(SandboxStats.GUEST, limit);
        }
        if (status.equals("paused")) {
            // a paused guest's vCPUs do not run: its agent would answer only once resumed
            throw new OciException("container \"" + record.id() + "\" is paused: its guest cannot report until resumed");
        }
        GuestStats guest = guestStats(record.id(), vm);
        return SandboxStats.ofGuest(guest, limit,
                SandboxStats.VmmCost.of(MicroVmEvents.QemuCost.of(vm.qemuPid(), runDir(record))));
    }

    /** linux.resources.memory.limit of the bundle's config.json; 0 when none or unreadable. */
    static long bundleMemoryLimit(SandboxRecord record) {
        if (record.bundle() == null) return 0;
        try {
            Long limit = OciSpec.read(Path.of(record.bundle())).linux().resources().memory().limit();
            return limit != null && limit > 0 ? limit : 0;
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }
}
