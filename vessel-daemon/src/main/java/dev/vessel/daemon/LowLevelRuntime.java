package dev.vessel.daemon;

import dev.vessel.oci.OciException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** The program that executes {@code container}-isolation containers: crun, or runc. */
public record LowLevelRuntime(Path path, boolean isCrun) {

    // Every call needs the runtime: look it up once (up to six stat calls), not on each call.
    private static final Map<String, LowLevelRuntime> RESOLVED = new ConcurrentHashMap<>();

    /** Resolves the configured name ("crun", "runc" or a path) to an executable. */
    public static LowLevelRuntime resolve(String configured) {
        LowLevelRuntime known = RESOLVED.get(configured);
        if (known != null) {
            return known;
        }
        LowLevelRuntime found = find(configured);
        RESOLVED.put(configured, found); // only a runtime found is remembered: a missing one is looked for again
        return found;
    }

    private static LowLevelRuntime find(String configured) {
        Path path = configured.contains("/") ? Path.of(configured) : dev.vessel.linux.Tools.lookup(configured).orElse(null);
        if (path == null || !Files.isExecutable(path)) {
            throw new OciException("low-level runtime \"" + configured + "\" not found: install crun (apt-get install crun)"
                    + " or set low_level_runtime in /etc/vessel/config.toml");
        }
        return new LowLevelRuntime(path, !path.getFileName().toString().contains("runc"));
    }

    /** The runtime's argv up to (not including) the subcommand, with runc's global options mapped. */
    public List<String> globalArgs(GlobalOptions global) {
        List<String> argv = new ArrayList<>();
        argv.add(path.toString());
        argv.add("--root");
        argv.add(global.root().toString());
        if (global.log() != null) {
            argv.add("--log");
            argv.add(global.log());
        }
        if (global.logFormat() != null) {
            argv.add("--log-format");
            argv.add(global.logFormat());
        }
        if (global.debug()) {
            argv.add("--debug");
        }
        boolean systemd = global.systemdCgroup() || "systemd".equals(global.cgroupManager());
        if (systemd) {
            argv.add("--systemd-cgroup");
        } else if (global.cgroupManager() != null && isCrun) {
            argv.add("--cgroup-manager");
            argv.add(global.cgroupManager());
        }
        return argv;
    }

    /** runc's global options as the caller gave them, with the state root resolved. */
    public record GlobalOptions(Path root, String log, String logFormat, boolean debug, boolean systemdCgroup,
            String cgroupManager) {}
}
