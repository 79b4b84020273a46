package dev.vessel.vmm;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The QEMU command line of a full VM (isolation {@code vm}): a q35 PC with firmware (SeaBIOS, or
 * OVMF from pflash), PCI devices, the guest's first serial port on a Unix socket (its output also
 * appended to a log), QMP on another, {@code -no-shutdown} (a guest that powers off leaves QEMU
 * in status {@code shutdown}, so whoever looks next, even a later daemon, tells a poweroff from a
 * crash) and a pvpanic device with {@code panic=pause} (a guest panic is status
 * {@code guest-panicked}, not an exit). Plain values in, the same argv out: no probing here.
 */
public final class Q35Command {
    public static final String QMP_SOCKET = "qmp.sock";
    public static final String SERIAL_SOCKET = "serial.sock";
    public static final String CONSOLE_LOG = "console.log";
    public static final String PID_FILE = "qemu.pid";
    static final int MAX_SOCKET_PATH = 107;
    /**
     * TCG's translation cache: what an idle VM costs the host besides its RAM grows with it (bench/vm on a Debian
     * guest: 64 MiB 99.9 MiB and a 46 s boot to sshd, 32 MiB 66.5 MiB and 61 s, 16 MiB 49.4 MiB and 101 s): 16 is
     * the one that meets issue 14's 64 MiB, and a TCG boot is slow either way (KVM has no such cache).
     */
    static final String TCG_ACCEL = "tcg,tb-size=16";

    /** Where a disk is attached. */
    public enum Bus { VIRTIO, SATA, SCSI }

    /**
     * A drive: {@code format} raw or qcow2; {@code bootIndex} null for none; {@code serial} null
     * for none; {@code cdrom} a CD-ROM drive (sata or scsi).
     */
    public record Disk(String id, Path file, String format, Bus bus, boolean cdrom, boolean readOnly, Integer bootIndex,
            String serial) {
        public Disk {
            if (id == null || !id.matches("[A-Za-z][A-Za-z0-9_-]{0,30}")) throw new IllegalArgumentException("drive id: " + id);
            Objects.requireNonNull(file, "file");
            if (!List.of("raw", "qcow2").contains(format)) throw new IllegalArgumentException("format: " + format);
            if (cdrom && bus == Bus.VIRTIO) throw new IllegalArgumentException("a cdrom is on sata or scsi");
        }
    }

    /** A forwarded port: {@code protocol} tcp or udp, from {@code hostAddress:hostPort} to the guest's {@code guestPort}. */
    public record Forward(String protocol, String hostAddress, int hostPort, int guestPort) {}

    /**
     * A virtio-net NIC: on QEMU's user network (slirp: {@code net}, the guest's DHCP range from
     * {@code dhcpStart}, {@code forwards}) when {@code tap} is null, else on tap device {@code tap}.
     */
    public record Nic(String id, String mac, String tap, String net, String host, String dhcpStart, List<Forward> forwards) {
        public Nic {
            if (!mac.matches("(?i)[0-9a-f]{2}(:[0-9a-f]{2}){5}")) throw new IllegalArgumentException("MAC: " + mac);
            forwards = List.copyOf(forwards == null ? List.of() : forwards);
        }

        public static Nic user(String id, String mac, String net, String host, String dhcpStart, List<Forward> forwards) {
            return new Nic(id, mac, null, net, host, dhcpStart, forwards);
        }

        public static Nic tap(String id, String mac, String tap) {
            return new Nic(id, mac, tap, null, null, null, List.of());
        }
    }

    private String binary = "qemu-system-x86_64";
    private Accelerator.Kind accelerator = Accelerator.Kind.TCG;
    private String name;
    private int sockets = 1, cores = 1, threads = 1;
    private long memoryMib = 256;
    private Path ovmfCode;
    private Path ovmfVars;
    private final List<Disk> disks = new ArrayList<>();
    private final List<Nic> nics = new ArrayList<>();
    private Path stateDir;
    private boolean daemonize = true;

    public static Q35Command builder() {
        return new Q35Command();
    }

    public Q35Command binary(String binary) {
        this.binary = Objects.requireNonNull(binary);
        return this;
    }

    public Q35Command accelerator(Accelerator.Kind kind) {
        this.accelerator = Objects.requireNonNull(kind);
        return this;
    }

    public Q35Command name(String name) {
        this.name = name;
        return this;
    }

    public Q35Command topology(int sockets, int cores, int threads) {
        if (sockets < 1 || cores < 1 || threads < 1) throw new IllegalArgumentException("cpu topology");
        this.sockets = sockets;
        this.cores = cores;
        this.threads = threads;
        return this;
    }

    public Q35Command memoryMib(long mib) {
        if (mib < 64) throw new IllegalArgumentException("guest memory must be at least 64 MiB, not " + mib);
        this.memoryMib = mib;
        return this;
    }

    /** UEFI: OVMF's code (read-only) and this VM's own copy of its variable store. Null: SeaBIOS. */
    public Q35Command efi(Path code, Path vars) {
        this.ovmfCode = code;
        this.ovmfVars = vars;
        return this;
    }

    public Q35Command disk(Disk disk) {
        disks.add(Objects.requireNonNull(disk));
        return this;
    }

    public Q35Command nic(Nic nic) {
        nics.add(Objects.requireNonNull(nic));
        return this;
    }

    /** Where the sockets, the console log and the pid file go. */
    public Q35Command stateDir(Path dir) {
        this.stateDir = dir;
        return this;
    }

    /** {@code -daemonize -pidfile}: QEMU returns once set up and lives on in a session of its own (default on). */
    public Q35Command daemonize(boolean on) {
        this.daemonize = on;
        return this;
    }

    public List<String> build() {
        Objects.requireNonNull(stateDir, "stateDir");
        List<String> a = new ArrayList<>(List.of(binary, "-M", "q35", "-nodefaults", "-no-user-config", "-display", "none",
                "-no-shutdown", "-action", "panic=pause"));
        if (name != null) a.addAll(List.of("-name", "guest=" + name + ",debug-threads=on"));
        a.addAll(List.of(
                "-accel", accelerator == Accelerator.Kind.TCG ? TCG_ACCEL : accelerator.qemuName,
                "-cpu", accelerator.cpu, "-m", memoryMib + "M",
                "-smp", (sockets * cores * threads) + ",sockets=" + sockets + ",cores=" + cores + ",threads=" + threads));
        if (ovmfCode != null) {
            a.addAll(List.of("-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + option(ovmfCode),
                    "-drive", "if=pflash,format=raw,unit=1,file=" + option(Objects.requireNonNull(ovmfVars, "ovmfVars"))));
        }
        if (disks.stream().anyMatch(d -> d.bus() == Bus.SCSI)) a.addAll(List.of("-device", "virtio-scsi-pci,id=scsi0"));
        int sata = 0;
        for (Disk d : disks) {
            String ro = d.readOnly() ? ",read-only=on" : "";
            a.addAll(List.of("-blockdev", "driver=file,node-name=file-" + d.id() + ",filename=" + option(d.file()) + ro,
                    "-blockdev", "driver=" + d.format() + ",node-name=" + d.id() + ",file=file-" + d.id() + ro));
            String device = switch (d.bus()) {
                case VIRTIO -> "virtio-blk-pci";
                // q35's AHCI controller has six ports, ide.0 to ide.5
                case SATA -> (d.cdrom() ? "ide-cd" : "ide-hd") + ",bus=ide." + sata++;
                case SCSI -> (d.cdrom() ? "scsi-cd" : "scsi-hd") + ",bus=scsi0.0";
            };
            StringBuilder dev = new StringBuilder(device).append(",drive=").append(d.id()).append(",id=dev-").append(d.id());
            if (d.bootIndex() != null) dev.append(",bootindex=").append(d.bootIndex());
            if (d.serial() != null) dev.append(",serial=").append(d.serial());
            a.addAll(List.of("-device", dev.toString()));
        }
        if (sata > 6) throw new IllegalArgumentException("at most 6 sata drives (q35's AHCI ports), not " + sata);
        for (Nic n : nics) {
            String netdev;
            if (n.tap() != null) {
                netdev = "tap,id=" + n.id() + ",ifname=" + n.tap() + ",script=no,downscript=no";
            } else {
                StringBuilder b = new StringBuilder("user,id=" + n.id() + ",net=" + n.net() + ",host=" + n.host()
                        + ",dhcpstart=" + n.dhcpStart());
                for (Forward f : n.forwards()) {
                    b.append(",hostfwd=").append(f.protocol()).append(':').append(f.hostAddress()).append(':')
                            .append(f.hostPort()).append("-:").append(f.guestPort());
                }
                netdev = b.toString();
            }
            a.addAll(List.of("-netdev", netdev, "-device", "virtio-net-pci,netdev=" + n.id() + ",mac=" + n.mac()));
        }
        a.addAll(List.of(
                "-chardev", "socket,id=serial0,path=" + option(socket(SERIAL_SOCKET)) + ",server=on,wait=off,logfile="
                        + option(stateDir.resolve(CONSOLE_LOG)) + ",logappend=on",
                "-serial", "chardev:serial0",
                "-device", "pvpanic",
                "-qmp", "unix:" + option(socket(QMP_SOCKET)) + ",server=on,wait=off"));
        if (daemonize) a.addAll(List.of("-daemonize", "-pidfile", stateDir.resolve(PID_FILE).toString()));
        return a;
    }

    private Path socket(String name) {
        Path p = stateDir.resolve(name);
        if (p.toString().getBytes(StandardCharsets.UTF_8).length > MAX_SOCKET_PATH) {
            throw new IllegalArgumentException("socket path too long for a unix socket (over " + MAX_SOCKET_PATH + " bytes): " + p);
        }
        return p;
    }

    static String option(Path p) {
        return QemuCommand.option(p);
    }
}
