package dev.vessel.vmm;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class QemuCommandTest {
    private static QemuCommand base() {
        return QemuCommand.builder().kernel(Path.of("/a/vmlinux")).initrd(Path.of("/a/initrd.img"))
                .stateDir(Path.of("/run/vessel/c1"));
    }

    @Test
    void rendersTheDocumentedCommandLine() {
        List<String> argv = base().memoryMib(512).vcpus(2).accelerator(Accelerator.Kind.KVM).tscKhz(2445404)
                .rootfs(Path.of("/b/rootfs")).sandbox(true).build();
        assertThat(String.join(" ", argv)).isEqualTo("qemu-system-x86_64 -M microvm -nodefaults -no-user-config"
                + " -nographic -no-reboot -sandbox on -accel kvm -cpu host -m 512 -smp 2"
                + " -kernel /a/vmlinux -initrd /a/initrd.img"
                + " -append console=hvc0 quiet panic=-1 tsc_early_khz=2445404 vessel.rootfs=9p"
                + " -device virtio-serial-device,id=vser"
                + " -chardev file,id=console,path=/run/vessel/c1/console.log -device virtconsole,chardev=console"
                + " -chardev socket,id=agent,path=/run/vessel/c1/agent.sock,server=on,wait=off"
                + " -device virtserialport,chardev=agent,name=vessel.agent"
                + " -chardev socket,id=proc0,path=/run/vessel/c1/proc-0.sock,server=on,wait=off"
                + " -device virtserialport,chardev=proc0,name=vessel.proc.0"
                + " -fsdev local,id=rootfs,path=/b/rootfs,security_model=passthrough"
                + " -device virtio-9p-device,fsdev=rootfs,mount_tag=rootfs"
                + " -qmp unix:/run/vessel/c1/qmp.sock,server=on,wait=off");
        assertThat(argv).contains("console=hvc0 quiet panic=-1 tsc_early_khz=2445404 vessel.rootfs=9p");
    }

    @Test
    void jailedQemuIsStartedByTheJailWithItsFdsAndTheFullSandbox() {
        QemuCommand.Jail jail = new QemuCommand.Jail(Path.of("/v/bin/vessel-jail"), 2000000007, 2000000007,
                Path.of("/run/vessel/jail"));
        QemuCommand command = base().binary("/usr/bin/qemu-system-x86_64").rootfs(Path.of("/b/rootfs")).sandbox(true)
                .share(new QemuCommand.Share("vol0", Path.of("/data"), true))
                .share(new QemuCommand.Share("pod", Path.of("/run/pod"), false, true))
                .nic(new QemuCommand.Nic("tap0_vessel", "02:00:00:00:00:01")).nic(QemuCommand.Nic.unplugged("02:00:00:00:00:02"))
                .nic(new QemuCommand.Nic("tap1_vessel", "02:00:00:00:00:03")).jail(jail);
        List<String> argv = command.build();
        assertThat(command.jailed()).isTrue();
        int qemu = argv.indexOf("/usr/bin/qemu-system-x86_64");
        assertThat(String.join(" ", argv.subList(0, qemu))).isEqualTo("/v/bin/vessel-jail --uid 2000000007 --gid 2000000007"
                + " --root /run/vessel/jail --ready-qmp /run/vessel/c1/qmp.sock --ro /a/vmlinux --ro /a/initrd.img --ro /usr"
                + " --rw /run/vessel/c1 --dev /dev/null --dev /dev/urandom --dev /dev/kvm --tap tap0_vessel --tap tap1_vessel"
                + " --share /b/rootfs --share /data --share /run/pod --");
        List<String> qemuArgs = argv.subList(qemu, argv.size());
        assertThat(qemuArgs).containsSequence("-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny")
                .contains("proxy,id=rootfs,sock_fd=200", "proxy,id=vol0,sock_fd=201,readonly=on", "proxy,id=pod,sock_fd=202",
                        "tap,id=net0,fd=100", "hubport,id=net1,hubid=1", "tap,id=net2,fd=101");
        assertThat(String.join(" ", qemuArgs)).doesNotContain("path=/b/rootfs", "path=/data", "ifname=", "multidevs");
    }

    @Test
    void aJailedCloneGetsItsTemplatesRamAndStateAsFdsNotPaths() {
        QemuCommand.Jail jail = new QemuCommand.Jail(Path.of("/j"), 2000000001, 2000000001, Path.of("/r"));
        List<String> argv = base().memoryFile(Path.of("/proc/42/fd/7"), false).incomingDefer(true)
                .incomingState(Path.of("/a/templates/k/state")).jail(jail).build();
        int qemu = argv.indexOf("qemu-system-x86_64");
        assertThat(argv.subList(0, qemu)).containsSequence("--fd", "99=/proc/42/fd/7")
                .containsSequence("--fd", "98=/a/templates/k/state");
        assertThat(String.join(" ", argv.subList(qemu, argv.size())))
                .contains("memory-backend-file,id=ram,size=256M,mem-path=/proc/self/fd/99,share=off")
                .doesNotContain("/proc/42").doesNotContain("templates/k/state");
    }

    @Test
    void aJailedQemuOutsideUsrIsBoundAndAWritableRamFileIsRefused() {
        QemuCommand.Jail jail = new QemuCommand.Jail(Path.of("/j"), 2000000001, 2000000001, Path.of("/r"));
        assertThat(base().binary("/opt/qemu/bin/qemu").jail(jail).build()).containsSequence("--ro", "/opt/qemu/bin/qemu");
        assertThat(base().binary("/opt/qemu/bin/qemu").jail(jail).build()).doesNotContain("--kvm");
        assertThat(base().accelerator(Accelerator.Kind.KVM).jail(jail).build()).containsSequence("--dev", "/dev/kvm", "--kvm");
        assertThatThrownBy(() -> base().memoryFile(Path.of("/m"), true).jail(jail).build())
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("cannot write a RAM file");
        assertThatThrownBy(() -> base().incomingState(Path.of("/s")).build())
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("jailed clone");
        assertThatThrownBy(() -> new QemuCommand.Jail(Path.of("/j"), 0, 5, Path.of("/r")))
                .hasMessageContaining("unprivileged");
    }

    @Test
    void tcgDefaultsWithoutSandboxTscOrRootfs() {
        List<String> argv = base().build();
        assertThat(argv).containsSequence("-accel", "tcg,tb-size=16", "-cpu", "max", "-m", "256", "-smp", "1")
                .doesNotContain("-sandbox", "-fsdev").contains("console=hvc0 quiet panic=-1");
    }

    @Test
    void extraArgumentsAndCmdlineWordsComeLast() {
        List<String> argv = base().cmdline("test.idle").processZeroPort(false)
                .extra("-netdev", "tap,id=net0,ifname=tap0").build();
        assertThat(argv).endsWith("-netdev", "tap,id=net0,ifname=tap0").doesNotContain("vessel.proc.0")
                .contains("console=hvc0 quiet panic=-1 test.idle");
    }

    @Test
    void commasInPathsAreDoubled() {
        List<String> argv = base().stateDir(Path.of("/run/a,b")).rootfs(Path.of("/r,1")).build();
        assertThat(argv).contains("unix:/run/a,,b/qmp.sock,server=on,wait=off",
                "local,id=rootfs,path=/r,,1,security_model=passthrough");
    }

    @Test
    void sharesAreNineP_exportsWithTheirTagReadOnlyInQemuWhenAsked() {
        String argv = String.join(" ", base().rootfs(Path.of("/r"))
                .share(new QemuCommand.Share("vol0", Path.of("/srv/data,1"), false))
                .share(new QemuCommand.Share("vol1", Path.of("/etc/app"), true)).build());
        assertThat(argv).contains(
                " -fsdev local,id=vol0,path=/srv/data,,1,security_model=passthrough"
                        + " -device virtio-9p-device,fsdev=vol0,mount_tag=vol0"
                        + " -fsdev local,id=vol1,path=/etc/app,security_model=passthrough,readonly=on"
                        + " -device virtio-9p-device,fsdev=vol1,mount_tag=vol1");
        assertThatThrownBy(() -> new QemuCommand.Share("rootfs", Path.of("/x"), false))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("rootfs");
        assertThatThrownBy(() -> new QemuCommand.Share("a,b", Path.of("/x"), false))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void rejectsBadSizesAndLongSocketPaths() {
        assertThatThrownBy(() -> base().memoryMib(32)).hasMessageContaining("64 MiB");
        assertThatThrownBy(() -> base().vcpus(0)).hasMessageContaining("vCPU");
        assertThatThrownBy(() -> base().stateDir(Path.of("/" + "x".repeat(100))).build())
                .hasMessageContaining("too long");
        assertThatThrownBy(() -> QemuCommand.builder().build()).isInstanceOf(NullPointerException.class);
    }

    @Test
    void nicsAreTapBackedVirtioNetDevicesInOrder() {
        List<String> argv = base().nic(new QemuCommand.Nic("tap0_vessel", "aa:fc:00:00:00:01"))
                .nic(new QemuCommand.Nic("tap1_vessel", "aa:fc:00:00:00:02")).build();
        assertThat(argv).containsSequence(
                "-netdev", "tap,id=net0,ifname=tap0_vessel,script=no,downscript=no",
                "-device", "virtio-net-device,netdev=net0,mac=aa:fc:00:00:00:01",
                "-netdev", "tap,id=net1,ifname=tap1_vessel,script=no,downscript=no",
                "-device", "virtio-net-device,netdev=net1,mac=aa:fc:00:00:00:02");
    }

    @Test
    void badNicsAreRefused() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> new QemuCommand.Nic("tap,0", "aa:fc:00:00:00:01"))
                .hasMessageContaining("tap device name");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> new QemuCommand.Nic("tap0", "aa:fc:00:00:00"))
                .hasMessageContaining("MAC address");
    }

    @Test
    void firecrackerStyleOptions() {
        List<String> argv = QemuCommand.builder().kernel(Path.of("/a/vmlinux")).initrd(Path.of("/a/initrd.img"))
                .agentChannel(false).serialStdio(true).qmpSocket(Path.of("/run/fc.sock.qmp"))
                .kernelArgs("console=ttyS0 panic=1").tscKhz(1000).cmdline("root=/dev/vda", "rw")
                .drive(new QemuCommand.Drive("drive0", Path.of("/d/a,b.img"), true))
                .build();
        assertThat(String.join(" ", argv)).isEqualTo("qemu-system-x86_64 -M microvm -nodefaults -no-user-config"
                + " -nographic -no-reboot -accel tcg,tb-size=16 -cpu max -m 256 -smp 1"
                + " -kernel /a/vmlinux -initrd /a/initrd.img -append console=ttyS0 panic=1 tsc_early_khz=1000 root=/dev/vda rw"
                + " -chardev stdio,id=serial0,signal=off -serial chardev:serial0"
                + " -blockdev driver=file,node-name=file-drive0,filename=/d/a,,b.img,read-only=on"
                + " -blockdev driver=raw,node-name=drive0,file=file-drive0,read-only=on"
                + " -device virtio-blk-device,drive=drive0,id=dev-drive0"
                + " -qmp unix:/run/fc.sock.qmp,server=on,wait=off");
        assertThatThrownBy(() -> new QemuCommand.Drive("0bad", Path.of("/x"), false)).hasMessageContaining("drive id");
        assertThatThrownBy(() -> QemuCommand.builder().kernel(Path.of("/k")).initrd(Path.of("/i")).agentChannel(false).build())
                .isInstanceOf(NullPointerException.class);
    }

    @Test
    void aTemplateAndItsClone() {
        List<String> template = base().memoryMib(308).rootfs(Path.of("/t/rootfs")).template(true)
                .memoryFile(Path.of("/run/vessel/templates/k,1"), true).nic(QemuCommand.Nic.unplugged("02:76:73:74:00:00")).build();
        assertThat(template).containsSequence("-object", "memory-backend-file,id=ram,size=308M,mem-path=/run/vessel/templates/k,,1,share=on",
                "-machine", "memory-backend=ram");
        assertThat(template).containsSequence("-netdev", "hubport,id=net0,hubid=0", "-device",
                "virtio-net-device,netdev=net0,mac=02:76:73:74:00:00");
        assertThat(String.join(" ", template)).contains("vessel.rootfs=9p vessel.template").doesNotContain("-incoming");
        List<String> clone = base().memoryMib(308).rootfs(Path.of("/c/rootfs")).template(true)
                .memoryFile(Path.of("/run/vessel/templates/k"), false).incomingDefer(true)
                .nic(new QemuCommand.Nic("tap0_vessel", "aa:00:00:00:00:01")).build();
        assertThat(clone).contains("memory-backend-file,id=ram,size=308M,mem-path=/run/vessel/templates/k,share=off");
        assertThat(clone.subList(clone.size() - 2, clone.size())).containsExactly("-incoming", "defer");
        assertThat(clone).contains("tap,id=net0,ifname=tap0_vessel,script=no,downscript=no");
        assertThat(base().build()).doesNotContain("-object", "-incoming");
    }
}
