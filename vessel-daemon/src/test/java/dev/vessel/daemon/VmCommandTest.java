package dev.vessel.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vessel.oci.OciException;
import picocli.CommandLine;
import org.junit.jupiter.api.Test;

/** How vessel vm's verbs parse (virtctl's spelling). */
class VmCommandTest {
    private static CommandLine.ParseResult verb(String... args) {
        CommandLine.ParseResult vm = OciCli.commandLine().parseArgs(args).subcommand();
        assertThat(vm.commandSpec().userObject()).isInstanceOf(VmCommand.class);
        return vm.subcommand();
    }

    @Test
    void applyTakesAFileOrStdin() {
        assertThat(((VmCommand.Apply) verb("vm", "apply", "-f", "vm.yaml").commandSpec().userObject()).file).isEqualTo("vm.yaml");
        assertThat(((VmCommand.Apply) verb("vm", "apply", "-f", "-").commandSpec().userObject()).file).isEqualTo("-");
        assertThat(((VmCommand.Apply) verb("vm", "create", "--filename", "x").commandSpec().userObject()).create()).isTrue();
        assertThatThrownBy(() -> OciCli.commandLine().parseArgs("vm", "apply"))
                .isInstanceOf(CommandLine.MissingParameterException.class);
    }

    @Test
    void stopTakesAGracePeriodOrForce() {
        VmCommand.Stop stop = (VmCommand.Stop) verb("vm", "stop", "testvm", "--grace-period", "5").commandSpec().userObject();
        assertThat(stop.name).isEqualTo("testvm");
        assertThat(stop.grace()).isEqualTo(5L);
        assertThat(((VmCommand.Stop) verb("vm", "stop", "testvm", "--force").commandSpec().userObject()).grace()).isZero();
        assertThat(((VmCommand.Delete) verb("vm", "delete", "testvm").commandSpec().userObject()).grace()).isNull();
        VmCommand.Restart bad = (VmCommand.Restart) verb("vm", "restart", "x", "--grace-period", "-1").commandSpec().userObject();
        assertThatThrownBy(bad::grace).isInstanceOf(OciException.class).hasMessageContaining("--grace-period");
    }

    @Test
    void everyVerbIsThere() {
        CommandLine vm = OciCli.commandLine().getSubcommands().get("vm");
        assertThat(vm.getSubcommands().keySet()).containsExactly("apply", "create", "list", "get", "start", "stop", "restart",
                "pause", "unpause", "delete", "console", "snapshot", "restore", "migrate", "image");
        VmCommand.Migrate migrate = (VmCommand.Migrate) verb("vm", "migrate", "a", "--to", "/run/b/vesseld.sock").commandSpec().userObject();
        assertThat(migrate.to).isEqualTo("/run/b/vesseld.sock");
        assertThat(((VmCommand.Restore) verb("vm", "restore", "a", "s1").commandSpec().userObject()).snapshot).isEqualTo("s1");
        assertThat(((VmCommand.Get) verb("vm", "get", "a", "-o", "yaml").commandSpec().userObject()).output).isEqualTo("yaml");
        assertThat(verb("vm", "console", "a", "--help").isUsageHelpRequested()).isTrue();
    }

    @Test
    void snapshotTakesOneOrListsOrDeletesThem() {
        VmCommand.Snapshot take = (VmCommand.Snapshot) verb("vm", "snapshot", "a", "s1").commandSpec().userObject();
        assertThat(take.name + " " + take.snapshot).isEqualTo("a s1");
        CommandLine.ParseResult delete = verb("vm", "snapshot", "delete", "a", "s1");
        assertThat(delete.hasSubcommand()).isTrue();
        VmCommand.SnapshotDelete d = (VmCommand.SnapshotDelete) delete.subcommand().commandSpec().userObject();
        assertThat(d.name + " " + d.snapshot).isEqualTo("a s1");
        CommandLine.ParseResult list = verb("vm", "snapshot", "list", "a", "-o", "json");
        assertThat(((VmCommand.SnapshotList) list.subcommand().commandSpec().userObject()).output).isEqualTo("json");
        assertThatThrownBy(() -> OciCli.commandLine().parseArgs("vm", "snapshot", "delete", "a"))
                .isInstanceOf(CommandLine.MissingParameterException.class);
    }

    @Test
    void aUsageErrorNamesTheVerbWithItsParent() {
        CommandLine cli = OciCli.commandLine();
        try {
            cli.parseArgs("vm", "get");
            throw new AssertionError("parsed");
        } catch (CommandLine.ParameterException e) {
            assertThat(OciCli.usageError(cli, e).getMessage()).isEqualTo(
                    "vm get: Missing required parameter: 'NAME' (see vessel vm get --help)");
        }
    }

    @Test
    void ageIsKubectls() {
        assertThat(VmCommand.age(java.time.Instant.now().minusSeconds(30).toString())).isEqualTo("30s");
        assertThat(VmCommand.age(java.time.Instant.now().minusSeconds(3 * 3600).toString())).isEqualTo("3h");
        assertThat(VmCommand.age(null)).isEqualTo("<unknown>");
    }
}
