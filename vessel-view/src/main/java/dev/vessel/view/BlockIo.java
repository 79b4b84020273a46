package dev.vessel.view;

import dev.vessel.linux.Cgroup;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Block I/O the container did on one device (major:minor), in bytes and operations. */
public record BlockIo(int major, int minor, long readBytes, long writeBytes, long readOps, long writeOps,
        long discardBytes, long discardOps) {

    /** One entry per device the cgroup did I/O on; empty when the controller's files cannot be read. */
    public static Optional<List<BlockIo>> read(Cgroup cgroup) {
        return cgroup.isUnified() ? readV2(cgroup) : readV1(cgroup);
    }

    /** v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6". */
    static Optional<List<BlockIo>> readV2(Cgroup cgroup) {
        Optional<String> text = cgroup.read("io", "io.stat");
        if (text.isEmpty()) {
            return Optional.empty();
        }
        List<BlockIo> devices = new ArrayList<>();
        text.get().lines().forEach(line -> {
            String[] fields = line.strip().split("\\s+");
            int[] device = device(fields[0]);
            if (device == null) {
                return;
            }
            Map<String, Long> values = new LinkedHashMap<>();
            for (int i = 1; i < fields.length; i++) {
                String[] kv = fields[i].split("=", 2);
                if (kv.length == 2) {
                    Cgroup.parseLong(kv[1]).filter(v -> v >= 0).ifPresent(v -> values.put(kv[0], v));
                }
            }
            devices.add(new BlockIo(device[0], device[1], values.getOrDefault("rbytes", 0L),
                    values.getOrDefault("wbytes", 0L), values.getOrDefault("rios", 0L),
                    values.getOrDefault("wios", 0L), values.getOrDefault("dbytes", 0L),
                    values.getOrDefault("dios", 0L)));
        });
        return Optional.of(List.copyOf(devices));
    }

    // v1 keeps these counters in different files depending on the I/O scheduler: the CFQ/BFQ files
    // when one is in use, the throttle files (always present, and recursive on newer kernels) otherwise.
    private static final String[] V1_BYTES = {"blkio.io_service_bytes_recursive",
            "blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_service_bytes", "blkio.io_service_bytes"};
    private static final String[] V1_OPS = {"blkio.io_serviced_recursive",
            "blkio.throttle.io_serviced_recursive", "blkio.throttle.io_serviced", "blkio.io_serviced"};

    /** v1 blkio: "8:0 Read 4096" lines, one file for bytes and one for operations. */
    static Optional<List<BlockIo>> readV1(Cgroup cgroup) {
        if (cgroup.read("blkio", V1_OPS[2]).isEmpty() && cgroup.read("blkio", V1_OPS[0]).isEmpty()) {
            return Optional.empty();
        }
        Map<String, long[]> bytes = firstWithDevices(cgroup, V1_BYTES);
        Map<String, long[]> ops = firstWithDevices(cgroup, V1_OPS);
        Map<String, BlockIo> devices = new LinkedHashMap<>();
        for (String key : union(bytes, ops)) {
            int[] device = device(key);
            long[] b = bytes.getOrDefault(key, new long[3]);
            long[] o = ops.getOrDefault(key, new long[3]);
            devices.put(key, new BlockIo(device[0], device[1], b[0], b[1], o[0], o[1], b[2], o[2]));
        }
        return Optional.of(List.copyOf(devices.values()));
    }

    /** device → {read, write, discard} of the first file that lists any device. */
    private static Map<String, long[]> firstWithDevices(Cgroup cgroup, String[] files) {
        for (String file : files) {
            Map<String, long[]> counts = new LinkedHashMap<>();
            cgroup.read("blkio", file).orElse("").lines().forEach(line -> {
                String[] fields = line.strip().split("\\s+");
                if (fields.length != 3 || device(fields[0]) == null) {
                    return;
                }
                int slot = switch (fields[1]) {
                    case "Read" -> 0;
                    case "Write" -> 1;
                    case "Discard" -> 2;
                    default -> -1;
                };
                long value = Cgroup.parseLong(fields[2]).orElse(0L);
                if (slot >= 0 && value > 0) {
                    counts.computeIfAbsent(fields[0], k -> new long[3])[slot] += value;
                }
            });
            if (!counts.isEmpty()) {
                return counts;
            }
        }
        return Map.of();
    }

    private static List<String> union(Map<String, long[]> a, Map<String, long[]> b) {
        List<String> keys = new ArrayList<>(a.keySet());
        b.keySet().stream().filter(k -> !a.containsKey(k)).forEach(keys::add);
        return keys;
    }

    /** "8:0" → {8, 0}; null for anything else ("Total"). */
    private static int[] device(String text) {
        String[] parts = text.split(":");
        if (parts.length != 2) {
            return null;
        }
        try {
            return new int[] {Integer.parseInt(parts[0]), Integer.parseInt(parts[1])};
        } catch (NumberFormatException e) {
            return null;
        }
    }
}
