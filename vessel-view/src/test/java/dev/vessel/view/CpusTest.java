package dev.vessel.view;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CpusTest {
    @TempDir Path tmp;

    private static String cpuinfo(Fixture fixture) {
        return CpuinfoRenderer.render(fixture.read(), fixture.host(), 1000);
    }

    private static String online(Fixture fixture) {
        return CpuOnlineRenderer.render(fixture.read(), fixture.host(), 1000);
    }

    private static List<String> processorLines(String cpuinfo) {
        return cpuinfo.lines().filter(l -> l.startsWith("processor")).toList();
    }

    @Test
    void cpusetOfOneCpuGivesOneBlock() {
        Fixture fixture = Fixture.v1(tmp, 2).cgroupFile("cpuset", "cpuset.cpus", "0");
        String cpuinfo = cpuinfo(fixture);

        assertThat(processorLines(cpuinfo)).containsExactly("processor\t: 0");
        assertThat(cpuinfo).contains("siblings\t: 1\n").contains("cpu cores\t: 1\n").endsWith("power management:\n\n");
        assertThat(online(fixture)).isEqualTo("0\n");
    }

    @Test
    void cpusetIsRenumberedFromZero() {
        Fixture fixture = Fixture.v2(tmp, 4).cgroupFile("", "cpuset.cpus.effective", "2-3");
        String cpuinfo = cpuinfo(fixture);

        assertThat(fixture.read().visibleCpus()).containsExactly(2, 3);
        assertThat(processorLines(cpuinfo)).containsExactly("processor\t: 0", "processor\t: 1");
        assertThat(cpuinfo).contains("apicid\t\t: 4\n").contains("apicid\t\t: 6\n"); // host CPUs 2 and 3
        assertThat(cpuinfo).contains("siblings\t: 2\n").contains("cpu cores\t: 1\n"); // 2 threads per core
        assertThat(online(fixture)).isEqualTo("0-1\n");
    }

    @Test
    void quotaOfOneAndAHalfCpusOnTwoShowsTwo() {
        Fixture fixture = Fixture.v1(tmp, 2)
                .cgroupFile("cpu", "cpu.cfs_quota_us", "150000")
                .cgroupFile("cpu", "cpu.cfs_period_us", "100000");

        assertThat(fixture.read().visibleCpus()).containsExactly(0, 1);
        assertThat(cpuinfo(fixture)).isEqualTo(fixture.hostFile("proc/cpuinfo"));
        assertThat(online(fixture)).isEqualTo("0-1\n");
    }

    @Test
    void quotaOfHalfACpuShowsOne_v1() {
        Fixture fixture = Fixture.v1(tmp, 2)
                .cgroupFile("cpu", "cpu.cfs_quota_us", "50000")
                .cgroupFile("cpu", "cpu.cfs_period_us", "100000");

        assertThat(fixture.read().visibleCpus()).containsExactly(0);
        assertThat(processorLines(cpuinfo(fixture))).hasSize(1);
        assertThat(online(fixture)).isEqualTo("0\n");
    }

    @Test
    void quotaOfHalfACpuShowsOne_v2() {
        Fixture fixture = Fixture.v2(tmp, 2).cgroupFile("", "cpu.max", "50000 100000");

        assertThat(fixture.read().visibleCpus()).containsExactly(0);
        assertThat(online(fixture)).isEqualTo("0\n");
    }

    @Test
    void quotaNarrowsTheCpusetToItsFirstCpus() {
        Fixture fixture = Fixture.v2(tmp, 8)
                .cgroupFile("", "cpuset.cpus.effective", "1,3,5-7")
                .cgroupFile("", "cpu.max", "250000 100000");

        assertThat(fixture.read().visibleCpus()).containsExactly(1, 3, 5);
    }

    @Test
    void aParentsTighterQuotaApplies() {
        Fixture fixture = Fixture.v2(tmp, 4)
                .cgroupFile("", "cpu.max", "max 100000")
                .parentFile("", "cpu.max", "100000 100000");

        assertThat(fixture.read().visibleCpus()).containsExactly(0);
    }

    @Test
    void noLimitShowsTheHostsFiles() {
        Fixture fixture = Fixture.v2(tmp, 2).cgroupFile("", "cpu.max", "max 100000");

        assertThat(cpuinfo(fixture)).isEqualTo(fixture.hostFile("proc/cpuinfo"));
        assertThat(online(fixture)).isEqualTo("0-1\n");
    }

    @Test
    void sharesOptionCountsSharesInsteadOfQuota_v1() {
        Fixture fixture = Fixture.v1(tmp, 4)
                .cgroupFile("cpu", "cpu.shares", "2048")
                .cgroupFile("cpu", "cpu.cfs_quota_us", "-1");

        assertThat(fixture.read().visibleCpus()).hasSize(4); // off by default
        assertThat(fixture.read(new ViewOptions(true)).visibleCpus()).containsExactly(0, 1);
    }

    @Test
    void sharesOptionRoundsUpAndShowsAtLeastOne() {
        Fixture small = Fixture.v1(tmp.resolve("a"), 4).cgroupFile("cpu", "cpu.shares", "2");
        Fixture between = Fixture.v1(tmp.resolve("b"), 4).cgroupFile("cpu", "cpu.shares", "1500");

        assertThat(small.read(new ViewOptions(true)).visibleCpus()).containsExactly(0);
        assertThat(between.read(new ViewOptions(true)).visibleCpus()).containsExactly(0, 1);
    }

    @Test
    void sharesOptionUsesWeight_v2() {
        Fixture fixture = Fixture.v2(tmp, 4)
                .cgroupFile("", "cpu.weight", "300")
                .cgroupFile("", "cpu.max", "50000 100000");

        assertThat(fixture.read(new ViewOptions(true)).visibleCpus()).containsExactly(0, 1, 2);
        assertThat(fixture.read().visibleCpus()).containsExactly(0);
    }

    @Test
    void unreadableFilesShowAllHostCpus() {
        Fixture fixture = Fixture.v1(tmp, 2)
                .cgroupFile("cpuset", "cpuset.cpus", "garbage")
                .cgroupFile("cpu", "cpu.cfs_quota_us", "nonsense");

        assertThat(fixture.read().visibleCpus()).containsExactly(0, 1);
        assertThat(cpuinfo(fixture)).isEqualTo(fixture.hostFile("proc/cpuinfo"));
    }

    @Test
    void cpusetOutsideTheOnlineCpusIsIgnored() {
        Fixture fixture = Fixture.v1(tmp, 2).cgroupFile("cpuset", "cpuset.cpus", "1,7");

        assertThat(fixture.read().visibleCpus()).containsExactly(1);
    }

    @Test
    void cpuListParsesAndFormats() {
        assertThat(CpuList.parse("0-3,5\n")).containsExactly(0, 1, 2, 3, 5);
        assertThat(CpuList.parse("")).isEmpty();
        assertThat(CpuList.parse("3-1")).isEmpty();
        assertThat(CpuList.format(new int[] {0, 1, 2, 5, 7, 8})).isEqualTo("0-2,5,7-8");
        assertThat(CpuList.format(new int[] {0})).isEqualTo("0");
    }
}
