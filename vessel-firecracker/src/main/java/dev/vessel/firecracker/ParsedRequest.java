package dev.vessel.firecracker;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * (method, path, body) → a {@link VmmAction}, as Firecracker's {@code parsed_request.rs}: the
 * route, the method, the body's shape and values, the ids in the path (and that they are the
 * body's) are all checked here, so that a controller is handed only a well-formed action. Nothing
 * here looks at the VM's state or the host: that is the controllers' part. Every refusal is an
 * {@link ApiException} (400, 404 or 405) whose message names what was wrong.
 */
public final class ParsedRequest {
    /** Firecracker's limit on a resource id. */
    static final int MAX_ID_LENGTH = 64;

    private ParsedRequest() {
    }

    /** {@code rawPath} as it came on the request line (percent-encoded, no query needed). */
    public static VmmAction parse(String method, String rawPath, byte[] body) throws ApiException {
        if (body.length > ApiJson.maxBody()) throw ApiJson.tooLarge(body.length);
        List<String> parts = segments(rawPath);
        String top = parts.isEmpty() ? "" : parts.getFirst();
        String path = "/" + String.join("/", parts);
        return switch (top) {
            case "" -> {
                allow(method, "GET");
                yield new VmmAction.GetInstanceInfo();
            }
            case "version" -> {
                single(parts, path);
                allow(method, "GET");
                yield new VmmAction.GetVersion();
            }
            case "boot-source" -> {
                single(parts, path);
                allow(method, "PUT");
                yield new VmmAction.ConfigureBootSource(ApiJson.parse(body, Model.BootSource.class));
            }
            case "drives" -> {
                String id = pathId(parts, "drive_id");
                yield switch (method) {
                    case "PUT" -> {
                        Model.Drive d = ApiJson.parse(body, Model.Drive.class);
                        sameId(id, d.driveId(), "drive_id");
                        yield new VmmAction.InsertBlockDevice(d);
                    }
                    case "PATCH" -> {
                        Model.PartialDrive d = ApiJson.parse(body, Model.PartialDrive.class);
                        sameId(id, d.driveId(), "drive_id");
                        yield new VmmAction.UpdateBlockDevice(d);
                    }
                    default -> throw notAllowed(method, "PUT, PATCH");
                };
            }
            case "network-interfaces" -> {
                String id = pathId(parts, "iface_id");
                yield switch (method) {
                    case "PUT" -> {
                        Model.NetworkInterface n = ApiJson.parse(body, Model.NetworkInterface.class);
                        sameId(id, n.ifaceId(), "iface_id");
                        yield new VmmAction.InsertNetworkDevice(n);
                    }
                    case "PATCH" -> {
                        Model.PartialNetworkInterface n = ApiJson.parse(body, Model.PartialNetworkInterface.class);
                        sameId(id, n.ifaceId(), "iface_id");
                        yield new VmmAction.UpdateNetworkInterface(n);
                    }
                    default -> throw notAllowed(method, "PUT, PATCH");
                };
            }
            case "machine-config" -> {
                single(parts, path);
                yield switch (method) {
                    case "GET" -> new VmmAction.GetMachineConfig();
                    case "PUT" -> {
                        Model.MachineConfiguration m = ApiJson.parse(body, Model.MachineConfiguration.class);
                        Model.require(m.vcpuCount(), "vcpu_count");
                        Model.require(m.memSizeMib(), "mem_size_mib");
                        yield new VmmAction.SetMachineConfig(m);
                    }
                    case "PATCH" -> new VmmAction.UpdateMachineConfig(ApiJson.parse(body, Model.MachineConfiguration.class));
                    default -> throw notAllowed(method, "GET, PUT, PATCH");
                };
            }
            case "actions" -> {
                single(parts, path);
                allow(method, "PUT");
                yield switch (ApiJson.parse(body, Model.InstanceActionInfo.class).actionType()) {
                    case "InstanceStart" -> new VmmAction.StartMicroVm();
                    case "SendCtrlAltDel" -> new VmmAction.SendCtrlAltDel();
                    case "FlushMetrics" -> new VmmAction.FlushMetrics();
                    default -> throw new IllegalStateException("InstanceActionInfo.validate lets only known actions by");
                };
            }
            case "vm" -> {
                if (parts.size() == 2 && parts.get(1).equals("config")) {
                    allow(method, "GET");
                    yield new VmmAction.GetFullVmConfig();
                }
                single(parts, path);
                allow(method, "PATCH");
                yield ApiJson.parse(body, Model.Vm.class).state().equals("Paused")
                        ? new VmmAction.Pause() : new VmmAction.Resume();
            }
            case "logger" -> {
                single(parts, path);
                allow(method, "PUT");
                yield new VmmAction.ConfigureLogger(ApiJson.parse(body, Model.Logger.class));
            }
            case "metrics" -> {
                single(parts, path);
                allow(method, "PUT");
                yield new VmmAction.ConfigureMetrics(ApiJson.parse(body, Model.Metrics.class));
            }
            case "vsock" -> {
                single(parts, path);
                allow(method, "PUT");
                yield new VmmAction.SetVsockDevice(ApiJson.parse(body, Model.Vsock.class));
            }
            case "entropy" -> {
                single(parts, path);
                allow(method, "PUT");
                yield new VmmAction.SetEntropyDevice(ApiJson.parse(body, Model.EntropyDevice.class));
            }
            case "balloon" -> {
                if (parts.size() == 2 && parts.get(1).equals("statistics")) {
                    yield switch (method) {
                        case "GET" -> new VmmAction.GetBalloonStats();
                        case "PATCH" -> new VmmAction.UpdateBalloonStatistics(ApiJson.parse(body, Model.BalloonStatsUpdate.class));
                        default -> throw notAllowed(method, "GET, PATCH");
                    };
                }
                single(parts, path);
                yield switch (method) {
                    case "GET" -> new VmmAction.GetBalloonConfig();
                    case "PUT" -> new VmmAction.SetBalloonDevice(ApiJson.parse(body, Model.Balloon.class));
                    case "PATCH" -> new VmmAction.UpdateBalloon(ApiJson.parse(body, Model.BalloonUpdate.class));
                    default -> throw notAllowed(method, "GET, PUT, PATCH");
                };
            }
            case "snapshot" -> {
                String what = parts.size() == 2 ? parts.get(1) : "";
                yield switch (what) {
                    case "create" -> {
                        allow(method, "PUT");
                        yield new VmmAction.CreateSnapshot(ApiJson.parse(body, Model.SnapshotCreateParams.class));
                    }
                    case "load" -> {
                        allow(method, "PUT");
                        yield new VmmAction.LoadSnapshot(ApiJson.parse(body, Model.SnapshotLoadParams.class));
                    }
                    default -> throw notFound(path);
                };
            }
            case "mmds" -> {
                if (parts.size() == 2 && parts.get(1).equals("config")) {
                    allow(method, "PUT");
                    yield new VmmAction.SetMmdsConfig(ApiJson.parse(body, Model.MmdsConfig.class));
                }
                single(parts, path);
                yield switch (method) {
                    case "GET" -> new VmmAction.GetMmds();
                    case "PUT" -> new VmmAction.PutMmds(ApiJson.parse(body, JsonNode.class));
                    case "PATCH" -> new VmmAction.PatchMmds(ApiJson.parse(body, JsonNode.class));
                    default -> throw notAllowed(method, "GET, PUT, PATCH");
                };
            }
            default -> throw notFound(path);
        };
    }

    /**
     * The path's segments, percent-decoded. One trailing slash is allowed (curl users type it);
     * empty segments ({@code //}), {@code .} and {@code ..} (also encoded, {@code %2e%2e}) and
     * malformed escapes are refused rather than normalised: a path means one resource, as written.
     */
    static List<String> segments(String rawPath) throws ApiException {
        String path = rawPath == null ? "" : rawPath;
        int q = path.indexOf('?');
        if (q >= 0) path = path.substring(0, q);
        if (!path.startsWith("/")) throw ApiException.badRequest("Invalid request: the path must start with `/`.");
        if (path.contains("//")) throw ApiException.badRequest("Invalid request: the path " + printable(rawPath) + " has an empty segment.");
        if (path.length() > 1 && path.endsWith("/")) path = path.substring(0, path.length() - 1);
        List<String> parts = new ArrayList<>();
        if (path.equals("/")) return parts;
        for (String raw : path.substring(1).split("/", -1)) {
            String s = decode(raw);
            if (s.isEmpty()) throw ApiException.badRequest("Invalid request: the path " + printable(rawPath) + " has an empty segment.");
            if (s.equals(".") || s.equals("..")) {
                throw ApiException.badRequest("Invalid request: the path " + printable(rawPath) + " has a `" + s
                        + "` segment (paths are not normalised).");
            }
            parts.add(s);
        }
        return parts;
    }

    /** Percent-decoding of one segment (UTF-8); a bad escape or bad UTF-8 is a 400. */
    private static String decode(String raw) throws ApiException {
        if (raw.indexOf('%') < 0) return raw;
        ByteArrayOutputStream out = new ByteArrayOutputStream(raw.length());
        int i = 0;
        while (i < raw.length()) {
            int pct = raw.indexOf('%', i);
            if (pct < 0) pct = raw.length();
            out.writeBytes(raw.substring(i, pct).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            if (pct == raw.length()) break;
            int hi = pct + 2 < raw.length() ? Character.digit(raw.charAt(pct + 1), 16) : -1;
            int lo = hi >= 0 ? Character.digit(raw.charAt(pct + 2), 16) : -1;
            if (hi < 0 || lo < 0) throw ApiException.badRequest("Invalid request: a malformed %-escape in the path.");
            out.write(hi * 16 + lo);
            i = pct + 3;
        }
        try {
            return java.nio.charset.StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(out.toByteArray())).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw ApiException.badRequest("Invalid request: the path is not UTF-8 once decoded.");
        }
    }

    /** A path for an error message: control characters escaped, long ones cut. */
    static String printable(String s) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            if (b.length() >= 200) return b.append("…").toString();
            if (c < 0x20 || c == 0x7f) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.toString();
    }

    /** The {@code {id}} of {@code /drives/{id}}: present, alone, and a valid id. */
    private static String pathId(List<String> parts, String field) throws ApiException {
        if (parts.size() != 2) throw ApiException.badRequest("Required path parameter `" + field + "` is missing or malformed.");
        String id = parts.get(1);
        checkId(id, "path parameter `" + field + "`");
        return id;
    }

    /**
     * Firecracker's rule for resource ids: 1 to 64 characters, letters, digits or {@code _}
     * (ASCII here: an id ends up in file and device names).
     */
    static void checkId(String id, String what) throws ApiException {
        if (id.isEmpty() || id.length() > MAX_ID_LENGTH) {
            throw ApiException.badRequest("Invalid ID in " + what + ": " + id.length() + " characters (1 to " + MAX_ID_LENGTH + " allowed).");
        }
        for (int i = 0; i < id.length(); i++) {
            char c = id.charAt(i);
            if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
                throw ApiException.badRequest("Invalid ID in " + what + ": `" + printable(id)
                        + "` (only letters, digits and `_` are allowed).");
            }
        }
    }

    private static void sameId(String pathId, String bodyId, String field) throws ApiException {
        if (!pathId.equals(bodyId)) {
            throw ApiException.badRequest("The id from the path does not match the id from the body! (`" + field + "` is `"
                    + printable(bodyId) + "`, the path says `" + pathId + "`)");
        }
    }

    private static void allow(String method, String allowed) throws ApiException {
        if (!method.equals(allowed)) throw notAllowed(method, allowed);
    }

    private static ApiException notAllowed(String method, String allowed) {
        return new ApiException(405, "Invalid request method: " + printable(method) + " (this path takes " + allowed + ").");
    }

    private static ApiException notFound(String path) {
        return new ApiException(404, "Invalid request: no such path " + printable(path) + ".");
    }

    private static void single(List<String> parts, String path) throws ApiException {
        if (parts.size() != 1) throw notFound(path);
    }
}
