package dev.vessel.view;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MeminfoTest {
    private static final long MIB = 1 << 20;

    @TempDir Path tmp;

    private static Fixture v1With512MiB(Path tmp) {
        return Fixture.v1(tmp, 2)
                .cgroupFile("memory", "memory.limit_in_bytes", Long.toString(512 * MIB))
                .cgroupFile("memory", "memory.usage_in_bytes", Long.toString(200 * MIB))
                .cgroupFile("memory", "memory.memsw.limit_in_bytes", Long.toString(1024 * MIB))
                .cgroupFile("memory", "memory.memsw.usage_in_bytes", Long.toString(210 * MIB))
                .cgroupFile("memory", "memory.stat", """
                        cache 1
                        rss 1
                        hierarchical_memory_limit %d
                        hierarchical_memsw_limit %d
                        total_swap %d
                        total_cache %d
                        total_rss %d
                        total_shmem %d
                        total_mapped_file %d
                        total_active_anon %d
                        total_inactive_anon %d
                        total_active_file %d
                        total_inactive_file %d""".formatted(512 * MIB, 1024 * MIB, 10 * MIB,
                        100 * MIB, 90 * MIB, 4 * MIB, 8 * MIB, 30 * MIB, 60 * MIB, 40 * MIB, 56 * MIB));
    }

    private static String render(Fixture fixture) {
        return MeminfoRenderer.render(fixture.read(), fixture.host(), 1000);
    }

    @Test
    void limitOf512MiBIsMemTotal_v1() {
        Fixture fixture = v1With512MiB(tmp);
        Map<String, Long> meminfo = MeminfoText.values(render(fixture));

        assertThat(meminfo).containsEntry("MemTotal", 524288L)
                .containsEntry("MemFree", 312 * 1024L)
                // free + active_file + inactive_file
                .containsEntry("MemAvailable", (312 + 40 + 56) * 1024L)
                .containsEntry("Cached", 100 * 1024L)
                .containsEntry("Buffers", 0L)
                .containsEntry("Active", 70 * 1024L)
                .containsEntry("Inactive", 116 * 1024L)
                .containsEntry("Active(anon)", 30 * 1024L)
                .containsEntry("Inactive(file)", 56 * 1024L)
                .containsEntry("Shmem", 4 * 1024L)
                .containsEntry("Mapped", 8 * 1024L)
                .containsEntry("AnonPages", 90 * 1024L)
                // memsw 1 GiB - memory 512 MiB = 512 MiB of swap (the host has 2 GiB); 10 MiB used
                .containsEntry("SwapTotal", 512 * 1024L)
                .containsEntry("SwapFree", 502 * 1024L);
    }

    @Test
    void limitOf512MiBIsMemTotal_v2() {
        Fixture fixture = Fixture.v2(tmp, 2)
                .cgroupFile("", "memory.max", Long.toString(512 * MIB))
                .cgroupFile("", "memory.current", Long.toString(100 * MIB))
                .cgroupFile("", "memory.swap.max", "0")
                .cgroupFile("", "memory.swap.current", "0")
                .cgroupFile("", "memory.stat", """
                        anon %d
                        file %d
                        shmem 0
                        active_file %d
                        inactive_file %d
                        slab_reclaimable %d
                        slab_unreclaimable %d""".formatted(60 * MIB, 40 * MIB, 10 * MIB, 20 * MIB, 2 * MIB, 1 * MIB));
        Map<String, Long> meminfo = MeminfoText.values(render(fixture));

        assertThat(meminfo).containsEntry("MemTotal", 524288L)
                .containsEntry("MemFree", 412 * 1024L)
                .containsEntry("MemAvailable", (412 + 10 + 20 + 2) * 1024L)
                .containsEntry("Cached", 40 * 1024L)
                .containsEntry("Slab", 3 * 1024L)
                .containsEntry("SwapTotal", 0L)
                .containsEntry("SwapFree", 0L);
    }

    @Test
    void keepsEveryHostLineInOrderWithTheKernelsLayout() {
        Fixture fixture = v1With512MiB(tmp);
        List<String> rendered = render(fixture).lines().toList();
        List<String> host = fixture.hostFile("proc/meminfo").lines().toList();

        assertThat(rendered).hasSameSizeAs(host);
        for (int i = 0; i < host.size(); i++) {
            assertThat(MeminfoText.key(rendered.get(i))).isEqualTo(MeminfoText.key(host.get(i)));
        }
        assertThat(rendered.get(0)).isEqualTo("MemTotal:         524288 kB");
        assertThat(rendered).contains("HugePages_Total:       0");
    }

    @Test
    void hostOnlyLinesNeverExceedMemTotal() {
        Map<String, Long> meminfo = MeminfoText.values(render(v1With512MiB(tmp)));

        assertThat(meminfo.get("VmallocTotal")).isEqualTo(524288L);
        assertThat(meminfo.get("DirectMap1G")).isEqualTo(524288L);
        meminfo.forEach((key, value) -> assertThat(value).as(key).isBetween(0L, 524288L));
    }

    @Test
    void noLimitShowsTheHostsFile_v1() {
        Fixture fixture = Fixture.v1(tmp, 2)
                .cgroupFile("memory", "memory.limit_in_bytes", "9223372036854771712")
                .cgroupFile("memory", "memory.usage_in_bytes", Long.toString(200 * MIB));

        assertThat(render(fixture)).isEqualTo(fixture.hostFile("proc/meminfo"));
    }

    @Test
    void noLimitShowsTheHostsFile_v2() {
        Fixture fixture = Fixture.v2(tmp, 2).cgroupFile("", "memory.max", "max");

        assertThat(render(fixture)).isEqualTo(fixture.hostFile("proc/meminfo"));
    }

    @Test
    void aLimitAboveTheHostsMemoryIsNoLimit() {
        Fixture fixture = Fixture.v2(tmp, 2).cgroupFile("", "memory.max", Long.toString(1L << 40));

        assertThat(fixture.read().memory().limited()).isFalse();
        assertThat(render(fixture)).isEqualTo(fixture.hostFile("proc/meminfo"));
    }

    @Test
    void aParentsLimitApplies_v2() {
        Fixture fixture = Fixture.v2(tmp, 2)
                .cgroupFile("", "memory.max", "max")
                .parentFile("", "memory.max", Long.toString(256 * MIB));

        assertThat(MeminfoText.values(render(fixture))).containsEntry("MemTotal", 256 * 1024L);
    }

    @Test
    void aParentsLimitApplies_v1() {
        Fixture fixture = Fixture.v1(tmp, 2)
                .cgroupFile("memory", "memory.limit_in_bytes", "9223372036854771712")
                .cgroupFile("memory", "memory.stat", "total_cache 0\nhierarchical_memory_limit " + 256 * MIB);

        assertThat(MeminfoText.values(render(fixture))).containsEntry("MemTotal", 256 * 1024L);
    }

    @Test
    void swapFromMemswFilesWhenStatIsUnreadable_v1() {
        Fixture fixture = Fixture.v1(tmp, 2)
                .cgroupFile("memory", "memory.limit_in_bytes", Long.toString(512 * MIB))
                .cgroupFile("memory", "memory.usage_in_bytes", Long.toString(100 * MIB))
                .cgroupFile("memory", "memory.memsw.limit_in_bytes", Long.toString(768 * MIB))
                .cgroupFile("memory", "memory.memsw.usage_in_bytes", Long.toString(104 * MIB));

        assertThat(MeminfoText.values(render(fixture)))
                .containsEntry("SwapTotal", 256 * 1024L)
                .containsEntry("SwapFree", 252 * 1024L);
    }

    @Test
    void usageAboveTheLimitGivesZeroFreeNotNegative() {
        Fixture fixture = Fixture.v1(tmp, 2)
                .cgroupFile("memory", "memory.limit_in_bytes", Long.toString(512 * MIB))
                .cgroupFile("memory", "memory.usage_in_bytes", Long.toString(600 * MIB))
                .cgroupFile("memory", "memory.stat", "total_cache 0\ntotal_active_file 0\ntotal_inactive_file 0");
        Map<String, Long> meminfo = MeminfoText.values(render(fixture));

        assertThat(meminfo).containsEntry("MemTotal", 524288L)
                .containsEntry("MemFree", 0L)
                .containsEntry("MemAvailable", 0L);
        meminfo.values().forEach(v -> assertThat(v).isNotNegative());
    }

    @Test
    void unreadableStatFallsBackToHostValuesCappedAtTheLimit() {
        Fixture fixture = Fixture.v1(tmp, 2)
                .cgroupFile("memory", "memory.limit_in_bytes", Long.toString(64 * MIB))
                .cgroupFile("memory", "memory.usage_in_bytes", Long.toString(10 * MIB));
        Map<String, Long> meminfo = MeminfoText.values(render(fixture));

        assertThat(meminfo).containsEntry("MemTotal", 64 * 1024L);
        assertThat(meminfo.get("Cached")).isEqualTo(Math.min(64 * 1024L, fixture.host().meminfoKb("Cached", 0)));
    }

    @Test
    void unreadableHostMeminfoStillGivesTheContainersLines() throws Exception {
        Fixture fixture = v1With512MiB(tmp);
        java.nio.file.Files.delete(tmp.resolve("proc/meminfo"));

        ContainerResources resources = fixture.read();
        String text = MeminfoRenderer.render(resources, fixture.host(), 1000);

        assertThat(resources.memory().totalBytes()).isPositive();
        assertThat(text).startsWith("MemTotal:");
    }

    @Test
    void memTotalIsNeverZero() {
        Fixture fixture = Fixture.v1(tmp, 2).cgroupFile("memory", "memory.limit_in_bytes", "0");

        assertThat(MeminfoText.values(render(fixture)).get("MemTotal")).isPositive();
    }
}
