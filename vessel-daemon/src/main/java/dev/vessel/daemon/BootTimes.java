package dev.vessel.daemon;

import dev.vessel.runtime.MicroVmDriver;
import dev.vessel.runtime.MicroVmState;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;

/**
 * How long each microVM took to boot (QEMU's start to its agent answering), kept in the VM's run
 * directory so that a restarted daemon still shows it ({@code vessel_sandbox_boot_seconds}).
 */
final class BootTimes {
    static final String FILE = "boot-seconds";

    private BootTimes() {
    }

    /** Notes the boot time when a VM is up, then tells {@code next}. */
    static MicroVmDriver.Observer observing(MicroVmDriver.Observer next) {
        return new MicroVmDriver.Observer() {
            @Override
            public void booted(String id, MicroVmState vm) {
                ProcessHandle.of(vm.qemuPid()).flatMap(p -> p.info().startInstant()).ifPresent(start -> {
                    double seconds = Duration.between(start, Instant.now()).toMillis() / 1000.0;
                    try {
                        Files.writeString(Path.of(vm.runDir(), FILE), seconds + "\n");
                    } catch (IOException e) {
                        Vesseld.log("microvm " + id + ": cannot note its boot time: " + e.getMessage());
                    }
                });
                next.booted(id, vm);
            }

            @Override
            public void destroyed(Path runDir) {
                next.destroyed(runDir);
            }
        };
    }

    /** The boot time noted for a VM, or null. */
    static Double read(MicroVmState vm) {
        if (vm.runDir() == null) return null;
        try {
            return Double.parseDouble(Files.readString(Path.of(vm.runDir(), FILE)).strip());
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
