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
}
