package dev.vessel.shim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * A task's Stats answer: the data of {@code vessel events --stats} (runc's JSON stats event, which
 * for a microVM holds the guest's numbers through its agent) as containerd's
 * {@code io.containerd.cgroups.v1.Metrics} (github.com/containerd/cgroups/stats/v1/metrics.proto),
 * what the runc shim answers on a cgroup v1 host and what {@code ctr task metrics} and the CRI
 * plugin's ContainerStats decode. The CRI plugin's working set is memory usage less
 * total_inactive_file; a microVM's usage is already the guest's MemTotal − MemAvailable and its
 * event carries no inactive_file, so the working set is the guest's.
 */
final class Metrics {
    private Metrics() {
    }

    static final String TYPE_URL = "io.containerd.cgroups.v1.Metrics";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The Metrics message for one {@code events --stats} line (the whole event, or its data). */
    static Protobuf.Writer fromStatsEvent(String json) throws IOException {
        JsonNode event = JSON.readTree(json);
        if (event == null || !event.isObject()) throw new IOException("events --stats printed no JSON object");
        JsonNode data = event.has("data") ? event.get("data") : event;
        return fromStats(data);
    }

    /** The OOM kills an {@code events --stats} line counts (raw.oom_kill: the guest's, or the cgroup's). */
    static long oomKills(String json) throws IOException {
        JsonNode event = JSON.readTree(json);
        JsonNode data = event != null && event.has("data") ? event.get("data") : event;
        return data == null ? 0 : data.path("memory").path("raw").path("oom_kill").asLong();
    }

    static Protobuf.Writer fromStats(JsonNode data) {
        Protobuf.Writer metrics = new Protobuf.Writer();

        JsonNode pids = data.path("pids");
        metrics.message(2, new Protobuf.Writer().uint(1, pids.path("current").asLong()).uint(2, pids.path("limit").asLong()));

        JsonNode cpu = data.path("cpu");
        JsonNode usage = cpu.path("usage");
        List<Long> perCpu = new ArrayList<>();
        usage.path("percpu").forEach(n -> perCpu.add(n.asLong()));
        JsonNode throttling = cpu.path("throttling");
        metrics.message(3, new Protobuf.Writer()
                .message(1, new Protobuf.Writer().uint(1, usage.path("total").asLong()).uint(2, usage.path("kernel").asLong())
                        .uint(3, usage.path("user").asLong()).packed(4, perCpu))
                .message(2, new Protobuf.Writer().uint(1, throttling.path("periods").asLong())
                        .uint(2, throttling.path("throttled_periods").asLong()).uint(3, throttling.path("throttled_time").asLong())));

        JsonNode memory = data.path("memory");
        JsonNode raw = memory.path("raw");
        long cache = memory.path("cache").asLong(raw.path("total_cache").asLong(raw.path("cache").asLong()));
        Protobuf.Writer mem = new Protobuf.Writer()
                .uint(1, cache)
                .uint(2, raw.path("rss").asLong())
                .uint(4, raw.path("mapped_file").asLong())
                .uint(11, raw.path("inactive_anon").asLong())
                .uint(12, raw.path("active_anon").asLong())
                .uint(13, raw.path("inactive_file").asLong())
                .uint(14, raw.path("active_file").asLong())
                .uint(16, raw.path("hierarchical_memory_limit").asLong())
                .uint(18, raw.path("total_cache").asLong(cache))
                .uint(19, raw.path("total_rss").asLong(raw.path("rss").asLong()))
                .uint(21, raw.path("total_mapped_file").asLong(raw.path("mapped_file").asLong()))
                .uint(28, raw.path("total_inactive_anon").asLong(raw.path("inactive_anon").asLong()))
                .uint(29, raw.path("total_active_anon").asLong(raw.path("active_anon").asLong()))
                .uint(30, raw.path("total_inactive_file").asLong(raw.path("inactive_file").asLong()))
                .uint(31, raw.path("total_active_file").asLong(raw.path("active_file").asLong()))
                .message(33, entry(memory.path("usage")))
                .message(34, entry(memory.has("swap_usage") ? memory.path("swap_usage") : memory.path("swap")))
                .message(35, entry(memory.path("kernel_usage")));
        metrics.message(4, mem);

        Protobuf.Writer blkio = new Protobuf.Writer();
        blkEntries(blkio, 1, data.path("blkio").path("ioServiceBytesRecursive"));
        blkEntries(blkio, 2, data.path("blkio").path("ioServicedRecursive"));
        metrics.message(5, blkio);

        data.path("network_interfaces").forEach(nic -> metrics.message(7, new Protobuf.Writer()
                .string(1, nic.path("name").asText())
                .uint(2, nic.path("rx_bytes").asLong()).uint(3, nic.path("rx_packets").asLong())
                .uint(4, nic.path("rx_errors").asLong()).uint(5, nic.path("rx_dropped").asLong())
                .uint(6, nic.path("tx_bytes").asLong()).uint(7, nic.path("tx_packets").asLong())
                .uint(8, nic.path("tx_errors").asLong()).uint(9, nic.path("tx_dropped").asLong())));

        long oomKills = raw.path("oom_kill").asLong();
        if (oomKills > 0) metrics.message(9, new Protobuf.Writer().uint(3, oomKills));
        return metrics;
    }

    /** A MemoryEntry (limit 1, usage 2, max 3, failcnt 4); cgroup v1's "no limit" stays the huge number runc reports. */
    private static Protobuf.Writer entry(JsonNode e) {
        return new Protobuf.Writer().uint(1, e.path("limit").asLong()).uint(2, e.path("usage").asLong())
                .uint(3, e.path("max").asLong()).uint(4, e.path("failcnt").asLong());
    }

    private static void blkEntries(Protobuf.Writer blkio, int field, JsonNode entries) {
        entries.forEach(e -> blkio.message(field, new Protobuf.Writer().string(1, e.path("op").asText())
                .uint(3, e.path("major").asLong()).uint(4, e.path("minor").asLong()).uint(5, e.path("value").asLong())));
    }
}
