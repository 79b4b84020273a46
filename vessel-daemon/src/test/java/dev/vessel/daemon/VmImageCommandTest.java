package dev.vessel.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** `vessel vm image build` as picocli parses it under `vm`, and its help without the required arguments. */
class VmImageCommandTest {
    private static CommandLine.ParseResult deepest(String... args) {
        CommandLine.ParseResult parsed = OciCli.commandLine().parseArgs(args);
        while (parsed.hasSubcommand()) parsed = parsed.subcommand();
        return parsed;
    }

    @Test
    void buildTakesKindOutSizeAndPackages() {
        CommandLine.ParseResult parsed = deepest("vm", "image", "build", "debian", "out.qcow2", "--size", "4G",
                "--packages", "vim,curl");
        VmImageCommand.Build build = (VmImageCommand.Build) parsed.commandSpec().userObject();
        assertThat(build.kind).isEqualTo("debian");
        assertThat(build.output).isEqualTo("out.qcow2");
        assertThat(build.size).isEqualTo("4G");
        assertThat(build.packages).isEqualTo("vim,curl");
        assertThat(deepest("vm", "image", "build", "debian", "o").commandSpec().userObject())
                .extracting(b -> ((VmImageCommand.Build) b).size).isNull();
    }

    @Test
    void everyLevelTakesHelp() {
        for (String[] args : new String[][] {{"vm", "--help"}, {"vm", "image", "--help"}, {"vm", "image", "build", "--help"}}) {
            CommandLine.ParseResult parsed = deepest(args);
            assertThat(parsed.isUsageHelpRequested()).as(String.join(" ", args)).isTrue();
            assertThat(parsed.commandSpec().commandLine().getUsageMessage())
                    .contains("Usage: vessel " + String.join(" ", java.util.Arrays.copyOf(args, args.length - 1)));
        }
    }

    @Test
    void aMissingOutIsAUsageError() {
        assertThatThrownBy(() -> OciCli.commandLine().parseArgs("vm", "image", "build", "debian"))
                .isInstanceOf(CommandLine.ParameterException.class).hasMessageContaining("OUT.qcow2");
        CommandLine top = OciCli.commandLine();
        CommandLine.ParameterException e = org.assertj.core.api.Assertions.catchThrowableOfType(
                CommandLine.ParameterException.class, () -> top.parseArgs("vm", "image", "build", "debian"));
        // the one line names the nested command whose help tells more
        assertThat(OciCli.usageError(top, e).getMessage()).isEqualTo("vm image build: Missing required parameter:"
                + " 'OUT.qcow2' (see vessel vm image build --help)");
    }
}
