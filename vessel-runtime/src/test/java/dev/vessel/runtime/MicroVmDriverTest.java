package dev.vessel.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vessel.vmm.GuestKernel;
import org.junit.jupiter.api.Test;

class MicroVmDriverTest {
    @Test
    void whatTheGuestCannotApplyFailsTheCreateInOneLine() throws Exception {
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        assertThatThrownBy(() -> MicroVmDriver.guestLinux("c1", json.readTree("""
                {"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
                  "syscalls": [{"names": ["read"], "action": "SCMP_ACT_BOGUS"}]}}}""")))
                .isInstanceOf(dev.vessel.oci.OciException.class)
                .hasMessage("container \"c1\": linux.seccomp.syscalls[0].action: unknown seccomp action 'SCMP_ACT_BOGUS'");
        assertThatThrownBy(() -> MicroVmDriver.guestLinux("c1", json.readTree("{\"linux\": {\"sysctl\": {\"a/b\": \"1\"}}}")))
                .hasMessage("container \"c1\": not a sysctl name: 'a/b'");
        var ok = MicroVmDriver.guestLinux("c1", json.readTree("""
                {"root": {"readonly": true}, "linux": {"maskedPaths": ["/proc/kcore"],
                  "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}}}"""));
        assertThat(ok.rootReadonly()).isTrue();
        assertThat(ok.seccomp()).isNotEmpty();
    }

    @Test
    void guestMemoryIsTheLimitPlusWhatTheGuestKernelKeeps() {
        assertThat(MicroVmDriver.guestMemoryMib(512L << 20, GuestKernel.DEBIAN)).isEqualTo(512 + 48 + 8);
        assertThat(MicroVmDriver.guestMemoryMib(256L << 20, GuestKernel.DEBIAN)).isEqualTo(256 + 48 + 4);
        assertThat(MicroVmDriver.guestMemoryMib((512L << 20) + 1, GuestKernel.DEBIAN)).isEqualTo(513 + 48 + 8); // rounds up to whole MiB
        assertThat(MicroVmDriver.guestMemoryMib(1, GuestKernel.DEBIAN)).isEqualTo(16 + 48); // a tiny limit still boots
        // Vessel's kernel keeps less for itself
        assertThat(MicroVmDriver.guestMemoryMib(256L << 20, GuestKernel.VESSEL)).isEqualTo(256 + 16 + 4);
    }
}
