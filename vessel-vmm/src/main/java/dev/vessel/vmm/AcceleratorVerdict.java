package dev.vessel.vmm;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;

/**
 * Which accelerator microVMs boot under on this host, decided by booting the real guest kernel and
 * initrd to the agent's READY under TCG and (when the quick probes of {@link Accelerator} pass)
 * under KVM, and why. Cached as JSON (see {@link AcceleratorSelector#DEFAULT_CACHE}) for the
 * {@link Key host configuration} it was measured on; a different key means measure again.
 *
 * @param verdict   "kvm" or "tcg" (QEMU's -accel name)
 * @param tcgBootMs milliseconds from starting QEMU to READY under TCG; null when it did not come up
 * @param kvmBootMs the same under KVM; null when it did not come up within its deadline or was not
 *                  booted
 * @param kvmBooted whether the guest was booted under KVM at all (not when the quick probes failed)
 * @param reason    why, in one line
 * @param key       the host configuration it holds for
 * @param measured  when (ISO-8601), or when it was last changed
 */
public record AcceleratorVerdict(String verdict, Long tcgBootMs, Long kvmBootMs, boolean kvmBooted, String reason,
        Key key, String measured) {
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    /**
     * What a verdict depends on: the host kernel (a new kvm module), what /dev/kvm is
     * ({@link Accelerator#describeDevice}), QEMU's version and the guest assets
     * ({@link GuestAssets#identity}).
     */
    public record Key(String hostKernel, String kvmDevice, String qemuVersion, String guestAssets) {}

    public Accelerator.Kind kind() {
        return "kvm".equals(verdict) ? Accelerator.Kind.KVM : Accelerator.Kind.TCG;
    }

    /**
     * The rule: KVM only when the guest came up under it and was not slower than under TCG (a
     * guest that came up only under KVM gets KVM).
     */
    public static Accelerator.Kind choose(Long kvmBootMs, Long tcgBootMs) {
        if (kvmBootMs == null) return Accelerator.Kind.TCG;
        if (tcgBootMs == null) return Accelerator.Kind.KVM;
        return kvmBootMs <= tcgBootMs ? Accelerator.Kind.KVM : Accelerator.Kind.TCG;
    }

    /** This verdict turned to TCG because a microVM did not come up under KVM. */
    public AcceleratorVerdict flippedToTcg(String why) {
        return new AcceleratorVerdict("tcg", tcgBootMs, kvmBootMs, kvmBooted, why, key, java.time.Instant.now().toString());
    }

    /** "tcg 3456 ms, kvm 812 ms", with "did not come up" or "not booted" where there is no time. */
    public String bootTimes() {
        return "tcg " + (tcgBootMs == null ? "did not come up" : tcgBootMs + " ms") + ", kvm "
                + (kvmBootMs != null ? kvmBootMs + " ms" : kvmBooted ? "did not come up within its deadline"
                : "not booted (the quick probes failed)");
    }

    public String toJson() {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(this) + "\n";
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public static AcceleratorVerdict fromJson(String json) throws IOException {
        AcceleratorVerdict v = JSON.readValue(json, AcceleratorVerdict.class);
        if (v.verdict() == null || !(v.verdict().equals("kvm") || v.verdict().equals("tcg")) || v.key() == null) {
            throw new IOException("not an accelerator verdict (verdict must be kvm or tcg, with a key)");
        }
        return v;
    }

    /** The verdict cached in {@code file}, if there is a readable one. */
    public static Optional<AcceleratorVerdict> read(Path file) {
        try {
            return Files.isRegularFile(file) ? Optional.of(fromJson(Files.readString(file))) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty(); // unreadable or damaged: measure again, and overwrite it
        }
    }

    /** Writes it to {@code file} atomically (a reader never sees half a verdict). */
    public void write(Path file) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        Files.writeString(tmp, toJson());
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
