package dev.vessel.firecracker;

import dev.vessel.vmm.Accelerator;
import dev.vessel.vmm.GuestAssets;
import dev.vessel.vmm.HostProbe;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * {@code vessel vmm --api-sock PATH [--config-file FILE] [--no-api] [--id ID]}: the firecracker
 * binary's behaviour over QEMU, served by vesseld for a {@link Caller} (the {@code vessel}
 * client, which stays in the caller's process tree as a small relay). It creates the API socket
 * (refusing one that exists), serves Firecracker's API there, boots on InstanceStart (or at once
 * from --config-file) with QEMU as the caller's child, its serial console on the caller's
 * stdin/stdout, and ends when the guest does (or the caller goes), removing its sockets. A bad
 * command line or configuration is one line on stderr, a non-zero exit, and nothing left behind.
 */
public final class VmmCommand {
    static final String USAGE = "usage: vessel vmm --api-sock PATH [--config-file FILE] [--no-api] [--id ID]"
            + " [--level L] [--log-path P] [--show-level] [--show-log-origin] [--metrics-path P]"
            + " [--http-api-max-payload-size N] [--mmds-size-limit N] [--version]";
    private static final Path VHOST_VSOCK = Path.of("/dev/vhost-vsock");

    /** The parsed command line. */
    record Options(Path apiSock, Path configFile, boolean noApi, String id, Model.Logger logger, Path metricsPath,
                   Integer maxPayload, Long mmdsLimit, boolean version) {
        Options(Path apiSock, Path configFile, boolean noApi, String id) {
            this(apiSock, configFile, noApi, id, null, null, null, null, false);
        }
    }

    private VmmCommand() {
    }

    /**
     * Runs {@code vessel vmm ARGS} for {@code caller} until its guest has ended (or the caller has
     * gone) and returns the exit status: QEMU's, 0 for --help and --version, 1 for a usage error
     * (one line on the caller's stderr).
     */
    public static int run(String[] args, Caller caller, Path assetsDir) {
        try {
            return serve(args, caller, assetsDir);
        } catch (HelpRequested e) {
            caller.stdout(e.getMessage() + "\n");
            return 0;
        } catch (UsageException e) {
            caller.stderr("vessel vmm: " + e.getMessage() + "\n");
            return 1;
        }
    }

    static class UsageException extends Exception {
        UsageException(String message) {
            super(message);
        }
    }

    /** -h/--help: the usage is the message, printed on stdout with status 0. */
    static final class HelpRequested extends UsageException {
        HelpRequested(String usage) {
            super(usage);
        }
    }

    /** Firecracker's command line, as picocli parses it; {@link #parse} checks what goes together. */
    @picocli.CommandLine.Command(name = "vessel vmm", description = "A Firecracker-compatible VMM over QEMU"
            + " (docs/firecracker-api.md).")
    static final class Flags {
        @picocli.CommandLine.Option(names = "--api-sock", paramLabel = "PATH", description = "the API's Unix socket") Path apiSock;
        @picocli.CommandLine.Option(names = "--config-file", paramLabel = "FILE", description = "boot at once from this configuration") Path configFile;
        @picocli.CommandLine.Option(names = "--no-api", description = "no API socket (needs --config-file)") boolean noApi;
        @picocli.CommandLine.Option(names = "--id", paramLabel = "ID", description = "the instance's id") String id = "anonymous-instance";
        @picocli.CommandLine.Option(names = "--level", paramLabel = "L") String level;
        @picocli.CommandLine.Option(names = "--log-path", paramLabel = "P") Path logPath;
        @picocli.CommandLine.Option(names = "--show-level") boolean showLevel;
        @picocli.CommandLine.Option(names = "--show-log-origin") boolean showOrigin;
        @picocli.CommandLine.Option(names = "--metrics-path", paramLabel = "P") Path metricsPath;
        @picocli.CommandLine.Option(names = "--http-api-max-payload-size", paramLabel = "N") String maxPayload;
        @picocli.CommandLine.Option(names = "--mmds-size-limit", paramLabel = "N") String mmdsLimit;
        @picocli.CommandLine.Option(names = "--version", description = "print the version") boolean version;
        @picocli.CommandLine.Option(names = {"-h", "--help"}, usageHelp = true, description = "show this help") boolean help;
        // Firecracker's own seccomp, boot timer, PCI, timing and module flags: nothing to do under QEMU
        @picocli.CommandLine.Option(names = {"--no-seccomp", "--boot-timer", "--enable-pci"}, hidden = true) boolean[] ignoredFlags;
        @picocli.CommandLine.Option(names = {"--seccomp-filter", "--start-time-us", "--start-time-cpu-us",
                "--parent-cpu-time-us", "--module"}, hidden = true) String[] ignoredValues;
    }

    static Options parse(String[] args) throws UsageException {
        Flags f = new Flags();
        picocli.CommandLine cli = new picocli.CommandLine(f);
        try {
            cli.parseArgs(args);
        } catch (picocli.CommandLine.ParameterException e) {
            String message = e.getMessage() == null ? "invalid arguments" : e.getMessage().lines().findFirst().orElse("");
            throw new UsageException(message + " (" + USAGE + ")");
        }
        if (cli.isUsageHelpRequested()) throw new HelpRequested(cli.getUsageMessage().strip());
        for (String value : new String[] {f.level, f.id, f.maxPayload, f.mmdsLimit}) {
            if (value != null && value.isEmpty()) throw new UsageException("an option needs a non-empty value");
        }
        if (!f.id.matches("[A-Za-z0-9-]{1,64}")) {
            throw new UsageException("--id: " + f.id + " is not valid (1 to 64 letters, digits or dashes)");
        }
        Integer maxPayload = f.maxPayload == null ? null : (int) positive("--http-api-max-payload-size", f.maxPayload, Integer.MAX_VALUE);
        Long mmdsLimit = f.mmdsLimit == null ? null : positive("--mmds-size-limit", f.mmdsLimit, Long.MAX_VALUE);
        if (f.version) return new Options(null, null, false, f.id, null, null, null, null, true);
        if (f.noApi && f.configFile == null) throw new UsageException("--no-api needs --config-file (nothing could configure the VM)");
        if (!f.noApi && f.apiSock == null) throw new UsageException("--api-sock PATH is required (" + USAGE + ")");
        Model.Logger logger = f.level != null || f.logPath != null || f.showLevel || f.showOrigin
                ? new Model.Logger(f.logPath == null ? null : f.logPath.toString(), f.level, f.showLevel, f.showOrigin, null) : null;
        if (logger != null) {
            try {
                logger.validate();
            } catch (ApiException e) {
                throw new UsageException("--level: " + e.getMessage());
            }
        }
        return new Options(f.apiSock, f.configFile, f.noApi, f.id, logger, f.metricsPath, maxPayload, mmdsLimit, false);
    }

    private static long positive(String flag, String value, long max) throws UsageException {
        try {
            long n = Long.parseLong(value);
            if (n >= 1 && n <= max) return n;
        } catch (NumberFormatException e) {
            // below
        }
        throw new UsageException(flag + ": " + value + " is not a positive number of bytes");
    }

    static int serve(String[] args, Caller caller, Path assetsDir) throws UsageException {
        Options o = parse(args);
        if (o.version()) {
            caller.stdout("Firecracker v" + Vmm.VERSION + " (vessel vmm, over QEMU)\n");
            return 0;
        }
        int maxPayload = o.maxPayload() != null ? o.maxPayload() : ApiJson.MAX_BODY;
        // the caller's relative paths are its working directory's
        Path apiSock = o.apiSock() == null ? null : caller.cwd().resolve(o.apiSock()).normalize();
        Path configFile = o.configFile() == null ? null : caller.cwd().resolve(o.configFile()).normalize();
        Model.FullVmConfiguration file = null;
        if (configFile != null) {
            try {
                file = ApiJson.parseAnySize(Files.readAllBytes(configFile), Model.FullVmConfiguration.class);
                VmConfig.of(file); // every resource checked before anything is created
            } catch (IOException e) {
                throw new UsageException("--config-file: cannot read " + o.configFile() + ": " + e.getMessage());
            } catch (ApiException e) {
                throw new UsageException("--config-file " + o.configFile() + ": " + e.getMessage());
            }
        }
        if (apiSock != null && Files.exists(apiSock, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            throw new UsageException("the API socket " + o.apiSock() + " already exists (remove it, or choose another path)");
        }
        // QMP's and the metadata service's sockets sit next to the API socket
        String base = apiSock != null ? apiSock.toString() : "/run/vessel-vmm-" + caller.pid();
        Path qmpSocket = Path.of(base + ".qmp"), mmdsSocket = Path.of(base + ".mmds");
        if (mmdsSocket.toString().length() > 107) {
            throw new UsageException("the API socket path is too long for a Unix socket: " + o.apiSock());
        }
        FcLog log = new FcLog(o.id(), caller::stderr);
        FcMetrics metrics = new FcMetrics();
        // probed once per daemon (QEMU's KVM probe takes a second of CPU), in the background: the socket does not wait for it
        CompletableFuture<QemuMapping.Host> hostProbe = CompletableFuture.supplyAsync(() -> new QemuMapping.Host(
                dev.vessel.linux.Tools.find("qemu-system-x86_64"), Accelerator.detect().kind(), HostProbe.tscKhz(),
                new GuestAssets(assetsDir).initrd(), qmpSocket, mmdsSocket, dev.vessel.linux.Tools.find("socat")),
                command -> Thread.ofVirtual().name("vmm-host-probe").start(command));
        Vmm vmm = new Vmm(o.id(), new Vmm.Env(QemuMachine.launcher(caller, qmpSocket), () -> join(hostProbe), VHOST_VSOCK,
                caller.cwd()), log, metrics);
        if (o.mmdsLimit() != null) vmm.mmds().limit(o.mmdsLimit());
        try {
            if (o.logger() != null) vmm.handle(new VmmAction.ConfigureLogger(o.logger()));
            if (o.metricsPath() != null) vmm.handle(new VmmAction.ConfigureMetrics(new Model.Metrics(o.metricsPath().toString())));
        } catch (ApiException e) {
            throw new UsageException(e.getMessage());
        }

        ApiServer server;
        try {
            server = ApiServer.start(o.noApi() ? null : apiSock, new Api(vmm), mmdsSocket,
                    new MmdsService(vmm.mmds(), System::currentTimeMillis), maxPayload, true);
        } catch (IOException e) {
            throw new UsageException(e.getMessage());
        }
        Thread flusher = null;
        try {
            List<Path> served = new java.util.ArrayList<>(List.of(mmdsSocket, qmpSocket));
            if (server.socket() != null) served.addFirst(server.socket());
            caller.hold(served);
            log.info("API server listening on " + (apiSock != null ? apiSock : "(none)"));
            if (file != null) {
                try {
                    for (VmmAction action : actions(file)) vmm.handle(action);
                    vmm.handle(new VmmAction.StartMicroVm());
                } catch (ApiException e) {
                    throw new UsageException("--config-file " + o.configFile() + ": " + e.getMessage());
                }
            }
            flusher = Thread.ofVirtual().name("vmm-metrics").start(() -> {
                while (true) {
                    try {
                        Thread.sleep(60_000);
                        if (vmm.metrics().configured()) vmm.handle(new VmmAction.FlushMetrics());
                    } catch (InterruptedException e) {
                        return;
                    } catch (ApiException ignored) {
                        // not configured yet
                    }
                }
            });
            // the guest's end, or the caller's (Ctrl-C or SIGTERM before boot, a SIGKILL: its QEMU went with it)
            CompletableFuture.anyOf(vmm.exited(), caller.gone()).join();
            return vmm.exited().isDone() ? vmm.exited().join() : 128 + 15;
        } catch (dev.vessel.vmm.VmmException e) {
            throw new UsageException(e.getMessage());
        } finally {
            if (flusher != null) flusher.interrupt();
            server.close();
            vmm.kill();
            metrics.close();
            log.close();
            deleteQuietly(qmpSocket);
        }
    }

    /** A --config-file as the API requests it stands for, in an order that satisfies their checks. */
    static List<VmmAction> actions(Model.FullVmConfiguration f) {
        List<VmmAction> actions = new java.util.ArrayList<>();
        if (f.logger() != null) actions.add(new VmmAction.ConfigureLogger(f.logger()));
        if (f.metrics() != null) actions.add(new VmmAction.ConfigureMetrics(f.metrics()));
        if (f.machineConfig() != null) actions.add(new VmmAction.SetMachineConfig(f.machineConfig()));
        if (f.bootSource() != null) actions.add(new VmmAction.ConfigureBootSource(f.bootSource()));
        if (f.drives() != null) f.drives().forEach(d -> actions.add(new VmmAction.InsertBlockDevice(d)));
        if (f.networkInterfaces() != null) f.networkInterfaces().forEach(n -> actions.add(new VmmAction.InsertNetworkDevice(n)));
        if (f.vsock() != null) actions.add(new VmmAction.SetVsockDevice(f.vsock()));
        if (f.entropy() != null) actions.add(new VmmAction.SetEntropyDevice(f.entropy()));
        if (f.balloon() != null) actions.add(new VmmAction.SetBalloonDevice(f.balloon()));
        if (f.mmdsConfig() != null) actions.add(new VmmAction.SetMmdsConfig(f.mmdsConfig()));
        return actions;
    }

    private static <T> T join(CompletableFuture<T> f) {
        try {
            return f.get();
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // nothing more to do
        }
    }
}
