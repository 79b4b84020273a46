package dev.vessel.view;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** /proc/stat, uptime, loadavg, diskstats and swaps. */
class ProcFilesTest {
    private static final long MIB = 1 << 20;
    /** Seconds since boot in the fixtures; the container's process started at tick 90000 (900 s). */
    private static final double NOW = 1000.5;

    @TempDir Path tmp;

    private static Fixture v1Container(Path tmp) {
        return Fixture.v1(tmp, 4)
                .cgroupFile("cpuset", "cpuset.cpus", "1-3")
                .cgroupFile("cpu", "cpu.cfs_quota_us", "150000")
                .cgroupFile("cpu", "cpu.cfs_period_us", "100000")
                // 3 s on CPU 1, 1 s on CPU 2, 2 s on CPU 3 (hidden by the quota: folded onto CPU 1)
                .cgroupFile("cpuacct", "cpuacct.usage_percpu", "0 3000000000 1000000000 2000000000")
                .cgroupFile("cpuacct", "cpuacct.usage", "6000000000")
                .cgroupFile("cpuacct", "cpuacct.stat", "user 450\nsystem 150")
                .process(101, 90_000, 'S')
                .process(102, 95_000, 'R');
    }

    @Test
    void statShowsTheVisibleCpusWithTheContainersTime() {
        Fixture fixture = v1Container(tmp);
        String stat = StatRenderer.render(fixture.read(), fixture.host(), NOW);
        List<String> lines = stat.lines().toList();

        // 100.5 s of uptime = 10050 ticks per CPU; CPU 1 used 5 s (3 + 2 folded), CPU 2 used 1 s.
        assertThat(lines).startsWith(
                "cpu  450 0 150 19500 0 0 0 0 0 0",
                "cpu0 375 0 125 9550 0 0 0 0 0 0",
                "cpu1 75 0 25 9950 0 0 0 0 0 0",
                "intr 438057 0 0 0");
        assertThat(stat).contains("btime 1795732266\n").contains("ctxt 894621\n").doesNotContain("cpu2");
    }

    @Test
    void statWithoutPerCpuAccountingSpreadsTheTotal_v2() {
        Fixture fixture = Fixture.v2(tmp, 2)
                .cgroupFile("", "cpu.max", "50000 100000")
                .cgroupFile("", "cpu.stat", "usage_usec 2000000\nuser_usec 1500000\nsystem_usec 500000")
                .process(7, 90_000, 'S');
        List<String> lines = StatRenderer.render(fixture.read(), fixture.host(), NOW).lines().toList();

        assertThat(lines).startsWith("cpu  150 0 50 9850 0 0 0 0 0 0", "cpu0 150 0 50 9850 0 0 0 0 0 0", "intr 438057 0 0 0");
    }

    @Test
    void statWithoutAccountingShowsTheHostsLinesOfTheVisibleCpus() {
        Fixture fixture = Fixture.v1(tmp, 4).cgroupFile("cpuset", "cpuset.cpus", "2");
        List<String> lines = StatRenderer.render(fixture.read(), fixture.host(), NOW).lines().toList();

        assertThat(lines).startsWith("cpu  5002 0 2000 50000 50 0 50 10 0 0", "cpu0 5002 0 2000 50000 50 0 50 10 0 0");
    }

    @Test
    void uptimeCountsFromTheOldestProcess() {
        Fixture fixture = v1Container(tmp);
        // 100.5 s on 2 CPUs = 201 s, minus 6 s used
        assertThat(UptimeRenderer.render(fixture.read(), fixture.host(), NOW)).isEqualTo("100.50 195.00\n");
    }

    @Test
    void uptimeWithoutProcessesIsTheHosts() {
        Fixture fixture = Fixture.v1(tmp, 2);
        assertThat(UptimeRenderer.render(fixture.read(), fixture.host(), NOW)).isEqualTo("1000.50 1800.00\n");
    }

    @Test
    void loadavgShowsTheContainersTasks() {
        Fixture fixture = v1Container(tmp);
        ContainerResources resources = fixture.read().withLoads(new Loads(true, 1.5, 0.25, 0.125));

        assertThat(LoadavgRenderer.render(resources, fixture.host(), NOW)).isEqualTo("1.50 0.25 0.13 1/2 20367\n");
    }

    @Test
    void loadTrackerDecaysLikeTheKernel() {
        LoadTracker tracker = new LoadTracker();
        Loads first = tracker.sample("c", 100, 40, 2); // assumed steady for the 60 s since the start
        Loads later = tracker.sample("c", 400, 40, 0); // 300 s idle

        assertThat(first.one()).isCloseTo(2 * (1 - Math.exp(-1)), org.assertj.core.data.Offset.offset(1e-9));
        assertThat(later.one()).isLessThan(0.01);
        assertThat(later.fifteen()).isGreaterThan(later.one());
    }

    @Test
    void diskstatsShowsOnlyDevicesTheContainerUsed_v2() {
        Fixture fixture = Fixture.v2(tmp, 2).cgroupFile("", "io.stat",
                "254:0 rbytes=1048576 wbytes=2097152 rios=10 wios=20 dbytes=0 dios=0\n253:0 rbytes=0 wbytes=0 rios=0 wios=0 dbytes=0 dios=0");

        assertThat(DiskstatsRenderer.render(fixture.read(), fixture.host(), NOW))
                .isEqualTo(" 254       0 vda 10 0 2048 0 20 0 4096 0 0 0 0 0 0 0 0 0 0\n");
    }

    @Test
    void diskstatsFromBlkio_v1() {
        Fixture fixture = Fixture.v1(tmp, 2)
                .cgroupFile("blkio", "blkio.throttle.io_service_bytes", "254:0 Read 512\n254:0 Write 1024\nTotal 1536")
                .cgroupFile("blkio", "blkio.throttle.io_serviced", "254:0 Read 1\n254:0 Write 2\nTotal 3");

        assertThat(DiskstatsRenderer.render(fixture.read(), fixture.host(), NOW))
                .isEqualTo(" 254       0 vda 1 0 1 0 2 0 2 0 0 0 0 0 0 0 0 0 0\n");
    }

    @Test
    void diskstatsWithoutAnIoControllerIsTheHosts() {
        Fixture fixture = Fixture.v2(tmp, 2);
        assertThat(DiskstatsRenderer.render(fixture.read(), fixture.host(), NOW)).isEqualTo(fixture.hostFile("proc/diskstats"));
    }

    @Test
    void swapsShowsTheContainersSwap() {
        Fixture fixture = Fixture.v2(tmp, 2)
                .cgroupFile("", "memory.max", Long.toString(512 * MIB))
                .cgroupFile("", "memory.current", Long.toString(100 * MIB))
                .cgroupFile("", "memory.swap.max", Long.toString(256 * MIB))
                .cgroupFile("", "memory.swap.current", Long.toString(MIB));

        assertThat(SwapsRenderer.render(fixture.read(), fixture.host(), NOW)).isEqualTo(SwapsRenderer.HEADER
                + "none                                    virtual\t262144\t\t1024\t\t0\n");
    }

    @Test
    void swapsWithoutSwapIsTheHeaderAlone() {
        Fixture fixture = Fixture.v2(tmp, 2)
                .cgroupFile("", "memory.max", Long.toString(512 * MIB))
                .cgroupFile("", "memory.swap.max", "0");

        assertThat(SwapsRenderer.render(fixture.read(), fixture.host(), NOW)).isEqualTo(SwapsRenderer.HEADER);
    }

    @Test
    void swapsWithoutAMemoryLimitIsTheHosts() {
        Fixture fixture = Fixture.v2(tmp, 2);
        assertThat(SwapsRenderer.render(fixture.read(), fixture.host(), NOW)).isEqualTo(fixture.hostFile("proc/swaps"));
    }
}
