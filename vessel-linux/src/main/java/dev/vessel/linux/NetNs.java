package dev.vessel.linux;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A network namespace, seen and changed through iproute2 ({@code ip -j}, {@code tc}) run inside
 * it with nsenter: the same tools an operator would use, so what Vessel did can be checked by
 * hand with the same commands. Parsing is pure and unit-tested.
 */
public final class NetNs {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** An interface: its name, link kind ("veth", "tun", "" for plain), MAC, MTU, whether up, and its addresses. */
    public record Link(String name, String kind, String mac, int mtu, boolean up, List<String> addresses) {
        public Link {
            addresses = List.copyOf(addresses);
        }
    }

    /** A route of the main table: destination CIDR (0.0.0.0/0, ::/0 for the defaults), gateway or null, device. */
    public record Route(String destination, String gateway, String device) {}

    private final Path path;

    private NetNs(Path path) {
        this.path = path;
    }

    /** The namespace bound at {@code path} (e.g. /run/netns/NAME, /proc/PID/ns/net). */
    public static NetNs at(Path path) {
        return new NetNs(path);
    }

    public Path path() {
        return path;
    }

    /** The argv prefix that runs a program inside this namespace. */
    public List<String> enter() {
        return List.of(Tools.find("nsenter"), "--net=" + path);
    }

    public List<Link> links() throws IOException {
        return parseLinks(run(List.of("ip", "-j", "-d", "addr", "show"), ""));
    }

    public List<Route> routes() throws IOException {
        List<Route> routes = new ArrayList<>(parseRoutes(run(List.of("ip", "-j", "-4", "route", "show", "table", "main"), ""), false));
        routes.addAll(parseRoutes(run(List.of("ip", "-j", "-6", "route", "show", "table", "main"), ""), true));
        return routes;
    }

    /** Runs {@code tool -batch -} (ip or tc) with these commands; fails on the first that fails. */
    public void batch(String tool, List<String> commands) throws IOException {
        if (!commands.isEmpty()) {
            run(List.of(tool, "-batch", "-"), String.join("\n", commands) + "\n");
        }
    }

    private String run(List<String> command, String input) throws IOException {
        List<String> argv = new ArrayList<>(enter());
        argv.add(Tools.find(command.getFirst())); // nsenter's PATH is the daemon's, maybe none
        argv.addAll(command.subList(1, command.size()));
        Command.Result result = Command.run(argv, input, Duration.ofSeconds(10));
        if (result.status() != 0) {
            throw new IOException(command.getFirst() + " in " + path + ": " + result.firstLine());
        }
        return result.output();
    }

    /** {@code ip -j -d addr show} → links, with their non-host-scope addresses as CIDRs. */
    public static List<Link> parseLinks(String json) throws IOException {
        List<Link> links = new ArrayList<>();
        for (JsonNode l : JSON.readTree(json)) {
            List<String> addresses = new ArrayList<>();
            for (JsonNode a : l.path("addr_info")) {
                if (!a.path("scope").asText().equals("host") && a.has("local")) {
                    addresses.add(a.path("local").asText() + "/" + a.path("prefixlen").asInt());
                }
            }
            boolean up = false;
            for (JsonNode f : l.path("flags")) {
                up |= f.asText().equals("UP");
            }
            links.add(new Link(l.path("ifname").asText(), l.path("linkinfo").path("info_kind").asText(""),
                    l.path("address").asText(""), l.path("mtu").asInt(1500), up, addresses));
        }
        return links;
    }

    /**
     * {@code ip -j route show table main} → the routes a guest must be given: the kernel makes the
     * ones its addresses imply ("proto kernel") by itself, so those are left out.
     */
    public static List<Route> parseRoutes(String json, boolean ipv6) throws IOException {
        List<Route> routes = new ArrayList<>();
        for (JsonNode r : JSON.readTree(json)) {
            if (r.path("protocol").asText().equals("kernel") || !r.path("type").asText("unicast").equals("unicast")
                    || !r.has("dev")) {
                continue;
            }
            String dst = r.path("dst").asText();
            if (dst.equals("default")) {
                dst = ipv6 ? "::/0" : "0.0.0.0/0";
            } else if (!dst.contains("/")) {
                dst = dst + (ipv6 ? "/128" : "/32");
            }
            routes.add(new Route(dst, r.has("gateway") ? r.path("gateway").asText() : null, r.path("dev").asText()));
        }
        return routes;
    }
}
