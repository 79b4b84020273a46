package dev.vessel.firecracker;

import dev.vessel.vmm.VmmException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class VmmCommandTest {
    @Test
    void firecrackersFlags() throws VmmCommand.UsageException {
        assertThat(VmmCommand.parse(new String[]{"--api-sock", "/tmp/fc.sock", "--id", "vm-1"}))
                .isEqualTo(new VmmCommand.Options(Path.of("/tmp/fc.sock"), null, false, "vm-1"));
        assertThat(VmmCommand.parse(new String[]{"--no-api", "--config-file=vm.json"}))
                .isEqualTo(new VmmCommand.Options(null, Path.of("vm.json"), true, "anonymous-instance"));
    }

    @Test
    void badCommandLinesAreOneLine() {
        assertThatThrownBy(() -> VmmCommand.parse(new String[0])).hasMessageContaining("--api-sock PATH is required");
        assertThatThrownBy(() -> VmmCommand.parse(new String[]{"--api-sock"})).hasMessageContaining("Missing required parameter for option '--api-sock'");
        assertThatThrownBy(() -> VmmCommand.parse(new String[]{"--no-api"})).hasMessageContaining("--config-file");
        assertThatThrownBy(() -> VmmCommand.parse(new String[]{"--api-sock", "s", "--frobnicate"})).hasMessageContaining("Unknown option: '--frobnicate'");
        assertThatThrownBy(() -> VmmCommand.parse(new String[]{"--help"})).hasMessageContaining("--api-sock=PATH");
        assertThatThrownBy(() -> VmmCommand.parse(new String[]{"--api-sock", "s", "--id", "a b"})).hasMessageContaining("--id");
    }

    @Test
    void firecrackersOtherFlags() throws VmmCommand.UsageException {
        VmmCommand.Options o = VmmCommand.parse(new String[]{"--api-sock", "s", "--level", "Debug", "--log-path", "/tmp/l", "--show-level",
                "--metrics-path", "/tmp/m", "--http-api-max-payload-size", "1000", "--mmds-size-limit=2000",
                "--no-seccomp", "--seccomp-filter", "f.bpf", "--boot-timer"});
        assertThat(o.logger()).isEqualTo(new Model.Logger("/tmp/l", "Debug", true, false, null));
        assertThat(o.metricsPath()).isEqualTo(Path.of("/tmp/m"));
        assertThat(o.maxPayload()).isEqualTo(1000);
        assertThat(o.mmdsLimit()).isEqualTo(2000L);
        assertThat(VmmCommand.parse(new String[]{"--version"}).version()).isTrue();
        assertThatThrownBy(() -> VmmCommand.parse(new String[]{"--api-sock", "s", "--level", "Loud"})).hasMessageContaining("--level");
        assertThatThrownBy(() -> VmmCommand.parse(new String[]{"--api-sock", "s", "--http-api-max-payload-size", "0"}))
                .hasMessageContaining("positive");
    }

    /** A caller as the daemon reaches it, without a client: what the VMM tells it, and its end on demand. */
    static final class FakeCaller implements Caller {
        final Path cwd;
        final StringBuilder out = new StringBuilder(), err = new StringBuilder();
        final List<List<Path>> held = new CopyOnWriteArrayList<>();
        final CompletableFuture<Void> gone = new CompletableFuture<>();

        FakeCaller(Path cwd) {
            this.cwd = cwd;
        }

        @Override public Path cwd() { return cwd; }
        @Override public long pid() { return 4242; }
        @Override public synchronized void stdout(String text) { out.append(text); }
        @Override public synchronized void stderr(String text) { err.append(text); }
        @Override public void hold(List<Path> leftovers) { held.add(leftovers); }
        @Override public Child spawn(List<String> argv, Consumer<String> stderrLines) throws VmmException {
            throw new VmmException("no children in unit tests");
        }
        @Override public CompletableFuture<Void> gone() { return gone; }
    }

    @Test
    void aUsageErrorIsOneLineOnTheCallersStderrAndHoldsNothing(@TempDir Path dir) {
        FakeCaller caller = new FakeCaller(dir);
        assertThat(VmmCommand.run(new String[]{"--frobnicate"}, caller, dir)).isEqualTo(1);
        assertThat(caller.err.toString()).startsWith("vessel vmm: Unknown option").endsWith("\n").hasLineCount(1);
        assertThat(caller.held).isEmpty();
        assertThat(VmmCommand.run(new String[]{"--version"}, caller, dir)).isZero();
        assertThat(caller.out.toString()).startsWith("Firecracker v" + Vmm.VERSION);
    }

    @Test
    void theApiIsServedAtTheCallersRelativePathUntilTheCallerGoes(@TempDir Path dir) throws Exception {
        FakeCaller caller = new FakeCaller(dir);
        CompletableFuture<Integer> status = CompletableFuture.supplyAsync(() -> VmmCommand.run(
                new String[]{"--api-sock", "fc.sock", "--id", "vm-7", "--http-api-max-payload-size", "100"}, caller, dir));
        Path socket = dir.resolve("fc.sock");
        for (int i = 0; i < 500 && caller.held.isEmpty(); i++) Thread.sleep(10);
        assertThat(caller.held).containsExactly(List.of(socket, dir.resolve("fc.sock.mmds"), dir.resolve("fc.sock.qmp")));
        assertThat(ApiServerTest.exchange(socket, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
                .startsWith("HTTP/1.1 200").contains("\"id\":\"vm-7\"");
        // this VM's payload limit, not the default of another
        String body = "{\"kernel_image_path\":\"" + "a".repeat(200) + "\"}";
        assertThat(ApiServerTest.exchange(socket, "PUT /boot-source HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
                + body.length() + "\r\nConnection: close\r\n\r\n" + body)).startsWith("HTTP/1.1 400").contains("limit of 100 ");
        caller.gone.complete(null);
        assertThat(status.get(10, TimeUnit.SECONDS)).isEqualTo(128 + 15);
        assertThat(Files.exists(socket)).as("the API socket goes with the caller").isFalse();
        assertThat(Files.exists(dir.resolve("fc.sock.mmds"))).isFalse();
    }

    @Test
    void anExistingSocketPathIsRefusedAndLeftAlone(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("fc.sock"), "mine");
        FakeCaller caller = new FakeCaller(dir);
        assertThat(VmmCommand.run(new String[]{"--api-sock", "fc.sock"}, caller, dir)).isEqualTo(1);
        assertThat(caller.err.toString()).contains("already exists").hasLineCount(1);
        assertThat(Files.readString(dir.resolve("fc.sock"))).isEqualTo("mine");
        assertThat(caller.held).isEmpty();
    }
}
