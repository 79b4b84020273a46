package dev.vessel.view;

import dev.vessel.linux.Cgroup;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The host's own /proc and /sys texts, read under a root directory ("/" in production, a fixture
 * directory in tests). One instance is a snapshot: each file is read at most once, on first use, so
 * a renderer that asks twice sees the same text and a file nobody asks for is never read. A file
 * that cannot be read is the empty string; the accessors that return numbers never return 0 where
 * 0 would break a caller (MemTotal, CPU count).
 */
public final class HostInfo {
    /** Clock ticks per second of /proc/stat and /proc/PID/stat (USER_HZ, 100 on every Linux ABI). */
    public static final int USER_HZ = 100;

    private final Path root;
    private final Map<String, String> texts = new ConcurrentHashMap<>();
    private volatile Map<String, Long> meminfo;

    private HostInfo(Path root) {
        this.root = root;
    }

    /** A fresh snapshot of the host the daemon runs on. */
    public static HostInfo system() {
        return at(Path.of("/"));
    }

    /** A fresh snapshot of the files under {@code root} (root/proc/meminfo, ...). */
    public static HostInfo at(Path root) {
        return new HostInfo(root);
    }

    public Path root() {
        return root;
    }

    public String meminfo() { return text("proc/meminfo"); }
    public String cpuinfo() { return text("proc/cpuinfo"); }
    public String stat() { return text("proc/stat"); }
    public String uptime() { return text("proc/uptime"); }
    public String loadavg() { return text("proc/loadavg"); }
    public String diskstats() { return text("proc/diskstats"); }
    public String swaps() { return text("proc/swaps"); }
    public String cpuOnline() { return text("sys/devices/system/cpu/online"); }

    /** The host's online CPUs; CPU 0 alone when the list cannot be read. */
    public int[] onlineCpus() {
        int[] cpus = CpuList.parse(cpuOnline());
        return cpus.length > 0 ? cpus : new int[] {0};
    }

    /** A /proc/meminfo value in kB (HugePages_* counts as written), or {@code fallback}. */
    public long meminfoKb(String key, long fallback) {
        return meminfoValues().getOrDefault(key, fallback);
    }

    /** MemTotal in bytes, never 0 (1 GiB if the host's meminfo cannot be read, rather than nothing). */
    public long memTotalBytes() {
        long kb = meminfoKb("MemTotal", 0);
        return kb > 0 ? kb * 1024 : 1L << 30;
    }

    /** Seconds since boot, from /proc/uptime; 0 when unreadable. */
    public double uptimeSeconds() {
        return firstNumber(uptime(), 0);
    }

    /** Idle seconds summed over all CPUs, the second field of /proc/uptime. */
    public double idleSeconds() {
        String[] fields = uptime().strip().split("\\s+");
        return fields.length > 1 ? parseDouble(fields[1], 0) : 0;
    }

    /** /proc/PID/stat of a host process, read now (never memoized: processes come and go). */
    public Optional<String> processStat(long pid) {
        return Cgroup.readFile(root.resolve("proc/" + pid + "/stat"));
    }

    private String text(String relative) {
        return texts.computeIfAbsent(relative, r -> readExactly(root.resolve(r)));
    }

    /**
     * The file as it is, untrimmed (cpuinfo ends with a blank line that readers expect), byte for
     * byte: Latin-1 maps every byte to one char, so odd bytes in a model name survive the round trip.
     */
    private static String readExactly(Path file) {
        try {
            return Files.readString(file, StandardCharsets.ISO_8859_1);
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }

    private Map<String, Long> meminfoValues() {
        Map<String, Long> values = meminfo;
        if (values == null) {
            values = MeminfoText.values(meminfo());
            meminfo = values;
        }
        return values;
    }

    private static double firstNumber(String text, double fallback) {
        String[] fields = text.strip().split("\\s+");
        return fields.length > 0 ? parseDouble(fields[0], fallback) : fallback;
    }

    private static double parseDouble(String text, double fallback) {
        try {
            return Double.parseDouble(text);
        } catch (NumberFormatException e) {
            return fallback;
        }
    }

}
