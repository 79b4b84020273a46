package dev.vessel.daemon;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The management API and the metrics, started by {@link Vesseld} at boot (so a restarted daemon
 * serves them again). Neither is needed to serve the clients: a failure of either is one line in
 * the log and in {@code vessel doctor}, and the daemon goes on.
 */
final class ManagementPlane {
    private static volatile String apiLine = "management API: not started";
    private static volatile String metricsLine = "metrics: off (set metrics_address in the config)";

    private ManagementPlane() {
    }

    static void start(Path vesseldSocket, Settings settings, Call.Drivers drivers) {
        SandboxCatalog catalog = new SandboxCatalog(drivers, settings);
        Path socket = ManagementServer.socketNextTo(vesseldSocket);
        try {
            SandboxEvents events = new SandboxEvents(catalog);
            VmService.publishTo(events);
            ManagementServer.start(socket, new ManagementApi(catalog), events);
            apiLine = "management API: " + socket + " (root only)";
            Vesseld.log("serving the management API on " + socket);
        } catch (IOException | RuntimeException e) {
            apiLine = "management API: unavailable: " + e.getMessage();
            Vesseld.log(apiLine);
        }
        if (settings.metricsAddress() != null) {
            SandboxMetrics.Started metrics = SandboxMetrics.start(settings.metricsAddress(), catalog);
            if (metrics.problem() != null) {
                metricsLine = "metrics: " + metrics.problem();
            } else {
                metricsLine = "metrics: http://" + settings.metricsAddress() + "/metrics";
            }
            Vesseld.log(metricsLine);
        }
    }

    static List<String> doctorLines() {
        List<String> lines = new ArrayList<>();
        lines.add(apiLine);
        lines.add(metricsLine);
        return lines;
    }
}
