package dev.vessel.runtime.vm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vessel.oci.OciException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ManifestsTest {
    static final String VM = """
            apiVersion: kubevirt.io/v1
            kind: VirtualMachine
            metadata:
              name: testvm
              labels: {app: demo}
            spec:
              runStrategy: RerunOnFailure
              template:
                metadata:
                  labels: {kubevirt.io/vm: testvm}
                spec:
                  terminationGracePeriodSeconds: 30
                  domain:
                    cpu: {cores: 2, sockets: 1, threads: 1}
                    memory: {guest: 256Mi}
                    devices:
                      disks:
                      - name: root
                        disk: {bus: virtio}
                        bootOrder: 1
                      - name: data
                        disk: {bus: sata}
                        serial: DATA1
                      - name: cloudinit
                        cdrom: {bus: sata}
                      interfaces:
                      - name: default
                        masquerade: {}
                        ports:
                        - {name: http, port: 8080}
                  networks:
                  - name: default
                    pod: {}
                  volumes:
                  - name: root
                    containerDisk: {image: /var/lib/images/disk.qcow2}
                  - name: data
                    hostDisk: {path: /var/lib/data.img, type: DiskOrCreate, capacity: 1Gi}
                  - name: cloudinit
                    cloudInitNoCloud:
                      userData: |
                        #cloud-config
                        hostname: testvm
            """;

    static VmPlan parse(String yaml) {
        return Manifests.parse(yaml.getBytes(StandardCharsets.UTF_8), "vm.yaml");
    }

    static String error(String yaml) {
        try {
            parse(yaml);
        } catch (OciException e) {
            assertThat(e.getMessage()).doesNotContain("\n");
            return e.getMessage();
        }
        throw new AssertionError("accepted: " + yaml);
    }

    @Test
    void readsTheSubsetWithKubeVirtsDefaults() {
        VmPlan plan = parse(VM);
        assertThat(plan.name()).isEqualTo("testvm");
        assertThat(plan.runStrategy()).isEqualTo(VmPlan.RunStrategy.RerunOnFailure);
        assertThat(plan.vcpus()).isEqualTo(2);
        assertThat(plan.memoryMib()).isEqualTo(256);
        assertThat(plan.gracePeriodSeconds()).isEqualTo(30);
        assertThat(plan.disks()).extracting(VmPlan.PlannedDisk::bus).containsExactly("virtio", "sata", "sata");
        assertThat(plan.disks().get(1).source()).isEqualTo(new VmPlan.HostDiskSource("/var/lib/data.img", true, 1L << 30));
        assertThat(plan.disks().get(2).kind()).isEqualTo(VmPlan.DiskKind.CDROM);
        assertThat(plan.disks().get(2).readOnly()).isTrue();
        assertThat(((VmPlan.CloudInitSource) plan.disks().get(2).source()).userData()).startsWith("#cloud-config");
        assertThat(plan.nics()).hasSize(1);
        assertThat(plan.nics().getFirst().ports()).containsExactly(new VmPlan.PlannedPort("http", 8080, "TCP"));
        assertThat(plan.efi()).isFalse();
    }

    @Test
    void noInterfacesMeansOneMasqueradeOnThePodNetwork() {
        VmPlan plan = parse(minimal("runStrategy: Always", ""));
        assertThat(plan.nics()).containsExactly(new VmPlan.PlannedNic("default", VmPlan.Binding.MASQUERADE, null,
                java.util.List.of(), null));
        assertThat(plan.gracePeriodSeconds()).isEqualTo(Manifests.DEFAULT_GRACE_SECONDS);
    }

    @Test
    void runningIsTheOlderSpellingOfAlwaysAndHalted() {
        assertThat(parse(minimal("running: true", "")).runStrategy()).isEqualTo(VmPlan.RunStrategy.Always);
        assertThat(parse(minimal("running: false", "")).runStrategy()).isEqualTo(VmPlan.RunStrategy.Halted);
        assertThat(error(minimal("running: true\n  runStrategy: Always", "")))
                .contains("spec.running: Invalid value").contains("mutually exclusive");
    }

    @Test
    void bridgeBindingNamesTheHostBridgeThroughMultus() {
        VmPlan plan = parse(VM.replace("masquerade: {}", "bridge: {}").replace("\n            ports:\n            - {name: http, port: 8080}", "").replace("pod: {}", "multus: {networkName: br-test}"));
        assertThat(plan.nics().getFirst()).isEqualTo(new VmPlan.PlannedNic("default", VmPlan.Binding.BRIDGE, "br-test",
                java.util.List.of(), null));
        assertThat(error(VM.replace("masquerade: {}", "bridge: {}"))).contains("interfaces[0].bridge: Invalid value");
    }

    @Test
    void unknownFieldsAreRefusedWithTheirPath() {
        assertThat(error(VM.replace("bootOrder: 1", "bootOrder: 1\n            bootMenu: true")))
                .isEqualTo("vm.yaml: unknown field \"spec.template.spec.domain.devices.disks[0].bootMenu\"");
        assertThat(error(VM.replace("runStrategy: RerunOnFailure", "runStrategy: RerunOnFailure\n  foo: 1")))
                .isEqualTo("vm.yaml: unknown field \"spec.foo\"");
    }

    @Test
    void enumsOutsideTheSubsetAreUnsupportedValues() {
        assertThat(error(VM.replace("disk: {bus: virtio}", "disk: {bus: ide}"))).isEqualTo(
                "vm.yaml: spec.template.spec.domain.devices.disks[0].disk.bus: Unsupported value: \"ide\": supported values: "
                        + "\"virtio\", \"sata\", \"scsi\"");
        assertThat(error(VM.replace("RerunOnFailure", "Alwayz"))).isEqualTo(
                "vm.yaml: spec.runStrategy: Unsupported value: \"Alwayz\": supported values: \"Always\", \"RerunOnFailure\", "
                        + "\"Manual\", \"Halted\", \"Once\"");
        assertThat(error(VM.replace("type: DiskOrCreate", "type: Directory")))
                .contains("volumes[1].hostDisk.type: Unsupported value: \"Directory\"");
        assertThat(error(VM.replace("apiVersion: kubevirt.io/v1", "apiVersion: kubevirt.io/v1alpha3")))
                .contains("apiVersion: Unsupported value");
    }

    @Test
    void wrongTypesAndBadValuesNameTheField() {
        assertThat(error(VM.replace("cores: 2", "cores: two"))).contains("spec.template.spec.domain.cpu.cores: Invalid value");
        assertThat(error(VM.replace("guest: 256Mi", "guest: lots"))).contains("domain.memory.guest: Invalid value: \"lots\"");
        assertThat(error(VM.replace("guest: 256Mi", "guest: 16Mi"))).contains("at least 64Mi");
        assertThat(error(VM.replace("name: testvm\n", "name: Test_VM\n"))).contains("metadata.name: Invalid value");
        assertThat(error(VM.replace("port: 8080", "port: 70000"))).contains("ports[0].port: Invalid value");
    }

    @Test
    void disksAndVolumesMatchByName() {
        assertThat(error(VM.replace("- name: data\n            disk:", "- name: dta\n            disk:")))
                .contains("disks[1].name: Not found: \"dta\"");
        assertThat(error(VM.replace("- name: root\n        containerDisk", "- name: rooot\n        containerDisk")))
                .contains("disks[0].name: Not found: \"root\"");
        assertThat(error(VM.replace("containerDisk: {image: /var/lib/images/disk.qcow2}",
                "containerDisk: {image: /a}\n        emptyDisk: {capacity: 1Gi}")))
                .contains("volumes[0]: Invalid value").contains("exactly one source");
    }

    @Test
    void containerDiskFromARegistry() {
        VmPlan plan = parse(VM.replace("image: /var/lib/images/disk.qcow2", "image: 127.0.0.1:5000/disks/busybox:1"));
        VmPlan.ContainerDiskSource c = (VmPlan.ContainerDiskSource) plan.disks().getFirst().source();
        assertThat(c.image()).isEqualTo("127.0.0.1:5000/disks/busybox:1");
        assertThat(c.field()).isEqualTo("spec.template.spec.volumes[0].containerDisk.image");
        assertThat(DiskSources.fromRegistry(c)).isTrue();
        parse(VM.replace("image: /var/lib/images/disk.qcow2", "image: docker://quay.io/containerdisks/fedora:40"));
        assertThat(error(VM.replace("image: /var/lib/images/disk.qcow2", "image: \"Quay.io/a b\"")))
                .contains("spec.template.spec.volumes[0].containerDisk.image: Invalid value: \"Quay.io/a b\": a registry reference");
        assertThat(error(VM.replace("image: /var/lib/images/disk.qcow2", "image: quay.io/a:1, imagePullPolicy: Sometimes")))
                .contains("volumes[0].containerDisk.imagePullPolicy: Unsupported value: \"Sometimes\"");
        assertThat(error(VM.replace("image: /var/lib/images/disk.qcow2", "image: quay.io/a:1, path: disk/x.img")))
                .contains("volumes[0].containerDisk.path: Invalid value: \"disk/x.img\"");
    }

    @Test
    void malformedYamlIsOneLineWithItsPlace() {
        assertThat(error("apiVersion: kubevirt.io/v1\nmetadata:\n\tname: x\n")).startsWith("vm.yaml: malformed YAML at line");
        assertThat(error("")).contains("empty manifest");
        assertThat(error("- a\n- b\n")).contains("not a VirtualMachine manifest");
        assertThat(error(VM.replace("kind: VirtualMachine", "kind: VirtualMachine\nkind: Pod"))).contains("malformed YAML");
    }

    @Test
    void whatVirtctlCreateWritesIsAccepted() {
        VmPlan plan = parse(VM.replace("  name: testvm\n", "  name: testvm\n  creationTimestamp: null\n")
                .replace("    metadata:\n      labels:", "    metadata:\n      creationTimestamp: null\n      labels:")
                .replace("    memory: {guest: 256Mi}", "    memory: {guest: 256Mi}\n        machine: {type: q35}"));
        assertThat(plan.memoryMib()).isEqualTo(256);
        assertThat(error(VM.replace("    memory: {guest: 256Mi}", "    memory: {guest: 256Mi}\n        machine: {type: pc}")))
                .contains("spec.template.spec.domain.machine.type: Unsupported value: \"pc\"");
    }

    @Test
    void quantitiesFollowKubernetes() {
        assertThat(Manifests.quantity("1Gi")).isEqualTo(1L << 30);
        assertThat(Manifests.quantity("1G")).isEqualTo(1_000_000_000L);
        assertThat(Manifests.quantity("1.5Gi")).isEqualTo(3L << 29);
        assertThat(Manifests.quantity("4096")).isEqualTo(4096);
        assertThatThrownBy(() -> Manifests.quantity("1GB")).isInstanceOf(IllegalArgumentException.class);
    }

    static String minimal(String strategy, String extra) {
        return """
                apiVersion: kubevirt.io/v1
                kind: VirtualMachine
                metadata: {name: small}
                spec:
                  %s
                  template:
                    spec:
                      domain:
                        resources: {requests: {memory: 128Mi}}
                        devices:
                          disks: [{name: root, disk: {bus: virtio}}]
                      volumes: [{name: root, hostDisk: {path: /disk.img, type: Disk}}]
                %s""".formatted(strategy, extra);
    }
}
