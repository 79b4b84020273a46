package dev.vessel.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vessel.oci.BundleConfig;
import dev.vessel.oci.Isolation;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The container driver's outcomes against a fake low-level runtime: what the client is told to run, and the store. */
class ContainerDriverTest {
    @TempDir Path tmp;

    private IsolationDriver.Context context(Path root) {
        SandboxStore store = SandboxStore.forRoot(tmp.resolve("store"), root);
        return new IsolationDriver.Context() {
            public SandboxStore store() { return store; }
            public List<String> runtimeArgv() { return List.of("/usr/bin/crun", "--root", root.toString()); }
            public List<String> env() { return List.of("PATH=/bin"); }
            public long clientPid() { return 4242; }
            public List<String> globalArgs() { return List.of("--root", root.toString()); }
        };
    }

    private SandboxRecord record(String id, Instant created) {
        return new SandboxRecord(id, Isolation.CONTAINER, "/b", "/b/rootfs", created.toString(), "root",
                Map.of("a", "b"), Status.CREATING, null);
    }

    @Test
    void createWithCrunExecsItWithTheConfigInAMemfdAndRecordsTheSandbox() {
        Path root = tmp.resolve("root");
        IsolationDriver.Context ctx = context(root);
        BundleConfig config = BundleConfig.parse(tmp, "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"rootfs\"}, \"process\": {\"args\": [\"true\"]}}"
                .getBytes(StandardCharsets.UTF_8));
        Outcome o = new ContainerDriver(() -> true).create(ctx, record("c1", Instant.now()),
                new IsolationDriver.CreateSpec("c1", config, null, null, false, false, List.of("--pid-file=/p")));
        assertThat(o).isInstanceOf(Outcome.Exec.class);
        Outcome.Exec exec = (Outcome.Exec) o;
        assertThat(exec.argv()).containsExactly("/usr/bin/crun", "--root", root.toString(), "create", "--pid-file=/p",
                "--bundle", tmp.toString(), "--config", "@file:0", "c1");
        assertThat(exec.files()).hasSize(1);
        assertThat(ctx.store().load("c1")).isPresent();
        Outcome.Exec run = (Outcome.Exec) new ContainerDriver(() -> true).create(ctx, record("c9", Instant.now()),
                new IsolationDriver.CreateSpec("c9", config, null, null, true, false, List.of()));
        assertThat(run.argv()).contains("run");
        assertThat(ctx.store().load("c9")).as("a foreground run leaves no record to go stale").isEmpty();
    }

    @Test
    void createWithRuncSpawnsItOnACopyAndForgetsAFailure() throws Exception {
        Path root = tmp.resolve("root");
        Files.createDirectories(root);
        IsolationDriver.Context ctx = context(root);
        BundleConfig config = BundleConfig.parse(tmp, "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"rootfs\"}}".getBytes(StandardCharsets.UTF_8));
        Outcome.Spawn spawn = (Outcome.Spawn) new ContainerDriver(() -> false).create(ctx, record("c2", Instant.now()),
                new IsolationDriver.CreateSpec("c2", config, null, null, false, false, List.of()));
        Path copy = Path.of(spawn.argv().get(spawn.argv().indexOf("--bundle") + 1));
        assertThat(copy.resolve("config.json")).exists();
        assertThat(spawn.then().apply(1)).isEqualTo(new Outcome.Exit(1, "", ""));
        assertThat(copy).doesNotExist();
        assertThat(ctx.store().load("c2")).isEmpty(); // runc failed: no record left
    }

    @Test
    void aRecordTheRuntimeForgotIsStaleOnlyAfterTheCreationWindow() throws Exception {
        Path root = tmp.resolve("root");
        IsolationDriver.Context ctx = context(root);
        assertThat(ContainerDriver.isStale(ctx.store(), record("young", Instant.now()))).isFalse();
        assertThat(ContainerDriver.isStale(ctx.store(), record("old", Instant.now().minusSeconds(60)))).isTrue();
        Files.createDirectories(root.resolve("old"));
        assertThat(ContainerDriver.isStale(ctx.store(), record("old", Instant.now().minusSeconds(60)))).isFalse();
    }

    @Test
    void deleteForgetsTheRecordAndExecsTheRuntime() throws Exception {
        Path root = tmp.resolve("root");
        Files.createDirectories(root.resolve("c3"));
        IsolationDriver.Context ctx = context(root);
        ctx.store().save(record("c3", Instant.now()));
        Outcome.Exec exec = (Outcome.Exec) new ContainerDriver(() -> true).delete(ctx, ctx.store().load("c3").orElseThrow(),
                true, List.of("--force"));
        assertThat(exec.argv()).endsWith("delete", "--force", "c3");
        assertThat(ctx.store().load("c3")).isEmpty();
    }

    @Test
    void stateShowsVesselsVersionTheCallersBundleAndTheBundlesAnnotations() throws Exception {
        var crunState = new ObjectMapper().readTree("""
                {"ociVersion": "1.0.0", "id": "c4", "pid": 7, "status": "running", "bundle": "/run/copy",
                 "rootfs": "rootfs", "created": "2026-12-01T00:00:00Z", "owner": "root"}""");
        OciState state = ContainerDriver.fromRuntime(crunState, record("c4", Instant.now()));
        assertThat(state).isEqualTo(new OciState(OciState.SPEC_VERSION, "c4", 7, "running", "/b", "/b/rootfs",
                "2026-12-01T00:00:00Z", "root", Map.of("a", "b")));
    }

    private static void crunState(Path dir, long pid, long startTime, String bundle) throws Exception {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("status"), "{\"pid\": " + pid + ", \"process-start-time\": " + startTime
                + ", \"cgroup-path\": \"/x\", \"rootfs\": \"" + bundle + "/rootfs\", \"bundle\": \"" + bundle
                + "\", \"created\": \"2026-12-01T10:00:00Z\", \"owner\": \"root\"}");
    }

    @Test
    void theScrapeReadsCrunsStateFilesAsCrunListWouldShowThem() throws Exception {
        Path root = tmp.resolve("root");
        IsolationDriver.Context ctx = context(root);
        long self = ProcessHandle.current().pid();
        long started = ContainerDriver.processStartTime(self);
        assertThat(started).isPositive();
        crunState(root.resolve("alive"), self, started, "/b1");
        crunState(root.resolve("starting"), self, started, "/b2");
        Files.createFile(root.resolve("starting/exec.fifo"));
        crunState(root.resolve("reused"), self, started + 1, "/b3"); // our pid, another process's start time
        crunState(root.resolve("gone"), 0, 0, "/b4");
        Files.createDirectories(root.resolve("half-made")); // no status file yet: not listed
        ctx.store().save(new SandboxRecord("alive", Isolation.CONTAINER, "/record-bundle", "/record-bundle/rootfs",
                "2026-12-01T10:00:00Z", "root", Map.of("k", "v"), Status.CREATING, null));
        Map<String, OciState> byId = new java.util.TreeMap<>();
        new ContainerDriver(() -> true).listFromStateFiles(ctx).forEach(s -> byId.put(s.id(), s));
        assertThat(byId.keySet()).containsExactly("alive", "gone", "reused", "starting");
        assertThat(byId.get("alive").status()).isEqualTo("running");
        assertThat(byId.get("alive").pid()).isEqualTo(self);
        assertThat(byId.get("alive").bundle()).isEqualTo("/record-bundle");
        assertThat(byId.get("alive").annotations()).containsEntry("k", "v");
        assertThat(byId.get("starting").status()).isEqualTo("created");
        assertThat(byId.get("starting").bundle()).isEqualTo("/b2");
        assertThat(byId.get("reused").status()).isEqualTo("stopped");
        assertThat(byId.get("reused").pid()).isZero();
        assertThat(byId.get("gone").status()).isEqualTo("stopped");
    }

    @Test
    void aStateFileNotInCrunsShapeOrRuncIsAskedOfTheRuntime() throws Exception {
        Path root = tmp.resolve("root");
        Files.createDirectories(root.resolve("odd"));
        Files.writeString(root.resolve("odd/status"), "{\"something\": \"else\"}");
        Path runtime = tmp.resolve("fake-runtime");
        Files.writeString(runtime, "#!/bin/sh\necho '[{\"id\": \"from-the-runtime\", \"status\": \"running\", \"pid\": 1}]'\n");
        runtime.toFile().setExecutable(true);
        SandboxStore store = SandboxStore.forRoot(tmp.resolve("store"), root);
        IsolationDriver.Context ctx = new IsolationDriver.Context() {
            public SandboxStore store() { return store; }
            public List<String> runtimeArgv() { return List.of(runtime.toString(), "--root", root.toString()); }
            public List<String> env() { return List.of("PATH=/bin"); }
            public long clientPid() { return 4242; }
            public List<String> globalArgs() { return List.of("--root", root.toString()); }
        };
        assertThat(new ContainerDriver(() -> true).listFromStateFiles(ctx)).extracting(OciState::id).containsExactly("from-the-runtime");
        crunState(root.resolve("odd"), 0, 0, "/b"); // crun's shape now, but the runtime is runc
        assertThat(new ContainerDriver(() -> false).listFromStateFiles(ctx)).extracting(OciState::id).containsExactly("from-the-runtime");
        assertThat(new ContainerDriver(() -> true).listFromStateFiles(ctx)).extracting(OciState::id).containsExactly("odd");
        assertThat(new ContainerDriver(() -> true).listFromStateFiles(context(tmp.resolve("no-such-root")))).isEmpty();
    }

    @Test
    void aFrozenCgroupIsPausedOnV1AndV2() throws Exception {
        long self = ProcessHandle.current().pid();
        long started = ContainerDriver.processStartTime(self);
        Path dir = tmp.resolve("state");
        Files.createDirectories(dir);
        List<String> hybrid = List.of("30 25 0:26 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer",
                "31 25 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw");
        dev.vessel.linux.Cgroup v1 = dev.vessel.linux.Cgroup.parse(List.of("1:freezer:/", "0::/"), hybrid);
        assertThat(ContainerDriver.freezerFile(v1, "/c1")).isEqualTo(Path.of("/sys/fs/cgroup/freezer/c1/freezer.state"));
        dev.vessel.linux.Cgroup v2 = dev.vessel.linux.Cgroup.parse(List.of("1:freezer:/", "0::/"),
                List.of("31 25 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw"));
        assertThat(ContainerDriver.freezerFile(v2, "/a/c1")).isEqualTo(Path.of("/sys/fs/cgroup/a/c1/cgroup.freeze"));
        assertThat(ContainerDriver.freezerFile(v2, "")).isNull();
        Path freezer = tmp.resolve("freezer.state");
        Files.writeString(freezer, "FROZEN\n");
        assertThat(ContainerDriver.crunStatus(dir, self, started, freezer)).isEqualTo("paused");
        Files.writeString(freezer, "THAWED\n");
        assertThat(ContainerDriver.crunStatus(dir, self, started, freezer)).isEqualTo("running");
        Files.writeString(freezer, "1\n");
        assertThat(ContainerDriver.crunStatus(dir, self, started, freezer)).isEqualTo("paused");
        assertThat(ContainerDriver.crunStatus(dir, self, started, null)).isEqualTo("running");
    }

    @Test
    void theStartTimeIsField22EvenWhenTheCommandNameHoldsParentheses() {
        assertThat(ContainerDriver.parseStartTime("123 (a) b) c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20 21"))
                .isEqualTo(987654);
    }

    @Test
    void execGivesTheProcesssOomScoreAdjToTheClientWhoseChildItBecomes() throws Exception {
        Path score = Files.writeString(tmp.resolve("oom_score_adj"), "1");
        ContainerDriver.applyOomScoreAdj(new ObjectMapper().readTree("{\"args\": [\"sh\"], \"oomScoreAdj\": 900}"), score);
        assertThat(Files.readString(score)).isEqualTo("900");
    }

    @Test
    void execWithoutAnOomScoreAdjLeavesTheClientsAlone() throws Exception {
        Path score = Files.writeString(tmp.resolve("oom_score_adj"), "1");
        ContainerDriver.applyOomScoreAdj(new ObjectMapper().readTree("{\"args\": [\"sh\"]}"), score);
        ContainerDriver.applyOomScoreAdj(null, score);
        assertThat(Files.readString(score)).isEqualTo("1");
    }

    @Test
    void execWithAnOomScoreAdjOutOfRangeIsRefusedNamingIt() throws Exception {
        Path score = Files.writeString(tmp.resolve("oom_score_adj"), "1");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> ContainerDriver.applyOomScoreAdj(
                        new ObjectMapper().readTree("{\"oomScoreAdj\": 4000}"), score))
                .isInstanceOf(dev.vessel.oci.OciException.class).hasMessageContaining("process.oomScoreAdj 4000");
        assertThat(Files.readString(score)).isEqualTo("1");
    }
}
