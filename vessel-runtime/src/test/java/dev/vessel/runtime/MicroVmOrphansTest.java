package dev.vessel.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link MicroVmDriver#removeOrphans}: which run dirs a starting daemon removes, and which it must leave. */
class MicroVmOrphansTest {
    @TempDir
    Path root;
    @TempDir
    Path store;

    @Test
    void removesTheOldRunDirsNoRecordNamesWhoseQemuIsGone() throws Exception {
        Path noPid = runDir("no-pid", null);
        Path deadPid = runDir("dead-pid", String.valueOf(deadPid()));
        Path olderVessel = runDir("older-vessel", String.valueOf(deadPid()));
        Files.writeString(olderVessel.resolve("state-dir"), "/tmp/vessel-test.x/root/vm2\n");
        Path recordGone = runDir("record-gone", null);
        Files.writeString(recordGone.resolve(MicroVmDriver.RECORD_FILE), store.resolve("gone.json") + "\n");
        Path otherRunDir = runDir("names-another", null);
        Files.writeString(otherRunDir.resolve(MicroVmDriver.RECORD_FILE), record("c9", root.resolve("elsewhere")) + "\n");
        ageAll();

        assertThat(MicroVmDriver.removeOrphans(root, MicroVmDriver.ORPHAN_MIN_AGE)).isEqualTo(5);
        assertThat(noPid).doesNotExist();
        assertThat(deadPid).doesNotExist();
        assertThat(olderVessel).doesNotExist();
        assertThat(recordGone).doesNotExist();
        assertThat(otherRunDir).doesNotExist();
    }

    @Test
    void leavesARecordedSandboxARunningQemuAndACreateUnderWay() throws Exception {
        Path recorded = runDir("recorded", String.valueOf(deadPid())); // stopped, not deleted yet: delete's to remove
        Files.writeString(recorded.resolve(MicroVmDriver.RECORD_FILE), record("c1", recorded) + "\n");
        Path running = runDir("running", String.valueOf(ProcessHandle.current().pid()));
        ageAll();
        Path creating = runDir("creating", null); // made just now, its record not saved yet

        assertThat(MicroVmDriver.removeOrphans(root, MicroVmDriver.ORPHAN_MIN_AGE)).isZero();
        assertThat(recorded.resolve("qemu.log")).exists();
        assertThat(running.resolve("qemu.log")).exists();
        assertThat(creating.resolve("qemu.log")).exists();
    }

    @Test
    void aRunDirWrittenToRecentlyIsNew() throws Exception {
        Path dir = runDir("console", null);
        ageAll();
        Files.writeString(dir.resolve("console.log"), "booting\n"); // a guest booting now
        assertThat(MicroVmDriver.removeOrphans(root, MicroVmDriver.ORPHAN_MIN_AGE)).isZero();
        assertThat(dir).exists();
    }

    @Test
    void noRunDirRootIsNothingToDo() {
        assertThat(MicroVmDriver.removeOrphans(root.resolve("absent"), Duration.ZERO)).isZero();
    }

    @Test
    void deleteTreeRemovesNestedFilesAndSaysSo() throws Exception {
        Path dir = root.resolve("tree");
        Files.createDirectories(dir.resolve("a/b"));
        Files.writeString(dir.resolve("a/b/f"), "x");
        Files.writeString(dir.resolve("g"), "y");
        assertThat(MicroVmDriver.deleteTree(dir)).isTrue();
        assertThat(dir).doesNotExist();
        assertThat(MicroVmDriver.deleteTree(dir)).isTrue(); // already gone
    }

    private Path runDir(String name, String pid) throws IOException {
        Path dir = Files.createDirectories(root.resolve(name));
        Files.writeString(dir.resolve("qemu.log"), "");
        if (pid != null) Files.writeString(dir.resolve("qemu.pid"), pid + "\n");
        return dir;
    }

    /** A record file in the store naming {@code runDir}; returns its path. */
    private Path record(String id, Path runDir) throws IOException {
        Path file = store.resolve(id + ".json");
        Files.writeString(file, "{\"id\":\"" + id + "\",\"isolation\":\"MICROVM\",\"microvm\":{\"runDir\":\"" + runDir + "\"}}");
        return file;
    }

    /** Everything under root last written two minutes ago. */
    private void ageAll() throws IOException {
        FileTime old = FileTime.from(Instant.now().minus(Duration.ofMinutes(2)));
        try (var paths = Files.walk(root)) {
            for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                if (!p.equals(root)) Files.setLastModifiedTime(p, old);
            }
        }
    }

    private static long deadPid() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        return p.pid();
    }
}
