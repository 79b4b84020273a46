package dev.vessel.daemon;

import dev.vessel.linux.Tools;
import dev.vessel.oci.OciException;
import dev.vessel.runtime.Outcome;
import dev.vessel.runtime.vm.Manifests;
import dev.vessel.runtime.vm.VmDriver;
import dev.vessel.runtime.vm.VmStatus;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParseResult;

/**
 * {@code vessel vm VERB}: full VMs from KubeVirt's VirtualMachine manifests, with virtctl's verbs.
 * Each verb is a class implementing {@link OciCli.Handler}, listed in the annotation's {@code subcommands}
 * (a verb of another file, e.g. {@code vm image}, is added there too); a verb gets the parse result of its own arguments.
 */
@Command(name = "vm", description = "Full VMs from KubeVirt VirtualMachine manifests: apply -f FILE|-, create, list,"
        + " get NAME [-o yaml|json], start, stop, restart, pause, unpause, delete, console NAME,"
        + " snapshot|restore NAME SNAPSHOT, snapshot list NAME, snapshot delete NAME SNAPSHOT, migrate NAME --to SOCKET;"
        + " image build KIND OUT.qcow2 (a guest disk).",
        subcommands = {VmCommand.Apply.class, VmCommand.Create.class, VmCommand.ListVms.class, VmCommand.Get.class,
                VmCommand.Start.class, VmCommand.Stop.class, VmCommand.Restart.class, VmCommand.Pause.class,
                VmCommand.Unpause.class, VmCommand.Delete.class, VmCommand.Console.class, VmCommand.Snapshot.class,
                VmCommand.Restore.class, VmCommand.Migrate.class, VmImageCommand.class})
final class VmCommand implements OciCli.Handler {
    @Override
    public void run(Call call, ParseResult parsed) throws IOException {
        if (!parsed.hasSubcommand()) {
            call.print(parsed.commandSpec().commandLine().getUsageMessage());
            call.reply.exit(1);
            return;
        }
        ParseResult sub = parsed.subcommand();
        if (sub.isUsageHelpRequested()) {
            call.print(sub.commandSpec().commandLine().getUsageMessage());
            OciCli.done(call);
            return;
        }
        ((OciCli.Handler) sub.commandSpec().userObject()).run(call, sub);
    }

    static VmDriver driver() {
        return VmService.driver();
    }

    abstract static class Verb implements OciCli.Handler {
        @Mixin OciCli.HelpFlag help;
    }

    abstract static class Named extends Verb {
        @Parameters(index = "0", paramLabel = "NAME", description = "the VirtualMachine's metadata.name") String name;
    }

    @Command(name = "apply", description = "Create or change VMs from a VirtualMachine manifest: -f FILE, or -f - for stdin.")
    static class Apply extends Verb {
        @Option(names = {"-f", "--filename"}, required = true, paramLabel = "FILE|-", description = "the manifest (YAML or JSON)") String file;

        boolean create() {
            return false;
        }

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            if (file.equals("-")) {
                // the client's stdin, read by a cat it runs: the protocol carries no stdin of its own
                call.carryOut(new Outcome.Capture(List.of(Tools.find("cat")), call.env(), (status, text) -> {
                    if (status != 0) throw new OciException("vm apply: cannot read stdin (cat exited with " + status + ")");
                    return Outcome.print(driver().apply(text.getBytes(StandardCharsets.UTF_8), "-", create()) + "\n");
                }));
                return;
            }
            Path path = call.resolve(file);
            byte[] text;
            try {
                text = Files.readAllBytes(path);
            } catch (NoSuchFileException e) {
                throw new OciException("vm apply: " + file + ": no such file");
            } catch (IOException e) {
                throw new OciException("vm apply: " + file + ": cannot read it: " + e.getMessage());
            }
            call.print(driver().apply(text, file, create()) + "\n");
            OciCli.done(call);
        }
    }

    @Command(name = "create", description = "As apply, but a name already taken is refused: -f FILE|-.")
    static final class Create extends Apply {
        @Override
        boolean create() {
            return true;
        }
    }

    @Command(name = "list", description = "Every VM: NAME AGE STATUS READY (as kubectl get vm).")
    static final class ListVms extends Verb {
        @Option(names = {"-o", "--output"}, paramLabel = "json", description = "json: the list as JSON") String output;

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            List<VmDriver.Summary> all = driver().summaries();
            if ("json".equals(output)) {
                call.print(Manifests.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(all) + "\n");
            } else if (output != null) {
                throw new OciException("vm list: unknown output \"" + output + "\" (use json)");
            } else {
                StringBuilder b = new StringBuilder(String.format("%-24s %-8s %-18s %s%n", "NAME", "AGE", "STATUS", "READY"));
                for (VmDriver.Summary s : all) {
                    b.append(String.format("%-24s %-8s %-18s %s%n", s.name(), age(s.created()), s.printableStatus(), s.ready() ? "True" : "False"));
                }
                call.print(b.toString());
            }
            OciCli.done(call);
        }
    }

    @Command(name = "get", description = "One VM: its status line, or -o yaml|json for the manifest with KubeVirt's status.")
    static final class Get extends Named {
        @Option(names = {"-o", "--output"}, paramLabel = "yaml|json") String output;

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            VmStatus.Document doc = driver().get(name);
            if (output == null) {
                call.print(String.format("%-24s %-8s %-18s %s%n%-24s %-8s %-18s %s%n", "NAME", "AGE", "STATUS", "READY", name,
                        age(driver().state(name).created()), doc.status().printableStatus(), doc.status().ready() ? "True" : "False"));
            } else if (output.equals("yaml")) {
                call.print(Manifests.YAML.writeValueAsString(doc));
            } else if (output.equals("json")) {
                call.print(Manifests.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(doc) + "\n");
            } else {
                throw new OciException("vm get: unknown output \"" + output + "\" (use yaml or json)");
            }
            OciCli.done(call);
        }
    }

    @Command(name = "start", description = "Start a VM (a Halted one becomes Always, as virtctl start does).")
    static final class Start extends Named {
        @Override
        public void run(Call call, ParseResult parsed) {
            driver().startVm(name);
            call.print("VM " + name + " was scheduled to start\n");
            OciCli.done(call);
        }
    }

    abstract static class Graceful extends Named {
        @Option(names = "--grace-period", paramLabel = "SECONDS",
                description = "seconds the guest has after the ACPI power button before QEMU is stopped (default: the manifest's)")
        Long grace;
        @Option(names = "--force", description = "no grace: QEMU is stopped at once (with --grace-period 0)") boolean force;

        Long grace() {
            if (grace != null && grace < 0) throw new OciException("--grace-period must be 0 or more, not " + grace);
            return force ? Long.valueOf(0) : grace;
        }
    }

    @Command(name = "stop", description = "Stop a VM: the ACPI power button, QEMU stopped after the grace period.")
    static final class Stop extends Graceful {
        @Override
        public void run(Call call, ParseResult parsed) {
            driver().stopVm(name, grace());
            call.print("VM " + name + " was scheduled to stop\n");
            OciCli.done(call);
        }
    }

    @Command(name = "restart", description = "Restart a VM: a stop, then a start with its manifest as it is now.")
    static final class Restart extends Graceful {
        @Override
        public void run(Call call, ParseResult parsed) {
            driver().restartVm(name, grace());
            call.print("VM " + name + " was scheduled to restart\n");
            OciCli.done(call);
        }
    }

    @Command(name = "pause", description = "Pause a running VM's vCPUs.")
    static final class Pause extends Named {
        @Override
        public void run(Call call, ParseResult parsed) {
            driver().pauseVm(name, true);
            call.print("VMI " + name + " was scheduled to pause\n");
            OciCli.done(call);
        }
    }

    @Command(name = "unpause", description = "Resume a paused VM.")
    static final class Unpause extends Named {
        @Override
        public void run(Call call, ParseResult parsed) {
            driver().pauseVm(name, false);
            call.print("VMI " + name + " was scheduled to unpause\n");
            OciCli.done(call);
        }
    }

    @Command(name = "delete", description = "Delete a VM: stopped (ACPI, then forced after the grace period), its files removed.")
    static final class Delete extends Graceful {
        @Override
        public void run(Call call, ParseResult parsed) {
            driver().deleteVm(name, grace());
            call.print("virtualmachine.kubevirt.io \"" + name + "\" deleted\n");
            OciCli.done(call);
        }
    }

    @Command(name = "console", description = "Attach to a VM's serial console; Ctrl-] detaches (as virtctl console).")
    static final class Console extends Named {
        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            Path socket = driver().consoleSocket(name);
            String socat = Tools.lookup("socat").map(Path::toString)
                    .orElseThrow(() -> new OciException("vm console: socat is not installed (apt-get install socat)"));
            // on a terminal: raw, and Ctrl-] (0x1d) ends it; otherwise the console's bytes as they come
            String script = "if [ -t 0 ]; then echo \"Successfully connected to $2 console. The escape sequence is ^]\" >&2;"
                    + " exec \"$3\" -,raw,echo=0,escape=0x1d \"UNIX-CONNECT:$1\"; else exec \"$3\" - \"UNIX-CONNECT:$1\"; fi";
            call.carryOut(new Outcome.Exec(List.of("/bin/sh", "-c", script, "vessel-console", socket.toString(), name, socat),
                    call.env(), List.of()));
        }
    }

    abstract static class WithSnapshot extends Named {
        @Parameters(index = "1", paramLabel = "SNAPSHOT", description = "the snapshot's name") String snapshot;
    }

    @Command(name = "snapshot", description = "Snapshot a VM: NAME SNAPSHOT (running: its memory and qcow2 disks, raw hostDisks"
            + " not part of it; stopped: copies of its hostDisks), list NAME, delete NAME SNAPSHOT.",
            subcommands = {VmCommand.SnapshotList.class, VmCommand.SnapshotDelete.class})
    static final class Snapshot extends Verb {
        // optional here, so that picocli takes "list" and "delete" as the verbs they are; checked below
        @Parameters(index = "0", arity = "0..1", paramLabel = "NAME", description = "the VirtualMachine's metadata.name") String name;
        @Parameters(index = "1", arity = "0..1", paramLabel = "SNAPSHOT", description = "the snapshot's name") String snapshot;

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            if (parsed.hasSubcommand()) {
                if (name != null) throw new OciException("vm snapshot: " + parsed.subcommand().commandSpec().name() + " comes first"
                        + " (vessel vm snapshot " + parsed.subcommand().commandSpec().name() + " NAME …)");
                ParseResult sub = parsed.subcommand();
                if (sub.isUsageHelpRequested()) {
                    call.print(sub.commandSpec().commandLine().getUsageMessage());
                    OciCli.done(call);
                    return;
                }
                ((OciCli.Handler) sub.commandSpec().userObject()).run(call, sub);
                return;
            }
            if (name == null || snapshot == null) {
                throw new OciException("vm snapshot: Missing required parameter: '" + (name == null ? "NAME" : "SNAPSHOT")
                        + "' (see vessel vm snapshot --help)");
            }
            driver().snapshotVm(name, snapshot);
            call.print("virtualmachinesnapshot.snapshot.kubevirt.io/" + snapshot + " created\n");
            OciCli.done(call);
        }
    }

    @Command(name = "list", description = "A VM's snapshots: NAME CREATED KIND (disks+memory of the run, or disks of the stopped VM).")
    static final class SnapshotList extends Named {
        @Option(names = {"-o", "--output"}, paramLabel = "json", description = "json: the list as JSON") String output;

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            List<VmStatus.Snapshot> all = driver().requireSnapshots(name);
            if ("json".equals(output)) {
                call.print(Manifests.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(all) + "\n");
            } else if (output != null) {
                throw new OciException("vm snapshot list: unknown output \"" + output + "\" (use json)");
            } else {
                StringBuilder b = new StringBuilder(String.format("%-24s %-8s %s%n", "NAME", "AGE", "HOLDS"));
                for (VmStatus.Snapshot s : all) {
                    b.append(String.format("%-24s %-8s %s%n", s.name(), age(s.creationTime()),
                            s.ofRun() ? "memory and disks of the run" : "disks: " + String.join(", ", s.disks())));
                }
                call.print(b.toString());
            }
            OciCli.done(call);
        }
    }

    @Command(name = "delete", description = "Delete one snapshot of a VM: NAME SNAPSHOT.")
    static final class SnapshotDelete extends WithSnapshot {
        @Override
        public void run(Call call, ParseResult parsed) {
            driver().deleteSnapshot(name, snapshot);
            call.print("virtualmachinesnapshot.snapshot.kubevirt.io \"" + snapshot + "\" deleted\n");
            OciCli.done(call);
        }
    }

    @Command(name = "restore", description = "Restore a VM to one of its snapshots: a running VM's (memory and qcow2 disks;"
            + " it runs on from there), or a stopped VM's (its hostDisks, while it is stopped).")
    static final class Restore extends WithSnapshot {
        @Override
        public void run(Call call, ParseResult parsed) {
            driver().restoreVm(name, snapshot);
            call.print("virtualmachinerestore.snapshot.kubevirt.io/" + name + "-" + snapshot + " restored\n");
            OciCli.done(call);
        }
    }

    @Command(name = "migrate", description = "Live-migrate a running VM to another vesseld on this host (its socket).")
    static final class Migrate extends Named {
        @Option(names = "--to", required = true, paramLabel = "SOCKET", description = "the target vesseld's socket (its VESSEL_SOCKET)")
        String to;

        @Override
        public void run(Call call, ParseResult parsed) {
            call.print(driver().migrateVm(name, MigrationClient.at(call.resolve(to)), call.retried()) + "\n");
            OciCli.done(call);
        }
    }

    /** kubectl's AGE: 45s, 12m, 3h, 2d. */
    static String age(String created) {
        if (created == null) return "<unknown>";
        try {
            long s = Duration.between(Instant.parse(created), Instant.now()).toSeconds();
            if (s < 120) return s + "s";
            if (s < 7200) return s / 60 + "m";
            if (s < 172800) return s / 3600 + "h";
            return s / 86400 + "d";
        } catch (RuntimeException e) {
            return "<unknown>";
        }
    }
}
