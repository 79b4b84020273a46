package dev.vessel.firecracker;

import com.fasterxml.jackson.databind.JsonNode;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;

/**
 * Firecracker's routes: a method, a path and a body in; a status and a JSON body out. No HTTP
 * here ({@link ApiServer} carries it), so every route is unit-tested as it is. Success is 204
 * with no body for PUT and PATCH, 200 with JSON for GET; errors are {@code {"fault_message": …}}:
 * 400 for a bad request, 404 for an unknown path, 405 for a method a path does not take.
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
        String path = rawPath;
        int q = path.indexOf('?');
        if (q >= 0) path = path.substring(0, q);
        if (path.length() > 1 && path.endsWith("/")) path = path.substring(0, path.length() - 1);
        String[] parts = path.substring(1).split("/", -1);
        String resource = parts[0].isEmpty() ? "instance_info" : parts[0].replace('-', '_');
        Response r;
        try {
            r = route(method, path, parts, body);
        } catch (ApiException e) {
            vmm.log().warn("Received Error. Status code: " + e.status() + ". Message: " + e.getMessage());
            r = Response.fault(e.status(), e.getMessage());
        } catch (RuntimeException e) {
            vmm.log().error("Internal error on " + method + " " + path + ": " + e);
            r = Response.fault(500, "Internal error: " + e.getMessage());
        }
        vmm.metrics().request(method.toLowerCase(java.util.Locale.ROOT), resource, r.status() >= 400);
        return r;
    }

    private Response route(String method, String path, String[] parts, byte[] body) throws ApiException {
        vmm.log().info("The API server received a " + method + " request on \"" + path + "\".");
        if (body.length > ApiJson.maxBody()) throw ApiJson.tooLarge(body.length);
        String top = parts[0];
        String id = parts.length > 1 ? URLDecoder.decode(parts[1], StandardCharsets.UTF_8) : null;
        switch (top) {
            case "" -> {
                allow(method, "GET");
                return Response.ok(vmm.info());
            }
            case "version" -> {
                allow(method, "GET");
                return Response.ok(new Model.FirecrackerVersion(Vmm.VERSION));
            }
            case "boot-source" -> {
                allow(method, "PUT");
                vmm.putBootSource(ApiJson.parse(body, Model.BootSource.class));
            }
            case "drives" -> {
                String did = needId(id, parts, "drive_id");
                if (method.equals("PUT")) vmm.putDrive(did, ApiJson.parse(body, Model.Drive.class));
                else if (method.equals("PATCH")) vmm.patchDrive(did, ApiJson.parse(body, Model.PartialDrive.class));
                else throw notAllowed(method, "PUT, PATCH");
            }
            case "network-interfaces" -> {
                String nid = needId(id, parts, "iface_id");
                if (method.equals("PUT")) vmm.putNetworkInterface(nid, ApiJson.parse(body, Model.NetworkInterface.class));
                else if (method.equals("PATCH")) {
                    vmm.patchNetworkInterface(nid, ApiJson.parse(body, Model.PartialNetworkInterface.class));
                } else throw notAllowed(method, "PUT, PATCH");
            }
            case "machine-config" -> {
                single(parts);
                switch (method) {
                    case "GET" -> {
                        return Response.ok(vmm.machineConfig());
                    }
                    case "PUT" -> vmm.putMachineConfig(ApiJson.parse(body, Model.MachineConfiguration.class));
                    case "PATCH" -> vmm.patchMachineConfig(ApiJson.parse(body, Model.MachineConfiguration.class));
                    default -> throw notAllowed(method, "GET, PUT, PATCH");
                }
            }
            case "actions" -> {
                single(parts);
                allow(method, "PUT");
                vmm.action(ApiJson.parse(body, Model.InstanceActionInfo.class));
            }
            case "vm" -> {
                if (parts.length == 2 && parts[1].equals("config")) {
                    allow(method, "GET");
                    return Response.ok(vmm.vmConfig());
                }
                single(parts);
                allow(method, "PATCH");
                vmm.patchVm(ApiJson.parse(body, Model.Vm.class));
            }
            case "logger" -> {
                single(parts);
                allow(method, "PUT");
                vmm.putLogger(ApiJson.parse(body, Model.Logger.class));
            }
            case "metrics" -> {
                single(parts);
                allow(method, "PUT");
                vmm.putMetrics(ApiJson.parse(body, Model.Metrics.class));
            }
            case "vsock" -> {
                single(parts);
                allow(method, "PUT");
                vmm.putVsock(ApiJson.parse(body, Model.Vsock.class));
            }
            case "entropy" -> {
                single(parts);
                allow(method, "PUT");
                vmm.putEntropy(ApiJson.parse(body, Model.EntropyDevice.class));
            }
            case "balloon" -> {
                if (parts.length == 2 && parts[1].equals("statistics")) {
                    if (method.equals("GET")) return Response.ok(vmm.balloonStats());
                    if (method.equals("PATCH")) {
                        vmm.patchBalloonStats(ApiJson.parse(body, Model.BalloonStatsUpdate.class));
                        return Response.noContent();
                    }
                    throw notAllowed(method, "GET, PATCH");
                }
                single(parts);
                switch (method) {
                    case "GET" -> {
                        return Response.ok(vmm.balloon());
                    }
                    case "PUT" -> vmm.putBalloon(ApiJson.parse(body, Model.Balloon.class));
                    case "PATCH" -> vmm.patchBalloon(ApiJson.parse(body, Model.BalloonUpdate.class));
                    default -> throw notAllowed(method, "GET, PUT, PATCH");
                }
            }
            case "snapshot" -> {
                if (parts.length == 2 && parts[1].equals("create")) {
                    allow(method, "PUT");
                    vmm.createSnapshot(ApiJson.parse(body, Model.SnapshotCreateParams.class));
                } else if (parts.length == 2 && parts[1].equals("load")) {
                    allow(method, "PUT");
                    vmm.loadSnapshot(ApiJson.parse(body, Model.SnapshotLoadParams.class));
                } else {
                    throw notFound(path);
                }
            }
            case "mmds" -> {
                if (parts.length == 2 && parts[1].equals("config")) {
                    allow(method, "PUT");
                    vmm.putMmdsConfig(ApiJson.parse(body, Model.MmdsConfig.class));
                    return Response.noContent();
                }
                single(parts);
                switch (method) {
                    case "GET" -> {
                        return Response.ok(vmm.mmds().get());
                    }
                    case "PUT" -> vmm.mmds().put(ApiJson.parse(body, JsonNode.class));
                    case "PATCH" -> vmm.mmds().patch(ApiJson.parse(body, JsonNode.class));
                    default -> throw notAllowed(method, "GET, PUT, PATCH");
                }
            }
            default -> throw notFound(path);
        }
        return Response.noContent();
    }

    private static void allow(String method, String allowed) throws ApiException {
        if (!method.equals(allowed)) throw notAllowed(method, allowed);
    }

    private static ApiException notAllowed(String method, String allowed) {
        return new ApiException(405, "Invalid request method: " + method + " (this path takes " + allowed + ").");
    }

    private static ApiException notFound(String path) {
        return new ApiException(404, "Invalid request: no such path " + path + ".");
    }

    private static void single(String[] parts) throws ApiException {
        if (parts.length != 1) throw notFound("/" + String.join("/", parts));
    }

    private static String needId(String id, String[] parts, String field) throws ApiException {
        if (id == null || id.isEmpty() || parts.length != 2) {
            throw ApiException.badRequest("Required path parameter `" + field + "` is missing or malformed.");
        }
        return id;
    }
}
