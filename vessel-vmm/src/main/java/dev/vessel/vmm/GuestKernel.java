package dev.vessel.vmm;

import java.util.Locale;

/**
 * Which kernel a microVM guest boots (config {@code guest_kernel}, env {@code VESSEL_GUEST_KERNEL}):
 * Vessel's own, built from Debian's linux-source-6.1 with {@code guest-kernel.config}
 * ({@link KernelBuild}), or Debian's packaged one with its modules in the initrd.
 */
public enum GuestKernel {
    VESSEL(16), DEBIAN(48);

    private final int reservedMib;

    GuestKernel(int reservedMib) {
        this.reservedMib = reservedMib;
    }

    /**
     * What this kernel keeps of the guest's RAM besides 1/64 of it (its image, early allocations),
     * measured as RAM minus MemTotal: Debian's about 48 MiB, Vessel's (no modules, few drivers)
     * about 16 (308 MiB of RAM gives MemTotal 287.8 MiB).
     */
    public int reservedMib() {
        return reservedMib;
    }

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
