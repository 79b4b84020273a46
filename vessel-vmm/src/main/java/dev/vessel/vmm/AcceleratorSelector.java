package dev.vessel.vmm;

import dev.vessel.linux.Command;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The accelerator each microVM boots under. In mode {@code auto} it follows the
 * {@link AcceleratorVerdict}: read from the cache when its key matches this host configuration,
 * else measured once by booting the real guest (what {@code vessel assets build} does up front, so
 * that the first container does not pay it). The quick probes of {@link Accelerator} come first:
 * when they fail, the guest is not booted under KVM at all. A microVM that then does not come up
 * under KVM within {@link Choice#deadline()} is booted again under TCG and the verdict flips
 * ({@link #kvmFailed}). Modes {@code kvm} and {@code tcg} force one, measured or not.
 */
public final class AcceleratorSelector {
    /** Where the verdict is cached: Vessel's state directory, kept across reboots. */
    public static final Path DEFAULT_CACHE = Path.of("/var/lib/vessel/accelerator.json");
    /**
     * For tests only: {@code VESSEL_ACCELERATOR_PROBE=skip} makes the quick probes count as passed,
     * so that the KVM boot and its fallback can be tested on hosts whose KVM fails them (or that
     * have none), with a QEMU wrapper standing in for a KVM that hangs.
     */
    public static final String PROBE_ENV = "VESSEL_ACCELERATOR_PROBE";
    /** The RAM of a default microVM (a 256 MiB limit plus what the guest kernel keeps for itself). */
    static final int MEASURE_MEMORY_MIB = 308;
    /** A cached KVM verdict still gets at least this long at create before the fallback to TCG. */
    static final Duration MIN_KVM_DEADLINE = Duration.ofSeconds(10);

    public enum Mode {
        AUTO, KVM, TCG;

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** "auto", "kvm" or "tcg"; anything else is an IllegalArgumentException naming the choices. */
        public static Mode parse(String value) {
            for (Mode m : values()) {
                if (m.label().equals(value)) return m;
            }
            throw new IllegalArgumentException("unknown value \"" + value + "\" (use auto, kvm or tcg)");
        }
    }

    /**
     * What to boot a microVM under: {@code kind} within {@code deadline} (QEMU's start and the
     * agent's READY together); when {@code fallBack}, a KVM boot that misses it is retried under TCG.
     */
    public record Choice(Accelerator.Kind kind, Duration deadline, boolean fallBack, String why) {}

    private final Mode mode;
    private final String qemu;
    private final GuestAssets assets;
    private final Path cache;
    private final Path kvmDevice;
    private final boolean skipQuickProbes;
    private final Duration bootTimeout;
    private AcceleratorVerdict verdict; // the one in force, guarded by this
    private boolean cacheUnwritable;
    private String hostKernel, device; // the host's part of the key, found once

    /**
     * @param qemu        QEMU's binary (as {@link QemuCommand#binary})
     * @param bootTimeout how long a microVM may take to come up (the TCG measurement's deadline)
     */
    public AcceleratorSelector(Mode mode, String qemu, GuestAssets assets, Path cache, Path kvmDevice,
            boolean skipQuickProbes, Duration bootTimeout) {
        this.mode = mode;
        this.qemu = qemu;
        this.assets = assets;
        this.cache = cache;
        this.kvmDevice = kvmDevice;
        this.skipQuickProbes = skipQuickProbes;
        this.bootTimeout = bootTimeout;
    }

    public Mode mode() {
        return mode;
    }

    public Path cache() {
        return cache;
    }

    /**
     * The accelerator for the next microVM. In mode auto, measures first (saying so through
     * {@code progress}) when no verdict holds for this host configuration.
     */
    public synchronized Choice choose(Consumer<String> progress) {
        if (mode != Mode.AUTO) {
            Accelerator.Kind kind = mode == Mode.KVM ? Accelerator.Kind.KVM : Accelerator.Kind.TCG;
            return new Choice(kind, bootTimeout, false, "set to " + mode.label() + " (accelerator setting)");
        }
        AcceleratorVerdict v = current(progress);
        if (v.kind() == Accelerator.Kind.TCG) return new Choice(Accelerator.Kind.TCG, bootTimeout, false, v.reason());
        return new Choice(Accelerator.Kind.KVM, kvmDeadline(v.tcgBootMs(), bootTimeout), true, v.reason());
    }

    /**
     * How long a microVM gets under KVM before it is booted again under TCG: three times what TCG
     * took to boot the guest (KVM was measured faster, so a KVM boot slower than that is stuck),
     * at least {@link #MIN_KVM_DEADLINE}, at most the boot timeout.
     */
    static Duration kvmDeadline(Long tcgBootMs, Duration bootTimeout) {
        if (tcgBootMs == null) return bootTimeout;
        Duration d = Duration.ofMillis(3 * tcgBootMs);
        if (d.compareTo(MIN_KVM_DEADLINE) < 0) d = MIN_KVM_DEADLINE;
        return d.compareTo(bootTimeout) > 0 ? bootTimeout : d;
    }

    /**
     * The verdict for this host configuration: the cached one when its key matches, else a new
     * measurement (saved). What {@code vessel assets build} runs after building the assets.
     */
    public synchronized AcceleratorVerdict current(Consumer<String> progress) {
        AcceleratorVerdict.Key key = key();
        // the file first (a small read): a user who removed it asks for a new measurement
        AcceleratorVerdict cached = AcceleratorVerdict.read(cache).orElse(null);
        if (cached != null && cached.key().equals(key)) return verdict = cached;
        if (verdict != null && verdict.key().equals(key) && cacheUnwritable) return verdict;
        verdict = measure(key, progress);
        if (verdict.tcgBootMs() != null || verdict.kvmBootMs() != null) {
            try {
                verdict.write(cache);
                cacheUnwritable = false;
            } catch (IOException e) {
                cacheUnwritable = true; // then this daemon keeps it in memory
                progress.accept("accelerator: cannot cache the verdict in " + cache + ": " + e.getMessage());
            }
        } // else nothing booted (broken assets?): not cached, the next microVM measures again
        return verdict;
    }

    /** The cached verdict if it holds for this host configuration, without measuring. */
    public synchronized java.util.Optional<AcceleratorVerdict> cached() {
        AcceleratorVerdict.Key key = key();
        java.util.Optional<AcceleratorVerdict> file = AcceleratorVerdict.read(cache).filter(v -> v.key().equals(key));
        if (file.isEmpty() && cacheUnwritable && verdict != null && verdict.key().equals(key)) return java.util.Optional.of(verdict);
        return file;
    }

    /**
     * A microVM did not come up under KVM within its deadline: the verdict is TCG from now on (and
     * in the cache), with {@code why}. Returns the line to log.
     */
    public synchronized String kvmFailed(String why) {
        AcceleratorVerdict old = verdict != null ? verdict : AcceleratorVerdict.read(cache).orElse(null);
        String reason = "a microVM did not come up under KVM at create (" + why + "), so TCG from now on"
                + (old == null ? "" : "; measured before: " + old.bootTimes());
        verdict = old != null ? old.flippedToTcg(reason) : new AcceleratorVerdict("tcg", null, null, true, reason, key(),
                Instant.now().toString());
        try {
            verdict.write(cache);
        } catch (IOException e) {
            return "accelerator verdict flipped to tcg: " + reason + " (cannot write " + cache + ": " + e.getMessage() + ")";
        }
        return "accelerator verdict flipped to tcg in " + cache + ": " + reason;
    }

    /** The host configuration now. */
    synchronized AcceleratorVerdict.Key key() {
        if (hostKernel == null) {
            try {
                hostKernel = Files.readString(Path.of("/proc/sys/kernel/osrelease")).strip();
            } catch (IOException e) {
                hostKernel = "unknown";
            }
            device = Accelerator.describeDevice(kvmDevice);
        }
        return new AcceleratorVerdict.Key(hostKernel, device, HostProbe.qemuVersion(qemu).orElse("not found"),
                assets.identity());
    }

    /** What /dev/kvm is (see {@link Accelerator#describeDevice}). */
    public String deviceDescription() {
        return kvmDevice + ": " + key().kvmDevice();
    }

    private AcceleratorVerdict measure(AcceleratorVerdict.Key key, Consumer<String> progress) {
        progress.accept("accelerator: choosing KVM or TCG by booting the guest (once for this host configuration,"
                + " cached in " + cache + ") ...");
        String probeFailure = null;
        if (skipQuickProbes) {
            progress.accept("accelerator: quick KVM probes skipped (" + PROBE_ENV + "=skip, for tests)");
        } else {
            Accelerator quick = Accelerator.probe(kvmDevice, qemu);
            if (!quick.isKvm()) probeFailure = quick.reason();
        }
        progress.accept("accelerator: booting the guest under TCG ...");
        Boot tcg = bootToReady(Accelerator.Kind.TCG, bootTimeout);
        progress.accept("accelerator: TCG: " + tcg.describe());
        Boot kvm = null;
        if (tcg.ms() == null) {
            // broken assets, most likely: nothing to compare with, and no verdict is cached
            progress.accept("accelerator: no KVM boot either: the guest did not come up under TCG");
            String reason = "the guest did not come up under TCG (" + tcg.failure() + "): not cached, measured again"
                    + " next time";
            progress.accept("accelerator: tcg (" + reason + ")");
            return new AcceleratorVerdict("tcg", null, null, false, reason, key, Instant.now().toString());
        }
        if (probeFailure != null) {
            progress.accept("accelerator: no KVM boot: the quick probes failed: " + probeFailure);
        } else {
            // slower than TCG loses anyway: no need to wait longer than TCG took
            Duration deadline = Duration.ofMillis(tcg.ms());
            progress.accept("accelerator: booting the guest under KVM (deadline " + deadline.toMillis()
                    + " ms, the TCG time) ...");
            kvm = bootToReady(Accelerator.Kind.KVM, deadline);
            progress.accept("accelerator: KVM: " + kvm.describe());
        }
        Long kvmMs = kvm == null ? null : kvm.ms();
        Accelerator.Kind kind = AcceleratorVerdict.choose(kvmMs, tcg.ms());
        String reason;
        if (probeFailure != null) {
            reason = "the quick KVM probes failed: " + probeFailure;
        } else if (kvmMs == null) {
            reason = "under KVM the guest " + kvm.failure() + " (TCG: " + tcg.ms() + " ms)";
        } else {
            reason = "the guest came up in " + kvmMs + " ms under KVM and " + tcg.ms() + " ms under TCG"
                    + (kind == Accelerator.Kind.KVM ? "" : ": KVM is slower here");
        }
        AcceleratorVerdict v = new AcceleratorVerdict(kind.qemuName, tcg.ms(), kvmMs, kvm != null, reason, key,
                Instant.now().toString());
        progress.accept("accelerator: " + kind.qemuName + " (" + reason + ")");
        return v;
    }

    /** One boot: milliseconds to READY, or why it did not get there. */
    record Boot(Long ms, String failure) {
        String describe() {
            return ms != null ? "READY after " + ms + " ms" : failure;
        }
    }

    /**
     * Boots the guest (the daemon's QEMU command line for a default microVM, an empty directory as
     * its rootfs) under {@code kind} and times it from QEMU's start to the agent's READY; stops
     * QEMU at {@code deadline} at the latest.
     */
    Boot bootToReady(Accelerator.Kind kind, Duration deadline) {
        if (!assets.present()) return new Boot(null, "cannot boot: no guest kernel and initrd in " + assets.dir());
        Path dir = null;
        Process qemuProcess = null;
        try {
            dir = Files.createTempDirectory("vessel-accel-");
            Path rootfs = Files.createDirectory(dir.resolve("rootfs"));
            List<String> argv = new ArrayList<>(QemuCommand.builder().binary(qemu).memoryMib(MEASURE_MEMORY_MIB).vcpus(1)
                    .accelerator(kind).kernel(assets.kernel()).initrd(assets.initrd()).tscKhz(HostProbe.tscKhz())
                    .rootfs(rootfs).stateDir(dir).sandbox(HostProbe.qemuSupportsSandbox(qemu)).build());
            argv.replaceAll(a -> a.equals("-nographic") ? "-display" : a); // no terminal to take over
            argv.add(argv.indexOf("-display") + 1, "none");
            Path log = dir.resolve("qemu.log");
            long start = System.nanoTime();
            long end = start + deadline.toNanos();
            qemuProcess = Command.start(argv, ProcessBuilder.Redirect.to(log.toFile()));
            Path socket = dir.resolve(QemuCommand.AGENT_SOCKET);
            while (!Files.exists(socket)) {
                if (!qemuProcess.isAlive()) {
                    return new Boot(null, "did not boot: QEMU exited with status " + qemuProcess.exitValue() + ": "
                            + lastLine(log));
                }
                if (System.nanoTime() > end) {
                    return new Boot(null, "did not come up within " + deadline.toMillis() + " ms (QEMU had not started)");
                }
                Thread.sleep(10);
            }
            try (AgentClient agent = AgentClient.connect(socket, Duration.ofNanos(Math.max(1, end - System.nanoTime())))) {
                return new Boot(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start), null);
            } catch (VmmException e) {
                if (!qemuProcess.isAlive()) {
                    return new Boot(null, "did not boot: QEMU exited with status " + qemuProcess.exitValue() + ": "
                            + lastLine(log));
                }
                return new Boot(null, "did not come up within " + deadline.toMillis() + " ms (" + e.getMessage() + ")");
            }
        } catch (IOException e) {
            return new Boot(null, "cannot boot: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Boot(null, "interrupted");
        } finally {
            if (qemuProcess != null) {
                qemuProcess.destroyForcibly();
                try {
                    qemuProcess.waitFor(5, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            if (dir != null) {
                try {
                    GuestAssets.deleteTree(dir);
                } catch (IOException ignored) {
                    // a temporary directory left in /tmp
                }
            }
        }
    }

    private static String lastLine(Path log) {
        try {
            return Files.readAllLines(log).stream().filter(l -> !l.isBlank()).reduce((a, b) -> b).orElse("no output").strip();
        } catch (IOException e) {
            return "no output";
        }
    }

    /** {@code vessel doctor}'s lines: the accelerator, the boot times, the cache, the device, the mode. */
    public List<String> doctorLines() {
        List<String> out = new ArrayList<>();
        java.util.Optional<AcceleratorVerdict> v = cached();
        if (mode != Mode.AUTO) {
            out.add("accelerator: " + mode.label() + " (set by the accelerator setting / VESSEL_ACCELERATOR)");
        } else if (v.isPresent()) {
            out.add("accelerator: " + v.get().verdict() + " (" + v.get().reason() + ")"
                    + (v.get().kind() == Accelerator.Kind.KVM ? ""
                    : " — fix: run on a host (or a VM with nested virtualisation) whose /dev/kvm runs ordinary guests"));
        } else {
            out.add("accelerator: not measured yet for this host configuration (the first microVM measures it)"
                    + " — fix: vessel assets build");
        }
        out.add("accelerator boot times: " + v.map(AcceleratorVerdict::bootTimes).orElse("not measured"));
        out.add("accelerator verdict cache: " + cache + v.map(x -> " (measured " + x.measured() + ")")
                .orElse(Files.exists(cache) ? " (for another host configuration: measured again on next use)" : " (none)"));
        out.add("accelerator setting: " + mode.label() + (skipQuickProbes ? " (" + PROBE_ENV + "=skip: quick probes skipped)" : ""));
        out.add("kvm device: " + deviceDescription());
        return out;
    }
}
