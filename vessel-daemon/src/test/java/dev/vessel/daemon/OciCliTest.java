package dev.vessel.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vessel.oci.Isolation;
import dev.vessel.oci.OciException;
import dev.vessel.oci.Signals;
import dev.vessel.runtime.OciState;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** How runc's command lines parse, and what is passed on to the low-level runtime. */
class OciCliTest {
    private static CommandLine.ParseResult parse(String... args) {
        return OciCli.commandLine().parseArgs(args).subcommand();
    }

    @Test
    void containerdExecLineIsForwardedWithItsOptions() {
        CommandLine.ParseResult exec = parse("--root", "/run/containerd/runc/default", "--log", "log.json",
                "--log-format", "json", "exec", "--process", "/tmp/p.json", "--detach", "--pid-file", "/tmp/pid", "ctr1");
        assertThat(OciCli.forward(exec, Set.of()))
                .containsExactlyInAnyOrder("--process=/tmp/p.json", "--detach", "--pid-file=/tmp/pid");
        assertThat(((OciCli.Exec) exec.commandSpec().userObject()).id).isEqualTo("ctr1");
    }

    @Test
    void inlineExecStopsParsingOptionsAtTheCommand() {
        CommandLine.ParseResult exec = parse("exec", "-t", "ctr1", "sh", "-c", "echo hi");
        OciCli.Exec handler = (OciCli.Exec) exec.commandSpec().userObject();
        assertThat(handler.command).containsExactly("sh", "-c", "echo hi");
        assertThat(OciCli.forward(exec, Set.of())).containsExactly("--tty");
    }

    @Test
    void createDropsTheBundleWhichVesselPassesItself() {
        CommandLine.ParseResult create = parse("create", "--bundle", "/b", "--console-socket=/s.sock", "--no-pivot", "id");
        assertThat(OciCli.forward(create, Set.of("--bundle"))).containsExactlyInAnyOrder("--console-socket=/s.sock", "--no-pivot");
    }

    @Test
    void isolationIsAGlobalFlagInEitherSpelling() {
        for (String[] args : List.of(
                new String[] {"--isolation=microvm", "--root", "/r", "--log", "/b/log.json", "--log-format", "json", "create", "--bundle", "/b", "id"},
                new String[] {"--root", "/r", "--isolation", "MicroVM", "run", "id"})) {
            CommandLine cli = OciCli.commandLine();
            cli.parseArgs(args);
            assertThat(OciCli.isolation(cli.getCommand(), Isolation.CONTAINER)).as(String.join(" ", args)).isEqualTo(Isolation.MICROVM);
        }
        CommandLine cli = OciCli.commandLine();
        cli.parseArgs("--isolation=container", "create", "id");
        assertThat(OciCli.isolation(cli.getCommand(), Isolation.MICROVM)).isEqualTo(Isolation.CONTAINER);
    }

    @Test
    void withoutTheFlagTheDaemonsDefaultHolds() {
        CommandLine cli = OciCli.commandLine();
        cli.parseArgs("create", "id");
        assertThat(OciCli.isolation(cli.getCommand(), Isolation.MICROVM)).isEqualTo(Isolation.MICROVM);
        assertThat(OciCli.isolation(cli.getCommand(), Isolation.CONTAINER)).isEqualTo(Isolation.CONTAINER);
    }

    @Test
    void aBadIsolationIsOneLineNamingTheFlag() {
        CommandLine cli = OciCli.commandLine();
        cli.parseArgs("--isolation=kvm", "create", "id");
        assertThatThrownBy(() -> OciCli.isolation(cli.getCommand(), Isolation.CONTAINER))
                .isInstanceOf(OciException.class)
                .hasMessage("--isolation: unknown isolation \"kvm\" (use container or microvm)");
        assertThatThrownBy(() -> OciCli.commandLine().parseArgs("create", "id", "--isolation"))
                .isInstanceOf(CommandLine.ParameterException.class); // after the command it is not a global flag
    }

    @Test
    void aGlobalFlagVesselDoesNotKnowStillLeavesTheLogKnown() {
        // the failure goes to --log: containerd's shim (Docker's too) reads the error back from there
        CommandLine cli = OciCli.commandLine();
        assertThatThrownBy(() -> cli.parseArgs("--no-such-flag", "--root", "/r", "--log", "/b/log.json", "--log-format", "json",
                "create", "--bundle", "/b", "id")).isInstanceOf(CommandLine.UnmatchedArgumentException.class);
        OciCli global = cli.getCommand();
        assertThat(global.log + " " + global.logFormat).isEqualTo("/b/log.json json");
    }

    @Test
    void killTurnsTheSignalIntoANumber() {
        OciCli.Kill kill = (OciCli.Kill) parse("kill", "--all", "c", "SIGKILL").commandSpec().userObject();
        assertThat(Signals.parse(kill.signal)).isEqualTo(9);
        OciCli.Kill byDefault = (OciCli.Kill) parse("kill", "c").commandSpec().userObject();
        assertThat(Signals.parse(byDefault.signal)).isEqualTo(15);
    }

    @Test
    void everyCommandTakesHelpWithoutItsRequiredArguments() {
        CommandLine cli = OciCli.commandLine();
        for (String command : cli.getSubcommands().keySet()) {
            CommandLine.ParseResult parsed = OciCli.commandLine().parseArgs(command, "--help").subcommand();
            assertThat(parsed.isUsageHelpRequested()).as(command).isTrue();
            assertThat(parsed.commandSpec().commandLine().getUsageMessage()).as(command).contains("Usage: vessel " + command);
        }
        assertThat(cli.getSubcommands().keySet()).contains("vmm", "image", "assets", "doctor", "daemon", "help");
    }

    @Test
    void anUnknownCommandGetsADidYouMean() {
        CommandLine cli = OciCli.commandLine();
        assertThat(OciCli.unknownCommand(cli, "creat").getMessage()).contains("did you mean create");
        assertThat(OciCli.unknownCommand(cli, "lsit").getMessage()).contains("did you mean list");
        assertThat(OciCli.unknownCommand(cli, "xyzzyq").getMessage()).doesNotContain("did you mean");
        assertThatThrownBy(() -> cli.parseArgs("lsit")).isInstanceOfSatisfying(CommandLine.UnmatchedArgumentException.class,
                e -> assertThat(OciCli.unmatched(cli, e).getMessage())
                        .isEqualTo("unknown command \"lsit\" (did you mean list?) (see vessel --help)"));
    }

    @Test
    void aMistypedVerbOfAGroupGetsADidYouMeanToo() {
        CommandLine cli = OciCli.commandLine();
        assertThatThrownBy(() -> cli.parseArgs("vm", "aply", "-f", "x.yaml"))
                .isInstanceOfSatisfying(CommandLine.UnmatchedArgumentException.class, e -> assertThat(OciCli.unmatched(cli, e)
                        .getMessage()).isEqualTo("vm: unknown command \"aply\" (did you mean apply?) (see vessel vm --help)"));
        // an extra argument after a verb is a usage error of that verb, not a command
        assertThatThrownBy(() -> cli.parseArgs("vm", "list", "extra"))
                .isInstanceOfSatisfying(CommandLine.UnmatchedArgumentException.class, e -> assertThat(OciCli.unmatched(cli, e)
                        .getMessage()).startsWith("vm list: ").endsWith("(see vessel vm list --help)"));
    }

    @Test
    void aBadOptionIsOneLineNamingTheCommandAndItsHelp() {
        CommandLine cli = OciCli.commandLine();
        // each parse must fail: a catch alone would pass if it did not
        assertThatThrownBy(() -> cli.parseArgs("doctor", "--yaml")).isInstanceOfSatisfying(CommandLine.ParameterException.class,
                e -> assertThat(OciCli.usageError(cli, e).getMessage())
                        .isEqualTo("doctor: Unknown option: '--yaml' (see vessel doctor --help)"));
        assertThatThrownBy(() -> cli.parseArgs("image", "ext4", "/a", "/b", "--size", "big"))
                .isInstanceOfSatisfying(CommandLine.ParameterException.class,
                        e -> assertThat(OciCli.usageError(cli, e).getMessage()).startsWith("image: ").contains("--size"));
        assertThatThrownBy(() -> cli.parseArgs("--nope", "list")).isInstanceOfSatisfying(CommandLine.ParameterException.class,
                e -> assertThat(OciCli.usageError(cli, e).getMessage()).endsWith("(see vessel --help)"));
    }

    @Test
    void listRendersRuncsColumnsAndJson() throws Exception {
        List<OciState> states = List.of(new OciState("1.0.2", "vm1", 42, "running", "/b", "/b/rootfs",
                "2026-12-01T00:00:00Z", "root", java.util.Map.of()));
        String table = OciCli.ListCommand.render(states, "table", false);
        assertThat(table.lines().findFirst().orElse("")).startsWith("ID").contains("PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
        assertThat(table).contains("vm1").contains("42").contains("running");
        assertThat(OciCli.ListCommand.render(states, "json", false)).startsWith("[{\"ociVersion\":\"1.0.2\",\"id\":\"vm1\"");
        assertThat(OciCli.ListCommand.render(states, "table", true)).isEqualTo("vm1\n");
    }

    @Test
    void updateFlagsPassThrough() {
        CommandLine.ParseResult update = parse("update", "--memory", "64m", "--cpu-quota=50000", "c");
        assertThat(OciCli.forward(update, Set.of())).containsExactlyInAnyOrder("--memory=64m", "--cpu-quota=50000");
    }
}
