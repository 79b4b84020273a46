package dev.vessel.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class GuestStatsTest {
    private static final String ANSWER = "mem_total=268435456 mem_free=100000000 mem_available=200000000 mem_cached=5000 "
            + "cpu_user_ns=3000000000 cpu_system_ns=1000000000 cpu_idle_ns=9000000000 cpu0_ns=2500000000 cpu1_ns=1500000000 "
            + "oom_kill=2 pids=3 net.eth0=10,1,0,0,20,2,0,0 blk.vda=254,0,5,2560,6,3072 future_key=7";

    @Test
    void parsesEveryKey() {
        GuestStats s = GuestStats.parse(ANSWER);
        assertEquals(268435456L, s.memoryTotal());
        assertEquals(268435456L - 200000000L, s.memoryUsed());
        assertEquals(5000L, s.memory().get("cached"));
        assertEquals(4_000_000_000L, s.cpuTotalNs());
        assertEquals(List.of(2_500_000_000L, 1_500_000_000L), s.cpuNs());
        assertEquals(2, s.oomKills());
        assertEquals(3, s.pids());
        assertEquals(List.of(new GuestStats.Interface("eth0", 10, 1, 0, 0, 20, 2, 0, 0)), s.interfaces());
        assertEquals(List.of(new GuestStats.Disk("vda", 254, 0, 5, 2560, 6, 3072)), s.disks());
    }

    @Test
    void withoutMemAvailableUsedIsTotalMinusFree() {
        assertEquals(168435456L, GuestStats.parse("mem_total=268435456 mem_free=100000000").memoryUsed());
    }

    @Test
    void aBadValueIsNamed() {
        var e = assertThrows(IllegalArgumentException.class, () -> GuestStats.parse("pids=x"));
        assertEquals("the guest agent's STATS has a bad value: pids=x", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> GuestStats.parse("net.eth0=1,2"));
    }

    @Test
    void topEntries() {
        var p = GuestStats.Process.parse("7 1 1000 S 4096 20000000 sleep 1000");
        assertEquals(new GuestStats.Process(7, 1, 1000, 'S', 4096, 20_000_000, "sleep 1000"), p);
        assertEquals("", GuestStats.Process.parse("8 1 0 R 0 0").command());
    }
}
