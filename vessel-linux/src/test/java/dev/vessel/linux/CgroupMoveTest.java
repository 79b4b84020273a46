package dev.vessel.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Moving a real process into a top-level cgroup of every hierarchy (root only: cgroupfs writes). */
class CgroupMoveTest {
    @Test
    void aProcessJoinsTheNamedCgroupInEveryHierarchy() throws Exception {
        require(((Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid")) == 0, "moving a process between cgroups needs root");
        String top = "vessel-test-" + ProcessHandle.current().pid();
        String name = top + "/daemon"; // nested, as the daemon's own (every level gets its cpuset)
        Process sleeper = new ProcessBuilder("sleep", "60").start();
        List<Path> roots = Cgroup.hierarchyRoots(Files.readAllLines(Path.of("/proc/self/mountinfo")));
        try {
            assertThat(Cgroup.moveUnderRoots(sleeper.pid(), name)).isEmpty();
            List<String> lines = Files.readAllLines(Path.of("/proc/" + sleeper.pid() + "/cgroup"));
            assertThat(lines).isNotEmpty().allSatisfy(line -> assertThat(line).endsWith(":/" + name));
            // cpuset (v1) took its parent's CPUs rather than refusing the task
            for (Path r : roots) {
                if (Files.exists(r.resolve(name).resolve("cpuset.cpus"))) {
                    assertThat(Files.readString(r.resolve(name).resolve("cpuset.cpus")).trim()).isNotEmpty();
                }
            }
        } finally {
            sleeper.destroyForcibly();
            sleeper.waitFor(10, TimeUnit.SECONDS);
            for (Path r : roots) {
                for (Path dir : List.of(r.resolve(name), r.resolve(top))) {
                    for (int i = 0; i < 50 && Files.exists(dir); i++) {
                        try {
                            Files.delete(dir);
                        } catch (java.io.IOException busy) { // the killed task leaves the cgroup a moment later
                            Thread.sleep(20);
                        }
                    }
                }
            }
        }
    }

    /**
     * A prerequisite of the machine: without it the test is skipped on a developer's machine, but
     * fails under CI (CI=true), where a skip would hide that it never ran.
     */
    static void require(boolean met, String what) {
        if ("true".equals(System.getenv("CI"))) assertTrue(met, what + " (CI=true: a missing prerequisite fails the test)");
        else assumeTrue(met, what);
    }
}
