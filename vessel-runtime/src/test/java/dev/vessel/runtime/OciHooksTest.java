package dev.vessel.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vessel.oci.OciException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OciHooksTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final OciState STATE = new OciState(OciState.SPEC_VERSION, "c1", 42, "creating", "/b", "/b/rootfs",
            "2026-01-01T00:00:00Z", "root", Map.of("a", "b"));

    @Test
    void runsEachHookWithTheStateItsEnvAndItsArgv0(@TempDir Path dir) throws Exception {
        var config = JSON.readTree("""
                {"hooks": {"createRuntime": [{"path": "/bin/sh", "env": ["ONLY=this"],
                  "args": ["my-hook", "-c", "cat > $D/state; echo $0 > $D/argv0; env | grep -v -e ^PWD= -e ^D= | sort > $D/env"]}]}}"""
                .replace("$D", dir.toString()));
        assertThat(OciHooks.any(config, "prestart", "createRuntime")).isTrue();
        assertThat(OciHooks.any(config, "poststop")).isFalse();
        OciHooks.runOrFail("c1", config, STATE, "prestart", "createRuntime");
        assertThat(JSON.readTree(dir.resolve("state").toFile()).path("pid").asLong()).isEqualTo(42);
        assertThat(JSON.readTree(dir.resolve("state").toFile()).path("status").asText()).isEqualTo("creating");
        assertThat(Files.readString(dir.resolve("argv0")).strip()).isEqualTo("my-hook");
        assertThat(Files.readString(dir.resolve("env")).strip()).isEqualTo("ONLY=this");
    }

    @Test
    void aFailingCreateHookFailsInOneLine() throws Exception {
        var config = JSON.readTree("""
                {"hooks": {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "echo the reason; echo more; exit 2"]}]}}""");
        assertThatThrownBy(() -> OciHooks.runOrFail("c1", config, STATE, "prestart", "createRuntime"))
                .isInstanceOf(OciException.class).hasMessage("container \"c1\": prestart hook /bin/sh failed: the reason");
        var slow = JSON.readTree("""
                {"hooks": {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "5"], "timeout": 1}]}}""");
        assertThatThrownBy(() -> OciHooks.runOrFail("c1", slow, STATE, "createRuntime"))
                .hasMessage("container \"c1\": createRuntime hook /bin/sleep did not finish within 1 s");
        var missing = JSON.readTree("{\"hooks\": {\"createRuntime\": [{\"path\": \"/no/such/hook\"}]}}");
        assertThatThrownBy(() -> OciHooks.runOrFail("c1", missing, STATE, "createRuntime"))
                .hasMessageStartingWith("container \"c1\": createRuntime hook /no/such/hook failed:");
        OciHooks.runAndLog("c1", config, STATE, "prestart"); // poststart, poststop: logged, not thrown
    }
}
