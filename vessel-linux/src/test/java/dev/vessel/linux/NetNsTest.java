package dev.vessel.linux;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class NetNsTest {
    /** Trimmed from `ip -j -d addr show` in a podman container's namespace (iproute2 6.1). */
    static final String LINKS = """
            [{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"link_type":"loopback",
              "address":"00:00:00:00:00:00","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"},
              {"family":"inet6","local":"::1","prefixlen":128,"scope":"host"}]},
             {"ifindex":2,"link_index":9,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1450,
              "link_type":"ether","address":"9a:3c:11:22:33:44","linkinfo":{"info_kind":"veth"},
              "addr_info":[{"family":"inet","local":"10.88.213.5","prefixlen":24,"scope":"global"},
              {"family":"inet6","local":"fd00:88::5","prefixlen":64,"scope":"global"},
              {"family":"inet6","local":"fe80::983c:11ff:fe22:3344","prefixlen":64,"scope":"link"}]},
             {"ifindex":3,"ifname":"tap0_vessel","flags":["BROADCAST","UP"],"mtu":1500,"link_type":"ether",
              "address":"aa:aa:aa:aa:aa:aa","linkinfo":{"info_kind":"tun"},"addr_info":[]}]
            """;

    @Test
    void linksCarryKindMacMtuStateAndNonHostAddresses() throws Exception {
        List<NetNs.Link> links = NetNs.parseLinks(LINKS);
        assertThat(links).hasSize(3);
        assertThat(links.get(0).addresses()).isEmpty();
        assertThat(links.get(1)).isEqualTo(new NetNs.Link("eth0", "veth", "9a:3c:11:22:33:44", 1450, true,
                List.of("10.88.213.5/24", "fd00:88::5/64", "fe80::983c:11ff:fe22:3344/64")));
        assertThat(links.get(2).kind()).isEqualTo("tun");
    }

    @Test
    void routesLeaveOutWhatTheKernelMakesAndNameTheDefaults() throws Exception {
        String v4 = """
                [{"dst":"default","gateway":"10.88.213.1","dev":"eth0"},
                 {"dst":"10.88.213.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"10.88.213.5"},
                 {"dst":"192.168.7.9","gateway":"10.88.213.254","dev":"eth0"},
                 {"type":"blackhole","dst":"10.99.0.0/16"}]
                """;
        String v6 = """
                [{"dst":"fd00:88::/64","dev":"eth0","protocol":"kernel","metric":256},
                 {"dst":"default","gateway":"fe80::1","dev":"eth0","protocol":"ra","metric":1024}]
                """;
        assertThat(NetNs.parseRoutes(v4, false)).containsExactly(
                new NetNs.Route("0.0.0.0/0", "10.88.213.1", "eth0"),
                new NetNs.Route("192.168.7.9/32", "10.88.213.254", "eth0"));
        assertThat(NetNs.parseRoutes(v6, true)).containsExactly(new NetNs.Route("::/0", "fe80::1", "eth0"));
    }

    @Test
    void commandsRunInsideTheNamespace() {
        assertThat(NetNs.at(java.nio.file.Path.of("/run/netns/x")).enter()).containsExactly(Tools.find("nsenter"), "--net=/run/netns/x");
    }
}
