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
 * the relay (their liveness is what the driver reads); a run dir with no QMP socket (a paused
 * check that cannot ask QMP takes the VM as running), or one where {@link FakeGuest} answers on
 * QEMU's QMP socket and the agent's socket as they do (pause, resume, kill, exec's refusals).
 * Boots are the end-to-end tests' part.
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

    @Test
    void pauseAndResumeAreQmpStopAndContAndTheStatusFollowsQemus() throws Exception {
        long qemu = process(), relay = process();
        SandboxRecord r = record("p", qemu, relay, true);
        try (FakeGuest guest = new FakeGuest(Path.of(r.microvm().runDir()))) {
            assertThat(MicroVmDriver.status(r)).isEqualTo(Status.RUNNING);
            assertThatThrownBy(() -> driver.resume(context, r, List.of())).hasMessage("container \"p\" is running, not paused");
            assertThat(driver.pause(context, r, List.of())).isEqualTo(Outcome.ok());
            assertThat(MicroVmDriver.status(r)).isEqualTo(Status.PAUSED);
            assertThat(driver.state(context, r).status()).isEqualTo("paused");
            assertThatThrownBy(() -> driver.pause(context, r, List.of())).hasMessage("container \"p\" is paused, not running");
            assertThatThrownBy(() -> driver.delete(context, r, false, List.of()))
                    .hasMessage("cannot delete container p that is not stopped: paused");
            assertThat(driver.resume(context, r, List.of())).isEqualTo(Outcome.ok());
            assertThat(MicroVmDriver.status(r)).isEqualTo(Status.RUNNING);
            assertThat(guest.qmpCommands()).containsSubsequence("stop", "cont");
            assertThat(guest.agentRequests()).isEmpty();
        }
    }

    @Test
    void killIsTheAgentsKillOfTheWorkloadAndAnAgentErrorIsOneLine() throws Exception {
        long qemu = process(), relay = process();
        SandboxRecord r = record("k", qemu, relay, true);
        try (FakeGuest guest = new FakeGuest(Path.of(r.microvm().runDir()))) {
            assertThat(driver.kill(context, r, 15, false, List.of())).isEqualTo(Outcome.ok());
            assertThat(driver.kill(context, r, 9, true, List.of())).isEqualTo(Outcome.ok());
            assertThat(guest.agentRequests()).containsExactly("KILL 0 15", "KILL 0 9 ALL");
            guest.refuse("no such process");
            assertThatThrownBy(() -> driver.kill(context, r, 15, false, List.of())).isInstanceOf(OciException.class)
                    .hasMessageContaining("no such process").satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
        }
    }

    @Test
    void aGuestThatIsGoneIsOneLineNamingTheSandbox() throws Exception {
        long qemu = process(), relay = process();
        SandboxRecord r = record("n", qemu, relay, true); // no agent socket: the guest cannot be reached
        assertThatThrownBy(() -> driver.kill(context, r, 15, false, List.of())).isInstanceOf(OciException.class)
                .hasMessageContaining("n").hasMessageContaining("agent").satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
    }

    /**
     * QEMU's QMP socket and the guest agent's socket in a run dir, answering as they do: QMP's
     * greeting, {@code qmp_capabilities}, {@code stop}, {@code cont}, {@code query-status}; the
     * agent's READY, then OK (or ERR, once {@link #refuse} was called) to every request.
     */
    static final class FakeGuest implements AutoCloseable {
        private final java.nio.channels.ServerSocketChannel qmp, agent;
        private final List<String> qmpCommands = java.util.Collections.synchronizedList(new ArrayList<>());
        private final List<String> agentRequests = java.util.Collections.synchronizedList(new ArrayList<>());
        private volatile String status = "running";
        private volatile String refusal;

        FakeGuest(Path runDir) throws java.io.IOException {
            qmp = listen(runDir.resolve(dev.vessel.vmm.QemuCommand.QMP_SOCKET));
            agent = listen(runDir.resolve(dev.vessel.vmm.QemuCommand.AGENT_SOCKET));
            serve(qmp, this::qmpSession);
            serve(agent, this::agentSession);
        }

        List<String> qmpCommands() {
            return List.copyOf(qmpCommands);
        }

        List<String> agentRequests() {
            return List.copyOf(agentRequests);
        }

        void refuse(String why) {
            refusal = why;
        }

        private static java.nio.channels.ServerSocketChannel listen(Path socket) throws java.io.IOException {
            var server = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX);
            server.bind(java.net.UnixDomainSocketAddress.of(socket));
            return server;
        }

        interface Session {
            void run(java.io.BufferedReader in, java.io.PrintStream out) throws java.io.IOException;
        }

        private static void serve(java.nio.channels.ServerSocketChannel server, Session session) {
            Thread.ofPlatform().daemon().start(() -> {
                while (server.isOpen()) {
                    try {
                        var c = server.accept();
                        Thread.ofPlatform().daemon().start(() -> {
                            try (c) {
                                session.run(new java.io.BufferedReader(new java.io.InputStreamReader(
                                        java.nio.channels.Channels.newInputStream(c), java.nio.charset.StandardCharsets.UTF_8)),
                                        new java.io.PrintStream(java.nio.channels.Channels.newOutputStream(c), true,
                                                java.nio.charset.StandardCharsets.UTF_8));
                            } catch (java.io.IOException e) {
                                // the driver closed its end
                            }
                        });
                    } catch (java.io.IOException e) {
                        return; // closed
                    }
                }
            });
        }

        private void qmpSession(java.io.BufferedReader in, java.io.PrintStream out) throws java.io.IOException {
            var json = new com.fasterxml.jackson.databind.ObjectMapper();
            out.print("{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7}}, \"capabilities\": []}}\n");
            for (String line; (line = in.readLine()) != null; ) {
                var request = json.readTree(line);
                String command = request.path("execute").asText();
                qmpCommands.add(command);
                var reply = json.createObjectNode();
                var ret = reply.putObject("return");
                switch (command) {
                    case "stop" -> status = "paused";
                    case "cont" -> status = "running";
                    case "query-status" -> ret.put("status", status).put("running", status.equals("running"));
                    default -> { }
                }
                if (request.has("id")) reply.set("id", request.get("id"));
                out.print(json.writeValueAsString(reply) + "\n");
            }
        }

        private void agentSession(java.io.BufferedReader in, java.io.PrintStream out) throws java.io.IOException {
            out.print("READY " + dev.vessel.vmm.AgentClient.PROTOCOL + "\n");
            StringBuilder request = new StringBuilder();
            for (String line; (line = in.readLine()) != null; ) {
                if (!line.equals("END")) {
                    request.append(request.isEmpty() ? "" : "\n").append(line);
                    continue;
                }
                agentRequests.add(request.toString());
                request.setLength(0);
                out.print(refusal == null ? "OK\n" : "ERR " + refusal + "\n");
            }
        }

        @Override
        public void close() throws java.io.IOException {
            qmp.close();
            agent.close();
        }
    }
}
