package dev.vessel.view;

import dev.vessel.linux.Cgroup;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/**
 * The resource view's entry point, for the FUSE server and the seccomp listener: the text of a
 * /proc or /sys file, the sysinfo(2) numbers and the CPU list, each for the calling process's
 * container. It never throws: a caller whose cgroup cannot be resolved (exited, not in a container,
 * files unreadable) gets the host's own values. Thread-safe.
 */
public final class ResourceView {
    /** Host texts younger than this are reused: the fields taken from them barely move in 100 ms. */
    private static final long HOST_TTL_NANOS = 100_000_000L;

    private record HostSnapshot(HostInfo host, long takenAt) {}

    private final Path hostRoot;
    private final ViewOptions options;
    private final CgroupResolver resolver;
    private final LoadTracker loads = new LoadTracker();
    private volatile HostSnapshot snapshot;

    /** The view of the machine the daemon runs on. */
    public ResourceView(ViewOptions options) {
        this(Path.of("/"), options);
    }

    /** The view of the files under {@code hostRoot} (root/proc/..., root/sys/...): for tests. */
    public ResourceView(Path hostRoot, ViewOptions options) {
        this.hostRoot = hostRoot;
        this.options = options;
        this.resolver = new CgroupResolver(hostRoot);
    }

    /** The files {@link #render} serves, as absolute paths inside the container. */
    public static List<String> paths() {
        return Arrays.stream(ViewFile.values()).map(f -> f.path).toList();
    }

    /** The file's text for the caller's container; the host's text on any failure; empty for an unknown path. */
    public byte[] render(String path, long callerPid) {
        ViewFile file = ViewFile.of(path);
        if (file == null) {
            return new byte[0];
        }
        HostInfo host = host();
        String text;
        try {
            text = withContainer(callerPid, host, file.parts,
                    resources -> file.renderer.render(resources, host, host.uptimeSeconds()),
                    () -> file.hostText.apply(host));
        } catch (RuntimeException e) {
            text = file.hostText.apply(host);
        }
        return text.getBytes(StandardCharsets.ISO_8859_1);
    }

    /** What sysinfo(2) should report to the caller. */
    public Sysinfo sysinfo(long callerPid) {
        HostInfo host = host();
        double now = host.uptimeSeconds();
        try {
            return withContainer(callerPid, host, EnumSet.of(ContainerResources.Part.MEMORY,
                            ContainerResources.Part.RUNNABLE, ContainerResources.Part.START),
                    resources -> Sysinfo.of(resources, host, now),
                    () -> Sysinfo.of(ContainerResources.ofHost(host), host, now));
        } catch (RuntimeException e) {
            return Sysinfo.of(ContainerResources.ofHost(host), host, now);
        }
    }

    /** The host CPU numbers the caller's container is shown, in order (for sched_getaffinity). */
    public int[] visibleCpus(long callerPid) {
        HostInfo host = host();
        try {
            return withContainer(callerPid, host, EnumSet.of(ContainerResources.Part.CPUS),
                    ContainerResources::visibleCpus, host::onlineCpus);
        } catch (RuntimeException e) {
            return host.onlineCpus();
        }
    }

    /** Reads the caller's container and applies {@code use}, or answers {@code orHost} without one. */
    private <T> T withContainer(long callerPid, HostInfo host, Set<ContainerResources.Part> parts,
            Function<ContainerResources, T> use, java.util.function.Supplier<T> orHost) {
        Optional<Cgroup> cgroup = resolver.resolve(callerPid, host);
        if (cgroup.isEmpty()) {
            return orHost.get();
        }
        ContainerResources resources = ContainerResources.read(cgroup.get(), host, options, parts);
        if (parts.contains(ContainerResources.Part.RUNNABLE) && resources.tasks().known()) {
            resources = resources.withLoads(sampleLoad(cgroup.get(), resources, host.uptimeSeconds()));
        }
        return use.apply(resources);
    }

    private Loads sampleLoad(Cgroup cgroup, ContainerResources resources, double now) {
        String key = cgroup.dir("cpu").or(() -> cgroup.dir("memory")).map(Path::toString).orElse("?");
        long start = resources.tasks().earliestStartTicks();
        return loads.sample(key, now, start < 0 ? -1 : (double) start / HostInfo.USER_HZ,
                resources.tasks().loadContributors());
    }

    private HostInfo host() {
        long now = System.nanoTime();
        HostSnapshot current = snapshot;
        if (current == null || now - current.takenAt() >= HOST_TTL_NANOS) {
            current = new HostSnapshot(HostInfo.at(hostRoot), now);
            snapshot = current;
        }
        return current.host();
    }
}
