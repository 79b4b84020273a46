package dev.vessel.vmm;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/** Minimal ELF64 files for tests: a header, one named section, the section-name table. */
final class TestElf {
    private TestElf() {}

    static byte[] withSection(String name, byte[] contents) {
        byte[] names = ("\0" + name + "\0.shstrtab\0").getBytes(StandardCharsets.US_ASCII);
        int dataOff = 64;
        int namesOff = dataOff + contents.length;
        int shoff = (namesOff + names.length + 7) & ~7;
        ByteBuffer b = ByteBuffer.allocate(shoff + 3 * 64).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1});
        b.putLong(0x28, shoff);
        b.putShort(0x3A, (short) 64);
        b.putShort(0x3C, (short) 3);
        b.putShort(0x3E, (short) 2);
        b.put(dataOff, contents);
        b.put(namesOff, names);
        int s1 = shoff + 64;
        b.putInt(s1, 1);
        b.putLong(s1 + 24, dataOff);
        b.putLong(s1 + 32, contents.length);
        int s2 = shoff + 128;
        b.putInt(s2, 2 + name.length());
        b.putLong(s2 + 24, namesOff);
        b.putLong(s2 + 32, names.length);
        return b.array();
    }
}
