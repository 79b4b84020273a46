package dev.vessel.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class MicroVmsTest {
    @Test
    void guestMemoryIsTheLimitPlusWhatTheGuestKernelKeeps() {
        assertThat(MicroVms.guestMemoryMib(512L << 20)).isEqualTo(512 + 48 + 8);
        assertThat(MicroVms.guestMemoryMib(256L << 20)).isEqualTo(256 + 48 + 4);
        assertThat(MicroVms.guestMemoryMib((512L << 20) + 1)).isEqualTo(513 + 48 + 8); // rounds up to whole MiB
        assertThat(MicroVms.guestMemoryMib(1)).isEqualTo(16 + 48); // a tiny limit still boots
    }
}
