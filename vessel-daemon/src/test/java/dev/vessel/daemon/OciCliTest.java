package dev.vessel.daemon;

import static org.assertj.core.api.Assertions.assertThat;

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
        assertThat(handler.extraArgs()).containsExactly("sh", "-c", "echo hi");
        assertThat(OciCli.forward(exec, Set.of())).containsExactly("--tty");
    }

    @Test
    void createDropsTheBundleWhichVesselPassesItself() {
        CommandLine.ParseResult create = parse("create", "--bundle", "/b", "--console-socket=/s.sock", "--no-pivot", "id");
        assertThat(OciCli.forward(create, Set.of("--bundle"))).containsExactlyInAnyOrder("--console-socket=/s.sock", "--no-pivot");
    }

    @Test
    void killTurnsTheSignalIntoANumber() {
        OciCli.Kill kill = (OciCli.Kill) parse("kill", "--all", "c", "SIGKILL").commandSpec().userObject();
        assertThat(kill.extraArgs()).isEqualTo(List.of("9"));
        OciCli.Kill byDefault = (OciCli.Kill) parse("kill", "c").commandSpec().userObject();
        assertThat(byDefault.extraArgs()).isEqualTo(List.of("15"));
    }

    @Test
    void updateFlagsPassThrough() {
        CommandLine.ParseResult update = parse("update", "--memory", "64m", "--cpu-quota=50000", "c");
        assertThat(OciCli.forward(update, Set.of())).containsExactlyInAnyOrder("--memory=64m", "--cpu-quota=50000");
    }
}
