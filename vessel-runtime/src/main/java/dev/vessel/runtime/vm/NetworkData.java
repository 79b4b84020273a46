package dev.vessel.runtime.vm;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/**
 * The static addresses a cloud-init {@code networkData} gives an interface, for {@code vm get}'s
 * status of a bridge interface (where Vessel serves no DHCP, so the guest's own configuration is
 * what it knows). Network config version 2 (netplan: {@code ethernets.ID.addresses}, the interface
 * matched by {@code match.macaddress} or by the name {@code ethN}) and version 1
 * ({@code config[].type: physical} by {@code mac_address} or {@code name}, its static
 * {@code subnets[].address}). Anything it cannot read gives no address, never an error.
 */
final class NetworkData {
    private NetworkData() {}

    /** The addresses (without prefix length) of interface {@code index} with MAC {@code mac}. */
    static List<String> addresses(String networkData, String mac, int index) {
        List<String> out = new ArrayList<>();
        if (networkData == null || networkData.isBlank()) return out;
        JsonNode root;
        try {
            root = Manifests.YAML.readTree(networkData);
        } catch (Exception e) {
            return out;
        }
        if (root == null) return out;
        if (root.has("network")) root = root.get("network"); // both spellings: with and without the top-level key
        String name = "eth" + index;
        if (root.path("version").asInt(0) == 2) {
            root.path("ethernets").properties().forEach(e -> {
                JsonNode nic = e.getValue();
                String matched = nic.path("match").path("macaddress").asText("");
                boolean ours = matched.isEmpty() ? e.getKey().equals(name) || nic.path("set-name").asText("").equals(name)
                        : matched.equalsIgnoreCase(mac);
                if (ours) nic.path("addresses").forEach(a -> out.add(strip(a.asText())));
            });
        } else if (root.path("version").asInt(0) == 1) {
            for (JsonNode c : root.path("config")) {
                if (!c.path("type").asText().equals("physical")) continue;
                String m = c.path("mac_address").asText("");
                boolean ours = m.isEmpty() ? c.path("name").asText().equals(name) : m.equalsIgnoreCase(mac);
                if (!ours) continue;
                for (JsonNode subnet : c.path("subnets")) {
                    if (subnet.has("address")) out.add(strip(subnet.get("address").asText()));
                }
            }
        }
        out.removeIf(String::isEmpty);
        return out;
    }

    private static String strip(String cidr) {
        int slash = cidr.indexOf('/');
        return slash < 0 ? cidr : cidr.substring(0, slash);
    }
}
