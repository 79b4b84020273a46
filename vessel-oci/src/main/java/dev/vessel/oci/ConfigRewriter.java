package dev.vessel.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Turns a bundle's config into the one the low-level runtime executes for {@code container}
 * isolation: records what Vessel decided, and adds the resource view.
 */
public final class ConfigRewriter {
    private static final String NOTIFY = "SCMP_ACT_NOTIFY";

    private ConfigRewriter() {}

    public static BundleConfig forContainer(BundleConfig config, Isolation isolation) {
        return forContainer(config, isolation, "", null);
    }

    /** The rewritten config; {@code view} null (or the annotation dev.vessel.view=false) leaves the view out. */
    public static BundleConfig forContainer(BundleConfig config, Isolation isolation, String id, ViewPlan view) {
        ObjectNode tree = config.tree().deepCopy();
        // The rewritten config may live outside the bundle (runc reads it from a copy), so the
        // root file system must not depend on where the file is.
        ((ObjectNode) tree.get("root")).put("path", config.rootfs().toString());
        if (view != null && !"false".equalsIgnoreCase(config.annotation(ViewPlan.ANNOTATION))) {
            addViewMounts(tree, view);
            List<String> syscalls = new ArrayList<>(view.syscalls());
            if (!"true".equalsIgnoreCase(config.annotation(ViewPlan.AFFINITY_ANNOTATION))) {
                syscalls.remove("sched_getaffinity");
            }
            trapSyscalls(tree, id, view, syscalls);
        }
        return BundleConfig.wrap(config.bundle(), tree);
    }

    /** Bind mounts of the rendered files over the container's own, except where the config mounts something already. */
    private static void addViewMounts(ObjectNode tree, ViewPlan view) {
        ArrayNode mounts = tree.has("mounts") && tree.get("mounts").isArray() ? (ArrayNode) tree.get("mounts") : tree.putArray("mounts");
        Set<String> taken = new HashSet<>();
        mounts.forEach(m -> taken.add(m.path("destination").asText()));
        Path directory = view.newContainerDirectory();
        for (String file : view.files()) {
            if (taken.contains(file)) {
                continue;
            }
            ObjectNode mount = mounts.addObject();
            mount.put("destination", file);
            mount.put("type", "bind");
            mount.put("source", directory.resolve(file.substring(1)).toString());
            mount.putArray("options").add("bind").add("ro").add("nosuid").add("nodev").add("noexec");
        }
    }

    /**
     * Traps the system calls through the OCI seccomp listener. An existing profile keeps every
     * rule; the trapped calls are taken out of the rules that named them (libseccomp refuses two
     * actions for one call) and given to a NOTIFY rule of their own. A profile that already has a
     * listener of its own is left alone.
     */
    private static void trapSyscalls(ObjectNode tree, String id, ViewPlan view, List<String> syscalls) {
        if (syscalls.isEmpty()) {
            return;
        }
        ObjectNode linux = object(tree, "linux");
        ObjectNode seccomp;
        if (linux.has("seccomp") && linux.get("seccomp").isObject()) {
            seccomp = (ObjectNode) linux.get("seccomp");
            if (seccomp.hasNonNull("listenerPath")) {
                return;
            }
        } else {
            seccomp = linux.putObject("seccomp");
            seccomp.put("defaultAction", "SCMP_ACT_ALLOW");
        }
        ArrayNode kept = BundleConfig.JSON.createArrayNode();
        ObjectNode trap = kept.addObject();
        ArrayNode names = trap.putArray("names");
        syscalls.forEach(names::add);
        trap.put("action", NOTIFY);
        for (JsonNode rule : seccomp.path("syscalls")) {
            if (!rule.isObject()) {
                continue;
            }
            ObjectNode copy = ((ObjectNode) rule).deepCopy();
            ArrayNode remaining = BundleConfig.JSON.createArrayNode();
            rule.path("names").forEach(n -> {
                if (!syscalls.contains(n.asText())) {
                    remaining.add(n);
                }
            });
            if (rule.path("names").size() > 0 && remaining.isEmpty()) {
                continue;
            }
            copy.set("names", remaining);
            kept.add(copy);
        }
        seccomp.set("syscalls", kept);
        seccomp.put("listenerPath", view.listenerPath().toString());
        seccomp.put("listenerMetadata", id);
    }

    private static ObjectNode object(ObjectNode parent, String field) {
        JsonNode node = parent.get(field);
        return node != null && node.isObject() ? (ObjectNode) node : parent.putObject(field);
    }
}
