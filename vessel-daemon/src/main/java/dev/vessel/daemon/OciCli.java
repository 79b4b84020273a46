package dev.vessel.daemon;

import dev.vessel.oci.BundleConfig;
import dev.vessel.oci.ConfigRewriter;
import dev.vessel.oci.ContainerId;
import dev.vessel.oci.Isolation;
import dev.vessel.oci.OciException;
import dev.vessel.oci.Signals;
import dev.vessel.oci.ViewPlan;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vessel.runtime.CgroupEvents;
import dev.vessel.runtime.ContainerDriver;
import dev.vessel.runtime.IsolationDriver;
import dev.vessel.runtime.MicroVmDriver;
import dev.vessel.runtime.OciState;
import dev.vessel.runtime.Outcome;
import dev.vessel.runtime.SandboxRecord;
import dev.vessel.runtime.SandboxStore;
import dev.vessel.runtime.Status;
import dev.vessel.runtime.UpdateResources;
import dev.vessel.runtime.Users;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParseResult;

/**
 * The OCI runtime command line, compatible with runc's. Parsing and every check happen here;
 * container-isolation work is then handed to crun (or runc) by having the client exec it, so the
 * container stays a descendant of the caller.
 */
@Command(name = "vessel")
final class OciCli {
    @Option(names = "--root", description = "directory for container state") String root;
    @Option(names = "--log") String log;
    @Option(names = "--log-format") String logFormat;
    @Option(names = "--debug") boolean debug;
    @Option(names = "--systemd-cgroup") boolean systemdCgroup;
    @Option(names = "--cgroup-manager") String cgroupManager;
    @Option(names = "--rootless") String rootless;
    @Option(names = "--criu") String criu;
    /**
     * The isolation of the containers this call creates when their bundle does not ask for one
     * (the {@link Isolation#ANNOTATION} annotation wins: it is the per-container request, this the
     * runtime's default, as a Docker runtime's runtimeArgs or the vessel-microvm name give it).
     */
    @Option(names = "--isolation") String isolation;
    @Option(names = {"-v", "--version"}) boolean version;
    @Option(names = {"-h", "--help"}) boolean help;

    /** A subcommand: given the parse result of its own arguments. */
    interface Handler {
        void run(Call call, ParseResult parsed) throws IOException;
    }

    static final String USAGE = """
            usage: vessel [global options] COMMAND [options] [args]
            OCI runtime commands: create, start, run, state, kill, delete, list, exec, ps, pause, resume,
                                  update, events, features, spec
            Vessel commands:      daemon start|stop|status, assets build|show, doctor, vmm, image ext4, vm, help
            global options: --root DIR, --log FILE, --log-format text|json, --debug, --systemd-cgroup,
                            --cgroup-manager cgroupfs|systemd, --isolation container|microvm, --version
            `vessel help COMMAND` or `vessel COMMAND --help` tells more of each.
            """;

    /** {@code -h/--help} on every command: picocli then skips the checks of required parameters. */
    static final class HelpFlag {
        @Option(names = {"-h", "--help"}, usageHelp = true, description = "show this help") boolean help;
    }

    // ---- Vessel's own commands: parsed here, done by the dispatcher ----

    @Command(name = "daemon", description = "Manage vesseld: start (print its pid), stop, status.")
    static final class DaemonCommand implements Handler {
        @Parameters(paramLabel = "start|stop|status") String action;

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            call.dispatcher.daemonCommand(call, action);
        }
    }

    @Command(name = "assets", description = "The microVM guest: build (the kernel and initrd, when an input changed;"
            + " then the accelerator's verdict), show (their paths).")
    static final class AssetsCommand implements Handler {
        @Parameters(paramLabel = "build|show") String action;

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            call.dispatcher.assetsCommand(call, action);
        }
    }

    @Command(name = "doctor", description = "What this host can run (accelerator, guest assets, QEMU, cgroups, runtime),"
            + " each missing piece with its fix.")
    static final class DoctorCommand implements Handler {
        @Option(names = "--json", description = "the checks as JSON (name, value, fix)") boolean json;

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            call.dispatcher.doctor(call, json);
        }
    }

    @Command(name = "image", description = "Make a disk image for a drive: vessel image ext4 ROOTFS_DIR_OR_TAR OUT.img [--size MiB].")
    static final class ImageCommand implements Handler {
        @Parameters(index = "0", paramLabel = "ext4", description = "the file system (ext4)") String format;
        @Parameters(index = "1", paramLabel = "ROOTFS_DIR_OR_TAR") String source;
        @Parameters(index = "2", paramLabel = "OUT.img") String output;
        @Option(names = "--size", paramLabel = "MiB", description = "the image's size (default: what the files need)") Long size;

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            if (!format.equals("ext4")) throw new OciException("image: unknown format \"" + format + "\" (use ext4)");
            call.dispatcher.imageCommand(call, source, output, size);
        }
    }

    /** Run by the dispatcher before parsing (its arguments are the VMM's own); here for its help. */
    @Command(name = "vmm", description = "A Firecracker-compatible VMM: vessel vmm --api-sock PATH [--config-file FILE] [--no-api]"
            + " (docs/firecracker-api.md; `vessel vmm --help` lists every option).")
    static final class VmmHelp implements Handler {
        @Override
        public void run(Call call, ParseResult parsed) {
            throw new OciException("vmm: run as vessel vmm OPTIONS");
        }
    }

    @Command(name = "help", description = "Help on a command: vessel help COMMAND.")
    static final class Help implements Handler {
        @Parameters(arity = "0..1", paramLabel = "COMMAND") String command;

        @Override
        public void run(Call call, ParseResult parsed) {
            CommandLine top = parsed.commandSpec().parent().commandLine();
            if (command == null) {
                call.print(USAGE);
            } else {
                CommandLine sub = top.getSubcommands().get(command);
                if (sub == null) throw unknownCommand(top, command);
                call.print(sub.getUsageMessage());
            }
            done(call);
        }
    }

    /** {@code name} is none of {@code group}'s commands (vessel's own, or a group's such as vm's verbs): the near ones named. */
    static OciException unknownCommand(CommandLine group, String name) {
        List<String> near = new ArrayList<>();
        for (String known : group.getSubcommands().keySet()) {
            if (distance(known, name) <= 2 || (name.length() > 1 && known.startsWith(name))) near.add(known);
        }
        String qualified = group.getCommandSpec().qualifiedName(" ").replaceFirst("^vessel ?", "");
        String text = "unknown command \"" + name + "\"" + (near.isEmpty() ? "" : " (did you mean "
                + String.join(" or ", near) + "?)") + " (see vessel " + (qualified.isEmpty() ? "" : qualified + " ") + "--help)";
        return new OciException(qualified.isEmpty() ? text : qualified + ": " + text);
    }

    /** An argument no command took: a command's name mistyped (at the top or in a group of commands), else a usage error. */
    static OciException unmatched(CommandLine top, CommandLine.UnmatchedArgumentException e) {
        CommandLine where = e.getCommandLine();
        String first = e.getUnmatched().isEmpty() ? "" : e.getUnmatched().getFirst();
        boolean aGroup = where != null && !where.getSubcommands().isEmpty() && where.getParseResult() != null
                && !where.getParseResult().hasSubcommand();
        return (where == top || aGroup) && !first.startsWith("-") && !first.isEmpty()
                ? unknownCommand(where == null ? top : where, first) : usageError(top, e);
    }

    /** Edit distance, for "did you mean". */
    static int distance(String a, String b) {
        int[] row = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) row[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int above = row[j];
                row[j] = Math.min(Math.min(row[j] + 1, row[j - 1] + 1), diagonal + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.length()];
    }

    static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new OciCli());
        for (Object sub : List.of(new Create(), new Run(), new Start(), new State(), new Kill(), new Delete(),
                new ListCommand(), new Exec(), new Ps(), new Pause(), new Resume(), new Update(),
                new Events(), new Features(), new Spec(), new DaemonCommand(), new AssetsCommand(), new DoctorCommand(),
                new VmmHelp(), new ImageCommand(), new VmCommand(), new Help())) {
            cli.addSubcommand(sub);
        }
        cli.getSubcommands().values().forEach(sub -> sub.addMixin("help", new HelpFlag()));
        // exec and ps take a command line of their own after the id: stop parsing options there.
        cli.getSubcommands().get("exec").setStopAtPositional(true);
        cli.getSubcommands().get("ps").setStopAtPositional(true);
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        return cli;
    }

    // Building a CommandLine costs milliseconds (reflection over every subcommand); parsing with a
    // built one costs microseconds, and picocli resets every option before each parse. So built
    // ones are reused, one per concurrent call.
    private static final ConcurrentLinkedQueue<CommandLine> PARSERS = new ConcurrentLinkedQueue<>();

    /**
     * Builds a parser ahead of the first call and runs the hot paths (parsing, the bundle rewrite)
     * a few hundred times, so that the JIT has compiled them before engines start calling: a
     * runtime is exec'd several times per container, and a cold daemon costs milliseconds a call.
     */
    static void warmUp(ViewPlan view) {
        CommandLine cli = commandLine();
        Path scratch;
        try {
            scratch = Files.createTempDirectory("vessel-warm-up");
        } catch (IOException e) {
            scratch = null;
        }
        byte[] config = """
                {"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"], "env": ["PATH=/bin"]},
                 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
                 "linux": {"resources": {"memory": {"limit": 268435456}}}}
                """.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        for (int i = 0; i < 300; i++) {
            for (String[] args : List.of(
                    new String[] {"--root", "/run/x", "--log", "/l", "--log-format", "json", "create", "--bundle", "/b",
                            "--pid-file", "/p", "id"},
                    new String[] {"--root", "/run/x", "state", "id"},
                    new String[] {"--root", "/run/x", "exec", "--process", "/p", "--detach", "--pid-file", "/p", "id"},
                    new String[] {"--root", "/run/x", "kill", "id", "KILL"},
                    new String[] {"--root", "/run/x", "delete", "--force", "id"})) {
                forward(cli.parseArgs(args).subcommand(), Set.of("--bundle"));
            }
            BundleConfig parsed = BundleConfig.parse(Path.of("/b"), config);
            ConfigRewriter.forContainer(parsed, Isolation.CONTAINER, "id", view).toBytes();
            warmUpStore(scratch, parsed, i);
        }
        PARSERS.offer(cli); // only now: a parser is used by one call at a time
        Call.deleteQuietly(scratch);
    }

    /** What every create, state and delete does with the store: records written, read, listed, removed. */
    private static void warmUpStore(Path scratch, BundleConfig config, int i) {
        if (scratch == null) return;
        SandboxStore store = SandboxStore.forRoot(scratch, scratch.resolve("root"));
        String id = "warm-up-" + i;
        try (SandboxStore.Lock lock = store.lock(id)) {
            store.save(new SandboxRecord(id, Isolation.CONTAINER, "/b", "/b/rootfs", java.time.Instant.now().toString(),
                    "root", new java.util.TreeMap<>(config.spec().annotations()), Status.CREATING, null));
            store.load(id).ifPresent(r -> {
                try {
                    BundleConfig.JSON.writeValueAsBytes(new OciState(OciState.SPEC_VERSION, id, 1, "running", r.bundle(),
                            r.rootfs(), r.created(), r.owner(), r.annotations()));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            store.remove(id);
        } catch (RuntimeException e) {
            // a warm-up that cannot write its scratch store only warms up less
        }
    }

    /** Parses and runs one call; exits the client unless the call handed it a program to exec. */
    static void run(Call call, Dispatcher dispatcher) throws IOException {
        CommandLine cli = PARSERS.poll();
        if (cli == null) {
            cli = commandLine();
        }
        try {
            run(cli, call, dispatcher);
        } finally {
            PARSERS.offer(cli);
        }
    }

    private static void run(CommandLine cli, Call call, Dispatcher dispatcher) throws IOException {
        ParseResult parsed;
        OciCli global = cli.getCommand();
        try {
            parsed = cli.parseArgs(call.request.args().toArray(String[]::new));
        } catch (CommandLine.UnmatchedArgumentException e) {
            call.global = globalOptions(call, global); // the global options parsed so far: --log gets the failure
            throw unmatched(cli, e);
        } catch (CommandLine.ParameterException e) {
            call.global = globalOptions(call, global);
            throw usageError(cli, e);
        }
        call.global = globalOptions(call, global);
        if (global.logFormat != null && !Set.of("text", "json").contains(global.logFormat)) {
            throw new OciException("invalid --log-format \"" + global.logFormat + "\" (use text or json)");
        }
        call.isolation = isolation(global, call.settings.defaultIsolation());
        if (global.version) {
            call.print(dispatcher.versionText());
            call.reply.exit(0);
            return;
        }
        if (!parsed.hasSubcommand()) {
            call.print(USAGE);
            call.reply.exit(global.help ? 0 : 1);
            return;
        }
        ParseResult sub = parsed.subcommand();
        if (sub.isUsageHelpRequested()) {
            call.print(sub.commandSpec().commandLine().getUsageMessage());
            done(call);
            return;
        }
        checkRootAndLog(call);
        ((Handler) sub.commandSpec().userObject()).run(call, sub);
    }

    /** The --isolation flag's, else {@code fallback}; a value that names none is one line. */
    static Isolation isolation(OciCli global, Isolation fallback) {
        return global.isolation == null ? fallback : Isolation.parse(global.isolation, "--isolation");
    }

    private static LowLevelRuntime.GlobalOptions globalOptions(Call call, OciCli global) {
        return new LowLevelRuntime.GlobalOptions(
                global.root == null ? call.settings.stateRoot() : call.resolve(global.root),
                global.log == null ? null : call.resolve(global.log).toString(),
                global.logFormat, global.debug, global.systemdCgroup, global.cgroupManager);
    }

    /** A --root that cannot be a directory, or a --log that cannot be written: one line, before anything runs. */
    private static void checkRootAndLog(Call call) {
        Path root = call.root();
        if (Files.exists(root) && !Files.isDirectory(root)) {
            throw new OciException("--root " + root + " is not a directory");
        }
        try {
            Files.createDirectories(root);
        } catch (IOException e) {
            throw new OciException("--root " + root + ": cannot create it: " + reason(e));
        }
        if (call.global.log() != null) {
            try {
                Files.newOutputStream(Path.of(call.global.log()), java.nio.file.StandardOpenOption.CREATE,
                        java.nio.file.StandardOpenOption.APPEND).close();
            } catch (IOException e) {
                throw new OciException("--log " + call.global.log() + " cannot be written: " + reason(e));
            }
        }
    }

    private static String reason(IOException e) {
        if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) return f.getReason();
        if (e instanceof java.nio.file.FileAlreadyExistsException) return "a file is in the way";
        if (e instanceof java.nio.file.NoSuchFileException) return "no such directory";
        if (e instanceof java.nio.file.AccessDeniedException) return "permission denied";
        return e.getClass().getSimpleName();
    }

    /** picocli's complaint as one line, naming the command and where its help is. */
    static OciException usageError(CommandLine top, CommandLine.ParameterException e) {
        CommandLine where = e.getCommandLine();
        String message = firstLine(e.getMessage());
        if (where == null || where == top) return new OciException(message + " (see vessel --help)");
        // the command's whole name under vessel ("create", "vm get"): a verb of vm is named with its parent
        String name = where.getCommandSpec().qualifiedName(" ").replaceFirst("^vessel ", "");
        return new OciException(name + ": " + message + " (see vessel " + name + " --help)");
    }

    static String firstLine(String message) {
        return message == null ? "invalid arguments" : message.lines().findFirst().orElse(message);
    }

    /**
     * The options the caller matched, re-spelt as {@code --name=value} for the low-level runtime,
     * leaving out those in {@code drop}.
     */
    static List<String> forward(ParseResult parsed, Set<String> drop) {
        List<String> args = new ArrayList<>();
        for (OptionSpec option : parsed.matchedOptions()) {
            String name = option.longestName();
            if (drop.contains(name)) {
                continue;
            }
            if (option.arity().max() == 0) {
                args.add(name);
            } else {
                for (String value : option.originalStringValues()) {
                    args.add(name + "=" + value);
                }
            }
        }
        return args;
    }

    static void done(Call call) {
        try {
            call.reply.exit(0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ---- container creation ----

    abstract static class CreateOptions implements Handler {
        @Parameters(index = "0", paramLabel = "ID", description = "the container's id") String id;
        @Option(names = {"-b", "--bundle"}, paramLabel = "DIR", description = "the bundle directory (default: the current one)") String bundle;
        @Option(names = "--console-socket", paramLabel = "PATH", description = "where to send the terminal's master end") String consoleSocket;
        @Option(names = "--pid-file", paramLabel = "PATH", description = "where to write the container's pid") String pidFile;
        @Option(names = "--no-pivot", description = "passed to the low-level runtime") boolean noPivot;
        @Option(names = "--no-new-keyring", description = "passed to the low-level runtime") boolean noNewKeyring;
        @Option(names = "--preserve-fds", paramLabel = "N", description = "passed to the low-level runtime") int preserveFds;

        void launch(Call call, boolean run, boolean detach, ParseResult parsed) throws IOException {
            ContainerId.validate(id);
            BundleConfig config = BundleConfig.load(call.resolve(bundle == null ? "." : bundle));
            Isolation isolation = config.isolation(call.isolation);
            // the record keeps the bundle's own annotations: what hooks and state show
            SandboxRecord record = new SandboxRecord(id, isolation, config.bundle().toString(), config.rootfs().toString(),
                    java.time.Instant.now().toString(), "root", annotations(config), Status.CREATING, null);
            if (isolation == Isolation.CONTAINER) {
                config = ConfigRewriter.forContainer(config, isolation, id, call.view);
            }
            IsolationDriver.CreateSpec spec = new IsolationDriver.CreateSpec(id, config, call.resolveOrNull(pidFile),
                    call.resolveOrNull(consoleSocket), run, detach, forward(parsed, Set.of("--bundle")));
            IsolationDriver driver = call.drivers.of(isolation);
            Outcome.Stream stream;
            try (SandboxStore.Lock lock = call.store().lock(id)) {
                if (call.exists(id)) {
                    SandboxRecord half = call.store().load(id).orElse(null);
                    boolean unfinished = half != null && half.status() == Status.CREATING
                            && !ContainerDriver.runtimeHas(call.store(), id);
                    if (!call.retried() || !unfinished) {
                        throw new OciException("container \"" + id + "\" already exists");
                    }
                    // this very call, sent again: its first daemon died before finishing it
                    call.drivers.of(half.isolation()).abandon(call, half);
                }
                stream = call.carryOut(driver.create(call, record, spec));
            } catch (OciException | UncheckedIOException e) {
                if (!call.exists(id)) call.store().remove(id); // the lock's file, and the store's dir if it was the first
                throw e;
            }
            if (stream != null) call.stream(stream);
        }

        private static java.util.Map<String, String> annotations(BundleConfig config) {
            return new java.util.TreeMap<>(config.spec().annotations());
        }
    }

    @Command(name = "create", description = "Create a container from a bundle; `start` runs its process.")
    static final class Create extends CreateOptions {
        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            launch(call, false, false, parsed);
        }
    }

    @Command(name = "run", description = "Create and start a container; in the foreground, wait for it and remove it.")
    static final class Run extends CreateOptions {
        @Option(names = {"-d", "--detach"}, description = "do not wait for the container") boolean detach;
        @Option(names = "--keep", description = "passed to the low-level runtime") boolean keep;
        @Option(names = "--no-subreaper", description = "passed to the low-level runtime") boolean noSubreaper;

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            launch(call, true, detach, parsed);
        }
    }

    // ---- commands on an existing sandbox: its driver does them ----

    /** A command on one sandbox: found in the store, then given to its driver under its lock. */
    abstract static class OnSandbox implements Handler {
        @Parameters(index = "0", paramLabel = "ID", description = "the container's id") String id;

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            ContainerId.validate(id);
            call.require(id); // before the lock: asking after a container that does not exist leaves nothing
            List<String> passThrough = forward(parsed, Set.of());
            call.locked(id, record -> operate(call, call.drivers.of(record.isolation()), record, passThrough));
        }

        abstract Outcome operate(Call call, IsolationDriver driver, SandboxRecord record, List<String> passThrough);
    }

    @Command(name = "start", description = "Run the process of a created container.")
    static final class Start extends OnSandbox {
        @Override
        Outcome operate(Call call, IsolationDriver driver, SandboxRecord record, List<String> passThrough) {
            return driver.start(call, record);
        }
    }

    @Command(name = "state", description = "Print a container's state as JSON.")
    static final class State extends OnSandbox {
        @Override
        Outcome operate(Call call, IsolationDriver driver, SandboxRecord record, List<String> passThrough) {
            return driver.stateOutcome(call, record);
        }
    }

    @Command(name = "pause", description = "Suspend every process of a container.")
    static final class Pause extends OnSandbox {
        @Override
        Outcome operate(Call call, IsolationDriver driver, SandboxRecord record, List<String> passThrough) {
            return driver.pause(call, record, passThrough);
        }
    }

    @Command(name = "resume", description = "Resume a paused container.")
    static final class Resume extends OnSandbox {
        @Override
        Outcome operate(Call call, IsolationDriver driver, SandboxRecord record, List<String> passThrough) {
            return driver.resume(call, record, passThrough);
        }
    }

    @Command(name = "kill", description = "Send a signal (default SIGTERM) to a container's process.")
    static final class Kill extends OnSandbox {
        @Parameters(index = "1", arity = "0..1", paramLabel = "SIGNAL", description = "a name (TERM, SIGKILL) or number") String signal = "SIGTERM";
        @Option(names = {"-a", "--all"}, description = "to every process of the container") boolean all;

        @Override
        Outcome operate(Call call, IsolationDriver driver, SandboxRecord record, List<String> passThrough) {
            return driver.kill(call, record, Signals.parse(signal), all, passThrough);
        }
    }

    @Command(name = "delete", description = "Remove a stopped container (--force: any container).")
    static final class Delete extends OnSandbox {
        @Option(names = {"-f", "--force"}, description = "kill it first if it runs") boolean force;

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            ContainerId.validate(id);
            if ((force || call.retried()) && !call.exists(id)) {
                // as runc: deleting a container that is already gone, by force, succeeds; and so does
                // this call sent again after its first daemon died having deleted it
                done(call);
                return;
            }
            super.run(call, parsed);
        }

        @Override
        Outcome operate(Call call, IsolationDriver driver, SandboxRecord record, List<String> passThrough) {
            return driver.delete(call, record, force, passThrough);
        }
    }

    @Command(name = "exec", description = "Run another process in a running container.")
    static final class Exec extends OnSandbox {
        @Parameters(index = "1..*", paramLabel = "COMMAND", description = "the command and its arguments") List<String> command = List.of();
        @Option(names = "--console-socket", paramLabel = "PATH") String consoleSocket;
        @Option(names = "--cwd", paramLabel = "DIR") String cwd;
        @Option(names = {"-e", "--env"}, paramLabel = "NAME=VALUE") List<String> env;
        @Option(names = {"-t", "--tty"}) boolean tty;
        @Option(names = {"-u", "--user"}, paramLabel = "UID[:GID]") String user;
        @Option(names = {"-g", "--additional-gids"}, paramLabel = "GID") List<String> gids;
        @Option(names = {"-p", "--process"}, paramLabel = "FILE", description = "the process as OCI JSON") String process;
        @Option(names = {"-d", "--detach"}) boolean detach;
        @Option(names = "--pid-file", paramLabel = "PATH") String pidFile;
        @Option(names = "--process-label") String processLabel;
        @Option(names = "--apparmor") String apparmor;
        @Option(names = "--no-new-privs") boolean noNewPrivs;
        @Option(names = {"-c", "--cap"}) List<String> caps;
        @Option(names = "--preserve-fds") int preserveFds;
        @Option(names = "--cgroup") String cgroup;
        @Option(names = "--ignore-paused") boolean ignorePaused;

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            if (process == null && command.isEmpty()) {
                throw new OciException("exec: give a command or --process FILE");
            }
            if (process != null && !Files.isReadable(call.resolve(process))) {
                throw new OciException("exec: process file " + call.resolve(process) + " cannot be read");
            }
            super.run(call, parsed);
        }

        @Override
        Outcome operate(Call call, IsolationDriver driver, SandboxRecord record, List<String> passThrough) {
            // container isolation passes the exec through to crun; only a --process file is read,
            // for what crun does not apply itself (ContainerDriver.exec)
            JsonNode spec = record.isolation() != Isolation.CONTAINER || process != null ? processOf(call, record) : null;
            return driver.exec(call, record, new IsolationDriver.ExecSpec(spec, command, detach, call.resolveOrNull(pidFile),
                    call.resolveOrNull(consoleSocket), passThrough));
        }

        /** The OCI process of this exec: the --process file, or the container's own with the options applied. */
        private JsonNode processOf(Call call, SandboxRecord record) {
            if (this.process != null) {
                try {
                    return BundleConfig.JSON.readTree(call.resolve(this.process).toFile());
                } catch (IOException e) {
                    throw new OciException("exec: process file " + call.resolve(this.process) + " is not valid JSON");
                }
            }
            ObjectNode p = MicroVmDriver.defaultProcess(record);
            ArrayNode argv = p.putArray("args");
            command.forEach(argv::add);
            if (env != null) {
                ArrayNode envs = p.has("env") ? (ArrayNode) p.get("env") : p.putArray("env");
                env.forEach(envs::add);
            }
            if (cwd != null) p.put("cwd", cwd);
            if (user != null) {
                Users.User u = Users.resolve(Path.of(record.rootfs()), user);
                ObjectNode o = p.putObject("user").put("uid", u.uid()).put("gid", u.gid());
                ArrayNode extra = o.putArray("additionalGids");
                u.additionalGids().forEach(extra::add);
                if (gids != null) gids.forEach(g -> extra.add(Users.number(g, "--additional-gids")));
                ArrayNode envs = p.has("env") ? (ArrayNode) p.get("env") : p.putArray("env");
                if (u.home() != null) envs.add("HOME=" + u.home());
            }
            p.put("terminal", tty);
            if (noNewPrivs) p.put("noNewPrivileges", true);
            if (caps != null && !caps.isEmpty()) {
                // as runc's exec: each --cap joins the bounding, effective and permitted sets, and the
                // ambient one when the process has an inheritable set (ambient needs it)
                ObjectNode c = p.has("capabilities") ? (ObjectNode) p.get("capabilities") : p.putObject("capabilities");
                List<String> sets = new ArrayList<>(List.of("bounding", "effective", "permitted"));
                if (c.has("inheritable")) sets.add("ambient");
                for (String set : sets) {
                    ArrayNode names = c.has(set) ? (ArrayNode) c.get(set) : c.putArray(set);
                    caps.forEach(names::add);
                }
            }
            return p;
        }
    }

    @Command(name = "ps", description = "List a container's processes.")
    static final class Ps extends OnSandbox {
        @Option(names = {"-f", "--format"}, paramLabel = "table|json") String format;
        @Parameters(index = "1..*", paramLabel = "PS_ARGS", description = "arguments for ps(1)") List<String> psArgs = List.of();

        @Override
        Outcome operate(Call call, IsolationDriver driver, SandboxRecord record, List<String> passThrough) {
            return driver.ps(call, record, format, psArgs, passThrough);
        }
    }

    @Command(name = "update", description = "Change a container's resource limits.")
    static final class Update extends OnSandbox {
        @Option(names = {"-r", "--resources"}, paramLabel = "FILE") String resources;
        @Option(names = "--blkio-weight") String blkioWeight;
        @Option(names = "--cpu-period") String cpuPeriod;
        @Option(names = "--cpu-quota") String cpuQuota;
        @Option(names = "--cpu-rt-period") String cpuRtPeriod;
        @Option(names = "--cpu-rt-runtime") String cpuRtRuntime;
        @Option(names = "--cpu-share") String cpuShare;
        @Option(names = "--cpuset-cpus") String cpusetCpus;
        @Option(names = "--cpuset-mems") String cpusetMems;
        @Option(names = "--kernel-memory") String kernelMemory;
        @Option(names = "--kernel-memory-tcp") String kernelMemoryTcp;
        @Option(names = {"-m", "--memory"}) String memory;
        @Option(names = "--memory-reservation") String memoryReservation;
        @Option(names = "--memory-swap") String memorySwap;
        @Option(names = "--pids-limit") String pidsLimit;

        /**
         * The document is read here, the daemon's side, so that every driver gets it normalised
         * (runc's zeros taken out: see UpdateResources); {@code -} is the client's standard input,
         * read by a {@code cat} the client runs (Docker and containerd's shims write it there).
         */
        @Override
        Outcome operate(Call call, IsolationDriver driver, SandboxRecord record, List<String> passThrough) {
            List<String> options = passThrough.stream().filter(o -> !o.startsWith("--resources=")).toList();
            if (resources == null) return driver.update(call, record, options, null);
            if (resources.equals("-")) {
                return new Outcome.Capture(List.of(dev.vessel.linux.Tools.find("cat")), call.env(), (status, text) -> {
                    if (status != 0) throw new OciException("update: --resources -: standard input could not be read");
                    return driver.update(call, record, options, UpdateResources.parse(text, "-"));
                });
            }
            String text;
            try {
                text = java.nio.file.Files.readString(call.resolve(resources));
            } catch (IOException | RuntimeException e) {
                throw new OciException("update: --resources " + resources + ": no such readable file");
            }
            return driver.update(call, record, options, UpdateResources.parse(text, resources));
        }
    }

    @Command(name = "list", description = "List the containers of every isolation under --root.")
    static final class ListCommand implements Handler {
        @Option(names = {"-f", "--format"}, paramLabel = "table|json") String format = "table";
        @Option(names = {"-q", "--quiet"}, description = "ids only") boolean quiet;

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            if (!Set.of("table", "json").contains(format)) {
                throw new OciException("list: invalid --format \"" + format + "\" (use table or json)");
            }
            List<OciState> states = new ArrayList<>(call.drivers.container().list(call));
            Set<String> listed = new java.util.HashSet<>();
            states.forEach(s -> listed.add(s.id()));
            for (SandboxRecord record : call.store().list()) {
                if (listed.contains(record.id())) continue;
                if (record.isolation() == Isolation.CONTAINER) {
                    if (ContainerDriver.isStale(call.store(), record)) call.store().remove(record.id());
                    continue; // being created: not in the runtime's list yet
                }
                states.add(call.drivers.of(record.isolation()).state(call, record));
            }
            states.sort(java.util.Comparator.comparing(OciState::created, java.util.Comparator.nullsFirst(String::compareTo)));
            call.print(render(states, format, quiet));
            done(call);
        }

        static String render(List<OciState> states, String format, boolean quiet) throws IOException {
            if (quiet) {
                StringBuilder ids = new StringBuilder();
                states.forEach(s -> ids.append(s.id()).append('\n'));
                return ids.toString();
            }
            if (format.equals("json")) {
                return BundleConfig.JSON.writeValueAsString(states) + "\n";
            }
            List<String[]> rows = new ArrayList<>();
            rows.add(new String[] {"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"});
            for (OciState s : states) {
                rows.add(new String[] {s.id(), Long.toString(s.pid()), s.status(), String.valueOf(s.bundle()),
                        String.valueOf(s.created()), String.valueOf(s.owner())});
            }
            int[] width = new int[6];
            rows.forEach(r -> {
                for (int i = 0; i < r.length; i++) width[i] = Math.max(width[i], r[i].length());
            });
            StringBuilder out = new StringBuilder();
            for (String[] r : rows) {
                for (int i = 0; i < r.length; i++) {
                    out.append(i == r.length - 1 ? r[i] : String.format("%-" + (width[i] + 3) + "s", r[i]));
                }
                out.append('\n');
            }
            return out.toString();
        }
    }

    @Command(name = "events", description = "Print a container's statistics (--stats: once) as JSON events.")
    static final class Events extends OnSandbox {
        @Option(names = "--stats", description = "one stats event, then exit") boolean stats;
        @Option(names = "--interval", paramLabel = "DURATION", description = "between stats events (default 5s)") String interval = "5s";

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            CgroupEvents.parseInterval(interval); // a bad interval is one line, before anything else
            super.run(call, parsed);
        }

        @Override
        Outcome operate(Call call, IsolationDriver driver, SandboxRecord record, List<String> passThrough) {
            return driver.events(call, record, stats, CgroupEvents.parseInterval(interval));
        }
    }

    @Command(name = "features", description = "Print what this runtime supports, as JSON.")
    static final class Features implements Handler {
        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            try (var in = OciCli.class.getResourceAsStream("features.json")) {
                call.print(new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8));
            }
            done(call);
        }
    }

    @Command(name = "spec", description = "Write a default config.json into the bundle directory.")
    static final class Spec implements Handler {
        @Option(names = {"-b", "--bundle"}, paramLabel = "DIR") String bundle;
        @Option(names = "--rootless") boolean rootless;

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            Path dir = call.resolve(bundle == null ? "." : bundle);
            if (Files.exists(dir.resolve("config.json"))) {
                throw new OciException("spec: " + dir.resolve("config.json") + " already exists");
            }
            List<String> args = new ArrayList<>(call.runtimeArgv());
            args.addAll(List.of("spec", "--bundle=" + dir));
            if (rootless) {
                args.add("--rootless");
            }
            call.carryOut(new Outcome.Exec(args, call.env(), List.of()));
        }
    }
}
