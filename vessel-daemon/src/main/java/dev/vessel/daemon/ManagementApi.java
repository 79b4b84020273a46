package dev.vessel.daemon;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vessel.oci.OciException;
import dev.vessel.runtime.SandboxStats;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The management API's requests, transport aside (docs/management-api.yaml): read-only views of
 * every sandbox. {@link ManagementServer} carries them over HTTP on vesseld's Unix socket.
 */
final class ManagementApi {
    static final ObjectMapper JSON = new ObjectMapper();
    static final Set<String> LIST_PARAMETERS = Set.of("isolation", "status", "annotation", "root");
    static final Set<String> ONE_PARAMETERS = Set.of("root");
    static final Set<String> EVENT_PARAMETERS = Set.of("isolation", "root");
    /** How long a stats request waits for a driver (a guest's agent may not answer). */
    static final Duration STATS_BOUND = Duration.ofSeconds(5);

    /** An answer: the status and its JSON body. */
    record Reply(int status, byte[] body) {
        static Reply json(int status, Object value) {
            try {
                return new Reply(status, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(value));
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new IllegalStateException(e);
            }
        }

        static Reply error(int status, String message) {
            return json(status, JSON.createObjectNode().put("error", message));
        }
    }

    private final SandboxCatalog catalog;
    private final ExecutorService statsThreads = Executors.newCachedThreadPool(
            Thread.ofPlatform().daemon().name("api-stats-", 0).factory());

    ManagementApi(SandboxCatalog catalog) {
        this.catalog = catalog;
    }

    SandboxCatalog catalog() {
        return catalog;
    }

    /** Whether the path is the event stream (served as server-sent events, not one reply). */
    static boolean isEvents(String path) {
        return "/v1/events".equals(stripSlash(path));
    }

    Reply handle(String method, String path, String rawQuery) {
        try {
            if (!method.equals("GET") && !method.equals("HEAD")) {
                return Reply.error(405, "method " + ApiQuery.printable(method) + " is not allowed: this API is read-only");
            }
            List<String> parts = ApiQuery.split(path);
            if (parts.size() < 2 || !parts.get(0).equals("v1") || !parts.get(1).equals("sandboxes") || parts.size() > 4
                    || (parts.size() == 4 && !parts.get(3).equals("stats"))) {
                return Reply.error(404, "no such endpoint: " + ApiQuery.printable(path)
                        + " (see GET /v1/sandboxes, /v1/sandboxes/{id}, /v1/sandboxes/{id}/stats, /v1/events)");
            }
            if (parts.size() == 2) return list(ApiQuery.parse(rawQuery, LIST_PARAMETERS));
            ApiQuery query = ApiQuery.parse(rawQuery, ONE_PARAMETERS);
            String id = parts.get(2);
            return switch (catalog.find(id, query.root())) {
                case SandboxCatalog.Lookup.Missing m -> {
                    var vm = query.root() == null && VmService.started()
                            ? VmService.driver().summaries().stream().filter(v -> v.name().equals(id)).findFirst() : java.util.Optional.<dev.vessel.runtime.vm.VmDriver.Summary>empty();
                    if (vm.isPresent()) {
                        // a full VM: its sandbox entry; its stats and the rest are under /v1/vms/{name}
                        yield parts.size() == 3 ? Reply.json(200, vmSandbox(vm.get()))
                                : Reply.error(404, "sandbox \"" + id + "\" is a full VM: no stats here yet (see /v1/vms/" + id + ")");
                    }
                    yield Reply.error(404, "sandbox \"" + ApiQuery.printable(id) + "\" does not exist"
                            + (query.root() == null ? "" : " under --root " + query.root()));
                }
                case SandboxCatalog.Lookup.Ambiguous a -> {
                    ObjectNode body = JSON.createObjectNode().put("error", "sandbox \"" + id + "\" exists under several roots ("
                            + String.join(", ", a.roots().stream().map(Path::toString).toList()) + "): add ?root=");
                    a.roots().forEach(r -> body.withArray("roots").add(r.toString()));
                    yield Reply.json(409, body);
                }
                case SandboxCatalog.Lookup.Found f -> parts.size() == 3 ? Reply.json(200, SandboxInfo.detail(f.entry())) : stats(f.entry());
            };
        } catch (ApiQuery.BadQuery e) {
            return Reply.json(400, JSON.createObjectNode().put("error", e.getMessage()).put("parameter", e.parameter()));
        } catch (RuntimeException e) {
            Vesseld.log("management API: " + method + " " + path + ": " + e);
            return Reply.error(500, "internal error: " + e.getMessage());
        }
    }

    private Reply list(ApiQuery query) {
        List<SandboxCatalog.Entry> entries = query.root() != null ? catalog.list(query.root()) : catalog.list();
        java.util.stream.Stream<SandboxInfo> vms = query.root() == null && VmService.started()
                ? VmService.driver().summaries().stream().map(ManagementApi::vmSandbox) : java.util.stream.Stream.empty();
        List<SandboxInfo> shown = java.util.stream.Stream.concat(entries.stream().map(SandboxInfo::summary), vms)
                .filter(s -> query.matches(s.isolation(), s.status(), s.annotations()))
                .sorted(java.util.Comparator.comparing(SandboxInfo::created, java.util.Comparator.nullsFirst(String::compareTo))
                        .thenComparing(SandboxInfo::id))
                .toList();
        return Reply.json(200, JSON.createObjectNode().set("sandboxes", JSON.valueToTree(shown)));
    }

    /** A full VM as a sandbox of isolation {@code vm}: its name, QEMU's pid, a status of the sandbox model. */
    static SandboxInfo vmSandbox(dev.vessel.runtime.vm.VmDriver.Summary vm) {
        String status = switch (vm.printableStatus()) {
            case "Running", "Migrating", "Stopping", "Terminating" -> "running";
            case "Paused" -> "paused";
            case "Starting" -> "creating";
            default -> "stopped";
        };
        return new SandboxInfo(vm.name(), VmService.driver().root().toString(), "vm", status, vm.pid(), null, vm.created(), "root",
                null, java.util.Map.of(), null, null, vm.pid() > 0 ? vm.pid() : null, null);
    }

    private Reply stats(SandboxCatalog.Entry entry) {
        try {
            SandboxStats stats = stats(entry, STATS_BOUND);
            ObjectNode body = JSON.createObjectNode().put("id", entry.record().id()).put("root", entry.root().toString())
                    .put("isolation", entry.isolation().label()).put("status", entry.state().status())
                    .put("time", Instant.now().toString());
            body.set("stats", JSON.valueToTree(stats));
            return Reply.json(200, body);
        } catch (TimeoutException e) {
            return Reply.error(503, "the stats of \"" + entry.record().id() + "\" did not come within " + STATS_BOUND.toSeconds() + " s");
        } catch (OciException e) {
            return Reply.error(503, e.getMessage()); // a guest that cannot report (paused, its agent gone)
        }
    }

    /** A driver's stats of one sandbox, waited for at most {@code bound}. */
    SandboxStats stats(SandboxCatalog.Entry entry, Duration bound) throws TimeoutException {
        Future<SandboxStats> future = statsThreads.submit(() -> catalog.driver(entry.isolation())
                .stats(catalog.context(entry.root()), entry.record(), entry.state()));
        try {
            return future.get(bound.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TimeoutException("interrupted");
        } catch (TimeoutException e) {
            future.cancel(true);
            throw e;
        }
    }

    private static String stripSlash(String path) {
        return path.length() > 1 && path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
    }
}
