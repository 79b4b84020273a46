package dev.vessel.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vessel.firecracker.Model;
import dev.vessel.firecracker.VmConfig;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class MicroVmApisTest {
    @Test
    void theApiShowsWhatMicrovmJsonRecorded() throws Exception {
        var state = new ObjectMapper().readTree("""
                {"id":"c1","runDir":"/run/vessel/vm/0123456789abcdef","memoryMib":308,"vcpus":2,
                 "kernel":"/var/lib/vessel/assets/vmlinux","initrd":"/var/lib/vessel/assets/initrd.img",
                 "bootArgs":"console=hvc0 quiet panic=-1 vessel.rootfs=9p",
                 "nics":[{"iface_id":"eth0","guest_mac":"0a:58:0a:58:00:05","host_dev_name":"vtap0"}]}""");
        VmConfig config = MicroVmApis.config(state);
        assertThat(config.bootSource()).isEqualTo(new Model.BootSource("/var/lib/vessel/assets/vmlinux",
                "console=hvc0 quiet panic=-1 vessel.rootfs=9p", "/var/lib/vessel/assets/initrd.img"));
        assertThat(config.machine().vcpuCount()).isEqualTo(2);
        assertThat(config.machine().memSizeMib()).isEqualTo(308);
        assertThat(config.networkInterfaces()).containsExactly(
                new Model.NetworkInterface("eth0", "0a:58:0a:58:00:05", "vtap0", null, null, null));
    }

    @Test
    void noNetworkNoInterfaces() throws Exception {
        var state = new ObjectMapper().readTree("{\"id\":\"c1\",\"memoryMib\":64,\"vcpus\":1,\"kernel\":\"/k\"}");
        assertThat(MicroVmApis.config(state).networkInterfaces()).isEmpty();
        assertThat(MicroVmApis.config(state).bootSource().initrdPath()).isNull();
    }

    @Test
    void theSocketFitsSunPath() {
        Path socket = MicroVmApis.socket(Path.of("/run/vessel/vm/0123456789abcdef"));
        assertThat(socket.toString()).isEqualTo("/run/vessel/vm/0123456789abcdef/api.sock");
        assertThat(socket.toString().length()).isLessThan(108);
    }
}
