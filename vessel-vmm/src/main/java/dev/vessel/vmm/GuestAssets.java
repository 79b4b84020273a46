package dev.vessel.vmm;

import dev.vessel.linux.Command;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;

/**
 * The guest kernel and initrd, made from Debian's packages (see docs/microvm.md, "Files"):
 * <ul>
 * <li>{@code vmlinux}: the kernel of the package {@code linux-image-amd64} depends on (the
 *     {@code -cloud} flavour lacks 9p), uncompressed to an ELF QEMU boots through PVH;</li>
 * <li>{@code initrd.img}: a gzip'd newc cpio with {@code /init} (the agent, static),
 *     {@code /lib/modules/*.ko} and {@code /lib/modules/load-order} (dependencies first), and
 *     {@code /dev/console}.</li>
 * </ul>
 * The .deb is cached under {@code cache/}; {@code stamp} records the inputs (package and version,
 * the agent's SHA-256, the module list), and {@link #build} does nothing while they are unchanged.
 * <p>With {@link GuestKernel#VESSEL} the guest boots Vessel's own kernel instead
 * ({@link KernelBuild}, cached under {@code kernel/}): {@code vessel/vmlinux} (a link to the cached
 * build), {@code vessel/initrd.img} (the same cpio without modules: that kernel has none) and
 * {@code vessel/stamp} (the build's key and the agent's SHA-256). The Debian files are built either
 * way (the kernel to compare with, and {@code guest_kernel = "debian"} at any time).
 * Builds are serialised by a lock on {@code .lock}.
 */
public final class GuestAssets {
    public static final Path DEFAULT_DIR = Path.of("/var/lib/vessel/assets");
    public static final String META_PACKAGE = "linux-image-amd64";
    private static final int STAMP_FORMAT = 1;

    private static final int VESSEL_STAMP_FORMAT = 1;

    private final Path dir;
    private final List<String> modules;
    private final GuestKernel guestKernel;

    /** Debian's kernel (what {@code vessel vmm} pairs with a boot source's own kernel). */
    public GuestAssets(Path dir) {
        this(dir, GuestKernel.DEBIAN);
    }

    public GuestAssets(Path dir, GuestKernel guestKernel) {
        this(dir, KernelModules.GUEST_MODULES, guestKernel);
    }

    public GuestAssets(Path dir, List<String> modules) {
        this(dir, modules, GuestKernel.DEBIAN);
    }

    public GuestAssets(Path dir, List<String> modules, GuestKernel guestKernel) {
        this.dir = dir.toAbsolutePath();
        this.modules = List.copyOf(modules);
        this.guestKernel = guestKernel;
    }

    public Path dir() {
        return dir;
    }

    public GuestKernel guestKernel() {
        return guestKernel;
    }

    /** The selected kernel's files: {@code vmlinux}, or {@code vessel/vmlinux}. */
    private Path files() {
        return guestKernel == GuestKernel.VESSEL ? dir.resolve("vessel") : dir;
    }

    public Path kernel() {
        return files().resolve("vmlinux");
    }

    public Path initrd() {
        return files().resolve("initrd.img");
    }

    public boolean present() {
        return Files.isRegularFile(kernel()) && Files.isRegularFile(initrd());
    }

    /**
     * Which kernel and initrd these are, cheaply (no hashing): each file's name under the assets
     * dir, size and modification time, e.g. "vmlinux 41234567 2026-12-01T03:55:12Z, initrd.img
     * 2345678 2026-12-01T03:55:13Z" (Vessel's kernel: "vessel/vmlinux …, vessel/initrd.img …");
     * "absent" before they are built. A rebuild, or choosing the other kernel, changes this.
     */
    public String identity() {
        if (!present()) return "absent";
        StringBuilder id = new StringBuilder();
        for (Path p : List.of(kernel(), initrd())) {
            try {
                if (!id.isEmpty()) id.append(", ");
                id.append(dir.relativize(p)).append(' ').append(Files.size(p)).append(' ')
                        .append(Files.getLastModifiedTime(p).toInstant());
            } catch (IOException e) {
                return "unreadable (" + e.getMessage() + ")";
            }
        }
        return id.toString();
    }

    /** {@code kernel: PATH} and {@code initrd: PATH}; an error when they have not been built. */
    public List<String> show() throws VmmException {
        if (!present()) {
            throw new VmmException("no " + guestKernel.configName() + " guest kernel and initrd in " + dir
                    + ": run `vessel assets build`");
        }
        return List.of("kernel: " + kernel(), "initrd: " + initrd(), "guest kernel: " + guestKernel.configName());
    }

    /**
     * Builds (or keeps) the kernel and initrd with {@code agent} as /init. Returns one line saying
     * what was done.
     */
    public String build(Path agent) throws VmmException {
        return build(agent, line -> { });
    }

    /**
     * {@link #build(Path)}, saying what it does as it goes ({@code progress} gets one line per
     * step: the apt look-up alone takes seconds even when nothing is to be built).
     */
    public String build(Path agent, java.util.function.Consumer<String> progress) throws VmmException {
        byte[] agentBytes = readAgent(agent);
        mkdirs(dir.resolve("cache"));
        try (FileChannel lockFile = FileChannel.open(dir.resolve(".lock"), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE); FileLock ignored = lockFile.lock()) {
            progress.accept("guest assets: asking apt which " + META_PACKAGE + " kernel is current ...");
            Deb deb = kernelPackage();
            // (the .deb itself is fetched only when something must be built)
            String stamp = "format " + STAMP_FORMAT + "\n"
                    + "kernel-package " + deb.name() + " " + deb.version() + "\n"
                    + "agent " + sha256(agentBytes) + "\n"
                    + "modules " + String.join(",", modules) + "\n";
            Path stampFile = dir.resolve("stamp");
            String debian = "debian kernel " + deb.name() + " " + deb.version();
            if (Files.isRegularFile(dir.resolve("vmlinux")) && Files.isRegularFile(dir.resolve("initrd.img"))
                    && Files.exists(stampFile) && Files.readString(stampFile).equals(stamp)) {
                return vesselKernel(agentBytes, progress, "guest assets up to date (" + debian + ")");
            }
            Path work = dir.resolve(".work-" + ProcessHandle.current().pid());
            deleteTree(work);
            try {
                mkdirs(work);
                progress.accept("guest assets: building from " + deb.name() + " " + deb.version()
                        + (Files.isRegularFile(deb.file()) ? " (cached)" : ": downloading it") + " ...");
                download(deb);
                progress.accept("guest assets: unpacking the kernel and its modules ...");
                run(List.of("dpkg-deb", "-x", deb.file().toString(), work.toString()), "dpkg-deb -x " + deb.file());
                Path vmlinuz;
                Path moduleTree;
                try (Stream<Path> boot = Files.list(work.resolve("boot"));
                     Stream<Path> trees = Files.list(work.resolve("lib/modules"))) {
                    vmlinuz = boot.filter(p -> p.getFileName().toString().startsWith("vmlinuz")).findFirst()
                            .orElseThrow(() -> new VmmException(deb.file() + " holds no boot/vmlinuz*"));
                    moduleTree = trees.findFirst()
                            .orElseThrow(() -> new VmmException(deb.file() + " holds no lib/modules/<release>"));
                }
                List<KernelModules.Module> order = KernelModules.scan(moduleTree).loadOrder(modules);
                Vmlinux.extract(vmlinuz, dir.resolve("vmlinux"));
                progress.accept("guest assets: writing " + dir.resolve("initrd.img") + " ...");
                writeInitrd(dir.resolve("initrd.img"), agentBytes, order);
                Files.writeString(stampFile, stamp);
            } finally {
                deleteTree(work);
            }
            return vesselKernel(agentBytes, progress, "built guest assets (" + debian + ")");
        } catch (IOException e) {
            throw new VmmException("cannot build guest assets in " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * With {@link GuestKernel#VESSEL}: Vessel's kernel built (or found in its cache) and
     * {@code vessel/} made to match it and the agent; {@code done} (the Debian part's line) with
     * what was done appended. With Debian's kernel: {@code done} as it is.
     */
    private String vesselKernel(byte[] agent, java.util.function.Consumer<String> progress, String done)
            throws VmmException, IOException {
        if (guestKernel != GuestKernel.VESSEL) return done;
        KernelBuild.Built built = new KernelBuild(dir.resolve("kernel")).ensure(progress);
        String what = built.fresh()
                ? "vessel kernel " + built.key() + " built in " + KernelBuild.describe(built.took()) + " (make -j"
                        + Runtime.getRuntime().availableProcessors() + ")"
                : "vessel kernel " + built.key() + " (cached)";
        String stamp = "format " + VESSEL_STAMP_FORMAT + "\n" + "kernel " + built.key() + "\n" + "agent " + sha256(agent) + "\n";
        Path files = dir.resolve("vessel");
        Path stampFile = files.resolve("stamp");
        if (present() && Files.exists(stampFile) && Files.readString(stampFile).equals(stamp)) {
            return done + "; " + what;
        }
        Files.createDirectories(files);
        Files.deleteIfExists(stampFile);
        // a hard link: the cache's copy stays the one file, and replacing it here is atomic
        Path tmp = files.resolve("vmlinux.tmp");
        Files.deleteIfExists(tmp);
        try {
            Files.createLink(tmp, built.vmlinux());
        } catch (IOException | UnsupportedOperationException e) {
            Files.copy(built.vmlinux(), tmp);
        }
        Files.move(tmp, kernel(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        progress.accept("guest assets: writing " + initrd() + " (no modules) ...");
        writeInitrd(initrd(), agent, List.of());
        Files.writeString(stampFile, stamp);
        return done + "; " + what;
    }

    private void writeInitrd(Path target, byte[] agent, List<KernelModules.Module> order) throws IOException {
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        try (OutputStream out = new BufferedOutputStream(new GZIPOutputStream(Files.newOutputStream(tmp), 1 << 16))) {
            Cpio cpio = new Cpio(out);
            for (String d : List.of("dev", "proc", "sys", "run", "tmp", "mnt", "lib", "lib/modules")) {
                cpio.directory(d, 0755);
            }
            cpio.charDevice("dev/console", 0600, 5, 1);
            cpio.charDevice("dev/null", 0666, 1, 3);
            cpio.file("init", 0755, agent);
            StringBuilder loadOrder = new StringBuilder();
            for (KernelModules.Module m : order) {
                String file = m.file().getFileName().toString();
                cpio.file("lib/modules/" + file, 0644, Files.readAllBytes(m.file()));
                loadOrder.append(file).append('\n');
            }
            cpio.file("lib/modules/load-order", 0644, loadOrder.toString().getBytes(StandardCharsets.UTF_8));
            cpio.finish();
        }
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** The kernel package, resolved through apt (or the newest in the cache when apt cannot say). */
    record Deb(String name, String version, Path file) {}

    private Deb kernelPackage() throws VmmException, IOException {
        Path cache = dir.resolve("cache");
        String name;
        String version;
        try {
            name = dependency();
            version = candidateVersion(name);
        } catch (VmmException offline) {
            // No apt metadata and no archive: a cached package still builds.
            Deb cached = newestCached(cache);
            if (cached == null) throw offline;
            return cached;
        }
        return new Deb(name, version, cache.resolve(name + "_" + version.replace(":", "%3a") + "_amd64.deb"));
    }

    /** Downloads {@code deb} into the cache unless it is there, and drops older cached packages. */
    private static void download(Deb deb) throws VmmException, IOException {
        Path file = deb.file();
        if (Files.isRegularFile(file)) return;
        run(List.of("apt-get", "download", "-q", deb.name() + "=" + deb.version()), file.getParent(),
                "apt-get download " + deb.name() + " (is the Debian archive reachable?)");
        if (!Files.isRegularFile(file)) throw new VmmException("apt-get download " + deb.name() + " gave no " + file);
        try (Stream<Path> old = Files.list(file.getParent())) {
            for (Path p : (Iterable<Path>) old::iterator) {
                if (!p.equals(file) && p.getFileName().toString().endsWith(".deb")) Files.deleteIfExists(p);
            }
        }
    }

    /** The linux-image-X-amd64 that linux-image-amd64 depends on (after apt-get update if apt knows none). */
    private String dependency() throws VmmException {
        for (int attempt = 0; attempt < 2; attempt++) {
            Command.Result r = exec(List.of("apt-cache", "depends", META_PACKAGE), null);
            if (r.status() == 0) {
                for (String line : r.output().split("\n")) {
                    String s = line.strip();
                    if (s.startsWith("Depends: linux-image-") && !s.contains("<")) {
                        return s.substring("Depends: ".length()).strip();
                    }
                }
            }
            if (attempt == 0) {
                run(List.of("apt-get", "update", "-qq"), "apt-get update (is the Debian archive reachable?)");
            }
        }
        throw new VmmException("apt knows no " + META_PACKAGE + " (check /etc/apt/sources.list: Debian main)");
    }

    private static String candidateVersion(String name) throws VmmException {
        Command.Result r = exec(List.of("apt-cache", "show", "--no-all-versions", name), null);
        for (String line : r.output().split("\n")) {
            if (line.startsWith("Version: ")) return line.substring("Version: ".length()).strip();
        }
        throw new VmmException("apt-cache show " + name + " gives no version");
    }

    private static Deb newestCached(Path cache) throws IOException {
        try (Stream<Path> files = Files.list(cache)) {
            return files.filter(p -> p.getFileName().toString().matches("linux-image-.*_.*_amd64\\.deb"))
                    .max(Comparator.comparing(p -> {
                        try {
                            return Files.getLastModifiedTime(p);
                        } catch (IOException e) {
                            return java.nio.file.attribute.FileTime.fromMillis(0);
                        }
                    }))
                    .map(p -> {
                        String[] parts = p.getFileName().toString().split("_");
                        return new Deb(parts[0], parts[1].replace("%3a", ":"), p);
                    })
                    .orElse(null);
        }
    }

    private static byte[] readAgent(Path agent) throws VmmException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(agent);
        } catch (IOException e) {
            throw new VmmException("cannot read the guest agent " + agent + ": " + e.getMessage()
                    + " (build it: make build)", e);
        }
        if (!Vmlinux.isElf(bytes, 0)) throw new VmmException("the guest agent " + agent + " is not an ELF binary");
        if (hasInterpreter(bytes)) {
            throw new VmmException("the guest agent " + agent + " is dynamically linked: /init must be static");
        }
        return bytes;
    }

    /** Whether an ELF64 has a PT_INTERP program header (i.e. is dynamically linked). */
    static boolean hasInterpreter(byte[] elf) {
        var b = java.nio.ByteBuffer.wrap(elf).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        if (elf.length < 64 || elf[4] != 2) return false;
        long phoff = b.getLong(0x20);
        int phentsize = Short.toUnsignedInt(b.getShort(0x36));
        int phnum = Short.toUnsignedInt(b.getShort(0x38));
        for (int i = 0; i < phnum; i++) {
            long at = phoff + (long) i * phentsize;
            if (at + 4 <= elf.length && b.getInt((int) at) == 3) return true;
        }
        return false;
    }

    private static Command.Result exec(List<String> command, Path cwd) throws VmmException {
        try {
            return Command.run(command, "", java.time.Duration.ofMinutes(10), cwd,
                    java.util.Map.of("DEBIAN_FRONTEND", "noninteractive", "LC_ALL", "C"));
        } catch (Command.TimeoutException e) {
            throw new VmmException(command.getFirst() + " timed out", e);
        } catch (IOException e) {
            throw new VmmException(command.getFirst() + " cannot run: " + e.getMessage(), e);
        }
    }

    private static void run(List<String> command, String what) throws VmmException {
        run(command, null, what);
    }

    private static void run(List<String> command, Path cwd, String what) throws VmmException {
        Command.Result r = exec(command, cwd);
        if (r.status() != 0) {
            String last = r.output().lines().filter(l -> !l.isBlank() && !l.startsWith("W: Download is performed"))
                    .reduce((a, b) -> b).orElse("exit status " + r.status());
            throw new VmmException(what + " failed: " + last.strip());
        }
    }

    private static void mkdirs(Path p) throws VmmException {
        try {
            Files.createDirectories(p);
        } catch (IOException e) {
            throw new VmmException("cannot create " + p + ": " + e.getMessage(), e);
        }
    }

    static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        try (Stream<Path> all = Files.walk(root)) {
            List<Path> paths = new ArrayList<>(all.toList());
            paths.sort(Comparator.reverseOrder());
            for (Path p : paths) Files.deleteIfExists(p);
        }
    }

    private static String sha256(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
