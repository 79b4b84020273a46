package dev.vessel.oci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class SignalsTest {
    @Test
    void acceptsRuncSpellings() {
        assertThat(Signals.parse("TERM")).isEqualTo(15);
        assertThat(Signals.parse("SIGKILL")).isEqualTo(9);
        assertThat(Signals.parse("sigusr1")).isEqualTo(10);
        assertThat(Signals.parse("2")).isEqualTo(2);
        assertThat(Signals.parse("SIGRTMIN")).isEqualTo(34);
        assertThat(Signals.parse("RTMIN+3")).isEqualTo(37);
        assertThat(Signals.parse("SIGRTMAX-1")).isEqualTo(63);
    }

    @Test
    void rejectsWhatNoKernelSignalIs() {
        for (String bad : new String[] {"BOGUS", "0", "65", "99999999999", "", "SIG", "RTMIN+40", "RTMAX+1"}) {
            assertThatThrownBy(() -> Signals.parse(bad)).isInstanceOf(OciException.class)
                    .hasMessageContaining("invalid signal");
        }
    }
}
