package dev.vessel.vmm;

import java.util.Locale;

/**
 * Which kernel a microVM guest boots (config {@code guest_kernel}, env {@code VESSEL_GUEST_KERNEL}):
 * Vessel's own, built from Debian's linux-source-6.1 with {@code guest-kernel.config}
 * ({@link KernelBuild}), or Debian's packaged one with its modules in the initrd.
 */
public enum GuestKernel {
    VESSEL, DEBIAN;

    public static GuestKernel parse(String value) {
        return switch (value) {
            case "vessel" -> VESSEL;
            case "debian" -> DEBIAN;
            default -> throw new IllegalArgumentException("\"" + value + "\" is not a guest kernel (use vessel or debian)");
        };
    }

    public String configName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
