package dev.vessel.vmm;

import dev.vessel.linux.Tools;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class Ext4ImageTest {
    @TempDir
    Path dir;

    @Test
    void defaultSizeIsContentAndAHalfPlus32Mib() {
        assertThat(Ext4Image.defaultSizeMib(0)).isEqualTo(32);
        assertThat(Ext4Image.defaultSizeMib(10L << 20)).isEqualTo(47);
    }

    @Test
    void contentCountsBlocksAndInodes() throws IOException {
        Files.writeString(dir.resolve("a"), "x");
        assertThat(Ext4Image.contentBytes(dir)).isEqualTo(4096 + 256 + 4096 + 256);
    }

    @Test
    void badInputsLeaveNothing() {
        assertThatThrownBy(() -> Ext4Image.build(dir.resolve("none"), dir.resolve("o.img"), null)).hasMessageContaining("does not exist");
        assertThatThrownBy(() -> Ext4Image.build(dir, dir.resolve("no/o.img"), null)).hasMessageContaining("directory");
        assertThatThrownBy(() -> Ext4Image.build(dir, dir.resolve("o.img"), 0L)).hasMessageContaining("--size");
        assertThat(dir.toFile().list()).isEmpty();
    }

    @Test
    void toolsAreFoundOutsideAShortPath() {
        assertThat(Tools.find("sh")).endsWith("/sh");
        assertThat(Tools.find("no-such-tool-here")).isEqualTo("no-such-tool-here");
    }
}
