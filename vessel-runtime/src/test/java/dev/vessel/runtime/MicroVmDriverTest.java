package dev.vessel.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class MicroVmDriverTest {
    @Test
    void guestMemoryIsTheLimitPlusWhatTheGuestKernelKeeps() {
        assertThat(MicroVmDriver.guestMemoryMib(512L << 20)).isEqualTo(512 + 48 + 8);
        assertThat(MicroVmDriver.guestMemoryMib(256L << 20)).isEqualTo(256 + 48 + 4);
        assertThat(MicroVmDriver.guestMemoryMib((512L << 20) + 1)).isEqualTo(513 + 48 + 8); // rounds up to whole MiB
        assertThat(MicroVmDriver.guestMemoryMib(1)).isEqualTo(16 + 48); // a tiny limit still boots
    }
}
