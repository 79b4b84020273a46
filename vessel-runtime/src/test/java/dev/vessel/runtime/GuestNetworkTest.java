package dev.vessel.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vessel.linux.NetNs;
import dev.vessel.vmm.AgentClient;
import dev.vessel.vmm.QemuCommand;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class GuestNetworkTest {
    private static final NetNs NS = NetNs.at(Path.of("/run/netns/test"));
    private static final NetNs.Link LO = new NetNs.Link("lo", "", "00:00:00:00:00:00", 65536, true, List.of());
    private static final NetNs.Link VETH = new NetNs.Link("eth0", "veth", "9a:3c:11:22:33:44", 1450, true,
            List.of("10.88.213.5/24", "fd00:88::5/64", "fe80::983c:11ff:fe22:3344/64"));

    @Test
    void aVethBecomesATapBackedNicWithItsMacMtuAddressesAndRoutes() {
        GuestNetwork net = GuestNetwork.plan(NS, List.of(LO, VETH), List.of(
                new NetNs.Route("0.0.0.0/0", "10.88.213.1", "eth0"), new NetNs.Route("::/0", "fe80::1", "eth0")));
        assertThat(net.devices()).containsExactly("eth0");
        assertThat(net.qemuNics()).containsExactly(new QemuCommand.Nic("tap0_vessel", "9a:3c:11:22:33:44"));
        // the guest makes its own link-local address, the same one, from the same MAC
        assertThat(net.guestNics()).containsExactly(
                new AgentClient.Nic("9a:3c:11:22:33:44", 1450, List.of("10.88.213.5/24", "fd00:88::5/64")));
        assertThat(net.guestRoutes()).containsExactly(
                new AgentClient.Route("0.0.0.0/0", "10.88.213.1", "9a:3c:11:22:33:44"),
                new AgentClient.Route("::/0", "fe80::1", "9a:3c:11:22:33:44"));
        assertThat(net.tapCommands()).containsExactly("link set dev tap0_vessel mtu 1450 up");
    }

    @Test
    void redirectsGoBothWaysWithU32MatchAllAndMirred() {
        GuestNetwork net = GuestNetwork.plan(NS, List.of(VETH), List.of());
        assertThat(net.redirectCommands()).containsExactly(
                "qdisc add dev eth0 ingress",
                "filter add dev eth0 parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev tap0_vessel",
                "qdisc add dev tap0_vessel ingress",
                "filter add dev tap0_vessel parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev eth0");
    }

    @Test
    void loopbackTapsAndDownVethsWithoutAddressesAreNotTakenOver() {
        NetNs.Link tap = new NetNs.Link("tap9", "tun", "aa:aa:aa:aa:aa:aa", 1500, true, List.of("10.1.1.1/24"));
        NetNs.Link downVeth = new NetNs.Link("eth1", "veth", "aa:aa:aa:aa:aa:ab", 1500, false, List.of());
        NetNs.Link dummy = new NetNs.Link("dummy0", "dummy", "aa:aa:aa:aa:aa:ac", 1500, true, List.of("10.2.2.2/24"));
        GuestNetwork net = GuestNetwork.plan(NS, List.of(LO, tap, downVeth, dummy),
                List.of(new NetNs.Route("0.0.0.0/0", "10.1.1.254", "tap9")));
        assertThat(net.devices()).containsExactly("dummy0");
        assertThat(net.qemuNics()).containsExactly(new QemuCommand.Nic("tap0_vessel", "aa:aa:aa:aa:aa:ac"));
        assertThat(net.guestRoutes()).isEmpty();
        assertThat(GuestNetwork.plan(NS, List.of(LO), List.of()).isEmpty()).isTrue();
    }
}
