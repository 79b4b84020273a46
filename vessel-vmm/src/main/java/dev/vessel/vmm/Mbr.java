package dev.vessel.vmm;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A DOS (MBR) partition table with one bootable Linux partition, the layout SeaBIOS boots through
 * syslinux's {@code mbr.bin}: written here rather than by sfdisk (a partition table is 66 bytes).
 */
public final class Mbr {
    public static final int SECTOR = 512;
    /** The first partition starts at 1 MiB, as fdisk aligns it. */
    public static final long FIRST_SECTOR = 2048;
    static final int BOOT_CODE_MAX = 440;
    static final byte LINUX = (byte) 0x83;

    private Mbr() {
    }

    /**
     * Sector 0 of a disk of {@code diskBytes}: {@code bootCode} (at most 440 bytes), the disk
     * signature {@code diskId}, and partition 1 (active, type 0x83) from {@link #FIRST_SECTOR} to
     * the end of the disk.
     */
    public static byte[] sector0(byte[] bootCode, int diskId, long diskBytes) {
        if (bootCode.length > BOOT_CODE_MAX) {
            throw new IllegalArgumentException("boot code is " + bootCode.length + " bytes, at most " + BOOT_CODE_MAX + " fit");
        }
        long sectors = diskBytes / SECTOR - FIRST_SECTOR;
        if (sectors <= 0 || diskBytes / SECTOR > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException("a disk of " + diskBytes + " bytes cannot hold an MBR partition");
        }
        ByteBuffer b = ByteBuffer.allocate(SECTOR).order(ByteOrder.LITTLE_ENDIAN);
        b.put(bootCode);
        b.putInt(440, diskId);
        int entry = 446;
        b.put(entry, (byte) 0x80); // active: mbr.bin boots it
        // CHS fields: the "beyond 1024 cylinders" marker; every BIOS since the 90s uses the LBA fields
        b.put(entry + 1, (byte) 0xFE).put(entry + 2, (byte) 0xFF).put(entry + 3, (byte) 0xFF);
        b.put(entry + 4, LINUX);
        b.put(entry + 5, (byte) 0xFE).put(entry + 6, (byte) 0xFF).put(entry + 7, (byte) 0xFF);
        b.putInt(entry + 8, (int) FIRST_SECTOR);
        b.putInt(entry + 12, (int) sectors);
        b.put(510, (byte) 0x55).put(511, (byte) 0xAA);
        return b.array();
    }

    /** The partition's offset in bytes. */
    public static long partitionOffset() {
        return FIRST_SECTOR * SECTOR;
    }

    /** The partition's length in bytes on a disk of {@code diskBytes}. */
    public static long partitionBytes(long diskBytes) {
        return (diskBytes / SECTOR - FIRST_SECTOR) * SECTOR;
    }
}
