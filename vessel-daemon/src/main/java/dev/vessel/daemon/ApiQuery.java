package dev.vessel.daemon;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The query of a management API request: {@code isolation=}, {@code status=}, {@code annotation=KEY=VALUE}
 * (or {@code annotation=KEY}: present with any value; repeatable, all must match) and {@code root=}
 * (a --root, for ids that several roots share). Anything else is refused, naming the parameter.
 */
public record ApiQuery(String isolation, String status, Map<String, String> annotations, Path root) {
    static final Set<String> ISOLATIONS = Set.of("container", "microvm", "vm");
    static final Set<String> STATUSES = Set.of("creating", "created", "running", "paused", "stopped");

    /** A malformed query: the HTTP 400's message names the parameter. */
    public static final class BadQuery extends RuntimeException {
        private final String parameter;

        BadQuery(String parameter, String message) {
            super(message);
            this.parameter = parameter;
        }

        public String parameter() {
            return parameter;
        }
    }

    public static ApiQuery none() {
        return new ApiQuery(null, null, Map.of(), null);
    }

    /** Parses a raw (still percent-encoded) query string; null or empty: no filters. */
    public static ApiQuery parse(String raw, Set<String> allowed) {
        if (raw == null || raw.isEmpty()) return none();
        String isolation = null;
        String status = null;
        Path root = null;
        Map<String, String> annotations = new LinkedHashMap<>();
        for (String pair : raw.split("&", -1)) {
            if (pair.isEmpty()) continue;
            int eq = pair.indexOf('=');
            String name = decode(eq < 0 ? pair : pair.substring(0, eq), "query");
            String value = eq < 0 ? null : decode(pair.substring(eq + 1), name);
            if (!allowed.contains(name)) {
                throw new BadQuery(name, "unknown query parameter \"" + printable(name) + "\" (known here: "
                        + String.join(", ", new java.util.TreeSet<>(allowed)) + ")");
            }
            if (value == null || value.isEmpty()) throw new BadQuery(name, "query parameter \"" + name + "\" needs a value");
            switch (name) {
                case "isolation" -> {
                    if (isolation != null) throw new BadQuery(name, "query parameter \"isolation\" is given twice");
                    if (!ISOLATIONS.contains(value)) {
                        throw new BadQuery(name, "query parameter \"isolation\": unknown isolation \"" + printable(value)
                                + "\" (use container, microvm or vm)");
                    }
                    isolation = value;
                }
                case "status" -> {
                    if (status != null) throw new BadQuery(name, "query parameter \"status\" is given twice");
                    if (!STATUSES.contains(value)) {
                        throw new BadQuery(name, "query parameter \"status\": unknown status \"" + printable(value)
                                + "\" (use creating, created, running, paused or stopped)");
                    }
                    status = value;
                }
                case "annotation" -> {
                    int sep = value.indexOf('=');
                    String key = sep < 0 ? value : value.substring(0, sep);
                    if (key.isEmpty()) throw new BadQuery(name, "query parameter \"annotation\" needs KEY=VALUE or KEY");
                    annotations.put(key, sep < 0 ? null : value.substring(sep + 1));
                }
                case "root" -> {
                    if (root != null) throw new BadQuery(name, "query parameter \"root\" is given twice");
                    if (!value.startsWith("/")) throw new BadQuery(name, "query parameter \"root\" must be an absolute path");
                    root = Path.of(value).normalize();
                }
                default -> throw new BadQuery(name, "unknown query parameter \"" + printable(name) + "\"");
            }
        }
        return new ApiQuery(isolation, status, annotations, root);
    }

    /** Whether a sandbox's isolation, status and annotations pass the filters. */
    public boolean matches(String sandboxIsolation, String sandboxStatus, Map<String, String> sandboxAnnotations) {
        if (isolation != null && !isolation.equals(sandboxIsolation)) return false;
        if (status != null && !status.equals(sandboxStatus)) return false;
        for (Map.Entry<String, String> want : annotations.entrySet()) {
            String have = sandboxAnnotations.get(want.getKey());
            if (have == null || (want.getValue() != null && !want.getValue().equals(have))) return false;
        }
        return true;
    }

    private static String decode(String text, String parameter) {
        try {
            return URLDecoder.decode(text, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw new BadQuery(parameter, "query parameter \"" + printable(parameter) + "\": malformed percent-encoding");
        }
    }

    /** At most 64 characters, control characters escaped: safe to echo in an error. */
    static String printable(String text) {
        StringBuilder out = new StringBuilder();
        for (char c : text.toCharArray()) {
            if (out.length() >= 64) return out + "…";
            out.append(c < 0x20 || c == 0x7f ? String.format("\\x%02x", (int) c) : String.valueOf(c));
        }
        return out.toString();
    }

    static List<String> split(String path) {
        List<String> parts = new ArrayList<>();
        for (String p : path.split("/")) if (!p.isEmpty()) parts.add(p);
        return parts;
    }
}
