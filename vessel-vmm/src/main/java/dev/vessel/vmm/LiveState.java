package dev.vessel.vmm;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A running full VM's state over QMP (issue 14, item 5), as QEMU 7.2 does it without libvirt:
 * <ul>
 * <li>snapshots: the {@code snapshot-save} / {@code snapshot-load} / {@code snapshot-delete} jobs
 *     (internal qcow2 snapshots of the named block nodes, the memory in {@code vmstate}'s node),
 *     each waited for until it concludes, its error (if any) read from {@code query-jobs}, then
 *     dismissed;</li>
 * <li>live migration to another QEMU started with the same devices and {@code -incoming defer}
 *     ({@link #acceptIncoming}: {@code migrate-incoming}), with KubeVirt's MigrationConfiguration
 *     defaults: no post-copy, {@code progressTimeout} 150 s (no progress in memory remaining for
 *     that long: cancelled) and {@code completionTimeoutPerGiB} 150 s (times the guest's memory).
 *     The source ends paused in {@code postmigrate}; the caller quits it.</li>
 * </ul>
 * Disks are shared (same host): the target opens the same files, inactive until the switch-over.
 */
public final class LiveState {
    /** KubeVirt's defaults (MigrationConfiguration). */
    public static final Duration PROGRESS_TIMEOUT = Duration.ofSeconds(150);
    public static final Duration COMPLETION_TIMEOUT_PER_GIB = Duration.ofSeconds(150);

    private LiveState() {
    }

    /** {@code snapshot-save}: the disks {@code devices} and the memory (into {@code vmstate}) as {@code tag}; the VM runs on. */
    public static void save(Qmp qmp, String tag, String vmstate, List<String> devices, Duration timeout) throws VmmException {
        runJob(qmp, "snapshot-save", "save-" + tag, Map.of("tag", tag, "vmstate", vmstate, "devices", devices), timeout);
    }

    /** {@code snapshot-load}: disks and memory back to {@code tag}; the VM is stopped for it, then resumed if it ran. */
    public static void load(Qmp qmp, String tag, String vmstate, List<String> devices, Duration timeout) throws VmmException {
        boolean wasRunning = qmp.status().equals("running");
        runJob(qmp, "snapshot-load", "load-" + tag, Map.of("tag", tag, "vmstate", vmstate, "devices", devices), timeout);
        if (wasRunning && !qmp.status().equals("running")) qmp.execute("cont");
    }

    /** {@code snapshot-delete}: {@code tag} removed from {@code devices}. */
    public static void delete(Qmp qmp, String tag, List<String> devices, Duration timeout) throws VmmException {
        runJob(qmp, "snapshot-delete", "delete-" + tag, Map.of("tag", tag, "devices", devices), timeout);
    }

    /** The internal snapshots of block node {@code node} ({@code query-named-block-nodes}'s image info). */
    public static List<String> snapshots(Qmp qmp, String node) throws VmmException {
        List<String> tags = new ArrayList<>();
        for (JsonNode n : qmp.execute("query-named-block-nodes")) {
            if (!node.equals(n.path("node-name").asText())) continue;
            for (JsonNode s : n.path("image").path("snapshots")) tags.add(s.path("name").asText());
        }
        return tags;
    }

    private static void runJob(Qmp qmp, String command, String jobId, Map<String, ?> args, Duration timeout)
            throws VmmException {
        Map<String, Object> all = new LinkedHashMap<>(args);
        all.put("job-id", jobId);
        qmp.execute(command, all);
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            for (JsonNode job : qmp.execute("query-jobs")) {
                if (!jobId.equals(job.path("id").asText())) continue;
                String status = job.path("status").asText();
                if (status.equals("concluded") || status.equals("null")) {
                    String error = job.path("error").asText(null);
                    qmp.execute("job-dismiss", Map.of("id", jobId));
                    if (error != null) throw new VmmException(command + " " + args.get("tag") + ": " + error);
                    return;
                }
            }
            if (System.nanoTime() > deadline) {
                throw new VmmException(command + " " + args.get("tag") + " did not finish within " + timeout.toSeconds() + " s");
            }
            sleep(100);
        }
    }

    /** On the target (started with {@code -incoming defer}): listen on {@code uri} (e.g. {@code unix:/run/x/migrate.sock}). */
    public static void acceptIncoming(Qmp target, String uri) throws VmmException {
        target.execute("migrate-set-capabilities", Map.of("capabilities", capabilities()));
        target.execute("migrate-incoming", Map.of("uri", uri));
    }

    /** What a migration did: how long, how much memory went over, and the pause at the switch-over. */
    public record Result(Duration took, long transferredBytes, long downtimeMs) {}

    /**
     * Migrates the source's VM to {@code uri} and waits until it has completed (the source then
     * stands in {@code postmigrate}), or cancels it when KubeVirt's timeouts say so.
     */
    public static Result migrate(Qmp source, String uri, long guestMemoryBytes) throws VmmException {
        return migrate(source, uri, PROGRESS_TIMEOUT,
                Duration.ofMillis(Math.max(1, (long) Math.ceil(guestMemoryBytes / (double) (1L << 30)))
                        * COMPLETION_TIMEOUT_PER_GIB.toMillis()));
    }

    static Result migrate(Qmp source, String uri, Duration progressTimeout, Duration completionTimeout) throws VmmException {
        source.execute("migrate-set-capabilities", Map.of("capabilities", capabilities()));
        long started = System.nanoTime();
        source.execute("migrate", Map.of("uri", uri));
        long lastProgress = started;
        long leastRemaining = Long.MAX_VALUE;
        while (true) {
            JsonNode info = source.execute("query-migrate");
            String status = info.path("status").asText();
            switch (status) {
                case "completed" -> {
                    return new Result(Duration.ofNanos(System.nanoTime() - started),
                            info.path("ram").path("transferred").asLong(), info.path("downtime").asLong());
                }
                case "failed", "cancelled" -> throw new VmmException("migration to " + uri + " " + status
                        + (info.has("error-desc") ? ": " + info.get("error-desc").asText() : ""));
                default -> {
                    long now = System.nanoTime();
                    long remaining = info.path("ram").path("remaining").asLong(Long.MAX_VALUE);
                    if (remaining < leastRemaining) {
                        leastRemaining = remaining;
                        lastProgress = now;
                    }
                    String why = null;
                    if (now - lastProgress > progressTimeout.toNanos()) why = "made no progress for " + progressTimeout.toSeconds() + " s";
                    else if (now - started > completionTimeout.toNanos()) why = "did not complete within " + completionTimeout.toSeconds() + " s";
                    if (why != null) {
                        source.execute("migrate_cancel");
                        throw new VmmException("migration to " + uri + " " + why + " (cancelled; the VM runs on here)");
                    }
                }
            }
            sleep(200);
        }
    }

    /** KubeVirt's: post-copy off (allowPostCopy false); events for the caller's log. */
    private static List<Map<String, Object>> capabilities() {
        return List.of(Map.of("capability", "postcopy-ram", "state", false), Map.of("capability", "events", "state", true));
    }

    private static void sleep(long ms) throws VmmException {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmException("interrupted", e);
        }
    }
}
