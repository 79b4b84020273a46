package dev.vessel.view;

import dev.vessel.linux.Cgroup;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A fake host under a temp directory: /proc and /sys texts, a cgroup hierarchy (v1 or v2) mounted
 * under root/cgroup, and processes in one container cgroup "ctr".
 */
final class Fixture {
    static final String[] V1_CONTROLLERS = {"cpu", "cpuacct", "cpuset", "memory", "blkio", "pids"};

    final Path root;
    final boolean unified;
    private final List<Long> pids = new ArrayList<>();

    private Fixture(Path root, boolean unified, int hostCpus) {
        this.root = root;
        this.unified = unified;
        copyResource("meminfo", "proc/meminfo");
        copyResource("diskstats", "proc/diskstats");
        copyResource("swaps", "proc/swaps");
        copyResource("uptime", "proc/uptime");
        copyResource("loadavg", "proc/loadavg");
        write("proc/cpuinfo", cpuinfo(hostCpus));
        write("proc/stat", resource("stat.template").replace("%CPUS%", statCpuLines(hostCpus)));
        write("sys/devices/system/cpu/online", hostCpus == 1 ? "0\n" : "0-" + (hostCpus - 1) + "\n");
        StringBuilder mountinfo = new StringBuilder();
        if (unified) {
            mountinfo.append("41 31 0:38 / ").append(root.resolve("cgroup/unified")).append(" rw - cgroup2 cgroup2 rw\n");
            mkdirs("cgroup/unified/ctr");
        } else {
            int id = 32;
            for (String controller : V1_CONTROLLERS) {
                mountinfo.append(id++).append(" 31 0:29 / ").append(root.resolve("cgroup/" + controller))
                        .append(" rw,relatime - cgroup cgroup rw,").append(controller).append('\n');
                mkdirs("cgroup/" + controller + "/ctr");
            }
        }
        write("proc/self/mountinfo", mountinfo.toString());
    }

    static Fixture v1(Path tmp, int hostCpus) {
        return new Fixture(tmp, false, hostCpus);
    }

    static Fixture v2(Path tmp, int hostCpus) {
        return new Fixture(tmp, true, hostCpus);
    }

    /** Writes a file of the container's cgroup (the controller is ignored on v2). */
    Fixture cgroupFile(String controller, String file, String text) {
        write(containerDir(controller) + "/" + file, text + "\n");
        return this;
    }

    /** Writes a file into the parent of the container's cgroup (a pod or slice). */
    Fixture parentFile(String controller, String file, String text) {
        write(containerDir(controller) + "/../" + file, text + "\n");
        return this;
    }

    /** A process of the container: its /proc/PID/stat and cgroup, and its pid in the task lists. */
    Fixture process(long pid, long startTicks, char state) {
        pids.add(pid);
        write("proc/" + pid + "/stat", pid + " (some (odd) name) " + state
                + " 1 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 " + startTicks + " 1000 100\n");
        StringBuilder procCgroup = new StringBuilder();
        if (unified) {
            procCgroup.append("0::/ctr\n");
        } else {
            for (int i = 0; i < V1_CONTROLLERS.length; i++) {
                procCgroup.append(i + 1).append(':').append(V1_CONTROLLERS[i]).append(":/ctr\n");
            }
        }
        write("proc/" + pid + "/cgroup", procCgroup.toString());
        StringBuilder list = new StringBuilder();
        pids.forEach(p -> list.append(p).append('\n'));
        if (unified) {
            write("cgroup/unified/ctr/cgroup.procs", list.toString());
            write("cgroup/unified/ctr/cgroup.threads", list.toString());
        } else {
            for (String controller : V1_CONTROLLERS) {
                write("cgroup/" + controller + "/ctr/cgroup.procs", list.toString());
                write("cgroup/" + controller + "/ctr/tasks", list.toString());
            }
        }
        return this;
    }

    Cgroup cgroup() {
        try {
            List<String> procCgroup = unified ? List.of("0::/ctr")
                    : java.util.Arrays.stream(V1_CONTROLLERS).map(c -> "1:" + c + ":/ctr").toList();
            return Cgroup.parse(procCgroup, Files.readAllLines(root.resolve("proc/self/mountinfo")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    HostInfo host() {
        return HostInfo.at(root);
    }

    ContainerResources read(ViewOptions options) {
        return ContainerResources.read(cgroup(), host(), options);
    }

    ContainerResources read() {
        return read(ViewOptions.DEFAULTS);
    }

    String hostFile(String relative) {
        try {
            return Files.readString(root.resolve(relative));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private String containerDir(String controller) {
        return unified ? "cgroup/unified/ctr" : "cgroup/" + controller + "/ctr";
    }

    static String cpuinfo(int cpus) {
        StringBuilder out = new StringBuilder();
        for (int cpu = 0; cpu < cpus; cpu++) {
            out.append("processor\t: ").append(cpu).append('\n')
                    .append("vendor_id\t: AuthenticAMD\n")
                    .append("model name\t: AMD EPYC\n")
                    .append("physical id\t: 0\n")
                    .append("siblings\t: ").append(cpus).append('\n')
                    .append("core id\t\t: ").append(cpu / 2).append('\n')
                    .append("cpu cores\t: ").append(Math.max(1, cpus / 2)).append('\n')
                    .append("apicid\t\t: ").append(cpu * 2).append('\n')
                    .append("flags\t\t: fpu vme de pse tsc\n")
                    .append("power management:\n\n");
        }
        return out.toString();
    }

    private static String statCpuLines(int cpus) {
        StringBuilder out = new StringBuilder();
        for (int cpu = 0; cpu < cpus; cpu++) {
            out.append("cpu").append(cpu).append(' ').append(5000 + cpu).append(" 0 2000 50000 50 0 50 10 0 0\n");
        }
        return out.toString();
    }

    private void copyResource(String name, String relative) {
        write(relative, resource(name));
    }

    private static String resource(String name) {
        try (InputStream in = Fixture.class.getResourceAsStream("host/" + name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    void write(String relative, String text) {
        try {
            Path file = root.resolve(relative).normalize();
            Files.createDirectories(file.getParent());
            Files.writeString(file, text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void mkdirs(String relative) {
        try {
            Files.createDirectories(root.resolve(relative));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
