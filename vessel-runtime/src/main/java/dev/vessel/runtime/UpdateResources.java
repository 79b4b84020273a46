package dev.vessel.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vessel.oci.BundleConfig;
import dev.vessel.oci.OciException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The {@code linux.resources} document that {@code update --resources} reads, with runc's reading
 * of it: a limit of 0 (or an empty cpuset) means "leave it as it is". Docker 20.10 sends every
 * field it knows, the unchanged ones as 0 ({@code docker update --cpus 0.5} sends
 * {@code "memory":{"limit":0,...}}); crun 1.8 writes those zeros (a memory limit of 0 on cgroup v1
 * fails with EBUSY), so they are taken out before any driver sees the document.
 */
public final class UpdateResources {
    private UpdateResources() {}

    /** The fields of each group where 0 means unset (runc's cgroup managers skip them). */
    private static final Map<String, Set<String>> ZERO_IS_UNSET = Map.of(
            "memory", Set.of("limit", "reservation", "swap", "kernel", "kernelTCP"),
            "cpu", Set.of("shares", "quota", "period", "realtimeRuntime", "realtimePeriod", "cpus", "mems"),
            "blockIO", Set.of("weight", "leafWeight"),
            "pids", Set.of("limit"));

    /** Parses and normalises a resources document; {@code source} names it in the one-line error. */
    public static ObjectNode parse(String json, String source) {
        JsonNode parsed;
        try {
            parsed = BundleConfig.JSON.readTree(json);
        } catch (Exception e) {
            throw new OciException("update: --resources " + source + " is not JSON");
        }
        if (parsed == null || !parsed.isObject()) throw new OciException("update: --resources " + source + " is not a JSON object");
        return withoutUnset((ObjectNode) parsed);
    }

    /** The document without the fields that say "unchanged", and without groups left empty. */
    static ObjectNode withoutUnset(ObjectNode resources) {
        ObjectNode out = resources.deepCopy();
        List<String> empty = new ArrayList<>();
        ZERO_IS_UNSET.forEach((group, fields) -> {
            if (!(out.get(group) instanceof ObjectNode node)) return;
            for (String field : fields) {
                JsonNode v = node.get(field);
                if (v == null) continue;
                if (v.isNull() || (v.isNumber() && v.asLong() == 0) || (v.isTextual() && v.asText().isEmpty())) node.remove(field);
            }
            if (node.isEmpty()) empty.add(group);
        });
        out.remove(empty);
        return out;
    }
}
