package dev.vessel.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vessel.linux.Command;
import dev.vessel.linux.Log;
import dev.vessel.linux.Tools;
import dev.vessel.oci.OciException;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A microVM's OCI hooks that run on the host, in the runtime's namespaces, as the runtime spec
 * says: {@code prestart} and {@code createRuntime} during create (a failure fails the create,
 * naming the hook), {@code poststart} after start and {@code poststop} after delete (a failure
 * is logged). Each gets the container's state on its stdin, its own {@code env} only, its
 * {@code args[0]} as its argv[0] (dockerd's libnetwork-setkey is chosen by it) and its
 * {@code timeout}. {@code createContainer} and {@code startContainer} would run inside the
 * container: in a guest there is no host binary to run, so they are logged and left out.
 */
final class OciHooks {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** A hook with no timeout of its own: generous, but a hung one cannot hang create forever. */
    static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(120);

    private OciHooks() {}

    /** Whether the config has hooks of any of these kinds. */
    static boolean any(JsonNode config, String... kinds) {
        for (String k : kinds) if (config.path("hooks").path(k).size() > 0) return true;
        return false;
    }

    /** Runs the hooks of these kinds, in order; the first failure throws, naming it. */
    static void runOrFail(String id, JsonNode config, OciState state, String... kinds) {
        for (String kind : kinds) {
            String failure = run(config.path("hooks").path(kind), state);
            if (failure != null) throw new OciException("container \"" + id + "\": " + kind + " hook " + failure);
        }
    }

    /** Runs the hooks of this kind; a failure is logged only (poststart, poststop). */
    static void runAndLog(String id, JsonNode config, OciState state, String kind) {
        String failure = run(config.path("hooks").path(kind), state);
        if (failure != null) Log.info("microvm " + id + ": " + kind + " hook " + failure);
    }

    /** The hooks of a kind the guest cannot run: said once in the log. */
    static void logUnsupported(String id, JsonNode config) {
        for (String kind : List.of("createContainer", "startContainer")) {
            if (any(config, kind)) {
                Log.info("microvm " + id + ": " + kind + " hooks run in the container's namespaces, which are a guest's: not run");
            }
        }
    }

    /** Null when every hook succeeded, else what went wrong with the first that did not. */
    private static String run(JsonNode hooks, OciState state) {
        String input;
        try {
            input = JSON.writeValueAsString(state);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        for (JsonNode hook : hooks) {
            String path = hook.path("path").asText("");
            if (path.isEmpty()) return "with no path";
            List<String> args = new ArrayList<>();
            hook.path("args").forEach(a -> args.add(a.asText()));
            // env -i: the hook's env only
            List<String> argv = new ArrayList<>(List.of(Tools.find("env"), "-i"));
            hook.path("env").forEach(e -> argv.add(e.asText()));
            // perl's exec {PATH} ARGV0, ARGS: argv[0] as the hook says, the environment untouched
            // (bash's exec -a would add SHLVL); perl-base is essential on Debian
            argv.addAll(List.of(Tools.find("perl"), "-e", "my $p = shift; exec {$p} @ARGV or die \"$p: $!\\n\"", path,
                    args.isEmpty() ? path : args.getFirst()));
            if (args.size() > 1) argv.addAll(args.subList(1, args.size()));
            Duration timeout = hook.path("timeout").asInt(0) > 0 ? Duration.ofSeconds(hook.path("timeout").asInt())
                    : DEFAULT_TIMEOUT;
            try {
                Command.Result r = Command.run(argv, input, timeout);
                if (r.status() != 0) return path + " failed: " + r.firstLine();
            } catch (Command.TimeoutException e) {
                return path + " did not finish within " + timeout.toSeconds() + " s";
            } catch (IOException e) {
                return path + " could not run: " + e.getMessage();
            }
        }
        return null;
    }
}
