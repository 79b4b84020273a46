package dev.vessel.firecracker;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * The guest's side of MMDS, as Firecracker's metadata service answers at 169.254.169.254:
 * {@code GET} of a path into the data store (IMDS text: a string value as is, an object's keys
 * one a line with "/" after those holding objects; JSON with {@code Accept: application/json}),
 * and V2's session tokens: {@code PUT /latest/api/token} with {@code X-metadata-token-ttl-seconds}
 * (1 to 21600) returns a token that GETs carry in {@code X-metadata-token}. Under V2 a GET without
 * a valid token is a 401; under V1 tokens are optional. HTTP comes from {@link ApiServer}.
 */
public final class MmdsService {
    public static final int MAX_TTL = 21600;
    private final Mmds mmds;
    private final LongSupplier clockMillis;
    private final SecureRandom random = new SecureRandom();
    private final Map<String, Long> tokens = new HashMap<>();

    /** An answer: status, content type, body. */
    public record Reply(int status, String contentType, String body) {
        static Reply text(int status, String body) {
            return new Reply(status, "text/plain", body);
        }
    }

    public MmdsService(Mmds mmds, LongSupplier clockMillis) {
        this.mmds = mmds;
        this.clockMillis = clockMillis;
    }

    /** {@code header} looks a request header up by name, case-insensitively (null: absent). */
    public Reply handle(String method, String rawPath, java.util.function.Function<String, String> header) {
        String path = rawPath;
        int q = path.indexOf('?');
        if (q >= 0) path = path.substring(0, q);
        if (header.apply("X-Forwarded-For") != null) {
            return Reply.text(400, "Invalid header. Reason: Unsupported header name. Key: X-Forwarded-For");
        }
        switch (method) {
            case "PUT" -> {
                return put(path, header);
            }
            case "GET" -> {
                return get(path, header);
            }
            default -> {
                return Reply.text(405, "Not allowed HTTP method.");
            }
        }
    }

    private Reply put(String path, java.util.function.Function<String, String> header) {
        if (!path.equals("/latest/api/token")) return Reply.text(404, "Resource not found: " + path + ".");
        String ttlText = header.apply("X-metadata-token-ttl-seconds");
        if (ttlText == null) {
            return Reply.text(400, "Token time to live value not found. Use `X-metadata-token-ttl-seconds` header to"
                    + " specify the token's lifetime.");
        }
        long ttl;
        try {
            ttl = Long.parseLong(ttlText.strip());
        } catch (NumberFormatException e) {
            return Reply.text(400, "Invalid time to live value provided for token: " + ttlText + ".");
        }
        if (ttl < 1 || ttl > MAX_TTL) {
            return Reply.text(400, "Invalid time to live value provided for token: " + ttl
                    + ". Please provide a value between 1 and " + MAX_TTL + ".");
        }
        byte[] raw = new byte[32];
        random.nextBytes(raw);
        String token = Base64.getUrlEncoder().withoutPadding().encodeToString(raw);
        long now = clockMillis.getAsLong();
        synchronized (tokens) {
            tokens.values().removeIf(expiry -> expiry <= now);
            tokens.put(token, now + ttl * 1000);
        }
        return Reply.text(200, token);
    }

    private boolean valid(String token) {
        if (token == null) return false;
        synchronized (tokens) {
            Long expiry = tokens.get(token);
            return expiry != null && expiry > clockMillis.getAsLong();
        }
    }

    private Reply get(String path, java.util.function.Function<String, String> header) {
        String token = header.apply("X-metadata-token");
        if (mmds.version().equals("V2") && !valid(token)) {
            return Reply.text(401, token == null
                    ? "No MMDS token provided. Use `X-metadata-token` header to specify the session token."
                    : "MMDS token not valid.");
        }
        if (mmds.version().equals("V1") && token != null && !valid(token)) return Reply.text(401, "MMDS token not valid.");
        JsonNode node;
        try {
            node = mmds.get();
        } catch (ApiException e) {
            return Reply.text(500, e.getMessage());
        }
        for (String part : path.split("/")) {
            if (part.isEmpty()) continue;
            node = node.isObject() ? node.get(part) : null;
            if (node == null) return Reply.text(404, "Resource not found: " + path + ".");
        }
        String accept = header.apply("Accept");
        if (accept != null && accept.contains("application/json")) {
            return new Reply(200, "application/json", node.toString());
        }
        if (node.isTextual()) return Reply.text(200, node.asText());
        if (node.isObject()) {
            List<String> keys = new ArrayList<>();
            Iterator<Map.Entry<String, JsonNode>> it = node.properties().iterator();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                keys.add(e.getKey() + (e.getValue().isObject() ? "/" : ""));
            }
            return Reply.text(200, String.join("\n", keys));
        }
        return Reply.text(501, "Cannot retrieve value. The value has an unsupported type.");
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
