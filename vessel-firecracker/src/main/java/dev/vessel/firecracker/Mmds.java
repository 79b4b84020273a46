package dev.vessel.firecracker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Iterator;
import java.util.Map;

/**
 * The MMDS data store (PUT replaces it, PATCH merges into it as a JSON merge patch, RFC 7396;
 * GET returns it) and its configuration (version V1/V2, the address, the interfaces allowed).
 * Thread-safe: the guest's metadata server reads it while the API writes it.
 */
public final class Mmds {
    public static final String DEFAULT_ADDRESS = "169.254.169.254";
    private ObjectNode data;
    private Model.MmdsConfig config;
    private long limit = ApiJson.MAX_BODY;

    /** The data store's size limit in bytes of JSON ({@code --mmds-size-limit}; default 51200). */
    public synchronized void limit(long bytes) {
        this.limit = bytes;
    }

    private void fits(ObjectNode candidate) throws ApiException {
        int size = candidate.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        if (size > limit) {
            throw ApiException.badRequest("The MMDS data store would be " + size + " bytes, over its limit of " + limit
                    + " (--mmds-size-limit).");
        }
    }

    public synchronized void configure(Model.MmdsConfig c) {
        this.config = c;
    }

    public synchronized Model.MmdsConfig config() {
        return config;
    }

    public synchronized String version() {
        return config == null || config.version() == null ? "V1" : config.version();
    }

    public synchronized String address() {
        return config == null || config.ipv4Address() == null ? DEFAULT_ADDRESS : config.ipv4Address();
    }

    public synchronized void put(JsonNode value) throws ApiException {
        if (!value.isObject()) throw ApiException.badRequest("The MMDS data store must be a JSON object.");
        ObjectNode candidate = ((ObjectNode) value).deepCopy();
        fits(candidate);
        data = candidate;
    }

    public synchronized void patch(JsonNode value) throws ApiException {
        if (!value.isObject()) throw ApiException.badRequest("The MMDS patch must be a JSON object.");
        if (data == null) throw new ApiException(400, "The MMDS data store is not initialized (PUT /mmds first).");
        ObjectNode candidate = data.deepCopy();
        merge(candidate, (ObjectNode) value);
        fits(candidate);
        data = candidate;
    }

    /** GET /mmds: the store ({} before the first PUT). */
    public synchronized JsonNode get() throws ApiException {
        if (data == null) return ApiJson.MAPPER.createObjectNode();
        return data.deepCopy();
    }

    synchronized JsonNode snapshot() {
        return data == null ? null : data.deepCopy();
    }

    static void merge(ObjectNode target, ObjectNode patch) {
        Iterator<Map.Entry<String, JsonNode>> it = patch.properties().iterator();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode v = e.getValue();
            if (v.isNull()) {
                target.remove(e.getKey());
            } else if (v.isObject() && target.get(e.getKey()) instanceof ObjectNode t) {
                merge(t, (ObjectNode) v);
            } else {
                target.set(e.getKey(), v.deepCopy());
            }
        }
    }
}
