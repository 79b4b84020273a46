package dev.vessel.vmm;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the guest agent applies of an OCI config beyond process 0 and the mounts (docs/microvm.md,
 * CREATE): maskedPaths, readonlyPaths and root.readonly (in process 0's mount namespace, so also
 * for every exec), sysctls (the guest's kernel is the container's), linux.devices (nodes in the
 * container's /dev tmpfs) and the seccomp filter, compiled on the host ({@link SeccompBpf}) and
 * installed in process 0 and every exec right before it runs; a user namespace of the bundle's own
 * (linux.namespaces' {@code user} with no path) with its uid and gid maps, and rootfsPropagation,
 * both for process 0's namespaces, which every exec joins.
 *
 * @param seccomp the BPF program (8 bytes an instruction, as the kernel reads it), or null for none
 * @param uidMappings empty: no user namespace of its own (the guest's root one, as the agent's)
 * @param rootfsPropagation null: none asked for (the container's / stays private)
 */
public record GuestLinux(List<String> maskedPaths, List<String> readonlyPaths, boolean rootReadonly,
                         Map<String, String> sysctls, List<Device> devices, byte[] seccomp,
                         List<IdMapping> uidMappings, List<IdMapping> gidMappings, String rootfsPropagation) {

    public static final GuestLinux NONE = new GuestLinux(List.of(), List.of(), false, Map.of(), List.of(), null,
            List.of(), List.of(), null);

    /** The values runc takes for linux.rootfsPropagation: the spec's four and their recursive forms. */
    static final List<String> PROPAGATIONS = List.of("shared", "slave", "private", "unbindable", "rshared", "rslave",
            "rprivate", "runbindable");

    /** A linux.uidMappings or gidMappings entry: container ids from {@code containerId} are {@code hostId} on. */
    public record IdMapping(long containerId, long hostId, long size) {}

    /** A linux.devices entry; type c, u (character), b (block) or p (FIFO); fileMode the permission bits. */
    public record Device(String path, String type, long major, long minor, int fileMode, long uid, long gid) {}

    public GuestLinux {
        maskedPaths = List.copyOf(maskedPaths);
        readonlyPaths = List.copyOf(readonlyPaths);
        sysctls = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(sysctls));
        devices = List.copyOf(devices);
        uidMappings = List.copyOf(uidMappings);
        gidMappings = List.copyOf(gidMappings);
    }

    /** From an OCI config; {@code seccomp} is the compiled filter of its linux.seccomp (null: none). */
    public static GuestLinux fromOci(JsonNode config, byte[] seccomp) {
        JsonNode linux = config.path("linux");
        List<String> masked = new ArrayList<>();
        linux.path("maskedPaths").forEach(n -> masked.add(n.asText()));
        List<String> readonly = new ArrayList<>();
        linux.path("readonlyPaths").forEach(n -> readonly.add(n.asText()));
        Map<String, String> sysctls = new LinkedHashMap<>();
        linux.path("sysctl").properties().forEach(e -> sysctls.put(e.getKey(), e.getValue().asText()));
        List<Device> devices = new ArrayList<>();
        for (JsonNode d : linux.path("devices")) {
            devices.add(new Device(d.path("path").asText(), d.path("type").asText("c"), d.path("major").asLong(0),
                    d.path("minor").asLong(0), d.path("fileMode").asInt(0666) & 07777, d.path("uid").asLong(0),
                    d.path("gid").asLong(0)));
        }
        boolean userns = false;
        for (JsonNode ns : linux.path("namespaces")) {
            userns |= ns.path("type").asText().equals("user") && ns.path("path").asText("").isEmpty();
        }
        // as runc refuses it: a user namespace with nothing mapped could not even be entered
        if (userns && linux.path("uidMappings").isEmpty()) {
            throw new IllegalArgumentException("linux.namespaces: a user namespace, but no linux.uidMappings");
        }
        String propagation = linux.path("rootfsPropagation").asText("");
        return new GuestLinux(masked, readonly, config.path("root").path("readonly").asBoolean(false), sysctls, devices,
                seccomp, userns ? mappings(linux.path("uidMappings")) : List.of(),
                userns ? mappings(linux.path("gidMappings")) : List.of(), propagation.isEmpty() ? null : propagation);
    }

    private static List<IdMapping> mappings(JsonNode list) {
        List<IdMapping> out = new ArrayList<>();
        for (JsonNode m : list) {
            out.add(new IdMapping(m.path("containerID").asLong(-1), m.path("hostID").asLong(-1), m.path("size").asLong(-1)));
        }
        return out;
    }

    private static void mappingLines(List<String> lines, String kind, List<IdMapping> mappings) {
        for (int i = 0; i < mappings.size(); i++) {
            IdMapping m = mappings.get(i);
            if (m.containerId() < 0 || m.hostId() < 0 || m.size() <= 0 || m.containerId() > 0xffffffffL
                    || m.hostId() > 0xffffffffL) {
                throw new IllegalArgumentException("linux." + kind + "Mappings[" + i + "]: containerID, hostID and size "
                        + "must be numbers (size at least 1)");
            }
            lines.add(kind + "map " + m.containerId() + " " + m.hostId() + " " + m.size());
        }
    }

    /** Its CREATE lines; a value that cannot go on the wire (a bad sysctl name, device type) throws, naming it. */
    public List<String> lines() {
        List<String> lines = new ArrayList<>();
        for (String p : maskedPaths) lines.add("masked " + AgentClient.escape(p));
        for (String p : readonlyPaths) lines.add("readonly " + AgentClient.escape(p));
        if (rootReadonly) lines.add("rootReadonly 1");
        sysctls.forEach((k, v) -> {
            if (k.isEmpty() || k.chars().anyMatch(c -> c <= ' ' || c == '\\' || c == '/')) {
                throw new IllegalArgumentException("not a sysctl name: '" + k + "'");
            }
            lines.add("sysctl " + k + " " + AgentClient.escape(v));
        });
        for (Device d : devices) {
            if (!List.of("c", "u", "b", "p").contains(d.type())) {
                throw new IllegalArgumentException("device " + d.path() + ": type '" + d.type() + "' is not c, u, b or p");
            }
            lines.add("device " + AgentClient.field(d.path()) + "|" + d.type() + "|" + d.major() + "|" + d.minor() + "|"
                    + Integer.toOctalString(d.fileMode()) + "|" + d.uid() + "|" + d.gid());
        }
        if (seccomp != null) lines.add("seccomp " + java.util.HexFormat.of().formatHex(seccomp));
        mappingLines(lines, "uid", uidMappings);
        mappingLines(lines, "gid", gidMappings);
        if (rootfsPropagation != null) {
            if (!PROPAGATIONS.contains(rootfsPropagation)) {
                throw new IllegalArgumentException("linux.rootfsPropagation: '" + rootfsPropagation + "' is not one of "
                        + String.join(", ", PROPAGATIONS));
            }
            lines.add("rootfsPropagation " + rootfsPropagation);
        }
        return lines;
    }
}
