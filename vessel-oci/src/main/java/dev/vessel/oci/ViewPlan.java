package dev.vessel.oci;

import java.nio.file.Path;
import java.util.List;

/**
 * What the resource view adds to a container's config: bind mounts of the rendered files over
 * /proc and /sys, and the system calls trapped through the OCI seccomp listener.
 *
 * @param fuseRoot where the view's FUSE file system is mounted on the host
 * @param files the absolute in-container paths it renders (e.g. /proc/meminfo)
 * @param listenerPath the daemon's seccomp listener socket
 * @param syscalls the system calls to trap (sysinfo; sched_getaffinity when asked for)
 */
public record ViewPlan(Path fuseRoot, List<String> files, Path listenerPath, List<String> syscalls) {
    /** Per-container opt-out. */
    public static final String ANNOTATION = "dev.vessel.view";
    /** Per-container opt-in to answering sched_getaffinity with the visible CPUs. */
    public static final String AFFINITY_ANNOTATION = "dev.vessel.view.affinity";
}
