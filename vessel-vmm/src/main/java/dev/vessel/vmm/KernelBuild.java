package dev.vessel.vmm;

import dev.vessel.linux.Command;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Vessel's guest kernel: Debian's linux-source-6.1 configured with {@code make allnoconfig} under
 * the fragment {@code guest-kernel.config} (this package's resource), built to an uncompressed
 * vmlinux QEMU boots through PVH. Builds are cached in {@code <cache>/<key>/} ({@code vmlinux},
 * {@code config}, {@code build.log}), the key naming the source package's version and a hash of the
 * fragment and of this recipe; nothing is built while a build with the same key is there. The
 * source is unpacked under {@code <cache>/.work-<pid>} and removed once built. The caller serialises
 * builds (GuestAssets holds its lock).
 */
public final class KernelBuild {
    public static final String SOURCE_PACKAGE = "linux-source-6.1";
    public static final Path SOURCE_TARBALL = Path.of("/usr/src/linux-source-6.1.tar.xz");
    static final String CONFIG_RESOURCE = "guest-kernel.config";
    /** Bumped when the steps below change what a given config and source produce. */
    static final int RECIPE = 1;
    /** How many builds (keys) the cache keeps: switching between two configs does not rebuild. */
    static final int KEEP = 3;
    private static final Duration MAKE_TIMEOUT = Duration.ofMinutes(90);
    private static final Pattern CONFIG_LINE = Pattern.compile("^(CONFIG_[A-Za-z0-9_]+=.*|# CONFIG_[A-Za-z0-9_]+ is not set)$");

    /** The package's version, e.g. "6.1.192-3", or why there is none. */
    public interface SourceVersion {
        String get() throws VmmException;
    }

    private final Path cache;
    private final byte[] config;
    private final SourceVersion sourceVersion;
    private final Path tarball;

    /** Debian's installed linux-source-6.1 and the fragment shipped in this jar. */
    public KernelBuild(Path cache) {
        this(cache, bundledConfig(), KernelBuild::installedSourceVersion, SOURCE_TARBALL);
    }

    KernelBuild(Path cache, byte[] config, SourceVersion sourceVersion, Path tarball) {
        this.cache = cache.toAbsolutePath();
        this.config = config.clone();
        this.sourceVersion = sourceVersion;
        this.tarball = tarball;
    }

    /** A built kernel: its cache key, vmlinux, and whether this call built it (and how long that took). */
    public record Built(String key, Path vmlinux, boolean fresh, Duration took) {}

    /**
     * The cache key of {@code config} over source version {@code version}: the version, then the
     * first 16 hex digits of SHA-256 over the recipe number and the fragment, e.g.
     * "6.1.192-3-b31189545f66907b". Either input changing changes it.
     */
    static String key(String version, byte[] config) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(("recipe " + RECIPE + "\n").getBytes(StandardCharsets.UTF_8));
            sha.update(config);
            String hash = HexFormat.of().formatHex(sha.digest()).substring(0, 16);
            return version.replaceAll("[^A-Za-z0-9.+~-]", "_") + "-" + hash;
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /** The key of this build's inputs now (asks dpkg for the source's version). */
    public String key() throws VmmException {
        return key(sourceVersion.get(), config);
    }

    /** The cached vmlinux of {@code key}, or null when it has not been built. */
    Path cached(String key) {
        Path vmlinux = cache.resolve(key).resolve("vmlinux");
        return Files.isRegularFile(vmlinux) ? vmlinux : null;
    }

    /**
     * The fragment's lines ("CONFIG_X=y", "# CONFIG_X is not set") that the final .config does not
     * hold: a misspelt symbol or one whose dependencies are unmet, which Kconfig drops silently.
     */
    static List<String> unmet(String fragment, String finalConfig) {
        Set<String> have = Set.copyOf(finalConfig.lines().map(String::strip).toList());
        List<String> missing = new ArrayList<>();
        for (String line : fragment.lines().map(String::strip).toList()) {
            if (!CONFIG_LINE.matcher(line).matches()) continue;
            // allnoconfig writes an "n" it had no prompt for as absent: "is not set" holds then too
            if (line.startsWith("# ")) {
                String set = line.substring(2, line.indexOf(' ', 2)) + "=";
                if (have.stream().noneMatch(l -> l.startsWith(set))) continue;
            }
            if (!have.contains(line)) missing.add(line);
        }
        return missing;
    }

    /** The cached build of the current inputs, building it first when there is none. */
    public Built ensure(Consumer<String> progress) throws VmmException {
        String version = sourceVersion.get();
        String key = key(version, config);
        Path vmlinux = cached(key);
        if (vmlinux != null) return new Built(key, vmlinux, false, Duration.ZERO);
        if (!Files.isRegularFile(tarball)) {
            throw new VmmException(tarball + " is missing (install " + SOURCE_PACKAGE + ": scripts/install-deps)");
        }
        int jobs = Runtime.getRuntime().availableProcessors();
        Path work = cache.resolve(".work-" + ProcessHandle.current().pid());
        long start = System.nanoTime();
        try {
            GuestAssets.deleteTree(work);
            Files.createDirectories(work);
            progress.accept("guest kernel: building Linux " + version + " from " + tarball + " with Vessel's "
                    + CONFIG_RESOURCE + " (key " + key + "; make -j" + jobs + " at nice 10: minutes) ...");
            run(List.of("tar", "-xf", tarball.toString(), "-C", work.toString(), "--strip-components=1"), work, "tar -xf " + tarball);
            Path fragment = work.resolve("vessel.config");
            Files.write(fragment, config);
            List<String> make = List.of("nice", "-n", "10", "make", "-s", "ARCH=x86_64");
            run(concat(make, "allnoconfig", "KCONFIG_ALLCONFIG=" + fragment), work, "make allnoconfig");
            String finalConfig = Files.readString(work.resolve(".config"));
            List<String> unmet = unmet(new String(config, StandardCharsets.UTF_8), finalConfig);
            if (!unmet.isEmpty()) {
                throw new VmmException(CONFIG_RESOURCE + " asks for what Linux " + version + "'s Kconfig did not keep: "
                        + String.join(", ", unmet) + " (a misspelt symbol or an unmet dependency)");
            }
            progress.accept("guest kernel: configured; compiling (make -j" + jobs + " vmlinux) ...");
            Command.Result r = exec(concat(make, "-j" + jobs, "vmlinux"), work, MAKE_TIMEOUT);
            Files.writeString(work.resolve("build.log"), r.output());
            if (r.status() != 0) {
                Path log = cache.resolve("failed-" + key + ".log");
                Files.copy(work.resolve("build.log"), log, StandardCopyOption.REPLACE_EXISTING);
                String last = r.output().lines().filter(l -> !l.isBlank()).reduce((a, b) -> b).orElse("exit status " + r.status());
                throw new VmmException("make vmlinux failed: " + last.strip() + " (the whole output: " + log + ")");
            }
            Path staged = work.resolve("out");
            Files.createDirectories(staged);
            Files.copy(work.resolve("vmlinux"), staged.resolve("vmlinux"));
            Files.writeString(staged.resolve("config"), finalConfig);
            Files.copy(work.resolve("build.log"), staged.resolve("build.log"));
            Path target = cache.resolve(key);
            GuestAssets.deleteTree(target);
            Files.move(staged, target, StandardCopyOption.ATOMIC_MOVE);
            prune(key);
            return new Built(key, target.resolve("vmlinux"), true, Duration.ofNanos(System.nanoTime() - start));
        } catch (IOException e) {
            throw new VmmException("cannot build the guest kernel in " + work + ": " + e.getMessage(), e);
        } finally {
            try {
                GuestAssets.deleteTree(work);
            } catch (IOException e) {
                progress.accept("guest kernel: cannot remove " + work + ": " + e.getMessage());
            }
        }
    }

    /** Keeps the {@link #KEEP} newest builds (the one just made among them). */
    private void prune(String keep) throws IOException {
        List<Path> builds;
        try (Stream<Path> all = Files.list(cache)) {
            builds = all.filter(p -> Files.isRegularFile(p.resolve("vmlinux")) && !p.getFileName().toString().equals(keep))
                    .sorted(Comparator.comparing(KernelBuild::modified).reversed()).toList();
        }
        for (Path old : builds.subList(Math.min(builds.size(), KEEP - 1), builds.size())) GuestAssets.deleteTree(old);
    }

    private static java.nio.file.attribute.FileTime modified(Path p) {
        try {
            return Files.getLastModifiedTime(p);
        } catch (IOException e) {
            return java.nio.file.attribute.FileTime.fromMillis(0);
        }
    }

    /** "1m 23s", "45s". */
    public static String describe(Duration d) {
        long s = Math.round(d.toMillis() / 1000.0);
        return s >= 60 ? (s / 60) + "m " + (s % 60) + "s" : s + "s";
    }

    static byte[] bundledConfig() {
        try (InputStream in = KernelBuild.class.getResourceAsStream(CONFIG_RESOURCE)) {
            if (in == null) throw new IllegalStateException(CONFIG_RESOURCE + " is missing from the vessel-vmm jar");
            return in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + CONFIG_RESOURCE + ": " + e.getMessage(), e);
        }
    }

    static String installedSourceVersion() throws VmmException {
        Command.Result r = exec(List.of("dpkg-query", "-W", "-f=${Version}\\n${db:Status-Status}\\n", SOURCE_PACKAGE),
                null, Duration.ofSeconds(30));
        List<String> lines = r.output().lines().toList();
        if (r.status() != 0 || lines.size() < 2 || !lines.get(1).strip().equals("installed") || lines.getFirst().isBlank()) {
            throw new VmmException(SOURCE_PACKAGE + " is not installed (the guest kernel builds from it: scripts/install-deps,"
                    + " or guest_kernel = \"debian\")");
        }
        return lines.getFirst().strip();
    }

    private static List<String> concat(List<String> head, String... tail) {
        List<String> all = new ArrayList<>(head);
        all.addAll(List.of(tail));
        return all;
    }

    private static void run(List<String> command, Path cwd, String what) throws VmmException {
        Command.Result r = exec(command, cwd, MAKE_TIMEOUT);
        if (r.status() != 0) {
            String last = r.output().lines().filter(l -> !l.isBlank()).reduce((a, b) -> b).orElse("exit status " + r.status());
            throw new VmmException(what + " failed: " + last.strip());
        }
    }

    private static Command.Result exec(List<String> command, Path cwd, Duration timeout) throws VmmException {
        try {
            return Command.run(command, "", timeout, cwd, Map.of("LC_ALL", "C"));
        } catch (Command.TimeoutException e) {
            throw new VmmException(String.join(" ", command) + " did not finish within " + timeout.toMinutes() + " minutes", e);
        } catch (IOException e) {
            throw new VmmException(command.getFirst() + " cannot run: " + e.getMessage(), e);
        }
    }
}
