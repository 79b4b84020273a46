package dev.vessel.vmm;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Writes a cpio archive in the "newc" format the kernel unpacks as an initramfs. Entries carry
 * owner 0:0 and mtime 0, so the same inputs give the same bytes. Not thread-safe; close with
 * {@link #finish}, which writes the trailer (the caller closes the stream).
 */
public final class Cpio {
    public static final int DIR = 0040000;
    public static final int FILE = 0100000;
    public static final int CHAR = 0020000;

    private final OutputStream out;
    private long written;
    private int ino = 1;

    public Cpio(OutputStream out) {
        this.out = out;
    }

    public void directory(String name, int perm) throws IOException {
        entry(name, DIR | perm, 2, 0, 0, new byte[0]);
    }

    public void file(String name, int perm, byte[] data) throws IOException {
        entry(name, FILE | perm, 1, 0, 0, data);
    }

    public void charDevice(String name, int perm, int major, int minor) throws IOException {
        entry(name, CHAR | perm, 1, major, minor, new byte[0]);
    }

    public void finish() throws IOException {
        entry("TRAILER!!!", 0, 1, 0, 0, new byte[0]);
        out.flush();
    }

    private void entry(String name, int mode, int nlink, int rdevMajor, int rdevMinor, byte[] data)
            throws IOException {
        byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
        StringBuilder h = new StringBuilder("070701");
        int number = name.equals("TRAILER!!!") ? 0 : ino++;
        for (long field : new long[] {number, mode, 0, 0, nlink, 0, data.length, 0, 0, rdevMajor, rdevMinor,
                nameBytes.length + 1, 0}) {
            h.append(String.format("%08x", field));
        }
        write(h.toString().getBytes(StandardCharsets.US_ASCII));
        write(nameBytes);
        write(new byte[] {0});
        pad();
        write(data);
        pad();
    }

    private void write(byte[] bytes) throws IOException {
        out.write(bytes);
        written += bytes.length;
    }

    private void pad() throws IOException {
        while (written % 4 != 0) write(new byte[] {0});
    }
}
