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
    void cpuOfProcStatIsUserPlusSystemTicks() {
        // a name with spaces and a parenthesis: fields are counted after the last ')'
        String stat = "4242 (qemu (x) sys) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 100 0 0";
        assertThat(SandboxStats.cpuSecondsOfStat(stat)).isEqualTo(3.0);
    }

    @Test
    void keyedReadsTheFirstNumberOfEachLine() {
        var values = SandboxStats.keyed("Name:\tqemu\nVmRSS:\t  123456 kB\nThreads:\t5\n");
        assertThat(values).containsEntry("VmRSS", 123456L).containsEntry("Threads", 5L).doesNotContainKey("Name");
    }

    @Test
    void anUnlimitedCgroupHasNoLimit() {
        assertThat(SandboxStats.noLimit(Long.MAX_VALUE)).isZero();
        assertThat(SandboxStats.noLimit(9223372036854771712L)).isZero(); // v1's page-rounded "unlimited"
        assertThat(SandboxStats.noLimit(268435456L)).isEqualTo(268435456L);
    }
}
