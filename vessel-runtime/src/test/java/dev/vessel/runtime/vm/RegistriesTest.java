package dev.vessel.runtime.vm;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class RegistriesTest {
    @Test
    void referencesAreTakenApartAsDockerDoes() {
        Registries.Reference r = Registries.parse("127.0.0.1:5000/disks/busybox:1");
        assertThat(r).isEqualTo(new Registries.Reference("127.0.0.1:5000", "disks/busybox", "1", null));
        assertThat(r.loopback()).isTrue();
        assertThat(r.defaultPullPolicy()).isEqualTo("IfNotPresent");
        Registries.Reference hub = Registries.parse("docker://kubevirt/fedora-cloud-container-disk-demo");
        assertThat(hub).isEqualTo(new Registries.Reference(null, "kubevirt/fedora-cloud-container-disk-demo", null, null));
        assertThat(hub.loopback()).isFalse();
        assertThat(hub.defaultPullPolicy()).isEqualTo("Always");
        String digest = "sha256:" + "ab".repeat(32);
        Registries.Reference pinned = Registries.parse("quay.io/containerdisks/fedora:latest@" + digest);
        assertThat(pinned.digest()).isEqualTo(digest);
        assertThat(pinned.defaultPullPolicy()).isEqualTo("IfNotPresent");
        assertThat(pinned.repository()).isEqualTo("quay.io/containerdisks/fedora");
        assertThat(Registries.parse("localhost:5000/x").loopback()).isTrue();
        assertThat(Registries.parse("registry.example:5000/x").loopback()).isFalse();
        assertThat(Registries.parse("Quay.io/a b")).isNull();
        assertThat(Registries.parse("quay.io/UPPER")).isNull();
        assertThat(Registries.parse("")).isNull();
    }

    @Test
    void skopeosFatalMessageIsOneLine() {
        assertThat(Registries.reason("time=\"2026-12-01T18:49:15Z\" level=fatal msg=\"Error parsing image name \\\"docker://127.0.0.1:45124/nope:1\\\": "
                + "pinging container registry 127.0.0.1:45124: Get \\\"http://127.0.0.1:45124/v2/\\\": dial tcp 127.0.0.1:45124: connect: connection refused\"\n"))
                .isEqualTo("pinging container registry 127.0.0.1:45124: Get \"http://127.0.0.1:45124/v2/\": dial tcp 127.0.0.1:45124: connect: connection refused");
        assertThat(Registries.reason("time=\"x\" level=fatal msg=\"Error parsing image name \\\"docker://127.0.0.1:45123/nope:1\\\": reading manifest 1 in "
                + "127.0.0.1:45123/nope: manifest unknown: manifest unknown\"\n"))
                .isEqualTo("reading manifest 1 in 127.0.0.1:45123/nope: manifest unknown: manifest unknown");
        assertThat(Registries.reason("something odd\nlast words\n")).isEqualTo("last words");
    }
}
