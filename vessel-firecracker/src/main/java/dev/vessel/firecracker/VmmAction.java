package dev.vessel.firecracker;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * One API request, parsed and checked ({@link ParsedRequest}): what the VMM is asked to do, with
 * no HTTP left in it, as Firecracker's {@code VmmAction}. When an action may run is its type:
 * {@link PreBoot} ones only before the guest starts ({@link PrebootApiController}), {@link PostBoot}
 * ones only after ({@link RuntimeApiController}), {@link AnyTime} ones in both. A body's ids are
 * the path's (checked while parsing).
 */
public sealed interface VmmAction permits VmmAction.PreBoot, VmmAction.PostBoot, VmmAction.AnyTime {

    /** Configures the VM before it starts; refused after. */
    sealed interface PreBoot extends VmmAction permits ConfigureBootSource, InsertBlockDevice, InsertNetworkDevice,
            SetMachineConfig, UpdateMachineConfig, SetVsockDevice, SetEntropyDevice, SetBalloonDevice, SetMmdsConfig,
            StartMicroVm, LoadSnapshot {
    }

    /** Acts on a running (or paused) guest; refused before it starts. */
    sealed interface PostBoot extends VmmAction permits UpdateBlockDevice, UpdateNetworkInterface, SendCtrlAltDel,
            Pause, Resume, CreateSnapshot, GetBalloonStats {
    }

    /** Allowed before and after the guest starts. */
    sealed interface AnyTime extends VmmAction permits GetInstanceInfo, GetVersion, GetMachineConfig, GetFullVmConfig,
            ConfigureLogger, ConfigureMetrics, FlushMetrics, GetBalloonConfig, UpdateBalloon, UpdateBalloonStatistics,
            GetMmds, PutMmds, PatchMmds {
    }

    record ConfigureBootSource(Model.BootSource bootSource) implements PreBoot {
    }

    record InsertBlockDevice(Model.Drive drive) implements PreBoot {
    }

    record InsertNetworkDevice(Model.NetworkInterface networkInterface) implements PreBoot {
    }

    /** PUT /machine-config: the whole configuration (vcpu_count and mem_size_mib required), over the defaults. */
    record SetMachineConfig(Model.MachineConfiguration machineConfig) implements PreBoot {
    }

    /** PATCH /machine-config: the given fields over the current configuration. */
    record UpdateMachineConfig(Model.MachineConfiguration machineConfig) implements PreBoot {
    }

    record SetVsockDevice(Model.Vsock vsock) implements PreBoot {
    }

    record SetEntropyDevice(Model.EntropyDevice entropy) implements PreBoot {
    }

    record SetBalloonDevice(Model.Balloon balloon) implements PreBoot {
    }

    record SetMmdsConfig(Model.MmdsConfig mmdsConfig) implements PreBoot {
    }

    /** InstanceStart. */
    record StartMicroVm() implements PreBoot {
    }

    record LoadSnapshot(Model.SnapshotLoadParams params) implements PreBoot {
    }

    record UpdateBlockDevice(Model.PartialDrive drive) implements PostBoot {
    }

    record UpdateNetworkInterface(Model.PartialNetworkInterface networkInterface) implements PostBoot {
    }

    record SendCtrlAltDel() implements PostBoot {
    }

    record Pause() implements PostBoot {
    }

    record Resume() implements PostBoot {
    }

    record CreateSnapshot(Model.SnapshotCreateParams params) implements PostBoot {
    }

    record GetBalloonStats() implements PostBoot {
    }

    record GetInstanceInfo() implements AnyTime {
    }

    record GetVersion() implements AnyTime {
    }

    record GetMachineConfig() implements AnyTime {
    }

    record GetFullVmConfig() implements AnyTime {
    }

    record ConfigureLogger(Model.Logger logger) implements AnyTime {
    }

    record ConfigureMetrics(Model.Metrics metrics) implements AnyTime {
    }

    record FlushMetrics() implements AnyTime {
    }

    record GetBalloonConfig() implements AnyTime {
    }

    record UpdateBalloon(Model.BalloonUpdate update) implements AnyTime {
    }

    record UpdateBalloonStatistics(Model.BalloonStatsUpdate update) implements AnyTime {
    }

    record GetMmds() implements AnyTime {
    }

    record PutMmds(JsonNode data) implements AnyTime {
    }

    record PatchMmds(JsonNode patch) implements AnyTime {
    }

    /** The request as a user wrote it ("PUT /drives/rootfs", "InstanceStart"): error messages name it. */
    default String endpoint() {
        return switch (this) {
            case ConfigureBootSource a -> "PUT /boot-source";
            case InsertBlockDevice a -> "PUT /drives/" + a.drive().driveId();
            case InsertNetworkDevice a -> "PUT /network-interfaces/" + a.networkInterface().ifaceId();
            case SetMachineConfig a -> "PUT /machine-config";
            case UpdateMachineConfig a -> "PATCH /machine-config";
            case SetVsockDevice a -> "PUT /vsock";
            case SetEntropyDevice a -> "PUT /entropy";
            case SetBalloonDevice a -> "PUT /balloon";
            case SetMmdsConfig a -> "PUT /mmds/config";
            case StartMicroVm a -> "InstanceStart";
            case LoadSnapshot a -> "PUT /snapshot/load";
            case UpdateBlockDevice a -> "PATCH /drives/" + a.drive().driveId();
            case UpdateNetworkInterface a -> "PATCH /network-interfaces/" + a.networkInterface().ifaceId();
            case SendCtrlAltDel a -> "SendCtrlAltDel";
            case Pause a -> "PATCH /vm";
            case Resume a -> "PATCH /vm";
            case CreateSnapshot a -> "PUT /snapshot/create";
            case GetBalloonStats a -> "GET /balloon/statistics";
            case GetInstanceInfo a -> "GET /";
            case GetVersion a -> "GET /version";
            case GetMachineConfig a -> "GET /machine-config";
            case GetFullVmConfig a -> "GET /vm/config";
            case ConfigureLogger a -> "PUT /logger";
            case ConfigureMetrics a -> "PUT /metrics";
            case FlushMetrics a -> "FlushMetrics";
            case GetBalloonConfig a -> "GET /balloon";
            case UpdateBalloon a -> "PATCH /balloon";
            case UpdateBalloonStatistics a -> "PATCH /balloon/statistics";
            case GetMmds a -> "GET /mmds";
            case PutMmds a -> "PUT /mmds";
            case PatchMmds a -> "PATCH /mmds";
        };
    }
}
