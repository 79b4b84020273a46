package dev.vessel.vmm;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Which kernel modules the guest must load, in which order. A Debian kernel package carries no
 * modules.dep (depmod writes it at install time), so the dependencies come from each module's own
 * {@code .modinfo} section ({@code depends=}, and the {@code softdep=pre:} ones where present);
 * {@code modules.builtin} says what needs no loading at all.
 */
public final class KernelModules {
    /**
     * What the guest needs under {@code -M microvm}: the virtio-mmio transport (devices found
     * through ACPI), the console and serial ports, the 9p root filesystem, a NIC, and the
     * alternatives the design allows where the host has them (vsock, virtio-fs, a block image).
     * ext4 is the root drive of a Firecracker-style guest (the agent boots it, see
     * docs/microvm.md); its soft dependency names the crypto alias crypto-crc32c, which only a
     * module's name here can satisfy, hence crc32c_generic (without it, metadata_csum won't mount).
     * virtio_rng and virtio_balloon drive Firecracker's entropy and balloon devices (vessel vmm's
     * PUT /entropy and PUT /balloon): a guest that switched to its own root drive has no modules of its own.
     */
    public static final List<String> GUEST_MODULES = List.of(
            "virtio_mmio", "virtio_console", "9pnet_virtio", "9p", "virtio_net",
            "vmw_vsock_virtio_transport", "virtiofs", "virtio_blk", "crc32c_generic", "ext4",
            "virtio_rng", "virtio_balloon");

    /** A module's name (as the kernel spells it: '-' becomes '_'), its file and its dependencies. */
    public record Module(String name, Path file, List<String> depends, List<String> softPre) {}

    private final Map<String, Module> modules;
    private final Set<String> builtin;

    public KernelModules(Map<String, Module> modules, Set<String> builtin) {
        this.modules = modules;
        this.builtin = builtin;
    }

    /** Reads {@code <tree>} = an unpacked {@code lib/modules/<release>}. */
    public static KernelModules scan(Path tree) throws VmmException {
        Map<String, Module> modules = new HashMap<>();
        Set<String> builtin = new HashSet<>();
        try {
            Path builtinList = tree.resolve("modules.builtin");
            if (Files.exists(builtinList)) {
                for (String line : Files.readAllLines(builtinList)) {
                    if (!line.isBlank()) builtin.add(nameOf(line.strip()));
                }
            }
            try (Stream<Path> files = Files.walk(tree.resolve("kernel"))) {
                for (Path ko : (Iterable<Path>) files.filter(p -> p.toString().endsWith(".ko"))::iterator) {
                    Map<String, String> info = modinfo(Files.readAllBytes(ko));
                    String name = info.getOrDefault("name", nameOf(ko.getFileName().toString()));
                    modules.put(normalize(name), new Module(normalize(name), ko, split(info.get("depends")),
                            softPre(info.get("softdep"))));
                }
            }
        } catch (IOException e) {
            throw new VmmException("cannot read the kernel modules in " + tree + ": " + e.getMessage(), e);
        }
        if (modules.isEmpty()) throw new VmmException("no kernel modules (*.ko) under " + tree);
        return new KernelModules(modules, builtin);
    }

    /**
     * The modules to load for {@code wanted}, dependencies first, each once; built-in ones are
     * left out. A wanted module that is neither built in nor a module is an error.
     */
    public List<Module> loadOrder(List<String> wanted) throws VmmException {
        LinkedHashSet<String> order = new LinkedHashSet<>();
        for (String name : wanted) {
            String n = normalize(name);
            if (builtin.contains(n)) continue;
            if (!modules.containsKey(n)) throw new VmmException("the guest kernel has no module or built-in " + name);
            visit(n, order, new HashSet<>(), true);
        }
        List<Module> result = new ArrayList<>();
        for (String n : order) result.add(modules.get(n));
        return result;
    }

    private void visit(String name, LinkedHashSet<String> order, Set<String> path, boolean required)
            throws VmmException {
        if (order.contains(name) || builtin.contains(name)) return;
        Module m = modules.get(name);
        if (m == null) {
            if (required) throw new VmmException("kernel module dependency " + name + " is missing");
            return;
        }
        if (!path.add(name)) throw new VmmException("kernel modules depend on each other in a cycle at " + name);
        for (String soft : m.softPre()) visit(normalize(soft), order, path, false);
        for (String dep : m.depends()) visit(normalize(dep), order, path, true);
        path.remove(name);
        order.add(name);
    }

    /** "kernel/fs/9p/9p.ko" or "virtio-mmio.ko" → "virtio_mmio". */
    static String nameOf(String file) {
        String base = file.substring(file.lastIndexOf('/') + 1);
        int dot = base.indexOf(".ko");
        return normalize(dot >= 0 ? base.substring(0, dot) : base);
    }

    static String normalize(String name) {
        return name.replace('-', '_');
    }

    private static List<String> split(String list) {
        if (list == null || list.isBlank()) return List.of();
        return Stream.of(list.split(",")).map(String::strip).filter(s -> !s.isEmpty()).toList();
    }

    /** "pre: a b post: c" → [a, b]. */
    static List<String> softPre(String softdep) {
        if (softdep == null) return List.of();
        List<String> pre = new ArrayList<>();
        boolean inPre = false;
        for (String word : softdep.strip().split("\\s+")) {
            if (word.endsWith(":")) inPre = word.equals("pre:");
            else if (inPre && !word.isEmpty()) pre.add(word);
        }
        return pre;
    }

    /** The key=value strings of an ELF64 module's .modinfo section. */
    static Map<String, String> modinfo(byte[] elf) throws VmmException {
        ByteBuffer b = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
        if (elf.length < 64 || b.getInt(0) != 0x464c457f || elf[4] != 2) {
            throw new VmmException("not an ELF64 kernel module");
        }
        long shoff = b.getLong(0x28);
        int shentsize = Short.toUnsignedInt(b.getShort(0x3A));
        int shnum = Short.toUnsignedInt(b.getShort(0x3C));
        int shstrndx = Short.toUnsignedInt(b.getShort(0x3E));
        long strtab = b.getLong((int) (shoff + (long) shstrndx * shentsize + 24));
        Map<String, String> info = new HashMap<>();
        for (int i = 0; i < shnum; i++) {
            int sh = (int) (shoff + (long) i * shentsize);
            String name = cString(elf, (int) (strtab + Integer.toUnsignedLong(b.getInt(sh))));
            if (!name.equals(".modinfo")) continue;
            int off = (int) b.getLong(sh + 24);
            int end = off + (int) b.getLong(sh + 32);
            while (off < end) {
                int stop = off;
                while (stop < end && elf[stop] != 0) stop++;
                String entry = new String(elf, off, stop - off, StandardCharsets.UTF_8);
                off = stop + 1;
                int eq = entry.indexOf('=');
                if (eq > 0) info.merge(entry.substring(0, eq), entry.substring(eq + 1), (x, y) -> x + " " + y);
                while (off < end && elf[off] == 0) off++;
            }
        }
        return info;
    }

    private static String cString(byte[] bytes, int offset) {
        int end = offset;
        while (end < bytes.length && bytes[end] != 0) end++;
        return new String(bytes, offset, end - offset, StandardCharsets.UTF_8);
    }
}
