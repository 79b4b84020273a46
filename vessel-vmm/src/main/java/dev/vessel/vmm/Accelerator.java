package dev.vessel.vmm;

import dev.vessel.linux.Command;
import dev.vessel.linux.Libc;

import java.lang.foreign.Arena;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * KVM or TCG, and why. KVM is chosen only where it can really run a guest: /dev/kvm existing is
 * not enough (a kvm_pvm /dev/kvm, for one, runs only PVM-aware guests: it even runs real-mode
 * code, but not a kernel in long mode). The probe creates a VM and a vCPU through the KVM ioctls,
 * puts the vCPU straight into 64-bit long mode with identity-mapped 2 MiB pages, as a booted
 * kernel runs, and runs {@code mov dx,0x3f8; mov al,0x56; out dx,al; hlt}, expecting exactly
 * that port write and then the halt: a few milliseconds, no QEMU. That is not enough either (a
 * kvm_pvm host passes it, yet QEMU's {@code -cpu host} aborts setting an MSR and an ordinary
 * kernel hangs), so QEMU itself then runs {@code -M microvm -accel kvm -cpu host}, as a microVM
 * would, with a 64 KiB firmware whose reset vector writes to an {@code isa-debug-exit} port: QEMU
 * exits with status 85 when the vCPU ran (~60 ms). Cached for the life of the process.
 */
public record Accelerator(Kind kind, String reason) {
    public enum Kind {
        KVM("kvm", "host"), TCG("tcg", "max");

        /** QEMU's {@code -accel} and {@code -cpu} for this accelerator. */
        public final String qemuName;
        public final String cpu;

        Kind(String qemuName, String cpu) {
            this.qemuName = qemuName;
            this.cpu = cpu;
        }
    }

    private static volatile Accelerator detected;

    /**
     * The accelerator for this host (probed once per process), for what boots other kernels than
     * the microVM guest ({@code vessel vmm}, tests): the quick probes, then TCG anyway where the
     * cached {@link AcceleratorVerdict} of this host, kernel, /dev/kvm and QEMU says that a real
     * guest did not boot well under KVM.
     */
    public static Accelerator detect() {
        Accelerator a = detected;
        if (a == null) {
            synchronized (Accelerator.class) {
                if (detected == null) {
                    Path device = Path.of("/dev/kvm");
                    String qemu = "qemu-system-x86_64";
                    detected = overruled(probe(device, qemu), AcceleratorVerdict.read(AcceleratorSelector.DEFAULT_CACHE)
                            .orElse(null), device, qemu);
                }
                a = detected;
            }
        }
        return a;
    }

    /** {@code quick}, or TCG when {@code verdict} (if any) booted the guest under KVM on this same host and chose TCG. */
    static Accelerator overruled(Accelerator quick, AcceleratorVerdict verdict, Path device, String qemu) {
        if (!quick.isKvm() || verdict == null || verdict.kind() == Kind.KVM || !verdict.kvmBooted()) return quick;
        AcceleratorVerdict.Key k = verdict.key();
        String release;
        try {
            release = Files.readString(Path.of("/proc/sys/kernel/osrelease")).strip();
        } catch (IOException e) {
            return quick;
        }
        boolean sameHost = k.hostKernel().equals(release) && k.kvmDevice().equals(describeDevice(device))
                && k.qemuVersion().equals(HostProbe.qemuVersion(qemu).orElse("not found"));
        return sameHost ? new Accelerator(Kind.TCG, "the quick probes pass, but the verdict of a real guest boot in "
                + AcceleratorSelector.DEFAULT_CACHE + " is tcg: " + verdict.reason()) : quick;
    }

    public boolean isKvm() {
        return kind == Kind.KVM;
    }

    /** One line: "kvm (…)" or "tcg (…)"; TCG carries a warning that guests run slowly. */
    public String describe() {
        return isKvm() ? "kvm (" + reason + ")"
                : "tcg (warning: software emulation, guests run several times slower: " + reason + ")";
    }

    // ioctl numbers from <linux/kvm.h> (x86-64).
    private static final long KVM_GET_API_VERSION = 0xAE00;
    private static final long KVM_CREATE_VM = 0xAE01;
    private static final long KVM_GET_VCPU_MMAP_SIZE = 0xAE04;
    private static final long KVM_CREATE_VCPU = 0xAE41;
    private static final long KVM_SET_USER_MEMORY_REGION = 0x4020AE46L;
    private static final long KVM_RUN = 0xAE80;
    private static final long KVM_SET_REGS = 0x4090AE82L;
    private static final long KVM_GET_SREGS = 0x8138AE83L;
    private static final long KVM_SET_SREGS = 0x4138AE84L;
    private static final int KVM_EXIT_IO = 2;
    private static final int KVM_EXIT_HLT = 5;
    private static final long GUEST_CODE = 0x1000;
    private static final long PML4 = 0x2000, PDPT = 0x3000, PD = 0x4000, GUEST_SIZE = 0x8000;
    private static final byte[] CODE = {
            0x66, (byte) 0xBA, (byte) 0xF8, 0x03,  // mov dx, 0x3f8
            (byte) 0xB0, 0x56,               // mov al, 'V'
            (byte) 0xEE,                     // out dx, al
            (byte) 0xF4,                     // hlt
    };

    /** Probes {@code device} and then {@code qemu} on it; any failure, or no answer within 2 s, means TCG. */
    static Accelerator probe(Path device, String qemu) {
        if (!Files.exists(device)) {
            return new Accelerator(Kind.TCG, device + " does not exist (no KVM: load kvm_intel/kvm_amd, or enable"
                    + " nested virtualisation)");
        }
        String what = describeDevice(device);
        if (what.startsWith("not a KVM device")) {
            // e.g. another node bind-mounted over it: no KVM module's quirks apply
            return new Accelerator(Kind.TCG, device + " is " + what);
        }
        String pvm = Files.isDirectory(Path.of("/sys/module/kvm_pvm")) ? " (kvm_pvm is loaded: it runs only"
                + " PVM-aware guest kernels)" : "";
        CompletableFuture<String> run = CompletableFuture.supplyAsync(() -> runProbe(device.toString()),
                r -> Thread.ofPlatform().daemon().name("kvm-probe").start(r));
        String failure;
        try {
            failure = run.get(2, TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            failure = "a test vCPU did not come back within 2 s";
        } catch (Exception e) {
            failure = "probe failed: " + e;
        }
        if (failure == null) failure = qemuProbe(qemu);
        if (failure == null) return new Accelerator(Kind.KVM, device + " and QEMU ran a test guest");
        return new Accelerator(Kind.TCG, device + " cannot run a guest: " + failure + pvm);
    }

    /** Null when QEMU ran the test firmware under KVM (or QEMU is not installed), else why not. */
    private static String qemuProbe(String qemu) {
        Path dir = null;
        try {
            dir = Files.createTempDirectory("vessel-kvm-probe");
            byte[] firmware = new byte[65536];
            java.util.Arrays.fill(firmware, (byte) 0xF4); // hlt
            // at the reset vector: mov al, 0x2a; out 0xf4, al; hlt; jmp $-1
            byte[] reset = {(byte) 0xB0, 0x2A, (byte) 0xE6, (byte) 0xF4, (byte) 0xF4, (byte) 0xEB, (byte) 0xFD};
            System.arraycopy(reset, 0, firmware, 0xFFF0, reset.length);
            Path bios = dir.resolve("probe.bin");
            Files.write(bios, firmware);
            Command.Result r;
            try {
                r = Command.run(java.util.List.of(qemu, "-M", "microvm,x-option-roms=off,rtc=off", "-nodefaults",
                        "-no-user-config", "-display", "none", "-accel", "kvm", "-cpu", "host", "-m", "16", "-bios",
                        bios.toString(), "-device", "isa-debug-exit,iobase=0xf4,iosize=1"), "", java.time.Duration.ofSeconds(2));
            } catch (Command.TimeoutException e) {
                return "QEMU -accel kvm -cpu host did not run a test firmware within 2 s";
            } catch (IOException e) {
                return null; // no QEMU: nothing to run microVMs with anyway; the ioctl probe decides
            }
            if (r.status() == (0x2A << 1 | 1)) return null;
            String last = r.output().lines().filter(l -> !l.isBlank()).reduce((a, b) -> b).orElse("").strip();
            return "QEMU -accel kvm -cpu host failed (status " + r.status() + ")" + (last.isEmpty() ? "" : ": " + last);
        } catch (IOException e) {
            return "QEMU probe: " + e.getMessage();
        } finally {
            if (dir != null) {
                try {
                    GuestAssets.deleteTree(dir);
                } catch (IOException ignored) {
                    // a temp file left behind
                }
            }
        }
    }

    /**
     * What {@code device} is, in words that do not depend on who asks: "absent", "not a KVM device
     * (…)" when it is some other node (a bind-mounted /dev/null, say: KVM's is the character device
     * 10:232 and answers KVM_GET_API_VERSION), else the KVM module(s) loaded, e.g. "kvm_pvm (10:232,
     * KVM API 12)". Part of the accelerator verdict's key, and what {@code vessel doctor} prints.
     */
    public static String describeDevice(Path device) {
        if (!Files.exists(device)) return "absent";
        int mode;
        long rdev;
        try {
            mode = (Integer) Files.getAttribute(device, "unix:mode");
            rdev = (Long) Files.getAttribute(device, "unix:rdev");
        } catch (IOException | UnsupportedOperationException e) {
            return "not readable (" + e.getMessage() + ")";
        }
        boolean charDevice = (mode & 0xF000) == 0x2000; // S_IFCHR
        long major = ((rdev >>> 8) & 0xfff) | ((rdev >>> 32) & ~0xfffL);
        long minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xffL);
        if (!charDevice) return "not a KVM device (not a character device)";
        String numbers = major + ":" + minor;
        if (major != 10 || minor != 232) return "not a KVM device (character device " + numbers + ", KVM's is 10:232)";
        int fd = Libc.open(device.toString(), Libc.O_RDWR | Libc.O_CLOEXEC);
        if (fd < 0) return "KVM device " + numbers + ", cannot open it: " + Libc.strerror(-fd);
        int version;
        try {
            version = Libc.ioctl(fd, KVM_GET_API_VERSION, MemorySegment.NULL);
        } finally {
            Libc.close(fd);
        }
        if (version < 0) return "not a KVM device (" + numbers + ", but KVM_GET_API_VERSION: " + Libc.strerror(-version) + ")";
        String modules = java.util.stream.Stream.of("kvm_intel", "kvm_amd", "kvm_pvm")
                .filter(m -> Files.isDirectory(Path.of("/sys/module", m)))
                .collect(java.util.stream.Collectors.joining("+"));
        return (modules.isEmpty() ? "kvm" : modules) + " (" + numbers + ", KVM API " + version + ")";
    }

    /** Fills a flat ring-0 struct kvm_segment {u64 base; u32 limit; u16 selector; u8 type, present,
     *  dpl, db, s, l, g, avl, unusable} at {@code at}. */
    private static void segment(MemorySegment sregs, long at, int selector, int type, boolean code) {
        sregs.set(JAVA_LONG, at, 0);
        sregs.set(JAVA_INT, at + 8, 0xffffffff);
        sregs.set(JAVA_SHORT, at + 12, (short) selector);
        byte[] flags = {(byte) type, 1, 0, (byte) (code ? 0 : 1), 1, (byte) (code ? 1 : 0), 1, 0, 0};
        MemorySegment.copy(flags, 0, sregs, JAVA_BYTE, at + 14, flags.length);
    }

    /** Returns null when the test guest ran as expected, else what went wrong. */
    private static String runProbe(String device) {
        int kvm = -1, vm = -1, vcpu = -1;
        MemorySegment guest = null, run = null;
        try (Arena arena = Arena.ofConfined()) {
            kvm = Libc.open(device, Libc.O_RDWR | Libc.O_CLOEXEC);
            if (kvm < 0) return "open: " + Libc.strerror(-kvm);
            int version = Libc.ioctl(kvm, KVM_GET_API_VERSION, MemorySegment.NULL);
            if (version != 12) return "KVM_GET_API_VERSION returned " + version;
            vm = Libc.ioctl(kvm, KVM_CREATE_VM, MemorySegment.NULL);
            if (vm < 0) return "KVM_CREATE_VM: " + Libc.strerror(-vm);

            guest = Libc.mmap(GUEST_SIZE, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
            if (Libc.mmapFailed(guest)) return "mmap: " + Libc.strerror((int) -guest.address());
            MemorySegment.copy(CODE, 0, guest, JAVA_BYTE, GUEST_CODE, CODE.length);
            guest.set(JAVA_LONG, PML4, PDPT | 0x3);  // present, writable
            guest.set(JAVA_LONG, PDPT, PD | 0x3);
            guest.set(JAVA_LONG, PD, 0x83);          // present, writable, 2 MiB page at 0
            MemorySegment region = arena.allocate(32, 8);
            region.set(JAVA_INT, 0, 0);                  // slot
            region.set(JAVA_INT, 4, 0);                  // flags
            region.set(JAVA_LONG, 8, 0);                 // guest_phys_addr
            region.set(JAVA_LONG, 16, guest.byteSize()); // memory_size
            region.set(JAVA_LONG, 24, guest.address());  // userspace_addr
            int r = Libc.ioctl(vm, KVM_SET_USER_MEMORY_REGION, region);
            if (r < 0) return "KVM_SET_USER_MEMORY_REGION: " + Libc.strerror(-r);

            vcpu = Libc.ioctl(vm, KVM_CREATE_VCPU, MemorySegment.NULL);
            if (vcpu < 0) return "KVM_CREATE_VCPU: " + Libc.strerror(-vcpu);
            int runSize = Libc.ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, MemorySegment.NULL);
            if (runSize < 0) return "KVM_GET_VCPU_MMAP_SIZE: " + Libc.strerror(-runSize);
            run = Libc.mmap(runSize, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, vcpu, 0);
            if (Libc.mmapFailed(run)) return "mmap kvm_run: " + Libc.strerror((int) -run.address());

            // struct kvm_sregs: cs ds es fs gs ss tr ldt (struct kvm_segment, 24 bytes each), gdt idt
            // (16 each), then cr0 @224, cr2, cr3 @240, cr4 @248, cr8, efer @264.
            MemorySegment sregs = arena.allocate(312, 8);
            r = Libc.ioctl(vcpu, KVM_GET_SREGS, sregs);
            if (r < 0) return "KVM_GET_SREGS: " + Libc.strerror(-r);
            sregs.set(JAVA_LONG, 240, PML4);
            sregs.set(JAVA_LONG, 248, 1L << 5);                                   // CR4.PAE
            sregs.set(JAVA_LONG, 224, 1L | 2 | 0x10 | 0x20 | (1L << 16) | (1L << 18) | (1L << 31)); // PE MP ET NE WP AM PG
            sregs.set(JAVA_LONG, 264, (1L << 8) | (1L << 10));                    // EFER.LME, LMA
            segment(sregs, 0, 8, 11, true);                                       // cs: code, 64-bit
            for (int i = 1; i <= 5; i++) segment(sregs, i * 24, 16, 3, false);   // ds es fs gs ss: data
            r = Libc.ioctl(vcpu, KVM_SET_SREGS, sregs);
            if (r < 0) return "KVM_SET_SREGS: " + Libc.strerror(-r);
            // struct kvm_regs: 16 general registers, then rip, rflags.
            MemorySegment regs = arena.allocate(144, 8);
            regs.set(JAVA_LONG, 128, GUEST_CODE);
            regs.set(JAVA_LONG, 136, 0x2);
            r = Libc.ioctl(vcpu, KVM_SET_REGS, regs);
            if (r < 0) return "KVM_SET_REGS: " + Libc.strerror(-r);

            // struct kvm_run: exit_reason at 8; io {u8 direction, size; u16 port; u32 count; u64 data_offset} at 32.
            r = Libc.ioctl(vcpu, KVM_RUN, MemorySegment.NULL);
            if (r < 0) return "KVM_RUN: " + Libc.strerror(-r);
            int exit = run.get(JAVA_INT, 8);
            if (exit != KVM_EXIT_IO) return "the test vCPU exited with reason " + exit + ", not I/O";
            int port = Short.toUnsignedInt(run.get(JAVA_SHORT, 34));
            long dataOffset = run.get(JAVA_LONG, 40);
            byte value = dataOffset > 0 && dataOffset < runSize ? run.get(JAVA_BYTE, dataOffset) : 0;
            if (port != 0x3f8 || value != 0x56) return "the test vCPU wrote the wrong port or value";
            r = Libc.ioctl(vcpu, KVM_RUN, MemorySegment.NULL);
            if (r < 0) return "KVM_RUN: " + Libc.strerror(-r);
            exit = run.get(JAVA_INT, 8);
            if (exit != KVM_EXIT_HLT) return "the test vCPU exited with reason " + exit + ", not HLT";
            return null;
        } finally {
            if (run != null && !Libc.mmapFailed(run)) Libc.munmap(run);
            if (guest != null && !Libc.mmapFailed(guest)) Libc.munmap(guest);
            if (vcpu >= 0) Libc.close(vcpu);
            if (vm >= 0) Libc.close(vm);
            if (kvm >= 0) Libc.close(kvm);
        }
    }
}
