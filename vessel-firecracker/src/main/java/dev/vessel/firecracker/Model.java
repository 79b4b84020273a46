package dev.vessel.firecracker;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.List;
import java.util.Map;

/**
 * The request and response bodies of Firecracker's API (its OpenAPI description, firecracker.yaml,
 * "definitions"), as immutable records. JSON names are the components' names in snake_case
 * ({@link ApiJson}); a null component is a field that was absent. Shape is checked by Jackson
 * (unknown fields, types); what the schema requires and the value ranges are checked by each
 * record's {@code validate()}, which names the field in its message.
 */
public final class Model {
    private Model() {
    }

    /** Anything with checks beyond its JSON shape. */
    public interface Validated {
        void validate() throws ApiException;
    }

    static void require(Object value, String field) throws ApiException {
        if (value == null) throw ApiException.badRequest("missing required field `" + field + "`");
    }

    static void range(Long value, long min, long max, String field) throws ApiException {
        if (value != null && (value < min || value > max)) {
            throw ApiException.badRequest("field `" + field + "`: " + value + " is out of range [" + min + ", " + max + "]");
        }
    }

    static void oneOf(String value, String field, String... allowed) throws ApiException {
        if (value != null && !List.of(allowed).contains(value)) {
            throw ApiException.badRequest("field `" + field + "`: unknown variant `" + value + "`, expected one of "
                    + String.join(", ", allowed.length == 0 ? List.of() : List.of(allowed)));
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record InstanceInfo(String id, String state, String vmmVersion, String appName) {
    }

    public record FirecrackerVersion(String firecrackerVersion) {
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record BootSource(String kernelImagePath, String bootArgs, String initrdPath) implements Validated {
        @Override
        public void validate() throws ApiException {
            require(kernelImagePath, "kernel_image_path");
        }
    }

    /** size tokens per refill_time ms, plus a one-time burst. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record TokenBucket(Long size, Long oneTimeBurst, Long refillTime) implements Validated {
        @Override
        public void validate() throws ApiException {
            require(size, "size");
            require(refillTime, "refill_time");
            range(size, 0, Long.MAX_VALUE, "size");
            range(oneTimeBurst, 0, Long.MAX_VALUE, "one_time_burst");
            range(refillTime, 0, Long.MAX_VALUE, "refill_time");
        }

        /** A bucket of size 0 or refill time 0 limits nothing (as in Firecracker). */
        public boolean limits() {
            return size > 0 && refillTime > 0;
        }

        /** Tokens per second. */
        public long ratePerSecond() {
            return Math.max(1, size * 1000 / refillTime);
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record RateLimiter(TokenBucket bandwidth, TokenBucket ops) implements Validated {
        @Override
        public void validate() throws ApiException {
            if (bandwidth != null) prefixed("bandwidth", bandwidth);
            if (ops != null) prefixed("ops", ops);
        }

        public boolean limits() {
            return (bandwidth != null && bandwidth.limits()) || (ops != null && ops.limits());
        }
    }

    /** Runs {@code v.validate()}, prefixing the field name in its message with {@code prefix.}. */
    static void prefixed(String prefix, Validated v) throws ApiException {
        try {
            v.validate();
        } catch (ApiException e) {
            throw ApiException.badRequest(e.getMessage().replaceFirst("`", "`" + prefix + "."));
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Drive(String driveId, String partuuid, Boolean isRootDevice, String cacheType, Boolean isReadOnly,
                        String pathOnHost, RateLimiter rateLimiter, String ioEngine, String socket) implements Validated {
        @Override
        public void validate() throws ApiException {
            require(driveId, "drive_id");
            ParsedRequest.checkId(driveId, "field `drive_id`");
            require(isRootDevice, "is_root_device");
            oneOf(cacheType, "cache_type", "Unsafe", "Writeback");
            oneOf(ioEngine, "io_engine", "Sync", "Async");
            if (socket != null) {
                throw ApiException.badRequest("field `socket`: vhost-user-block drives are not supported by Vessel;"
                        + " give `path_on_host` (virtio-block)");
            }
            require(pathOnHost, "path_on_host");
            if (rateLimiter != null) prefixed("rate_limiter", rateLimiter);
        }

        public boolean readOnly() {
            return Boolean.TRUE.equals(isReadOnly);
        }

        public boolean root() {
            return Boolean.TRUE.equals(isRootDevice);
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record PartialDrive(String driveId, String pathOnHost, RateLimiter rateLimiter) implements Validated {
        @Override
        public void validate() throws ApiException {
            require(driveId, "drive_id");
            if (rateLimiter != null) prefixed("rate_limiter", rateLimiter);
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record NetworkInterface(String ifaceId, String guestMac, String hostDevName, Integer mtu,
                                   RateLimiter rxRateLimiter, RateLimiter txRateLimiter) implements Validated {
        @Override
        public void validate() throws ApiException {
            require(ifaceId, "iface_id");
            ParsedRequest.checkId(ifaceId, "field `iface_id`");
            require(hostDevName, "host_dev_name");
            if (guestMac != null && !guestMac.matches("(?i)[0-9a-f]{2}(:[0-9a-f]{2}){5}")) {
                throw ApiException.badRequest("field `guest_mac`: not a MAC address: " + guestMac);
            }
            if (hostDevName.isEmpty() || hostDevName.length() > 15 || hostDevName.contains(",")
                    || hostDevName.contains("/")) {
                throw ApiException.badRequest("field `host_dev_name`: not a tap device name: " + hostDevName);
            }
            range(mtu == null ? null : mtu.longValue(), 68, 65535, "mtu");
            netRateLimiters(rxRateLimiter, txRateLimiter);
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record PartialNetworkInterface(String ifaceId, RateLimiter rxRateLimiter, RateLimiter txRateLimiter)
            implements Validated {
        @Override
        public void validate() throws ApiException {
            require(ifaceId, "iface_id");
            netRateLimiters(rxRateLimiter, txRateLimiter);
        }
    }

    /** Well-formed, and limiting nothing: QEMU has no per-NIC throttle (an empty or zero-sized one is accepted). */
    static void netRateLimiters(RateLimiter rx, RateLimiter tx) throws ApiException {
        netRateLimiter(rx, "rx_rate_limiter");
        netRateLimiter(tx, "tx_rate_limiter");
    }

    private static void netRateLimiter(RateLimiter limiter, String field) throws ApiException {
        if (limiter == null) return;
        prefixed(field, limiter);
        if (limiter.limits()) {
            throw ApiException.badRequest("field `" + field + "`: network rate limiting is not supported by Vessel"
                    + " (QEMU has no per-NIC throttle; shape the tap with tc instead)");
        }
    }

    /** GET answers with every field filled; PUT requires vcpu_count and mem_size_mib; PATCH requires none. */
    public record MachineConfiguration(Integer vcpuCount, Integer memSizeMib, Boolean smt, String cpuTemplate,
                                       Boolean trackDirtyPages, String hugePages) implements Validated {
        public static final MachineConfiguration DEFAULT = new MachineConfiguration(1, 128, false, "None", false, "None");

        @Override
        public void validate() throws ApiException {
            range(vcpuCount == null ? null : vcpuCount.longValue(), 1, 32, "vcpu_count");
            range(memSizeMib == null ? null : memSizeMib.longValue(), 64, 1L << 20, "mem_size_mib");
            oneOf(cpuTemplate, "cpu_template", "None");
            oneOf(hugePages, "huge_pages", "None");
        }

        /** This one's fields over {@code base}'s (PATCH). */
        public MachineConfiguration over(MachineConfiguration base) {
            return new MachineConfiguration(
                    vcpuCount != null ? vcpuCount : base.vcpuCount, memSizeMib != null ? memSizeMib : base.memSizeMib,
                    smt != null ? smt : base.smt, cpuTemplate != null ? cpuTemplate : base.cpuTemplate,
                    trackDirtyPages != null ? trackDirtyPages : base.trackDirtyPages,
                    hugePages != null ? hugePages : base.hugePages);
        }

        /** The whole configuration after a checked update: SMT needs 1 or an even number of vCPUs. */
        public void validateWhole() throws ApiException {
            if (Boolean.TRUE.equals(smt) && vcpuCount > 1 && vcpuCount % 2 != 0) {
                throw ApiException.badRequest("field `vcpu_count`: with `smt` enabled it must be 1 or an even number,"
                        + " not " + vcpuCount);
            }
        }
    }

    public record InstanceActionInfo(String actionType) implements Validated {
        @Override
        public void validate() throws ApiException {
            require(actionType, "action_type");
            oneOf(actionType, "action_type", "FlushMetrics", "InstanceStart", "SendCtrlAltDel");
        }
    }

    public record Vm(String state) implements Validated {
        @Override
        public void validate() throws ApiException {
            require(state, "state");
            oneOf(state, "state", "Paused", "Resumed");
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Logger(String logPath, String level, Boolean showLevel, Boolean showLogOrigin, String module)
            implements Validated {
        @Override
        public void validate() throws ApiException {
            if (level != null && !List.of("error", "warning", "warn", "info", "debug", "trace", "off")
                    .contains(level.toLowerCase(java.util.Locale.ROOT))) {
                throw ApiException.badRequest("field `level`: unknown level `" + level
                        + "`, expected one of Error, Warning, Info, Debug, Trace, Off");
            }
        }
    }

    public record Metrics(String metricsPath) implements Validated {
        @Override
        public void validate() throws ApiException {
            require(metricsPath, "metrics_path");
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Vsock(Long guestCid, String udsPath, String vsockId) implements Validated {
        @Override
        public void validate() throws ApiException {
            require(guestCid, "guest_cid");
            require(udsPath, "uds_path");
            range(guestCid, 3, 0xFFFFFFFFL, "guest_cid");
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record EntropyDevice(RateLimiter rateLimiter) implements Validated {
        @Override
        public void validate() throws ApiException {
            if (rateLimiter != null) prefixed("rate_limiter", rateLimiter);
            if (rateLimiter != null && rateLimiter.ops() != null && rateLimiter.ops().limits()) {
                throw ApiException.badRequest("field `rate_limiter.ops`: not supported by Vessel (virtio-rng limits bytes"
                        + " per period only; use `rate_limiter.bandwidth`)");
            }
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Balloon(Long amountMib, Boolean deflateOnOom, Long statsPollingIntervalS, Boolean freePageHinting,
                          Boolean freePageReporting) implements Validated {
        @Override
        public void validate() throws ApiException {
            require(amountMib, "amount_mib");
            require(deflateOnOom, "deflate_on_oom");
            range(amountMib, 0, 1L << 20, "amount_mib");
            range(statsPollingIntervalS, 0, 1L << 31, "stats_polling_interval_s");
            if (Boolean.TRUE.equals(freePageHinting)) {
                throw ApiException.badRequest("field `free_page_hinting`: not supported by Vessel (QEMU 7.2's"
                        + " virtio-balloon-device hints only during migration)");
            }
        }
    }

    public record BalloonUpdate(Long amountMib) implements Validated {
        @Override
        public void validate() throws ApiException {
            require(amountMib, "amount_mib");
            range(amountMib, 0, 1L << 20, "amount_mib");
        }
    }

    public record BalloonStatsUpdate(Long statsPollingIntervalS) implements Validated {
        @Override
        public void validate() throws ApiException {
            require(statsPollingIntervalS, "stats_polling_interval_s");
            range(statsPollingIntervalS, 0, 1L << 31, "stats_polling_interval_s");
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record SnapshotCreateParams(String snapshotPath, String memFilePath, String snapshotType, String version)
            implements Validated {
        @Override
        public void validate() throws ApiException {
            require(snapshotPath, "snapshot_path");
            require(memFilePath, "mem_file_path");
            oneOf(snapshotType, "snapshot_type", "Full");
        }
    }

    public record MemoryBackend(String backendType, String backendPath) implements Validated {
        @Override
        public void validate() throws ApiException {
            require(backendType, "backend_type");
            require(backendPath, "backend_path");
            oneOf(backendType, "mem_backend.backend_type", "File");
        }
    }

    public record NetworkOverride(String ifaceId, String hostDevName) {
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record SnapshotLoadParams(String snapshotPath, String memFilePath, MemoryBackend memBackend,
                                     Boolean enableDiffSnapshots, Boolean trackDirtyPages, Boolean resumeVm,
                                     List<NetworkOverride> networkOverrides, Boolean clockRealtime)
            implements Validated {
        @Override
        public void validate() throws ApiException {
            require(snapshotPath, "snapshot_path");
            if ((memFilePath == null) == (memBackend == null)) {
                throw ApiException.badRequest("exactly one of `mem_file_path` and `mem_backend` must be given");
            }
            if (memBackend != null) memBackend.validate();
        }

        public String memoryFile() {
            return memFilePath != null ? memFilePath : memBackend.backendPath();
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record MmdsConfig(String version, List<String> networkInterfaces, String ipv4Address, Boolean imdsCompat)
            implements Validated {
        @Override
        public void validate() throws ApiException {
            require(networkInterfaces, "network_interfaces");
            oneOf(version, "version", "V1", "V2");
            if (ipv4Address != null && !ipv4Address.matches(
                    "169\\.254\\.([1-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-4])\\.([0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])")) {
                throw ApiException.badRequest("field `ipv4_address`: " + ipv4Address + " is not a link-local address");
            }
        }
    }

    /** GET /vm/config, and the layout of {@code --config-file}. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record FullVmConfiguration(
            Balloon balloon,
            List<Drive> drives,
            @JsonProperty("boot-source") BootSource bootSource,
            Logger logger,
            @JsonProperty("machine-config") MachineConfiguration machineConfig,
            Metrics metrics,
            @JsonProperty("mmds-config") MmdsConfig mmdsConfig,
            @JsonProperty("network-interfaces") List<NetworkInterface> networkInterfaces,
            Vsock vsock,
            EntropyDevice entropy,
            @JsonProperty("cpu-config") Map<String, Object> cpuConfig) {
    }
}
