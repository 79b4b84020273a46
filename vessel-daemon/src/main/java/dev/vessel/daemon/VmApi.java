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
 * stop and restart take {@code ?gracePeriod=SECONDS}), {@code DELETE /v1/vms/{name}},
 * {@code POST /v1/vms/{name}/snapshots} ({@code {"name": SNAPSHOT}}; a running VM's memory and disks, a stopped
 * VM's hostDisks), {@code GET|DELETE /v1/vms/{name}/snapshots/{snapshot}}, {@code PUT /v1/vms/{name}/restore}
 * ({@code {"snapshot": SNAPSHOT}}), {@code PUT /v1/vms/{name}/migrate} ({@code {"to": SOCKET}}); and a
 * migration's target side, {@code POST /v1/vms/{name}/incoming} and {@code DELETE /v1/vms/{name}/incoming}. A manifest
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
            if (parts.size() == 4 && parts.get(3).equals("incoming")) return incoming(driver, method, name, body);
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
            if (parts.size() == 4 && parts.get(3).equals("snapshots")) {
                if (method.equals("GET")) return ManagementApi.Reply.json(200, Map.of("snapshots", driver.snapshots(name)));
                if (!method.equals("POST")) return notAllowed(method, "GET or POST");
                String snapshot = field(body, "name");
                driver.snapshotVm(name, snapshot);
                return ManagementApi.Reply.json(201, Map.of("result", "snapshot " + snapshot + " created", "vm", driver.get(name)));
            }
            if (parts.size() == 5 && parts.get(3).equals("snapshots")) {
                String snapshot = parts.get(4);
                return switch (method) {
                    case "GET", "HEAD" -> driver.snapshots(name).stream().filter(s -> s.name().equals(snapshot)).findFirst()
                            .map(s -> ManagementApi.Reply.json(200, s))
                            .orElseGet(() -> ManagementApi.Reply.error(404, "vm " + name + ": no snapshot named \""
                                    + ApiQuery.printable(snapshot) + "\""));
                    case "DELETE" -> {
                        driver.deleteSnapshot(name, snapshot);
                        yield ManagementApi.Reply.json(200, Map.of("result", "snapshot " + snapshot + " deleted"));
                    }
                    default -> notAllowed(method, "GET or DELETE");
                };
            }
            if (parts.size() == 4 && parts.get(3).equals("restore")) {
                if (!method.equals("PUT")) return notAllowed(method, "PUT");
                driver.restoreVm(name, field(body, "snapshot"));
                return ManagementApi.Reply.json(200, driver.get(name));
            }
            if (parts.size() == 4 && parts.get(3).equals("migrate")) {
                if (!method.equals("PUT")) return notAllowed(method, "PUT");
                String to = field(body, "to");
                if (!to.startsWith("/")) throw new OciException("field \"to\": an absolute socket path, not \"" + ApiQuery.printable(to) + "\"");
                return ManagementApi.Reply.json(200, Map.of("result", driver.migrateVm(name, MigrationClient.at(java.nio.file.Path.of(to)))));
            }
            return ManagementApi.Reply.error(404, "no such endpoint: " + ApiQuery.printable(path)
                    + " (see /v1/vms, /v1/vms/{name}, /v1/vms/{name}/start|stop|restart|pause|unpause|snapshots[/{snapshot}]|restore|migrate)");
        } catch (OciException e) {
            return badRequest(e.getMessage());
        }
    }

    /** A migration's target side: POST makes the VM and its waiting QEMU (the reply's {@code uri}), DELETE drops them. */
    private static ManagementApi.Reply incoming(VmDriver driver, String method, String name, byte[] body) {
        switch (method) {
            case "POST" -> {
                String wait = optionalField(body, "waitSeconds");
                java.time.Duration waitFor;
                try {
                    waitFor = wait == null ? null : java.time.Duration.ofSeconds(Long.parseLong(wait));
                } catch (NumberFormatException e) {
                    throw new OciException("field \"waitSeconds\": a number of seconds, not \"" + ApiQuery.printable(wait) + "\"");
                }
                String uri = driver.acceptMigration(name, optionalField(body, "uid"), optionalField(body, "created"),
                        field(body, "manifest").getBytes(StandardCharsets.UTF_8), java.nio.file.Path.of(field(body, "sourceDir")), waitFor);
                return ManagementApi.Reply.json(201, Map.of("uri", uri));
            }
            case "DELETE" -> {
                // no look before the VM's lock: a prepare still under way holds it, and its VM is there once it lets go
                driver.abortMigration(name);
                return ManagementApi.Reply.json(200, Map.of("result", "incoming migration of " + name + " dropped"));
            }
            default -> {
                return notAllowed(method, "POST or DELETE");
            }
        }
    }

    /** A string field of a JSON body; its absence is a 400 naming it. */
    private static String field(byte[] body, String name) {
        String value = optionalField(body, name);
        if (value == null || value.isEmpty()) throw new OciException("field \"" + name + "\": required (a JSON body {\"" + name + "\": …})");
        return value;
    }

    private static String optionalField(byte[] body, String name) {
        if (body == null || body.length == 0) return null;
        try {
            com.fasterxml.jackson.databind.JsonNode node = ManagementApi.JSON.readTree(body);
            com.fasterxml.jackson.databind.JsonNode v = node == null ? null : node.get(name);
            return v == null || v.isNull() ? null : v.asText();
        } catch (java.io.IOException e) {
            throw new OciException("body: not JSON (" + e.getMessage().lines().findFirst().orElse("") + ")");
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
        int status = message.contains("does not exist") && message.startsWith("vm \"") || message.contains(": no snapshot named ") ? 404
                : message.contains("already exists") ? 409 : 400;
        return ManagementApi.Reply.json(status, body);
    }

    static String field(String message) {
        java.util.regex.Matcher unknown = java.util.regex.Pattern.compile("unknown field \"([^\"]+)\"").matcher(message);
        if (unknown.find()) return unknown.group(1);
        // a manifest's own error ("manifest: PATH: …"), or a start's that names a field ("vm NAME: PATH: …", a containerDisk's image)
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("^(?:manifest|vm [a-z0-9.-]+): ((?:apiVersion|kind|metadata|spec)[^:\\s]*): ")
                .matcher(message);
        return m.find() ? m.group(1) : null;
    }

    private static ManagementApi.Reply notAllowed(String method, String allowed) {
        return ManagementApi.Reply.error(405, "method " + ApiQuery.printable(method) + " is not allowed here (use " + allowed + ")");
    }
}
