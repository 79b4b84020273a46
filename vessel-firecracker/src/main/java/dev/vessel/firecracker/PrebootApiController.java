package dev.vessel.firecracker;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vessel.vmm.VmmException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Before the guest starts: builds the VM's configuration resource by resource, and starts QEMU on
 * InstanceStart (or from a snapshot), handing the VM over to a {@link RuntimeApiController}.
 * {@link VmmAction.PostBoot} actions are refused by their type.
 */
final class PrebootApiController implements ApiController {
    private final Vmm vmm;
    /** Anything but the logger and metrics configured: snapshot/load is refused then, as in Firecracker. */
    private boolean configured;

    PrebootApiController(Vmm vmm) {
        this.vmm = vmm;
    }

    @Override
    public Vmm.State state() {
        return Vmm.State.NOT_STARTED;
    }

    @Override
    public long qemuPid() {
        return -1;
    }

    @Override
    public Object handle(VmmAction action) throws ApiException {
        return switch (action) {
            case VmmAction.PostBoot a -> throw ApiException.badRequest(
                    "The requested operation is not supported before starting the microVM: " + a.endpoint() + " is post-boot only.");
            case VmmAction.PreBoot a -> {
                configure(a);
                yield null;
            }
            case VmmAction.AnyTime a -> anyTime(a);
        };
    }

    private void configure(VmmAction.PreBoot action) throws ApiException {
        VmConfig config = vmm.config;
        switch (action) {
            case VmmAction.ConfigureBootSource a -> {
                vmm.readable(a.bootSource().kernelImagePath(), "kernel_image_path");
                if (a.bootSource().initrdPath() != null) vmm.readable(a.bootSource().initrdPath(), "initrd_path");
                config.bootSource(a.bootSource());
            }
            case VmmAction.InsertBlockDevice a -> {
                vmm.readable(a.drive().pathOnHost(), "path_on_host");
                config.putDrive(a.drive());
            }
            case VmmAction.InsertNetworkDevice a -> config.putNetworkInterface(a.networkInterface());
            case VmmAction.SetMachineConfig a -> config.machine(a.machineConfig().over(Model.MachineConfiguration.DEFAULT));
            case VmmAction.UpdateMachineConfig a -> config.machine(a.machineConfig().over(config.machine()));
            case VmmAction.SetVsockDevice a -> {
                if (!Files.exists(vmm.env.vhostVsock())) {
                    throw ApiException.badRequest("field `uds_path`: vsock is not available on this host: " + vmm.env.vhostVsock()
                            + " is missing (modprobe vhost_vsock); Vessel's vsock needs vhost-vsock");
                }
                config.vsock(a.vsock());
            }
            case VmmAction.SetEntropyDevice a -> config.entropy(a.entropy());
            case VmmAction.SetBalloonDevice a -> {
                vmm.checkBalloonSize(a.balloon().amountMib());
                config.balloon(a.balloon());
            }
            case VmmAction.SetMmdsConfig a -> {
                config.mmdsConfig(a.mmdsConfig());
                vmm.mmds().configure(a.mmdsConfig());
            }
            case VmmAction.StartMicroVm a -> start();
            case VmmAction.LoadSnapshot a -> loadSnapshot(a.params());
        }
        if (!(action instanceof VmmAction.StartMicroVm || action instanceof VmmAction.LoadSnapshot)) configured = true;
    }

    private Object anyTime(VmmAction.AnyTime action) throws ApiException {
        VmConfig config = vmm.config;
        switch (action) {
            // before boot a balloon update only changes what QEMU will be given
            case VmmAction.UpdateBalloon a -> config.balloon(vmm.updatedBalloon(a.update()));
            case VmmAction.UpdateBalloonStatistics a -> config.balloon(vmm.updatedBalloonStats(a.update()));
            default -> {
                return vmm.anyTime(action, Vmm.State.NOT_STARTED);
            }
        }
        return null;
    }

    /** InstanceStart: QEMU from the configuration; the guest is the runtime controller's from here. */
    private void start() throws ApiException {
        VmConfig config = vmm.config;
        requireMmdsTools(config);
        List<String> argv = QemuMapping.argv(config, vmm.env.host().get());
        vmm.log().info("Starting QEMU: " + String.join(" ", argv));
        Machine machine;
        try {
            machine = vmm.env.launcher().launch(argv);
        } catch (VmmException e) {
            throw new ApiException(400, "Cannot start microvm: " + e.getMessage());
        }
        RuntimeApiController runtime = new RuntimeApiController(vmm, machine, Vmm.State.RUNNING, false);
        vmm.started(runtime);
        if (config.balloon() != null) runtime.inflateBootBalloon(config.balloon());
        vmm.log().info("Running " + vmm.id() + ": QEMU pid " + machine.pid());
    }

    /** MMDS hands the guest's connections to socat (QemuMapping#mmds). */
    private static void requireMmdsTools(VmConfig c) throws ApiException {
        if (c.mmdsConfig() == null || c.mmdsConfig().networkInterfaces().isEmpty()) return;
        if (Files.isExecutable(Path.of(dev.vessel.linux.Tools.find("socat")))) return;
        throw ApiException.badRequest("Cannot start microvm: MMDS needs socat on the host (apt-get install socat)");
    }

    /** PUT /snapshot/load, on a fresh microVM: QEMU starts from the state file's configuration and takes the memory file in. */
    private void loadSnapshot(Model.SnapshotLoadParams s) throws ApiException {
        if (configured) {
            throw ApiException.badRequest("Loading a microVM snapshot not allowed after configuring boot-specific resources.");
        }
        VmConfig config = vmm.config;
        Path mem = vmm.path(s.memoryFile());
        vmm.readable(mem.toString(), s.memFilePath() != null ? "mem_file_path" : "mem_backend.backend_path");
        VmConfig restored = Snapshot.read(vmm.path(s.snapshotPath()), vmm.mmds());
        if (s.networkOverrides() != null) {
            for (Model.NetworkOverride o : s.networkOverrides()) {
                Model.NetworkInterface n = restored.networkInterface(o.ifaceId());
                if (n == null) throw ApiException.badRequest("field `network_overrides`: no interface `" + o.ifaceId() + "` in the snapshot");
                restored.putNetworkInterface(new Model.NetworkInterface(n.ifaceId(), n.guestMac(),
                        o.hostDevName(), n.mtu(), n.rxRateLimiter(), n.txRateLimiter()));
            }
        }
        if (config.logger() != null) restored.logger(config.logger());
        if (config.metrics() != null) restored.metrics(config.metrics());
        requireMmdsTools(restored);
        List<String> argv = new ArrayList<>(QemuMapping.argv(restored, vmm.env.host().get()));
        argv.addAll(List.of("-S", "-incoming", "defer"));
        vmm.log().info("Restoring with QEMU: " + String.join(" ", argv));
        Machine m;
        try {
            m = vmm.env.launcher().launch(argv);
        } catch (VmmException e) {
            throw new ApiException(400, "Cannot load the snapshot: " + e.getMessage());
        }
        try {
            m.qmp("migrate-incoming", Map.of("uri", "exec:cat " + Vmm.shellQuote(mem.toString())));
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
        vmm.config = restored;
        RuntimeApiController runtime = new RuntimeApiController(vmm, m, Vmm.State.PAUSED, false);
        vmm.started(runtime);
        if (Boolean.TRUE.equals(s.resumeVm())) runtime.handle(new VmmAction.Resume());
        vmm.log().info("Snapshot loaded from " + s.snapshotPath() + "; QEMU pid " + m.pid());
    }
}
