package dev.vessel.daemon;

import dev.vessel.runtime.vm.VmDriver;
import dev.vessel.vmm.Accelerator;
import java.nio.file.Path;

/**
 * The daemon's one {@link VmDriver} (full VMs), for the command line ({@link VmCommand}) and the
 * management API. Its directory is {@value #DEFAULT_DIR}, or {@code $VESSEL_VMS_DIR} (a second
 * daemon of tests, or of a migration's target, keeps its VMs apart).
 */
final class VmService {
    static final String DEFAULT_DIR = "/var/lib/vessel/vms";
    static final String DIR_ENV = "VESSEL_VMS_DIR";
    private static volatile VmDriver driver;

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
            driver.start();
        }
        return driver;
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
