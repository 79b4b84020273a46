package dev.vessel.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vessel.oci.Isolation;
import dev.vessel.oci.OciException;
import dev.vessel.vmm.AcceleratorSelector;
import dev.vessel.vmm.GuestAssets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The microVM driver's lifecycle rules against a fake host: plain processes stand for QEMU and
 * the relay (their liveness is what the driver reads), a run dir with no QMP socket (a paused
 * check that cannot ask QMP takes the VM as running). Boots are the end-to-end tests' part.
 */
class MicroVmLifecycleTest {
    @TempDir Path tmp;
    private final List<Process> processes = new ArrayList<>();
    private final List<Path> observedDestroyed = new ArrayList<>();
    private MicroVmDriver driver;
    private IsolationDriver.Context context;
    private long clientPid = 1;

    @BeforeEach
    void setUp() {
        MicroVmDriver.Observer observer = new MicroVmDriver.Observer() {
            public void booted(String id, MicroVmState vm) {}

            public void destroyed(Path runDir) {
                observedDestroyed.add(runDir);
            }
        };
        driver = new MicroVmDriver(new GuestAssets(tmp.resolve("assets")), "/bin/false", Duration.ofSeconds(5),
                AcceleratorSelector.Mode.TCG, true, observer);
        SandboxStore store = SandboxStore.forRoot(tmp.resolve("store"), tmp.resolve("root"));
        context = new IsolationDriver.Context() {
            public SandboxStore store() { return store; }
            public List<String> runtimeArgv() { return List.of(); }
            public List<String> env() { return List.of(); }
            public long clientPid() { return clientPid; }
            public List<String> globalArgs() { return List.of("--root", tmp.resolve("root").toString()); }
        };
    }

    @AfterEach
    void tearDown() {
        processes.forEach(Process::destroyForcibly);
    }

    private long process() throws Exception {
        Process p = new ProcessBuilder("sleep", "60").start();
        processes.add(p);
        return p.pid();
    }

    private SandboxRecord record(String id, long qemu, long relay, boolean started) throws Exception {
        Path runDir = Files.createDirectories(tmp.resolve("run-" + id));
        SandboxRecord r = new SandboxRecord(id, Isolation.MICROVM, "/b", "/b/rootfs", Instant.now().toString(), "root",
                Map.of("a", "b"), started ? Status.RUNNING : Status.CREATED,
                new MicroVmState(runDir.toString(), 304, 1, "tcg", qemu, relay, started, 0, null, null, null, null,
                        null, null, null, null));
        context.store().save(r);
        return r;
    }

    @Test
    void theStatusComesFromTheRelayAndQemu() throws Exception {
        long qemu = process(), relay = process();
        assertThat(MicroVmDriver.status(record("a", qemu, relay, false))).isEqualTo(Status.CREATED);
        SandboxRecord running = record("b", qemu, relay, true);
        assertThat(MicroVmDriver.status(running)).isEqualTo(Status.RUNNING);
        OciState state = driver.state(context, running);
        assertThat(state.pid()).isEqualTo(relay);
        assertThat(state.annotations()).containsEntry("a", "b").containsEntry(Isolation.ANNOTATION, "microvm");
        ProcessHandle relayHandle = ProcessHandle.of(relay).orElseThrow();
        relayHandle.destroyForcibly();
        relayHandle.onExit().get(10, TimeUnit.SECONDS);
        assertThat(MicroVmDriver.status(running)).isEqualTo(Status.STOPPED);
        assertThat(driver.state(context, running).pid()).isZero(); // a stopped sandbox has no pid, as runc says
    }

    @Test
    void aRunningSandboxIsDeletedOnlyByForceAndThenNothingIsLeft() throws Exception {
        long qemu = process(), relay = process();
        SandboxRecord r = record("c", qemu, relay, true);
        assertThatThrownBy(() -> driver.delete(context, r, false, List.of())).isInstanceOf(OciException.class)
                .hasMessage("cannot delete container c that is not stopped: running");
        assertThatThrownBy(() -> driver.start(context, r)).isInstanceOf(OciException.class).hasMessageContaining("running");
        assertThat(driver.delete(context, r, true, List.of())).isEqualTo(Outcome.ok());
        assertThat(ProcessHandle.of(qemu).map(ProcessHandle::isAlive).orElse(false)).isFalse();
        assertThat(ProcessHandle.of(relay).map(ProcessHandle::isAlive).orElse(false)).isFalse();
        assertThat(context.store().load("c")).isEmpty();
        assertThat(Path.of(r.microvm().runDir())).doesNotExist();
        assertThat(observedDestroyed).containsExactly(Path.of(r.microvm().runDir())); // its API stops being served
    }

    @Test
    void aForegroundRunsRelayAskingForItsOwnRemovalIsNotKilled() throws Exception {
        long qemu = process(), relay = process();
        SandboxRecord r = record("d", qemu, relay, true);
        clientPid = relay; // the relay itself sends delete --force once its process has exited
        driver.delete(context, r, true, List.of());
        assertThat(ProcessHandle.of(relay).map(ProcessHandle::isAlive).orElse(false)).isTrue();
        assertThat(ProcessHandle.of(qemu).map(ProcessHandle::isAlive).orElse(false)).isFalse();
        assertThat(context.store().load("d")).isEmpty();
    }

    @Test
    void aStoppedSandboxIsDeletedWithoutForceAndRefusesSignalsAndExecs() throws Exception {
        long qemu = process();
        SandboxRecord r = record("e", qemu, 0, true); // no relay: stopped
        assertThatThrownBy(() -> driver.kill(context, r, 15, false, List.of())).hasMessageContaining("not running");
        assertThatThrownBy(() -> driver.pause(context, r, List.of())).hasMessageContaining("stopped, not running");
        assertThat(driver.delete(context, r, false, List.of())).isEqualTo(Outcome.ok());
        assertThat(ProcessHandle.of(qemu).map(ProcessHandle::isAlive).orElse(false)).isFalse();
    }

    @Test
    void anUnfinishedCreateIsAbandonedWithItsQemu() throws Exception {
        long qemu = process();
        SandboxRecord r = record("f", qemu, 0, false).withStatus(Status.CREATING);
        context.store().save(r);
        assertThat(MicroVmDriver.status(r)).isEqualTo(Status.CREATING);
        driver.abandon(context, r);
        assertThat(ProcessHandle.of(qemu).map(ProcessHandle::isAlive).orElse(false)).isFalse();
        assertThat(context.store().load("f")).isEmpty();
    }

    @Test
    void createWithoutGuestAssetsIsOneLineAndLeavesNothing() {
        SandboxRecord r = new SandboxRecord("g", Isolation.MICROVM, "/b", "/b/rootfs", Instant.now().toString(), "root",
                Map.of(), Status.CREATING, null);
        var config = dev.vessel.oci.BundleConfig.parse(tmp, "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"rootfs\"}}"
                .getBytes(java.nio.charset.StandardCharsets.UTF_8));
        assertThatThrownBy(() -> driver.create(context, r, new IsolationDriver.CreateSpec("g", config, null, null, false,
                false, List.of()))).isInstanceOf(OciException.class).hasMessageContaining("vessel assets build");
        assertThat(context.store().load("g")).isEmpty();
    }
}
