package dev.vessel.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vessel.linux.CgroupDir;
import dev.vessel.linux.Log;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Where a microVM's processes are charged (Kata's {@code sandbox_cgroup_only}): QEMU, its threads
 * and its helpers (the nsenter it starts through) in a cgroup of their own,
 * {@code vessel/sandbox-<run dir's hash>} in every hierarchy, apart from vesseld's; the
 * container's own {@code linux.cgroupsPath} is made too, holding only the relay (the process the
 * engine knows), with the container's limits, so that what engines read there (podman stats,
 * containerd's task metrics) is the container's limit and not the engine's own cgroup.
 *
 * <p>The sandbox cgroup has no memory limit: QEMU's guest RAM is bounded by {@code -m}, and a
 * workload that fills its memory meets the guest kernel's OOM killer, never the host's. Its CPU
 * quota and shares are the container's (what {@code update} changes). The paths made are listed
 * in the run dir's {@value #FILE}, so that delete, or a later daemon, removes them.
 */
final class MicroVmCgroups {
    static final String FILE = "cgroups";
    private static final String PARENT = "vessel";

    private MicroVmCgroups() {}

    static CgroupDir sandbox(Path runDir) throws IOException {
        return CgroupDir.at(PARENT + "/sandbox-" + runDir.getFileName());
    }

    /** The container's cgroup from the bundle, or null when it names none. */
    static CgroupDir container(JsonNode config) throws IOException {
        String path = config.path("linux").path("cgroupsPath").asText("");
        return path.isBlank() ? null : CgroupDir.at(CgroupDir.ociPath(path));
    }

    /**
     * Makes both cgroups and gives them the container's limits; returns the argv prefix that
     * starts a command inside the sandbox cgroup (a shell writes its own pid to every
     * hierarchy's cgroup.procs, then execs it: QEMU and all it forks are placed before they run).
     * Where cgroups cannot be made (no writable cgroupfs) QEMU runs where vesseld does (logged).
     */
    static List<String> prepare(Path runDir, JsonNode config, OciLimits limits) {
        List<String> made = new ArrayList<>();
        try {
            CgroupDir sandbox = sandbox(runDir);
            sandbox.create();
            made.add(sandbox.path());
            applyCpu(sandbox, limits.cpuQuota(), limits.cpuPeriod(), limits.cpuShares());
            CgroupDir container = container(config);
            if (container != null) {
                container.create();
                made.add(container.path());
                applyCpu(container, limits.cpuQuota(), limits.cpuPeriod(), limits.cpuShares());
                if (limits.memory() != null) applyMemory(container, limits.memory());
                for (String[] w : memoryDetails(container.isUnified(), config.path("linux").path("resources").path("memory"))) {
                    try {
                        container.write("memory", w[0], w[1]);
                    } catch (IOException e) { // e.g. a swap below the limit: that value only, not the sandbox's cgroup
                        Log.info("microvm " + runDir.getFileName() + ": cgroup " + container.path() + ": " + w[0] + " " + w[1]
                                + " not applied: " + e.getMessage());
                    }
                }
            }
            Files.writeString(runDir.resolve(FILE), String.join("\n", made) + "\n");
            List<String> argv = new ArrayList<>(List.of("/bin/sh", "-c",
                    "while [ \"$1\" != -- ]; do echo $$ > \"$1\" || exit 125; shift; done; shift; exec \"$@\"", "vessel-cgroup"));
            sandbox.procsFiles().forEach(p -> argv.add(p.toString()));
            argv.add("--");
            return argv;
        } catch (IOException | RuntimeException e) {
            Log.info("microvm " + runDir.getFileName() + ": warning: no cgroup of its own (" + e.getMessage()
                    + "): QEMU is charged to vesseld's");
            try {
                Files.writeString(runDir.resolve(FILE), String.join("\n", made) + (made.isEmpty() ? "" : "\n"));
            } catch (IOException ignored) {
                // the run dir goes on failure anyway
            }
            return List.of();
        }
    }

    /** Puts the container's process as the engine knows it (the relay) in the container's cgroup. */
    static void joinContainer(Path runDir, JsonNode config, long relayPid) {
        try {
            CgroupDir container = container(config);
            if (container != null && Files.isDirectory(container.dirs().getFirst())) container.join(relayPid);
        } catch (IOException | RuntimeException e) {
            Log.info("microvm " + runDir.getFileName() + ": relay " + relayPid + " not moved to the container's cgroup: "
                    + e.getMessage());
        }
    }

    /** The container's limits as the bundle or an update gives them; null: not given. */
    record OciLimits(Long memory, Long cpuQuota, Long cpuPeriod, Long cpuShares) {}

    /** CPU quota (-1 or null quota: none) and shares; cgroup v1's files, or v2's cpu.max and cpu.weight. */
    static void applyCpu(CgroupDir cg, Long quota, Long period, Long shares) throws IOException {
        if (cg.isUnified()) {
            if (quota != null) {
                String p = period == null ? "100000" : period.toString();
                cg.write("cpu", "cpu.max", (quota <= 0 ? "max" : quota.toString()) + " " + p);
            }
            // runc's conversion of shares (2..262144) to weight (1..10000)
            if (shares != null && shares > 0) cg.write("cpu", "cpu.weight", Long.toString(1 + ((shares - 2) * 9999) / 262142));
        } else {
            if (period != null) cg.write("cpu", "cpu.cfs_period_us", period.toString());
            if (quota != null) cg.write("cpu", "cpu.cfs_quota_us", Long.toString(quota <= 0 ? -1 : quota));
            if (shares != null && shares > 0) cg.write("cpu", "cpu.shares", shares.toString());
        }
    }

    static void applyMemory(CgroupDir cg, long limit) throws IOException {
        if (cg.isUnified()) cg.write("memory", "memory.max", limit <= 0 ? "max" : Long.toString(limit));
        else cg.write("memory", "memory.limit_in_bytes", Long.toString(limit <= 0 ? -1 : limit));
    }

    /**
     * The rest of {@code linux.resources.memory} that holds in a guest as asked, as crun writes it
     * (after the limit: v1 refuses a memsw limit below it): {@code reservation} (the whole VM is the
     * container's, so a soft floor holds), {@code swap} (limit plus swap; v2 counts swap alone)
     * and {@code swappiness} (v1 only, as in runc: the guest has no swap, so neither is ever
     * exceeded). {@code disableOOMKiller} is not written: the guest kernel's OOM killer still acts
     * (docs/microvm.md, limitations); {@code kernel} is deprecated (crun ignores it too) and {@code kernelTCP}
     * is left out (the guest's TCP buffers are inside the VM's RAM).
     */
    static List<String[]> memoryDetails(boolean unified, JsonNode memory) {
        List<String[]> writes = new ArrayList<>();
        JsonNode reservation = memory.path("reservation"), swap = memory.path("swap"), limit = memory.path("limit");
        if (unified) {
            if (reservation.canConvertToLong()) writes.add(new String[] {"memory.low", Long.toString(reservation.asLong())});
            if (swap.canConvertToLong()) {
                long swapOnly = swap.asLong() < 0 ? -1 : limit.canConvertToLong() && limit.asLong() > 0
                        ? Math.max(0, swap.asLong() - limit.asLong()) : swap.asLong();
                writes.add(new String[] {"memory.swap.max", swapOnly < 0 ? "max" : Long.toString(swapOnly)});
            }
        } else {
            if (reservation.canConvertToLong()) writes.add(new String[] {"memory.soft_limit_in_bytes", Long.toString(reservation.asLong())});
            if (swap.canConvertToLong()) writes.add(new String[] {"memory.memsw.limit_in_bytes", Long.toString(swap.asLong())});
            if (memory.path("swappiness").canConvertToLong() && memory.path("swappiness").asLong() <= 100) {
                writes.add(new String[] {"memory.swappiness", Long.toString(memory.path("swappiness").asLong())});
            }
        }
        return writes;
    }

    /**
     * Removes what {@link #prepare} made; a process still in one (a foreground run's relay, which
     * asks for the delete itself) is moved to the parent cgroup first.
     */
    static void remove(Path runDir) {
        List<String> made;
        try {
            made = Files.exists(runDir.resolve(FILE)) ? Files.readAllLines(runDir.resolve(FILE)) : List.of();
        } catch (IOException e) {
            Log.info("microvm cleanup: " + e.getMessage());
            return;
        }
        for (String path : made.reversed()) {
            if (path.isBlank()) continue;
            try {
                CgroupDir cg = CgroupDir.at(path);
                for (Path dir : cg.dirs()) {
                    Path procs = dir.resolve("cgroup.procs");
                    if (!Files.exists(procs)) continue;
                    for (String pid : Files.readAllLines(procs)) {
                        if (pid.isBlank()) continue;
                        try {
                            Files.writeString(dir.getParent().resolve("cgroup.procs"), pid.strip());
                        } catch (IOException gone) {
                            // exited meanwhile
                        }
                    }
                }
                cg.remove();
            } catch (IOException | RuntimeException e) {
                Log.info("microvm cleanup of cgroup " + path + ": " + e.getMessage());
            }
        }
    }
}
