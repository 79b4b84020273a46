package dev.vessel.vmm;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The lines of {@code vessel doctor}: one {@code name: value} a line, with the fix after " — fix: "
 * where something is missing.
 */
public final class Doctor {
    private Doctor() {}

    public static List<String> lines(GuestAssets assets) {
        return lines(assets, "qemu-system-x86_64");
    }

    public static List<String> lines(GuestAssets assets, String qemu) {
        List<String> out = new ArrayList<>();
        Accelerator accel = Accelerator.detect();
        out.add("accelerator: " + accel.describe()
                + (accel.isKvm() ? "" : " — fix: run on a host (or a VM with nested virtualisation) whose /dev/kvm"
                        + " runs ordinary guests"));
        out.add(file("kernel", assets.kernel()));
        out.add(file("initrd", assets.initrd()));
        Optional<String> version = HostProbe.qemuVersion(qemu);
        out.add("qemu: " + version.map(v -> v + (HostProbe.qemuSupportsSandbox(qemu) ? ", -sandbox" : ", no -sandbox"))
                .orElse("not found — fix: apt-get install qemu-system-x86"));
        out.add("fuse: " + (Files.exists(Path.of("/dev/fuse")) ? "/dev/fuse"
                : "no /dev/fuse — fix: modprobe fuse (the resource view needs it)"));
        out.add("cgroups: " + cgroupLayout(Path.of("/sys/fs/cgroup")));
        Optional<Path> runtime = onPath("crun").or(() -> onPath("runc"));
        out.add("runtime: " + runtime.map(Path::toString).orElse("neither crun nor runc found — fix: apt-get install crun"));
        out.add("vhost-vsock: " + (Files.exists(Path.of("/dev/vhost-vsock")) ? "/dev/vhost-vsock (agent over vsock)"
                : "absent, the agent uses virtio-serial (optional: modprobe vhost_vsock)"));
        return out;
    }

    private static String file(String name, Path p) {
        return name + ": " + (Files.isRegularFile(p) ? p.toString()
                : "missing " + p + " — fix: vessel assets build");
    }

    /** "v2 (unified)", "hybrid (v1 controllers, v2 at unified/)" or "v1". */
    static String cgroupLayout(Path root) {
        if (Files.exists(root.resolve("cgroup.controllers"))) return "v2 (unified)";
        if (Files.exists(root.resolve("unified/cgroup.controllers"))) return "hybrid (v1 controllers, v2 at "
                + root.resolve("unified") + ")";
        if (Files.isDirectory(root.resolve("memory"))) return "v1";
        return "not mounted — fix: mount -t cgroup2 none " + root;
    }

    static Optional<Path> onPath(String name) {
        return dev.vessel.linux.Tools.lookup(name);
    }
}
