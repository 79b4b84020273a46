package dev.vessel.vmm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vessel.linux.Command;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The vmlinux inside a kernel image whose payload only a host tool (here xz) decompresses. */
class VmlinuxTest {
    @TempDir Path dir;

    @Test
    void anXzPayloadAfterOtherBytesIsDecompressedByXz() throws Exception {
        byte[] elf = new byte[4096];
        Arrays.fill(elf, (byte) 7);
        System.arraycopy(new byte[] {0x7f, 'E', 'L', 'F'}, 0, elf, 0, 4);
        Files.write(dir.resolve("vmlinux.raw"), elf);
        byte[] xz = Command.filter(List.of("xz", "-c"), elf, 0, elf.length, java.time.Duration.ofSeconds(30));
        assertThat(xz).as("xz compressed it").isNotEmpty();
        byte[] image = new byte[1000 + xz.length];
        System.arraycopy(xz, 0, image, 1000, xz.length); // a header of zeros, then the payload
        Files.write(dir.resolve("bzImage"), image);
        Vmlinux.extract(dir.resolve("bzImage"), dir.resolve("vmlinux"));
        assertThat(Files.readAllBytes(dir.resolve("vmlinux"))).isEqualTo(elf);
    }
}
