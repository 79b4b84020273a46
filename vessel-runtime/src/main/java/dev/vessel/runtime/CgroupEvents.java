package dev.vessel.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vessel.linux.Cgroup;
import dev.vessel.oci.OciException;
import java.io.IOException;
import java.time.Duration;
import java.util.Map;

/** {@code events} of a process's cgroup: its statistics in runc's JSON shape, once or every interval, and OOM kills. */
public final class CgroupEvents {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String id;
    private final long pid;

    CgroupEvents(String id, long pid) {
        this.id = id;
        this.pid = pid;
    }

    public static Duration parseInterval(String text) {
        try {
            return Duration.parse("PT" + text.toUpperCase());
        } catch (RuntimeException e) {
            throw new OciException("events: invalid --interval \"" + text + "\" (e.g. 5s, 500ms is written 0.5s)");
        }
    }

    /** Writes one stats event ({@code once}) or one every interval while the process lives; returns the exit status. */
    int run(boolean once, Duration interval, Outcome.Lines out) throws IOException {
        Cgroup cgroup = Cgroup.ofProcess(pid);
        if (once) {
            out.line(JSON.writeValueAsString(event("stats", stats(cgroup))));
            return 0;
        }
        long ooms = oomKills(cgroup);
        while (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
            long now = oomKills(cgroup);
            if (now > ooms) {
                out.line(JSON.writeValueAsString(event("oom", null)));
                ooms = now;
            }
            // A client that went away makes this write fail, which ends the loop.
            out.line(JSON.writeValueAsString(event("stats", stats(cgroup))));
            try {
                Thread.sleep(interval);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        return 0;
    }

    private ObjectNode event(String type, JsonNode data) {
        ObjectNode event = JSON.createObjectNode().put("type", type).put("id", id);
        if (data != null) {
            event.set("data", data);
        }
        return event;
    }

    private static long oomKills(Cgroup cgroup) {
        if (cgroup.isUnified()) {
            return cgroup.readKeyed("memory", "memory.events").getOrDefault("oom_kill", 0L);
        }
        return cgroup.readKeyed("memory", "memory.oom_control").getOrDefault("oom_kill", 0L);
    }

    /** runc's stats: cpu, memory, pids and blkio, from v1 or v2 files. */
    static ObjectNode stats(Cgroup cgroup) {
        ObjectNode data = JSON.createObjectNode();
        boolean v2 = cgroup.isUnified();
        ObjectNode cpu = data.putObject("cpu");
        ObjectNode usage = cpu.putObject("usage");
        ObjectNode throttling = cpu.putObject("throttling");
        Map<String, Long> cpuStat = cgroup.readKeyed("cpu", "cpu.stat");
        if (v2) {
            usage.put("total", cpuStat.getOrDefault("usage_usec", 0L) * 1000);
            usage.put("kernel", cpuStat.getOrDefault("system_usec", 0L) * 1000);
            usage.put("user", cpuStat.getOrDefault("user_usec", 0L) * 1000);
            throttling.put("throttled_time", cpuStat.getOrDefault("throttled_usec", 0L) * 1000);
        } else {
            usage.put("total", cgroup.readLong("cpuacct", "cpuacct.usage", 0));
            var percpu = usage.putArray("percpu");
            cgroup.read("cpuacct", "cpuacct.usage_percpu").ifPresent(text -> {
                for (String v : text.trim().split("\\s+")) {
                    Cgroup.parseLong(v).ifPresent(percpu::add);
                }
            });
            Map<String, Long> acct = cgroup.readKeyed("cpuacct", "cpuacct.stat");
            long tick = 10_000_000L; // USER_HZ is 100: a tick is 10 ms
            usage.put("kernel", acct.getOrDefault("system", 0L) * tick);
            usage.put("user", acct.getOrDefault("user", 0L) * tick);
            throttling.put("throttled_time", cpuStat.getOrDefault("throttled_time", 0L));
        }
        throttling.put("periods", cpuStat.getOrDefault("nr_periods", 0L));
        throttling.put("throttled_periods", cpuStat.getOrDefault("nr_throttled", 0L));

        ObjectNode memory = data.putObject("memory");
        Map<String, Long> memStat = cgroup.readKeyed("memory", "memory.stat");
        ObjectNode memUsage = memory.putObject("usage");
        if (v2) {
            memory.put("cache", memStat.getOrDefault("file", 0L));
            memUsage.put("usage", cgroup.readLong("memory", "memory.current", 0));
            memUsage.put("limit", cgroup.readLong("memory", "memory.max", Long.MAX_VALUE));
            memUsage.put("max", cgroup.readLong("memory", "memory.peak", 0));
        } else {
            memory.put("cache", memStat.getOrDefault("total_cache", memStat.getOrDefault("cache", 0L)));
            memUsage.put("usage", cgroup.readLong("memory", "memory.usage_in_bytes", 0));
            memUsage.put("limit", cgroup.readLong("memory", "memory.limit_in_bytes", Long.MAX_VALUE));
            memUsage.put("max", cgroup.readLong("memory", "memory.max_usage_in_bytes", 0));
            memUsage.put("failcnt", cgroup.readLong("memory", "memory.failcnt", 0));
        }
        ObjectNode raw = memory.putObject("raw");
        memStat.forEach(raw::put);

        ObjectNode pids = data.putObject("pids");
        pids.put("current", cgroup.readLong("pids", "pids.current", 0));
        long pidsLimit = cgroup.readLong("pids", "pids.max", Long.MAX_VALUE);
        pids.put("limit", pidsLimit == Long.MAX_VALUE ? 0 : pidsLimit);

        ObjectNode blkio = data.putObject("blkio");
        var bytes = blkio.putArray("ioServiceBytesRecursive");
        if (v2) {
            cgroup.read("io", "io.stat").ifPresent(text -> text.lines().forEach(line -> {
                String[] fields = line.trim().split("\\s+");
                String[] dev = fields[0].split(":");
                for (int i = 1; i < fields.length; i++) {
                    String[] kv = fields[i].split("=");
                    if (kv.length == 2 && (kv[0].equals("rbytes") || kv[0].equals("wbytes"))) {
                        bytes.addObject().put("major", Long.parseLong(dev[0])).put("minor", Long.parseLong(dev[1]))
                                .put("op", kv[0].equals("rbytes") ? "Read" : "Write")
                                .put("value", Cgroup.parseLong(kv[1]).orElse(0L));
                    }
                }
            }));
        } else {
            cgroup.read("blkio", "blkio.throttle.io_service_bytes_recursive").ifPresent(text -> text.lines().forEach(line -> {
                String[] fields = line.trim().split("\\s+");
                if (fields.length == 3 && fields[0].contains(":")) {
                    String[] dev = fields[0].split(":");
                    bytes.addObject().put("major", Long.parseLong(dev[0])).put("minor", Long.parseLong(dev[1]))
                            .put("op", fields[1]).put("value", Cgroup.parseLong(fields[2]).orElse(0L));
                }
            }));
        }
        data.putObject("hugetlb");
        return data;
    }
}
