package dev.vessel.view.fuse;

import dev.vessel.linux.Libc;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static dev.vessel.view.fuse.FuseServerTest.require;
import static dev.vessel.view.fuse.FuseServerTest.sized;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The cached mode: container directories whose files the kernel serves from its page cache. */
@Timeout(60)
class CachedFuseServerTest {
    static final String A = "00000000000a", B = "0000000000b0";

    @TempDir
    Path temp;
    Path mnt;
    FuseServer server;
    int fd = -1;

    /** /proc/sized: {@code length} bytes naming the container; /proc/meminfo: the caller, per render. */
    static final class ContainerFs implements FuseFileSystem {
        final AtomicInteger renders = new AtomicInteger();
        volatile int length = 100;

        @Override
        public Set<String> files() {
            return Set.of("/proc/meminfo", "/proc/sized", "/proc/failing", "/sys/devices/system/cpu/online");
        }

        @Override
        public byte[] render(String path, long callerPid) throws IOException {
            return render(path, callerPid, -1);
        }

        @Override
        public byte[] render(String path, long callerPid, long container) throws IOException {
            renders.incrementAndGet();
            return switch (path) {
                case "/proc/meminfo" -> ("pid=" + callerPid + " container=" + container + "\n").getBytes(StandardCharsets.UTF_8);
                case "/proc/sized" -> (container + " " + sized(length)).getBytes(StandardCharsets.UTF_8);
                case "/sys/devices/system/cpu/online" -> "0-1\n".getBytes(StandardCharsets.UTF_8);
                default -> throw new IOException("cannot render " + path);
            };
        }
    }

    final ContainerFs fs = new ContainerFs();

    @BeforeEach
    void mount() throws IOException {
        require(FuseServerTest.isRootForTests(), "FUSE mount tests need root (mount(2) of fuse.vessel)");
        require(Files.exists(Path.of("/dev/fuse")), "FUSE mount tests need /dev/fuse");
        mnt = Files.createDirectory(temp.resolve("mnt"));
        server = FuseServer.mount(mnt, fs, null, true);
        fd = server.fd();
    }

    @AfterEach
    void unmount() throws IOException {
        if (server != null) {
            server.close();
        }
        if (mnt != null) {
            Libc.umount2(mnt.toString(), Libc.MNT_DETACH);
        }
        if (fd >= 0) {
            Libc.close(fd);
        }
    }

    @Test
    void eachContainerDirectoryHasItsOwnFiles() throws IOException {
        assertThat(Files.readString(mnt.resolve(A + "/proc/sized"))).isEqualTo(10 + " " + sized(100));
        assertThat(Files.readString(mnt.resolve(B + "/proc/sized"))).isEqualTo(176 + " " + sized(100));
        assertThat(Files.readString(mnt.resolve(A + "/sys/devices/system/cpu/online"))).isEqualTo("0-1\n");
        try (Stream<Path> dir = Files.list(mnt.resolve(A)); Stream<Path> root = Files.list(mnt)) {
            assertThat(dir.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("proc", "sys");
            assertThat(root.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("proc", "sys");
        }
        assertThat(Files.size(mnt.resolve(A + "/proc/sized"))).isEqualTo(Files.readAllBytes(mnt.resolve(A + "/proc/sized")).length);
        assertThat(Files.exists(mnt.resolve("00000000000g"))).isFalse(); // not hex: no directory
        assertThat(Files.exists(mnt.resolve("0000000000a"))).isFalse(); // 11 digits
    }

    /** No OPEN, RELEASE or READ per read: within one attribute timeout, one render serves every open. */
    @Test
    void repeatedReadsAreServedByTheKernel() throws IOException {
        Path file = mnt.resolve(A + "/proc/sized");
        String first = Files.readString(file);
        int before = fs.renders.get();
        long start = System.nanoTime();
        for (int i = 0; i < 500; i++) {
            assertThat(Files.readString(file)).isEqualTo(first);
        }
        long elapsed = System.nanoTime() - start;
        // at most one GETATTR (one render) per attribute timeout; per-open serving would need 500
        assertThat(fs.renders.get() - before).isLessThanOrEqualTo(2 + (int) (elapsed / FuseServer.ATTR_TTL_NANOS));
        assertThat(fs.renders.get() - before).isLessThan(500);
    }

    @Test
    void aChangeIsSeenWithinTheBoundAndWhole() throws Exception {
        Path file = mnt.resolve(A + "/proc/sized");
        for (int length : new int[] {100, 5000, 30, 200_000, 4096, 4097, 7}) {
            fs.length = length;
            String want = 10 + " " + sized(length);
            long changed = System.nanoTime();
            String seen = Files.readString(file);
            while (!seen.equals(want) && System.nanoTime() - changed < TimeUnit.SECONDS.toNanos(5)) {
                // an older snapshot is fine, as long as it is whole
                assertThat(seen).startsWith("10 ").endsWith("\n").contains("length ");
                Thread.sleep(2);
                seen = Files.readString(file);
            }
            long took = System.nanoTime() - changed;
            assertThat(seen).isEqualTo(want);
            // the attribute timeout, plus what a loaded 2-core host adds
            assertThat(took).as("ns to see length " + length).isLessThan(FuseServer.ATTR_TTL_NANOS + 500_000_000L);
            assertThat(busyboxCat(file)).isEqualTo(want); // sendfile(2) reads the page cache too
        }
    }

    @Test
    void filesOfTheSharedTreeAreStillRenderedPerCaller() throws Exception {
        Process cat = new ProcessBuilder("cat", mnt.resolve("proc/meminfo").toString()).start();
        String output = new String(cat.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(cat.waitFor()).isZero();
        assertThat(output).isEqualTo("pid=" + cat.pid() + " container=-1\n");
        Process again = new ProcessBuilder("cat", mnt.resolve("proc/meminfo").toString()).start();
        assertThat(new String(again.getInputStream().readAllBytes(), StandardCharsets.UTF_8))
                .isEqualTo("pid=" + again.pid() + " container=-1\n");
        assertThat(again.waitFor()).isZero();
    }

    @Test
    void aFailingRendererGivesEio() {
        assertThatThrownBy(() -> Files.readString(mnt.resolve(A + "/proc/failing")))
                .isInstanceOf(IOException.class).hasMessageContaining("Input/output error");
    }

    @Test
    void aSuccessorServesTheCachedFilesAndTheirChanges() throws Exception {
        Path file = mnt.resolve(A + "/proc/sized");
        assertThat(Files.readString(file)).isEqualTo(10 + " " + sized(100));
        server.close();
        ContainerFs successor = new ContainerFs();
        successor.length = 3000;
        server = FuseServer.adopt(fd, successor, null, true);

        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        String seen = Files.readString(file);
        while (!seen.equals(10 + " " + sized(3000)) && System.nanoTime() < deadline) {
            Thread.sleep(5);
            seen = Files.readString(file);
        }
        assertThat(seen).isEqualTo(10 + " " + sized(3000));
        assertThat(Files.readString(mnt.resolve(B + "/proc/sized"))).isEqualTo(176 + " " + sized(3000));
    }

    private static String busyboxCat(Path file) throws Exception {
        require(Files.isExecutable(Path.of("/bin/busybox")), "needs /bin/busybox");
        Process cat = new ProcessBuilder("/bin/busybox", "cat", file.toString()).redirectErrorStream(true).start();
        String output = new String(cat.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(cat.waitFor()).as(output).isZero();
        return output;
    }
}
