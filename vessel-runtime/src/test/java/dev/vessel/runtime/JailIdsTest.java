package dev.vessel.runtime;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

class JailIdsTest {
    @TempDir
    Path dir;

    @Test
    void eachRunDirGetsAnIdOfItsOwnInTheRangeAndKeepsIt() throws Exception {
        Path a = Files.createDirectories(dir.resolve("0123456789abcdef"));
        Path b = Files.createDirectories(dir.resolve("fedcba9876543210"));
        long idA = JailIds.allocate(a);
        long idB = JailIds.allocate(b);
        assertThat(idA).isBetween(JailIds.BASE, JailIds.BASE + JailIds.SLOTS - 1);
        assertThat(idB).isBetween(JailIds.BASE, JailIds.BASE + JailIds.SLOTS - 1).isNotEqualTo(idA);
        assertThat(JailIds.allocate(a)).isEqualTo(idA);
        assertThat(Files.readString(a.resolve(JailIds.FILE))).isEqualTo(idA + " " + idA + "\n");
    }

    @Test
    void anIdInUseIsSkipped() throws Exception {
        Path a = Files.createDirectories(dir.resolve("aaaa"));
        Path b = Files.createDirectories(dir.resolve("bbbb"));
        // b's preferred id (its name's hash) is already a's
        long preferred = JailIds.BASE + Math.floorMod("bbbb".hashCode(), JailIds.SLOTS);
        Files.writeString(a.resolve(JailIds.FILE), preferred + " " + preferred + "\n");
        assertThat(JailIds.allocate(b)).isEqualTo(JailIds.BASE + (Math.floorMod("bbbb".hashCode(), JailIds.SLOTS) + 1) % JailIds.SLOTS);
    }

    @Test
    void aFileThatIsNotOneOfOursNamesNoId() throws Exception {
        Path a = Files.createDirectories(dir.resolve("a"));
        Files.writeString(a.resolve(JailIds.FILE), "0 0\n");
        assertThat(JailIds.read(a)).isNull();
        Files.writeString(a.resolve(JailIds.FILE), "junk");
        assertThat(JailIds.read(a)).isNull();
        assertThat(JailIds.read(dir.resolve("none"))).isNull();
    }
}
