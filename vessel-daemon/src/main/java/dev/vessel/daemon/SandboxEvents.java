package dev.vessel.daemon;

import com.fasterxml.jackson.annotation.JsonInclude;
import dev.vessel.oci.Isolation;
import dev.vessel.linux.Cgroup;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * The sandboxes' life as events (create, start, pause, resume, oom, exit, delete) for the
 * management API's {@code /v1/events}: a small in-process bus, fed by a watcher that compares
 * the catalog every {@link #PERIOD} while someone listens, and by the VM driver, which tells
 * each change of a full VM as it makes it (crash and migrate besides; {@link VmService}). The OCI front end hands the
 * low-level runtime's work to the client (it execs crun), so the daemon learns how a create or
 * a start ended only from the state it leaves; polling that state is the one source that sees
 * every change, exits and changes made by other tools included.
 */
final class SandboxEvents {
    static final Duration PERIOD = Duration.ofSeconds(1);
    private static final int QUEUE = 1024;

    /** {@code reason}: why, where the type alone does not say (a full VM's exit: Stopped, PoweredOff, HostRestarted). */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record Event(String type, String id, String root, String isolation, String status, String time, String reason) {
        Event(String type, String id, String root, String isolation, String status, String time) {
            this(type, id, root, isolation, status, time, null);
        }
    }

    private final SandboxCatalog catalog;
    private final List<BlockingQueue<Event>> listeners = new CopyOnWriteArrayList<>();
    private Thread watcher;
    /** The last snapshot: (root, id) → status and OOM kills. */
    private volatile Map<List<String>, Seen> seen = new HashMap<>();

    record Seen(String status, String isolation, long ooms) {}

    SandboxEvents(SandboxCatalog catalog) {
        this.catalog = catalog;
    }

    /** A queue of the events from now on; {@link #unsubscribe} it when the listener goes. */
    synchronized BlockingQueue<Event> subscribe() {
        BlockingQueue<Event> queue = new LinkedBlockingQueue<>(QUEUE);
        if (listeners.isEmpty()) {
            seen = snapshot(); // what exists now is the baseline, not news
        }
        listeners.add(queue);
        if (watcher == null || !watcher.isAlive()) {
            watcher = Thread.ofPlatform().daemon().name("api-events").start(this::watch);
        }
        return queue;
    }

    void unsubscribe(BlockingQueue<Event> queue) {
        listeners.remove(queue);
    }

    /** Hands an event to every listener; a listener that does not keep up loses the oldest. */
    void publish(Event event) {
        for (BlockingQueue<Event> queue : listeners) {
            while (!queue.offer(event)) queue.poll();
        }
    }

    private void watch() {
        while (true) {
            try {
                Thread.sleep(PERIOD);
            } catch (InterruptedException e) {
                return;
            }
            synchronized (this) {
                if (listeners.isEmpty()) {
                    watcher = null;
                    return;
                }
            }
            try {
                Map<List<String>, Seen> now = snapshot();
                diff(seen, now).forEach(this::publish);
                seen = now;
            } catch (RuntimeException e) {
                Vesseld.log("management API: events: " + e);
            }
        }
    }

    private Map<List<String>, Seen> snapshot() {
        Map<List<String>, Seen> now = new HashMap<>();
        for (SandboxCatalog.Entry entry : catalog.list()) {
            now.put(List.of(entry.root().toString(), entry.record().id()),
                    new Seen(entry.state().status(), entry.isolation().label(), ooms(entry)));
        }
        return now;
    }

    /** A container's OOM kills so far, from its cgroup (a microVM's come from the guest: not yet). */
    private static long ooms(SandboxCatalog.Entry entry) {
        long pid = entry.state().pid();
        if (entry.isolation() != Isolation.CONTAINER || pid <= 0 || !"running".equals(entry.state().status())) return 0;
        try {
            Cgroup cgroup = Cgroup.ofProcess(pid);
            return cgroup.isUnified() ? cgroup.readKeyed("memory", "memory.events").getOrDefault("oom_kill", 0L)
                    : cgroup.readKeyed("memory", "memory.oom_control").getOrDefault("oom_kill", 0L);
        } catch (java.io.IOException | RuntimeException e) {
            return 0;
        }
    }

    /** The events that lead from one snapshot to the next, in the order they must have happened. */
    static List<Event> diff(Map<List<String>, Seen> before, Map<List<String>, Seen> after) {
        List<Event> events = new ArrayList<>();
        String time = Instant.now().toString();
        after.forEach((key, now) -> {
            Seen was = before.get(key);
            String root = key.get(0);
            String id = key.get(1);
            String from = was == null ? null : was.status();
            if (was == null) events.add(new Event("create", id, root, now.isolation(), now.status(), time));
            if (now.status().equals(from)) {
                if (was.ooms() < now.ooms()) events.add(new Event("oom", id, root, now.isolation(), now.status(), time));
                return;
            }
            boolean wasStarted = "running".equals(from) || "paused".equals(from);
            switch (now.status()) {
                case "running" -> events.add(new Event("paused".equals(from) ? "resume" : "start", id, root, now.isolation(),
                        now.status(), time));
                case "paused" -> {
                    if (!wasStarted) events.add(new Event("start", id, root, now.isolation(), "running", time));
                    events.add(new Event("pause", id, root, now.isolation(), now.status(), time));
                }
                // from any other state (a process that ran and ended between two looks included)
                case "stopped" -> events.add(new Event("exit", id, root, now.isolation(), now.status(), time));
                default -> { } // creating → created: the create event said it
            }
        });
        before.forEach((key, was) -> {
            if (after.containsKey(key)) return;
            if ("running".equals(was.status()) || "paused".equals(was.status())) {
                events.add(new Event("exit", key.get(1), key.get(0), was.isolation(), "stopped", time));
            }
            events.add(new Event("delete", key.get(1), key.get(0), was.isolation(), null, time));
        });
        return events;
    }
}
