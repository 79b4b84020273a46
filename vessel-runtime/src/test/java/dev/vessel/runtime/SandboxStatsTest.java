package dev.vessel.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class SandboxStatsTest {
    @Test
    void netDevSumsEveryInterfaceButLoopback() {
        String text = """
                Inter-|   Receive                                                |  Transmit
                 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
                    lo:  999999      10    0    0    0     0          0         0   999999      10    0    0    0     0       0          0
                  eth0:    1500      12    0    0    0     0          0         0     700       7    0    0    0     0       0          0
                  eth1:     500       2    0    0    0     0          0         0      300       3    0    0    0     0       0          0
                """;
        assertThat(SandboxStats.parseNetDev(text)).containsExactly(2000L, 1000L);
    }

    @Test
    void anUnlimitedCgroupHasNoLimit() {
        assertThat(SandboxStats.noLimit(Long.MAX_VALUE)).isZero();
        assertThat(SandboxStats.noLimit(9223372036854771712L)).isZero(); // v1's page-rounded "unlimited"
        assertThat(SandboxStats.noLimit(268435456L)).isEqualTo(268435456L);
    }
}
