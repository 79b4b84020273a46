package dev.vessel.runtime.vm;

import java.util.List;
import java.util.Map;

/**
 * A validated {@link VirtualMachine}, with KubeVirt's defaults filled in: what {@link VmDriver}
 * starts. Made only by {@link Manifests#plan}.
 */
public record VmPlan(String name, RunStrategy runStrategy, int sockets, int cores, int threads, long memoryMib,
        List<PlannedDisk> disks, List<PlannedNic> nics, boolean efi, long gracePeriodSeconds,
        Map<String, String> annotations) {

    /** KubeVirt's run strategies (spec.runStrategy). */
    public enum RunStrategy { Always, RerunOnFailure, Manual, Halted, Once }

    public int vcpus() {
        return sockets * cores * threads;
    }

    public enum DiskKind { DISK, CDROM }

    /** A disk and the volume behind it. */
    public record PlannedDisk(String name, DiskKind kind, String bus, Integer bootOrder, String serial,
            boolean readOnly, Source source) {}

    /** Where a disk's content comes from (a volume). */
    public sealed interface Source {}

    /**
     * An image (a local file, one in an OCI archive, or a registry reference), run through an overlay
     * made at each start. {@code pullPolicy}: Always, IfNotPresent or Never (a registry image's;
     * Kubernetes' default from the tag); {@code field}: the manifest's path of {@code image}, for messages.
     */
    public record ContainerDiskSource(String image, String path, String pullPolicy, String field) implements Source {
        public ContainerDiskSource(String image, String path) {
            this(image, path, null, "containerDisk.image");
        }
    }

    /** A host file used as is (persistent); {@code create}: made sparse with {@code capacityBytes} if missing. */
    public record HostDiskSource(String path, boolean create, long capacityBytes) implements Source {}

    /** A blank qcow2 of {@code capacityBytes}, made at each start. */
    public record EmptyDiskSource(long capacityBytes) implements Source {}

    /** A host disk file (the claim's name), run through an overlay made at each start. */
    public record EphemeralSource(String path) implements Source {}

    /** A NoCloud seed (an ISO labelled cidata), made at each start. */
    public record CloudInitSource(String userData, String networkData) implements Source {}

    public enum Binding { MASQUERADE, BRIDGE }

    /** An interface on its network: masquerade (the pod network) or a tap on host bridge {@code bridge}. */
    public record PlannedNic(String name, Binding binding, String bridge, List<PlannedPort> ports, String mac) {}

    public record PlannedPort(String name, int port, String protocol) {}
}
