package dev.vessel.view;

import dev.vessel.linux.Cgroup;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The numbers one container's files are rendered from, read from its cgroup at one moment. Each
 * part falls back to the host's numbers when it cannot be read, so a renderer never sees a 0
 * MemTotal or a negative value; the {@code known}/{@code limited} flags say which is which.
 *
 * @param blockIo the devices the container did I/O on; empty when the I/O controller is unreadable
 * @param loads the container's load averages, estimated by the caller over time ({@link LoadTracker})
 */
public record ContainerResources(Memory memory, Cpus cpus, CpuUsage cpuUsage, Tasks tasks,
        Optional<List<BlockIo>> blockIo, Loads loads) {

    /** What a renderer needs read; reading only that keeps the hot files cheap. */
    public enum Part { MEMORY, CPUS, CPU_USAGE, TASKS, RUNNABLE, START, BLOCK_IO }

    /** Everything, from the cgroup. */
    public static ContainerResources read(Cgroup cgroup, HostInfo host, ViewOptions options) {
        return read(cgroup, host, options, EnumSet.allOf(Part.class));
    }

    /** The given parts from the cgroup, the host's numbers for the rest. */
    public static ContainerResources read(Cgroup cgroup, HostInfo host, ViewOptions options, Set<Part> parts) {
        boolean tasks = parts.contains(Part.TASKS) || parts.contains(Part.RUNNABLE) || parts.contains(Part.START);
        return new ContainerResources(
                parts.contains(Part.MEMORY) ? Memory.read(cgroup, host) : Memory.ofHost(host),
                parts.contains(Part.CPUS) ? Cpus.read(cgroup, host, options) : Cpus.ofHost(host),
                parts.contains(Part.CPU_USAGE) ? CpuUsage.read(cgroup) : CpuUsage.UNKNOWN,
                tasks ? Tasks.read(cgroup, host, parts.contains(Part.RUNNABLE), parts.contains(Part.START))
                        : Tasks.UNKNOWN,
                parts.contains(Part.BLOCK_IO) ? BlockIo.read(cgroup) : Optional.empty(),
                Loads.UNKNOWN);
    }

    /** The host's own numbers: what every file shows when the caller's cgroup cannot be resolved. */
    public static ContainerResources ofHost(HostInfo host) {
        return new ContainerResources(Memory.ofHost(host), Cpus.ofHost(host), CpuUsage.UNKNOWN, Tasks.UNKNOWN,
                Optional.empty(), Loads.UNKNOWN);
    }

    public ContainerResources withLoads(Loads estimate) {
        return new ContainerResources(memory, cpus, cpuUsage, tasks, blockIo, estimate);
    }

    /** The CPUs the container is shown, host numbering, in order (see {@link Cpus#visible}). */
    public int[] visibleCpus() {
        return cpus.visible();
    }

    /** Container uptime in seconds at {@code now} (seconds since boot), or -1 when its start is unknown. */
    public double uptimeSeconds(double now) {
        long start = tasks.earliestStartTicks();
        return start < 0 ? -1 : Math.max(0, now - (double) start / HostInfo.USER_HZ);
    }
}
