package dev.vessel.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vessel.oci.OciException;
import dev.vessel.oci.OciSpec;
import dev.vessel.vmm.AgentClient;
import dev.vessel.vmm.QemuCommand;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GuestMountsTest {
    @TempDir
    Path tmp;

    private static OciSpec.Mount bind(Path source, String dest, String... options) {
        return new OciSpec.Mount(dest, "bind", source.toString(), List.of(options));
    }

    @Test
    void directoriesAndFilesAreNinePSharesOnePerDirectoryReadOnlyOnlyWhenEveryUseIs() throws Exception {
        Path rootfs = Files.createDirectories(tmp.resolve("rootfs"));
        Path vol = Files.createDirectories(tmp.resolve("vol"));
        Path file = Files.writeString(vol.resolve("f"), "x");
        Path conf = Files.createDirectories(tmp.resolve("conf"));
        GuestMounts plan = GuestMounts.plan("c1", List.of(
                bind(vol, "/v", "rbind", "rprivate", "rshared", "nosuid"),
                bind(file, "/f", "bind", "ro"),
                bind(conf, "/etc/app", "ro")), rootfs);
        assertThat(plan.mounts()).containsExactly(
                new AgentClient.Mount("vol0", "/v", "9p", List.of("nosuid")),
                new AgentClient.Mount("vol0/f", "/f", "9p", List.of("ro")),
                new AgentClient.Mount("vol1", "/etc/app", "9p", List.of("ro")));
        assertThat(plan.shares()).containsExactly(
                new QemuCommand.Share("vol0", vol.toRealPath(), false), new QemuCommand.Share("vol1", conf.toRealPath(), true));
        assertThat(plan.ignored()).containsExactly("/v (rshared)"); // private is what the guest's mounts are
        assertThat(plan.files()).isEmpty();
    }

    @Test
    void engineFilesGoByValueShmIsAGuestTmpfsKernelFileSystemsAsTheyAreCgroupsLeftOut() throws Exception {
        Path rootfs = Files.createDirectories(tmp.resolve("rootfs"));
        Path hosts = Files.writeString(tmp.resolve("hosts"), "127.0.0.1 localhost\n");
        Path shm = Files.createDirectories(tmp.resolve("shm"));
        Files.createDirectories(rootfs.resolve("data"));
        GuestMounts plan = GuestMounts.plan("c1", List.of(
                new OciSpec.Mount("/proc", "proc", "proc", List.of("nosuid")),
                new OciSpec.Mount("/sys/fs/cgroup", "cgroup2", "cgroup", List.of()),
                bind(hosts, "/etc/hosts", "rbind"),
                bind(shm, "/dev/shm", "bind", "nosuid", "noexec", "nodev"),
                bind(rootfs.resolve("data"), "/mnt/data", "rbind")), rootfs);
        assertThat(plan.mounts()).containsExactly(
                new AgentClient.Mount("proc", "/proc", "proc", List.of("nosuid")),
                new AgentClient.Mount("shm", "/dev/shm", "tmpfs", List.of("nosuid", "noexec", "nodev", "mode=1777")),
                new AgentClient.Mount("/data", "/mnt/data", "bind", List.of("rbind")));
        assertThat(plan.files()).containsExactly(new AgentClient.HostFile("/etc/hosts", "127.0.0.1 localhost\n"));
        assertThat(plan.shares()).isEmpty();
    }

    @Test
    void aMountThatCannotReachTheGuestFailsNamingIt() throws Exception {
        Path rootfs = Files.createDirectories(tmp.resolve("rootfs"));
        assertThatThrownBy(() -> GuestMounts.plan("c1", List.of(bind(tmp.resolve("gone"), "/v")), rootfs))
                .isInstanceOf(OciException.class).hasMessageContaining("gone").hasMessageContaining("/v")
                .hasMessageNotContaining("\n");
        assertThatThrownBy(() -> GuestMounts.plan("c1", List.of(new OciSpec.Mount("/d", "ext4", "/dev/sda1", List.of())), rootfs))
                .isInstanceOf(OciException.class).hasMessageContaining("/d").hasMessageContaining("ext4");
    }
}
