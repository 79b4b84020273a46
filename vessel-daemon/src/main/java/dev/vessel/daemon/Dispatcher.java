package dev.vessel.daemon;

import dev.vessel.oci.OciException;
import dev.vessel.oci.ViewPlan;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Routes a client call to the OCI command line or to Vessel's own commands, and reports failures. */
final class Dispatcher {
    static final String VERSION = "0.1.0";

    private final Settings settings;
    private final Path configFile;
    private final ViewPlan view;
    private Vesseld daemon;
    private volatile String runtimeVersion;

    Dispatcher(Settings settings, Path configFile, ViewPlan view) {
        this.settings = settings;
        this.configFile = configFile;
        this.view = view;
    }

    void attach(Vesseld daemon) {
        this.daemon = daemon;
    }

    void handle(Protocol.Request request, Protocol.Replier reply) throws IOException {
        Call call = new Call(request, reply, settings, view);
        try {
            List<String> args = request.args();
            if (!args.isEmpty() && args.getFirst().equals("daemon")) {
                daemonCommand(call, args);
            } else {
                OciCli.run(call, this);
            }
        } catch (OciException | UncheckedIOException e) {
            fail(call, e.getMessage());
        } catch (IOException e) {
            fail(call, e.toString());
        }
    }

    /** One line on stderr (and in the --log file, as runc does), then a non-zero exit. */
    private static void fail(Call call, String message) throws IOException {
        if (call.global != null) {
            RuntimeLog.write(call.global.log(), call.global.logFormat(), "error", message);
        }
        call.reply.stderr("vessel: " + message + "\n");
        call.reply.exit(1);
    }

    private void daemonCommand(Call call, List<String> args) throws IOException {
        String what = args.size() > 1 ? args.get(1) : "";
        long pid = ProcessHandle.current().pid();
        switch (what) {
            case "start", "status" -> call.print(pid + "\n");
            case "stop" -> {
                daemon.closeListener();
                call.print("vesseld " + pid + " stopped\n");
                call.reply.exit(0);
                System.exit(0);
            }
            default -> throw new OciException("daemon: unknown command \"" + what + "\" (use start, stop or status)");
        }
        call.reply.exit(0);
    }

    String versionText() {
        return "vessel version " + VERSION + "\nspec: 1.2.0\nconfig: " + configFile + "\nlow-level runtime: "
                + lowLevelRuntimeVersion() + "\n";
    }

    private String lowLevelRuntimeVersion() {
        if (runtimeVersion == null) {
            try {
                LowLevelRuntime runtime = LowLevelRuntime.resolve(settings.lowLevelRuntime());
                Process p = new ProcessBuilder(runtime.path().toString(), "--version").redirectErrorStream(true).start();
                String first = new String(p.getInputStream().readAllBytes()).lines().findFirst().orElse("?");
                p.waitFor(5, TimeUnit.SECONDS);
                runtimeVersion = runtime.path() + " (" + first + ")";
            } catch (IOException | OciException e) {
                return "unavailable: " + e.getMessage();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return "unavailable";
            }
        }
        return runtimeVersion;
    }
}
