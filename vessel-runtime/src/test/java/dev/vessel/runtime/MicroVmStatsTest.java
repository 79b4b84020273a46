package dev.vessel.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vessel.oci.OciException;
import dev.vessel.vmm.GuestStats;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The microVM's events, update and ps from the agent's answers: the pure parts. */
class MicroVmStatsTest {
    private static final GuestStats GUEST = GuestStats.parse("mem_total=268435456 mem_free=100000000 mem_available=200000000 "
            + "mem_cached=3000 mem_buffers=1000 mem_inactive_file=500 cpu_user_ns=3000 cpu_system_ns=1000 cpu0_ns=4000 "
            + "oom_kill=1 pids=2 net.eth0=10,1,0,0,20,2,0,0 blk.vda=254,0,5,2560,6,3072");

    @Test
    void eventsAreRuncsShapeWithTheGuestsNumbersAndQemuApart() {
        var data = MicroVmEvents.stats(GUEST, new MicroVmEvents.QemuCost(42, 300 << 20, 7_000_000, "vessel/sandbox-x", 1234));
        assertEquals(4000, data.at("/cpu/usage/total").asLong());
        assertEquals(4000, data.at("/cpu/usage/percpu/0").asLong());
        assertEquals(268435456L - 200000000L, data.at("/memory/usage/usage").asLong());
        assertEquals(268435456L, data.at("/memory/usage/limit").asLong());
        assertEquals(4000, data.at("/memory/cache").asLong());
        assertFalse(data.at("/memory/raw").has("inactive_file"), "usage is the working set already");
        assertEquals(2, data.at("/pids/current").asLong());
        assertEquals("eth0", data.at("/network_interfaces/0/name").asText());
        assertEquals(20, data.at("/network_interfaces/0/tx_bytes").asLong());
        assertEquals(3072, data.at("/blkio/ioServiceBytesRecursive/1/value").asLong());
        assertEquals("Write", data.at("/blkio/ioServiceBytesRecursive/1/op").asText());
        assertEquals(300L << 20, data.at("/vessel/qemu_rss_bytes").asLong());
        assertEquals(7_000_000, data.at("/vessel/qemu_cpu_ns").asLong());
        assertEquals("vessel/sandbox-x", data.at("/vessel/sandbox_cgroup").asText());
    }

    @Test
    void qemuStatFields() {
        // after "(qemu-system-x86) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
        String after = "S 1 2 2 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 3 0 123 1000000 2048 18446744073709551615";
        assertEquals(150, MicroVmEvents.QemuCost.parse(after, 11));
        assertEquals(50, MicroVmEvents.QemuCost.parse(after, 12));
        assertEquals(2048, MicroVmEvents.QemuCost.parse(after, 21));
    }

    @Test
    void updateTakesCpuAndMemory() {
        var l = MicroVmUpdate.parse("c", List.of("--cpu-quota=50000", "--cpu-period=100000", "--cpu-share=512", "--memory=128m"), null);
        assertEquals(new MicroVmCgroups.OciLimits(128L << 20, 50000L, 100000L, 512L), l);
        assertEquals(-1, MicroVmUpdate.bytes("c", "--memory", "-1"));
        assertEquals(1L << 30, MicroVmUpdate.bytes("c", "--memory", "1g"));
    }

    @Test
    void updateRefusesTheRestInOneLine() {
        var e = assertThrows(OciException.class, () -> MicroVmUpdate.parse("c", List.of("--pids-limit=10"), null));
        assertEquals("update of microvm container \"c\": --pids-limit cannot be changed (a microVM takes --cpu-quota, "
                + "--cpu-period, --cpu-share and --memory)", e.getMessage());
        e = assertThrows(OciException.class, () -> MicroVmUpdate.parse("c", List.of("--memory=lots"), null));
        assertEquals("update of microvm container \"c\": invalid --memory \"lots\"", e.getMessage());
        var pids = UpdateResources.parse("{\"pids\":{\"limit\":10}}", "-");
        e = assertThrows(OciException.class, () -> MicroVmUpdate.parse("c", List.of(), pids));
        assertEquals("update of microvm container \"c\": --resources: pids cannot be changed (a microVM takes --cpu-quota, "
                + "--cpu-period, --cpu-share and --memory)", e.getMessage());
    }

    @Test
    void updateTakesDockersDocumentWithItsZeros() {
        // what `docker update --cpus 0.5` sends (Docker 20.10, captured): the zeros mean "unchanged"
        var docker = UpdateResources.parse("{\"memory\":{\"limit\":0,\"reservation\":0,\"kernel\":0},"
                + "\"cpu\":{\"shares\":0,\"quota\":50000,\"period\":100000},\"blockIO\":{\"weight\":0}}", "-");
        assertEquals(new MicroVmCgroups.OciLimits(null, 50000L, 100000L, null), MicroVmUpdate.parse("c", List.of(), docker));
        // a flag wins over the document, as runc's do
        assertEquals(new MicroVmCgroups.OciLimits(null, 20000L, 100000L, null),
                MicroVmUpdate.parse("c", List.of("--cpu-quota=20000"), docker));
    }

    @Test
    void updateTakesContainerdsDocumentWithTheSpecsDeviceRules() {
        // what containerd 1.6's CRI sends for UpdateContainerResources: the spec's linux.resources, devices and all
        var cri = UpdateResources.parse("{\"devices\":[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\","
                + "\"major\":1,\"minor\":3,\"access\":\"rwm\"}],\"memory\":{\"limit\":201326592,\"swap\":201326592},"
                + "\"cpu\":{\"shares\":512,\"quota\":50000,\"period\":100000}}", "-");
        assertEquals(new MicroVmCgroups.OciLimits(201326592L, 50000L, 100000L, 512L), MicroVmUpdate.parse("c", List.of(), cri));
    }

    @Test
    void bootLimitInvertsGuestMemory() {
        for (dev.vessel.vmm.GuestKernel kernel : dev.vessel.vmm.GuestKernel.values()) {
            for (long mib : List.of(64L, 256L, 512L, 1000L)) {
                int ram = MicroVmDriver.guestMemoryMib(mib << 20, kernel);
                assertEquals(mib << 20, MicroVmDriver.bootLimitBytes(ram, kernel));
            }
        }
    }

    @Test
    void guestProcessesAsPsShowsThem() {
        String table = MicroVmDriver.guestTable(List.of(new GuestStats.Process(7, 1, 0, 'S', 4096 * 1024, 61_000_000_000L, "sleep 100")));
        assertEquals("  UID   PID  PPID STAT      RSS    TIME CMD\n    0     7     1 S        4096    1:01 sleep 100\n", table);
    }
}
