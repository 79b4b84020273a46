package dev.vessel.oci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class ContainerIdTest {
    @Test
    void acceptsEngineIds() {
        String podmanId = "3f1c0d6a4b2e9f8a7c6b5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a";
        assertThat(ContainerId.validate(podmanId)).isEqualTo(podmanId);
        assertThat(ContainerId.validate("my-ctr_1.2+x")).isEqualTo("my-ctr_1.2+x");
    }

    @Test
    void rejectsIdsThatAreNotDirectoryNames() {
        for (String bad : new String[] {"", "a/b", "..", ".", "a b", "../etc"}) {
            assertThatThrownBy(() -> ContainerId.validate(bad)).isInstanceOf(OciException.class);
        }
    }
}
