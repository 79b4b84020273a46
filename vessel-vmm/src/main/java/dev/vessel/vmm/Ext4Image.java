package dev.vessel.vmm;

import dev.vessel.linux.Command;
import dev.vessel.linux.Tools;
import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code vessel image ext4 ROOTFS_DIR_OR_TAR OUT.img [--size MiB]}: an ext4 image of a directory
 * or a tar archive (unpacked to a temporary directory first; tar detects compression), made with
 * e2fsprogs' {@code mkfs.ext4 -d}, which copies the tree, ownership and modes included, without
 * mounting anything. Default size: the content (in 4 KiB blocks, plus an inode each) × 1.5 + 32 MiB.
 * The image is written next to OUT and renamed into place, so a failure leaves nothing behind.
 */
public final class Ext4Image {
    private Ext4Image() {
    }

    /** Makes the image; returns OUT's size in MiB. */
    public static long build(Path source, Path out, Long sizeMib) throws VmmException {
        if (!Files.exists(source)) throw new VmmException(source + " does not exist");
        Path parent = out.toAbsolutePath().getParent();
        if (parent == null || !Files.isDirectory(parent)) throw new VmmException("the directory of " + out + " does not exist");
        if (Files.isDirectory(out)) throw new VmmException(out + " is a directory");
        if (sizeMib != null && sizeMib < 1) throw new VmmException("--size must be at least 1 MiB");
        Path unpacked = null;
        Path tmp = parent.resolve("." + out.getFileName() + ".tmp-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
        try {
            Path tree = source;
            if (!Files.isDirectory(source)) {
                unpacked = Files.createTempDirectory("vessel-ext4-");
                run(List.of(Tools.find("tar"), "-xf", source.toAbsolutePath().toString(), "-C", unpacked.toString(),
                        "--numeric-owner"), "unpacking " + source);
                tree = unpacked;
            }
            long mib = sizeMib != null ? sizeMib : defaultSizeMib(contentBytes(tree));
            List<String> mkfs = new ArrayList<>(List.of(Tools.find("mkfs.ext4"), "-q", "-F", "-L", "rootfs", "-d", tree.toString(),
                    tmp.toString(), mib + "M"));
            run(mkfs, "mkfs.ext4");
            Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            return mib;
        } catch (IOException e) {
            throw new VmmException(e.getMessage(), e);
        } finally {
            try {
                Files.deleteIfExists(tmp);
                if (unpacked != null) GuestAssets.deleteTree(unpacked);
            } catch (IOException ignored) {
                // a temporary file left in /tmp
            }
        }
    }

    /** content × 1.5 + 32 MiB, in whole MiB. */
    static long defaultSizeMib(long contentBytes) {
        return (contentBytes * 3 / 2 + (1 << 20) - 1) / (1 << 20) + 32;
    }

    /** The tree's size as ext4 would hold it: each file in whole 4 KiB blocks, plus 256 bytes of inode. */
    static long contentBytes(Path tree) throws IOException {
        long[] total = {0};
        Files.walkFileTree(tree, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                total[0] += (attrs.size() + 4095) / 4096 * 4096 + 256;
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                total[0] += 4096 + 256;
                return FileVisitResult.CONTINUE;
            }
        });
        return total[0];
    }

    private static void run(List<String> cmd, String what) throws VmmException {
        Command.Result result;
        try {
            result = Command.run(cmd, "", Duration.ofSeconds(600));
        } catch (Command.TimeoutException e) {
            throw new VmmException(what + ": timed out");
        } catch (IOException e) {
            throw new VmmException(what + ": cannot run " + cmd.getFirst() + " (" + e.getMessage()
                    + "; apt-get install e2fsprogs tar)");
        }
        if (result.status() != 0) {
            throw new VmmException(what + " failed: " + result.firstLine());
        }
    }
}
