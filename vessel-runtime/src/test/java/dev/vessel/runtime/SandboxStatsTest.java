package dev.vessel.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vessel.vmm.GuestStats;
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
    void aMicroVmsStatsAreItsGuestsAsEventsGivesThemWithQemuApart() {
        GuestStats guest = GuestStats.parse("mem_total=268435456 mem_free=100000000 mem_available=200000000 "
                + "cpu_user_ns=3000000000 cpu_system_ns=1000000000 pids=2 net.eth0=10,1,0,0,20,2,0,0 net.eth1=5,1,0,0,7,1,0,0 "
                + "blk.vda=254,0,5,2560,6,3072 blk.vdb=254,16,1,512,1,1024");
        SandboxStats.VmmCost qemu = SandboxStats.VmmCost.of(new MicroVmEvents.QemuCost(42, 300L << 20, 7_000_000_000L, "vessel/sandbox-x", 1234));
        SandboxStats stats = SandboxStats.ofGuest(guest, 256L << 20, qemu);
        var events = MicroVmEvents.stats(guest, new MicroVmEvents.QemuCost(42, 300L << 20, 7_000_000_000L, "vessel/sandbox-x", 1234));
        assertThat(stats.source()).isEqualTo(SandboxStats.GUEST);
        assertThat(stats.cpuSeconds()).isEqualTo(4.0);
        assertThat(stats.memoryWorkingSetBytes()).as("events' memory usage").isEqualTo(events.at("/memory/usage/usage").asLong())
                .isEqualTo(268435456L - 200000000L);
        assertThat(stats.memoryUsageBytes()).as("page cache included").isEqualTo(268435456L - 100000000L);
        assertThat(stats.memoryLimitBytes()).isEqualTo(256L << 20);
        assertThat(new long[] {stats.networkRxBytes(), stats.networkTxBytes(), stats.fsReadBytes(), stats.fsWriteBytes(), stats.pids()})
                .containsExactly(15, 27, 3072, 4096, 2);
        assertThat(stats.vmm()).isEqualTo(new SandboxStats.VmmCost(42, 7.0, 300L << 20, 1234));
    }

    @Test
    void withoutABundleLimitAMicroVmsLimitIsItsGuestsMemory() {
        GuestStats guest = GuestStats.parse("mem_total=268435456 mem_free=100000000 mem_available=200000000");
        assertThat(SandboxStats.ofGuest(guest, 0, null).memoryLimitBytes()).isEqualTo(268435456L);
    }

    @Test
    void anUnlimitedCgroupHasNoLimit() {
        assertThat(SandboxStats.noLimit(Long.MAX_VALUE)).isZero();
        assertThat(SandboxStats.noLimit(9223372036854771712L)).isZero(); // v1's page-rounded "unlimited"
        assertThat(SandboxStats.noLimit(268435456L)).isEqualTo(268435456L);
    }
}
