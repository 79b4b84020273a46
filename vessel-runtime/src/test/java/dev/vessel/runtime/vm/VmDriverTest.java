package dev.vessel.runtime.vm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import dev.vessel.oci.OciException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The driver's pure parts: the crash-loop back-off, what an apply changed, names made for the host. */
class VmDriverTest {
    @Test
    void crashLoopBackOffStartsAfterTheSecondCrashAndIsCapped() {
        assertThat(VmDriver.backoff(1)).isEqualTo(Duration.ZERO);
        assertThat(VmDriver.backoff(2)).isEqualTo(Duration.ofSeconds(10));
        assertThat(VmDriver.backoff(3)).isEqualTo(Duration.ofSeconds(20));
        assertThat(VmDriver.backoff(50)).isEqualTo(Duration.ofMinutes(5));
    }

    @Test
    void diffNamesTheChangedFieldPaths() throws Exception {
        ObjectMapper json = new ObjectMapper();
        List<String> out = new ArrayList<>();
        VmDriver.diff("spec.template",
                json.readTree("{\"spec\":{\"domain\":{\"memory\":{\"guest\":\"1Gi\"},\"cpu\":{\"cores\":1}},\"volumes\":[{\"name\":\"a\"}]}}"),
                json.readTree("{\"spec\":{\"domain\":{\"memory\":{\"guest\":\"2Gi\"},\"cpu\":{\"cores\":1}},\"volumes\":[{\"name\":\"a\"},{\"name\":\"b\"}]}}"),
                out);
        assertThat(out).containsExactly("spec.template.spec.domain.memory.guest", "spec.template.spec.volumes");
    }

    @Test
    void tapNamesFitIfnamsizAndMacsAreLocallyAdministered() {
        assertThat(VmDriver.tapName("a-very-long-vm-name-that-goes-on-and-on", 3)).hasSizeLessThanOrEqualTo(15).startsWith("vt");
        assertThat(VmDriver.tapName("x", 0)).isEqualTo(VmDriver.tapName("x", 0)).isNotEqualTo(VmDriver.tapName("x", 1));
        assertThat(VmDriver.mac("x", 0)).matches("02(:[0-9a-f]{2}){5}");
    }

    @Test
    void aSnapshotGoesToTheWritableQcow2DisksOnlyNotToRawHostDisksOrTheSeed() {
        String manifest = """
                apiVersion: kubevirt.io/v1
                kind: VirtualMachine
                metadata: {name: s}
                spec:
                  runStrategy: Halted
                  template:
                    spec:
                      domain:
                        memory: {guest: 64Mi}
                        devices:
                          disks:
                          - {name: data, disk: {bus: virtio}}
                          - {name: root, disk: {bus: virtio}}
                          - {name: seed, cdrom: {bus: sata}}
                          - {name: scratch, disk: {bus: virtio}}
                      volumes:
                      - {name: data, hostDisk: {path: /tmp/x.raw, type: DiskOrCreate, capacity: 1Mi}}
                      - {name: root, containerDisk: {image: /tmp/root.qcow2}}
                      - {name: seed, cloudInitNoCloud: {userData: "#cloud-config"}}
                      - {name: scratch, emptyDisk: {capacity: 1Mi}}
                """;
        VmPlan plan = Manifests.plan(Manifests.read(manifest.getBytes(StandardCharsets.UTF_8), "t"), "t");
        assertThat(VmDriver.snapshotDevices(plan)).containsExactly("d1", "d3");
    }

    @Test
    void snapshotNamesAreKubernetesNames() {
        VmDriver.checkSnapshotName("before-upgrade.1");
        assertThatThrownBy(() -> VmDriver.checkSnapshotName("Bad_Name")).isInstanceOf(OciException.class)
                .hasMessageStartingWith("snapshot name \"Bad_Name\"");
        assertThatThrownBy(() -> VmDriver.checkSnapshotName("../x")).isInstanceOf(OciException.class);
    }

    @Test
    void theSchedulerOfOneNodeCountsMemoryWithOverheadAndATenthOfACpuPerVcpu() {
        // 24 GiB, 2 CPUs: a 1 GiB VM fits, one of the whole host's memory (plus the overhead) does not
        assertThat(VmDriver.unschedulable(1024 + 64, 1, 0, 0, 24_000, 2)).isNull();
        assertThat(VmDriver.unschedulable(24_000 + 64, 1, 0, 0, 24_000, 2))
                .isEqualTo("0/1 nodes are available: 1 Insufficient memory.");
        // beside what runs already: 20 GiB running leaves no room for 8 more
        assertThat(VmDriver.unschedulable(8192 + 64, 1, 20_480 + 64, 1, 24_000, 2)).isEqualTo("0/1 nodes are available: 1 Insufficient memory.");
        // 20 vCPUs request 2000m of 2 CPUs: fits; 21 do not
        assertThat(VmDriver.unschedulable(128, 20, 0, 0, 24_000, 2)).isNull();
        assertThat(VmDriver.unschedulable(128, 21, 0, 0, 24_000, 2)).isEqualTo("0/1 nodes are available: 1 Insufficient cpu.");
        assertThat(VmDriver.unschedulable(30_000, 21, 0, 0, 24_000, 2))
                .isEqualTo("0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory.");
    }

    @Test
    void aWaitingTargetExpiresOnlyWhenNothingCameWithinItsWait() throws Exception {
        ObjectMapper json = new ObjectMapper();
        VmDriver.Incoming in = new VmDriver.Incoming("/src", 1_000_000, 150);
        // QEMU 7.2's query-migrate on a target nothing has connected to: no status, only where it listens
        var nothing = json.readTree("{\"socket-address\": [{\"path\": \"/x/migrate.sock\", \"type\": \"unix\"}]}");
        var receiving = json.readTree("{\"status\": \"active\"}");
        assertThat(VmDriver.incomingExpired(in, nothing, 1_000_000 + 149_999)).isFalse();
        assertThat(VmDriver.incomingExpired(in, nothing, 1_000_000 + 150_000)).isTrue();
        assertThat(VmDriver.incomingExpired(in, receiving, 1_000_000 + 999_000)).isFalse();
    }
}
