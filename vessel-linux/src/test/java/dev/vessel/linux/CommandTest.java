package dev.vessel.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class CommandTest {
    @Test
    void inputGoesInOutputAndStatusComeBack() throws Exception {
        Command.Result r = Command.run(List.of("sh", "-c", "cat; echo oops >&2; exit 3"), "hello\n", Duration.ofSeconds(10));
        assertThat(r.status()).isEqualTo(3);
        assertThat(r.output()).contains("hello", "oops");
        assertThat(r.firstLine()).isEqualTo("hello");
        assertThat(new Command.Result(2, "\n  \n").firstLine()).isEqualTo("exit status 2");
    }

    @Test
    void aProgramThatIsNotThereOrTooSlowIsAnIoException() {
        assertThatThrownBy(() -> Command.run(List.of("/no/such/program"), "", Duration.ofSeconds(10)))
                .isInstanceOf(IOException.class).isNotInstanceOf(Command.TimeoutException.class);
        assertThatThrownBy(() -> Command.run(List.of("sh", "-c", "exec sleep 5 >/dev/null"), "", Duration.ofMillis(200)))
                .isInstanceOf(Command.TimeoutException.class).hasMessageContaining("did not finish within");
    }

    @Test
    void aStartedProgramLivesOnWithStdinFromDevNullAndItsOutputInTheFile(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Path log = dir.resolve("out.log");
        Process p = Command.start(List.of("sh", "-c", "cat; echo out; echo err >&2; exit 4"), ProcessBuilder.Redirect.to(log.toFile()));
        assertThat(p.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)).as("cat read EOF from /dev/null").isTrue();
        assertThat(p.exitValue()).isEqualTo(4);
        assertThat(java.nio.file.Files.readString(log)).isEqualTo("out\nerr\n");
    }

    @Test
    void aFilterGetsTheBytesAndGivesItsStdoutOnly() throws Exception {
        byte[] input = "xxhello\nyy".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] out = Command.filter(List.of("sh", "-c", "tr a-z A-Z; echo noise >&2; exit 1"), input, 2, 6, Duration.ofSeconds(10));
        assertThat(new String(out, java.nio.charset.StandardCharsets.UTF_8)).isEqualTo("HELLO\n");
        assertThatThrownBy(() -> Command.filter(List.of("sh", "-c", "exec sleep 5 >/dev/null"), new byte[0], 0, 0, Duration.ofMillis(200)))
                .isInstanceOf(Command.TimeoutException.class);
    }
}
