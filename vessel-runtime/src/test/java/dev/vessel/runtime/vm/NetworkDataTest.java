package dev.vessel.runtime.vm;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class NetworkDataTest {
    @Test
    void version2ByMacOrByName() {
        String v2 = """
                version: 2
                ethernets:
                  lan:
                    match: {macaddress: "02:00:00:00:00:0B"}
                    addresses: [10.99.0.11/24, "fd00::b/64"]
                  eth1:
                    addresses: [192.168.5.2/24]
                """;
        assertThat(NetworkData.addresses(v2, "02:00:00:00:00:0b", 0)).containsExactly("10.99.0.11", "fd00::b");
        assertThat(NetworkData.addresses(v2, "02:00:00:00:00:0c", 1)).containsExactly("192.168.5.2");
        assertThat(NetworkData.addresses(v2, "02:00:00:00:00:0c", 0)).isEmpty();
    }

    @Test
    void version1Physical() {
        String v1 = """
                network:
                  version: 1
                  config:
                  - type: physical
                    name: eth0
                    subnets: [{type: static, address: 10.1.0.5/16}, {type: dhcp}]
                """;
        assertThat(NetworkData.addresses(v1, "02:00:00:00:00:01", 0)).containsExactly("10.1.0.5");
    }

    @Test
    void whatCannotBeReadGivesNothing() {
        assertThat(NetworkData.addresses("{ not yaml", "02:00:00:00:00:01", 0)).isEmpty();
        assertThat(NetworkData.addresses(null, "02:00:00:00:00:01", 0)).isEmpty();
        assertThat(NetworkData.addresses("version: 2\nethernets: {eth0: {dhcp4: true}}", "02:00:00:00:00:01", 0)).isEmpty();
    }
}
