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

    /** One line of {@code vessel doctor} as data ({@code vessel doctor --json}); {@code fix} is null when nothing is missing. */
    public record Check(String name, String value, String fix) {
        private static final String FIX = " — fix: ";

        /** "name: value — fix: fix" → its parts (a line without ": " is all value, named ""). */
        public static Check parse(String line) {
            int colon = line.indexOf(": ");
            String name = colon < 0 ? "" : line.substring(0, colon);
            String rest = colon < 0 ? line : line.substring(colon + 2);
            int fix = rest.indexOf(FIX);
            return fix < 0 ? new Check(name, rest, null)
                    : new Check(name, rest.substring(0, fix), rest.substring(fix + FIX.length()));
        }
    }

    /** The lines as a JSON array of {@link Check}s. */
    public static String json(List<String> lines) {
        try {
            return new com.fasterxml.jackson.databind.ObjectMapper().writerWithDefaultPrettyPrinter()
                    .writeValueAsString(lines.stream().map(Check::parse).toList()) + "\n";
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    public static List<String> lines(GuestAssets assets) {
        String qemu = "qemu-system-x86_64";
        return lines(assets, qemu, new AcceleratorSelector(AcceleratorSelector.Mode.AUTO, qemu, assets,
                AcceleratorSelector.DEFAULT_CACHE, Path.of("/dev/kvm"), false, java.time.Duration.ofSeconds(60)));
    }

    /** The lines, the accelerator's from {@code accelerators} (its cached verdict: doctor boots nothing). */
    public static List<String> lines(GuestAssets assets, String qemu, AcceleratorSelector accelerators) {
        List<String> out = new ArrayList<>(accelerators.doctorLines());
        out.add(file("kernel", assets.kernel()));
        out.add(file("initrd", assets.initrd()));
        Optional<String> version = HostProbe.qemuVersion(qemu);
        out.add("qemu: " + version.map(v -> qemu + ", " + v + (HostProbe.qemuSupportsSandbox(qemu) ? ", -sandbox" : ", no -sandbox"))
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
