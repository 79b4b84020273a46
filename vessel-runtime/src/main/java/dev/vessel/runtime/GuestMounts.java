package dev.vessel.runtime;

import dev.vessel.oci.OciException;
import dev.vessel.oci.OciSpec;
import dev.vessel.vmm.AgentClient;
import dev.vessel.vmm.QemuCommand;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What a bundle's mounts become in a microVM (docs/microvm.md, "Mounts"): every mount reaches the
 * guest, or {@link #plan} fails with one line naming it.
 *
 * <ul>
 * <li>the kernel's file systems (proc, sysfs, tmpfs, devpts, mqueue) are made by the agent;
 * cgroup ones are left out (the VM's size is the limit);
 * <li>a host directory bind-mounted is exported over virtio-9p (one {@link QemuCommand.Share} per
 * source directory, read-only in QEMU when every mount of it is), a single host file through its
 * directory's export, then bind-mounted alone in the guest: live both ways;
 * <li>/dev/shm is a tmpfs of the guest (the engine's host tmpfs cannot be shared with a guest's memory);
 * <li>the small files the engine generates (/etc/hosts, /etc/resolv.conf, /etc/hostname,
 * /run/.containerenv) go by value ({@link AgentClient.HostFile});
 * <li>a bind source inside the rootfs is bound inside the guest's rootfs.
 * </ul>
 * Options that cannot apply in a guest (propagation, crun's own) are collected in {@link #ignored}
 * for one log line.
 */
public record GuestMounts(List<AgentClient.Mount> mounts, List<QemuCommand.Share> shares, List<AgentClient.HostFile> files,
        List<String> ignored) {
    private static final Set<String> GUEST_TYPES = Set.of("proc", "sysfs", "tmpfs", "devpts", "mqueue");
    private static final Set<String> CGROUP_TYPES = Set.of("cgroup", "cgroup2");
    /** The files engines generate for a container: copied by value, as they are small and not the user's. */
    static final Set<String> ENGINE_FILES = Set.of("/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/run/.containerenv");
    /** Mount flags a 9p bind in the guest takes. */
    private static final Set<String> BIND_FLAGS = Set.of("ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec",
            "noatime", "relatime", "norelatime", "strictatime", "nodiratime");
    /** Options the guest's bind has anyway: it is a bind, and private (the agent makes every share's mount private). */
    private static final Set<String> IMPLIED = Set.of("bind", "rbind", "private", "rprivate");
    /** Host files larger than this are not copied into a guest by value. */
    static final long MAX_HOST_FILE = 64 << 10;
    /** virtio-mmio transports are few on QEMU's microvm: leave room for the serial, rootfs and NIC devices. */
    static final int MAX_SHARES = 16;
    static final String SHARE_TAG = "vol";

    public GuestMounts {
        mounts = List.copyOf(mounts);
        shares = List.copyOf(shares);
        files = List.copyOf(files);
        ignored = List.copyOf(ignored);
    }

    /** The plan for a container's mounts; an {@link OciException} naming the first mount that cannot be made. */
    public static GuestMounts plan(String id, List<OciSpec.Mount> ociMounts, Path rootfs) {
        List<AgentClient.Mount> mounts = new ArrayList<>();
        List<AgentClient.HostFile> files = new ArrayList<>();
        List<String> ignored = new ArrayList<>();
        Map<Path, String> tags = new LinkedHashMap<>();
        Map<Path, Boolean> readOnly = new LinkedHashMap<>();
        planEach(id, ociMounts, rootfs, mounts, ignored, (dest, source, real, flags) -> {
            if (Files.isRegularFile(real) && ENGINE_FILES.contains(dest)) {
                try {
                    if (Files.size(real) <= MAX_HOST_FILE) {
                        files.add(new AgentClient.HostFile(dest, Files.readString(real)));
                        return;
                    }
                } catch (IOException | RuntimeException e) { // not text: shared live below
                }
            }
            boolean isDir = Files.isDirectory(real);
            Path dir = isDir ? real : real.getParent();
            String sub = isDir ? "" : "/" + real.getFileName();
            String tag = tags.get(dir);
            if (tag == null) {
                if (tags.size() == MAX_SHARES) {
                    throw new OciException("container \"" + id + "\": bind mount " + source + " on " + dest + ": more than "
                            + MAX_SHARES + " host directories to share with a microVM");
                }
                tag = SHARE_TAG + tags.size();
                tags.put(dir, tag);
            }
            readOnly.merge(dir, flags.contains("ro"), Boolean::logicalAnd);
            mounts.add(new AgentClient.Mount(tag + sub, dest, "9p", flags));
        });
        List<QemuCommand.Share> shares = new ArrayList<>();
        tags.forEach((dir, tag) -> shares.add(new QemuCommand.Share(tag, dir, readOnly.get(dir))));
        return new GuestMounts(mounts, shares, files, ignored);
    }

    /** What a plan does with a bind of a host directory or regular file ({@code real}: its real path). */
    interface HostBind {
        void add(String dest, Path source, Path real, List<String> flags);
    }

    /**
     * The planning a microVM's own container and a pod's later ones ({@link MicroVmPod#plan}) have in
     * common: the kernel's file systems made by the agent, cgroup mounts left out, /dev/shm a tmpfs
     * of the guest, a bind from inside the rootfs bound inside the guest's, the rest checked (an
     * absolute source that exists, a directory or a regular file) and handed to {@code host}, which
     * shares it its own way. Adds to {@code mounts} and {@code ignored}.
     */
    static void planEach(String id, List<OciSpec.Mount> ociMounts, Path rootfs, List<AgentClient.Mount> mounts,
            List<String> ignored, HostBind host) {
        for (OciSpec.Mount m : ociMounts) {
            String type = m.type() == null ? "" : m.type();
            String dest = m.destination();
            if (!m.isBind()) {
                if (CGROUP_TYPES.contains(type)) continue;
                if (!GUEST_TYPES.contains(type)) {
                    throw new OciException("container \"" + id + "\": mount on " + dest + ": type \"" + type
                            + "\" cannot be made in a microVM (bind mounts, proc, sysfs, tmpfs, devpts and mqueue can)");
                }
                mounts.add(new AgentClient.Mount(m.source() == null ? type : m.source(), dest, type, m.options()));
                continue;
            }
            Path source = Path.of(m.source() == null || m.source().isEmpty() ? "." : m.source());
            if (!source.isAbsolute()) {
                throw new OciException("container \"" + id + "\": bind mount on " + dest + ": source \"" + m.source()
                        + "\" is not an absolute path");
            }
            List<String> flags = flags(m, dest, ignored);
            if (dest.equals("/dev/shm")) {
                List<String> shm = new ArrayList<>(flags.stream().filter(f -> !f.equals("ro") && !f.equals("rw")).toList());
                shm.add("mode=1777");
                mounts.add(new AgentClient.Mount("shm", dest, "tmpfs", shm));
                continue;
            }
            if (source.normalize().startsWith(rootfs)) {
                mounts.add(new AgentClient.Mount("/" + rootfs.relativize(source.normalize()), dest, "bind", new ArrayList<>(m.options())));
                continue;
            }
            Path real;
            try {
                real = source.toRealPath();
            } catch (IOException e) {
                throw new OciException("container \"" + id + "\": bind mount " + source + " on " + dest + ": no such file or directory");
            }
            if (!Files.isDirectory(real) && !Files.isRegularFile(real)) {
                throw new OciException("container \"" + id + "\": bind mount " + source + " on " + dest
                        + ": only directories and regular files can be shared with a microVM");
            }
            host.add(dest, source, real, flags);
        }
    }

    /** The options of a bind that the guest applies; the others noted in {@code ignored} as "DEST (opt, …)". */
    private static List<String> flags(OciSpec.Mount m, String dest, List<String> ignored) {
        List<String> flags = new ArrayList<>();
        Set<String> dropped = new LinkedHashSet<>();
        for (String o : m.options()) {
            if (BIND_FLAGS.contains(o)) flags.add(o);
            else if (!IMPLIED.contains(o)) dropped.add(o);
        }
        if (!dropped.isEmpty()) ignored.add(dest + " (" + String.join(", ", dropped) + ")");
        return flags;
    }
}
