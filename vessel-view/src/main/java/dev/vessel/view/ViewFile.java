package dev.vessel.view;

import dev.vessel.view.ContainerResources.Part;
import java.util.EnumSet;
import java.util.Set;
import java.util.function.Function;

/** The files the view serves: where each lives, what it needs read, how it is drawn. */
enum ViewFile {
    MEMINFO("/proc/meminfo", EnumSet.of(Part.MEMORY), MeminfoRenderer::render, HostInfo::meminfo),
    CPUINFO("/proc/cpuinfo", EnumSet.of(Part.CPUS), CpuinfoRenderer::render, HostInfo::cpuinfo),
    STAT("/proc/stat", EnumSet.of(Part.CPUS, Part.CPU_USAGE, Part.START), StatRenderer::render, HostInfo::stat),
    UPTIME("/proc/uptime", EnumSet.of(Part.CPUS, Part.CPU_USAGE, Part.START), UptimeRenderer::render,
            HostInfo::uptime),
    LOADAVG("/proc/loadavg", EnumSet.of(Part.RUNNABLE, Part.START), LoadavgRenderer::render, HostInfo::loadavg),
    DISKSTATS("/proc/diskstats", EnumSet.of(Part.BLOCK_IO), DiskstatsRenderer::render, HostInfo::diskstats),
    SWAPS("/proc/swaps", EnumSet.of(Part.MEMORY), SwapsRenderer::render, HostInfo::swaps),
    CPU_ONLINE("/sys/devices/system/cpu/online", EnumSet.of(Part.CPUS), CpuOnlineRenderer::render,
            HostInfo::cpuOnline);

    /** A renderer: (the container's numbers, the host's texts, seconds since boot) → the file's text. */
    @FunctionalInterface
    interface Renderer {
        String render(ContainerResources resources, HostInfo host, double now);
    }

    final String path;
    final Set<Part> parts;
    final Renderer renderer;
    final Function<HostInfo, String> hostText;

    ViewFile(String path, Set<Part> parts, Renderer renderer, Function<HostInfo, String> hostText) {
        this.path = path;
        this.parts = parts;
        this.renderer = renderer;
        this.hostText = hostText;
    }

    static ViewFile of(String path) {
        for (ViewFile file : values()) {
            if (file.path.equals(path)) {
                return file;
            }
        }
        return null;
    }
}
