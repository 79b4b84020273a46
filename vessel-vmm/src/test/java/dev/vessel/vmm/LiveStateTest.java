package dev.vessel.vmm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vessel.linux.Command;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Snapshots and live migration of a running full VM over QMP (LiveState) against real QEMU and
 * the Debian image of {@code vessel vm image build} (built into its cache first if missing: that
 * takes minutes): the guest prints a counter on its serial console every second (a cloud-init
 * runcmd); a snapshot-save, the counter runs on, a snapshot-load takes it back; a migration to a
 * second QEMU ({@code -incoming defer}, a Unix socket) carries the counter on there and leaves the
 * source in postmigrate. Root only; under TCG a boot takes a minute or more.
 */
class LiveStateTest {
    private static final Pattern COUNTER = Pattern.compile("vessel-counter (\\d+)\r?\n"); // whole lines: one cut by a migration is not a count
    private static final long MEMORY = 512L << 20;
    private final List<Process> qemus = new ArrayList<>();
    private Path state;

    @AfterEach
    void cleanUp() throws IOException {
        for (Process p : qemus) p.destroyForcibly();
        for (Process p : qemus) {
            try {
                p.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (state != null) GuestAssets.deleteTree(state);
    }

    @Test
    void snapshotsAndMigrationOfARunningVm() throws Exception {
        MicrovmBootTest.require("root".equals(System.getProperty("user.name")), "needs root");
        for (String tool : List.of("qemu-system-x86_64", "qemu-img", "genisoimage", "debootstrap", "extlinux")) {
            MicrovmBootTest.require(Doctor.onPath(tool).isPresent(), "needs " + tool + " on PATH (scripts/install-deps)");
        }
        state = Files.createTempDirectory("vessel-livestate-it");
        Path image = new VmImageBuilder(VmImageBuilder.DEFAULT_DIR)
                .ensure(VmImageBuilder.spec("debian", null, null), line -> System.out.println(line)).image();
        Path overlay = state.resolve("overlay.qcow2");
        exec("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", image.toString(), overlay.toString());
        Path seed = seedIso();

        Process source = start(overlay, seed, "source", false);
        try (Qmp qmp = Qmp.connect(state.resolve("source.qmp"), Duration.ofSeconds(30))) {
            long first = awaitCounter(state.resolve("source.console"), 1, Duration.ofMinutes(8), source);

            // snapshot: disks and memory of the running VM, internal to the qcow2 overlay
            long atSave = awaitCounter(state.resolve("source.console"), first + 2, Duration.ofMinutes(1), source);
            long t0 = System.nanoTime();
            LiveState.save(qmp, "snap1", "disk0", List.of("disk0"), Duration.ofMinutes(5));
            System.out.println("snapshot-save: " + (System.nanoTime() - t0) / 1_000_000 + " ms");
            long saved = lastCounter(state.resolve("source.console"));
            assertThat(LiveState.snapshots(qmp, "disk0")).containsExactly("snap1");
            assertThat(qmp.status()).isEqualTo("running");
            long later = awaitCounter(state.resolve("source.console"), saved + 5, Duration.ofMinutes(1), source);
            t0 = System.nanoTime();
            LiveState.load(qmp, "snap1", "disk0", List.of("disk0"), Duration.ofMinutes(5));
            System.out.println("snapshot-load: " + (System.nanoTime() - t0) / 1_000_000 + " ms");
            assertThat(qmp.status()).isEqualTo("running");
            // back in time: the counter the guest prints next follows the one it had printed at the save
            long afterLoad = countAt(state.resolve("source.console"), counts(state.resolve("source.console")).size(),
                    Duration.ofMinutes(1), source);
            assertThat(afterLoad).as("first count after snapshot-load (saved at %d..%d, was at %d)", atSave, saved, later)
                    .isBetween(atSave, saved + 3);
            LiveState.delete(qmp, "snap1", List.of("disk0"), Duration.ofMinutes(2));
            assertThat(LiveState.snapshots(qmp, "disk0")).isEmpty();

            // live migration to a second QEMU on this host over a Unix socket
            Process target = start(overlay, seed, "target", true);
            try (Qmp in = Qmp.connect(state.resolve("target.qmp"), Duration.ofSeconds(30))) {
                String uri = "unix:" + state.resolve("migrate.sock");
                LiveState.acceptIncoming(in, uri);
                long before = lastCounter(state.resolve("source.console"));
                LiveState.Result r = LiveState.migrate(qmp, uri, MEMORY);
                System.out.println("migration: " + r);
                assertThat(qmp.status()).isEqualTo("postmigrate");
                long stoppedAt = lastCounter(state.resolve("source.console"));
                assertThat(stoppedAt).isGreaterThanOrEqualTo(before);
                assertThat(in.status()).isEqualTo("running");
                long there = countAt(state.resolve("target.console"), 0, Duration.ofMinutes(1), target);
                assertThat(there).as("the target's first count carries on from the source's last (%d)", stoppedAt)
                        .isBetween(stoppedAt + 1, stoppedAt + 5);
                awaitCounter(state.resolve("target.console"), there + 3, Duration.ofMinutes(1), target);
                qmp.execute("quit");
                source.waitFor();
                assertThat(source.isAlive()).isFalse();
                in.execute("quit");
            }
        }
    }

    private Path seedIso() throws Exception {
        Path dir = Files.createDirectories(state.resolve("seed"));
        Files.writeString(dir.resolve("meta-data"), "instance-id: vessel-livestate\nlocal-hostname: livestate\n");
        Files.writeString(dir.resolve("user-data"), """
                #cloud-config
                runcmd:
                  - [systemd-run, --unit=vessel-counter, sh, -c, 'i=0; while :; do i=$((i+1)); echo "vessel-counter $i" > /dev/ttyS0; sleep 1; done']
                """);
        Path iso = state.resolve("seed.iso");
        exec("genisoimage", "-quiet", "-output", iso.toString(), "-volid", "cidata", "-joliet", "-rock",
                dir.resolve("user-data").toString(), dir.resolve("meta-data").toString());
        return iso;
    }

    /** One QEMU of the pair: the same devices on both sides (migration needs that), its own console and QMP socket. */
    private Process start(Path overlay, Path seed, String name, boolean incoming) throws IOException {
        Accelerator accel = Accelerator.detect();
        List<String> argv = new ArrayList<>(List.of("qemu-system-x86_64", "-machine", "q35", "-accel", accel.kind().qemuName,
                "-cpu", accel.kind().cpu, "-smp", "1", "-m", Long.toString(MEMORY >> 20), "-nodefaults", "-display", "none",
                "-serial", "file:" + state.resolve(name + ".console"),
                "-drive", "file=" + overlay + ",if=virtio,format=qcow2,node-name=disk0",
                "-drive", "file=" + seed + ",if=virtio,format=raw,readonly=on",
                "-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0",
                "-qmp", "unix:" + state.resolve(name + ".qmp") + ",server=on,wait=off"));
        if (incoming) argv.addAll(List.of("-incoming", "defer"));
        Process p = new ProcessBuilder(argv).redirectErrorStream(true)
                .redirectOutput(state.resolve(name + ".out").toFile()).start();
        qemus.add(p);
        return p;
    }

    private static long lastCounter(Path console) throws IOException {
        List<Long> all = counts(console);
        return all.isEmpty() ? -1 : all.getLast();
    }

    /** Waits until the console's last count is at least {@code atLeast}; returns it. */
    private static long awaitCounter(Path console, long atLeast, Duration wait, Process qemu) throws Exception {
        long deadline = System.nanoTime() + wait.toNanos();
        while (true) {
            long last = lastCounter(console);
            if (last >= atLeast) return last;
            assertThat(qemu.isAlive()).as("QEMU running").isTrue();
            assertThat(System.nanoTime()).as("count %d on %s within %s (last: %d)", atLeast, console, wait, last)
                    .isLessThan(deadline);
            Thread.sleep(200);
        }
    }

    private static List<Long> counts(Path console) throws IOException {
        List<Long> all = new ArrayList<>();
        if (!Files.exists(console)) return all;
        Matcher m = COUNTER.matcher(Files.readString(console));
        while (m.find()) all.add(Long.parseLong(m.group(1)));
        return all;
    }

    /** The count the console shows as its {@code index}th (0: the first), waiting for it. */
    private static long countAt(Path console, int index, Duration wait, Process qemu) throws Exception {
        long deadline = System.nanoTime() + wait.toNanos();
        while (true) {
            List<Long> all = counts(console);
            if (all.size() > index) return all.get(index);
            assertThat(qemu.isAlive()).as("QEMU running").isTrue();
            assertThat(System.nanoTime()).as("a count #%d on %s within %s", index, console, wait).isLessThan(deadline);
            Thread.sleep(200);
        }
    }

    private static void exec(String... argv) throws IOException {
        Command.Result r = Command.run(List.of(argv), "", Duration.ofMinutes(2));
        assertThat(r.status()).as(String.join(" ", argv) + ": " + r.output()).isZero();
    }
}
