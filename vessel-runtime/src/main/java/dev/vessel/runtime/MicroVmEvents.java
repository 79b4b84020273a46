package dev.vessel.runtime;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vessel.linux.Cgroup;
import dev.vessel.linux.CgroupDir;
import dev.vessel.vmm.GuestStats;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A microVM's {@code events} in runc's JSON shape ({@link CgroupEvents} for containers), from the
 * guest's own numbers (the agent's STATS) rather than a host cgroup's: {@code cpu.usage.total} is
 * the guest's CPU time, {@code memory.usage} its working set (MemTotal − MemAvailable) against
 * its MemTotal, {@code pids.current} its processes, {@code network_interfaces} and {@code blkio}
 * its NICs and disks. What the VM costs the host beyond that, QEMU itself, is kept apart under
 * {@code data.vessel} ({@code qemu_rss_bytes}, {@code qemu_cpu_ns}, the sandbox cgroup's usage).
 */
final class MicroVmEvents {
    private static final ObjectMapper JSON = new ObjectMapper();

    private MicroVmEvents() {}

    /** runc's {@code data} of a stats event. */
    static ObjectNode stats(GuestStats guest, QemuCost qemu) {
        ObjectNode data = JSON.createObjectNode();
        ObjectNode cpu = data.putObject("cpu");
        ObjectNode usage = cpu.putObject("usage");
        usage.put("total", guest.cpuTotalNs());
        ArrayNode percpu = usage.putArray("percpu");
        guest.cpuNs().forEach(percpu::add);
        usage.put("kernel", guest.cpuSystemNs());
        usage.put("user", guest.cpuUserNs());
        cpu.putObject("throttling");

        ObjectNode memory = data.putObject("memory");
        long cache = guest.memory().getOrDefault("cached", 0L) + guest.memory().getOrDefault("buffers", 0L);
        memory.put("cache", cache);
        ObjectNode memUsage = memory.putObject("usage");
        memUsage.put("usage", guest.memoryUsed());
        memUsage.put("limit", guest.memoryTotal());
        memUsage.put("max", 0);
        memUsage.put("failcnt", 0);
        ObjectNode swap = memory.putObject("swap_usage");
        long swapTotal = guest.memory().getOrDefault("swap_total", 0L);
        swap.put("usage", swapTotal - guest.memory().getOrDefault("swap_free", 0L));
        swap.put("limit", swapTotal);
        ObjectNode raw = memory.putObject("raw");
        // the guest's meminfo, but not inactive_file: consumers subtract it from usage to get
        // the working set, and usage here is that already
        guest.memory().forEach((k, v) -> {
            if (!k.equals("inactive_file")) raw.put(k, v);
        });
        raw.put("oom_kill", guest.oomKills());

        ObjectNode pids = data.putObject("pids");
        pids.put("current", guest.pids());
        pids.put("limit", 0);

        ObjectNode blkio = data.putObject("blkio");
        ArrayNode bytes = blkio.putArray("ioServiceBytesRecursive");
        ArrayNode ops = blkio.putArray("ioServicedRecursive");
        for (GuestStats.Disk d : guest.disks()) {
            bytes.addObject().put("major", d.major()).put("minor", d.minor()).put("op", "Read").put("value", d.readBytes());
            bytes.addObject().put("major", d.major()).put("minor", d.minor()).put("op", "Write").put("value", d.writeBytes());
            ops.addObject().put("major", d.major()).put("minor", d.minor()).put("op", "Read").put("value", d.reads());
            ops.addObject().put("major", d.major()).put("minor", d.minor()).put("op", "Write").put("value", d.writes());
        }
        data.putObject("hugetlb");
        ArrayNode nics = data.putArray("network_interfaces");
        for (GuestStats.Interface i : guest.interfaces()) {
            nics.addObject().put("name", i.name())
                    .put("rx_bytes", i.rxBytes()).put("rx_packets", i.rxPackets())
                    .put("rx_errors", i.rxErrors()).put("rx_dropped", i.rxDropped())
                    .put("tx_bytes", i.txBytes()).put("tx_packets", i.txPackets())
                    .put("tx_errors", i.txErrors()).put("tx_dropped", i.txDropped());
        }
        ObjectNode vessel = data.putObject("vessel");
        vessel.put("source", "guest");
        vessel.put("qemu_pid", qemu.pid());
        vessel.put("qemu_rss_bytes", qemu.rssBytes());
        vessel.put("qemu_cpu_ns", qemu.cpuNs());
        if (qemu.cgroup() != null) vessel.put("sandbox_cgroup", qemu.cgroup());
        if (qemu.cgroupMemoryBytes() >= 0) vessel.put("sandbox_memory_usage_bytes", qemu.cgroupMemoryBytes());
        return data;
    }

    /** What QEMU itself costs the host: its RSS and CPU time (/proc/PID/stat), and its cgroup's memory. */
    record QemuCost(long pid, long rssBytes, long cpuNs, String cgroup, long cgroupMemoryBytes) {
        private static final long TICK_NS = 10_000_000L; // USER_HZ is 100
        private static final long PAGE = 4096;

        static QemuCost of(long pid, Path runDir) {
            long rss = 0, cpu = 0;
            String stat = Cgroup.readFile(Path.of("/proc/" + pid + "/stat")).orElse("");
            int close = stat.lastIndexOf(')');
            if (close > 0) rss = parse(stat.substring(close + 2), 21) * PAGE;
            if (close > 0) cpu = (parse(stat.substring(close + 2), 11) + parse(stat.substring(close + 2), 12)) * TICK_NS;
            String cgroup = null;
            long usage = -1;
            try {
                if (Files.exists(runDir.resolve(MicroVmCgroups.FILE))) {
                    CgroupDir sandbox = MicroVmCgroups.sandbox(runDir);
                    cgroup = sandbox.path();
                    String file = sandbox.isUnified() ? "memory.current" : "memory.usage_in_bytes";
                    usage = sandbox.dir("memory").flatMap(d -> Cgroup.readFile(d.resolve(file)))
                            .flatMap(Cgroup::parseLong).orElse(-1L);
                }
            } catch (java.io.IOException | RuntimeException e) {
                // no cgroup figures, the rest stands
            }
            return new QemuCost(pid, rss, cpu, cgroup, usage);
        }

        /** Field n (0: the state) of /proc/PID/stat after the command's ")". */
        static long parse(String afterName, int n) {
            List<String> f = List.of(afterName.trim().split("\\s+"));
            return n < f.size() ? Cgroup.parseLong(f.get(n)).orElse(0L) : 0;
        }
    }
}
