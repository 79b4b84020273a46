package dev.vessel.firecracker;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vessel.vmm.VmmException;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A microVM of Vessel's OCI runtime behind Firecracker's API ({@link Vmm#managed}): what it shows,
 * pause/resume through QMP, and the read-only rules (a 400 naming the endpoint, after the same
 * validation as any VM's).
 */
class ManagedApiTest {
    @TempDir
    Path dir;
    final List<String> qmp = new ArrayList<>();
    String status = "running";
    boolean killed;
    Api api;
    Vmm vmm;

    @BeforeEach
    void setUp() throws ApiException {
        FcLog quiet = new FcLog("c1");
        quiet.configure(new Model.Logger(null, "Off", null, null, null));
        Machine running = new Machine() {
            @Override
            public JsonNode qmp(String command, Map<String, ?> arguments) throws VmmException {
                qmp.add(command + (arguments == null ? "" : " " + ApiJson.MAPPER.valueToTree(arguments)));
                return switch (command) {
                    case "query-status" -> ApiJson.MAPPER.createObjectNode().put("status", status);
                    case "stop" -> {
                        status = "paused";
                        yield ApiJson.MAPPER.createObjectNode();
                    }
                    case "cont" -> {
                        status = "running";
                        yield ApiJson.MAPPER.createObjectNode();
                    }
                    case "migrate" -> throw new VmmException("QMP migrate: Migration is disabled when VirtFS export path '/r' is mounted");
                    default -> ApiJson.MAPPER.createObjectNode();
                };
            }

            @Override
            public long pid() {
                return 4242;
            }

            @Override
            public CompletableFuture<Integer> exit() {
                return new CompletableFuture<>();
            }

            @Override
            public void kill() {
                killed = true;
            }
        };
        VmConfig config = new VmConfig();
        config.bootSource(new Model.BootSource("/var/lib/vessel/assets/vmlinux", "console=hvc0 quiet panic=-1 vessel.rootfs=9p",
                "/var/lib/vessel/assets/initrd.img"));
        config.machine(new Model.MachineConfiguration(2, 308, false, "None", false, "None"));
        config.putNetworkInterface(new Model.NetworkInterface("eth0", "0a:58:0a:58:00:05", "vtap0", null, null, null));
        vmm = Vmm.managed("c1", config, running, "Vessel, as a microvm container", quiet, new FcMetrics());
        api = new Api(vmm);
    }

    Api.Response call(String method, String path, String body) {
        return api.handle(method, path, body.getBytes(StandardCharsets.UTF_8));
    }

    String fault(String method, String path, String body) {
        Api.Response r = call(method, path, body);
        assertThat(r.status()).as(method + " " + path + ": " + r.text()).isEqualTo(400);
        return r.text();
    }

    @Test
    void instanceInfoIsTheContainersWithQemusState() {
        assertThat(call("GET", "/", "").text()).isEqualTo("{\"id\":\"c1\",\"state\":\"Running\",\"vmm_version\":\""
                + Vmm.VERSION + "\",\"app_name\":\"Firecracker\"}");
        status = "paused"; // e.g. `vessel pause`
        assertThat(call("GET", "/", "").text()).contains("\"state\":\"Paused\"");
    }

    @Test
    void configurationIsWhatVesselBooted() {
        Api.Response r = call("GET", "/vm/config", "");
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.text()).contains("\"kernel_image_path\":\"/var/lib/vessel/assets/vmlinux\"")
                .contains("\"initrd_path\":\"/var/lib/vessel/assets/initrd.img\"")
                .contains("\"boot_args\":\"console=hvc0 quiet panic=-1 vessel.rootfs=9p\"")
                .contains("\"vcpu_count\":2").contains("\"mem_size_mib\":308")
                .contains("\"iface_id\":\"eth0\"").contains("\"host_dev_name\":\"vtap0\"");
        assertThat(call("GET", "/machine-config", "").text()).contains("\"vcpu_count\":2").contains("\"mem_size_mib\":308");
    }

    @Test
    void pauseAndResumeGoToQmp() {
        assertThat(call("PATCH", "/vm", "{\"state\":\"Paused\"}").status()).isEqualTo(204);
        assertThat(qmp).contains("stop");
        assertThat(call("GET", "/", "").text()).contains("\"state\":\"Paused\"");
        assertThat(call("PATCH", "/vm", "{\"state\":\"Resumed\"}").status()).isEqualTo(204);
        assertThat(qmp).contains("cont");
        assertThat(call("GET", "/", "").text()).contains("\"state\":\"Running\"");
    }

    @Test
    void whatWouldBreakTheContainerIsReadOnlyNamingTheEndpoint() {
        String kernel = "{\"kernel_image_path\":\"/var/lib/vessel/assets/vmlinux\"}";
        assertThat(fault("PUT", "/boot-source", kernel)).contains("managed by its OCI runtime").contains("PUT /boot-source");
        assertThat(fault("PUT", "/drives/rootfs", "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/x\",\"is_root_device\":true,"
                + "\"is_read_only\":false}")).contains("managed by its OCI runtime").contains("PUT /drives/rootfs");
        assertThat(fault("PATCH", "/drives/rootfs", "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/x\"}"))
                .contains("PATCH /drives/rootfs");
        assertThat(fault("PUT", "/network-interfaces/eth1", "{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap1\"}"))
                .contains("managed by its OCI runtime").contains("PUT /network-interfaces/eth1");
        assertThat(fault("PUT", "/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":128}")).contains("PUT /machine-config");
        assertThat(fault("PATCH", "/machine-config", "{\"vcpu_count\":1}")).contains("PATCH /machine-config");
        assertThat(fault("PUT", "/actions", "{\"action_type\":\"InstanceStart\"}")).contains("InstanceStart");
        assertThat(fault("PUT", "/actions", "{\"action_type\":\"SendCtrlAltDel\"}")).contains("SendCtrlAltDel");
        assertThat(fault("PUT", "/snapshot/load", "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\"}")).contains("PUT /snapshot/load");
        assertThat(fault("PUT", "/balloon", "{\"amount_mib\":1,\"deflate_on_oom\":false}")).contains("PUT /balloon");
        assertThat(fault("PUT", "/mmds/config", "{\"network_interfaces\":[\"eth0\"]}")).contains("PUT /mmds/config");
        // nothing of it reached QEMU
        assertThat(qmp).allMatch(c -> c.equals("query-status"));
        assertThat(call("GET", "/vm/config", "").text()).contains("vessel.rootfs=9p").doesNotContain("\"drive_id\"");
    }

    @Test
    void theContainersNetworkBalloonAndMetadataAreNotTheApisEither() {
        assertThat(fault("PATCH", "/network-interfaces/eth0", "{\"iface_id\":\"eth0\"}"))
                .contains("managed by its OCI runtime").contains("PATCH /network-interfaces/eth0");
        assertThat(fault("GET", "/balloon", "")).contains("managed by its OCI runtime").contains("GET /balloon");
        assertThat(fault("PATCH", "/balloon/statistics", "{\"stats_polling_interval_s\":1}")).contains("PATCH /balloon/statistics");
        assertThat(fault("GET", "/mmds", "")).contains("GET /mmds");
        assertThat(fault("PUT", "/mmds", "{\"latest\":{}}")).contains("PUT /mmds");
        assertThat(qmp).allMatch(c -> c.equals("query-status"));
    }

    @Test
    void thePolicyIsOnePlace() {
        ApiPolicy policy = ApiPolicy.managedBy("o");
        assertThat(policy.owner()).isEqualTo("o");
        assertThat(ApiPolicy.ManagedByOwner.allows(new VmmAction.Pause())).isTrue();
        assertThat(ApiPolicy.ManagedByOwner.allows(new VmmAction.GetFullVmConfig())).isTrue();
        assertThat(ApiPolicy.ManagedByOwner.allows(new VmmAction.StartMicroVm())).isFalse();
        assertThat(ApiPolicy.ManagedByOwner.allows(new VmmAction.SendCtrlAltDel())).isFalse();
        assertThat(ApiPolicy.UNRESTRICTED.owner()).isNull();
        assertThat(vmm.owner()).isEqualTo("Vessel, as a microvm container");
    }

    @Test
    void validationComesFirstAndIsTheSame() {
        assertThat(fault("PUT", "/boot-source", "{\"kernel_image_path\":\"/k\",\"bogus\":1}")).contains("bogus")
                .doesNotContain("managed");
        assertThat(fault("PUT", "/boot-source", "{}")).contains("kernel_image_path").doesNotContain("managed");
        assertThat(fault("PUT", "/machine-config", "{\"vcpu_count\":\"two\"}")).contains("vcpu_count").doesNotContain("managed");
        assertThat(fault("PATCH", "/vm", "{\"state\":\"Sleeping\"}")).contains("state");
        assertThat(fault("PUT", "/actions", "{\"action_type\":\"Reboot\"}")).contains("action_type");
        assertThat(qmp).allMatch(c -> c.equals("query-status"));
    }

    @Test
    void snapshotNeedsPausedAndReportsQemusRefusal() {
        String body = "{\"snapshot_path\":\"" + dir.resolve("s") + "\",\"mem_file_path\":\"" + dir.resolve("m") + "\"}";
        assertThat(fault("PUT", "/snapshot/create", body)).contains("paused");
        call("PATCH", "/vm", "{\"state\":\"Paused\"}");
        assertThat(fault("PUT", "/snapshot/create", body)).contains("VirtFS");
        assertThat(Files.exists(dir.resolve("s"))).isFalse();
    }

    @Test
    void metricsAndLoggerWorkAndTheVmIsNeverKilled() throws Exception {
        Path metrics = dir.resolve("metrics.json");
        assertThat(call("PUT", "/metrics", "{\"metrics_path\":\"" + metrics + "\"}").status()).isEqualTo(204);
        assertThat(call("PUT", "/actions", "{\"action_type\":\"FlushMetrics\"}").status()).isEqualTo(204);
        assertThat(Files.readString(metrics)).contains("\"state\":\"Running\"").contains("\"qemu_pid\":4242");
        status = "paused"; // by its owner: the metrics say so
        assertThat(call("PUT", "/actions", "{\"action_type\":\"FlushMetrics\"}").status()).isEqualTo(204);
        assertThat(Files.readAllLines(metrics).getLast()).contains("\"state\":\"Paused\"");
        vmm.kill();
        assertThat(killed).isFalse();
        assertThat(vmm.owner()).isEqualTo("Vessel, as a microvm container");
    }
}
