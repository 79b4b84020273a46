package dev.vessel.vmm.firecracker;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class MainTest {
    @Test
    void firecrackersFlags() throws Main.UsageException {
        assertThat(Main.parse(new String[]{"--api-sock", "/tmp/fc.sock", "--id", "vm-1"}))
                .isEqualTo(new Main.Options(Path.of("/tmp/fc.sock"), null, false, "vm-1"));
        assertThat(Main.parse(new String[]{"--no-api", "--config-file=vm.json"}))
                .isEqualTo(new Main.Options(null, Path.of("vm.json"), true, "anonymous-instance"));
    }

    @Test
    void badCommandLinesAreOneLine() {
        assertThatThrownBy(() -> Main.parse(new String[0])).hasMessageContaining("--api-sock PATH is required");
        assertThatThrownBy(() -> Main.parse(new String[]{"--api-sock"})).hasMessageContaining("needs a value");
        assertThatThrownBy(() -> Main.parse(new String[]{"--no-api"})).hasMessageContaining("--config-file");
        assertThatThrownBy(() -> Main.parse(new String[]{"--api-sock", "s", "--boot-timer"})).hasMessageContaining("unknown argument");
        assertThatThrownBy(() -> Main.parse(new String[]{"--api-sock", "s", "--id", "a b"})).hasMessageContaining("--id");
    }
}
