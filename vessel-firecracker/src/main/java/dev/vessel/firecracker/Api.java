package dev.vessel.firecracker;

import java.nio.charset.StandardCharsets;

/**
 * Firecracker's API without HTTP ({@link ApiServer} carries it): a method, a path and a body in —
 * parsed and checked into a {@link VmmAction} ({@link ParsedRequest}), allowed or not by the VM's
 * {@link ApiPolicy}, run by the controller of the VM's phase — and a status and a JSON body out.
 * Success is 204 with no body for PUT and PATCH, 200 with JSON for GET; every error is
 * {@code {"fault_message": …}}: 400 for a bad request, 404 for an unknown path, 405 for a method a
 * path does not take.
 */
public final class Api {
    /** An answer: status and body (null: none). */
    public record Response(int status, byte[] body) {
        static Response noContent() {
            return new Response(204, null);
        }

        static Response ok(Object value) {
            return new Response(200, ApiJson.write(value));
        }

        static Response fault(int status, String message) {
            return new Response(status, ApiJson.fault(message));
        }

        public String text() {
            return body == null ? "" : new String(body, StandardCharsets.UTF_8);
        }
    }

    private final Vmm vmm;

    public Api(Vmm vmm) {
        this.vmm = vmm;
    }

    public Response handle(String method, String rawPath, byte[] body) {
        String shown = ParsedRequest.printable(rawPath);
        Response r;
        try {
            vmm.log().info("The API server received a " + ParsedRequest.printable(method) + " request on \"" + shown + "\".");
            Object answer = vmm.handle(ParsedRequest.parse(method, rawPath, body));
            r = answer == null ? Response.noContent() : Response.ok(answer);
        } catch (ApiException e) {
            vmm.log().warn("Received Error. Status code: " + e.status() + ". Message: " + e.getMessage());
            r = Response.fault(e.status(), e.getMessage());
        } catch (RuntimeException e) {
            // a defect of ours: still Firecracker's error body, never a stack trace
            vmm.log().error("Internal error on " + method + " " + shown + ": " + e);
            r = Response.fault(500, "Internal error: " + e.getMessage());
        }
        vmm.metrics().request(counted(method), resource(rawPath), r.status() >= 400);
        return r;
    }

    private static final java.util.Set<String> RESOURCES = java.util.Set.of("version", "boot-source", "drives",
            "network-interfaces", "machine-config", "actions", "vm", "logger", "metrics", "vsock", "entropy", "balloon",
            "snapshot", "mmds");

    /**
     * The metrics' name for a path's resource ("/network-interfaces/eth0" → network_interfaces);
     * any other path is "unknown", so that what a client makes up does not grow the counters.
     */
    private static String resource(String rawPath) {
        String path = rawPath == null ? "" : rawPath;
        int q = path.indexOf('?');
        if (q >= 0) path = path.substring(0, q);
        String top = path.startsWith("/") ? path.substring(1).split("/", -1)[0] : "";
        if (path.equals("/") || path.isEmpty()) return "instance_info";
        return RESOURCES.contains(top) ? top.replace('-', '_') : "unknown";
    }

    private static String counted(String method) {
        return switch (method) {
            case "GET", "PUT", "PATCH" -> method.toLowerCase(java.util.Locale.ROOT);
            default -> "other";
        };
    }
}
