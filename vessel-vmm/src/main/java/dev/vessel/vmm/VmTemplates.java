package dev.vessel.vmm;

import dev.vessel.linux.Command;
import dev.vessel.linux.Libc;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
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
import java.util.Optional;
import java.util.stream.Stream;

/**
 * MicroVM templates (Kata's VM factory, Firecracker's snapshots; docs/microvm.md, "Templates"): a
 * guest booted to its agent's READY with nothing mounted, paused and saved once per {@link Inputs};
 * a clone restores it instead of booting.
 *
 * <p>The template's RAM is a memory-backend-file with {@code share=on} and the migration
 * capability {@code x-ignore-shared}, so QEMU leaves the RAM in that file and writes only the
 * device state ({@code state}, tens of KiB) through {@code migrate "exec:cat > state"} (QEMU 7.2
 * has no {@code file:} URI). A clone maps the same file with {@code share=off}: copy-on-write, so
 * clones share every page none of them has written.
 *
 * <p>Where the files live: {@code <assets>/templates/<key>/} holds {@code memory}, {@code state}
 * and {@code inputs} (what the key hashes, readable); clones map a copy of {@code memory} on a
 * ramfs, {@code /run/vessel/templates/<key>} ({@link #stage}), never the assets dir's: QEMU 7.2
 * discards a balloon-inflated page of a file-backed RAM by punching a hole in the file even when it
 * maps it privately, which would zero that page under every other clone; ramfs has no hole punching
 * (the discard fails, harmlessly) and tmpfs or ext4 would. QEMU writes the template's RAM to the
 * sparse {@code memory} on disk; only its non-zero pages are copied to the ramfs, where at most
 * {@value #MAX_STAGED} templates are kept (ramfs pages cannot be reclaimed). A template file is never changed once
 * made (a running clone maps it): a new one is made beside it and the old one removed.
 */
public final class VmTemplates {
    public static final String DIR = "templates";
    public static final Path DEFAULT_STAGE = Path.of("/run/vessel/templates");
    /** Bumped when what a template holds changes meaning (its inputs then give another key). */
    static final int FORMAT = 1;
    static final String MEMORY = "memory";
    static final String STATE = "state";
    static final String INPUTS = "inputs";
    /** Templates kept staged on the ramfs at once, per assets dir. */
    static final int MAX_STAGED = 6;

    /**
     * What a template is made for, besides the guest assets and QEMU: the guest's RAM and vCPUs,
     * the accelerator and the device layout (NICs and volume shares: the devices a clone needs are
     * the template's, only their back ends differ).
     */
    /**
     * {@code shares}: the volume shares; {@code pod}: one more, a pod's share ({@code multidevs=remap},
     * after them), which a pod's sandbox has (docs/microvm.md, "Pods").
     */
    public record Layout(int memoryMib, int vcpus, Accelerator.Kind accelerator, int nics, int shares, boolean pod) {
        public Layout(int memoryMib, int vcpus, Accelerator.Kind accelerator, int nics, int shares) {
            this(memoryMib, vcpus, accelerator, nics, shares, false);
        }

        public String describe() {
            return memoryMib + " MiB, " + vcpus + " vCPU" + (vcpus == 1 ? "" : "s") + ", " + accelerator.qemuName + ", "
                    + nics + " NIC" + (nics == 1 ? "" : "s") + ", " + shares + " share" + (shares == 1 ? "" : "s")
                    + (pod ? ", a pod's share" : "");
        }
    }

    /** A saved template: its RAM (the staged copy clones map) and its device state. */
    public record Template(String key, Layout layout, Path memory, Path state) {}

    static final int MFD_ALLOW_SEALING = 2;
    static final int F_ADD_SEALS = 1033;
    static final int F_SEAL_SEAL = 1;
    static final int F_SEAL_SHRINK = 2;
    static final int F_SEAL_GROW = 4;
    static final int F_SEAL_WRITE = 8;

    private final GuestAssets assets;
    private final String qemu;
    /** Template key → the memfd with its RAM, sealed, that jailed clones map ({@link #findSealed}). */
    private final Map<String, Integer> sealed = new java.util.HashMap<>();
    /** The ramfs. */
    private final Path stageRoot;
    /** This assets dir's part of it (another daemon, on other assets, has its own). */
    private final Path stage;
    /**
     * Held while a staged copy is put in place and while a template and its copy are removed, so
     * that a copy is never put in place for a template that has gone meanwhile: a clone's
     * {@link #find} that raced {@link #prune} or {@link #remove} would otherwise leave the copy of
     * a removed template on the ramfs, for good (the copy itself is made outside it).
     */
    private final Object staging = new Object();

    public VmTemplates(GuestAssets assets, String qemu, Path stageRoot) {
        this.assets = assets;
        this.qemu = qemu;
        this.stageRoot = stageRoot;
        this.stage = stageRoot.resolve(key(assets.dir().toAbsolutePath().normalize().toString()).substring(0, 12));
    }

    public Path dir() {
        return assets.dir().resolve(DIR);
    }

    /** The MAC a template's NIC {@code i} has; each clone gives it its own (AgentClient#cloned). */
    public static String mac(int i) {
        return String.format("02:76:73:74:00:%02x", i);
    }

    /** Template NIC i's MAC → the clone's, for {@link AgentClient#cloned}. */
    public static Map<String, String> macs(List<String> cloneMacs) {
        Map<String, String> m = new java.util.LinkedHashMap<>();
        for (int i = 0; i < cloneMacs.size(); i++) m.put(mac(i), cloneMacs.get(i));
        return m;
    }

    /**
     * Every input a template depends on, one per line: its format, the guest kernel and initrd
     * (their identity: a rebuilt kernel, Debian's or Vessel's own, is another one), QEMU (path, size,
     * mtime: its migration format is its own), the kernel command line's host values and the layout.
     */
    public String inputs(Layout layout, long tscKhz, boolean sandbox) {
        return "format " + FORMAT + "\n"
                + "assets " + assets.identity() + "\n"
                + "qemu " + fileIdentity(Path.of(qemu)) + "\n"
                + "tsc_khz " + tscKhz + "\n"
                + "sandbox " + sandbox + "\n"
                + "layout " + layout.memoryMib() + " " + layout.vcpus() + " " + layout.accelerator().qemuName + " "
                + layout.nics() + " " + layout.shares() + (layout.pod() ? " pod" : "") + "\n"; // (the keys of others as before)
    }

    /** The template's key: the SHA-256 of its inputs (the first 32 hex digits). */
    public static String key(String inputs) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(inputs.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d).substring(0, 32);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The saved template for these inputs, staged for clones to map; empty when there is none (or it cannot be staged). */
    public Optional<Template> find(Layout layout, String inputs) throws IOException {
        String key = key(inputs);
        Path saved = dir().resolve(key);
        if (!Files.isRegularFile(saved.resolve(STATE)) || !Files.isRegularFile(saved.resolve(MEMORY))) return Optional.empty();
        return Optional.of(new Template(key, layout, stage(key, saved.resolve(MEMORY)), saved.resolve(STATE)));
    }

    /**
     * The saved template for these inputs for a jailed clone (docs/microvm.md, "The jail"): its RAM
     * in a memfd this process holds, sealed against writes, shrinking, growing and further sealing
     * ({@link #sealedMemory}); the {@link Template#memory} path is {@code /proc/PID/fd/N}, which
     * vessel-jail opens as root and hands QEMU as an fd. Empty when there is none.
     */
    public Optional<Template> findSealed(Layout layout, String inputs) throws IOException {
        String key = key(inputs);
        Path saved = dir().resolve(key);
        if (!Files.isRegularFile(saved.resolve(STATE)) || !Files.isRegularFile(saved.resolve(MEMORY))) return Optional.empty();
        return Optional.of(new Template(key, layout, sealedMemory(key, saved.resolve(MEMORY)), saved.resolve(STATE)));
    }

    /**
     * The memfd holding template {@code key}'s RAM, made from {@code saved} (its non-zero pages)
     * the first time and kept until the template goes. Why a sealed memfd: QEMU 7.2 opens a RAM
     * file read-write even to map it copy-on-write, so a jailed QEMU given the ramfs copy could
     * write the memory every other clone starts from. With F_SEAL_WRITE a write(2), a shared
     * writable mapping and a hole punched (QEMU's balloon discard: refused, as on the ramfs) all
     * fail for everyone, root included, while MAP_PRIVATE mappings work and share the pages;
     * F_SEAL_SEAL keeps the seals on. A memfd outlives this process while a clone maps it.
     */
    private Path sealedMemory(String key, Path saved) throws IOException {
        synchronized (sealed) {
            Integer fd = sealed.get(key);
            if (fd == null) {
                int made = Libc.memfdCreate("vessel-template-" + key, Libc.MFD_CLOEXEC | MFD_ALLOW_SEALING);
                if (made < 0) throw new IOException("memfd_create for template " + key + ": " + Libc.strerror(-made));
                try {
                    copySparse(saved, Path.of("/proc/self/fd/" + made));
                    int r = Libc.fcntl(made, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
                    if (r < 0) throw new IOException("sealing template " + key + "'s memfd: " + Libc.strerror(-r));
                } catch (IOException | RuntimeException e) {
                    Libc.close(made);
                    throw e;
                }
                sealed.put(key, made);
                fd = made;
            }
            return Path.of("/proc/" + ProcessHandle.current().pid() + "/fd/" + fd);
        }
    }

    /** Closes the sealed copy of template {@code key}, if held (running clones keep their own fd). */
    private void closeSealed(String key) {
        synchronized (sealed) {
            Integer fd = sealed.remove(key);
            if (fd != null) Libc.close(fd);
        }
    }

    /**
     * Where a template being made in {@code work} has its RAM (QEMU writes it there, share=on): a
     * sparse file on the assets dir's disk. Not on the ramfs: any read of a ramfs file's hole
     * (the sparse copy's) allocates the page, so the whole guest RAM would become resident there.
     */
    public static Path memoryFile(Path work) {
        return work.resolve(MEMORY);
    }

    /**
     * Pauses a guest that is at READY with nothing mounted and saves its device state to
     * {@code state} (its RAM stays in its memory file): QMP {@code stop}, {@code x-ignore-shared},
     * {@code migrate "exec:cat > state"}, waiting up to {@code timeout} for it to complete.
     */
    public static void save(Qmp qmp, Path state, Duration timeout) throws VmmException {
        qmp.execute("stop");
        ignoreShared(qmp);
        qmp.execute("migrate", Map.of("uri", "exec:cat > " + shellQuote(state)));
        long end = System.nanoTime() + timeout.toNanos();
        while (true) {
            var m = qmp.execute("query-migrate");
            String status = m.path("status").asText();
            if (status.equals("completed")) return;
            if (status.equals("failed") || status.equals("cancelled")) {
                throw new VmmException("saving the template: migration " + status + ": " + m.path("error-desc").asText("no reason given"));
            }
            if (System.nanoTime() > end) throw new VmmException("saving the template: not done within " + timeout.toMillis() + " ms");
            sleep(20);
        }
    }

    /**
     * Restores a template into a QEMU started with {@code -incoming defer} and its memory file
     * (share=off), then lets the guest run: {@code x-ignore-shared}, {@code migrate-incoming "exec:cat
     * state"}, waiting up to {@code timeout}, {@code cont}.
     */
    public static void restore(Qmp qmp, Path state, Duration timeout) throws VmmException {
        restore(qmp, "exec:cat " + shellQuote(state), timeout);
    }

    /**
     * As above with the device state read from {@code uri}: a jailed QEMU (-sandbox spawn=deny, no
     * path to the template) reads it from the fd vessel-jail opened for it, {@code fd:N}.
     */
    public static void restore(Qmp qmp, String uri, Duration timeout) throws VmmException {
        ignoreShared(qmp);
        qmp.execute("migrate-incoming", Map.of("uri", uri));
        long end = System.nanoTime() + timeout.toNanos();
        while (qmp.status().equals("inmigrate")) {
            if (System.nanoTime() > end) throw new VmmException("restoring the template: not done within " + timeout.toMillis() + " ms");
            sleep(5);
        }
        var m = qmp.execute("query-migrate");
        String status = m.path("status").asText();
        if (!status.equals("completed")) {
            throw new VmmException("restoring the template: migration " + status + ": " + m.path("error-desc").asText("no reason given"));
        }
        qmp.execute("cont");
    }

    private static void ignoreShared(Qmp qmp) throws VmmException {
        qmp.execute("migrate-set-capabilities", Map.of("capabilities",
                List.of(Map.of("capability", "x-ignore-shared", "state", true))));
    }

    /**
     * Keeps a template made in {@code work} (its {@code state} and {@link #memoryFile}): the
     * directory renamed into place (so that a half-made template is never found), then its RAM
     * staged on the ramfs for the clones, leaving out the pages the guest never touched.
     */
    public Path commit(String inputs, Path work) throws IOException {
        String key = key(inputs);
        Files.writeString(work.resolve(INPUTS), inputs);
        Files.createDirectories(dir());
        Path saved = dir().resolve(key);
        synchronized (staging) {
            Files.deleteIfExists(stage.resolve(key)); // (a stale copy of a template made again)
            if (Files.exists(saved)) deleteTree(saved); // an unusable one (a clone of it failed)
            Files.move(work, saved, StandardCopyOption.ATOMIC_MOVE);
        }
        stage(key, saved.resolve(MEMORY));
        return saved;
    }

    /** A directory under the assets dir to make a template in (renamed into place by {@link #commit}). */
    public Path workDir() throws IOException {
        Files.createDirectories(dir());
        Path work = dir().resolve(".work-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
        Files.createDirectories(work);
        return work;
    }

    /** Removes one template (a clone of it failed: the next use makes it again). Running clones keep their mapping. */
    public void remove(String key) {
        closeSealed(key);
        synchronized (staging) {
            try {
                Files.deleteIfExists(stage.resolve(key));
            } catch (IOException ignored) {
                // gone with the next prune
            }
            deleteTree(dir().resolve(key));
        }
    }

    /**
     * Removes every template whose guest assets or QEMU are not the current ones (what
     * {@code vessel assets build} and each new template do), their staged copies, and what a dead
     * daemon left half-made. Returns how many templates went. A stale template's staged copy goes
     * before its directory: once a template is seen gone, so is its copy.
     */
    public int prune(long tscKhz, boolean sandbox) {
        synchronized (staging) {
            return pruneStaging(tscKhz, sandbox);
        }
    }

    private int pruneStaging(long tscKhz, boolean sandbox) {
        String current = identityLines(inputs(new Layout(64, 1, Accelerator.Kind.TCG, 0, 0), tscKhz, sandbox));
        int removed = 0;
        List<String> keep = new ArrayList<>();
        if (Files.isDirectory(dir())) {
            try (Stream<Path> dirs = Files.list(dir())) {
                for (Path d : dirs.toList()) {
                    String name = d.getFileName().toString();
                    boolean stale;
                    if (name.startsWith(".work-")) {
                        stale = !alive(name.substring(6).split("-")[0]);
                    } else {
                        String inputs = Files.isRegularFile(d.resolve(INPUTS)) ? Files.readString(d.resolve(INPUTS)) : "";
                        stale = !identityLines(inputs).equals(current);
                        if (stale) {
                            removed++;
                            Files.deleteIfExists(stage.resolve(name));
                        } else {
                            keep.add(name);
                        }
                    }
                    if (stale) deleteTree(d);
                }
            } catch (IOException e) {
                dev.vessel.linux.Log.info("templates: cannot list " + dir() + ": " + e.getMessage());
            }
        }
        synchronized (sealed) {
            for (String key : List.copyOf(sealed.keySet())) if (!keep.contains(key)) closeSealed(key);
        }
        if (Files.isDirectory(stage)) {
            try (Stream<Path> files = Files.list(stage)) {
                for (Path f : files.toList()) {
                    String name = f.getFileName().toString();
                    boolean copying = name.contains(".copy-") && alive(name.substring(name.indexOf(".copy-") + 6).split("-")[0]);
                    if (!keep.contains(name) && !copying) Files.deleteIfExists(f);
                }
            } catch (IOException e) {
                dev.vessel.linux.Log.info("templates: cannot list " + stage + ": " + e.getMessage());
            }
        }
        return removed;
    }

    /**
     * What a daemon that died while it made a template left (it was killed -9, or its builder's
     * watch could not clean up): each QEMU still running on a half-made template's RAM
     * ({@code mem-path=<templates>/.work-<pid>-…} of a dead daemon's pid) is killed, and each such
     * {@code .work-} directory removed. Returns how many QEMUs it killed.
     */
    public int sweepBuilds() {
        String prefix = dir() + "/.work-"; // as the build gave it to QEMU (workDir)
        int killed = 0;
        for (ProcessHandle p : ProcessHandle.allProcesses().toList()) {
            String builder = builderOf(p.info().arguments().orElse(new String[0]), prefix);
            if (builder != null && !alive(builder) && p.destroyForcibly()) {
                killed++;
                dev.vessel.linux.Log.info("templates: killed QEMU " + p.pid() + ", left making a template by daemon " + builder);
            }
        }
        if (Files.isDirectory(dir())) {
            try (Stream<Path> dirs = Files.list(dir())) {
                for (Path d : dirs.toList()) {
                    String name = d.getFileName().toString();
                    if (name.startsWith(".work-") && !alive(name.substring(6).split("-")[0])) deleteTree(d);
                }
            } catch (IOException e) {
                dev.vessel.linux.Log.info("templates: cannot list " + dir() + ": " + e.getMessage());
            }
        }
        return killed;
    }

    /** The pid in {@code <prefix><pid>-…} of an argument of a template build's QEMU, or null: not one. */
    static String builderOf(String[] args, String prefix) {
        for (String arg : args) {
            int at = arg.indexOf("mem-path=" + prefix);
            if (at < 0) continue;
            String rest = arg.substring(at + "mem-path=".length() + prefix.length());
            int dash = rest.indexOf('-');
            return dash > 0 ? rest.substring(0, dash) : null;
        }
        return null;
    }

    /** The saved templates, one line each: key and layout. */
    public List<String> list() throws IOException {
        List<String> lines = new ArrayList<>();
        if (!Files.isDirectory(dir())) return lines;
        try (Stream<Path> dirs = Files.list(dir())) {
            for (Path d : dirs.sorted().toList()) {
                if (!Files.isRegularFile(d.resolve(INPUTS))) continue;
                String layout = Files.readAllLines(d.resolve(INPUTS)).stream().filter(l -> l.startsWith("layout "))
                        .findFirst().orElse("layout ?");
                lines.add(d.getFileName() + " " + layout);
            }
        }
        return lines;
    }

    // ---- the ramfs ----

    /**
     * The staged copy of a template's RAM, made from the saved one if needed (after a host reboot).
     * The copy is put in place only while its template is still there (see {@link #staging}).
     */
    private Path stage(String key, Path saved) throws IOException {
        ensureStage();
        Path staged = stage.resolve(key);
        if (Files.isRegularFile(staged) && Files.size(staged) == Files.size(saved)) {
            Files.setLastModifiedTime(staged, java.nio.file.attribute.FileTime.from(java.time.Instant.now())); // used: kept longest
            return staged;
        }
        evict(key);
        Path tmp = stage.resolve(key + ".copy-" + ProcessHandle.current().pid() + "-" + Thread.currentThread().threadId());
        try {
            copySparse(saved, tmp);
            synchronized (staging) {
                if (!Files.isRegularFile(saved)) throw new java.nio.file.NoSuchFileException(saved + " (removed meanwhile)");
                Files.move(tmp, staged, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
        return staged;
    }

    /**
     * At most {@value #MAX_STAGED} templates on the ramfs (its pages cannot be reclaimed): the least
     * recently used ones go (running clones keep their mapping; the next use stages it again).
     */
    private void evict(String keep) throws IOException {
        try (Stream<Path> files = Files.list(stage)) {
            List<Path> staged = files.filter(f -> f.getFileName().toString().matches("[0-9a-f]{32}"))
                    .filter(f -> !f.getFileName().toString().equals(keep))
                    .sorted(java.util.Comparator.comparing((Path f) -> {
                        try {
                            return Files.getLastModifiedTime(f);
                        } catch (IOException e) {
                            return java.nio.file.attribute.FileTime.fromMillis(0);
                        }
                    }).reversed()).toList();
            for (int i = MAX_STAGED - 1; i < staged.size(); i++) Files.deleteIfExists(staged.get(i));
        }
    }

    /** The stage directory, a ramfs of its own (mounted here if it is not one yet). */
    private synchronized void ensureStage() throws IOException {
        if (!isRamfs(stageRoot)) {
            Files.createDirectories(stageRoot);
            Command.Result r = Command.run(List.of("mount", "-t", "ramfs", "-o", "mode=0700", "vessel-templates",
                    stageRoot.toString()), "", Duration.ofSeconds(10));
            if (r.status() != 0 || !isRamfs(stageRoot)) {
                throw new IOException("cannot mount a ramfs on " + stageRoot + " for templates: " + r.firstLine());
            }
        }
        Files.createDirectories(stage);
    }

    static boolean isRamfs(Path dir) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                String[] f = line.split(" ");
                int dash = List.of(f).indexOf("-");
                if (f.length > 4 && dash > 0 && dash + 1 < f.length && f[4].equals(dir.toString()) && f[dash + 1].equals("ramfs")) {
                    return true;
                }
            }
        } catch (IOException e) {
            return false;
        }
        return false;
    }

    /** Copies a file leaving its all-zero pages out (holes): a guest's RAM is mostly pages it never touched. */
    static void copySparse(Path from, Path to) throws IOException {
        try (FileChannel in = FileChannel.open(from, StandardOpenOption.READ);
             FileChannel out = FileChannel.open(to, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                     StandardOpenOption.TRUNCATE_EXISTING)) {
            long size = in.size();
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
            long pos = 0;
            while (pos < size) {
                buf.clear();
                int n = in.read(buf, pos);
                if (n <= 0) break;
                for (int off = 0; off < n; off += 4096) {
                    int len = Math.min(4096, n - off);
                    if (!zero(buf, off, len)) {
                        ByteBuffer page = buf.duplicate().position(off).limit(off + len);
                        while (page.hasRemaining()) out.write(page, pos + page.position());
                    }
                }
                pos += n;
            }
            if (out.size() < size) {
                // the length, without writing the last (zero) page: a write of one zero byte at the end
                out.write(ByteBuffer.allocate(1), size - 1);
            }
        }
    }

    private static boolean zero(ByteBuffer b, int off, int len) {
        for (int i = off; i + 8 <= off + len; i += 8) if (b.getLong(i) != 0) return false;
        return true;
    }

    // ---- helpers ----

    private static String identityLines(String inputs) {
        return inputs.lines().filter(l -> l.startsWith("format ") || l.startsWith("assets ") || l.startsWith("qemu "))
                .reduce("", (a, b) -> a + b + "\n");
    }

    private static String fileIdentity(Path p) {
        try {
            return p + " " + Files.size(p) + " " + Files.getLastModifiedTime(p).toInstant();
        } catch (IOException e) {
            return p + " unreadable";
        }
    }

    private static boolean alive(String pid) {
        try {
            return ProcessHandle.of(Long.parseLong(pid)).map(ProcessHandle::isAlive).orElse(false);
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /** A path for {@code sh -c}: QEMU runs an exec: URI through /bin/sh. */
    static String shellQuote(Path p) {
        return "'" + p.toString().replace("'", "'\\''") + "'";
    }

    static void deleteTree(Path dir) {
        if (!Files.exists(dir)) return;
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            dev.vessel.linux.Log.info("templates: cannot remove " + dir + ": " + e.getMessage());
        }
    }

    private static void sleep(long ms) throws VmmException {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmException("interrupted");
        }
    }
}
