package dev.vessel.oci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BundleConfigTest {
    static final String MINIMAL = """
            {"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"]},
             "linux": {"futureField": {"kept": true}}, "annotations": {"a": "b"}}
            """;

    @TempDir Path bundle;

    @Test
    void missingBundleAndConfigAreNamed() {
        assertThatThrownBy(() -> BundleConfig.load(bundle.resolve("nope")))
                .hasMessageContaining("does not exist");
        assertThatThrownBy(() -> BundleConfig.load(bundle)).hasMessageContaining("has no config.json");
    }

    @Test
    void malformedConfigIsNamedInOneLine() throws Exception {
        Files.writeString(bundle.resolve("config.json"), "{\"ociVersion\": ");
        assertThatThrownBy(() -> BundleConfig.load(bundle))
                .isInstanceOf(OciException.class)
                .hasMessageContaining("is not valid JSON")
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
        Files.writeString(bundle.resolve("config.json"), "[]");
        assertThatThrownBy(() -> BundleConfig.load(bundle)).hasMessageContaining("not a JSON object");
        Files.writeString(bundle.resolve("config.json"), "{\"ociVersion\": \"1.0.2\"}");
        assertThatThrownBy(() -> BundleConfig.load(bundle)).hasMessageContaining("root.path");
    }

    @Test
    void isolationComesFromTheAnnotationOrTheDefault() {
        BundleConfig plain = BundleConfig.parse(bundle, MINIMAL.getBytes(StandardCharsets.UTF_8));
        assertThat(plain.isolation(Isolation.MICROVM)).isEqualTo(Isolation.MICROVM);
        BundleConfig vm = BundleConfig.parse(bundle, MINIMAL.replace("\"a\": \"b\"", "\"dev.vessel.isolation\": \"microvm\"")
                .getBytes(StandardCharsets.UTF_8));
        assertThat(vm.isolation(Isolation.CONTAINER)).isEqualTo(Isolation.MICROVM);
        BundleConfig bad = BundleConfig.parse(bundle, MINIMAL.replace("\"a\": \"b\"", "\"dev.vessel.isolation\": \"kvm\"")
                .getBytes(StandardCharsets.UTF_8));
        assertThatThrownBy(() -> bad.isolation(Isolation.CONTAINER)).hasMessageContaining("unknown isolation \"kvm\"");
    }

    @Test
    void rewriteKeepsUnknownFieldsAndMakesTheRootAbsolute() {
        BundleConfig config = BundleConfig.parse(bundle, MINIMAL.getBytes(StandardCharsets.UTF_8));
        BundleConfig rewritten = ConfigRewriter.forContainer(config, Isolation.CONTAINER);
        assertThat(rewritten.tree().at("/linux/futureField/kept").asBoolean()).isTrue();
        assertThat(rewritten.tree().at("/root/path").asText()).isEqualTo(bundle.resolve("rootfs").toString());
        assertThat(rewritten.annotation("a")).isEqualTo("b");
        // hooks read the state of these annotations: only the bundle's own, none of Vessel's bookkeeping
        assertThat(rewritten.tree().path("annotations").size()).isEqualTo(1);
        // the caller's tree is not modified
        assertThat(config.tree().at("/root/path").asText()).isEqualTo("rootfs");
    }

    @Test
    void theTypedSpecReadsWhatVesselUsesAndDefaultsTheRest() {
        BundleConfig config = BundleConfig.parse(bundle, """
                {"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"terminal": true, "args": ["sh"]},
                 "mounts": [{"destination": "/etc/hosts", "source": "/h", "options": ["rbind", "ro"]},
                            {"destination": "/proc", "type": "proc", "source": "proc"}],
                 "linux": {"resources": {"memory": {"limit": 268435456}, "cpu": {"quota": 50000, "period": 100000}},
                           "namespaces": [{"type": "pid"}, {"type": "network", "path": "/run/netns/x"}]},
                 "annotations": {"a": "b"}, "future": {"x": 1}}""".getBytes(StandardCharsets.UTF_8));
        OciSpec spec = config.spec();
        assertThat(spec.process().terminal()).isTrue();
        assertThat(spec.mounts().get(0).isBind()).isTrue();
        assertThat(spec.mounts().get(1).isBind()).isFalse();
        assertThat(spec.linux().resources().memory().limit()).isEqualTo(268435456L);
        assertThat(spec.linux().resources().cpu().quota()).isEqualTo(50000L);
        assertThat(spec.linux().namespace("network").orElseThrow().path()).isEqualTo("/run/netns/x");
        assertThat(spec.annotations()).containsEntry("a", "b");
        OciSpec bare = BundleConfig.parse(bundle, "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"r\"}}"
                .getBytes(StandardCharsets.UTF_8)).spec();
        assertThat(bare.linux().resources().memory().limit()).isNull();
        assertThat(bare.mounts()).isEmpty();
    }
}
