package dev.vessel.runtime;

import dev.vessel.linux.NetNs;
import dev.vessel.vmm.AgentClient;
import dev.vessel.vmm.QemuCommand;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A microVM joined to the network namespace its engine made (Kata's "tcfilter"): for every
 * usable interface of the namespace (a veth, or any link with an address), a tap beside it that
 * QEMU opens as a virtio-net NIC with the interface's MAC, and tc redirects in both directions
 * (u32 match-all + mirred: this kernel has no matchall classifier). The guest is given the
 * interface's addresses, MTU and routes, so it is on the network exactly where the container
 * would have been; the namespace's own stack no longer sees a packet.
 *
 * <p>QEMU creates the taps (it runs inside the namespace) and they vanish with it; what outlives
 * QEMU is the ingress qdisc on each interface, removed by {@link #unplumb}.
 */
public final class GuestNetwork {
    /** A namespace interface and the tap that stands in for it. */
    record Pair(NetNs.Link link, String tap) {}

    private final NetNs ns;
    private final List<Pair> pairs;
    private final List<NetNs.Route> routes;

    private GuestNetwork(NetNs ns, List<Pair> pairs, List<NetNs.Route> routes) {
        this.ns = ns;
        this.pairs = List.copyOf(pairs);
        this.routes = List.copyOf(routes);
    }

    /** Reads the namespace's interfaces and routes. */
    static GuestNetwork inspect(NetNs ns) throws IOException {
        return plan(ns, ns.links(), ns.routes());
    }

    /** Which interfaces the guest takes over, and their taps (tap0_vessel, tap1_vessel, …). */
    static GuestNetwork plan(NetNs ns, List<NetNs.Link> links, List<NetNs.Route> routes) {
        List<Pair> pairs = new ArrayList<>();
        for (NetNs.Link link : links) {
            if (usable(link)) {
                pairs.add(new Pair(link, "tap" + pairs.size() + "_vessel"));
            }
        }
        List<String> devices = pairs.stream().map(p -> p.link().name()).toList();
        return new GuestNetwork(ns, pairs, routes.stream().filter(r -> devices.contains(r.device())).toList());
    }

    private static boolean usable(NetNs.Link link) {
        if (link.name().equals("lo") || link.kind().equals("tun") || link.mac().isEmpty()) {
            return false;
        }
        return !link.addresses().isEmpty() || (link.kind().equals("veth") && link.up());
    }

    boolean isEmpty() {
        return pairs.isEmpty();
    }

    NetNs ns() {
        return ns;
    }

    /** The interfaces that get an ingress redirect: what {@link #unplumb} must clear. */
    List<String> devices() {
        return pairs.stream().map(p -> p.link().name()).toList();
    }

    List<QemuCommand.Nic> qemuNics() {
        return pairs.stream().map(p -> new QemuCommand.Nic(p.tap(), p.link().mac())).toList();
    }

    /**
     * The guest's NICs: the interface's MAC, MTU and addresses. IPv6 link-local addresses are
     * left to the guest, which derives the same one from the same MAC.
     */
    List<AgentClient.Nic> guestNics() {
        return pairs.stream().map(p -> new AgentClient.Nic(p.link().mac(), p.link().mtu(),
                p.link().addresses().stream().filter(a -> !a.toLowerCase().startsWith("fe80:")).toList())).toList();
    }

    List<AgentClient.Route> guestRoutes() {
        Map<String, String> macs = new HashMap<>();
        pairs.forEach(p -> macs.put(p.link().name(), p.link().mac()));
        return routes.stream().map(r -> new AgentClient.Route(r.destination(), r.gateway(), macs.get(r.device()))).toList();
    }

    /** {@code ip -batch}: the taps QEMU made, at the interfaces' MTU, up. */
    List<String> tapCommands() {
        return pairs.stream().map(p -> "link set dev " + p.tap() + " mtu " + p.link().mtu() + " up").toList();
    }

    /** {@code tc -batch}: every frame arriving on the interface leaves through the tap, and back. */
    List<String> redirectCommands() {
        List<String> commands = new ArrayList<>();
        for (Pair p : pairs) {
            commands.addAll(redirect(p.link().name(), p.tap()));
            commands.addAll(redirect(p.tap(), p.link().name()));
        }
        return commands;
    }

    private static List<String> redirect(String from, String to) {
        return List.of("qdisc add dev " + from + " ingress",
                "filter add dev " + from + " parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev " + to);
    }

    /** Once QEMU has opened the taps: brings them up and redirects both ways. */
    void plumb() throws IOException {
        ns.batch("ip", tapCommands());
        ns.batch("tc", redirectCommands());
    }

    /**
     * Removes the ingress qdiscs (and so their filters) from the interfaces; the taps went with
     * QEMU. A namespace or interface already gone (the engine tore its network down first) is fine.
     */
    static void unplumb(NetNs ns, List<String> devices) {
        for (String device : devices) {
            try {
                ns.batch("tc", List.of("qdisc del dev " + device + " ingress"));
            } catch (IOException e) {
                // nothing left to remove
            }
        }
    }
}
