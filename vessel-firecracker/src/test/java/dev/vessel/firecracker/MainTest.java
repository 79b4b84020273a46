package dev.vessel.firecracker;

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
        assertThatThrownBy(() -> Main.parse(new String[]{"--api-sock"})).hasMessageContaining("Missing required parameter for option '--api-sock'");
        assertThatThrownBy(() -> Main.parse(new String[]{"--no-api"})).hasMessageContaining("--config-file");
        assertThatThrownBy(() -> Main.parse(new String[]{"--api-sock", "s", "--frobnicate"})).hasMessageContaining("Unknown option: '--frobnicate'");
        assertThatThrownBy(() -> Main.parse(new String[]{"--help"})).hasMessageContaining("--api-sock=PATH");
        assertThatThrownBy(() -> Main.parse(new String[]{"--api-sock", "s", "--id", "a b"})).hasMessageContaining("--id");
    }

    @Test
    void firecrackersOtherFlags() throws Main.UsageException {
        Main.Options o = Main.parse(new String[]{"--api-sock", "s", "--level", "Debug", "--log-path", "/tmp/l", "--show-level",
                "--metrics-path", "/tmp/m", "--http-api-max-payload-size", "1000", "--mmds-size-limit=2000",
                "--no-seccomp", "--seccomp-filter", "f.bpf", "--boot-timer"});
        assertThat(o.logger()).isEqualTo(new Model.Logger("/tmp/l", "Debug", true, false, null));
        assertThat(o.metricsPath()).isEqualTo(Path.of("/tmp/m"));
        assertThat(o.maxPayload()).isEqualTo(1000);
        assertThat(o.mmdsLimit()).isEqualTo(2000L);
        assertThat(Main.parse(new String[]{"--version"}).version()).isTrue();
        assertThatThrownBy(() -> Main.parse(new String[]{"--api-sock", "s", "--level", "Loud"})).hasMessageContaining("--level");
        assertThatThrownBy(() -> Main.parse(new String[]{"--api-sock", "s", "--http-api-max-payload-size", "0"}))
                .hasMessageContaining("positive");
    }
}
