package dev.vessel.vmm;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

class CpioTest {
    @Test
    void writesNewcEntriesAlignedToFourBytes() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Cpio cpio = new Cpio(bytes);
        cpio.directory("dev", 0755);
        cpio.charDevice("dev/console", 0600, 5, 1);
        cpio.file("init", 0755, "abcde".getBytes(StandardCharsets.US_ASCII));
        cpio.finish();
        byte[] a = bytes.toByteArray();
        String s = new String(a, StandardCharsets.ISO_8859_1);
        assertThat(a.length % 4).isZero();
        assertThat(s).startsWith("070701").contains("dev\0", "dev/console\0", "init\0", "abcde", "TRAILER!!!\0");
        int init = s.indexOf("070701", s.indexOf("dev/console"));
        assertThat(Integer.parseInt(s.substring(init + 14, init + 22), 16)).isEqualTo(0100755); // mode
        assertThat(Integer.parseInt(s.substring(init + 54, init + 62), 16)).isEqualTo(5);       // filesize
        int console = s.indexOf("070701", 4);
        assertThat(Integer.parseInt(s.substring(console + 78, console + 86), 16)).isEqualTo(5); // rdevmajor
        assertThat(s.indexOf("abcde") % 4).isZero();
    }
}
