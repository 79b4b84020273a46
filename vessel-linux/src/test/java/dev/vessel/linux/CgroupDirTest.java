package dev.vessel.linux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class CgroupDirTest {
    private static final List<String> HYBRID = List.of(
            "30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755",
            "31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
            "32 30 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
            "33 30 0:29 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd",
            "34 30 0:30 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw");
    private static final List<String> UNIFIED = List.of("30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate");

    @Test
    void everyHierarchyOfTheHybridLayout() {
        CgroupDir d = CgroupDir.at("/vessel/sandbox-ab/", HYBRID);
        assertEquals("vessel/sandbox-ab", d.path());
        assertFalse(d.isUnified());
        assertEquals(List.of(Path.of("/sys/fs/cgroup/cpu/vessel/sandbox-ab"), Path.of("/sys/fs/cgroup/memory/vessel/sandbox-ab"),
                Path.of("/sys/fs/cgroup/systemd/vessel/sandbox-ab"), Path.of("/sys/fs/cgroup/unified/vessel/sandbox-ab")), d.dirs());
        assertEquals(Optional.of(Path.of("/sys/fs/cgroup/memory/vessel/sandbox-ab")), d.dir("memory"));
        assertEquals(Optional.empty(), d.dir("pids"));
        assertEquals(Path.of("/sys/fs/cgroup/cpu/vessel/sandbox-ab/cgroup.procs"), d.procsFiles().getFirst());
    }

    @Test
    void unified() {
        CgroupDir d = CgroupDir.at("vessel/x", UNIFIED);
        assertTrue(d.isUnified());
        assertEquals(Optional.of(Path.of("/sys/fs/cgroup/vessel/x")), d.dir("memory"));
    }

    @Test
    void pathsThatAreNotCgroups() {
        assertThrows(IllegalArgumentException.class, () -> CgroupDir.at("/", UNIFIED));
        assertThrows(IllegalArgumentException.class, () -> CgroupDir.at("a/../..", UNIFIED));
    }

    @Test
    void ociPaths() {
        assertEquals("/libpod_parent/libpod-abc", CgroupDir.ociPath("/libpod_parent/libpod-abc"));
        assertEquals("machine.slice/machine-libpod.slice/libpod-abc.scope",
                CgroupDir.ociPath("machine-libpod.slice:libpod:abc"));
        assertEquals("system.slice/docker-abc.scope", CgroupDir.ociPath(":docker:abc"));
        assertEquals("kubepods.slice/kubepods-besteffort.slice/cri-containerd-abc.scope",
                CgroupDir.ociPath("kubepods-besteffort.slice:cri-containerd:abc"));
    }
}
