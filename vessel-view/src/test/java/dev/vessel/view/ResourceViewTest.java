package dev.vessel.view;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ResourceViewTest {
    private static final long MIB = 1 << 20;
    private static final long PID = 4242;

    @TempDir Path tmp;

    /** A 512 MiB, 1.5-CPU container on a 2-CPU host, with one process started 100.5 s ago. */
    private Fixture container512MiB(Fixture fixture) {
        String dir = fixture.unified ? "" : "memory";
        if (fixture.unified) {
            fixture.cgroupFile("", "memory.max", Long.toString(512 * MIB))
                    .cgroupFile("", "memory.current", Long.toString(128 * MIB))
                    .cgroupFile("", "memory.stat", "file %d\nshmem %d\nactive_file 0\ninactive_file %d".formatted(
                            64 * MIB, 2 * MIB, 32 * MIB))
                    .cgroupFile("", "memory.swap.max", Long.toString(512 * MIB))
                    .cgroupFile("", "memory.swap.current", "0")
                    .cgroupFile("", "cpu.max", "150000 100000");
        } else {
            fixture.cgroupFile(dir, "memory.limit_in_bytes", Long.toString(512 * MIB))
                    .cgroupFile(dir, "memory.usage_in_bytes", Long.toString(128 * MIB))
                    .cgroupFile(dir, "memory.stat", "total_cache %d\ntotal_shmem %d\ntotal_inactive_file %d".formatted(
                            64 * MIB, 2 * MIB, 32 * MIB))
                    .cgroupFile(dir, "memory.memsw.limit_in_bytes", Long.toString(1024 * MIB))
                    .cgroupFile(dir, "memory.memsw.usage_in_bytes", Long.toString(128 * MIB))
                    .cgroupFile("cpu", "cpu.cfs_quota_us", "150000")
                    .cgroupFile("cpu", "cpu.cfs_period_us", "100000");
        }
        return fixture.process(PID, 90_000, 'R');
    }

    private static String text(byte[] bytes) {
        return new String(bytes, StandardCharsets.ISO_8859_1);
    }

    @Test
    void rendersForTheCallersCgroup_v1() {
        Fixture fixture = container512MiB(Fixture.v1(tmp, 2));
        ResourceView view = new ResourceView(tmp, ViewOptions.DEFAULTS);

        assertThat(text(view.render("/proc/meminfo", PID))).startsWith("MemTotal:         524288 kB\nMemFree:          393216 kB\n");
        assertThat(text(view.render("/sys/devices/system/cpu/online", PID))).isEqualTo("0-1\n");
        assertThat(text(view.render("/proc/uptime", PID))).startsWith("100.50 ");
    }

    @Test
    void rendersForTheCallersCgroup_v2() {
        container512MiB(Fixture.v2(tmp, 2));
        ResourceView view = new ResourceView(tmp, ViewOptions.DEFAULTS);

        assertThat(text(view.render("/proc/meminfo", PID))).startsWith("MemTotal:         524288 kB\n");
        assertThat(text(view.render("/proc/swaps", PID))).contains("virtual\t524288\t\t0\t\t0\n");
        assertThat(text(view.render("/proc/loadavg", PID))).endsWith(" 1/1 20367\n");
    }

    @Test
    void everyPathRendersAndUnknownPathsAreEmpty() {
        container512MiB(Fixture.v2(tmp, 2));
        ResourceView view = new ResourceView(tmp, ViewOptions.DEFAULTS);

        assertThat(ResourceView.paths()).contains("/proc/meminfo", "/proc/cpuinfo", "/proc/stat", "/proc/uptime",
                "/proc/loadavg", "/proc/diskstats", "/proc/swaps", "/sys/devices/system/cpu/online");
        for (String path : ResourceView.paths()) {
            assertThat(view.render(path, PID)).as(path).isNotNull();
        }
        assertThat(view.render("/etc/shadow", PID)).isEmpty();
    }

    @Test
    void anExitedOrUnknownCallerGetsTheHostsFiles() {
        Fixture fixture = Fixture.v2(tmp, 2);
        ResourceView view = new ResourceView(tmp, ViewOptions.DEFAULTS);

        assertThat(text(view.render("/proc/meminfo", 99999))).isEqualTo(fixture.hostFile("proc/meminfo"));
        assertThat(text(view.render("/proc/cpuinfo", -1))).isEqualTo(fixture.hostFile("proc/cpuinfo"));
        assertThat(view.visibleCpus(99999)).containsExactly(0, 1);
        assertThat(view.sysinfo(99999).totalram()).isEqualTo(fixture.host().memTotalBytes());
    }

    @Test
    void aCgroupWhoseFilesAreGoneGivesTheHostsFiles() throws Exception {
        Fixture fixture = container512MiB(Fixture.v2(tmp, 2));
        ResourceView view = new ResourceView(tmp, ViewOptions.DEFAULTS);
        deleteTree(tmp.resolve("cgroup/unified/ctr"));

        assertThat(text(view.render("/proc/meminfo", PID))).isEqualTo(fixture.hostFile("proc/meminfo"));
        assertThat(text(view.render("/proc/cpuinfo", PID))).isEqualTo(fixture.hostFile("proc/cpuinfo"));
        assertThat(text(view.render("/sys/devices/system/cpu/online", PID))).isEqualTo("0-1\n");
        assertThat(text(view.render("/proc/stat", PID))).isEqualTo(fixture.hostFile("proc/stat"));
    }

    @Test
    void aCallerOutsideAnyKnownHierarchyGetsTheHostsFiles() throws Exception {
        Fixture fixture = container512MiB(Fixture.v1(tmp, 2));
        Files.writeString(tmp.resolve("proc/" + PID + "/cgroup"), "garbage\n");
        ResourceView view = new ResourceView(tmp, ViewOptions.DEFAULTS);

        assertThat(text(view.render("/proc/meminfo", PID))).isEqualTo(fixture.hostFile("proc/meminfo"));
    }

    @Test
    void sysinfoAgreesWithMeminfo() {
        container512MiB(Fixture.v1(tmp, 2));
        ResourceView view = new ResourceView(tmp, ViewOptions.DEFAULTS);
        Map<String, Long> meminfo = MeminfoText.values(text(view.render("/proc/meminfo", PID)));
        Sysinfo info = view.sysinfo(PID);

        assertThat(info.totalram()).isEqualTo(meminfo.get("MemTotal") * 1024);
        assertThat(info.freeram()).isEqualTo(meminfo.get("MemFree") * 1024);
        assertThat(info.sharedram()).isEqualTo(meminfo.get("Shmem") * 1024);
        assertThat(info.bufferram()).isEqualTo(meminfo.get("Buffers") * 1024);
        assertThat(info.totalswap()).isEqualTo(meminfo.get("SwapTotal") * 1024);
        assertThat(info.freeswap()).isEqualTo(meminfo.get("SwapFree") * 1024);
        assertThat(info.memUnit()).isEqualTo(1);
        assertThat(info.totalhigh()).isZero();
        assertThat(info.procs()).isEqualTo(1);
        assertThat(info.uptime()).isEqualTo(101); // 100.5 s, rounded up as the kernel does
        assertThat(info.loads()).hasSize(3);
        assertThat(java.util.Arrays.stream(info.loads()).min().orElse(-1)).isNotNegative();
    }

    @Test
    void visibleCpusFollowTheQuota() {
        Fixture fixture = Fixture.v2(tmp, 2).cgroupFile("", "cpu.max", "50000 100000").process(PID, 1, 'S');
        ResourceView view = new ResourceView(tmp, ViewOptions.DEFAULTS);

        assertThat(view.visibleCpus(PID)).containsExactly(0);
        assertThat(text(view.render("/sys/devices/system/cpu/online", PID))).isEqualTo("0\n");
        assertThat(text(view.render("/proc/cpuinfo", PID)).lines().filter(l -> l.startsWith("processor"))).hasSize(1);
    }

    @Test
    void aReusedPidIsResolvedAgain() throws Exception {
        Fixture fixture = Fixture.v2(tmp, 2).cgroupFile("", "cpu.max", "50000 100000").process(PID, 1, 'S');
        ResourceView view = new ResourceView(tmp, ViewOptions.DEFAULTS);
        assertThat(view.visibleCpus(PID)).containsExactly(0);

        // The process exits and a host process gets its pid: a different start time, the root cgroup.
        fixture.write("proc/" + PID + "/stat", PID + " (sh) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777 1 1\n");
        fixture.write("proc/" + PID + "/cgroup", "0::/\n");
        Thread.sleep(CgroupResolver.TRUST_NANOS / 1_000_000 + 10); // within it, a cached pid is trusted

        assertThat(view.visibleCpus(PID)).containsExactly(0, 1);
    }

    private static void deleteTree(Path dir) throws Exception {
        try (var walk = Files.walk(dir)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
