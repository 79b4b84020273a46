package dev.vessel.vmm;

import dev.vessel.linux.Command;
import dev.vessel.linux.Tools;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * Turns a bzImage (vmlinuz) into the uncompressed ELF vmlinux QEMU boots through PVH, skipping
 * the in-guest decompression (~2 s under TCG). The payload is located by the boot protocol's
 * {@code payload_offset}/{@code payload_length} where the header has them, else by scanning for a
 * compressor's magic as the kernel's scripts/extract-vmlinux does; gzip is undone in the JDK, the
 * others by Debian's tools (xz-utils, zstd, lz4, lzop, bzip2). Like extract-vmlinux the
 * decompressor's exit status is not trusted (the kernel's streams carry a trailing size): the
 * result must be an ELF file, of the size the payload's last four bytes promise when they do.
 */
public final class Vmlinux {
    private Vmlinux() {}

    private record Format(String name, byte[] magic, List<String> command, String debianPackage) {}

    private static final List<Format> FORMATS = List.of(
            new Format("gzip", new byte[] {0x1f, (byte) 0x8b, 0x08}, null, null),
            new Format("xz", new byte[] {(byte) 0xfd, '7', 'z', 'X', 'Z', 0}, List.of("xz", "-dc"), "xz-utils"),
            new Format("zstd", new byte[] {0x28, (byte) 0xb5, 0x2f, (byte) 0xfd}, List.of("zstd", "-dcq"), "zstd"),
            new Format("lz4", new byte[] {0x02, 0x21, 0x4c, 0x18}, List.of("lz4", "-dc"), "lz4"),
            new Format("lzma", new byte[] {0x5d, 0, 0, 0}, List.of("xz", "-dc", "--format=lzma"), "xz-utils"),
            new Format("bzip2", new byte[] {'B', 'Z', 'h'}, List.of("bzip2", "-dc"), "bzip2"),
            new Format("lzo", new byte[] {(byte) 0x89, 'L', 'Z', 'O', 0}, List.of("lzop", "-dc"), "lzop"));

    /** Writes the vmlinux inside {@code bzImage} to {@code target}. */
    public static void extract(Path bzImage, Path target) throws VmmException {
        byte[] image;
        try {
            image = Files.readAllBytes(bzImage);
        } catch (IOException e) {
            throw new VmmException("cannot read " + bzImage + ": " + e.getMessage(), e);
        }
        if (isElf(image, 0)) {
            copy(image, target);
            return;
        }
        List<int[]> candidates = new ArrayList<>(); // {offset, length or -1}
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        if (image.length > 0x250 && b.getInt(0x202) == 0x53726448 /* "HdrS" */ && b.getShort(0x206) >= 0x208) {
            int setupSects = image[0x1f1] == 0 ? 4 : Byte.toUnsignedInt(image[0x1f1]);
            int offset = (setupSects + 1) * 512 + b.getInt(0x248);
            int length = b.getInt(0x24c);
            if (offset > 0 && length > 0 && (long) offset + length <= image.length) {
                candidates.add(new int[] {offset, length});
            }
        }
        for (Format f : FORMATS) {
            for (int at = indexOf(image, f.magic(), 0); at >= 0; at = indexOf(image, f.magic(), at + 1)) {
                candidates.add(new int[] {at, -1});
            }
        }
        String lastProblem = "no compressed payload found";
        for (int[] c : candidates) {
            Format f = formatAt(image, c[0]);
            if (f == null) continue;
            int length = c[1] > 0 ? c[1] : image.length - c[0];
            long expected = c[1] > 0 ? Integer.toUnsignedLong(b.getInt(c[0] + length - 4)) : -1;
            try {
                byte[] out = decompress(f, image, c[0], length);
                if (isElf(out, 0) && (expected < 0 || expected == out.length)) {
                    copy(out, target);
                    return;
                }
                lastProblem = f.name() + " payload at " + c[0] + " did not give an ELF vmlinux";
            } catch (IOException e) {
                lastProblem = e.getMessage();
                if (f.command() != null && e.getMessage().contains("Cannot run program")) {
                    throw new VmmException(f.command().getFirst() + " is not installed (needed to decompress the "
                            + f.name() + " kernel): apt-get install " + f.debianPackage());
                }
            }
        }
        throw new VmmException("cannot extract vmlinux from " + bzImage + ": " + lastProblem);
    }

    private static Format formatAt(byte[] image, int at) {
        for (Format f : FORMATS) {
            if (indexOf(image, f.magic(), at) == at) return f;
        }
        return null;
    }

    private static byte[] decompress(Format f, byte[] image, int offset, int length) throws IOException {
        if (f.command() == null) {
            try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(image, offset, length))) {
                var out = new java.io.ByteArrayOutputStream();
                try {
                    in.transferTo(out);
                } catch (IOException e) {
                    // trailing garbage after the gzip member: what came out may still be whole
                }
                return out.toByteArray();
            }
        }
        List<String> argv = new ArrayList<>(f.command());
        argv.set(0, Tools.find(argv.getFirst()));
        return Command.filter(argv, image, offset, length, java.time.Duration.ofMinutes(2));
    }

    private static void copy(byte[] data, Path target) throws VmmException {
        try {
            Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
            Files.write(tmp, data);
            Files.move(tmp, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new VmmException("cannot write " + target + ": " + e.getMessage(), e);
        }
    }

    static boolean isElf(byte[] data, int at) {
        return data.length >= at + 4 && data[at] == 0x7f && data[at + 1] == 'E' && data[at + 2] == 'L'
                && data[at + 3] == 'F';
    }

    static int indexOf(byte[] data, byte[] pattern, int from) {
        outer:
        for (int i = Math.max(0, from); i <= data.length - pattern.length; i++) {
            for (int j = 0; j < pattern.length; j++) {
                if (data[i + j] != pattern[j]) continue outer;
            }
            return i;
        }
        return -1;
    }
}
