package dev.vessel.vmm;

import dev.vessel.linux.Command;
import dev.vessel.linux.Tools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Full-VM guest disks made from Debian's packages ({@code vessel vm image build debian OUT.qcow2}):
 * debootstrap of bookworm from the host's own apt source into an ext4 partition of an MBR disk,
 * booted by extlinux (SeaBIOS runs syslinux's mbr.bin), with systemd, openssh-server, cloud-init
 * (NoCloud, then None), netplan over systemd-networkd (what cloud-init configures: DHCP on the
 * first NIC when no network-config is given), Debian's kernel with {@code console=ttyS0}, the root
 * account locked, no SSH host keys and an empty machine-id (each VM makes its own on first boot).
 * <p>A built image is kept under {@code DIR/<kind>-<suite>-<key>/disk.qcow2}, the key a hash of
 * its inputs (builder version, suite, package list, size, apt source); OUT is a copy, so a second
 * build with the same inputs only copies. The packages debootstrap fetches are kept in
 * {@code DIR/cache/debs}. Builds are serialised by a lock on {@code DIR/.lock}; whatever a build
 * made (loop device, mount, work dir) is gone when it ends, failed or not.
 */
public final class VmImageBuilder {
    public static final Path DEFAULT_DIR = Path.of("/var/lib/vessel/vm-images");
    /** Raised whenever what a build makes changes, so that cached images of older builders are not reused. */
    static final int BUILDER_VERSION = 1;
    public static final String SUITE = "bookworm";
    public static final List<String> KINDS = List.of("debian");
    public static final long DEFAULT_SIZE_MIB = 3072;
    /** What Debian's packages need installed, with room for first-boot logs and a few packages more. */
    public static final long MIN_SIZE_MIB = 2048;
    public static final long MAX_SIZE_MIB = 2L * 1024 * 1024; // an MBR partition ends below 2 TiB
    /** Room a build needs in DIR: the installed files (a sparse raw disk), the qcow2 made from them, the packages. */
    static final long BUILD_SPACE_MIB = 3072;
    public static final String ROOT_LABEL = "vessel-root";
    /** debootstrap's --include: the image's packages besides Debian's required ones (minbase). */
    public static final List<String> BASE_PACKAGES = List.of("systemd-sysv", "udev", "dbus", "kmod", "iproute2",
            "procps", "openssh-server", "cloud-init", "cloud-guest-utils", "netplan.io", "systemd-resolved",
            // debootstrap resolves no virtual packages: python3-cryptography (for cloud-init) needs the one this provides
            "python3-cffi-backend",
            "linux-image-amd64", "sudo", "locales", "ca-certificates");
    private static final Pattern PACKAGE_NAME = Pattern.compile("[a-z0-9][a-z0-9+.-]+");
    private static final Path MBR_CODE = Path.of("/usr/lib/syslinux/mbr/mbr.bin");
    private static final Duration DEBOOTSTRAP_TIMEOUT = Duration.ofMinutes(60);
    private static final Duration STEP_TIMEOUT = Duration.ofMinutes(10);

    /** What to build: validated by {@link #spec}. */
    public record Spec(String kind, long sizeMib, List<String> extraPackages) {
        public Spec {
            extraPackages = List.copyOf(extraPackages);
        }

        /** Every package debootstrap is given, sorted, without repeats. */
        public List<String> packages() {
            TreeSet<String> all = new TreeSet<>(BASE_PACKAGES);
            all.addAll(extraPackages);
            return List.copyOf(all);
        }
    }

    /** A built (or cached) image: where it is kept, its key, and whether this call built it and how long that took. */
    public record Built(Path image, String key, boolean fresh, Duration took) {}

    private final Path dir;
    private final Path etcApt;

    public VmImageBuilder(Path dir) {
        this(dir, Path.of("/etc/apt"));
    }

    public VmImageBuilder(Path dir, Path etcApt) {
        this.dir = dir.toAbsolutePath();
        this.etcApt = etcApt;
    }

    public Path dir() {
        return dir;
    }

    /**
     * The request checked: {@code kind} one of {@link #KINDS}; {@code size} null (the default),
     * MiB, or a number with K, M, G or T (qemu-img's suffixes); {@code packages} null or
     * comma/space separated Debian package names.
     */
    public static Spec spec(String kind, String size, String packages) throws VmmException {
        if (!KINDS.contains(kind)) {
            throw new VmmException("unknown image kind \"" + kind + "\" (use " + String.join(" or ", KINDS) + ")");
        }
        long mib = size == null ? DEFAULT_SIZE_MIB : sizeMib(size);
        List<String> extra = new ArrayList<>();
        if (packages != null) {
            for (String p : packages.split("[,\\s]+")) {
                if (p.isEmpty()) continue;
                if (!PACKAGE_NAME.matcher(p).matches()) {
                    throw new VmmException("--packages: \"" + p + "\" is not a Debian package name");
                }
                extra.add(p);
            }
        }
        return new Spec(kind, mib, extra);
    }

    static long sizeMib(String size) throws VmmException {
        var m = Pattern.compile("(\\d{1,10})([KkMmGgTt]?)(i?B)?").matcher(size.strip());
        if (!m.matches()) throw new VmmException("--size: \"" + size + "\" is not a size (e.g. 4G or 3072M)");
        long n = Long.parseLong(m.group(1));
        long mib = switch (m.group(2).toUpperCase(java.util.Locale.ROOT)) {
            case "K" -> n / 1024;
            case "G" -> n * 1024;
            case "T" -> n * 1024 * 1024;
            default -> n; // M, or a bare number: MiB, as `vessel image ext4 --size`
        };
        if (mib < MIN_SIZE_MIB) throw new VmmException("--size: " + size + " is too small (at least " + MIN_SIZE_MIB + " MiB)");
        if (mib > MAX_SIZE_MIB) throw new VmmException("--size: " + size + " is too large (at most 2T: an MBR disk)");
        return mib;
    }

    /** The host's Debian source for {@link #SUITE} (and its -updates and -security ones when configured). */
    List<AptSources.Source> sources() throws VmmException {
        List<AptSources.Source> chosen;
        try {
            chosen = AptSources.forSuite(AptSources.read(etcApt), SUITE);
        } catch (IOException e) {
            throw new VmmException("cannot read the apt sources in " + etcApt + ": " + e.getMessage(), e);
        }
        if (chosen.isEmpty()) {
            throw new VmmException("no apt source for Debian " + SUITE + " main in " + etcApt.resolve("sources.list")
                    + " or " + etcApt.resolve("sources.list.d") + " (the image is made from the host's archive)");
        }
        return chosen;
    }

    /** The cache key: a hash of everything that decides the image's content. */
    static String key(Spec spec, List<AptSources.Source> sources) {
        return sha256(inputs(spec, sources)).substring(0, 16);
    }

    static String inputs(Spec spec, List<AptSources.Source> sources) {
        StringBuilder s = new StringBuilder();
        s.append("builder ").append(BUILDER_VERSION).append('\n');
        s.append("kind ").append(spec.kind()).append('\n');
        s.append("suite ").append(SUITE).append('\n');
        s.append("size-mib ").append(spec.sizeMib()).append('\n');
        s.append("packages ").append(String.join(",", spec.packages())).append('\n');
        for (AptSources.Source src : sources) {
            s.append("source ").append(src.mirror()).append(' ').append(String.join(",", src.suites())).append('\n');
        }
        return s.toString();
    }

    /**
     * {@code vessel vm image build}: the image for {@code spec} built (or found in the cache) and
     * copied to {@code out}. Returns the line to print.
     */
    public String build(Spec spec, Path out, Consumer<String> progress) throws VmmException {
        out = out.toAbsolutePath();
        Path parent = out.getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            throw new VmmException("cannot write " + out + ": the directory " + parent + " does not exist");
        }
        if (Files.isDirectory(out)) throw new VmmException("cannot write " + out + ": it is a directory");
        if (!Files.isWritable(parent)) throw new VmmException("cannot write " + out + ": " + parent + " is not writable");
        List<AptSources.Source> sources = sources();
        String key = key(spec, sources);
        Path entry = dir.resolve(spec.kind() + "-" + SUITE + "-" + key);
        Path cached = entry.resolve("disk.qcow2");
        // before a build of minutes: OUT must have room for at least what an image of these packages takes
        long expected = Files.isRegularFile(cached) ? sizeOf(cached) : 1200L << 20;
        requireSpace(parent, expected, "for " + out);
        Built built = ensure(spec, sources, key, progress);
        progress.accept("vm image: copying " + built.image() + " to " + out + " ...");
        copy(built.image(), out);
        String how = built.fresh()
                ? "built in " + describe(built.took()) + ", cached as " + built.image()
                : "cached: " + built.image();
        return out + " (debian " + SUITE + ", qcow2, " + spec.sizeMib() + " MiB virtual, " + (sizeOf(out) >> 20)
                + " MiB on disk; " + how + ")";
    }

    /** The cached image for {@code spec}, built first when there is none. */
    public Built ensure(Spec spec, Consumer<String> progress) throws VmmException {
        List<AptSources.Source> sources = sources();
        return ensure(spec, sources, key(spec, sources), progress);
    }

    private Built ensure(Spec spec, List<AptSources.Source> sources, String key, Consumer<String> progress)
            throws VmmException {
        Path entry = dir.resolve(spec.kind() + "-" + SUITE + "-" + key);
        Path cached = entry.resolve("disk.qcow2");
        mkdirs(dir);
        try (FileChannel lockFile = FileChannel.open(dir.resolve(".lock"), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE); FileLock ignored = lockFile.lock()) {
            removeStaleWork();
            if (Files.isRegularFile(cached)) {
                progress.accept("vm image: " + spec.kind() + " " + SUITE + " (key " + key + ") is cached in " + entry);
                return new Built(cached, key, false, Duration.ZERO);
            }
            requireSpace(dir, BUILD_SPACE_MIB << 20, "to build in " + dir);
            long started = System.nanoTime();
            Path work = dir.resolve(".work-" + ProcessHandle.current().pid());
            Path made = entry.resolveSibling(entry.getFileName() + ".tmp");
            try {
                removeWork(work);
                mkdirs(work);
                makeImage(spec, sources, key, work, progress);
                GuestAssets.deleteTree(made);
                Files.createDirectories(made);
                Files.move(work.resolve("disk.qcow2"), made.resolve("disk.qcow2"));
                Files.writeString(made.resolve("inputs"), inputs(spec, sources));
                Duration took = Duration.ofNanos(System.nanoTime() - started);
                Files.writeString(made.resolve("built"), "took-seconds " + took.toSeconds() + "\n");
                Files.move(made, entry, StandardCopyOption.ATOMIC_MOVE);
                return new Built(cached, key, true, took);
            } finally {
                removeWork(work);
                GuestAssets.deleteTree(made); // (moved into place when the build succeeded)
            }
        } catch (IOException e) {
            throw new VmmException("cannot build the image in " + dir + ": " + reason(e), e);
        }
    }

    /** Everything of one build, in {@code work}: disk.raw, its partition on a loop device mounted on root/, then disk.qcow2. */
    private void makeImage(Spec spec, List<AptSources.Source> sources, String key, Path work, Consumer<String> progress)
            throws VmmException, IOException {
        for (String tool : List.of("debootstrap", "losetup", "mkfs.ext4", "extlinux", "qemu-img", "mount", "umount", "fstrim")) {
            if (Tools.lookup(tool).isEmpty()) {
                throw new VmmException(tool + " is not installed (scripts/install-deps installs what vm images need)");
            }
        }
        if (!Files.isRegularFile(MBR_CODE)) throw new VmmException(MBR_CODE + " is missing (install syslinux-common)");
        requireKnownPackages(spec.extraPackages());
        long diskBytes = spec.sizeMib() << 20;
        Path raw = work.resolve("disk.raw");
        try (FileChannel disk = FileChannel.open(raw, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            disk.write(ByteBuffer.wrap(Mbr.sector0(Files.readAllBytes(MBR_CODE),
                    (int) UUID.randomUUID().getMostSignificantBits(), diskBytes)), 0);
            disk.truncate(diskBytes); // (sparse: a no-op on the size) ...
            disk.write(ByteBuffer.wrap(new byte[1]), diskBytes - 1); // ... the disk's full length, still sparse
        }
        String loop = run(List.of("losetup", "--find", "--show", "--offset", Long.toString(Mbr.partitionOffset()),
                "--sizelimit", Long.toString(Mbr.partitionBytes(diskBytes)), raw.toString()), STEP_TIMEOUT,
                "losetup").strip();
        Path root = work.resolve("root");
        try {
            Files.writeString(work.resolve("loop"), loop + "\n"); // for removeWork after a crash of this process
            String uuid = UUID.randomUUID().toString();
            progress.accept("vm image: ext4 (label " + ROOT_LABEL + ", UUID " + uuid + ") on " + loop + " ...");
            // no 64bit: syslinux 6.04 reads 32-bit block group descriptors
            run(List.of("mkfs.ext4", "-q", "-F", "-L", ROOT_LABEL, "-U", uuid, "-O", "^64bit", loop), STEP_TIMEOUT,
                    "mkfs.ext4");
            Files.createDirectories(root);
            run(List.of("mount", "-t", "ext4", loop, root.toString()), STEP_TIMEOUT, "mount " + loop);
            AptSources.Source main = sources.getFirst();
            Path debs = dir.resolve("cache/debs");
            Files.createDirectories(debs);
            progress.accept("vm image: debootstrap " + SUITE + " from " + main.mirror() + " (" + spec.packages().size()
                    + " packages besides Debian's required ones; a fresh build takes minutes) ...");
            try {
                runLong(List.of("debootstrap", "--variant=minbase", "--cache-dir=" + debs,
                        "--include=" + String.join(",", spec.packages()), SUITE, root.toString(), main.mirror()),
                        DEBOOTSTRAP_TIMEOUT, "debootstrap", progress);
                requireInstalled(root, spec.packages());
            } catch (VmmException e) {
                // the work dir goes: its log is what tells why
                Path log = root.resolve("debootstrap/debootstrap.log");
                if (!Files.isRegularFile(log)) throw e;
                Path kept = dir.resolve("debootstrap-failed.log");
                Files.copy(log, kept, StandardCopyOption.REPLACE_EXISTING);
                throw new VmmException(e.getMessage() + " (debootstrap's log: " + kept + ")", e);
            }
            progress.accept("vm image: configuring the guest (fstab, boot loader, cloud-init, console, machine-id) ...");
            configure(root, uuid, sources);
            run(List.of("extlinux", "--install", root.resolve("boot/extlinux").toString()), STEP_TIMEOUT, "extlinux --install");
            // the blocks of deleted files (debootstrap's copies of the packages) become holes of disk.raw,
            // so that the qcow2 holds only what the guest has
            run(List.of("fstrim", root.toString()), STEP_TIMEOUT, "fstrim " + root);
            run(List.of("umount", root.toString()), STEP_TIMEOUT, "umount " + root);
            run(List.of("losetup", "-d", loop), STEP_TIMEOUT, "losetup -d " + loop);
            Files.delete(work.resolve("loop"));
            progress.accept("vm image: writing qcow2 ...");
            run(List.of("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw.toString(),
                    work.resolve("disk.qcow2").toString()), STEP_TIMEOUT, "qemu-img convert");
        } finally {
            unmount(work); // after a failure: the mount and the loop device go (removeWork deletes the files)
        }
    }

    /** The guest's own files, written from the host (no chroot: nothing of the build runs inside the image). */
    static void configure(Path root, String uuid, List<AptSources.Source> sources) throws IOException, VmmException {
        Path etc = root.resolve("etc");
        Files.writeString(etc.resolve("fstab"), "# the root file system by UUID (its label is " + ROOT_LABEL + ")\n"
                + "UUID=" + uuid + " / ext4 errors=remount-ro 0 1\n");
        Files.writeString(etc.resolve("hostname"), "debian\n");
        Files.writeString(etc.resolve("hosts"), "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                + "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n");
        StringBuilder apt = new StringBuilder();
        for (AptSources.Source s : sources) {
            apt.append("deb ").append(s.mirror()).append(' ').append(s.suites().getFirst()).append(" main\n");
        }
        Files.writeString(etc.resolve("apt/sources.list"), apt.toString());
        // an empty machine-id: systemd makes one on the first boot (one per VM, not one per image)
        Files.writeString(etc.resolve("machine-id"), "");
        Files.deleteIfExists(root.resolve("var/lib/dbus/machine-id"));
        // no host keys: cloud-init makes each VM's own on its first boot
        try (Stream<Path> keys = Files.list(etc.resolve("ssh"))) {
            for (Path k : keys.filter(p -> p.getFileName().toString().startsWith("ssh_host_")).toList()) Files.delete(k);
        }
        lockRoot(etc.resolve("shadow"));
        Files.writeString(etc.resolve("default/locale"), "LANG=C.UTF-8\n");
        Files.writeString(etc.resolve("cloud/cloud.cfg.d/90-vessel.cfg"), """
                # made by vessel vm image build: a NoCloud seed (an ISO labelled cidata, or a kernel
                # command line ds=nocloud;...) configures the VM; without one, cloud-init's None
                # datasource still brings up DHCP on the first NIC and makes the SSH host keys.
                datasource_list: [ NoCloud, None ]
                """);
        // the files cloud-init would write are debootstrap's cache leftovers otherwise
        deleteChildren(root.resolve("var/cache/apt/archives"), ".deb");
        deleteChildren(root.resolve("var/lib/apt/lists"), null);
        Path extlinux = root.resolve("boot/extlinux");
        Files.createDirectories(extlinux);
        Files.writeString(extlinux.resolve("extlinux.conf"), extlinuxConf(root, uuid));
    }

    /**
     * extlinux's configuration: Debian's /vmlinuz and /initrd.img links (kept pointing at the newest
     * kernel by the kernel packages, so an upgrade in the guest boots), the serial console last
     * so that /dev/console is ttyS0.
     */
    static String extlinuxConf(Path root, String uuid) throws VmmException {
        for (String link : List.of("vmlinuz", "initrd.img")) {
            if (!Files.exists(root.resolve(link))) throw new VmmException("the guest has no /" + link + " after debootstrap");
        }
        return """
                # made by vessel vm image build
                SERIAL 0 115200
                DEFAULT debian
                PROMPT 0
                TIMEOUT 0
                LABEL debian
                  LINUX /vmlinuz
                  INITRD /initrd.img
                  APPEND root=UUID=%s ro console=tty0 console=ttyS0,115200n8
                """.formatted(uuid);
    }

    /** root's password field set to "*": no password logs in as root (ssh keys through cloud-init do). */
    static void lockRoot(Path shadow) throws IOException {
        List<String> lines = new ArrayList<>();
        for (String line : Files.readAllLines(shadow)) {
            if (line.startsWith("root:")) {
                String[] f = line.split(":", -1);
                f[1] = "*";
                line = String.join(":", f);
            }
            lines.add(line);
        }
        Files.writeString(shadow, String.join("\n", lines) + "\n");
    }

    private static void deleteChildren(Path dir, String suffix) throws IOException {
        if (!Files.isDirectory(dir)) return;
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                if (Files.isRegularFile(p) && (suffix == null || p.getFileName().toString().endsWith(suffix))) Files.delete(p);
            }
        }
    }

    /**
     * Every requested package configured in the guest: debootstrap retries a failed configure step
     * and can end with packages left unconfigured, which would boot a half-made image.
     */
    static void requireInstalled(Path root, List<String> packages) throws IOException, VmmException {
        java.util.Set<String> ok = new java.util.HashSet<>();
        String name = null;
        for (String line : Files.readAllLines(root.resolve("var/lib/dpkg/status"))) {
            if (line.startsWith("Package: ")) name = line.substring("Package: ".length()).strip();
            else if (line.equals("Status: install ok installed") && name != null) ok.add(name);
        }
        List<String> missing = packages.stream().filter(p -> !ok.contains(p)).toList();
        if (!missing.isEmpty()) {
            throw new VmmException("debootstrap left " + String.join(", ", missing)
                    + " not installed");
        }
    }

    /** Packages besides the base ones must be known to apt here (the host's source is the image's): checked before minutes of debootstrap. */
    private static void requireKnownPackages(List<String> packages) throws VmmException {
        for (String p : packages) {
            Command.Result r = exec(List.of("apt-cache", "show", "--no-all-versions", p), STEP_TIMEOUT);
            if (r.status() != 0 || r.output().isBlank()) {
                throw new VmmException("--packages: apt knows no package \"" + p + "\" (apt-cache show " + p + ")");
            }
        }
    }

    /**
     * What builds of daemons that died (kill -9 during debootstrap) left: their work dirs (with
     * the mount and loop device in them) and half-moved cache entries. Called under the lock.
     */
    void removeStaleWork() throws IOException {
        List<Path> stale;
        try (Stream<Path> entries = Files.list(dir)) {
            stale = entries.filter(p -> {
                String name = p.getFileName().toString();
                if (name.endsWith(".tmp")) return true;
                if (!name.startsWith(".work-")) return false;
                try {
                    return ProcessHandle.of(Long.parseLong(name.substring(".work-".length()))).isEmpty();
                } catch (NumberFormatException e) {
                    return false;
                }
            }).toList();
        }
        for (Path p : stale) removeWork(p);
    }

    /** Undoes a build: unmounts what is mounted under {@code work} (deepest first), detaches its loop device, deletes it. */
    void removeWork(Path work) throws IOException {
        if (!Files.exists(work)) return;
        unmount(work);
        GuestAssets.deleteTree(work);
    }

    /** What is mounted under {@code work} unmounted (deepest first), its loop device detached. */
    private static void unmount(Path work) throws IOException {
        String prefix = work.toString() + "/";
        List<String> mounts = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String[] f = line.split(" ");
            if (f.length > 4) {
                String point = f[4].replace("\\040", " ");
                if (point.startsWith(prefix)) mounts.add(point);
            }
        }
        mounts.sort(java.util.Comparator.comparing(String::length).reversed());
        for (String m : mounts) {
            if (!quietly(List.of("umount", m))) quietly(List.of("umount", "-l", m));
        }
        Path loopFile = work.resolve("loop");
        if (Files.isRegularFile(loopFile)) {
            String loop = Files.readString(loopFile).strip();
            if (loop.startsWith("/dev/loop")) quietly(List.of("losetup", "-d", loop));
            Files.delete(loopFile);
        }
    }

    /** Whether {@code command} succeeded; a clean-up step whose failure must not hide the error being cleaned up after. */
    private static boolean quietly(List<String> command) {
        try {
            return exec(command, STEP_TIMEOUT).status() == 0;
        } catch (VmmException e) {
            return false;
        }
    }

    /** Copies {@code image} to {@code out} through a temporary file beside it: OUT is whole or absent. */
    private static void copy(Path image, Path out) throws VmmException {
        requireSpace(out.getParent(), sizeOf(image), "for " + out);
        Path tmp = out.resolveSibling("." + out.getFileName() + ".vessel-" + ProcessHandle.current().pid());
        try {
            Files.copy(image, tmp, StandardCopyOption.REPLACE_EXISTING);
            Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // the first failure is the one to tell
            }
            String why = e instanceof java.nio.file.FileSystemException f && f.getReason() != null ? f.getReason() : e.getMessage();
            throw new VmmException("cannot write " + out + ": " + why, e);
        }
    }

    private static String reason(IOException e) {
        if (e instanceof java.nio.file.NoSuchFileException) return e.getMessage() + ": no such file";
        if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) return f.getFile() + ": " + f.getReason();
        return e.getMessage();
    }

    private static void requireSpace(Path where, long bytes, String what) throws VmmException {
        long free;
        try {
            FileStore store = Files.getFileStore(where);
            free = store.getUsableSpace();
        } catch (IOException e) {
            throw new VmmException("cannot tell the free space of " + where + ": " + e.getMessage(), e);
        }
        if (free < bytes) {
            throw new VmmException("no space " + what + ": it needs " + (bytes >> 20) + " MiB, " + where + " has "
                    + (free >> 20) + " MiB free");
        }
    }

    private static long sizeOf(Path p) throws VmmException {
        try {
            return Files.size(p);
        } catch (IOException e) {
            throw new VmmException("cannot read " + p + ": " + e.getMessage(), e);
        }
    }

    private static Command.Result exec(List<String> command, Duration timeout) throws VmmException {
        List<String> argv = new ArrayList<>(command);
        argv.set(0, Tools.find(argv.getFirst()));
        try {
            return Command.run(argv, "", timeout, null, Map.of("DEBIAN_FRONTEND", "noninteractive", "LC_ALL", "C"));
        } catch (Command.TimeoutException e) {
            throw new VmmException(command.getFirst() + " did not finish within " + describe(timeout), e);
        } catch (IOException e) {
            throw new VmmException(command.getFirst() + " cannot run: " + e.getMessage(), e);
        }
    }

    /** Runs {@code command}; its output when it succeeds, else one line: what failed and the program's own last error. */
    private static String run(List<String> command, Duration timeout, String what) throws VmmException {
        Command.Result r = exec(command, timeout);
        if (r.status() != 0) throw new VmmException(what + " failed: " + lastError(r));
        return r.output();
    }

    /** {@link #run}, with a line every 30 s that it is still running (debootstrap takes minutes). */
    private static void runLong(List<String> command, Duration timeout, String what, Consumer<String> progress)
            throws VmmException {
        long started = System.nanoTime();
        Thread ticker = Thread.ofVirtual().start(() -> {
            try {
                while (true) {
                    Thread.sleep(30_000);
                    progress.accept("vm image: " + what + " still running ("
                            + describe(Duration.ofNanos(System.nanoTime() - started)) + ") ...");
                }
            } catch (InterruptedException | RuntimeException stop) {
                // done, or the caller went away
            }
        });
        try {
            run(command, timeout, what);
        } finally {
            ticker.interrupt();
            try {
                ticker.join(); // its last line is out before the caller writes its next
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The line of a failed program to quote: its last "E:" line (apt, debootstrap), else its last line. */
    static String lastError(Command.Result r) {
        List<String> lines = r.output().lines().map(String::strip).filter(l -> !l.isEmpty()).toList();
        for (int i = lines.size() - 1; i >= 0; i--) {
            if (lines.get(i).startsWith("E: ")) return lines.get(i);
        }
        return lines.isEmpty() ? "exit status " + r.status() : lines.getLast();
    }

    static String describe(Duration d) {
        long s = d.toSeconds();
        return s < 120 ? s + " s" : (s / 60) + " min " + (s % 60) + " s";
    }

    private static void mkdirs(Path p) throws VmmException {
        try {
            Files.createDirectories(p);
        } catch (IOException e) {
            throw new VmmException("cannot create " + p + ": " + e.getMessage(), e);
        }
    }

    private static String sha256(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
