package dev.vessel.shim;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** The shim's pure mappings: socket names, pod grouping, runtime options, events, exit statuses. */
class MappingTest {
    @Test
    void theSocketIsContainerdsOwnScheme() {
        // sha256("/run/containerd/containerd.sock/default/c1"), as runtime/v2/shim SocketAddress names it
        Path p = ContainerdShim.socketFor("/run/containerd/containerd.sock", "default", "c1");
        assertThat(p.getParent()).isEqualTo(Path.of("/run/containerd/s"));
        assertThat(p.getFileName().toString()).hasSize(64)
                .isEqualTo(sha256("/run/containerd/containerd.sock/default/c1"));
        assertThat(ContainerdShim.socketFor("/a/sock", "ns", "x")).isNotEqualTo(ContainerdShim.socketFor("/b/sock", "ns", "x"));
    }

    private static String sha256(String s) {
        try {
            return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(s.getBytes()));
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void aPodsContainersShareTheSandboxesShim() throws Exception {
        ObjectMapper json = new ObjectMapper();
        assertThat(ContainerdShim.groupOf("ctr1", json.readTree("{\"annotations\":{\"io.kubernetes.cri.sandbox-id\":\"pod9\"}}")))
                .isEqualTo("pod9");
        assertThat(ContainerdShim.groupOf("ctr1", json.readTree("{\"annotations\":{}}"))).isEqualTo("ctr1");
        assertThat(ContainerdShim.groupOf("ctr1", null)).isEqualTo("ctr1");
    }

    @Test
    void runcOptionsBinaryNameChoosesTheRuntime() {
        Protobuf.Message runc = Protobuf.Message.parse(new Protobuf.Writer()
                .string(1, "containerd.runc.v1.Options").bytes(2, new Protobuf.Writer().string(6, "/opt/vessel").toByteArray())
                .toByteArray());
        assertThat(TaskService.binaryFrom(runc, "/bin/vessel-microvm")).isEqualTo("/opt/vessel");
        Protobuf.Message other = Protobuf.Message.parse(new Protobuf.Writer().string(1, "runtimeoptions.v1.Options").toByteArray());
        assertThat(TaskService.binaryFrom(other, "/bin/vessel-microvm")).isEqualTo("/bin/vessel-microvm");
        assertThat(TaskService.binaryFrom(null, "/bin/vessel-microvm")).isEqualTo("/bin/vessel-microvm");
    }

    @Test
    void taskExitIsForwardedInAnEnvelopeContainerdDecodes() {
        Instant at = Instant.ofEpochSecond(100, 5);
        byte[] forward = Events.forwardRequest("k8s.io", Events.taskExit("c1", "c1", 4242, 137, at), at);
        Protobuf.Message envelope = Protobuf.Message.parse(forward).message(1);
        assertThat(envelope.string(2)).isEqualTo("k8s.io");
        assertThat(envelope.string(3)).isEqualTo("/tasks/exit");
        Protobuf.Message any = envelope.message(4);
        assertThat(any.string(1)).isEqualTo("containerd.events.TaskExit");
        Protobuf.Message exit = Protobuf.Message.parse(any.bytes(2));
        assertThat(exit.string(1)).isEqualTo("c1");
        assertThat(exit.string(2)).isEqualTo("c1");
        assertThat(exit.uint(3)).isEqualTo(4242L);
        assertThat(exit.uint(4)).isEqualTo(137L);
        assertThat(exit.message(5).uint(1)).isEqualTo(100L);
    }

    @Test
    void waitStatusesBecomeShellExitStatuses() {
        assertThat(Native.decodeStatus(7 << 8)).isEqualTo(7);
        assertThat(Native.decodeStatus(0)).isZero();
        assertThat(Native.decodeStatus(9)).isEqualTo(137); // SIGKILL
        assertThat(Native.decodeStatus(15 | 0x80)).isEqualTo(143); // SIGTERM with a core flag
    }

    @Test
    void psJsonIsAListOfPids() throws Exception {
        assertThat(TaskService.parsePids("[1,42]\n")).containsExactly(1L, 42L);
        assertThat(TaskService.parsePids("")).isEmpty();
    }

    @Test
    void theRuntimesLastJsonLogMessageIsTheError() throws Exception {
        Path log = java.nio.file.Files.createTempFile("shim", ".json");
        java.nio.file.Files.writeString(log, "{\"level\":\"info\",\"msg\":\"x\"}\n{\"level\":\"error\",\"msg\":\"bundle has no config.json\"}\n");
        assertThat(Runtime.lastLogMessage(log, 1)).isEqualTo("bundle has no config.json");
        java.nio.file.Files.writeString(log, "plain words\n");
        assertThat(Runtime.lastLogMessage(log, 1)).isEqualTo("plain words");
        java.nio.file.Files.delete(log);
        assertThat(Runtime.lastLogMessage(log, 3)).isEqualTo("exit status 3");
    }
}
