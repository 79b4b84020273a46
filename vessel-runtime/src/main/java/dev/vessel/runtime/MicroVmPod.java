package dev.vessel.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vessel.linux.CgroupDir;
import dev.vessel.linux.Command;
import dev.vessel.linux.Log;
import dev.vessel.linux.Tools;
import dev.vessel.oci.OciSpec;
import dev.vessel.vmm.AgentClient;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Kubernetes' pod model for microVMs, as Kata runs it (docs/microvm.md, "Pods"): the CRI
 * annotations on each container's config.json say whether it is a pod's sandbox (the pause
 * container, which boots the pod's VM) or a later container of the pod, which runs inside that
 * VM. virtio-mmio has no hotplug, so a later container's rootfs and volumes reach the guest
 * through one host directory per pod, its share, exported once over 9p ({@code multidevs=remap})
 * and made a shared mount before QEMU starts: the host bind-mounts into it what each container
 * needs, and QEMU sees those mounts as they are made.
 */
final class MicroVmPod {
    /** containerd's CRI plugin (1.6): {@code sandbox} or {@code container}, and the sandbox's id. */
    static final String CRI_TYPE = "io.kubernetes.cri.container-type";
    static final String CRI_SANDBOX_ID = "io.kubernetes.cri.sandbox-id";
    /** CRI-O's. */
    static final String CRIO_TYPE = "io.kubernetes.cri-o.ContainerType";
    static final String CRIO_SANDBOX_ID = "io.kubernetes.cri-o.SandboxID";
    /** The pod's size as containerd 1.6 passes the kubelet's (1.23+) PodSandboxConfig resources; absent or 0: none. */
    static final String CRI_SANDBOX_MEMORY = "io.kubernetes.cri.sandbox-memory";
    static final String CRI_SANDBOX_CPU_QUOTA = "io.kubernetes.cri.sandbox-cpu-quota";
    static final String CRI_SANDBOX_CPU_PERIOD = "io.kubernetes.cri.sandbox-cpu-period";
    /** Where each pod's share is: under /run, never in a run dir (removing one must never walk into a mount). */
    static final Path PODS_DIR = Path.of("/run/vessel/pods");
    static final String SHARE_TAG = "pod";
    /** In the share: each container's rootfs, and the volumes (one path per host source: two containers' emptyDir meet). */
    static final String ROOTS = "c", VOLUMES = "v";

    private MicroVmPod() {}

    enum Role { SANDBOX, CONTAINER, NONE }

    /** What the engine's annotations say of a container's place in a pod. */
    record Annotations(Role role, String sandboxId, String typeKey, String sandboxKey, Long memory, Long cpuQuota, Long cpuPeriod) {
        static Annotations of(Map<String, String> annotations) {
            String typeKey = annotations.containsKey(CRI_TYPE) ? CRI_TYPE : annotations.containsKey(CRIO_TYPE) ? CRIO_TYPE : null;
            String sandboxKey = typeKey == null ? null : typeKey.equals(CRI_TYPE) ? CRI_SANDBOX_ID : CRIO_SANDBOX_ID;
            String type = typeKey == null ? "" : annotations.get(typeKey).strip();
            Role role = switch (type) {
                case "sandbox" -> Role.SANDBOX;
                case "container" -> Role.CONTAINER;
                default -> Role.NONE;
            };
            String sandbox = sandboxKey == null ? null : annotations.get(sandboxKey);
            if (sandbox != null && sandbox.isBlank()) sandbox = null;
            return new Annotations(role, sandbox == null ? null : sandbox.strip(), typeKey, sandboxKey,
                    positive(annotations.get(CRI_SANDBOX_MEMORY)), positive(annotations.get(CRI_SANDBOX_CPU_QUOTA)),
                    positive(annotations.get(CRI_SANDBOX_CPU_PERIOD)));
        }

        /** A later container of a pod: it runs in its sandbox's VM. */
        boolean joins() {
            return role == Role.CONTAINER && sandboxId != null;
        }

        private static Long positive(String value) {
            if (value == null) return null;
            try {
                long v = Long.parseLong(value.strip());
                return v > 0 ? v : null;
            } catch (NumberFormatException e) {
                return null;
            }
        }
    }

    /** The pod VM's size and where it came from (said in the daemon's log). */
    record Size(long memoryBytes, int vcpus, String source) {}

    /**
     * The pod's size: the pod cgroup's limits where the kubelet set them (the sum of its
     * containers' limits plus the RuntimeClass overhead), else the CRI sizing annotations, else
     * the configured default; memory and CPUs are chosen apart (a pod may limit one only).
     * {@code cgroupMemory}/{@code cgroupQuota}: null where the pod cgroup sets none.
     */
    static Size size(Long cgroupMemory, Long cgroupQuota, Long cgroupPeriod, Annotations annotations, long defaultMemory,
            int defaultCpus) {
        long memory;
        String memoryFrom;
        if (cgroupMemory != null && cgroupMemory > 0) {
            memory = cgroupMemory;
            memoryFrom = "the pod cgroup";
        } else if (annotations.memory() != null) {
            memory = annotations.memory();
            memoryFrom = CRI_SANDBOX_MEMORY;
        } else {
            memory = defaultMemory;
            memoryFrom = "pod_memory";
        }
        int vcpus;
        String cpusFrom;
        if (cgroupQuota != null && cgroupQuota > 0) {
            vcpus = cpus(cgroupQuota, cgroupPeriod);
            cpusFrom = "the pod cgroup";
        } else if (annotations.cpuQuota() != null) {
            vcpus = cpus(annotations.cpuQuota(), annotations.cpuPeriod());
            cpusFrom = CRI_SANDBOX_CPU_QUOTA;
        } else {
            vcpus = Math.max(1, defaultCpus);
            cpusFrom = "pod_cpus";
        }
        return new Size(memory, vcpus, "memory from " + memoryFrom + ", CPUs from " + cpusFrom);
    }

    private static int cpus(long quota, Long period) {
        long p = period == null || period <= 0 ? 100_000 : period;
        return (int) Math.max(1, (quota + p - 1) / p);
    }

    /** {@link #size} with the limits of the pod cgroup: the parent of the sandbox's {@code linux.cgroupsPath}. */
    static Size size(JsonNode config, Annotations annotations, long defaultMemory, int defaultCpus) {
        Long memory = null, quota = null, period = null;
        String path = config.path("linux").path("cgroupsPath").asText("");
        if (!path.isBlank()) {
            String parent = Path.of("/", CgroupDir.ociPath(path)).getParent().toString();
            try {
                if (!parent.equals("/")) {
                    CgroupDir pod = CgroupDir.at(parent);
                    if (pod.isUnified()) {
                        memory = number(pod, "memory", "memory.max", 0);
                        quota = number(pod, "cpu", "cpu.max", 0);
                        period = number(pod, "cpu", "cpu.max", 1);
                    } else {
                        memory = number(pod, "memory", "memory.limit_in_bytes", 0);
                        if (memory != null && memory >= (1L << 62)) memory = null; // v1's "unlimited"
                        quota = number(pod, "cpu", "cpu.cfs_quota_us", 0);
                        period = number(pod, "cpu", "cpu.cfs_period_us", 0);
                    }
                }
            } catch (IOException | RuntimeException e) {
                Log.info("pod sizing: the pod cgroup " + parent + " cannot be read (" + e.getMessage() + ")");
            }
        }
        return size(memory, quota, period, annotations, defaultMemory, defaultCpus);
    }

    /** Word {@code index} of a cgroup file as a number; null when the file is absent, "max" or not a number. */
    private static Long number(CgroupDir cg, String controller, String file, int index) throws IOException {
        Path dir = cg.dir(controller).orElse(null);
        if (dir == null || !Files.exists(dir.resolve(file))) return null;
        String[] words = Files.readString(dir.resolve(file)).strip().split("\\s+");
        if (words.length <= index) return null;
        try {
            long v = Long.parseLong(words[index]);
            return v > 0 ? v : null;
        } catch (NumberFormatException e) {
            return null; // max
        }
    }

    // ---- the share ----

    static Path shareDir(Path runDir) {
        return PODS_DIR.resolve(runDir.getFileName());
    }

    /** Makes the pod's share and a shared mount of it (bound onto itself), so that mounts made under it later reach QEMU. */
    static void makeShare(Path share) throws IOException {
        Files.createDirectories(share.resolve(ROOTS));
        Files.createDirectories(share.resolve(VOLUMES));
        mount(List.of("--bind", share.toString(), share.toString()));
        mount(List.of("--make-shared", share.toString()));
    }

    /**
     * Removes the share: every mount under it detached first; its directories go only once no
     * mount is left there (a removal never walks into a container's rootfs or a user's volume).
     */
    static boolean removeShare(Path share) {
        if (!Files.exists(share)) return true;
        for (int i = 0; i < 3 && !mountsUnder(share).isEmpty(); i++) {
            for (String m : mountsUnder(share).reversed()) umount(Path.of(m));
        }
        List<String> left = mountsUnder(share);
        if (!left.isEmpty()) {
            Log.info("pod share " + share + ": not removed, still mounted: " + String.join(", ", left));
            return false;
        }
        return MicroVmDriver.deleteTree(share);
    }

    /** A container's mount of the share: {@code rel} in it made a bind mount of {@code source} (a directory or a file). */
    static void bind(Path share, String rel, Path source) throws IOException {
        Path at = share.resolve(rel);
        Files.createDirectories(at.getParent());
        if (Files.isDirectory(source)) Files.createDirectories(at);
        else if (!Files.exists(at)) Files.createFile(at);
        mount(List.of("--rbind", source.toString(), at.toString()));
    }

    /**
     * Undoes one {@link #bind} (the topmost mount at {@code rel}: two containers that share a
     * volume each mount it once, and each delete takes one away); the mount point goes with the
     * last one.
     */
    static void unbind(Path share, String rel) {
        Path at = share.resolve(rel);
        if (!mountsUnder(at).isEmpty()) umount(at);
        if (mountsUnder(at).isEmpty()) {
            try {
                Files.deleteIfExists(at); // empty: nothing is mounted on it any more
            } catch (IOException e) {
                Log.info("pod share: " + at + " not removed: " + e.getMessage());
            }
        }
    }

    /** The mount points at or under {@code path} (from this process's mount table), in mount order. */
    static List<String> mountsUnder(Path path) {
        List<String> found = new ArrayList<>();
        String p = path.toString();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                String[] f = line.split(" ");
                if (f.length < 5) continue;
                String point = f[4].replace("\\040", " ");
                if (point.equals(p) || point.startsWith(p + "/")) found.add(point);
            }
        } catch (IOException e) {
            Log.info("cannot read the mount table: " + e.getMessage());
        }
        return found;
    }

    private static void mount(List<String> args) throws IOException {
        List<String> argv = new ArrayList<>(List.of(Tools.find("mount")));
        argv.addAll(args);
        Command.Result r = Command.run(argv, "", Duration.ofSeconds(10));
        if (r.status() != 0) throw new IOException("mount " + String.join(" ", args) + ": " + r.firstLine());
    }

    private static void umount(Path at) {
        try {
            Command.Result r = Command.run(List.of(Tools.find("umount"), "-l", at.toString()), "", Duration.ofSeconds(10));
            if (r.status() != 0) Log.info("umount " + at + ": " + r.firstLine());
        } catch (IOException e) {
            Log.info("umount " + at + ": " + e.getMessage());
        }
    }

    // ---- a later container's mounts ----

    /**
     * What a later container's mounts become in the pod's guest: each host path bind-mounted goes
     * through the share ({@code binds}: path in the share → host source; mount lines of type "pod"),
     * at a path that depends on the source only, so that two containers of a pod given the same
     * host directory (an emptyDir) use the same guest path. The engine's small files (hosts,
     * resolv.conf) go the same way, live. The rest is as for a microVM's own container
     * ({@link GuestMounts}): the kernel's file systems, /dev/shm a tmpfs of the guest, cgroup
     * mounts left out, a bind from inside the rootfs bound inside the guest's.
     */
    record Plan(List<AgentClient.Mount> mounts, Map<String, Path> binds, List<String> ignored) {}

    static Plan plan(String id, List<OciSpec.Mount> ociMounts, Path rootfs) {
        List<AgentClient.Mount> mounts = new ArrayList<>();
        Map<String, Path> binds = new LinkedHashMap<>();
        List<String> ignored = new ArrayList<>();
        GuestMounts.planEach(id, ociMounts, rootfs, mounts, ignored, (dest, source, real, flags) -> {
            String rel = VOLUMES + "/" + SandboxStore.hash(real.toString());
            binds.putIfAbsent(rel, real);
            mounts.add(new AgentClient.Mount(rel, dest, "pod", flags));
        });
        return new Plan(sharedShm(mounts), binds, ignored);
    }

    /** The agent's mount type for the pod's one /dev/shm (a tmpfs its sandbox's CREATE makes). */
    static final String SHM_TYPE = "podshm";

    /**
     * The pod's containers share one /dev/shm, as under runc, where the engine binds the
     * sandbox's shm into each container (POSIX shared memory across the pod: write in one, read
     * in the other): the guest tmpfs {@link GuestMounts} plans at /dev/shm becomes the pod's
     * (type {@value #SHM_TYPE}), with the mount's flags; its size is the pod's (64 MiB, containerd's).
     */
    static List<AgentClient.Mount> sharedShm(List<AgentClient.Mount> mounts) {
        return mounts.stream().map(m -> !m.destination().equals("/dev/shm") || !m.type().equals("tmpfs") ? m
                : new AgentClient.Mount("shm", m.destination(), SHM_TYPE,
                        m.options().stream().filter(o -> !o.startsWith("mode=") && !o.startsWith("size=")).toList())).toList();
    }

    /**
     * Whether a pod's container is to share the pod's PID namespace (Kubernetes'
     * shareProcessNamespace, CRI's NamespaceOption pid=POD): containerd then names the sandbox's
     * namespace by path ({@code /proc/PID/ns/pid}); a pid namespace without a path is one of its own.
     */
    static boolean sharesPids(OciSpec oci) {
        return oci.linux().namespaces().stream().anyMatch(ns -> ns.type().equals("pid") && ns.path() != null && !ns.path().isEmpty());
    }
}
