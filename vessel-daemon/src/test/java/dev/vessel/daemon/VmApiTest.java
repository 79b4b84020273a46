package dev.vessel.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class VmApiTest {
    @Test
    void aRefusedManifestIsA400NamingTheField() {
        ManagementApi.Reply r = VmApi.badRequest("manifest: spec.template.spec.domain.devices.disks[0].disk.bus: Unsupported value: \"ide\"");
        assertThat(r.status()).isEqualTo(400);
        assertThat(new String(r.body())).contains("\"field\" : \"spec.template.spec.domain.devices.disks[0].disk.bus\"");
        assertThat(VmApi.field("manifest: unknown field \"spec.foo\"")).isEqualTo("spec.foo");
        assertThat(VmApi.field("vm x: host port 127.0.0.1:80/tcp is in use")).isNull();
        assertThat(VmApi.field("vm x: spec.template.spec.volumes[0].containerDisk.image: \"127.0.0.1:5000/a:1\": manifest unknown"))
                .isEqualTo("spec.template.spec.volumes[0].containerDisk.image");
        assertThat(VmApi.badRequest("vm x: no snapshot named \"s\"").status()).isEqualTo(404);
    }

    @Test
    void aTakenNameIsAConflictAndAMissingVmNotFound() {
        assertThat(VmApi.badRequest("vm \"a\" already exists (vessel vm apply changes it)").status()).isEqualTo(409);
        assertThat(VmApi.badRequest("vm \"a\" does not exist").status()).isEqualTo(404);
    }

    @Test
    void onlyV1VmsPathsAreIts() {
        assertThat(VmApi.handles("/v1/vms")).isTrue();
        assertThat(VmApi.handles("/v1/vms/a/start")).isTrue();
        assertThat(VmApi.handles("/v1/sandboxes")).isFalse();
    }
}
