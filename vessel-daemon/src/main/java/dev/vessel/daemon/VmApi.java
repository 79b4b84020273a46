package dev.vessel.daemon;

import dev.vessel.oci.OciException;
import dev.vessel.runtime.vm.VmDriver;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The management API's VMs (docs/management-api.yaml, "vms"): virtctl's verbs over HTTP.
 * {@code GET /v1/vms}, {@code GET /v1/vms/{name}} (the manifest with KubeVirt's status),
 * {@code POST /v1/vms} (a VirtualMachine manifest, YAML or JSON: kubectl apply),
 * {@code PUT /v1/vms/{name}/start|stop|restart|pause|unpause} (KubeVirt's subresource names;
 * stop and restart take {@code ?gracePeriod=SECONDS}), {@code DELETE /v1/vms/{name}}. A manifest
 * refused is a 400 naming the field ({@code field}: its path, when the message has one).
 */
final class VmApi {
    static final Set<String> VERBS = Set.of("start", "stop", "restart", "pause", "unpause");

    private VmApi() {}

    static boolean handles(String path) {
        List<String> parts = ApiQuery.split(path);
        return parts.size() >= 2 && parts.get(0).equals("v1") && parts.get(1).equals("vms");
    }

    static ManagementApi.Reply handle(VmDriver driver, String method, String path, String rawQuery, byte[] body) {
        List<String> parts = ApiQuery.split(path);
        try {
            Long grace = grace(rawQuery);
            if (parts.size() == 2) {
                return switch (method) {
                    case "GET", "HEAD" -> ManagementApi.Reply.json(200, Map.of("vms", driver.summaries()));
                    case "POST" -> {
                        String line = driver.apply(body, "manifest", false);
                        String name = line.substring(line.indexOf('/') + 1, line.indexOf(' '));
                        yield ManagementApi.Reply.json(line.endsWith("created") ? 201 : 200,
                                Map.of("result", line, "vm", driver.get(name)));
                    }
                    default -> notAllowed(method, "GET or POST");
                };
            }
            String name = parts.get(2);
            if (!driver.exists(name)) return ManagementApi.Reply.error(404, "vm \"" + ApiQuery.printable(name) + "\" does not exist");
            if (parts.size() == 3) {
                return switch (method) {
                    case "GET", "HEAD" -> ManagementApi.Reply.json(200, driver.get(name));
                    case "DELETE" -> {
                        driver.deleteVm(name, grace);
                        yield ManagementApi.Reply.json(200, Map.of("result", "virtualmachine.kubevirt.io \"" + name + "\" deleted"));
                    }
                    default -> notAllowed(method, "GET or DELETE");
                };
            }
            if (parts.size() == 4 && VERBS.contains(parts.get(3))) {
                if (!method.equals("PUT")) return notAllowed(method, "PUT");
                switch (parts.get(3)) {
                    case "start" -> driver.startVm(name);
                    case "stop" -> driver.stopVm(name, grace);
                    case "restart" -> driver.restartVm(name, grace);
                    case "pause" -> driver.pauseVm(name, true);
                    default -> driver.pauseVm(name, false);
                }
                return ManagementApi.Reply.json(202, driver.get(name));
            }
            return ManagementApi.Reply.error(404, "no such endpoint: " + ApiQuery.printable(path)
                    + " (see /v1/vms, /v1/vms/{name}, /v1/vms/{name}/start|stop|restart|pause|unpause)");
        } catch (OciException e) {
            return badRequest(e.getMessage());
        }
    }

    private static Long grace(String rawQuery) {
        if (rawQuery == null || rawQuery.isEmpty()) return null;
        Long grace = null;
        for (String pair : rawQuery.split("&")) {
            String[] kv = pair.split("=", 2);
            String value = kv.length == 2 ? java.net.URLDecoder.decode(kv[1], StandardCharsets.UTF_8) : "";
            if (!kv[0].equals("gracePeriod")) throw new OciException("unknown query parameter \"" + ApiQuery.printable(kv[0]) + "\" (use gracePeriod)");
            try {
                grace = Long.parseLong(value);
                if (grace < 0) throw new NumberFormatException();
            } catch (NumberFormatException e) {
                throw new OciException("query parameter \"gracePeriod\": not a number of seconds: \"" + ApiQuery.printable(value) + "\"");
            }
        }
        return grace;
    }

    /** 400 with the message and, where it names one, the field path (kubectl's "PATH: Reason" or unknown field "PATH"). */
    static ManagementApi.Reply badRequest(String message) {
        var body = ManagementApi.JSON.createObjectNode().put("error", message);
        String field = field(message);
        if (field != null) body.put("field", field);
        int status = message.contains("does not exist") && message.startsWith("vm \"") ? 404
                : message.contains("already exists") ? 409 : 400;
        return ManagementApi.Reply.json(status, body);
    }

    static String field(String message) {
        java.util.regex.Matcher unknown = java.util.regex.Pattern.compile("unknown field \"([^\"]+)\"").matcher(message);
        if (unknown.find()) return unknown.group(1);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("^manifest: ((?:apiVersion|kind|metadata|spec)[^:\\s]*): ").matcher(message);
        return m.find() ? m.group(1) : null;
    }

    private static ManagementApi.Reply notAllowed(String method, String allowed) {
        return ManagementApi.Reply.error(405, "method " + ApiQuery.printable(method) + " is not allowed here (use " + allowed + ")");
    }
}
