package dev.vessel.oci;

import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;

/**
 * What the resource view adds to a container's config: bind mounts of the rendered files over
 * /proc and /sys, and the system calls trapped through the OCI seccomp listener.
 *
 * <p>Each container gets a directory of its own under {@code fuseRoot}, named by 12 random hex
 * digits: its files are the same for all its processes, so the kernel may cache them (the FUSE
 * server resolves the directory from its name alone, across daemon restarts too).
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

    private static final SecureRandom RANDOM = new SecureRandom();

    /** A new container's directory under {@link #fuseRoot}: 48 random bits, as 12 hex digits. */
    public Path newContainerDirectory() {
        byte[] bits = new byte[6];
        RANDOM.nextBytes(bits);
        return fuseRoot.resolve(HexFormat.of().formatHex(bits));
    }
}
