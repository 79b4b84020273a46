package dev.vessel.view;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The resource view's entry point, for the FUSE server and the seccomp listener: the text of a
 * /proc or /sys file, the sysinfo(2) numbers and the CPU list, each for the calling process's
 * container. It never throws: a caller whose cgroup cannot be resolved (exited, not in a container,
 * files unreadable) gets the host's own values. Thread-safe.
 */
public final class ResourceView {
    /** Host texts younger than this are reused: the fields taken from them barely move in 100 ms. */
    private static final long HOST_TTL_NANOS = 100_000_000L;
    /**
     * A container's rendered file is reused this long, for every process of the container: a tool
     * reading a file in a loop costs no cgroup reads. The FUSE server's cached files add as much
     * again (the kernel's attribute timeout), so a change is seen within 100 ms. The kernel's own
     * memory.stat is refreshed only every 2 s; memory.current, which the usage comes from, at once.
     */
    private static final long RENDERED_TTL_NANOS = 50_000_000L;
    private static final int MAX_RENDERED = 4096;

    private record HostSnapshot(HostInfo host, long takenAt) {}

    private record RenderedKey(String cgroup, ViewFile file) {}

    private record Rendered(byte[] bytes, long renderedAt) {}

    private final Path hostRoot;
    private final ViewOptions options;
    private final CgroupResolver resolver;
    private final LoadTracker loads = new LoadTracker();
    private volatile HostSnapshot snapshot;
    private final Map<RenderedKey, Rendered> rendered = new ConcurrentHashMap<>();
    /** A container directory's cgroup, as its last reader inside a container had it. */
    private final Map<Long, CgroupResolver.Resolved> containers = new ConcurrentHashMap<>();

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
        return render(path, callerPid, -1);
    }

    /**
     * The file's text for the container whose view directory is number {@code container} (-1:
     * none), read by {@code callerPid}. Only that container's processes see the directory, so the
     * caller's cgroup is the container's; a reader outside any container (root on the host looking
     * in) is shown the container's last known text rather than the host's, which the kernel would
     * otherwise cache for the container's processes too.
     */
    public byte[] render(String path, long callerPid, long container) {
        ViewFile file = ViewFile.of(path);
        if (file == null) {
            return new byte[0];
        }
        HostInfo host = host();
        try {
            Optional<CgroupResolver.Resolved> cgroup = resolver.resolve(callerPid, host);
            if (container >= 0) {
                if (cgroup.isPresent()) {
                    if (containers.size() >= MAX_RENDERED && !containers.containsKey(container)) {
                        containers.clear();
                    }
                    containers.put(container, cgroup.get());
                } else {
                    cgroup = Optional.ofNullable(containers.get(container));
                }
            }
            if (cgroup.isEmpty()) {
                return bytes(file.hostText.apply(host));
            }
            long now = System.nanoTime();
            RenderedKey key = new RenderedKey(cgroup.get().key(), file);
            Rendered cached = rendered.get(key);
            if (cached != null && now - cached.renderedAt() < RENDERED_TTL_NANOS) {
                return cached.bytes().clone();
            }
            ContainerResources resources = read(cgroup.get(), host, file.parts);
            byte[] bytes = bytes(file.renderer.render(resources, host, host.uptimeSeconds()));
            remember(key, new Rendered(bytes, now));
            return bytes.clone();
        } catch (RuntimeException e) {
            return bytes(file.hostText.apply(host));
        }
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
            Function<ContainerResources, T> use, Supplier<T> orHost) {
        Optional<CgroupResolver.Resolved> cgroup = resolver.resolve(callerPid, host);
        return cgroup.isEmpty() ? orHost.get() : use.apply(read(cgroup.get(), host, parts));
    }

    /** The container's numbers, with its load averages when the task states were read. */
    private ContainerResources read(CgroupResolver.Resolved cgroup, HostInfo host, Set<ContainerResources.Part> parts) {
        ContainerResources resources = ContainerResources.read(cgroup.cgroup(), host, options, parts);
        if (parts.contains(ContainerResources.Part.RUNNABLE) && resources.tasks().known()) {
            long start = resources.tasks().earliestStartTicks();
            resources = resources.withLoads(loads.sample(cgroup.key(), host.uptimeSeconds(),
                    start < 0 ? -1 : (double) start / HostInfo.USER_HZ, resources.tasks().loadContributors()));
        }
        return resources;
    }

    private void remember(RenderedKey key, Rendered value) {
        if (rendered.size() >= MAX_RENDERED) {
            rendered.values().removeIf(r -> value.renderedAt() - r.renderedAt() >= RENDERED_TTL_NANOS);
        }
        rendered.put(key, value);
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.ISO_8859_1);
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
