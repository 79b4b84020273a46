package dev.vessel.vmm;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a guest's agent reports for STATS (docs/microvm.md): the guest's own memory, CPU time,
 * processes, network and disks, read from its /proc. Bytes and nanoseconds; a key the agent did
 * not send reads as 0, a key this side does not know is ignored (so the agent can add keys).
 *
 * @param memory the /proc/meminfo values by the agent's key without {@code mem_} (total, free,
 *     available, cached, inactive_file …)
 * @param cpuNs each CPU's user + system time, CPU 0 first
 */
public record GuestStats(Map<String, Long> memory, long cpuUserNs, long cpuSystemNs, long cpuIdleNs, List<Long> cpuNs,
        long oomKills, int pids, List<Interface> interfaces, List<Disk> disks) {

    public record Interface(String name, long rxBytes, long rxPackets, long rxErrors, long rxDropped, long txBytes,
            long txPackets, long txErrors, long txDropped) {}

    public record Disk(String name, long major, long minor, long reads, long readBytes, long writes, long writeBytes) {}

    public GuestStats {
        memory = Map.copyOf(memory);
        cpuNs = List.copyOf(cpuNs);
        interfaces = List.copyOf(interfaces);
        disks = List.copyOf(disks);
    }

    public long memoryTotal() {
        return memory.getOrDefault("total", 0L);
    }

    /** What the guest's workload holds: MemTotal - MemAvailable (free's "used" plus what cannot be reclaimed). */
    public long memoryUsed() {
        return Math.max(0, memoryTotal() - memory.getOrDefault("available", memory.getOrDefault("free", 0L)));
    }

    /** The guest's CPU time, all CPUs: user + nice + system + irq + softirq (as /proc/stat counts it). */
    public long cpuTotalNs() {
        return cpuUserNs + cpuSystemNs;
    }

    /** Parses the agent's answer, {@code key=value} words. */
    public static GuestStats parse(String answer) {
        Map<String, Long> memory = new TreeMap<>();
        TreeMap<Integer, Long> perCpu = new TreeMap<>();
        List<Interface> interfaces = new ArrayList<>();
        List<Disk> disks = new ArrayList<>();
        long user = 0, system = 0, idle = 0, ooms = 0;
        int pids = 0;
        for (String word : answer.trim().split("\\s+")) {
            int eq = word.indexOf('=');
            if (eq <= 0) continue;
            String key = word.substring(0, eq), value = word.substring(eq + 1);
            try {
                if (key.startsWith("net.")) {
                    long[] v = numbers(value, 8);
                    interfaces.add(new Interface(key.substring(4), v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]));
                } else if (key.startsWith("blk.")) {
                    long[] v = numbers(value, 6);
                    disks.add(new Disk(key.substring(4), v[0], v[1], v[2], v[3], v[4], v[5]));
                } else if (key.startsWith("mem_")) {
                    memory.put(key.substring(4), Long.parseLong(value));
                } else if (key.matches("cpu\\d+_ns")) {
                    perCpu.put(Integer.parseInt(key.substring(3, key.length() - 3)), Long.parseLong(value));
                } else {
                    switch (key) {
                        case "cpu_user_ns" -> user = Long.parseLong(value);
                        case "cpu_system_ns" -> system = Long.parseLong(value);
                        case "cpu_idle_ns" -> idle = Long.parseLong(value);
                        case "oom_kill" -> ooms = Long.parseLong(value);
                        case "pids" -> pids = Integer.parseInt(value);
                        default -> { } // a newer agent's key
                    }
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("the guest agent's STATS has a bad value: " + word);
            }
        }
        return new GuestStats(memory, user, system, idle, new ArrayList<>(perCpu.values()), ooms, pids, interfaces, disks);
    }

    private static long[] numbers(String csv, int n) {
        String[] parts = csv.split(",");
        if (parts.length < n) throw new NumberFormatException(csv);
        long[] v = new long[n];
        for (int i = 0; i < n; i++) v[i] = Long.parseLong(parts[i]);
        return v;
    }

    /** One guest process as TOP reports it. */
    public record Process(int pid, int ppid, int uid, char state, long rssBytes, long cpuNs, String command) {
        /** One TOP entry: "PID PPID UID STATE RSS_BYTES CPU_NS COMMAND LINE". */
        public static Process parse(String entry) {
            String[] f = entry.trim().split(" ", 7);
            if (f.length < 6) throw new IllegalArgumentException("the guest agent's TOP has a bad entry: " + entry);
            return new Process(Integer.parseInt(f[0]), Integer.parseInt(f[1]), Integer.parseInt(f[2]), f[3].charAt(0),
                    Long.parseLong(f[4]), Long.parseLong(f[5]), f.length > 6 ? f[6] : "");
        }
    }
}
