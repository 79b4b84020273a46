package dev.vessel.firecracker;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.TreeMap;

/**
 * Firecracker's metrics: once PUT /metrics has named a file or FIFO, one JSON object a line is
 * written there on FlushMetrics, every 60 s, and when the guest ends. Each line carries
 * {@code utc_timestamp_ms}, the API request counters by method and resource
 * ({@code get_api_requests}, {@code put_api_requests}, {@code patch_api_requests}, Firecracker's
 * groups: {@code <resource>_count} and {@code <resource>_fails}), and the VM's state and QEMU pid
 * under {@code vmm}. Counters are reset after each flush, as Firecracker's are.
 */
public final class FcMetrics {
    private OutputStream out;
    private final Map<String, Map<String, Long>> counters = new TreeMap<>();

    public synchronized void configure(Path path) throws ApiException {
        if (out != null) throw ApiException.badRequest("Reinitialization of metrics not allowed.");
        try {
            out = Files.newOutputStream(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw ApiException.badRequest("field `metrics_path`: cannot open " + path + ": " + e.getMessage());
        }
    }

    public synchronized boolean configured() {
        return out != null;
    }

    /** Counts one API request: method "get"/"put"/"patch", resource e.g. "drive", failed or not. */
    public synchronized void request(String method, String resource, boolean failed) {
        Map<String, Long> group = counters.computeIfAbsent(method + "_api_requests", k -> new TreeMap<>());
        group.merge(resource + "_count", 1L, Long::sum);
        if (failed) group.merge(resource + "_fails", 1L, Long::sum);
    }

    public synchronized void flush(Vmm vmm) throws IOException {
        if (out == null) return;
        ObjectNode line = ApiJson.MAPPER.createObjectNode();
        line.put("utc_timestamp_ms", System.currentTimeMillis());
        for (String group : new String[]{"get_api_requests", "put_api_requests", "patch_api_requests"}) {
            ObjectNode g = line.putObject(group);
            counters.getOrDefault(group, Map.of()).forEach(g::put);
        }
        vmm.describe(line.putObject("vmm"));
        counters.clear();
        out.write((ApiJson.MAPPER.writeValueAsString(line) + "\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** Closes the metrics file (the VM is gone). */
    public synchronized void close() {
        if (out == null) return;
        try {
            out.close();
        } catch (IOException ignored) {
            // nothing more to write
        }
    }

    public void flushQuietly(Vmm vmm) {
        try {
            flush(vmm);
        } catch (IOException ignored) {
            // a reader that went away
        }
    }
}
