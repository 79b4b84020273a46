package dev.vessel.firecracker;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vessel.vmm.Accelerator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;

/** Every route against a fake QEMU: status codes, bodies, and Firecracker's pre-/post-boot rules. */
class ApiTest {
    @TempDir
    Path dir;
    Path kernel;
    Path disk;
    final List<List<String>> launched = new ArrayList<>();
    final List<String> qmp = new ArrayList<>();
    final CompletableFuture<Integer> exit = new CompletableFuture<>();
    Api api;
    Vmm vmm;

    @BeforeEach
    void setUp() throws IOException, ApiException {
        FcLog quiet = new FcLog("vm1");
        quiet.configure(new Model.Logger(null, "Off", null, null, null));
        kernel = Files.writeString(dir.resolve("vmlinux"), "k");
        disk = Files.writeString(dir.resolve("rootfs.ext4"), "d");
        Machine fake = new Machine() {
            @Override
            public JsonNode qmp(String command, Map<String, ?> arguments) {
                qmp.add(command + (arguments == null ? "" : " " + ApiJson.MAPPER.valueToTree(arguments)));
                return switch (command) {
                    case "query-migrate" -> ApiJson.MAPPER.createObjectNode().put("status", "completed");
                    case "query-status" -> ApiJson.MAPPER.createObjectNode().put("status", "paused");
                    default -> ApiJson.MAPPER.createObjectNode();
                };
            }

            @Override
            public long pid() {
                return 4242;
            }

            @Override
            public CompletableFuture<Integer> exit() {
                return exit;
            }

            @Override
            public void kill() {
                exit.complete(137);
            }
        };
        QemuMapping.Host host = new QemuMapping.Host("qemu-system-x86_64", Accelerator.Kind.TCG, 2445404,
                Path.of("/assets/initrd.img"), dir.resolve("fc.sock.qmp"), dir.resolve("fc.sock.mmds"));
        vmm = new Vmm("vm1", new Vmm.Env(argv -> {
            launched.add(argv);
            return fake;
        }, () -> host, dir.resolve("no-vhost-vsock")), quiet, new FcMetrics());
        api = new Api(vmm);
    }

    Api.Response call(String method, String path, String body) {
        return api.handle(method, path, body.getBytes(StandardCharsets.UTF_8));
    }

    void ok(String method, String path, String body) {
        Api.Response r = call(method, path, body);
        assertThat(r.status()).as(method + " " + path + ": " + r.text()).isEqualTo(204);
        assertThat(r.body()).isNull();
    }

    String fault(int status, String method, String path, String body) {
        Api.Response r = call(method, path, body);
        assertThat(r.status()).as(method + " " + path + ": " + r.text()).isEqualTo(status);
        assertThat(r.text()).startsWith("{\"fault_message\":");
        return r.text();
    }

    void configure() {
        ok("PUT", "/network-interfaces/eth0", "{\"iface_id\":\"eth0\",\"guest_mac\":\"AA:FC:00:00:00:01\",\"host_dev_name\":\"tap0\"}");
        ok("PUT", "/boot-source", "{\"kernel_image_path\":\"" + kernel + "\",\"boot_args\":\"console=ttyS0 reboot=k panic=1\"}");
        ok("PUT", "/drives/rootfs", "{\"drive_id\":\"rootfs\",\"path_on_host\":\"" + disk + "\",\"is_root_device\":true,"
                + "\"is_read_only\":false}");
    }

    @Test
    void instanceInfoAndVersion() {
        Api.Response r = call("GET", "/", "");
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.text()).isEqualTo("{\"id\":\"vm1\",\"state\":\"Not started\",\"vmm_version\":\"" + Vmm.VERSION
                + "\",\"app_name\":\"Firecracker\"}");
        assertThat(call("GET", "/version", "").text()).isEqualTo("{\"firecracker_version\":\"" + Vmm.VERSION + "\"}");
    }

    @Test
    void gettingStartedFlowBootsQemu() {
        configure();
        ok("PUT", "/actions", "{\"action_type\":\"InstanceStart\"}");
        assertThat(launched).hasSize(1);
        assertThat(launched.getFirst()).containsSequence("-netdev", "tap,id=net0,ifname=tap0,script=no,downscript=no")
                .contains("console=ttyS0 reboot=k panic=1 tsc_early_khz=2445404 root=/dev/vda rw");
        assertThat(call("GET", "/", "").text()).contains("\"state\":\"Running\"");
    }

    @Test
    void preBootResourcesAreRefusedAfterStart() {
        configure();
        ok("PUT", "/actions", "{\"action_type\":\"InstanceStart\"}");
        assertThat(fault(400, "PUT", "/boot-source", "{\"kernel_image_path\":\"" + kernel + "\"}"))
                .contains("after starting the microVM").contains("PUT /boot-source");
        assertThat(fault(400, "PUT", "/machine-config", "{\"vcpu_count\":2,\"mem_size_mib\":256}")).contains("/machine-config");
        assertThat(fault(400, "PATCH", "/machine-config", "{\"vcpu_count\":2}")).contains("PATCH /machine-config");
        assertThat(fault(400, "PUT", "/drives/data", "{\"drive_id\":\"data\",\"path_on_host\":\"" + disk
                + "\",\"is_root_device\":false}")).contains("PUT /drives/data");
        assertThat(fault(400, "PUT", "/network-interfaces/eth1", "{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap1\"}"))
                .contains("/network-interfaces/eth1");
        assertThat(fault(400, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}")).contains("InstanceStart");
        assertThat(launched).hasSize(1);
    }

    @Test
    void postBootActionsAreRefusedBeforeStart() {
        assertThat(fault(400, "PATCH", "/vm", "{\"state\":\"Paused\"}")).contains("before starting").contains("PATCH /vm");
        assertThat(fault(400, "PUT", "/actions", "{\"action_type\":\"SendCtrlAltDel\"}")).contains("SendCtrlAltDel");
        configure();
        assertThat(fault(400, "PATCH", "/drives/rootfs", "{\"drive_id\":\"rootfs\",\"path_on_host\":\"" + disk + "\"}"))
                .contains("PATCH /drives/rootfs");
        assertThat(fault(400, "PUT", "/snapshot/create", "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\"}"))
                .contains("before starting");
        assertThat(launched).isEmpty();
    }

    @Test
    void pauseResumeAndCtrlAltDelGoToQmp() {
        configure();
        ok("PUT", "/actions", "{\"action_type\":\"InstanceStart\"}");
        ok("PATCH", "/vm", "{\"state\":\"Paused\"}");
        assertThat(call("GET", "/", "").text()).contains("\"state\":\"Paused\"");
        ok("PATCH", "/vm", "{\"state\":\"Resumed\"}");
        ok("PUT", "/actions", "{\"action_type\":\"SendCtrlAltDel\"}");
        assertThat(qmp).hasSize(3).startsWith("stop", "cont");
        assertThat(qmp.get(2)).startsWith("send-key").containsSubsequence("\"ctrl\"", "\"alt\"", "\"delete\"");
    }

    @Test
    void patchDriveReopensItsNodeOntoTheNewFile() throws IOException {
        configure();
        ok("PUT", "/actions", "{\"action_type\":\"InstanceStart\"}");
        Path other = Files.writeString(dir.resolve("other.ext4"), "o");
        ok("PATCH", "/drives/rootfs", "{\"drive_id\":\"rootfs\",\"path_on_host\":\"" + other + "\"}");
        assertThat(qmp.get(0)).startsWith("blockdev-add").contains("\"filename\":\"" + other + "\"");
        assertThat(qmp.get(1)).startsWith("blockdev-reopen").contains("\"node-name\":\"drive0\"");
        assertThat(qmp.get(2)).isEqualTo("blockdev-del {\"node-name\":\"file-drive0\"}");
        assertThat(call("GET", "/vm/config", "").text()).contains(other.toString());
        assertThat(fault(400, "PATCH", "/drives/nope", "{\"drive_id\":\"nope\"}")).contains("`drive_id`");
        assertThat(fault(400, "PATCH", "/drives/rootfs", "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/does/not/exist\"}"))
                .contains("`path_on_host`");
    }

    @Test
    void networkRateLimitsAreRefusedByName() {
        assertThat(fault(400, "PUT", "/network-interfaces/eth0", "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\","
                + "\"rx_rate_limiter\":{\"bandwidth\":{\"size\":1000,\"refill_time\":100}}}")).contains("`rx_rate_limiter`");
        // an empty or zero-sized limiter limits nothing and is accepted
        ok("PUT", "/network-interfaces/eth0", "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\",\"tx_rate_limiter\":{}}");
        configure();
        ok("PUT", "/actions", "{\"action_type\":\"InstanceStart\"}");
        assertThat(fault(400, "PATCH", "/network-interfaces/eth0", "{\"iface_id\":\"eth0\",\"tx_rate_limiter\":"
                + "{\"ops\":{\"size\":10,\"refill_time\":1000}}}")).contains("`tx_rate_limiter`");
        ok("PATCH", "/network-interfaces/eth0", "{\"iface_id\":\"eth0\"}");
    }

    @Test
    void machineConfigGetPutPatch() {
        assertThat(call("GET", "/machine-config", "").text()).isEqualTo("{\"vcpu_count\":1,\"mem_size_mib\":128,\"smt\":false,"
                + "\"cpu_template\":\"None\",\"track_dirty_pages\":false,\"huge_pages\":\"None\"}");
        ok("PUT", "/machine-config", "{\"vcpu_count\":2,\"mem_size_mib\":256}");
        ok("PATCH", "/machine-config", "{\"mem_size_mib\":512}");
        assertThat(call("GET", "/machine-config", "").text()).contains("\"vcpu_count\":2,\"mem_size_mib\":512");
        assertThat(fault(400, "PUT", "/machine-config", "{\"vcpu_count\":2}")).contains("`mem_size_mib`");
        assertThat(fault(400, "PATCH", "/machine-config", "{\"vcpu_count\":3,\"smt\":true}")).contains("`vcpu_count`");
        assertThat(fault(400, "PUT", "/machine-config", "{\"vcpu_count\":2,\"mem_size_mib\":256,\"cpu_template\":\"T2\"}"))
                .contains("`cpu_template`");
    }

    @Test
    void idsInPathAndBodyMustAgree() {
        assertThat(fault(400, "PUT", "/drives/a", "{\"drive_id\":\"b\",\"path_on_host\":\"" + disk + "\",\"is_root_device\":true}"))
                .contains("does not match");
        assertThat(fault(400, "PUT", "/network-interfaces/eth0", "{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap0\"}"))
                .contains("does not match");
        ok("PUT", "/drives/a", "{\"drive_id\":\"a\",\"path_on_host\":\"" + disk + "\",\"is_root_device\":true}");
        assertThat(fault(400, "PUT", "/drives/b", "{\"drive_id\":\"b\",\"path_on_host\":\"" + disk + "\",\"is_root_device\":true}"))
                .contains("`is_root_device`").contains("root block device already exists");
        assertThat(fault(400, "PUT", "/boot-source", "{\"kernel_image_path\":\"/no/such/vmlinux\"}")).contains("`kernel_image_path`");
    }

    @Test
    void unknownPathsAndMethods() {
        fault(404, "GET", "/nope", "");
        fault(405, "DELETE", "/boot-source", "");
        fault(405, "GET", "/actions", "");
        fault(400, "PUT", "/drives", "{}");
    }

    @Test
    void vsockWithoutVhostIsAClearFault() {
        assertThat(fault(400, "PUT", "/vsock", "{\"guest_cid\":3,\"uds_path\":\"/tmp/v.sock\"}")).contains("vhost-vsock");
    }

    @Test
    void vmConfigHasFirecrackersLayout() {
        configure();
        ok("PUT", "/entropy", "{}");
        ok("PUT", "/balloon", "{\"amount_mib\":16,\"deflate_on_oom\":true}");
        String json = call("GET", "/vm/config", "").text();
        assertThat(json).contains("\"boot-source\":{\"kernel_image_path\":\"" + kernel + "\"", "\"drives\":[{\"drive_id\":\"rootfs\"",
                "\"network-interfaces\":[{\"iface_id\":\"eth0\"", "\"machine-config\":{", "\"balloon\":{\"amount_mib\":16",
                "\"entropy\":{}");
        assertThat(call("GET", "/balloon", "").text()).isEqualTo("{\"amount_mib\":16,\"deflate_on_oom\":true}");
    }

    @Test
    void balloonAfterBootSetsTheTarget() {
        configure();
        ok("PUT", "/balloon", "{\"amount_mib\":16,\"deflate_on_oom\":false,\"stats_polling_interval_s\":1}");
        ok("PUT", "/actions", "{\"action_type\":\"InstanceStart\"}");
        assertThat(qmp).contains("balloon {\"value\":" + (128 - 16) * 1048576L + "}");
        ok("PATCH", "/balloon", "{\"amount_mib\":32}");
        assertThat(qmp).contains("balloon {\"value\":" + (128 - 32) * 1048576L + "}");
        assertThat(fault(400, "PUT", "/balloon", "{\"amount_mib\":1,\"deflate_on_oom\":false}")).contains("PUT /balloon");
        assertThat(fault(400, "PATCH", "/balloon/statistics", "{\"stats_polling_interval_s\":0}")).contains("stats_polling_interval_s");
        assertThat(fault(400, "PATCH", "/balloon", "{\"amount_mib\":4096}")).contains("`amount_mib`");
    }

    @Test
    void metricsAreFlushedAsJsonLines() throws IOException {
        assertThat(fault(400, "PUT", "/actions", "{\"action_type\":\"FlushMetrics\"}")).contains("metrics");
        Path metrics = dir.resolve("metrics.json");
        ok("PUT", "/metrics", "{\"metrics_path\":\"" + metrics + "\"}");
        assertThat(fault(400, "PUT", "/metrics", "{\"metrics_path\":\"" + metrics + "\"}")).contains("Reinitialization");
        call("GET", "/machine-config", "");
        ok("PUT", "/actions", "{\"action_type\":\"FlushMetrics\"}");
        List<String> lines = Files.readAllLines(metrics);
        assertThat(lines).hasSize(1);
        JsonNode line = ApiJson.MAPPER.readTree(lines.getFirst());
        assertThat(line.path("utc_timestamp_ms").asLong()).isPositive();
        assertThat(line.path("get_api_requests").path("machine_config_count").asLong()).isEqualTo(1);
        assertThat(line.path("put_api_requests").path("metrics_fails").asLong()).isEqualTo(1);
        assertThat(line.path("vmm").path("state").asText()).isEqualTo("Not started");
    }

    @Test
    void loggerWritesToItsPath() throws IOException {
        Path log = dir.resolve("fc.log");
        ok("PUT", "/logger", "{\"log_path\":\"" + log + "\",\"level\":\"Info\",\"show_level\":true}");
        call("GET", "/", "");
        assertThat(Files.readString(log)).contains("[vm1:main:INFO]").contains("received a GET request on \"/\"");
        assertThat(fault(400, "PUT", "/logger", "{\"level\":\"Loud\"}")).contains("`level`");
    }

    @Test
    void mmdsStoreAndPatch() {
        assertThat(call("GET", "/mmds", "").text()).isEqualTo("{}");
        fault(400, "PATCH", "/mmds", "{\"a\":1}");
        ok("PUT", "/mmds", "{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-1\",\"reservation-id\":\"r-1\"}}}");
        ok("PATCH", "/mmds", "{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-2\",\"reservation-id\":null}}}");
        assertThat(call("GET", "/mmds", "").text()).isEqualTo("{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-2\"}}}");
        assertThat(fault(400, "PUT", "/mmds/config", "{\"network_interfaces\":[\"eth9\"]}")).contains("`network_interfaces`");
    }

    @Test
    void snapshotLoadOnlyOnAFreshVm() {
        configure();
        assertThat(fault(400, "PUT", "/snapshot/load", "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\"}"))
                .contains("not allowed after configuring");
        assertThat(fault(400, "PUT", "/snapshot/load", "{\"snapshot_path\":\"/s\"}")).contains("mem_file_path");
    }

    @Test
    void guestExitCompletesTheVm() throws Exception {
        configure();
        ok("PUT", "/actions", "{\"action_type\":\"InstanceStart\"}");
        exit.complete(0);
        assertThat(vmm.exited().get()).isEqualTo(0);
    }

    @Test
    void snapshotCreateNeedsAPausedVmAndWritesTheConfiguration() throws IOException {
        configure();
        ok("PUT", "/actions", "{\"action_type\":\"InstanceStart\"}");
        String body = "{\"snapshot_path\":\"" + dir.resolve("snap.json") + "\",\"mem_file_path\":\"" + dir.resolve("snap.mem") + "\"}";
        assertThat(fault(400, "PUT", "/snapshot/create", body)).contains("paused");
        ok("PATCH", "/vm", "{\"state\":\"Paused\"}");
        ok("PUT", "/snapshot/create", body);
        assertThat(qmp).contains("migrate {\"uri\":\"exec:cat > '" + dir.resolve("snap.mem") + "'\"}");
        JsonNode state = ApiJson.MAPPER.readTree(dir.resolve("snap.json").toFile());
        assertThat(state.path("format").asText()).isEqualTo(Snapshot.FORMAT);
        assertThat(state.path("config").path("drives").path(0).path("path_on_host").asText()).isEqualTo(disk.toString());
        assertThat(fault(400, "PUT", "/snapshot/create", "{\"snapshot_path\":\"/no/dir/s\",\"mem_file_path\":\"" + dir.resolve("m") + "\"}"))
                .contains("`snapshot_path`");
        assertThat(fault(400, "PUT", "/snapshot/create", body.replace("}", ",\"snapshot_type\":\"Diff\"}"))).contains("`snapshot_type`");
    }

    @Test
    void snapshotLoadStartsQemuIncomingAndResumes() throws IOException {
        Path mem = Files.writeString(dir.resolve("snap.mem"), "m");
        Path state = dir.resolve("snap.json");
        Files.writeString(state, "{\"format\":\"" + Snapshot.FORMAT + "\",\"config\":{\"boot-source\":{\"kernel_image_path\":\""
                + kernel + "\"},\"machine-config\":{\"vcpu_count\":2,\"mem_size_mib\":256},\"drives\":[],"
                + "\"network-interfaces\":[{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\"}]}}");
        ok("PUT", "/snapshot/load", "{\"snapshot_path\":\"" + state + "\",\"mem_file_path\":\"" + mem + "\",\"resume_vm\":true,"
                + "\"network_overrides\":[{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap9\"}]}");
        assertThat(launched.getFirst()).endsWith("-S", "-incoming", "defer").containsSequence("-m", "256", "-smp", "2")
                .contains("tap,id=net0,ifname=tap9,script=no,downscript=no");
        assertThat(qmp).startsWith("migrate-incoming {\"uri\":\"exec:cat '" + mem + "'\"}").endsWith("cont");
        assertThat(call("GET", "/", "").text()).contains("\"state\":\"Running\"");
        assertThat(call("GET", "/machine-config", "").text()).contains("\"vcpu_count\":2");
    }

    @Test
    void snapshotLoadRefusesWhatIsNotAState() throws IOException {
        Path notState = Files.writeString(dir.resolve("x.json"), "{}");
        assertThat(fault(400, "PUT", "/snapshot/load", "{\"snapshot_path\":\"" + notState + "\",\"mem_file_path\":\"" + disk + "\"}"))
                .contains("`snapshot_path`");
        assertThat(fault(400, "PUT", "/snapshot/load", "{\"snapshot_path\":\"" + notState + "\",\"mem_file_path\":\"/no/mem\"}"))
                .contains("`mem_file_path`");
        assertThat(launched).isEmpty();
    }

    @Test
    void mmdsStoreHasASizeLimit() {
        vmm.mmds().limit(30);
        ok("PUT", "/mmds", "{\"a\":\"0123456789\"}");
        assertThat(fault(400, "PATCH", "/mmds", "{\"b\":\"0123456789012345678901234\"}")).contains("--mmds-size-limit");
        assertThat(call("GET", "/mmds", "").text()).isEqualTo("{\"a\":\"0123456789\"}");
    }
}
