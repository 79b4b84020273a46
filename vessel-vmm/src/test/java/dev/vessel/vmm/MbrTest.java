package dev.vessel.vmm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Sector 0 as a BIOS (and fdisk) reads it: boot code, signature, one active Linux partition from 1 MiB to the end. */
class MbrTest {
    @Test
    void onePartitionFromOneMibToTheEndOfTheDisk() {
        byte[] code = new byte[440];
        Arrays.fill(code, (byte) 0x90);
        long disk = 3072L << 20;
        byte[] s = Mbr.sector0(code, 0x12345678, disk);
        ByteBuffer b = ByteBuffer.wrap(s).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(s).hasSize(512);
        assertThat(Arrays.copyOf(s, 440)).isEqualTo(code);
        assertThat(b.getInt(440)).isEqualTo(0x12345678);
        assertThat(s[446] & 0xff).isEqualTo(0x80);
        assertThat(s[446 + 4] & 0xff).isEqualTo(0x83);
        assertThat(b.getInt(446 + 8)).isEqualTo(2048);
        assertThat(Integer.toUnsignedLong(b.getInt(446 + 12))).isEqualTo(disk / 512 - 2048);
        // the other three entries are empty
        assertThat(Arrays.copyOfRange(s, 462, 510)).containsOnly((byte) 0);
        assertThat(s[510] & 0xff).isEqualTo(0x55);
        assertThat(s[511] & 0xff).isEqualTo(0xAA);
        assertThat(Mbr.partitionOffset()).isEqualTo(1L << 20);
        assertThat(Mbr.partitionBytes(disk)).isEqualTo(disk - (1L << 20));
    }

    @Test
    void tooMuchBootCodeOrATooSmallDiskIsRefused() {
        assertThatThrownBy(() -> Mbr.sector0(new byte[446], 0, 1L << 30)).hasMessageContaining("at most 440");
        assertThatThrownBy(() -> Mbr.sector0(new byte[440], 0, 1L << 20)).hasMessageContaining("cannot hold");
    }
}
