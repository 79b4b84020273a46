package dev.vessel.vmm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class Q35CommandTest {
    static final Path DIR = Path.of("/var/lib/vessel/vms/demo");

    static String argv(Q35Command c) {
        return String.join(" ", c.build());
    }

    @Test
    void aPcThatTellsAPoweroffFromACrash() {
        String a = argv(Q35Command.builder().name("demo").stateDir(DIR).topology(1, 2, 1).memoryMib(512));
        assertThat(a).startsWith("qemu-system-x86_64 -M q35 -nodefaults -no-user-config -display none -no-shutdown -action panic=pause");
        assertThat(a).contains("-m 512M").contains("-smp 2,sockets=1,cores=2,threads=1").contains("-device pvpanic");
        assertThat(a).contains("-chardev socket,id=serial0,path=/var/lib/vessel/vms/demo/serial.sock,server=on,wait=off,"
                + "logfile=/var/lib/vessel/vms/demo/console.log,logappend=on -serial chardev:serial0");
        assertThat(a).contains("-qmp unix:/var/lib/vessel/vms/demo/qmp.sock,server=on,wait=off");
        assertThat(a).endsWith("-daemonize -pidfile /var/lib/vessel/vms/demo/qemu.pid");
        assertThat(a).doesNotContain("pflash");
    }

    @Test
    void disksOnEachBus() {
        String a = argv(Q35Command.builder().stateDir(DIR)
                .disk(new Q35Command.Disk("d0", DIR.resolve("run-root.qcow2"), "qcow2", Q35Command.Bus.VIRTIO, false, false, 1, "root1"))
                .disk(new Q35Command.Disk("d1", Path.of("/data.img"), "raw", Q35Command.Bus.SATA, false, false, null, null))
                .disk(new Q35Command.Disk("d2", DIR.resolve("run-ci.iso"), "raw", Q35Command.Bus.SATA, true, true, null, null))
                .disk(new Q35Command.Disk("d3", Path.of("/s.img"), "raw", Q35Command.Bus.SCSI, false, false, 2, null)));
        assertThat(a).contains("-blockdev driver=file,node-name=file-d0,filename=/var/lib/vessel/vms/demo/run-root.qcow2 "
                + "-blockdev driver=qcow2,node-name=d0,file=file-d0 -device virtio-blk-pci,drive=d0,id=dev-d0,bootindex=1,serial=root1");
        assertThat(a).contains("-device ide-hd,bus=ide.0,drive=d1,id=dev-d1");
        assertThat(a).contains("read-only=on").contains("-device ide-cd,bus=ide.1,drive=d2,id=dev-d2");
        assertThat(a).contains("-device virtio-scsi-pci,id=scsi0").contains("-device scsi-hd,bus=scsi0.0,drive=d3,id=dev-d3,bootindex=2");
    }

    @Test
    void masqueradeIsUserNetworkingWithForwards() {
        String a = argv(Q35Command.builder().stateDir(DIR)
                .nic(Q35Command.Nic.user("net0", "02:00:00:00:00:01", "10.0.2.0/24", "10.0.2.1", "10.0.2.2",
                        List.of(new Q35Command.Forward("tcp", "127.0.0.1", 2222, 22))))
                .nic(Q35Command.Nic.tap("net1", "02:00:00:00:00:02", "vt0123456789a0")));
        assertThat(a).contains("-netdev user,id=net0,net=10.0.2.0/24,host=10.0.2.1,dhcpstart=10.0.2.2,hostfwd=tcp:127.0.0.1:2222-:22 "
                + "-device virtio-net-pci,netdev=net0,mac=02:00:00:00:00:01");
        assertThat(a).contains("-netdev tap,id=net1,ifname=vt0123456789a0,script=no,downscript=no");
    }

    @Test
    void efiFromPflash() {
        String a = argv(Q35Command.builder().stateDir(DIR).efi(Path.of("/usr/share/OVMF/OVMF_CODE.fd"), DIR.resolve("OVMF_VARS.fd")));
        assertThat(a).contains("-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE.fd "
                + "-drive if=pflash,format=raw,unit=1,file=/var/lib/vessel/vms/demo/OVMF_VARS.fd");
    }

    @Test
    void refusesWhatQemuWould() {
        assertThatThrownBy(() -> new Q35Command.Disk("d0", Path.of("/x"), "vmdk", Q35Command.Bus.VIRTIO, false, false, null, null))
                .hasMessageContaining("format");
        assertThatThrownBy(() -> new Q35Command.Disk("d0", Path.of("/x"), "raw", Q35Command.Bus.VIRTIO, true, true, null, null))
                .hasMessageContaining("cdrom");
        assertThatThrownBy(() -> Q35Command.builder().stateDir(Path.of("/" + "x".repeat(100))).build())
                .hasMessageContaining("too long");
    }
}
