package dev.vessel.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vessel.oci.Isolation;
import dev.vessel.runtime.ContainerDriver;
import dev.vessel.runtime.IsolationDriver;
import dev.vessel.runtime.MicroVmState;
import dev.vessel.runtime.OciState;
import dev.vessel.runtime.Outcome;
import dev.vessel.runtime.SandboxRecord;
import dev.vessel.runtime.SandboxStats;
import dev.vessel.runtime.SandboxStore;
import dev.vessel.runtime.Status;
import dev.vessel.vmm.AcceleratorSelector;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The API's answers and their JSON, over real stores in a temporary directory and a driver that answers from the record. */
class ManagementApiTest {
    @TempDir Path dir;
    private ManagementApi api;
    private Path rootA;
    private Path rootB;

    /** A microVM driver that needs no VM: the state is the record's, the stats are fixed. */
    static class RecordDriver implements IsolationDriver {
        @Override public Isolation isolation() { return Isolation.MICROVM; }
        @Override public OciState state(Context c, SandboxRecord r) {
            return new OciState(OciState.SPEC_VERSION, r.id(), 0, r.status().label(), r.bundle(), r.rootfs(), r.created(), r.owner(), r.annotations());
        }
        @Override public SandboxStats stats(Context c, SandboxRecord r) {
            if (r.status() == Status.PAUSED) throw new dev.vessel.oci.OciException("container \"" + r.id() + "\" is paused: its guest cannot report until resumed");
            return new SandboxStats(1.5, 300, 200, 268435456L, 10, 20, 30, 40, 3, SandboxStats.GUEST,
                    new SandboxStats.VmmCost(77, 4.5, 123456, -1));
        }
        @Override public Outcome create(Context c, SandboxRecord r, CreateSpec s) { throw new UnsupportedOperationException(); }
        @Override public Outcome start(Context c, SandboxRecord r) { throw new UnsupportedOperationException(); }
        @Override public Outcome stateOutcome(Context c, SandboxRecord r) { throw new UnsupportedOperationException(); }
        @Override public Outcome kill(Context c, SandboxRecord r, int s, boolean a, List<String> p) { throw new UnsupportedOperationException(); }
        @Override public Outcome pause(Context c, SandboxRecord r, List<String> p) { throw new UnsupportedOperationException(); }
        @Override public Outcome resume(Context c, SandboxRecord r, List<String> p) { throw new UnsupportedOperationException(); }
        @Override public Outcome delete(Context c, SandboxRecord r, boolean f, List<String> p) { throw new UnsupportedOperationException(); }
        @Override public Outcome exec(Context c, SandboxRecord r, ExecSpec s) { throw new UnsupportedOperationException(); }
        @Override public Outcome ps(Context c, SandboxRecord r, String f, List<String> a, List<String> p) { throw new UnsupportedOperationException(); }
        @Override public Outcome update(Context c, SandboxRecord r, List<String> p, com.fasterxml.jackson.databind.node.ObjectNode d) { throw new UnsupportedOperationException(); }
        @Override public Outcome events(Context c, SandboxRecord r, boolean o, Duration i) { throw new UnsupportedOperationException(); }
    }

    @BeforeEach
    void setUp() throws Exception {
        Path base = dir.resolve("sandboxes");
        // roots that are not directories: no low-level runtime is asked, only the stores are read
        rootA = dir.resolve("root-a");
        rootB = dir.resolve("root-b");
        Path bundle = Files.createDirectories(dir.resolve("bundle"));
        Files.writeString(bundle.resolve("config.json"), """
                {"linux": {"resources": {"memory": {"limit": 268435456}, "cpu": {"quota": 50000, "period": 100000}}}}""");
        SandboxStore a = SandboxStore.forRoot(base, rootA);
        SandboxStore b = SandboxStore.forRoot(base, rootB);
        MicroVmState vm = new MicroVmState(dir.resolve("run").toString(), 320, 1, "tcg", 0, 0, true, 0, null, null, null,
                null, null, null, null, null);
        a.save(new SandboxRecord("web", Isolation.MICROVM, bundle.toString(), "/r", "2026-01-01T00:00:01Z", "root",
                Map.of("io.kubernetes.cri.sandbox-name", "web-pod", "io.kubernetes.cri.sandbox-namespace", "shop",
                        "io.kubernetes.cri.container-name", "nginx"), Status.RUNNING, vm));
        a.save(new SandboxRecord("db", Isolation.MICROVM, null, null, "2026-01-01T00:00:02Z", "root", Map.of("team", "data"),
                Status.CREATED, vm));
        b.save(new SandboxRecord("db", Isolation.MICROVM, null, null, "2026-01-01T00:00:03Z", "root", Map.of(),
                Status.STOPPED, vm));
        b.save(new SandboxRecord("frozen", Isolation.MICROVM, null, null, "2026-01-01T00:00:04Z", "root", Map.of(),
                Status.PAUSED, vm));
        Call.Drivers drivers = new Call.Drivers(Map.of(Isolation.CONTAINER, new ContainerDriver(() -> true),
                Isolation.MICROVM, new RecordDriver()), base);
        Settings settings = new Settings("crun", Isolation.CONTAINER, dir.resolve("no-state-root"), false, false,
                dir.resolve("assets"), Duration.ofSeconds(5), AcceleratorSelector.Mode.AUTO, "qemu-system-x86_64", dev.vessel.vmm.GuestKernel.DEBIAN, null, false);
        api = new ManagementApi(new SandboxCatalog(drivers, settings));
    }

    private JsonNode get(String path, String query, int status) throws Exception {
        ManagementApi.Reply reply = api.handle("GET", path, query);
        JsonNode body = ManagementApi.JSON.readTree(reply.body());
        assertThat(reply.status()).as(body.toString()).isEqualTo(status);
        return body;
    }

    @Test
    void listsEverySandboxOfEveryRoot() throws Exception {
        JsonNode list = get("/v1/sandboxes", null, 200).get("sandboxes");
        assertThat(list).hasSize(4);
        assertThat(list.get(0).get("id").asText()).isEqualTo("web");
        assertThat(list.get(0).get("root").asText()).isEqualTo(rootA.toString());
        assertThat(list.get(0).get("isolation").asText()).isEqualTo("microvm");
        assertThat(list.get(0).get("kubernetes").get("pod").asText()).isEqualTo("web-pod");
        assertThat(list.get(0).has("pids")).as("the list leaves the processes out").isFalse();
    }

    @Test
    void filtersByStatusAnnotationAndRoot() throws Exception {
        assertThat(get("/v1/sandboxes", "status=created", 200).get("sandboxes")).hasSize(1);
        assertThat(get("/v1/sandboxes", "annotation=team=data", 200).get("sandboxes").get(0).get("id").asText()).isEqualTo("db");
        assertThat(get("/v1/sandboxes", "root=" + rootB, 200).get("sandboxes")).hasSize(2);
        assertThat(get("/v1/sandboxes", "isolation=container", 200).get("sandboxes")).isEmpty();
    }

    @Test
    void inspectShowsResourcesAndKubernetesNames() throws Exception {
        JsonNode web = get("/v1/sandboxes/web", null, 200);
        assertThat(web.get("status").asText()).isEqualTo("running");
        assertThat(web.get("bundle").asText()).endsWith("bundle");
        assertThat(web.get("resources").get("memoryLimitBytes").asLong()).isEqualTo(268435456L);
        assertThat(web.get("resources").get("cpuQuota").asLong()).isEqualTo(50000);
        assertThat(web.get("resources").get("guestMemoryMib").asInt()).isEqualTo(320);
        assertThat(web.get("kubernetes").get("namespace").asText()).isEqualTo("shop");
        assertThat(web.get("kubernetes").get("container").asText()).isEqualTo("nginx");
        assertThat(web.get("pids").isArray()).isTrue();
    }

    @Test
    void statsComeFromTheDriver() throws Exception {
        JsonNode stats = get("/v1/sandboxes/web/stats", null, 200);
        assertThat(stats.get("stats").get("memoryLimitBytes").asLong()).isEqualTo(268435456L);
        assertThat(stats.get("stats").get("source").asText()).isEqualTo("guest");
        assertThat(stats.get("stats").get("vmm").get("residentBytes").asLong()).isEqualTo(123456);
        assertThat(stats.get("stats").get("vmm").get("cpuSeconds").asDouble()).isEqualTo(4.5);
        assertThat(stats.get("stats").get("cpuSeconds").asDouble()).isEqualTo(1.5);
    }

    @Test
    void aGuestThatCannotReportIsA503SayingWhy() throws Exception {
        JsonNode error = get("/v1/sandboxes/frozen/stats", null, 503);
        assertThat(error.get("error").asText()).isEqualTo("container \"frozen\" is paused: its guest cannot report until resumed");
    }

    @Test
    void anIdOfSeveralRootsIsAConflictNamingThem() throws Exception {
        JsonNode conflict = get("/v1/sandboxes/db", null, 409);
        assertThat(conflict.get("error").asText()).contains("?root=").contains(rootA.toString()).contains(rootB.toString());
        assertThat(conflict.get("roots")).hasSize(2);
        assertThat(get("/v1/sandboxes/db", "root=" + rootB, 200).get("status").asText()).isEqualTo("stopped");
    }

    @Test
    void badInputIsAJsonError() throws Exception {
        assertThat(get("/v1/sandboxes/nope", null, 404).get("error").asText()).isEqualTo("sandbox \"nope\" does not exist");
        assertThat(get("/v1/sandboxes/nope/stats", null, 404).get("error").asText()).contains("\"nope\"");
        JsonNode bad = get("/v1/sandboxes", "status=sleeping", 400);
        assertThat(bad.get("parameter").asText()).isEqualTo("status");
        assertThat(bad.get("error").asText()).contains("status");
        assertThat(get("/v1/sandboxes/web", "status=running", 400).get("parameter").asText()).isEqualTo("status");
        assertThat(get("/v2/things", null, 404).get("error").asText()).contains("no such endpoint");
        assertThat(get("/v1/sandboxes/web/logs", null, 404).get("error").asText()).contains("no such endpoint");
        ManagementApi.Reply post = api.handle("POST", "/v1/sandboxes", null);
        assertThat(post.status()).isEqualTo(405);
        assertThat(ManagementApi.JSON.readTree(post.body()).get("error").asText()).contains("read-only");
    }
}
