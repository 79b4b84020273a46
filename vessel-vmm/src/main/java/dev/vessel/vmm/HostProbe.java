package dev.vessel.vmm;

import dev.vessel.linux.Libc;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Facts about the host that the QEMU command line needs, each found once per process. */
public final class HostProbe {
    private HostProbe() {}

    private static volatile Long tscKhz;
    private static volatile String qemuHelp;
    private static volatile String qemuVersion;

    private static final Pattern KMSG_TSC = Pattern.compile(
            "tsc: (?:Refined TSC clocksource calibration|Detected|Detected and using)[^0-9]*([0-9]+)\\.([0-9]{3}) MHz");
    private static final Pattern CPUINFO_MHZ = Pattern.compile("(?m)^cpu MHz\\s*:\\s*([0-9]+)(?:\\.([0-9]+))?");

    /**
     * The host TSC's frequency in kHz, for the guest's {@code tsc_early_khz} (a TCG guest's TSC
     * ticks at the host's; so does a KVM guest's by default). From the kernel's own calibration
     * where it can be read (sysfs {@code tsc_freq_khz} on kernels that have it, else the "tsc:"
     * lines of the kernel log), else /proc/cpuinfo's "cpu MHz"; 0 when nothing says.
     */
    public static long tscKhz() {
        Long k = tscKhz;
        if (k == null) tscKhz = k = findTscKhz();
        return k;
    }

    private static long findTscKhz() {
        try {
            Path sysfs = Path.of("/sys/devices/system/cpu/cpu0/tsc_freq_khz");
            if (Files.isReadable(sysfs)) return Long.parseLong(Files.readString(sysfs).strip());
        } catch (IOException | NumberFormatException ignored) {
            // fall through
        }
        long fromLog = tscFromKernelLog(readKernelLog());
        if (fromLog > 0) return fromLog;
        try {
            return tscFromCpuinfo(Files.readString(Path.of("/proc/cpuinfo")));
        } catch (IOException e) {
            return 0;
        }
    }

    /** The last "tsc:" frequency in a kernel log (the refined calibration comes after the first guess). */
    static long tscFromKernelLog(String log) {
        Matcher m = KMSG_TSC.matcher(log);
        long khz = 0;
        while (m.find()) khz = Long.parseLong(m.group(1)) * 1000 + Long.parseLong(m.group(2));
        return khz;
    }

    static long tscFromCpuinfo(String cpuinfo) {
        Matcher m = CPUINFO_MHZ.matcher(cpuinfo);
        if (!m.find()) return 0;
        String frac = m.group(2) == null ? "000" : (m.group(2) + "000").substring(0, 3);
        return Long.parseLong(m.group(1)) * 1000 + Long.parseLong(frac);
    }

    /** The records still in /dev/kmsg (root only; empty when unreadable). */
    private static String readKernelLog() {
        int fd = Libc.open("/dev/kmsg", Libc.O_RDONLY | Libc.O_NONBLOCK | Libc.O_CLOEXEC);
        if (fd < 0) return "";
        StringBuilder log = new StringBuilder();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(8192);
            for (int records = 0; records < 100_000; records++) {
                long n = Libc.read(fd, buffer, buffer.byteSize());
                if (n == -Libc.EPIPE) continue; // overwritten while reading: carry on with the next
                if (n <= 0) break;
                log.append(new String(buffer.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                        StandardCharsets.UTF_8));
            }
        } finally {
            Libc.close(fd);
        }
        return log.toString();
    }

    /** Whether {@code qemu-system-x86_64 -help} lists {@code -sandbox} (QEMU built with seccomp). */
    public static boolean qemuSupportsSandbox(String binary) {
        return qemuHelp(binary).lines().anyMatch(l -> l.startsWith("-sandbox"));
    }

    /** "QEMU emulator version 7.2.22 (…)", or empty when QEMU is not installed. */
    public static Optional<String> qemuVersion(String binary) {
        String v = qemuVersion;
        if (v == null) qemuVersion = v = output(binary, "--version").lines().findFirst().orElse("");
        return v.isEmpty() ? Optional.empty() : Optional.of(v.replaceFirst("^QEMU emulator version ", ""));
    }

    private static String qemuHelp(String binary) {
        String h = qemuHelp;
        if (h == null) qemuHelp = h = output(binary, "-help");
        return h;
    }

    private static String output(String binary, String arg) {
        try {
            dev.vessel.linux.Command.Result r = dev.vessel.linux.Command.run(List.of(binary, arg), "", java.time.Duration.ofSeconds(10));
            return r.status() == 0 ? r.output() : "";
        } catch (IOException e) {
            return "";
        }
    }
}
