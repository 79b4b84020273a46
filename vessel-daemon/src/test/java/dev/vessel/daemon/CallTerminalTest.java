package dev.vessel.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Progress reaches a caller only on a terminal (issue 10, item 6): what counts as one. */
class CallTerminalTest {
    @Test
    void terminalsAreThePtysTtysAndTheConsole() {
        assertThat(Call.isTerminalDevice("/dev/pts/3")).isTrue();
        assertThat(Call.isTerminalDevice("/dev/tty1")).isTrue();
        assertThat(Call.isTerminalDevice("/dev/tty")).isTrue();
        assertThat(Call.isTerminalDevice("/dev/console")).isTrue();
        assertThat(Call.isTerminalDevice("pipe:[123456]")).as("an engine's create: conmon's pipe").isFalse();
        assertThat(Call.isTerminalDevice("/tmp/x/create.log")).isFalse();
        assertThat(Call.isTerminalDevice("/dev/null")).isFalse();
        assertThat(Call.isTerminalDevice("/dev/ttyS0-not")).isFalse();
    }

    @Test
    void aProcessWhoseStderrIsAFileIsNotOnATerminal() throws Exception {
        java.nio.file.Path log = java.nio.file.Files.createTempFile("call-terminal", ".log");
        Process p = new ProcessBuilder("sleep", "30").redirectError(log.toFile()).start();
        try {
            assertThat(Call.isTerminal(p.pid())).isFalse();
        } finally {
            p.destroyForcibly();
            java.nio.file.Files.deleteIfExists(log);
        }
        assertThat(Call.isTerminal(0)).isFalse();
        assertThat(Call.isTerminal(Long.MAX_VALUE)).as("no such process").isFalse();
    }
}
