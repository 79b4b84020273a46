package dev.vessel.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vessel.oci.OciException;
import dev.vessel.oci.OciSpec;
import dev.vessel.vmm.AgentClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MicroVmPodTest {
    @TempDir
    Path tmp;

    private static final long MIB = 1 << 20;

    @Test
    void containerdsAnnotationsNameTheSandboxAndTheContainersThatJoinIt() {
        var sandbox = MicroVmPod.Annotations.of(Map.of("io.kubernetes.cri.container-type", "sandbox",
                "io.kubernetes.cri.sandbox-id", "abc", "io.kubernetes.cri.sandbox-memory", "268435456",
                "io.kubernetes.cri.sandbox-cpu-quota", "150000", "io.kubernetes.cri.sandbox-cpu-period", "100000"));
        assertThat(sandbox.role()).isEqualTo(MicroVmPod.Role.SANDBOX);
        assertThat(sandbox.joins()).isFalse();
        assertThat(sandbox.memory()).isEqualTo(256 * MIB);
        assertThat(sandbox.cpuQuota()).isEqualTo(150_000L);

        var container = MicroVmPod.Annotations.of(Map.of("io.kubernetes.cri.container-type", "container",
                "io.kubernetes.cri.sandbox-id", "abc"));
        assertThat(container.role()).isEqualTo(MicroVmPod.Role.CONTAINER);
        assertThat(container.joins()).isTrue();
        assertThat(container.sandboxId()).isEqualTo("abc");
        assertThat(container.sandboxKey()).isEqualTo("io.kubernetes.cri.sandbox-id");
    }

    @Test
    void crioAnnotationsToo() {
        var container = MicroVmPod.Annotations.of(Map.of("io.kubernetes.cri-o.ContainerType", "container",
                "io.kubernetes.cri-o.SandboxID", "xyz"));
        assertThat(container.joins()).isTrue();
        assertThat(container.sandboxId()).isEqualTo("xyz");
        assertThat(container.sandboxKey()).isEqualTo("io.kubernetes.cri-o.SandboxID");
    }

    @Test
    void noPodAnnotationsOrAContainerWithoutASandboxIdIsAMicroVmOfItsOwn() {
        assertThat(MicroVmPod.Annotations.of(Map.of()).role()).isEqualTo(MicroVmPod.Role.NONE);
        assertThat(MicroVmPod.Annotations.of(Map.of("io.kubernetes.cri.container-type", "container")).joins()).isFalse();
        assertThat(MicroVmPod.Annotations.of(Map.of("io.kubernetes.cri.container-type", "container",
                "io.kubernetes.cri.sandbox-id", " ")).joins()).isFalse();
        // zero, or not a number, sizes nothing
        var zero = MicroVmPod.Annotations.of(Map.of("io.kubernetes.cri.container-type", "sandbox",
                "io.kubernetes.cri.sandbox-memory", "0", "io.kubernetes.cri.sandbox-cpu-quota", "x"));
        assertThat(zero.memory()).isNull();
        assertThat(zero.cpuQuota()).isNull();
    }

    @Test
    void thePodCgroupSizesTheVmFirstThenTheAnnotationsThenTheDefault() {
        var annotations = MicroVmPod.Annotations.of(Map.of("io.kubernetes.cri.container-type", "sandbox",
                "io.kubernetes.cri.sandbox-memory", Long.toString(300 * MIB), "io.kubernetes.cri.sandbox-cpu-quota", "250000",
                "io.kubernetes.cri.sandbox-cpu-period", "100000"));
        var fromCgroup = MicroVmPod.size(384 * MIB, 200_000L, 100_000L, annotations, 512 * MIB, 1);
        assertThat(fromCgroup.memoryBytes()).isEqualTo(384 * MIB);
        assertThat(fromCgroup.vcpus()).isEqualTo(2);
        assertThat(fromCgroup.source()).isEqualTo("memory from the pod cgroup, CPUs from the pod cgroup");

        var fromAnnotations = MicroVmPod.size(null, null, null, annotations, 512 * MIB, 1);
        assertThat(fromAnnotations.memoryBytes()).isEqualTo(300 * MIB);
        assertThat(fromAnnotations.vcpus()).isEqualTo(3); // 2.5 CPUs round up
        assertThat(fromAnnotations.source()).contains("io.kubernetes.cri.sandbox-memory");

        var byDefault = MicroVmPod.size(null, null, null, MicroVmPod.Annotations.of(Map.of()), 512 * MIB, 2);
        assertThat(byDefault.memoryBytes()).isEqualTo(512 * MIB);
        assertThat(byDefault.vcpus()).isEqualTo(2);
        assertThat(byDefault.source()).isEqualTo("memory from pod_memory, CPUs from pod_cpus");

        // a pod cgroup that limits memory only: CPUs from the annotations
        var mixed = MicroVmPod.size(128 * MIB, null, null, annotations, 512 * MIB, 1);
        assertThat(mixed.memoryBytes()).isEqualTo(128 * MIB);
        assertThat(mixed.vcpus()).isEqualTo(3);
    }

    private static OciSpec.Mount bind(Path source, String dest, String... options) {
        return new OciSpec.Mount(dest, "bind", source.toString(), List.of(options));
    }

    @Test
    void aContainersBindsGoThroughTheShareAtAPathOfTheirSourceSoTwoContainersMeet() throws Exception {
        Path rootfs = Files.createDirectories(tmp.resolve("rootfs"));
        Path empty = Files.createDirectories(tmp.resolve("empty-dir"));
        Path hosts = Files.writeString(tmp.resolve("hosts"), "127.0.0.1 localhost\n");
        List<OciSpec.Mount> mounts = List.of(
                new OciSpec.Mount("/proc", "proc", "proc", List.of()),
                new OciSpec.Mount("/sys/fs/cgroup", "cgroup", "cgroup", List.of("ro")),
                bind(empty, "/data", "rbind", "rprivate", "rw"),
                bind(hosts, "/etc/hosts", "rbind", "ro"),
                bind(tmp.resolve("shm"), "/dev/shm", "rbind", "nosuid"));
        MicroVmPod.Plan a = MicroVmPod.plan("a", mounts, rootfs);
        String emptyRel = "v/" + SandboxStore.hash(empty.toRealPath().toString());
        String hostsRel = "v/" + SandboxStore.hash(hosts.toRealPath().toString());
        assertThat(a.mounts()).containsExactly(
                new AgentClient.Mount("proc", "/proc", "proc", List.of()),
                new AgentClient.Mount(emptyRel, "/data", "pod", List.of("rw")),
                new AgentClient.Mount(hostsRel, "/etc/hosts", "pod", List.of("ro")),
                // the pod's one /dev/shm (its sandbox's), not a tmpfs of the container's own
                new AgentClient.Mount("shm", "/dev/shm", "podshm", List.of("nosuid")));
        assertThat(a.binds()).containsExactly(Map.entry(emptyRel, empty.toRealPath()), Map.entry(hostsRel, hosts.toRealPath()));
        // another container given the same emptyDir: the same path in the share, so the same guest path
        MicroVmPod.Plan b = MicroVmPod.plan("b", List.of(bind(empty, "/cache", "rbind")), rootfs);
        assertThat(b.binds()).containsOnlyKeys(emptyRel);
    }

    @Test
    void aContainerSharesThePodsPidNamespaceOnlyWhenItsSpecNamesOne() throws Exception {
        assertThat(MicroVmPod.sharesPids(spec("[{\"type\": \"pid\", \"path\": \"/proc/42/ns/pid\"}, {\"type\": \"mount\"}]")))
                .isTrue();
        assertThat(MicroVmPod.sharesPids(spec("[{\"type\": \"pid\"}, {\"type\": \"mount\"}]"))).isFalse();
        assertThat(MicroVmPod.sharesPids(spec("[{\"type\": \"network\", \"path\": \"/proc/42/ns/net\"}]"))).isFalse();
    }

    private static OciSpec spec(String namespaces) throws Exception {
        return dev.vessel.oci.BundleConfig.JSON.treeToValue(dev.vessel.oci.BundleConfig.JSON.readTree(
                "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"rootfs\"}, \"linux\": {\"namespaces\": " + namespaces + "}}"),
                OciSpec.class);
    }

    @Test
    void aBindThatCannotBeMadeFailsNamingIt() {
        Path rootfs = tmp.resolve("rootfs");
        assertThatThrownBy(() -> MicroVmPod.plan("a", List.of(bind(tmp.resolve("gone"), "/v", "rbind")), rootfs))
                .isInstanceOf(OciException.class)
                .hasMessage("container \"a\": bind mount " + tmp.resolve("gone") + " on /v: no such file or directory");
        assertThatThrownBy(() -> MicroVmPod.plan("a", List.of(new OciSpec.Mount("/x", "nfs", "srv:/x", List.of())), rootfs))
                .isInstanceOf(OciException.class).hasMessageContaining("type \"nfs\" cannot be made in a microVM");
    }

    @Test
    void theProcessNumbersOfAVmAreSharedByItsExecsAndItsPodsContainers() throws Exception {
        assertThat(MicroVmDriver.nextProcess(tmp, 0)).isEqualTo(1);
        assertThat(MicroVmDriver.nextProcess(tmp, 0)).isEqualTo(2);
        assertThat(MicroVmDriver.nextProcess(tmp, 5)).isEqualTo(6); // a record's own count from an older vesseld
        assertThat(MicroVmDriver.nextProcess(tmp, 0)).isEqualTo(7);
    }
}
