package dev.vessel.daemon;

import dev.vessel.runtime.vm.VmDriver;
import dev.vessel.vmm.Accelerator;
import dev.vessel.linux.Tools;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The daemon's one {@link VmDriver} (full VMs), for the command line ({@link VmCommand}) and the
 * management API. Its directory is {@value #DEFAULT_DIR}, or {@code $VESSEL_VMS_DIR} (a second
 * daemon of tests, or of a migration's target, keeps its VMs apart).
 */
final class VmService {
    static final String DEFAULT_DIR = "/var/lib/vessel/vms";
    static final String DIR_ENV = "VESSEL_VMS_DIR";
    private static volatile VmDriver driver;
    /** The management API's event bus, once it has started (the driver's events go nowhere before). */
    private static volatile SandboxEvents events;

    private VmService() {}

    /** Made at the daemon's start, which re-adopts the QEMUs a previous daemon left running. */
    static synchronized VmDriver start(Settings settings) {
        if (driver == null) {
            String dir = System.getenv().getOrDefault(DIR_ENV, "");
            driver = new VmDriver(Path.of(dir.isEmpty() ? DEFAULT_DIR : dir), settings.qemu(), () -> switch (settings.accelerator()) {
                case KVM -> Accelerator.Kind.KVM;
                case TCG -> Accelerator.Kind.TCG;
                // the quick probes, overruled by a real guest's verdict where one was measured (as vessel vmm does)
                default -> Accelerator.detect().kind();
            });
            String root = driver.root().toString();
            driver.events((type, name, status, reason) -> {
                SandboxEvents bus = events;
                if (bus != null) bus.publish(new SandboxEvents.Event(type, name, root, "vm", status, java.time.Instant.now().toString(), reason));
            });
            driver.migrationTargets(socket -> MigrationClient.at(Path.of(socket))); // a migration record names its target's socket
            driver.start();
        }
        return driver;
    }

    static void publishTo(SandboxEvents bus) {
        events = bus;
    }

    /** {@code vessel doctor}'s lines for full VMs: the tools they need, where their images are cached. */
    static List<String> doctorLines() {
        List<String> lines = new ArrayList<>();
        lines.add("vm firmware efi: " + VmDriver.OVMF.stream().filter(Files::isRegularFile).findFirst()
                .map(p -> p + " (OVMF)").orElse("OVMF is not installed: firmware efi is refused (apt-get install ovmf)"));
        for (String[] tool : List.of(new String[] {"genisoimage", "cloudInitNoCloud seeds", "genisoimage"},
                new String[] {"qemu-img", "disk overlays, emptyDisks", "qemu-utils"},
                new String[] {"skopeo", "containerDisks from a registry", "skopeo"})) {
            lines.add("vm " + tool[0] + ": " + Tools.lookup(tool[0]).map(Path::toString)
                    .orElse("not installed: no " + tool[1] + " (apt-get install " + tool[2] + ")"));
        }
        Path dir = Path.of(System.getenv().getOrDefault(DIR_ENV, "").isEmpty() ? DEFAULT_DIR : System.getenv(DIR_ENV));
        if (driver != null) dir = driver.root();
        Path cache = dir.resolve(".images");
        long images = 0, bytes = 0;
        if (Files.isDirectory(cache)) {
            try (var files = Files.list(cache)) {
                for (Path f : files.filter(f -> f.getFileName().toString().endsWith(".img")).toList()) {
                    images++;
                    bytes += Files.size(f);
                }
            } catch (java.io.IOException e) {
                // counted what could be
            }
        }
        lines.add("vm image cache: " + cache + " (" + images + (images == 1 ? " image, " : " images, ") + (bytes >> 20) + " MiB)");
        lines.add("vm directory: " + dir + (driver == null ? " (the VM service has not started)" : " (" + driver.names().size() + " VMs)"));
        return lines;
    }

    static VmDriver driver() {
        VmDriver d = driver;
        if (d == null) throw new IllegalStateException("the VM service has not started");
        return d;
    }

    static boolean started() {
        return driver != null;
    }
}
