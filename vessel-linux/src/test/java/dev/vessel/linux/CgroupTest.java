package dev.vessel.linux;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class CgroupTest {
    static final List<String> HYBRID_MOUNTS = List.of(
            "30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory",
            "31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct",
            "32 25 0:28 / /sys/fs/cgroup/unified rw,relatime shared:11 - cgroup2 cgroup2 rw",
            "33 25 0:29 / /sys/fs/cgroup/systemd rw shared:12 - cgroup cgroup rw,xattr,name=systemd");

    @Test
    void hybridLayoutMapsEachV1Controller() {
        Cgroup cgroup = Cgroup.parse(List.of(
                "4:memory:/libpod_parent/abc",
                "3:cpu,cpuacct:/libpod_parent/abc",
                "1:name=systemd:/",
                "0::/"), HYBRID_MOUNTS);
        assertThat(cgroup.isUnified()).isFalse();
        assertThat(cgroup.dir("memory")).contains(Path.of("/sys/fs/cgroup/memory/libpod_parent/abc"));
        assertThat(cgroup.dir("cpuacct")).contains(Path.of("/sys/fs/cgroup/cpu,cpuacct/libpod_parent/abc"));
        assertThat(cgroup.dir("pids")).isEmpty();
    }

    @Test
    void unifiedLayoutUsesOneDirectoryForAllControllers() {
        Cgroup cgroup = Cgroup.parse(List.of("0::/system.slice/x.scope"),
                List.of("25 20 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate"));
        assertThat(cgroup.isUnified()).isTrue();
        assertThat(cgroup.dir("memory")).contains(Path.of("/sys/fs/cgroup/system.slice/x.scope"));
        assertThat(cgroup.dir("cpu")).isEqualTo(cgroup.dir("memory"));
    }

    @Test
    void numbersAsCgroupFilesWriteThem() {
        assertThat(Cgroup.parseLong("max")).contains(Long.MAX_VALUE);
        assertThat(Cgroup.parseLong(" 42\n")).contains(42L);
        assertThat(Cgroup.parseLong("junk")).isEmpty();
    }

    @Test
    void unreadableFilesReadAsEmpty() {
        Cgroup cgroup = Cgroup.parse(List.of("4:memory:/does/not/exist"), HYBRID_MOUNTS);
        assertThat(cgroup.read("memory", "memory.limit_in_bytes")).isEmpty();
        assertThat(cgroup.readLong("memory", "memory.limit_in_bytes", 7)).isEqualTo(7);
        assertThat(cgroup.readKeyed("memory", "memory.stat")).isEmpty();
    }

    @Test
    void everyHierarchyRootOnceEachWhateverTheLayout() {
        assertThat(Cgroup.hierarchyRoots(HYBRID_MOUNTS)).containsExactly(Path.of("/sys/fs/cgroup/memory"),
                Path.of("/sys/fs/cgroup/cpu,cpuacct"), Path.of("/sys/fs/cgroup/unified"), Path.of("/sys/fs/cgroup/systemd"));
        List<String> v2TwiceAndOthers = List.of(
                "22 1 8:1 / / rw - ext4 /dev/sda1 rw",
                "89 25 0:22 /some/cgroup /run/bound rw - cgroup2 cgroup2 rw",
                "25 20 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate",
                "90 25 0:22 / /run/other/cgroup rw - cgroup2 cgroup2 rw",
                "26 20 0:23 / /sys/fs/cgroup/cpuset rw - tmpfs tmpfs rw");
        assertThat(Cgroup.hierarchyRoots(v2TwiceAndOthers)).containsExactly(Path.of("/sys/fs/cgroup"));
        // only a cgroup of the hierarchy is mounted (a container without a cgroup namespace): that is its root here
        assertThat(Cgroup.hierarchyRoots(List.of("89 25 0:22 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw")))
                .containsExactly(Path.of("/sys/fs/cgroup"));
    }

    @Test
    void aServiceUnitIsFoundInTheSystemdOrTheUnifiedHierarchy() {
        assertThat(Cgroup.serviceUnit(List.of("4:memory:/", "1:name=systemd:/vessel.slice/vesseld.service", "0::/")))
                .contains("vesseld.service");
        assertThat(Cgroup.serviceUnit(List.of("0::/vessel.slice/vesseld.service"))).contains("vesseld.service");
        // started by podman: conmon's scope, a libpod cgroup, or the root on a host without systemd
        assertThat(Cgroup.serviceUnit(List.of("0::/machine.slice/libpod-conmon-abc.scope"))).isEmpty();
        assertThat(Cgroup.serviceUnit(List.of("4:memory:/libpod_parent/conmon", "1:name=systemd:/", "0::/"))).isEmpty();
        // a controller's path alone proves nothing
        assertThat(Cgroup.serviceUnit(List.of("4:memory:/system.slice/x.service", "0::/"))).isEmpty();
    }
}
