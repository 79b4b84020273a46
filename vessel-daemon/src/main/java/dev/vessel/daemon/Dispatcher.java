package dev.vessel.daemon;

import dev.vessel.oci.OciException;
import dev.vessel.oci.ViewPlan;
import dev.vessel.vmm.AcceleratorSelector;
import dev.vessel.vmm.AcceleratorVerdict;
import dev.vessel.vmm.Doctor;
import dev.vessel.vmm.GuestAssets;
import dev.vessel.vmm.VmmException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;

/** Routes a client call to the OCI command line or to Vessel's own commands, and reports failures. */
final class Dispatcher {
    static final String VERSION = "0.1.0";

    private final Settings settings;
    private final Path configFile;
    private final ViewPlan view;
    private final Call.Drivers drivers;
    private final Path home;
    private Vesseld daemon;
    private volatile String runtimeVersion;

    Dispatcher(Settings settings, Path configFile, ViewPlan view, Call.Drivers drivers, Path home) {
        this.home = home;
        this.settings = settings;
        this.configFile = configFile;
        this.view = view;
        this.drivers = drivers;
    }

    void attach(Vesseld daemon) {
        this.daemon = daemon;
    }

    void handle(Protocol.Request request, Protocol.Replier reply) throws IOException {
        Call call = new Call(request, reply, settings, view, drivers, this);
        try {
            List<String> args = request.args();
            // vessel-microvm puts --isolation=microvm before every command: Vessel's own commands ignore it
            if (!args.isEmpty() && args.getFirst().startsWith("--isolation=")) args = args.subList(1, args.size());
            String first = args.isEmpty() ? "" : args.getFirst();
            if (first.equals("vmm")) {
                vmmCommand(call, args); // every argument is the VMM's own, parsed by it (--help too)
            } else {
                OciCli.run(call, this);
            }
        } catch (OciException | UncheckedIOException e) {
            fail(call, e.getMessage());
        } catch (IOException e) {
            fail(call, e.toString());
        } catch (RuntimeException e) {
            // a defect of ours: the caller still gets one line and a status, the log gets the trace
            Vesseld.log("unexpected failure of `" + String.join(" ", request.args()) + "`: " + e);
            e.printStackTrace();
            fail(call, "internal error: " + e);
        }
    }

    /** One line on stderr (and in the --log file, as runc does), then a non-zero exit. */
    private static void fail(Call call, String message) throws IOException {
        if (call.global != null) {
            RuntimeLog.write(call.global.log(), call.global.logFormat(), "error", message);
        }
        call.reply.stderr("vessel: " + message + "\n");
        call.reply.exit(1);
    }

    void daemonCommand(Call call, String what) throws IOException {
        long pid = ProcessHandle.current().pid();
        switch (what) {
            case "start", "status" -> call.print(pid + "\n");
            case "stop" -> {
                daemon.closeListener();
                try {
                    call.print("vesseld " + pid + " stopped\n");
                    call.reply.exit(0);
                } finally {
                    System.exit(0); // stopped even if the caller has gone: this daemon no longer has a socket
                }
            }
            default -> throw new OciException("daemon: unknown command \"" + what + "\" (use start, stop or status)");
        }
        call.reply.exit(0);
    }

    /** {@code vessel assets build|show}: the microVM guest kernel and initrd. */
    void assetsCommand(Call call, String what) throws IOException {
        GuestAssets assets = new GuestAssets(settings.assetsDir(), settings.guestKernel());
        try {
            switch (what) {
                case "build" -> {
                    // progress on stderr (the apt look-up alone takes seconds), the result on stdout
                    java.util.function.Consumer<String> progress = line -> {
                        try {
                            call.reply.stderr("vessel: " + line + "\n");
                        } catch (IOException e) {
                            throw new UncheckedIOException(e);
                        }
                    };
                    call.print(assets.build(home.resolve("bin/vessel-agent"), progress) + "\n");
                    // measured now, so that the first microVM does not pay for it
                    if (drivers.microVm().accelerators().mode() == AcceleratorSelector.Mode.AUTO) {
                        AcceleratorVerdict v = drivers.microVm().accelerators().current(progress);
                        call.print("accelerator: " + v.verdict() + " (" + v.bootTimes() + "; cached in "
                                + drivers.microVm().accelerators().cache() + ")\n");
                    }
                    // the default layouts' templates (templates = false: none); others are made on first use
                    try {
                        for (String line : drivers.microVm().makeDefaultTemplates(progress)) call.print(line + "\n");
                    } catch (IOException e) {
                        throw new OciException("assets: templates: " + e.getMessage());
                    }
                }
                case "show" -> call.print(String.join("\n", assets.show()) + "\n");
                default -> throw new OciException("assets: unknown command \"" + what + "\" (use build or show)");
            }
        } catch (VmmException e) {
            throw new OciException("assets: " + e.getMessage());
        }
        call.reply.exit(0);
    }

    /**
     * {@code vessel vm image build KIND OUT [--size SIZE] [--packages P,...]}: a full VM's guest
     * disk, built (minutes) or copied from the cache; progress on stderr, the result on stdout.
     */
    void vmImageBuild(Call call, String kind, String output, String size, String packages) throws IOException {
        try {
            dev.vessel.vmm.VmImageBuilder.Spec spec = dev.vessel.vmm.VmImageBuilder.spec(kind, size, packages);
            java.util.function.Consumer<String> progress = line -> {
                try {
                    call.reply.stderr("vessel: " + line + "\n");
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            };
            call.print(new dev.vessel.vmm.VmImageBuilder(dev.vessel.vmm.VmImageBuilder.DEFAULT_DIR)
                    .build(spec, call.resolve(output), progress) + "\n");
        } catch (VmmException e) {
            throw new OciException("vm image build: " + e.getMessage());
        }
        call.reply.exit(0);
    }

    /**
     * {@code vessel vmm ...}: the Firecracker-compatible VMM. This daemon serves its API (no JVM
     * per VM); the client stays in the caller's process tree as a relay and starts QEMU as its
     * child, so QEMU runs in the caller's network namespace, working directory and terminal, as
     * the firecracker binary would (docs/firecracker-api.md). Returns once the guest has ended.
     */
    private void vmmCommand(Call call, List<String> args) throws IOException {
        VmmCall caller = new VmmCall(call.request, call.reply);
        // the guest initrd for boot sources without initrd_path: this daemon's assets, unless the caller names others
        String assets = call.request.getenv("VESSEL_ASSETS_DIR");
        Path assetsDir = assets == null || assets.isEmpty() ? settings.assetsDir() : Path.of(assets);
        String[] vmmArgs = args.subList(1, args.size()).toArray(String[]::new);
        caller.run(() -> dev.vessel.firecracker.VmmCommand.run(vmmArgs, caller, assetsDir));
    }

    /** {@code vessel image ext4 ROOTFS_DIR_OR_TAR OUT.img [--size MiB]}: an ext4 image for a Firecracker drive. */
    void imageCommand(Call call, String source, String output, Long size) throws IOException {
        Path out = call.resolve(output);
        try {
            long mib = dev.vessel.vmm.Ext4Image.build(call.resolve(source), out, size);
            call.print(out + " (ext4, " + mib + " MiB)\n");
        } catch (VmmException e) {
            throw new OciException("image: " + e.getMessage());
        }
        call.reply.exit(0);
    }

    /** {@code vessel doctor [--json]}: what this host can run, each missing piece with its fix. */
    void doctor(Call call, boolean json) throws IOException {
        List<String> lines = new java.util.ArrayList<>(Doctor.lines(new GuestAssets(settings.assetsDir(), settings.guestKernel()),
                drivers.microVm().qemu(), drivers.microVm().accelerators()));
        lines.add("resource view: " + (view == null ? "off or unavailable (see the daemon's log)" : view.fuseRoot().toString()));
        lines.addAll(MicroVmApis.doctorLines());
        lines.addAll(VmService.doctorLines());
        lines.addAll(ManagementPlane.doctorLines());
        lines.add("daemon: pid " + ProcessHandle.current().pid() + ", config " + configFile + ", log " + DaemonLog.destination());
        call.print(json ? Doctor.json(lines) : String.join("\n", lines) + "\n");
        call.reply.exit(0);
    }

    String versionText() {
        return "vessel version " + VERSION + "\nspec: " + dev.vessel.runtime.OciState.SPEC_VERSION + "\nconfig: " + configFile + "\nlow-level runtime: "
                + lowLevelRuntimeVersion() + "\n";
    }

    private String lowLevelRuntimeVersion() {
        if (runtimeVersion == null) {
            try {
                LowLevelRuntime runtime = LowLevelRuntime.resolve(settings.lowLevelRuntime());
                String first = dev.vessel.linux.Command.run(List.of(runtime.path().toString(), "--version"), "",
                        java.time.Duration.ofSeconds(5)).firstLine();
                runtimeVersion = runtime.path() + " (" + first + ")";
            } catch (IOException | OciException e) {
                return "unavailable: " + e.getMessage();
            }
        }
        return runtimeVersion;
    }
}
