package dev.vessel.vmm;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class VmTemplatesTest {
    @TempDir
    Path dir;

    private VmTemplates templates(Path assets) throws Exception {
        Files.createDirectories(assets);
        if (!Files.exists(assets.resolve("vmlinux"))) Files.writeString(assets.resolve("vmlinux"), "kernel");
        if (!Files.exists(assets.resolve("initrd.img"))) Files.writeString(assets.resolve("initrd.img"), "initrd");
        Path qemu = dir.resolve("qemu");
        if (!Files.exists(qemu)) Files.writeString(qemu, "qemu");
        return new VmTemplates(new GuestAssets(assets), qemu.toString(), dir.resolve("stage"));
    }

    private static final VmTemplates.Layout DEFAULT = new VmTemplates.Layout(308, 1, Accelerator.Kind.TCG, 1, 0);

    @Test
    void theKeyFollowsEveryInput() throws Exception {
        VmTemplates t = templates(dir.resolve("assets"));
        String inputs = t.inputs(DEFAULT, 2_600_000, true);
        assertThat(VmTemplates.key(inputs)).matches("[0-9a-f]{32}").isEqualTo(VmTemplates.key(t.inputs(DEFAULT, 2_600_000, true)));
        assertThat(inputs).contains("layout 308 1 tcg 1 0", "assets vmlinux 6 ", "qemu " + dir.resolve("qemu"));
        List<String> others = List.of(
                t.inputs(new VmTemplates.Layout(309, 1, Accelerator.Kind.TCG, 1, 0), 2_600_000, true),
                t.inputs(new VmTemplates.Layout(308, 2, Accelerator.Kind.TCG, 1, 0), 2_600_000, true),
                t.inputs(new VmTemplates.Layout(308, 1, Accelerator.Kind.KVM, 1, 0), 2_600_000, true),
                t.inputs(new VmTemplates.Layout(308, 1, Accelerator.Kind.TCG, 0, 0), 2_600_000, true),
                t.inputs(new VmTemplates.Layout(308, 1, Accelerator.Kind.TCG, 1, 1), 2_600_000, true),
                t.inputs(new VmTemplates.Layout(308, 1, Accelerator.Kind.TCG, 1, 0, true), 2_600_000, true),
                t.inputs(DEFAULT, 2_500_000, true),
                t.inputs(DEFAULT, 2_600_000, false));
        for (String other : others) assertThat(VmTemplates.key(other)).isNotEqualTo(VmTemplates.key(inputs));
        // a rebuilt kernel (another size or time) is another template
        Files.writeString(dir.resolve("assets/vmlinux"), "another kernel");
        assertThat(VmTemplates.key(t.inputs(DEFAULT, 2_600_000, true))).isNotEqualTo(VmTemplates.key(inputs));
        Files.setLastModifiedTime(dir.resolve("qemu"), FileTime.from(Instant.parse("2020-01-01T00:00:00Z")));
        String before = t.inputs(DEFAULT, 2_600_000, true);
        Files.setLastModifiedTime(dir.resolve("qemu"), FileTime.from(Instant.parse("2021-01-01T00:00:00Z")));
        assertThat(t.inputs(DEFAULT, 2_600_000, true)).isNotEqualTo(before);
    }

    @Test
    void noTemplateUntilOneIsSaved() throws Exception {
        VmTemplates t = templates(dir.resolve("assets"));
        assertThat(t.find(DEFAULT, t.inputs(DEFAULT, 1, false))).isEmpty();
        assertThat(t.list()).isEmpty();
    }

    @Test
    void aTemplateBuildsQemuNamesItsDaemonInItsMemPath() {
        String prefix = "/var/lib/vessel/assets/templates/.work-";
        assertThat(VmTemplates.builderOf(new String[] {"-m", "308M", "-object",
                "memory-backend-file,id=ram,size=308M,mem-path=" + prefix + "4242-987654321/memory,share=on"}, prefix)).isEqualTo("4242");
        // a clone maps a staged copy, not a work dir; another assets dir's build is not this one's
        assertThat(VmTemplates.builderOf(new String[] {"-object",
                "memory-backend-file,id=ram,size=308M,mem-path=/run/vessel/templates/abc/0123,share=off"}, prefix)).isNull();
        assertThat(VmTemplates.builderOf(new String[] {"-object",
                "memory-backend-file,id=ram,mem-path=/tmp/x/assets/templates/.work-17-1/memory,share=on"}, prefix)).isNull();
        assertThat(VmTemplates.builderOf(new String[0], prefix)).isNull();
    }

    @Test
    void aJailedClonesTemplateRamIsASealedMemfdNoOneCanWrite() throws Exception {
        VmTemplates t = templates(dir.resolve("assets"));
        String inputs = t.inputs(DEFAULT, 1, false);
        Path saved = Files.createDirectories(t.dir().resolve(VmTemplates.key(inputs)));
        Files.writeString(saved.resolve(VmTemplates.STATE), "device state");
        try (FileChannel c = FileChannel.open(saved.resolve(VmTemplates.MEMORY), StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            c.write(ByteBuffer.wrap("guest page".getBytes()), 8192);
            c.write(ByteBuffer.allocate(1), (1 << 20) - 1);
        }
        VmTemplates.Template sealed = t.findSealed(DEFAULT, inputs).orElseThrow();
        assertThat(sealed.memory().toString()).matches("/proc/" + ProcessHandle.current().pid() + "/fd/[0-9]+");
        assertThat(sealed.state()).isEqualTo(saved.resolve(VmTemplates.STATE));
        assertThat(t.findSealed(DEFAULT, inputs).orElseThrow().memory()).isEqualTo(sealed.memory()); // one memfd per template
        assertThat(Files.readSymbolicLink(sealed.memory()).toString()).startsWith("/memfd:vessel-template-");
        assertThat(Files.size(sealed.memory())).isEqualTo(1 << 20);
        // QEMU 7.2 opens it read-write, as a jailed QEMU would: allowed, but nothing can change it
        try (FileChannel c = FileChannel.open(sealed.memory(), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer page = ByteBuffer.allocate(10);
            c.read(page, 8192);
            assertThat(new String(page.array())).isEqualTo("guest page");
            assertThatThrownBy(() -> c.write(ByteBuffer.wrap("X".getBytes()), 8192)).isInstanceOf(java.io.IOException.class);
            assertThatThrownBy(() -> c.truncate(4096)).isInstanceOf(java.io.IOException.class);
            assertThatThrownBy(() -> c.map(FileChannel.MapMode.READ_WRITE, 0, 1 << 20)).isInstanceOf(java.io.IOException.class);
            // a clone's mapping (MAP_PRIVATE) works; what it writes is its own
            var cow = c.map(FileChannel.MapMode.PRIVATE, 0, 1 << 20);
            cow.put(8192, (byte) 'X');
            assertThat(cow.get(8192)).isEqualTo((byte) 'X');
            page.clear();
            c.read(page, 8192);
            assertThat(new String(page.array())).isEqualTo("guest page");
        }
        t.remove(VmTemplates.key(inputs));
        assertThat(Files.exists(sealed.memory(), java.nio.file.LinkOption.NOFOLLOW_LINKS)).isFalse();
    }

    @Test
    void templateMacsAreMappedInOrder() {
        assertThat(VmTemplates.mac(0)).isEqualTo("02:76:73:74:00:00");
        assertThat(VmTemplates.macs(List.of("aa:00:00:00:00:01", "aa:00:00:00:00:02"))).containsExactly(
                Map.entry("02:76:73:74:00:00", "aa:00:00:00:00:01"), Map.entry("02:76:73:74:00:01", "aa:00:00:00:00:02"));
    }

    @Test
    void aSparseCopyKeepsTheContentAndLeavesZeroPagesOut() throws Exception {
        Path from = dir.resolve("ram");
        long size = 8L << 20;
        try (FileChannel c = FileChannel.open(from, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            c.write(ByteBuffer.wrap("page one".getBytes()), 4096);
            c.write(ByteBuffer.wrap("near the end".getBytes()), size - 4096 - 100);
            c.write(ByteBuffer.allocate(1), size - 1);
        }
        Path to = dir.resolve("copy");
        VmTemplates.copySparse(from, to);
        assertThat(Files.size(to)).isEqualTo(size);
        assertThat(Files.readAllBytes(to)).isEqualTo(Files.readAllBytes(from));
        Process stat = new ProcessBuilder("stat", "-c", "%b", to.toString()).start(); // 512-byte blocks allocated
        long blocks = Long.parseLong(new String(stat.getInputStream().readAllBytes()).strip());
        assertThat(blocks * 512).isLessThan(1L << 20);
    }

    @Test
    void theShellSeesOnePath() {
        assertThat(VmTemplates.shellQuote(Path.of("/a b/it's"))).isEqualTo("'/a b/it'\\''s'");
    }
}
