package dev.vessel.view.fuse;

import dev.vessel.linux.Libc;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

@Timeout(60)
class FuseServerTest {
    @TempDir
    Path temp;
    Path mnt;
    FuseServer server;
    int fd = -1;

    /** pid=N for /proc/meminfo; a file that grows at every render; a broken one, with and without fallback. */
    static final class TestFs implements FuseFileSystem {
        final AtomicInteger renders = new AtomicInteger();
        volatile CountDownLatch slowEntered;
        volatile CountDownLatch slowRelease;
        volatile int sizedLength = 10;

        @Override
        public Set<String> files() {
            return Set.of("/proc/meminfo", "/proc/growing", "/proc/broken", "/proc/failing", "/proc/slow",
                    "/proc/sized", "/sys/devices/system/cpu/online");
        }

        @Override
        public byte[] render(String path, long callerPid) throws Exception {
            return switch (path) {
                case "/proc/meminfo" -> ("pid=" + callerPid + "\n").getBytes(StandardCharsets.UTF_8);
                case "/proc/growing" -> growing(renders.incrementAndGet());
                case "/proc/sized" -> sizedBytes(sizedLength);
                case "/sys/devices/system/cpu/online" -> "0-1\n".getBytes(StandardCharsets.UTF_8);
                case "/proc/slow" -> {
                    if (slowEntered != null) {
                        slowEntered.countDown();
                        slowRelease.await();
                    }
                    yield "slow\n".getBytes(StandardCharsets.UTF_8);
                }
                default -> throw new IOException("cannot render " + path);
            };
        }

        @Override
        public byte[] fallback(String path, long callerPid) {
            return path.equals("/proc/broken") ? "fallback\n".getBytes(StandardCharsets.UTF_8) : null;
        }

        @Override
        public long size(String path) {
            return path.startsWith("/sys/") ? 4096 : 0;
        }
    }

    /** n * 7000 bytes of numbered lines, ending in "end n": larger than one READ for big n. */
    static byte[] growing(int n) {
        StringBuilder text = new StringBuilder();
        for (int line = 0; text.length() < n * 7000; line++) {
            text.append("render ").append(n).append(" line ").append(line).append('\n');
        }
        return text.append("end ").append(n).append('\n').toString().getBytes(StandardCharsets.UTF_8);
    }

    /** {@code length} bytes of lines, each ending in a newline, the last one saying the length. */
    static String sized(int length) {
        String end = "length " + length + "\n";
        StringBuilder text = new StringBuilder(length);
        while (text.length() + end.length() < length) {
            text.append(String.valueOf(text.length() % 10).repeat(Math.min(63, length - end.length() - text.length() - 1)))
                    .append('\n');
        }
        return text.append(end).toString();
    }

    static byte[] sizedBytes(int length) {
        return sized(length).getBytes(StandardCharsets.UTF_8);
    }

    final TestFs fs = new TestFs();

    @BeforeEach
    void mount() throws IOException {
        require(isRoot(), "FUSE mount tests need root (mount(2) of fuse.vessel)");
        require(Files.exists(Path.of("/dev/fuse")), "FUSE mount tests need /dev/fuse");
        mnt = Files.createDirectory(temp.resolve("mnt"));
        server = FuseServer.mount(mnt, fs, temp.resolve("backings"));
        fd = server.fd();
    }

    @AfterEach
    void unmount() throws IOException {
        if (server != null) {
            server.close();
        }
        if (mnt != null && mounted(mnt)) {
            FuseServer.unmount(mnt);
        }
        if (fd >= 0) {
            Libc.close(fd); // the last descriptor: aborts the connection, freeing anything stuck
        }
    }

    @Test
    void rendersForTheCallingThread() throws IOException {
        String threadSelf = Files.readSymbolicLink(Path.of("/proc/thread-self")).toString(); // "PID/task/TID"
        String tid = threadSelf.substring(threadSelf.lastIndexOf('/') + 1);

        assertThat(Files.readString(mnt.resolve("proc/meminfo"))).isEqualTo("pid=" + tid + "\n");
    }

    @Test
    void rendersForAnotherProcess() throws Exception {
        Process cat = new ProcessBuilder("cat", mnt.resolve("proc/meminfo").toString()).start();
        String output = new String(cat.getInputStream().readAllBytes(), StandardCharsets.UTF_8);

        assertThat(cat.waitFor()).isZero();
        assertThat(output).isEqualTo("pid=" + cat.pid() + "\n");
    }

    @Test
    void everyReadSeesOneWholeRender() throws IOException {
        for (int i = 0; i < 30; i++) {
            String text = Files.readString(mnt.resolve("proc/growing"));
            int n = Integer.parseInt(text.substring(text.lastIndexOf("end ") + 4).trim());
            assertThat(text).isEqualTo(new String(growing(n), StandardCharsets.UTF_8));
        }
        assertThat(fs.renders.get()).isEqualTo(30); // one render per open, whatever the number of READs
    }

    @Test
    void readsConcurrently() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> results = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                results.add(pool.submit(() -> {
                    for (int i = 0; i < 200; i++) {
                        assertThat(Files.readString(mnt.resolve("sys/devices/system/cpu/online"))).isEqualTo("0-1\n");
                        assertThat(Files.readString(mnt.resolve("proc/meminfo"))).startsWith("pid=");
                    }
                    return null;
                }));
            }
            for (Future<?> result : results) {
                result.get();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void negotiatesPassthroughWhereTheKernelHasIt() {
        assumeTrue(kernelAtLeast(6, 9), "FUSE passthrough needs Linux 6.9");
        assertThat(server.passthrough()).isTrue();
    }

    /** busybox cat reads with sendfile(2): a splice read, which direct I/O does not cover. */
    @Test
    void sendfileReadsTheWholeFileWhicheverWayItsLengthChanges() throws Exception {
        assumeTrue(server.passthrough(), "splice reads are whole only with FUSE passthrough");
        for (int length : new int[] {10, 1300, 5000, 100, 300_000, 3, 4096, 4097, 1300, 20}) {
            fs.sizedLength = length;
            assertThat(busyboxCat(mnt.resolve("proc/sized"))).isEqualTo(sized(length));
            assertThat(Files.readString(mnt.resolve("proc/sized"))).isEqualTo(sized(length));
        }
        awaitNoBackings(); // every backing id closed with its last handle
    }

    @Test
    void plainReadsSeeOneWholeRenderWithPassthroughOrWithout() throws Exception {
        for (int length : new int[] {5000, 100, 200_000, 7}) {
            fs.sizedLength = length;
            Process cat = new ProcessBuilder("cat", mnt.resolve("proc/sized").toString()).start();
            assertThat(new String(cat.getInputStream().readAllBytes(), StandardCharsets.UTF_8)).isEqualTo(sized(length));
            assertThat(cat.waitFor()).isZero();
            try (FileChannel channel = FileChannel.open(mnt.resolve("proc/sized"))) {
                ByteBuffer small = ByteBuffer.allocate(3); // many short reads of one snapshot
                StringBuilder text = new StringBuilder();
                while (channel.read(small.clear()) > 0) {
                    text.append(new String(small.array(), 0, small.position(), StandardCharsets.UTF_8));
                    fs.sizedLength = length + 1; // later opens render something else
                }
                assertThat(text.toString()).isEqualTo(sized(length));
            }
        }
    }

    /**
     * The kernel allows one backing file per inode: an open that overlaps another with a different
     * render shares its backing id but reads its own render through the server.
     */
    @Test
    void overlappingOpensEachSeeTheirOwnRender() throws Exception {
        fs.sizedLength = 1000;
        try (FileChannel first = FileChannel.open(mnt.resolve("proc/sized"))) {
            assertThat(busyboxCat(mnt.resolve("proc/sized"))).isEqualTo(sized(1000)); // same render: shared
            fs.sizedLength = 2000;
            assertThat(Files.readString(mnt.resolve("proc/sized"))).isEqualTo(sized(2000));
            try (FileChannel second = FileChannel.open(mnt.resolve("proc/sized"))) {
                assertThat(readAll(second)).isEqualTo(sized(2000));
                assertThat(readAll(first)).isEqualTo(sized(1000));
            }
        }
        fs.sizedLength = 3000;
        assertThat(busyboxCat(mnt.resolve("proc/sized"))).isEqualTo(sized(3000)); // a new backing
        awaitNoBackings();
    }

    @Test
    void withoutPassthroughReadsUseDirectIo() throws Exception {
        server.close();
        FuseServer.unmount(mnt);
        Libc.close(fd);
        System.setProperty("vessel.view.passthrough", "false");
        try {
            server = FuseServer.mount(mnt, fs);
            fd = server.fd();
        } finally {
            System.clearProperty("vessel.view.passthrough");
        }
        assertThat(server.passthrough()).isFalse();
        fs.sizedLength = 9000;
        assertThat(Files.readString(mnt.resolve("proc/sized"))).isEqualTo(sized(9000));

        server.close();
        server = FuseServer.adopt(fd, fs); // the probe finds no passthrough on this connection

        assertThat(server.passthrough()).isFalse();
        assertThat(Files.readString(mnt.resolve("proc/sized"))).isEqualTo(sized(9000));
    }

    @Test
    void aSuccessorKeepsPassthroughAndClosesItsPredecessorsBackings() throws Exception {
        assumeTrue(server.passthrough(), "needs FUSE passthrough");
        fs.sizedLength = 1500;
        FileChannel held = FileChannel.open(mnt.resolve("proc/sized")); // open across the takeover
        try {
            server.close();
            server = FuseServer.adopt(fd, fs);
            assertThat(server.passthrough()).isTrue();

            assertThat(readAll(held)).isEqualTo(sized(1500)); // the kernel still has its backing file
        } finally {
            held.close(); // RELEASE of a handle the successor never saw: it closes the id
        }
        fs.sizedLength = 700;
        assertThat(busyboxCat(mnt.resolve("proc/sized"))).isEqualTo(sized(700));
        assertThat(busyboxCat(mnt.resolve("sys/devices/system/cpu/online"))).isEqualTo("0-1\n");
        awaitNoBackings();
    }

    @Test
    void aFileHeldOpenAcrossATakeoverStaysOpenableForOthers() throws Exception {
        assumeTrue(server.passthrough(), "needs FUSE passthrough");
        fs.sizedLength = 1500;
        // procps's top keeps /proc/meminfo open; the kernel then insists every open of that inode
        // names the backing id the dead daemon registered, which only the table remembers.
        FileChannel held = FileChannel.open(mnt.resolve("proc/sized"));
        try {
            server.close();
            server = FuseServer.adopt(fd, fs, temp.resolve("backings"));
            fs.sizedLength = 900;
            assertThat(Files.readString(mnt.resolve("proc/sized"))).isEqualTo(sized(900));
            assertThat(readAll(held)).isEqualTo(sized(1500));
        } finally {
            held.close();
        }
        awaitNoBackings(); // RELEASE is asynchronous: the inherited id goes with it
        fs.sizedLength = 700;
        assertThat(busyboxCat(mnt.resolve("proc/sized"))).isEqualTo(sized(700));
        awaitNoBackings();
    }

    @Test
    void listsDirectoriesAndStatsFiles() throws IOException {
        try (Stream<Path> root = Files.list(mnt); Stream<Path> proc = Files.list(mnt.resolve("proc"))) {
            assertThat(root.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("proc", "sys");
            assertThat(proc.map(p -> p.getFileName().toString()))
                    .containsExactlyInAnyOrder("meminfo", "growing", "broken", "failing", "slow", "sized");
        }
        Path meminfo = mnt.resolve("proc/meminfo");
        assertThat(Files.isRegularFile(meminfo)).isTrue();
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(meminfo))).isEqualTo("r--r--r--");
        assertThat(Files.size(meminfo)).isZero();
        assertThat(Files.size(mnt.resolve("sys/devices/system/cpu/online"))).isEqualTo(4096);
        assertThat(Files.isDirectory(mnt.resolve("sys/devices/system/cpu"))).isTrue();
        assertThat(Files.exists(mnt.resolve("proc/nothing"))).isFalse();
    }

    @Test
    void refusesWrites() {
        assertThatThrownBy(() -> Files.writeString(mnt.resolve("proc/meminfo"), "x"))
                .isInstanceOf(IOException.class).hasMessageContaining("Read-only");
        assertThatThrownBy(() -> Files.createFile(mnt.resolve("proc/new"))).isInstanceOf(IOException.class);
    }

    @Test
    void aFailingRendererGivesTheFallbackOrEio() throws IOException {
        assertThat(Files.readString(mnt.resolve("proc/broken"))).isEqualTo("fallback\n");
        assertThatThrownBy(() -> Files.readString(mnt.resolve("proc/failing")))
                .isInstanceOf(IOException.class).hasMessageContaining("Input/output error");
        assertThat(Files.readString(mnt.resolve("proc/meminfo"))).startsWith("pid="); // still serving
    }

    @Test
    void aSuccessorAdoptsTheConnection() throws IOException {
        assertThat(Files.readString(mnt.resolve("sys/devices/system/cpu/online"))).isEqualTo("0-1\n");
        server.close();

        server = FuseServer.adopt(fd, new TestFs());

        assertThat(Files.readString(mnt.resolve("sys/devices/system/cpu/online"))).isEqualTo("0-1\n");
        assertThat(Files.readString(mnt.resolve("proc/meminfo"))).startsWith("pid=");
        try (Stream<Path> proc = Files.list(mnt.resolve("proc"))) {
            assertThat(proc).hasSize(6);
        }
    }

    @Test
    void aSuccessorAnswersWhatItsPredecessorReadButNeverAnswered() throws Exception {
        fs.slowEntered = new CountDownLatch(1);
        fs.slowRelease = new CountDownLatch(1);
        Process cat = new ProcessBuilder("cat", mnt.resolve("proc/slow").toString()).start();
        try {
            assertThat(fs.slowEntered.await(10, TimeUnit.SECONDS)).isTrue(); // the old server holds the OPEN
            server.close(); // as if it died: the OPEN stays unanswered

            server = FuseServer.adopt(fd, new TestFs()); // resends the OPEN

            assertThat(cat.waitFor(10, TimeUnit.SECONDS)).isTrue();
            assertThat(new String(cat.getInputStream().readAllBytes(), StandardCharsets.UTF_8)).isEqualTo("slow\n");
        } finally {
            fs.slowRelease.countDown(); // the old thread's late reply is refused by the kernel, harmlessly
            cat.destroyForcibly();
        }
    }

    @Test
    void unmountLeavesNoMount() throws Exception {
        assertThat(mounted(mnt)).isTrue();
        server.close();
        FuseServer.unmount(mnt);

        assertThat(mounted(mnt)).isFalse();
        assertThat(Files.list(mnt)).isEmpty();
    }

    @Test
    void threadsExitWhenTheMountGoes() throws Exception {
        FuseServer.unmount(mnt); // no file open: the connection ends at once
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (servingThreads() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(servingThreads()).isZero();
    }

    private static String busyboxCat(Path file) throws Exception {
        require(Files.isExecutable(Path.of("/bin/busybox")), "needs /bin/busybox");
        Process cat = new ProcessBuilder("/bin/busybox", "cat", file.toString()).redirectErrorStream(true).start();
        String output = new String(cat.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(cat.waitFor()).as(output).isZero();
        return output;
    }

    private static String readAll(FileChannel channel) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(1 << 20);
        channel.position(0);
        while (channel.read(buffer) > 0) {
            // until EOF
        }
        return new String(buffer.array(), 0, buffer.position(), StandardCharsets.UTF_8);
    }

    /** RELEASE comes asynchronously after close(2). */
    private void awaitNoBackings() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (server.backings.size() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(server.backings.size()).isZero();
    }

    private static boolean kernelAtLeast(int major, int minor) {
        String[] parts = System.getProperty("os.version").split("[.-]");
        int have = Integer.parseInt(parts[0]) * 1000 + Integer.parseInt(parts[1]);
        return have >= major * 1000 + minor;
    }

    private long servingThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("vessel-fuse-" + fd + "-")).count();
    }

    private static boolean mounted(Path mountpoint) throws IOException {
        return Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
                .anyMatch(line -> line.split(" ")[4].equals(mountpoint.toString()));
    }

    /**
     * A prerequisite of the machine (root, a device, a tool): without it the test is skipped on a
     * developer's machine, but fails under CI (CI=true), where a skip would hide that it never ran.
     * What the kernel offers (FUSE passthrough) stays an assumption.
     */
    static void require(boolean met, String what) {
        if ("true".equals(System.getenv("CI"))) assertTrue(met, what + " (CI=true: a missing prerequisite fails the test)");
        else assumeTrue(met, what);
    }

    static boolean isRootForTests() {
        return isRoot();
    }

    private static boolean isRoot() {
        try {
            return ((Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).intValue() == 0;
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }
}
