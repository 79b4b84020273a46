package dev.vessel.vmm;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The QEMU command line of docs/microvm.md ("QEMU"), rendered from plain values: no probing here
 * (the accelerator, the TSC frequency and sandbox support are the caller's, see {@link Accelerator}
 * and {@link HostProbe}), so the same inputs always give the same argv.
 *
 * <p>Files in the state directory: {@code qmp.sock}, {@code agent.sock}, {@code proc-0.sock},
 * {@code console.log}. The virtio-serial controller has the id {@value #SERIAL_ID}, so ports
 * hot-added over QMP go on bus {@value #SERIAL_BUS}.
 */
public final class QemuCommand {
    public static final String SERIAL_ID = "vser";
    public static final String SERIAL_BUS = SERIAL_ID + ".0";
    public static final String QMP_SOCKET = "qmp.sock";
    public static final String AGENT_SOCKET = "agent.sock";
    public static final String CONSOLE_LOG = "console.log";
    public static final String ROOTFS_TAG = "rootfs";
    /**
     * TCG's translation buffer defaults to 1 GiB reserved, of which an idle guest touches ~42 MiB;
     * 16 MiB costs no measurable boot time and halves QEMU's own memory per VM (bench/microvm).
     */
    static final String TCG_ACCEL = "tcg,tb-size=16";
    /** sockaddr_un.sun_path holds 107 bytes and a NUL. */
    static final int MAX_SOCKET_PATH = 107;

    private String binary = "qemu-system-x86_64";
    private int memoryMib = 256;
    private int vcpus = 1;
    private Accelerator.Kind accelerator = Accelerator.Kind.TCG;
    private Path kernel;
    private Path initrd;
    private long tscKhz;
    private final List<String> cmdline = new ArrayList<>();
    private Path rootfs;
    private Path stateDir;
    private boolean sandbox;
    private boolean processZeroPort = true;
    private final List<Nic> nics = new ArrayList<>();
    private final List<Drive> drives = new ArrayList<>();
    private final List<Share> shares = new ArrayList<>();
    private String kernelArgs;
    private boolean agentChannel = true;
    private boolean serialStdio;
    private Path qmpSocket;
    private final List<List<String>> extra = new ArrayList<>();
    private Path memoryFile;
    private boolean memoryShared;
    private boolean incomingDefer;
    private boolean template;
    private Jail jail;
    private Path incomingState;
    /** The kernel command-line word that tells the agent it boots a template: it mounts nothing (see {@link VmTemplates}). */
    public static final String TEMPLATE_WORD = "vessel.template";

    /**
     * A virtio-net NIC on the tap device {@code tap} (opened by name in QEMU's network namespace,
     * created by QEMU if it does not exist) with the MAC {@code mac}, e.g. "aa:fc:00:00:00:01".
     * A null tap: a NIC on a hub of its own, connected to nothing (a template's: the device is
     * what is saved, each clone plugs its own tap in).
     */
    public record Nic(String tap, String mac) {
        public static Nic unplugged(String mac) {
            return new Nic(null, mac);
        }

        public Nic {
            if (tap != null && (tap.isEmpty() || tap.length() > 15 || tap.contains(",") || tap.contains("/"))) {
                throw new IllegalArgumentException("not a tap device name: " + tap);
            }
            if (mac == null || !mac.matches("(?i)[0-9a-f]{2}(:[0-9a-f]{2}){5}")) {
                throw new IllegalArgumentException("not a MAC address: " + mac);
            }
        }
    }

    /**
     * A virtio-blk drive backed by the raw image {@code path}: {@code id} names the block node the
     * device uses (QMP can re-open it), {@code cache} is QEMU's cache mode (null: QEMU's default),
     * {@code throttle} QEMU's throttling options (e.g. "throttling.bps-total=1048576"), empty for none.
     */
    public record Drive(String id, Path path, boolean readOnly, String cache, List<String> throttle) {
        public Drive {
            if (id == null || !id.matches("[A-Za-z][A-Za-z0-9_.-]{0,30}")) {
                throw new IllegalArgumentException("not a drive id QEMU accepts (a letter, then letters, digits, _ . -): " + id);
            }
            Objects.requireNonNull(path, "path");
            throttle = List.copyOf(throttle == null ? List.of() : throttle);
        }

        public Drive(String id, Path path, boolean readOnly) {
            this(id, path, readOnly, null, List.of());
        }
    }

    /**
     * A host directory exported to the guest over virtio-9p with the mount tag {@code tag}
     * (a container's volume; the agent mounts it by that tag), read-only in QEMU itself if asked.
     */
    /**
     * A host directory shared over virtio-9p. {@code remapDevices}: it holds mounts of other file
     * systems (a pod's share, into which the host bind-mounts each container's rootfs and volumes
     * after QEMU has started): QEMU's {@code multidevs=remap} keeps their inode numbers apart.
     */
    public record Share(String tag, Path path, boolean readOnly, boolean remapDevices) {
        public Share(String tag, Path path, boolean readOnly) {
            this(tag, path, readOnly, false);
        }

        public Share {
            if (tag == null || !tag.matches("[A-Za-z][A-Za-z0-9_]{0,30}") || tag.equals(ROOTFS_TAG)) {
                throw new IllegalArgumentException("not a 9p mount tag for a share (a letter, then up to 30 letters, digits, _; not "
                        + ROOTFS_TAG + "): " + tag);
            }
            Objects.requireNonNull(path, "path");
        }
    }

    /**
     * QEMU confined by {@code vessel-jail} ({@code helper}; docs/microvm.md, "The jail"): uid and
     * gid {@code uid} (a sandbox's own, see {@code dev.vessel.runtime.JailIds}), no capabilities,
     * a mount namespace whose root is a tmpfs on {@code root} holding only the kernel, the initrd,
     * /usr (QEMU, its libraries and firmware) and the state directory. Its taps are opened for it
     * ({@code -netdev tap,fd=}), its 9p shares served by virtfs-proxy-helper ({@code -fsdev proxy,sock_fd=}),
     * and {@code -sandbox} denies obsolete calls, privilege changes, spawning and resource control.
     */
    public record Jail(Path helper, long uid, long gid, Path root) {
        /** The full seccomp policy QEMU 7.2 has; spawn=deny is why the jail, not QEMU, detaches QEMU. */
        public static final String SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";
        /** vessel-jail's first tap fd (then 101, …) and first 9p proxy socket (the rootfs's, then the shares'). */
        static final int TAP_FD = 100;
        static final int SHARE_FD = 200;
        /**
         * A jailed clone's fds from vessel-jail's {@code --fd}: its template's RAM (a sealed memfd,
         * mapped as {@code /proc/self/fd/99}, see VmTemplates#findSealed) and its device state
         * ({@code migrate-incoming fd:98}); neither has a path in the jail.
         */
        public static final int MEMORY_FD = 99;
        public static final int STATE_FD = 98;

        public Jail {
            Objects.requireNonNull(helper, "helper");
            Objects.requireNonNull(root, "root");
            if (uid <= 0 || gid <= 0 || uid >= 0xffffffffL || gid >= 0xffffffffL) {
                throw new IllegalArgumentException("a jail's uid and gid must be unprivileged ids, not " + uid + ":" + gid);
            }
        }
    }

    public static QemuCommand builder() {
        return new QemuCommand();
    }

    public QemuCommand binary(String binary) {
        this.binary = Objects.requireNonNull(binary);
        return this;
    }

    public QemuCommand memoryMib(int mib) {
        if (mib < 64) throw new IllegalArgumentException("guest memory must be at least 64 MiB, not " + mib);
        this.memoryMib = mib;
        return this;
    }

    public QemuCommand vcpus(int vcpus) {
        if (vcpus < 1) throw new IllegalArgumentException("a guest needs at least one vCPU, not " + vcpus);
        this.vcpus = vcpus;
        return this;
    }

    public QemuCommand accelerator(Accelerator.Kind kind) {
        this.accelerator = Objects.requireNonNull(kind);
        return this;
    }

    public QemuCommand kernel(Path kernel) {
        this.kernel = kernel;
        return this;
    }

    public QemuCommand initrd(Path initrd) {
        this.initrd = initrd;
        return this;
    }

    /** The host's TSC frequency, passed as {@code tsc_early_khz} (0: leave it out). */
    public QemuCommand tscKhz(long khz) {
        this.tscKhz = khz;
        return this;
    }

    /** More kernel command line words, after the standard ones. */
    public QemuCommand cmdline(String... words) {
        cmdline.addAll(List.of(words));
        return this;
    }

    /** The directory shared as the guest's root over virtio-9p (null: none). */
    public QemuCommand rootfs(Path rootfs) {
        this.rootfs = rootfs;
        return this;
    }

    /** Where the sockets and the console log go. */
    public QemuCommand stateDir(Path stateDir) {
        this.stateDir = stateDir;
        return this;
    }

    /** {@code -sandbox on}: only where this QEMU has seccomp ({@link HostProbe#qemuSupportsSandbox}). */
    public QemuCommand sandbox(boolean on) {
        this.sandbox = on;
        return this;
    }

    /** Whether to add process 0's port ({@code vessel.proc.0} at {@code proc-0.sock}); on by default. */
    public QemuCommand processZeroPort(boolean on) {
        this.processZeroPort = on;
        return this;
    }

    /** A host directory shared with the guest over virtio-9p, besides the rootfs. */
    public QemuCommand share(Share share) {
        shares.add(Objects.requireNonNull(share));
        return this;
    }

    /** A network interface, eth0 first, in the order added. */
    public QemuCommand nic(Nic nic) {
        nics.add(Objects.requireNonNull(nic));
        return this;
    }

    /** A virtio-blk drive, /dev/vda first, in the order added. */
    public QemuCommand drive(Drive drive) {
        drives.add(Objects.requireNonNull(drive));
        return this;
    }

    /**
     * The whole kernel command line instead of Vessel's standard words ({@code console=hvc0 quiet
     * panic=-1}); {@code tsc_early_khz} and {@link #cmdline} words still follow. Null: the standard words.
     */
    public QemuCommand kernelArgs(String args) {
        this.kernelArgs = args;
        return this;
    }

    /**
     * Whether the guest gets Vessel's agent channel: the virtio-serial controller, the console in
     * {@code console.log}, the agent's port and process 0's (on by default). Off, no state directory is needed.
     */
    public QemuCommand agentChannel(boolean on) {
        this.agentChannel = on;
        return this;
    }

    /**
     * The guest's first serial port (ttyS0, microvm's ISA UART) on QEMU's stdin and stdout, as
     * Firecracker gives it: {@code -chardev stdio,id=serial0,signal=off -serial chardev:serial0}
     * (signal=off: a Ctrl-C typed there goes to the guest). Off by default.
     */
    public QemuCommand serialStdio(boolean on) {
        this.serialStdio = on;
        return this;
    }

    /** Where QMP listens (default: {@code qmp.sock} in the state directory). */
    public QemuCommand qmpSocket(Path socket) {
        this.qmpSocket = socket;
        return this;
    }

    /** Extra arguments appended as given, e.g. {@code -netdev …} and {@code -device virtio-net-device,…}. */
    public QemuCommand extra(String... args) {
        extra.add(List.of(args));
        return this;
    }

    /**
     * Guest RAM in the file {@code file} (a memory-backend-file) instead of anonymous memory:
     * {@code shared}, QEMU writes the RAM into it (a template being made); not, the file is mapped
     * copy-on-write (MAP_PRIVATE: a template's clone, sharing every page it has not written).
     */
    public QemuCommand memoryFile(Path file, boolean shared) {
        this.memoryFile = file;
        this.memoryShared = shared;
        return this;
    }

    /** {@code -incoming defer}: QEMU waits for {@code migrate-incoming} over QMP (a template's clone). */
    public QemuCommand incomingDefer(boolean on) {
        this.incomingDefer = on;
        return this;
    }

    /** Boots (or restores) a template's guest: the kernel command line has {@value #TEMPLATE_WORD}. */
    public QemuCommand template(boolean on) {
        this.template = on;
        return this;
    }

    /**
     * Runs QEMU in {@code jail} (null: as its caller, root). With a RAM file, only a clone's
     * (share=off), and that file must be one QEMU cannot write through (a sealed memfd: QEMU 7.2
     * opens it read-write): it is handed over as fd {@value Jail#MEMORY_FD}.
     */
    public QemuCommand jail(Jail jail) {
        this.jail = jail;
        return this;
    }

    /** A jailed clone's template device state, opened by vessel-jail as fd {@value Jail#STATE_FD}. */
    public QemuCommand incomingState(Path state) {
        this.incomingState = state;
        return this;
    }

    /** Whether QEMU runs jailed ({@link #jail}): vessel-jail, not {@code -daemonize}, detaches it. */
    public boolean jailed() {
        return jail != null;
    }

    public String kernelCmdline() {
        List<String> words = new ArrayList<>();
        if (kernelArgs == null) words.addAll(List.of("console=hvc0", "quiet", "panic=-1"));
        else if (!kernelArgs.isBlank()) words.add(kernelArgs.strip());
        if (tscKhz > 0) words.add("tsc_early_khz=" + tscKhz);
        if (rootfs != null) words.add("vessel.rootfs=9p");
        if (template) words.add(TEMPLATE_WORD);
        words.addAll(cmdline);
        return String.join(" ", words);
    }

    public List<String> build() {
        Objects.requireNonNull(kernel, "kernel");
        Objects.requireNonNull(initrd, "initrd");
        if (agentChannel || qmpSocket == null) Objects.requireNonNull(stateDir, "stateDir");
        if (jail != null && memoryFile != null && memoryShared) {
            throw new IllegalStateException("a jailed QEMU cannot write a RAM file (a template being made is not jailed)");
        }
        if (incomingState != null && jail == null) throw new IllegalStateException("incomingState is a jailed clone's");
        List<String> a = new ArrayList<>();
        if (jail != null) a.addAll(jailArgs());
        a.addAll(List.of(binary, "-M", "microvm", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot"));
        if (jail != null) a.addAll(List.of("-sandbox", Jail.SANDBOX));
        else if (sandbox) a.addAll(List.of("-sandbox", "on"));
        if (memoryFile != null) {
            String memPath = jail != null ? "/proc/self/fd/" + Jail.MEMORY_FD : option(memoryFile);
            a.addAll(List.of("-object", "memory-backend-file,id=ram,size=" + memoryMib + "M,mem-path=" + memPath
                    + ",share=" + (memoryShared ? "on" : "off"), "-machine", "memory-backend=ram"));
        }
        a.addAll(List.of(
                "-accel", accelerator == Accelerator.Kind.TCG ? TCG_ACCEL : accelerator.qemuName, "-cpu", accelerator.cpu,
                "-m", Integer.toString(memoryMib), "-smp", Integer.toString(vcpus),
                "-kernel", kernel.toString(), "-initrd", initrd.toString(),
                "-append", kernelCmdline()));
        if (serialStdio) a.addAll(List.of("-chardev", "stdio,id=serial0,signal=off", "-serial", "chardev:serial0"));
        if (agentChannel) {
            a.addAll(List.of(
                    "-device", "virtio-serial-device,id=" + SERIAL_ID,
                    "-chardev", "file,id=console,path=" + option(stateDir.resolve(CONSOLE_LOG)),
                    "-device", "virtconsole,chardev=console"));
            a.addAll(port("agent", socket(AGENT_SOCKET), "vessel.agent"));
            if (processZeroPort) a.addAll(port("proc0", socket(processSocket(0)), "vessel.proc.0"));
        }
        for (Drive d : drives) {
            StringBuilder file = new StringBuilder("driver=file,node-name=file-" + d.id() + ",filename=" + option(d.path()));
            if (d.readOnly()) file.append(",read-only=on");
            StringBuilder raw = new StringBuilder("driver=raw,node-name=" + d.id() + ",file=file-" + d.id());
            if (d.readOnly()) raw.append(",read-only=on");
            if (d.cache() != null) {
                String c = switch (d.cache()) {
                    case "unsafe" -> ",cache.direct=off,cache.no-flush=on";
                    case "writeback" -> ",cache.direct=off,cache.no-flush=off";
                    default -> throw new IllegalArgumentException("cache mode: " + d.cache());
                };
                file.append(c);
                raw.append(c);
            }
            a.addAll(List.of("-blockdev", file.toString(), "-blockdev", raw.toString()));
            String device = "virtio-blk-device,drive=" + d.id() + ",id=dev-" + d.id();
            if (!d.throttle().isEmpty()) {
                // throttling lives on a throttle filter node between the device and the image
                a.addAll(List.of("-object", "throttle-group,id=tg-" + d.id() + "," + String.join(",", d.throttle()),
                        "-blockdev", "driver=throttle,node-name=throttle-" + d.id() + ",throttle-group=tg-" + d.id()
                                + ",file=" + d.id()));
                device = "virtio-blk-device,drive=throttle-" + d.id() + ",id=dev-" + d.id();
            }
            a.addAll(List.of("-device", device));
        }
        int proxySocket = Jail.SHARE_FD;
        if (rootfs != null) {
            a.addAll(List.of(
                    "-fsdev", jail != null ? "proxy,id=rootfs,sock_fd=" + proxySocket++
                            : "local,id=rootfs,path=" + option(rootfs) + ",security_model=passthrough",
                    "-device", "virtio-9p-device,fsdev=rootfs,mount_tag=" + ROOTFS_TAG));
        }
        for (Share share : shares) {
            // the proxy backend has no multidevs: a jailed pod share's inode numbers are the files' own
            a.addAll(List.of(
                    "-fsdev", (jail != null ? "proxy,id=" + share.tag() + ",sock_fd=" + proxySocket++
                            : "local,id=" + share.tag() + ",path=" + option(share.path()) + ",security_model=passthrough")
                            + (share.readOnly() ? ",readonly=on" : "")
                            + (share.remapDevices() && jail == null ? ",multidevs=remap" : ""),
                    "-device", "virtio-9p-device,fsdev=" + share.tag() + ",mount_tag=" + share.tag()));
        }
        int tapFd = Jail.TAP_FD;
        for (int i = 0; i < nics.size(); i++) {
            Nic nic = nics.get(i);
            a.addAll(List.of(
                    "-netdev", nic.tap() == null ? "hubport,id=net" + i + ",hubid=" + i
                            : jail != null ? "tap,id=net" + i + ",fd=" + tapFd++
                            : "tap,id=net" + i + ",ifname=" + nic.tap() + ",script=no,downscript=no",
                    "-device", "virtio-net-device,netdev=net" + i + ",mac=" + nic.mac()));
        }
        Path qmp = qmpSocket != null ? checkedSocket(qmpSocket) : socket(QMP_SOCKET);
        a.addAll(List.of("-qmp", "unix:" + option(qmp) + ",server=on,wait=off"));
        for (List<String> e : extra) a.addAll(e);
        if (incomingDefer) a.addAll(List.of("-incoming", "defer"));
        return a;
    }

    /**
     * vessel-jail's options: what the jail holds (read-only: kernel, initrd, /usr, QEMU's binary
     * if elsewhere, read-only drives; read-write: the state directory, QMP's directory, drives),
     * the device nodes QEMU opens, the taps it opens for QEMU and the shares it serves; QEMU is
     * detached once it answers on QMP.
     */
    private List<String> jailArgs() {
        List<String> j = new ArrayList<>(List.of(jail.helper().toString(), "--uid", Long.toString(jail.uid()),
                "--gid", Long.toString(jail.gid()), "--root", jail.root().toString()));
        Path qmp = qmpSocket != null ? qmpSocket : stateDir.resolve(QMP_SOCKET);
        j.addAll(List.of("--ready-qmp", qmp.toString()));
        java.util.LinkedHashSet<String> ro = new java.util.LinkedHashSet<>(List.of(kernel.toString(), initrd.toString(), "/usr"));
        Path qemuBinary = Path.of(binary);
        if (qemuBinary.isAbsolute() && !qemuBinary.startsWith("/usr/")) ro.add(binary);
        java.util.LinkedHashSet<String> rw = new java.util.LinkedHashSet<>();
        if (stateDir != null) rw.add(stateDir.toString());
        if (qmpSocket != null) rw.add(qmpSocket.getParent().toString());
        for (Drive d : drives) (d.readOnly() ? ro : rw).add(d.path().toString());
        ro.forEach(p -> j.addAll(List.of("--ro", p)));
        rw.forEach(p -> j.addAll(List.of("--rw", p)));
        for (String dev : List.of("/dev/null", "/dev/urandom", "/dev/kvm")) j.addAll(List.of("--dev", dev));
        // QEMU opens /dev/kvm (0660 root:kvm) as the jail's uid: that group is its one supplementary group
        if (accelerator == Accelerator.Kind.KVM) j.add("--kvm");
        for (Nic nic : nics) if (nic.tap() != null) j.addAll(List.of("--tap", nic.tap()));
        if (rootfs != null) j.addAll(List.of("--share", rootfs.toString()));
        for (Share share : shares) j.addAll(List.of("--share", share.path().toString()));
        if (memoryFile != null) j.addAll(List.of("--fd", Jail.MEMORY_FD + "=" + memoryFile));
        if (incomingState != null) j.addAll(List.of("--fd", Jail.STATE_FD + "=" + incomingState));
        j.add("--");
        return j;
    }

    /** {@code proc-N.sock}: process N's stream port. */
    public static String processSocket(int n) {
        return "proc-" + n + ".sock";
    }

    private static List<String> port(String id, Path socket, String name) {
        return List.of(
                "-chardev", "socket,id=" + id + ",path=" + option(socket) + ",server=on,wait=off",
                "-device", "virtserialport,chardev=" + id + ",name=" + name);
    }

    private Path socket(String name) {
        return checkedSocket(stateDir.resolve(name));
    }

    private static Path checkedSocket(Path p) {
        if (p.toString().getBytes(StandardCharsets.UTF_8).length > MAX_SOCKET_PATH) {
            throw new IllegalArgumentException("socket path too long for a unix socket (over " + MAX_SOCKET_PATH
                    + " bytes): " + p);
        }
        return p;
    }

    /** A value inside a QEMU option list: commas are doubled. */
    static String option(Path p) {
        return p.toString().replace(",", ",,");
    }
}
