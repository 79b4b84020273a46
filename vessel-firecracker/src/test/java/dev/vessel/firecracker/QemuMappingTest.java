package dev.vessel.firecracker;

import dev.vessel.vmm.Accelerator;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class QemuMappingTest {
    static final QemuMapping.Host TCG = new QemuMapping.Host("qemu-system-x86_64", Accelerator.Kind.TCG, 2445404,
            Path.of("/assets/initrd.img"), Path.of("/run/fc.sock.qmp"), Path.of("/run/fc.sock.mmds"));
    static final QemuMapping.Host KVM = new QemuMapping.Host("qemu-system-x86_64", Accelerator.Kind.KVM, 2445404,
            Path.of("/assets/initrd.img"), Path.of("/run/fc.sock.qmp"), Path.of("/run/fc.sock.mmds"));

    static VmConfig gettingStarted() throws ApiException {
        VmConfig c = new VmConfig();
        c.bootSource(new Model.BootSource("/k/vmlinux", "console=ttyS0 reboot=k panic=1 pci=off", null));
        c.putNetworkInterface(new Model.NetworkInterface("eth0", "AA:FC:00:00:00:01", "tap0", null, null, null));
        c.putDrive(new Model.Drive("rootfs", null, true, null, false, "/d/rootfs.ext4", null, null, null));
        return c;
    }

    @Test
    void gettingStartedConfigurationUnderTcg() throws ApiException {
        assertThat(String.join(" ", QemuMapping.argv(gettingStarted(), TCG))).isEqualTo(
                "qemu-system-x86_64 -M microvm -nodefaults -no-user-config -nographic -no-reboot"
                        + " -accel tcg,tb-size=16 -cpu max -m 128 -smp 1 -kernel /k/vmlinux -initrd /assets/initrd.img"
                        + " -append console=ttyS0 reboot=k panic=1 pci=off tsc_early_khz=2445404 root=/dev/vda rw"
                        + " -chardev stdio,id=serial0,signal=off -serial chardev:serial0"
                        + " -blockdev driver=file,node-name=file-drive0,filename=/d/rootfs.ext4,cache.direct=off,cache.no-flush=on"
                        + " -blockdev driver=raw,node-name=drive0,file=file-drive0,cache.direct=off,cache.no-flush=on"
                        + " -device virtio-blk-device,drive=drive0,id=dev-drive0"
                        + " -netdev tap,id=net0,ifname=tap0,script=no,downscript=no"
                        + " -device virtio-net-device,netdev=net0,mac=aa:fc:00:00:00:01"
                        + " -qmp unix:/run/fc.sock.qmp,server=on,wait=off -device i8042");
    }

    @Test
    void kvmHasNoTscHintAndDefaultsAreFirecrackers() throws ApiException {
        VmConfig c = new VmConfig();
        c.bootSource(new Model.BootSource("/k/vmlinux", null, "/k/initrd"));
        List<String> argv = QemuMapping.argv(c, KVM);
        assertThat(argv).containsSequence("-accel", "kvm", "-cpu", "host", "-m", "128", "-smp", "1")
                .containsSequence("-initrd", "/k/initrd").containsSequence("-append", QemuMapping.DEFAULT_BOOT_ARGS)
                .doesNotContain("-blockdev", "-netdev");
    }

    @Test
    void rootDriveIsFirstWhateverTheOrderOfPuts() throws ApiException {
        VmConfig c = new VmConfig();
        c.bootSource(new Model.BootSource("/k/vmlinux", "console=ttyS0", null));
        c.putDrive(new Model.Drive("data", null, false, "Writeback", true, "/d/data.img", null, null, null));
        c.putDrive(new Model.Drive("root", "abcd-01", true, null, true, "/d/root.img", null, null, null));
        List<String> argv = QemuMapping.argv(c, KVM);
        String line = String.join(" ", argv);
        assertThat(line.indexOf("filename=/d/root.img")).isLessThan(line.indexOf("filename=/d/data.img"));
        assertThat(line).contains("filename=/d/data.img,read-only=on,cache.direct=off,cache.no-flush=off")
                .contains("console=ttyS0 root=PARTUUID=abcd-01 ro");
    }

    @Test
    void machineEntropyBalloonSmtMtuAndThrottle() throws ApiException {
        VmConfig c = gettingStarted();
        c.machine(new Model.MachineConfiguration(4, 512, true, "None", false, "None"));
        c.entropy(new Model.EntropyDevice(new Model.RateLimiter(new Model.TokenBucket(1024L, null, 100L), null)));
        c.balloon(new Model.Balloon(64L, true, 0L, null, true));
        c.putNetworkInterface(new Model.NetworkInterface("eth0", "AA:FC:00:00:00:01", "tap0", 1400, null, null));
        c.putDrive(new Model.Drive("rootfs", null, true, null, false, "/d/rootfs.ext4",
                new Model.RateLimiter(new Model.TokenBucket(1048576L, 4096L, 1000L), new Model.TokenBucket(100L, null, 1000L)),
                null, null));
        List<String> argv = QemuMapping.argv(c, TCG);
        assertThat(argv).containsSequence("-m", "512", "-smp", "4,sockets=1,cores=2,threads=2")
                .contains("virtio-net-device,netdev=net0,mac=aa:fc:00:00:00:01,host_mtu=1400")
                .containsSequence("-object", "rng-random,id=rng0,filename=/dev/urandom", "-device",
                        "virtio-rng-device,rng=rng0,max-bytes=1024,period=100")
                .contains("virtio-balloon-device,id=balloon0,deflate-on-oom=on,free-page-reporting=on")
                .contains("throttle-group,id=tg-drive0,x-bps-total=1048576,x-bps-total-max=1052672,"
                        + "x-bps-total-max-length=1,x-iops-total=100")
                .contains("virtio-blk-device,drive=throttle-drive0,id=dev-drive0");
    }

    @Test
    void noBootSourceNoStart() {
        assertThatThrownBy(() -> QemuMapping.argv(new VmConfig(), TCG)).isInstanceOf(ApiException.class)
                .hasMessageContaining("boot-source");
    }

    @Test
    void aNicWithoutMacGetsAStableLocalOne() {
        assertThat(QemuMapping.generatedMac("eth0")).matches("06:00(:[0-9a-f]{2}){4}").isEqualTo(QemuMapping.generatedMac("eth0"));
    }

    @Test
    void mmdsPutsTheNicTheTapAndARestrictedSlirpOnOneHub() throws ApiException {
        VmConfig c = gettingStarted();
        c.mmdsConfig(new Model.MmdsConfig("V2", List.of("eth0"), null, null));
        String line = String.join(" ", QemuMapping.argv(c, TCG));
        assertThat(line).contains("-netdev tap,id=net0,ifname=tap0,script=no,downscript=no"
                + " -netdev hubport,id=net0-tap,hubid=100,netdev=net0"
                + " -netdev user,id=net0-mmds,restrict=on,ipv6=off,net=169.254.169.0/24,host=169.254.169.1,dns=169.254.169.3,"
                + "guestfwd=tcp:169.254.169.254:80-cmd:socat - UNIX-CONNECT:'/run/fc.sock.mmds'"
                + " -netdev hubport,id=net0-mmdsport,hubid=100,netdev=net0-mmds"
                + " -netdev hubport,id=net0-guest,hubid=100"
                + " -device virtio-net-device,netdev=net0-guest,mac=aa:fc:00:00:00:01");
    }

    @Test
    void ourWordsGoBeforeInitsArguments() throws ApiException {
        VmConfig c = gettingStarted();
        c.bootSource(new Model.BootSource("/k/vmlinux", "console=ttyS0 init=/bin/app -- --verbose x", null));
        assertThat(QemuMapping.argv(c, TCG)).contains("console=ttyS0 init=/bin/app tsc_early_khz=2445404 root=/dev/vda rw -- --verbose x");
    }

    @Test
    void vsockIsAVhostDevice() throws ApiException {
        VmConfig c = gettingStarted();
        c.vsock(new Model.Vsock(3L, "/tmp/v.sock", null));
        assertThat(QemuMapping.argv(c, KVM)).containsSequence("-device", "vhost-vsock-device,guest-cid=3");
    }
}
