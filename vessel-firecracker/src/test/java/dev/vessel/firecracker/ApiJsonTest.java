package dev.vessel.firecracker;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ApiJsonTest {
    private static <T> T parse(String json, Class<T> type) throws ApiException {
        return ApiJson.parse(json.getBytes(StandardCharsets.UTF_8), type);
    }

    private static String fault(String json, Class<?> type) {
        try {
            parse(json, type);
        } catch (ApiException e) {
            assertThat(e.status()).isEqualTo(400);
            return e.getMessage();
        }
        throw new AssertionError("accepted: " + json);
    }

    @Test
    void readsSnakeCaseFields() throws ApiException {
        Model.NetworkInterface n = parse("{\"iface_id\":\"eth0\",\"guest_mac\":\"AA:FC:00:00:00:01\",\"host_dev_name\":\"tap0\"}",
                Model.NetworkInterface.class);
        assertThat(n).isEqualTo(new Model.NetworkInterface("eth0", "AA:FC:00:00:00:01", "tap0", null, null, null));
        Model.MachineConfiguration m = parse("{\"vcpu_count\":2,\"mem_size_mib\":256,\"smt\":false}", Model.MachineConfiguration.class);
        assertThat(m.vcpuCount()).isEqualTo(2);
        assertThat(m.memSizeMib()).isEqualTo(256);
    }

    @Test
    void nullIsAnAbsentOptionalField() throws ApiException {
        assertThat(parse("{\"mem_size_mib\":128,\"vcpu_count\":1,\"smt\":null}", Model.MachineConfiguration.class).smt())
                .isNull();
    }

    @Test
    void unknownFieldIsNamedWithTheKnownOnes() {
        assertThat(fault("{\"kernel_image_path\":\"/k\",\"kernel\":\"x\"}", Model.BootSource.class))
                .contains("unknown field `kernel`").contains("`kernel_image_path`", "`boot_args`", "`initrd_path`");
        assertThat(fault("{\"drive_id\":\"d\",\"is_root_device\":true,\"path_on_host\":\"/x\",\"rate_limiter\":"
                + "{\"bandwidth\":{\"size\":1,\"refill_time\":1,\"burst\":3}}}", Model.Drive.class))
                .contains("unknown field `rate_limiter.bandwidth.burst`");
    }

    @Test
    void wrongTypesAreNotCoerced() {
        assertThat(fault("{\"vcpu_count\":\"2\",\"mem_size_mib\":128}", Model.MachineConfiguration.class))
                .contains("field `vcpu_count`").contains("a string").contains("expected an integer");
        assertThat(fault("{\"vcpu_count\":2.5,\"mem_size_mib\":128}", Model.MachineConfiguration.class))
                .contains("field `vcpu_count`");
        assertThat(fault("{\"kernel_image_path\":5}", Model.BootSource.class)).contains("field `kernel_image_path`")
                .contains("expected a string");
        assertThat(fault("{\"drive_id\":\"d\",\"is_root_device\":1,\"path_on_host\":\"/x\"}", Model.Drive.class))
                .contains("field `is_root_device`").contains("expected a boolean");
        assertThat(fault("{\"drive_id\":\"d\",\"is_root_device\":\"true\",\"path_on_host\":\"/x\"}", Model.Drive.class))
                .contains("field `is_root_device`");
        assertThat(fault("{\"kernel_image_path\":[\"/k\"]}", Model.BootSource.class)).contains("field `kernel_image_path`");
        assertThat(fault("{\"action_type\":{}}", Model.InstanceActionInfo.class)).contains("field `action_type`");
    }

    @Test
    void missingRequiredFieldsAreNamed() {
        assertThat(fault("{\"boot_args\":\"console=ttyS0\"}", Model.BootSource.class)).contains("`kernel_image_path`");
        assertThat(fault("{\"iface_id\":\"eth0\"}", Model.NetworkInterface.class)).contains("`host_dev_name`");
        assertThat(fault("{\"drive_id\":\"d\",\"path_on_host\":\"/x\"}", Model.Drive.class)).contains("`is_root_device`");
        assertThat(fault("{}", Model.InstanceActionInfo.class)).contains("`action_type`");
        assertThat(fault("{\"bandwidth\":{\"size\":10}}", Model.RateLimiter.class)).contains("`bandwidth.refill_time`");
        assertThat(fault("{\"snapshot_path\":\"/s\"}", Model.SnapshotCreateParams.class)).contains("`mem_file_path`");
    }

    @Test
    void valuesAreChecked() {
        assertThat(fault("{\"vcpu_count\":33,\"mem_size_mib\":128}", Model.MachineConfiguration.class))
                .contains("`vcpu_count`").contains("out of range");
        assertThat(fault("{\"action_type\":\"Reboot\"}", Model.InstanceActionInfo.class)).contains("`action_type`")
                .contains("InstanceStart");
        assertThat(fault("{\"state\":\"Stopped\"}", Model.Vm.class)).contains("`state`");
        assertThat(fault("{\"iface_id\":\"e\",\"host_dev_name\":\"tap0\",\"guest_mac\":\"nope\"}", Model.NetworkInterface.class))
                .contains("`guest_mac`");
        assertThat(fault("{\"guest_cid\":2,\"uds_path\":\"/v\"}", Model.Vsock.class)).contains("`guest_cid`");
        assertThat(fault("{\"network_interfaces\":[],\"ipv4_address\":\"10.0.0.1\"}", Model.MmdsConfig.class))
                .contains("`ipv4_address`");
    }

    @Test
    void bodiesOverFiftyKibAndNonObjectsAreRefused() {
        String big = "{\"kernel_image_path\":\"" + "a".repeat(ApiJson.MAX_BODY) + "\"}";
        assertThat(fault(big, Model.BootSource.class)).contains("larger than the limit of 51200");
        assertThat(fault("", Model.BootSource.class)).contains("no body");
        assertThat(fault("[1]", Model.BootSource.class)).contains("expected a JSON object");
        assertThat(fault("{\"kernel_image_path\":\"/k\"} x", Model.BootSource.class)).contains("deserializing");
        assertThat(fault("{\"kernel_image_path\":\"/k\",\"kernel_image_path\":\"/j\"}", Model.BootSource.class))
                .contains("kernel_image_path");
        assertThatThrownBy(() -> parse("{\"kernel_image_path\":", Model.BootSource.class)).isInstanceOf(ApiException.class);
    }
}
