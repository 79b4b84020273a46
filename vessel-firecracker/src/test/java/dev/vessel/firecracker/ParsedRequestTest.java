package dev.vessel.firecracker;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** (method, path, body) → VmmAction, with no VM behind it: every check that needs neither the VM nor the host. */
class ParsedRequestTest {
    static VmmAction parse(String method, String path, String body) throws ApiException {
        return ParsedRequest.parse(method, path, body.getBytes(StandardCharsets.UTF_8));
    }

    static ApiException refusal(String method, String path, String body) {
        try {
            VmmAction a = parse(method, path, body);
            throw new AssertionError(method + " " + path + " parsed into " + a);
        } catch (ApiException e) {
            return e;
        }
    }

    @Test
    void routesBecomeActions() throws ApiException {
        assertThat(parse("GET", "/", "")).isInstanceOf(VmmAction.GetInstanceInfo.class);
        assertThat(parse("GET", "/machine-config/", "")).isInstanceOf(VmmAction.GetMachineConfig.class); // one trailing slash
        assertThat(parse("PUT", "/actions", "{\"action_type\":\"InstanceStart\"}")).isInstanceOf(VmmAction.StartMicroVm.class);
        assertThat(parse("PUT", "/actions", "{\"action_type\":\"FlushMetrics\"}")).isInstanceOf(VmmAction.FlushMetrics.class);
        assertThat(parse("PATCH", "/vm", "{\"state\":\"Paused\"}")).isInstanceOf(VmmAction.Pause.class);
        assertThat(parse("PATCH", "/vm", "{\"state\":\"Resumed\"}")).isInstanceOf(VmmAction.Resume.class);
        VmmAction drive = parse("PUT", "/drives/root_fs1", "{\"drive_id\":\"root_fs1\",\"path_on_host\":\"/x\",\"is_root_device\":true}");
        assertThat(drive).isInstanceOf(VmmAction.InsertBlockDevice.class).isInstanceOf(VmmAction.PreBoot.class);
        assertThat(drive.endpoint()).isEqualTo("PUT /drives/root_fs1");
        assertThat(parse("PATCH", "/drives/a", "{\"drive_id\":\"a\"}")).isInstanceOf(VmmAction.PostBoot.class);
        assertThat(parse("GET", "/balloon/statistics", "")).isInstanceOf(VmmAction.GetBalloonStats.class);
        assertThat(parse("PUT", "/mmds", "{\"latest\":{}}")).isInstanceOf(VmmAction.AnyTime.class);
    }

    @Test
    void putMachineConfigNeedsTheWholeConfigurationPatchDoesNot() throws ApiException {
        assertThat(refusal("PUT", "/machine-config", "{\"vcpu_count\":2}").getMessage()).contains("`mem_size_mib`");
        assertThat(parse("PATCH", "/machine-config", "{\"vcpu_count\":2}")).isInstanceOf(VmmAction.UpdateMachineConfig.class);
    }

    @Test
    void idsAreFirecrackersAndThePathsIsTheBodys() {
        assertThat(refusal("PUT", "/drives/a", "{\"drive_id\":\"b\",\"path_on_host\":\"/x\",\"is_root_device\":true}")
                .getMessage()).contains("does not match");
        assertThat(refusal("PATCH", "/network-interfaces/eth0", "{\"iface_id\":\"eth1\"}").getMessage()).contains("does not match");
        assertThat(refusal("PUT", "/drives/" + "d".repeat(65), "{}").getMessage()).contains("Invalid ID").contains("65 characters");
        assertThat(refusal("PUT", "/drives/a-b", "{}").getMessage()).contains("Invalid ID");
        assertThat(refusal("PUT", "/drives/a%00b", "{}").getMessage()).contains("Invalid ID").contains("\\u0000");
        assertThat(refusal("PUT", "/drives/rootfs", "{\"drive_id\":\"d d\",\"path_on_host\":\"/x\",\"is_root_device\":true}")
                .getMessage()).contains("field `drive_id`");
        assertThat(refusal("PUT", "/drives", "{}").getMessage()).contains("`drive_id` is missing");
        assertThat(refusal("PUT", "/drives/a/b", "{}").getMessage()).contains("`drive_id` is missing");
    }

    @Test
    void pathsAreNotNormalised() {
        for (String path : new String[]{"/drives/../machine-config", "/drives/%2e%2e/machine-config", "/%2E%2e/version",
                "/./version", "/vm/./config", "//version", "//", "/drives//a", "/drives/%zz", "/drives/%", "/mmds/%c3%28"}) {
            ApiException e = refusal("GET", path, "");
            assertThat(e.status()).as(path).isEqualTo(400);
            assertThat(e.getMessage()).as(path).startsWith("Invalid request");
        }
        assertThat(refusal("GET", "version", "").getMessage()).contains("must start with `/`");
    }

    @Test
    void unknownPathsAre404sAndWrongMethods405s() {
        assertThat(refusal("GET", "/cpu-config", "").status()).isEqualTo(404);
        assertThat(refusal("GET", "/version/x", "").status()).isEqualTo(404);
        assertThat(refusal("PUT", "/snapshot/x", "{}").status()).isEqualTo(404);
        assertThat(refusal("DELETE", "/drives/a", "").status()).isEqualTo(405);
        assertThat(refusal("POST", "/actions", "{}").getMessage()).contains("this path takes PUT");
        assertThat(refusal("GET\u0001", "/", "").getMessage()).contains("\\u0001");
    }

    @Test
    void nulCharactersInStringsNameTheField() {
        assertThat(refusal("PUT", "/drives/r", "{\"drive_id\":\"r\",\"path_on_host\":\"/a\\u0000b\",\"is_root_device\":true}")
                .getMessage()).contains("field `path_on_host`: contains a NUL character");
        assertThat(refusal("PUT", "/boot-source", "{\"kernel_image_path\":\"/k\",\"boot_args\":\"a\\u0000\"}").getMessage())
                .contains("field `boot_args`");
        assertThat(refusal("PUT", "/mmds/config", "{\"network_interfaces\":[\"eth\\u00000\"]}").getMessage())
                .contains("network_interfaces");
    }

    @Test
    void valueRulesThatNeedNoVmAreHereToo() {
        assertThat(refusal("PUT", "/network-interfaces/eth0", "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\","
                + "\"rx_rate_limiter\":{\"bandwidth\":{\"size\":1000,\"refill_time\":100}}}").getMessage()).contains("`rx_rate_limiter`");
        assertThat(refusal("PUT", "/entropy", "{\"rate_limiter\":{\"ops\":{\"size\":1,\"refill_time\":1}}}").getMessage())
                .contains("`rate_limiter.ops`");
        assertThat(refusal("PUT", "/balloon", "{\"amount_mib\":1,\"deflate_on_oom\":true,\"free_page_hinting\":true}")
                .getMessage()).contains("`free_page_hinting`");
        assertThat(refusal("PUT", "/boot-source", "x".repeat(ApiJson.maxBody() + 1)).getMessage()).contains("larger than the limit");
    }
}
