package dev.vessel.runtime.vm;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;
import java.util.Map;

/**
 * KubeVirt's {@code VirtualMachine} (apiVersion kubevirt.io/v1), the subset Vessel runs (issue 14,
 * item 1): field names and nesting exactly as KubeVirt's Go types spell them, so a user's manifest
 * runs unchanged where it stays inside the subset. Anything else is refused by {@link Manifests}
 * (Jackson fails on unknown properties), naming the field path.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record VirtualMachine(String apiVersion, String kind, Metadata metadata, Spec spec, Object status) {
    public static final String API_VERSION = "kubevirt.io/v1";
    public static final String KIND = "VirtualMachine";

    @JsonInclude(JsonInclude.Include.NON_NULL)
    /** {@code creationTimestamp}: accepted and ignored (virtctl create and kubectl write {@code null} there). */
    public record Metadata(String name, String namespace, Map<String, String> labels, Map<String, String> annotations,
            Object creationTimestamp) {}

    /** {@code running} is the older spelling of Always (true) and Halted (false); one of the two at most. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Spec(Boolean running, String runStrategy, Template template) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Template(TemplateMetadata metadata, TemplateSpec spec) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record TemplateMetadata(Map<String, String> labels, Map<String, String> annotations, Object creationTimestamp) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record TemplateSpec(Domain domain, List<Network> networks, List<Volume> volumes,
            Long terminationGracePeriodSeconds) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Domain(Cpu cpu, Memory memory, Resources resources, Devices devices, Firmware firmware, Machine machine) {}

    /** {@code type}: q35 only (KubeVirt's default on x86, and the only machine Vessel runs). */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Machine(String type) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Cpu(Integer cores, Integer sockets, Integer threads) {}

    /** {@code guest}: a Kubernetes quantity ("1Gi", "512M", bytes). */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Memory(String guest) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Resources(Requests requests) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Requests(String memory) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Devices(List<Disk> disks, List<Interface> interfaces) {}

    /** Exactly one of {@code disk} and {@code cdrom} (none: a disk on virtio, as KubeVirt defaults it). */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Disk(String name, DiskTarget disk, CdromTarget cdrom, Integer bootOrder, String serial) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record DiskTarget(String bus, Boolean readonly) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record CdromTarget(String bus, Boolean readonly) {}

    /** Exactly one binding: {@code masquerade} or {@code bridge}. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Interface(String name, Empty masquerade, Empty bridge, List<Port> ports, String macAddress) {}

    /** {@code protocol}: TCP (default) or UDP. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Port(String name, Integer port, String protocol) {}

    /** Exactly one source: the pod network (masquerade) or a multus network (a host bridge, by name). */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Network(String name, Empty pod, Multus multus) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Multus(String networkName) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Firmware(Bootloader bootloader) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Bootloader(Empty bios, Efi efi) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Efi(Boolean secureBoot) {}

    /** Exactly one source. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Volume(String name, ContainerDisk containerDisk, HostDisk hostDisk, EmptyDisk emptyDisk,
            Ephemeral ephemeral, CloudInitNoCloud cloudInitNoCloud) {}

    /**
     * {@code image}: see {@link DiskSources} for what is supported (a local path, an OCI archive, a
     * registry reference); {@code imagePullPolicy}: Always, IfNotPresent or Never, as Kubernetes'.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record ContainerDisk(String image, String path, String imagePullPolicy) {}

    /** {@code type}: Disk (the file must exist) or DiskOrCreate (made sparse with {@code capacity}). */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record HostDisk(String path, String type, String capacity) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record EmptyDisk(String capacity) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Ephemeral(PersistentVolumeClaim persistentVolumeClaim) {}

    /** Vessel has no PVCs: {@code claimName} is the path of a disk file on the host. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record PersistentVolumeClaim(String claimName, Boolean readOnly) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record CloudInitNoCloud(String userData, String userDataBase64, String networkData,
            String networkDataBase64) {}

    /** An empty object ({@code masquerade: {}}, {@code pod: {}}, {@code bios: {}}): present or not. */
    public record Empty() {}
}
