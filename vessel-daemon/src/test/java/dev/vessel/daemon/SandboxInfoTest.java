package dev.vessel.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

class SandboxInfoTest {
    @Test
    void containerdsCriAnnotations() {
        SandboxInfo.Kubernetes k = SandboxInfo.Kubernetes.of(Map.of("io.kubernetes.cri.sandbox-name", "web-0",
                "io.kubernetes.cri.sandbox-namespace", "shop", "io.kubernetes.cri.container-name", "nginx",
                "io.kubernetes.cri.container-type", "container", "io.kubernetes.cri.sandbox-id", "abc"));
        assertThat(k).isEqualTo(new SandboxInfo.Kubernetes("web-0", "shop", "nginx", "container", "abc"));
    }

    @Test
    void crioAnnotations() {
        SandboxInfo.Kubernetes k = SandboxInfo.Kubernetes.of(Map.of("io.kubernetes.pod.name", "web-0",
                "io.kubernetes.pod.namespace", "shop", "io.kubernetes.container.name", "nginx"));
        assertThat(k.pod()).isEqualTo("web-0");
        assertThat(k.namespace()).isEqualTo("shop");
        assertThat(k.container()).isEqualTo("nginx");
    }

    @Test
    void noKubernetesWithoutItsAnnotations() {
        assertThat(SandboxInfo.Kubernetes.of(Map.of("team", "data"))).isNull();
        assertThat(SandboxInfo.Kubernetes.of(Map.of("io.kubernetes.cri.sandbox-name", ""))).isNull();
    }

    @Test
    void resourcesOfAMissingBundleAreVesselsOwn() {
        SandboxInfo.Resources r = SandboxInfo.resources("/nonexistent/bundle", 2, 320);
        assertThat(r).isEqualTo(new SandboxInfo.Resources(null, null, null, null, null, 2, 320));
    }

    @Test
    void resourcesOfABundleAreItsConfigsLinuxResources(@org.junit.jupiter.api.io.TempDir java.nio.file.Path bundle) throws Exception {
        java.nio.file.Files.writeString(bundle.resolve("config.json"), """
                {"ociVersion": "1.0.2", "linux": {"resources": {"memory": {"limit": 536870912, "swap": -1},
                 "cpu": {"quota": 50000, "period": 100000, "shares": 512, "cpus": "0-1"}, "pids": {"limit": 64}}}}""");
        assertThat(SandboxInfo.resources(bundle.toString(), 2, 320))
                .isEqualTo(new SandboxInfo.Resources(536870912L, 50000L, 100000L, 512L, 64L, 2, 320));
        java.nio.file.Files.writeString(bundle.resolve("config.json"), "{\"ociVersion\": \"1.0.2\"}");
        assertThat(SandboxInfo.resources(bundle.toString(), null, null))
                .isEqualTo(new SandboxInfo.Resources(null, null, null, null, null, null, null));
    }
}
