package dev.vessel.firecracker;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vessel.vmm.VmmException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * After the guest has started: drives the running QEMU through QMP (pause, resume, drive
 * updates, Ctrl+Alt+Del, the balloon, snapshots). {@link VmmAction.PreBoot} actions are refused
 * by their type.
 */
final class RuntimeApiController implements ApiController {
    private final Vmm vmm;
    private final Machine machine;
    /** True when others may pause or resume the VM too (a managed VM): the state is then QEMU's. */
    private final boolean stateFromQemu;
    private Vmm.State state;
    /** A drive's current file node, once a PATCH has replaced the one it booted with. */
    private final Map<String, String> fileNodes = new HashMap<>();

    RuntimeApiController(Vmm vmm, Machine machine, Vmm.State state, boolean stateFromQemu) {
        this.vmm = vmm;
        this.machine = machine;
        this.state = state;
        this.stateFromQemu = stateFromQemu;
    }

    Machine machine() {
        return machine;
    }

    @Override
    public Vmm.State state() {
        if (stateFromQemu) {
            try {
                String status = machine.qmp("query-status", null).path("status").asText();
                state = status.equals("running") ? Vmm.State.RUNNING : Vmm.State.PAUSED;
            } catch (VmmException | RuntimeException e) {
                // QEMU is busy or going away: the last state known stands
            }
        }
        return state;
    }

    @Override
    public long qemuPid() {
        return machine.pid();
    }

    @Override
    public Object handle(VmmAction action) throws ApiException {
        return switch (action) {
            case VmmAction.PreBoot a -> throw ApiException.badRequest(
                    "The requested operation is not supported after starting the microVM: " + a.endpoint() + " is pre-boot only.");
            case VmmAction.PostBoot a -> runtime(a);
            case VmmAction.AnyTime a -> anyTime(a);
        };
    }

    private Object runtime(VmmAction.PostBoot action) throws ApiException {
        switch (action) {
            case VmmAction.Pause a -> {
                qmp("stop", null);
                state = Vmm.State.PAUSED;
            }
            case VmmAction.Resume a -> {
                qmp("cont", null);
                state = Vmm.State.RUNNING;
            }
            case VmmAction.SendCtrlAltDel a -> sendCtrlAltDel();
            case VmmAction.UpdateBlockDevice a -> updateDrive(a.drive());
            case VmmAction.UpdateNetworkInterface a -> {
                // the body's rate limiters limit nothing (ParsedRequest refuses ones that would): nothing to change
                String id = a.networkInterface().ifaceId();
                if (vmm.config.networkInterface(id) == null) {
                    throw ApiException.badRequest("field `iface_id`: no network interface with id `" + id + "`");
                }
            }
            case VmmAction.CreateSnapshot a -> createSnapshot(a.params());
            case VmmAction.GetBalloonStats a -> {
                return balloonStats();
            }
        }
        return null;
    }

    private Object anyTime(VmmAction.AnyTime action) throws ApiException {
        VmConfig config = vmm.config;
        switch (action) {
            case VmmAction.UpdateBalloon a -> {
                Model.Balloon b = vmm.updatedBalloon(a.update());
                applyBalloon(b.amountMib());
                config.balloon(b);
            }
            case VmmAction.UpdateBalloonStatistics a -> {
                Model.Balloon before = vmm.balloon();
                long was = before.statsPollingIntervalS() == null ? 0 : before.statsPollingIntervalS();
                if ((was == 0) != (a.update().statsPollingIntervalS() == 0)) {
                    throw ApiException.badRequest("field `stats_polling_interval_s`: statistics cannot be turned on or off after boot");
                }
                Model.Balloon b = vmm.updatedBalloonStats(a.update());
                statsInterval(a.update().statsPollingIntervalS());
                config.balloon(b);
            }
            default -> {
                return vmm.anyTime(action, state());
            }
        }
        return null;
    }

    /** The balloon given at boot: inflated once QEMU runs (a failure is logged: the guest runs anyway). */
    void inflateBootBalloon(Model.Balloon b) {
        try {
            applyBalloon(b.amountMib());
            if (b.statsPollingIntervalS() != null && b.statsPollingIntervalS() > 0) statsInterval(b.statsPollingIntervalS());
        } catch (ApiException e) {
            vmm.log().warn("balloon: " + e.getMessage());
        }
    }

    /**
     * Ctrl+Alt+Del on the guest's i8042 keyboard (the controller QemuMapping adds), as Firecracker
     * does: the guest kernel hands it to init (SIGINT), which reboots, and -no-reboot ends QEMU.
     */
    private void sendCtrlAltDel() throws ApiException {
        qmp("send-key", Map.of("keys", List.of(
                Map.of("type", "qcode", "data", "ctrl"), Map.of("type", "qcode", "data", "alt"),
                Map.of("type", "qcode", "data", "delete"))));
    }

    /**
     * A new backing file for a running drive: a new file node, then the drive's raw node re-opened
     * onto it (blockdev-reopen: virtio-blk has no medium to change), then the old node deleted, then
     * block_resize to the new file's size so the guest is told the capacity (as Firecracker does).
     */
    private void updateDrive(Model.PartialDrive p) throws ApiException {
        VmConfig config = vmm.config;
        String id = p.driveId();
        Model.Drive d = config.drive(id);
        if (d == null) throw ApiException.badRequest("field `drive_id`: no drive with id `" + id + "`");
        String node = QemuMapping.nodeName(config.guestDriveOrder().indexOf(d));
        if (p.rateLimiter() != null) {
            if (d.rateLimiter() == null || !d.rateLimiter().limits()) {
                throw ApiException.badRequest("field `rate_limiter`: Vessel changes a drive's rate limiter after boot"
                        + " only when it had one at boot");
            }
            Map<String, Object> limits = new LinkedHashMap<>();
            for (String t : QemuMapping.throttle(p.rateLimiter())) {
                String[] kv = t.split("=", 2);
                limits.put(kv[0].substring(2), Long.parseLong(kv[1]));
            }
            qmp("qom-set", Map.of("path", "/objects/tg-" + node, "property", "limits", "value", limits));
        }
        if (p.pathOnHost() != null) {
            vmm.readable(p.pathOnHost(), "path_on_host");
            String oldFile = fileNodes.getOrDefault(node, "file-" + node);
            String newFile = "file-" + node + "-" + System.nanoTime() % 100000;
            Map<String, Object> add = new LinkedHashMap<>(Map.of("driver", "file", "node-name", newFile,
                    "filename", p.pathOnHost()));
            if (d.readOnly()) add.put("read-only", true);
            qmp("blockdev-add", add);
            Map<String, Object> reopen = new LinkedHashMap<>(Map.of("driver", "raw", "node-name", node, "file", newFile));
            if (d.readOnly()) reopen.put("read-only", true);
            try {
                qmp("blockdev-reopen", Map.of("options", List.of(reopen)));
            } catch (ApiException e) {
                try {
                    qmp("blockdev-del", Map.of("node-name", newFile));
                } catch (ApiException ignored) {
                    // the first error is the one to report
                }
                throw e;
            }
            qmp("blockdev-del", Map.of("node-name", oldFile));
            fileNodes.put(node, newFile);
            try {
                qmp("block_resize", Map.of("node-name", node, "size", Files.size(vmm.path(p.pathOnHost()))));
            } catch (IOException | ApiException e) {
                vmm.log().warn("drive " + id + ": the guest may not see the new size: " + e.getMessage());
            }
            config.putDrive(new Model.Drive(d.driveId(), d.partuuid(), d.isRootDevice(), d.cacheType(),
                    d.isReadOnly(), p.pathOnHost(), p.rateLimiter() != null ? p.rateLimiter() : d.rateLimiter(),
                    d.ioEngine(), d.socket()));
        }
    }

    /** GET /balloon/statistics: QEMU's guest-stats, in Firecracker's names. */
    private Map<String, Object> balloonStats() throws ApiException {
        Model.Balloon b = vmm.balloon();
        if (b.statsPollingIntervalS() == null || b.statsPollingIntervalS() == 0) {
            throw ApiException.badRequest("Statistics for the balloon device are not enabled (stats_polling_interval_s is 0).");
        }
        long actualBytes = vmm.config.machine().memSizeMib() * 1048576L - qmp("query-balloon", null).path("actual").asLong();
        long targetMib = b.amountMib();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("target_pages", targetMib * 256);
        out.put("actual_pages", actualBytes / 4096);
        out.put("target_mib", targetMib);
        out.put("actual_mib", actualBytes / 1048576);
        JsonNode stats = qmp("qom-get", Map.of("path", "/machine/peripheral/" + QemuMapping.BALLOON_ID,
                "property", "guest-stats")).path("stats");
        String[][] names = {{"stat-swap-in", "swap_in"}, {"stat-swap-out", "swap_out"},
                {"stat-major-faults", "major_faults"}, {"stat-minor-faults", "minor_faults"},
                {"stat-free-memory", "free_memory"}, {"stat-total-memory", "total_memory"},
                {"stat-available-memory", "available_memory"}, {"stat-disk-caches", "disk_caches"},
                {"stat-htlb-pgalloc", "hugetlb_allocations"}, {"stat-htlb-pgfail", "hugetlb_failures"}};
        for (String[] n : names) {
            long v = stats.path(n[0]).asLong(-1);
            if (v >= 0) out.put(n[1], v);
        }
        return out;
    }

    private void applyBalloon(long amountMib) throws ApiException {
        long value = (vmm.config.machine().memSizeMib() - amountMib) * 1048576L;
        qmp("balloon", Map.of("value", Math.max(value, 1048576L)));
    }

    private void statsInterval(long seconds) throws ApiException {
        qmp("qom-set", Map.of("path", "/machine/peripheral/" + QemuMapping.BALLOON_ID,
                "property", "guest-stats-polling-interval", "value", seconds));
    }

    /**
     * PUT /snapshot/create (paused VM): the guest's memory and device state go to mem_file_path
     * as a QEMU migration stream, and the VM's configuration to snapshot_path as JSON.
     */
    private void createSnapshot(Model.SnapshotCreateParams s) throws ApiException {
        if (state() != Vmm.State.PAUSED) {
            throw ApiException.badRequest("Snapshot creation needs a paused microVM (PATCH /vm {\"state\":\"Paused\"}).");
        }
        Path mem = vmm.path(s.memFilePath());
        Path stateFile = vmm.path(s.snapshotPath());
        writableParent(mem, "mem_file_path");
        writableParent(stateFile, "snapshot_path");
        qmp("migrate-set-capabilities", Map.of("capabilities", List.of(Map.of("capability", "events", "state", false))));
        try {
            qmp("migrate", Map.of("uri", "exec:cat > " + Vmm.shellQuote(mem.toString())));
        } catch (ApiException e) {
            // e.g. QEMU refuses to migrate while a container's 9p root filesystem is mounted
            throw new ApiException(400, "Cannot create the snapshot: " + e.getMessage());
        }
        long deadline = System.nanoTime() + 600_000_000_000L;
        while (true) {
            JsonNode m = qmp("query-migrate", null);
            String status = m.path("status").asText();
            if (status.equals("completed")) break;
            if (status.equals("failed") || status.equals("cancelled")) {
                throw new ApiException(400, "Cannot create the snapshot: " + m.path("error-desc").asText(status));
            }
            if (System.nanoTime() > deadline) throw new ApiException(400, "Cannot create the snapshot: timed out");
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ApiException(500, "interrupted");
            }
        }
        Snapshot.write(stateFile, vmm.config, vmm.mmds());
        vmm.log().info("Snapshot created: " + stateFile + ", memory " + mem);
    }

    private static void writableParent(Path p, String field) throws ApiException {
        Path parent = p.getParent();
        if (parent == null || !Files.isDirectory(parent) || !Files.isWritable(parent)) {
            throw ApiException.badRequest("field `" + field + "`: cannot write " + p + " (its directory does not exist or is not writable)");
        }
        if (Files.isDirectory(p)) throw ApiException.badRequest("field `" + field + "`: " + p + " is a directory");
    }

    private JsonNode qmp(String command, Map<String, ?> args) throws ApiException {
        try {
            return machine.qmp(command, args);
        } catch (VmmException e) {
            throw new ApiException(400, e.getMessage());
        }
    }
}
