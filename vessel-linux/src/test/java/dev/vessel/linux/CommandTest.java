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
}
