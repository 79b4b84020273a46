package dev.vessel.vmm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vessel.linux.Command;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** vm image build's checks, cache key and the guest files it writes (the build itself: tests/e2e/vm-image.sh). */
class VmImageBuilderTest {
    private static final List<AptSources.Source> DEBIAN = List.of(
            new AptSources.Source("http://deb.debian.org/debian", List.of("bookworm"), List.of("main")));

    @TempDir Path dir;

    @Test
    void badRequestsAreOneLineEach() {
        assertThatThrownBy(() -> VmImageBuilder.spec("ubuntu", null, null))
                .hasMessage("unknown image kind \"ubuntu\" (use debian)");
        assertThatThrownBy(() -> VmImageBuilder.spec("debian", "lots", null)).hasMessageContaining("--size: \"lots\" is not a size");
        assertThatThrownBy(() -> VmImageBuilder.spec("debian", "1G", null)).hasMessageContaining("too small");
        assertThatThrownBy(() -> VmImageBuilder.spec("debian", "3T", null)).hasMessageContaining("too large");
        assertThatThrownBy(() -> VmImageBuilder.spec("debian", null, "vim,rm -rf"))
                .hasMessage("--packages: \"-rf\" is not a Debian package name");
        assertThatThrownBy(() -> VmImageBuilder.spec("debian", null, "Vim")).hasMessageContaining("\"Vim\"");
    }

    @Test
    void sizesAreMibOrSuffixed() throws Exception {
        assertThat(VmImageBuilder.spec("debian", null, null).sizeMib()).isEqualTo(3072);
        assertThat(VmImageBuilder.sizeMib("4G")).isEqualTo(4096);
        assertThat(VmImageBuilder.sizeMib("2560")).isEqualTo(2560);
        assertThat(VmImageBuilder.sizeMib("2560M")).isEqualTo(2560);
        assertThat(VmImageBuilder.sizeMib("8GiB")).isEqualTo(8192);
        assertThat(VmImageBuilder.sizeMib("1T")).isEqualTo(1024 * 1024);
    }

    @Test
    void thePackageListIsTheBaseAndTheExtraOnesSortedOnce() throws Exception {
        VmImageBuilder.Spec spec = VmImageBuilder.spec("debian", null, "vim, curl,openssh-server");
        assertThat(spec.packages()).contains("vim", "curl", "cloud-init", "linux-image-amd64", "openssh-server")
                .isSorted().doesNotHaveDuplicates();
    }

    @Test
    void theKeyChangesWithEachInputAndOnlyThen() throws Exception {
        VmImageBuilder.Spec spec = VmImageBuilder.spec("debian", null, null);
        String key = VmImageBuilder.key(spec, DEBIAN);
        assertThat(key).matches("[0-9a-f]{16}");
        assertThat(VmImageBuilder.key(VmImageBuilder.spec("debian", "3072M", ""), DEBIAN)).isEqualTo(key);
        assertThat(VmImageBuilder.key(VmImageBuilder.spec("debian", "4G", null), DEBIAN)).isNotEqualTo(key);
        assertThat(VmImageBuilder.key(VmImageBuilder.spec("debian", null, "vim"), DEBIAN)).isNotEqualTo(key);
        assertThat(VmImageBuilder.key(spec, List.of(new AptSources.Source("http://mirror.example/debian",
                List.of("bookworm"), List.of("main"))))).isNotEqualTo(key);
        assertThat(VmImageBuilder.inputs(spec, DEBIAN)).contains("builder " + VmImageBuilder.BUILDER_VERSION,
                "suite bookworm", "source http://deb.debian.org/debian bookworm");
    }

    @Test
    void aHostWithoutADebianSourceIsOneLine() throws Exception {
        Files.writeString(dir.resolve("sources.list"), "deb http://deb.debian.org/debian bullseye main\n");
        VmImageBuilder builder = new VmImageBuilder(dir.resolve("images"), dir);
        assertThatThrownBy(() -> builder.build(VmImageBuilder.spec("debian", null, null), dir.resolve("out.qcow2"), l -> { }))
                .hasMessageStartingWith("no apt source for Debian bookworm main in " + dir.resolve("sources.list"));
        assertThat(dir.resolve("images")).doesNotExist();
        assertThat(dir.resolve("out.qcow2")).doesNotExist();
    }

    @Test
    void anOutputInAMissingDirectoryIsRefusedBeforeAnythingIsMade() throws Exception {
        VmImageBuilder builder = new VmImageBuilder(dir.resolve("images"), dir);
        assertThatThrownBy(() -> builder.build(VmImageBuilder.spec("debian", null, null), dir.resolve("no/out.qcow2"), l -> { }))
                .hasMessage("cannot write " + dir.resolve("no/out.qcow2") + ": the directory " + dir.resolve("no")
                        + " does not exist");
        assertThat(dir.resolve("images")).doesNotExist();
    }

    @Test
    void theGuestFilesAreWrittenForAFirstBoot() throws Exception {
        Path root = dir.resolve("root");
        for (String d : List.of("etc/ssh", "etc/apt", "etc/default", "etc/cloud/cloud.cfg.d", "var/lib/dbus",
                "var/cache/apt/archives", "var/lib/apt/lists", "boot")) {
            Files.createDirectories(root.resolve(d));
        }
        Files.writeString(root.resolve("etc/machine-id"), "492536bc90a04bbc8ee0fe6747ef5640\n");
        Files.writeString(root.resolve("var/lib/dbus/machine-id"), "492536bc90a04bbc8ee0fe6747ef5640\n");
        Files.writeString(root.resolve("etc/ssh/ssh_host_ed25519_key"), "secret");
        Files.writeString(root.resolve("etc/ssh/sshd_config"), "# kept");
        Files.writeString(root.resolve("etc/shadow"), "root:$y$j9T$abc:20788:0:99999:7:::\ndaemon:*:20788:0:99999:7:::\n");
        Files.writeString(root.resolve("var/cache/apt/archives/x.deb"), "");
        Files.createSymbolicLink(root.resolve("vmlinuz"), Path.of("boot/vmlinuz-6.1.0-50-amd64"));
        Files.writeString(root.resolve("boot/vmlinuz-6.1.0-50-amd64"), "");
        List<AptSources.Source> sources = List.of(DEBIAN.getFirst(),
                new AptSources.Source("http://deb.debian.org/debian-security", List.of("bookworm-security"), List.of("main")));

        // Debian's kernel packages keep /vmlinuz and /initrd.img: the boot loader names those
        assertThatThrownBy(() -> VmImageBuilder.configure(root, "0a1b", sources)).hasMessageContaining("/initrd.img");
        Files.createSymbolicLink(root.resolve("initrd.img"), Path.of("boot/initrd.img-6.1.0-50-amd64"));
        Files.writeString(root.resolve("boot/initrd.img-6.1.0-50-amd64"), "");
        VmImageBuilder.configure(root, "0a1b", sources);

        assertThat(root.resolve("etc/fstab")).content().contains("UUID=0a1b / ext4 errors=remount-ro 0 1");
        assertThat(root.resolve("etc/machine-id")).isEmptyFile();
        assertThat(root.resolve("var/lib/dbus/machine-id")).doesNotExist();
        assertThat(root.resolve("etc/ssh/ssh_host_ed25519_key")).doesNotExist();
        assertThat(root.resolve("etc/ssh/sshd_config")).exists();
        assertThat(root.resolve("etc/shadow")).content().startsWith("root:*:20788:").contains("daemon:*:20788:");
        assertThat(root.resolve("etc/cloud/cloud.cfg.d/90-vessel.cfg")).content()
                .contains("datasource_list: [ NoCloud, None ]");
        assertThat(root.resolve("etc/apt/sources.list")).content().isEqualTo(
                "deb http://deb.debian.org/debian bookworm main\ndeb http://deb.debian.org/debian-security bookworm-security main\n");
        assertThat(root.resolve("var/cache/apt/archives/x.deb")).doesNotExist();
        assertThat(root.resolve("boot/extlinux/extlinux.conf")).content().contains("LINUX /vmlinuz", "INITRD /initrd.img",
                "APPEND root=UUID=0a1b ro console=tty0 console=ttyS0,115200n8");
    }

    @Test
    void anUnconfiguredPackageFailsTheBuild() throws Exception {
        Path root = dir.resolve("root");
        Files.createDirectories(root.resolve("var/lib/dpkg"));
        Files.writeString(root.resolve("var/lib/dpkg/status"), """
                Package: cloud-init
                Status: install ok unpacked

                Package: sudo
                Status: install ok installed
                """);
        assertThatThrownBy(() -> VmImageBuilder.requireInstalled(root, List.of("sudo", "cloud-init", "vim")))
                .hasMessage("debootstrap left cloud-init, vim not installed");
        VmImageBuilder.requireInstalled(root, List.of("sudo"));
    }

    @Test
    void whatADeadDaemonsBuildLeftIsRemovedAndALiveOnesIsNot() throws Exception {
        Path images = Files.createDirectories(dir.resolve("images"));
        Path dead = Files.createDirectories(images.resolve(".work-2147483646/root/etc"));
        Path live = Files.createDirectories(images.resolve(".work-" + ProcessHandle.current().pid()));
        Path half = Files.createDirectories(images.resolve("debian-bookworm-0123456789abcdef.tmp"));
        Path done = Files.createDirectories(images.resolve("debian-bookworm-fedcba9876543210"));
        new VmImageBuilder(images, dir).removeStaleWork();
        assertThat(images.resolve(".work-2147483646")).doesNotExist();
        assertThat(half).doesNotExist();
        assertThat(live).exists();
        assertThat(done).exists();
        assertThat(dead.getParent()).doesNotExist();
    }

    @Test
    void aFailedProgramIsQuotedByItsLastError() {
        assertThat(VmImageBuilder.lastError(new Command.Result(1, "I: Retrieving x\nE: Couldn't find these debs: nope\nI: y\n")))
                .isEqualTo("E: Couldn't find these debs: nope");
        assertThat(VmImageBuilder.lastError(new Command.Result(32, "mount: wrong fs type\n\n"))).isEqualTo("mount: wrong fs type");
        assertThat(VmImageBuilder.lastError(new Command.Result(3, ""))).isEqualTo("exit status 3");
    }
}
