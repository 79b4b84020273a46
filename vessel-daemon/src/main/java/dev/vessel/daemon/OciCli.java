package dev.vessel.daemon;

import dev.vessel.oci.BundleConfig;
import dev.vessel.oci.ConfigRewriter;
import dev.vessel.oci.ContainerId;
import dev.vessel.oci.Isolation;
import dev.vessel.oci.OciException;
import dev.vessel.oci.Signals;
import dev.vessel.oci.ViewPlan;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
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
            Vessel commands:      daemon start|stop|status, assets build|show, doctor
            global options: --root DIR, --log FILE, --log-format text|json, --debug, --systemd-cgroup,
                            --cgroup-manager cgroupfs|systemd, --version
            """;

    static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new OciCli());
        for (Object sub : List.of(new Create(), new Run(), new Start(), new State(), new Kill(), new Delete(),
                new ListCommand(), new Exec(), new Ps(), new Pause(), new Resume(), new Update(),
                new Events(), new Features(), new Spec())) {
            cli.addSubcommand(sub);
        }
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
        }
        PARSERS.offer(cli); // only now: a parser is used by one call at a time
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
        try {
            parsed = cli.parseArgs(call.request.args().toArray(String[]::new));
        } catch (CommandLine.UnmatchedArgumentException e) {
            boolean atTop = e.getCommandLine() == cli;
            String first = e.getUnmatched().isEmpty() ? "" : e.getUnmatched().getFirst();
            throw new OciException(atTop && !first.startsWith("-") ? "unknown command \"" + first + "\" (see vessel --help)"
                    : firstLine(e.getMessage()));
        } catch (CommandLine.ParameterException e) {
            throw new OciException(firstLine(e.getMessage()));
        }
        OciCli global = cli.getCommand();
        call.global = new LowLevelRuntime.GlobalOptions(
                global.root == null ? call.settings.stateRoot() : call.resolve(global.root),
                global.log == null ? null : call.resolve(global.log).toString(),
                global.logFormat, global.debug, global.systemdCgroup, global.cgroupManager);
        if (global.logFormat != null && !Set.of("text", "json").contains(global.logFormat)) {
            throw new OciException("invalid --log-format \"" + global.logFormat + "\" (use text or json)");
        }
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
        if (!Files.isDirectory(call.root())) {
            Files.createDirectories(call.root());
        }
        ((Handler) sub.commandSpec().userObject()).run(call, sub);
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
        @Parameters(index = "0", paramLabel = "ID") String id;
        @Option(names = {"-b", "--bundle"}) String bundle;
        @Option(names = "--console-socket") String consoleSocket;
        @Option(names = "--pid-file") String pidFile;
        @Option(names = "--no-pivot") boolean noPivot;
        @Option(names = "--no-new-keyring") boolean noNewKeyring;
        @Option(names = "--preserve-fds") int preserveFds;

        /** Checks everything create and run have in common and returns the config to execute. */
        BundleConfig prepare(Call call) {
            ContainerId.validate(id);
            if (call.exists(id)) {
                throw new OciException("container \"" + id + "\" already exists");
            }
            BundleConfig config = BundleConfig.load(call.resolve(bundle == null ? "." : bundle));
            Isolation isolation = config.isolation(call.settings.defaultIsolation());
            if (isolation == Isolation.MICROVM) {
                return config;
            }
            return ConfigRewriter.forContainer(config, isolation, id, call.view);
        }

        void launch(Call call, String subcommand, ParseResult parsed) throws IOException {
            BundleConfig config = prepare(call);
            if (config.isolation(call.settings.defaultIsolation()) == Isolation.MICROVM) {
                if (subcommand.equals("run")) {
                    call.microVms.run(call, id, config, pidFile, consoleSocket);
                } else {
                    call.microVms.create(call, id, config, pidFile, consoleSocket);
                }
                return;
            }
            List<String> args = new ArrayList<>(List.of(subcommand));
            args.addAll(forward(parsed, Set.of("--bundle")));
            if (call.runtime().isCrun()) {
                // crun reads the rewritten config from a memfd: nothing of ours to clean up if it fails.
                args.addAll(List.of("--bundle", config.bundle().toString(), "--config", Protocol.Program.fileArgument(0), id));
                call.execRuntime(args, List.of(config.toBytes()));
                return;
            }
            // runc reads config.json from a bundle directory, so it gets a copy that is removed
            // as soon as runc is done with it.
            Path shadow = Files.createTempDirectory(call.root(), "." + id + ".bundle");
            try {
                Files.write(shadow.resolve("config.json"), config.toBytes());
                args.addAll(List.of("--bundle", shadow.toString(), id));
                call.reply.exit(call.spawnRuntime(args));
            } finally {
                Files.deleteIfExists(shadow.resolve("config.json"));
                Files.deleteIfExists(shadow);
            }
        }
    }

    @Command(name = "create")
    static final class Create extends CreateOptions {
        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            launch(call, "create", parsed);
        }
    }

    @Command(name = "run")
    static final class Run extends CreateOptions {
        @Option(names = {"-d", "--detach"}) boolean detach;
        @Option(names = "--keep") boolean keep;
        @Option(names = "--no-subreaper") boolean noSubreaper;

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            launch(call, "run", parsed);
        }
    }

    // ---- commands on an existing container, executed by the low-level runtime ----

    /** Commands whose whole work is the low-level runtime's: checked here, then passed on. */
    abstract static class PassThrough implements Handler {
        @Parameters(index = "0", paramLabel = "ID") String id;

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            ContainerId.validate(id);
            call.requireExists(id);
            if (MicroVms.isMicroVm(call, id)) {
                microVm(call);
                return;
            }
            List<String> args = new ArrayList<>();
            args.add(parsed.commandSpec().name());
            args.addAll(forward(parsed, Set.of()));
            args.add(id);
            args.addAll(extraArgs());
            call.execRuntime(args);
        }

        List<String> extraArgs() {
            return List.of();
        }

        /** The same command for a microVM container. */
        void microVm(Call call) throws IOException {
            throw new OciException(getClass().getSimpleName().toLowerCase() + " is not supported for microvm containers");
        }
    }

    @Command(name = "start")
    static final class Start extends PassThrough {
        @Override
        void microVm(Call call) throws IOException {
            call.microVms.start(call, id);
        }
    }

    @Command(name = "state")
    static final class State extends PassThrough {
        @Override
        void microVm(Call call) throws IOException {
            call.print(call.microVms.state(call, id).toPrettyString() + "\n");
            done(call);
        }
    }

    @Command(name = "pause")
    static final class Pause extends PassThrough {
        @Override
        void microVm(Call call) throws IOException {
            call.microVms.pause(call, id, true);
        }
    }

    @Command(name = "resume")
    static final class Resume extends PassThrough {
        @Override
        void microVm(Call call) throws IOException {
            call.microVms.pause(call, id, false);
        }
    }

    @Command(name = "kill")
    static final class Kill extends PassThrough {
        @Parameters(index = "1", arity = "0..1", paramLabel = "SIGNAL") String signal = "SIGTERM";
        @Option(names = {"-a", "--all"}) boolean all;

        @Override
        List<String> extraArgs() {
            // crun 1.8 accepts unknown signal names silently: the name is checked and made a number here.
            return List.of(Integer.toString(Signals.parse(signal)));
        }

        @Override
        void microVm(Call call) throws IOException {
            call.microVms.kill(call, id, Signals.parse(signal), all);
        }
    }

    @Command(name = "delete")
    static final class Delete extends PassThrough {
        @Option(names = {"-f", "--force"}) boolean force;

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            ContainerId.validate(id);
            if (force && !call.exists(id)) {
                done(call); // as runc: deleting a container that is already gone, by force, succeeds
                return;
            }
            super.run(call, parsed);
        }

        @Override
        void microVm(Call call) throws IOException {
            call.microVms.delete(call, id, force);
        }
    }

    @Command(name = "exec")
    static final class Exec extends PassThrough {
        @Parameters(index = "1..*", paramLabel = "COMMAND") List<String> command = List.of();
        @Option(names = "--console-socket") String consoleSocket;
        @Option(names = "--cwd") String cwd;
        @Option(names = {"-e", "--env"}) List<String> env;
        @Option(names = {"-t", "--tty"}) boolean tty;
        @Option(names = {"-u", "--user"}) String user;
        @Option(names = {"-g", "--additional-gids"}) List<String> gids;
        @Option(names = {"-p", "--process"}) String process;
        @Option(names = {"-d", "--detach"}) boolean detach;
        @Option(names = "--pid-file") String pidFile;
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
        List<String> extraArgs() {
            return command;
        }

        @Override
        void microVm(Call call) throws IOException {
            ObjectNode process;
            if (this.process != null) {
                process = (ObjectNode) BundleConfig.JSON.readTree(call.resolve(this.process).toFile());
            } else {
                process = call.microVms.defaultProcess(call, id);
                ArrayNode argv = process.putArray("args");
                command.forEach(argv::add);
                if (env != null) {
                    ArrayNode envs = process.has("env") ? (ArrayNode) process.get("env") : process.putArray("env");
                    env.forEach(envs::add);
                }
                if (cwd != null) {
                    process.put("cwd", cwd);
                }
                if (user != null) {
                    String[] ug = user.split(":");
                    process.putObject("user").put("uid", Long.parseLong(ug[0])).put("gid", ug.length > 1 ? Long.parseLong(ug[1]) : 0);
                }
                process.put("terminal", tty);
            }
            call.microVms.exec(call, id, process, detach, pidFile, consoleSocket);
        }
    }

    @Command(name = "ps")
    static final class Ps extends PassThrough {
        @Option(names = {"-f", "--format"}) String format;
        @Parameters(index = "1..*", paramLabel = "PS_ARGS") List<String> psArgs = List.of();

        @Override
        void microVm(Call call) throws IOException {
            call.microVms.ps(call, id, format);
        }
    }

    @Command(name = "update")
    static final class Update extends PassThrough {
        @Option(names = {"-r", "--resources"}) String resources;
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
    }

    @Command(name = "list")
    static final class ListCommand implements Handler {
        @Option(names = {"-f", "--format"}) String format = "table";
        @Option(names = {"-q", "--quiet"}) boolean quiet;

        @Override
        public void run(Call call, ParseResult parsed) {
            if (!Set.of("table", "json").contains(format)) {
                throw new OciException("list: invalid --format \"" + format + "\" (use table or json)");
            }
            List<String> args = new ArrayList<>(List.of("list", "--format=" + format));
            if (quiet) {
                args.add("--quiet");
            }
            call.execRuntime(args);
        }
    }

    @Command(name = "events")
    static final class Events implements Handler {
        @Parameters(index = "0", paramLabel = "ID") String id;
        @Option(names = "--stats") boolean stats;
        @Option(names = "--interval") String interval = "5s";

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            ContainerId.validate(id);
            call.requireExists(id);
            if (MicroVms.isMicroVm(call, id)) {
                throw new OciException("events is not supported for microvm containers");
            }
            new ContainerEvents(call, id).run(stats, ContainerEvents.parseInterval(interval));
        }
    }

    @Command(name = "features")
    static final class Features implements Handler {
        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            try (var in = OciCli.class.getResourceAsStream("features.json")) {
                call.print(new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8));
            }
            done(call);
        }
    }

    @Command(name = "spec")
    static final class Spec implements Handler {
        @Option(names = {"-b", "--bundle"}) String bundle;
        @Option(names = "--rootless") boolean rootless;

        @Override
        public void run(Call call, ParseResult parsed) {
            Path dir = call.resolve(bundle == null ? "." : bundle);
            if (Files.exists(dir.resolve("config.json"))) {
                throw new OciException("spec: " + dir.resolve("config.json") + " already exists");
            }
            List<String> args = new ArrayList<>(List.of("spec", "--bundle=" + dir));
            if (rootless) {
                args.add("--rootless");
            }
            call.execRuntime(args);
        }
    }
}
