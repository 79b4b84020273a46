package dev.vessel.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vessel.linux.Command;
import dev.vessel.oci.BundleConfig;
import dev.vessel.oci.Isolation;
import dev.vessel.oci.OciException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * {@code container} isolation: namespaces and cgroups, executed by crun or runc. The client
 * execs the low-level runtime in its own place for everything that starts or touches processes,
 * so a container stays a descendant of its caller; {@code state} and {@code list} are read here
 * and shown with the bundle's own annotations and Vessel's spec version.
 */
public final class ContainerDriver implements IsolationDriver {
    /** A record younger than this without the runtime's state may still be being created. */
    static final Duration CREATE_WINDOW = Duration.ofSeconds(30);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration RUNTIME_TIMEOUT = Duration.ofSeconds(30);

    private final Supplier<Boolean> isCrun;

    /** {@code isCrun}: whether the low-level runtime reads its config from {@code --config} (crun) or the bundle (runc). */
    public ContainerDriver(Supplier<Boolean> isCrun) {
        this.isCrun = isCrun;
    }

    @Override
    public Isolation isolation() {
        return Isolation.CONTAINER;
    }

    /** Whether the low-level runtime has state for {@code id} under the root. */
    public static boolean runtimeHas(SandboxStore store, String id) {
        return Files.isDirectory(store.root().resolve(id));
    }

    /**
     * A record of a container the low-level runtime no longer knows (removed by a foreground
     * run, or a create that failed after the record was written) is stale once the creation
     * window has passed.
     */
    public static boolean isStale(SandboxStore store, SandboxRecord record) {
        if (runtimeHas(store, record.id())) return false;
        try {
            return Instant.parse(record.created()).plus(CREATE_WINDOW).isBefore(Instant.now());
        } catch (RuntimeException e) {
            return true;
        }
    }

    @Override
    public Outcome create(Context context, SandboxRecord record, CreateSpec spec) {
        // A foreground run is removed by the runtime itself when it ends: a record would only go
        // stale. While it runs, the runtime's own state stands for it (see Call#find).
        if (!spec.foreground()) context.store().save(record);
        BundleConfig config = spec.config();
        List<String> args = new ArrayList<>(context.runtimeArgv());
        args.add(spec.run() ? "run" : "create");
        args.addAll(spec.passThrough());
        if (isCrun.get()) {
            // crun reads the rewritten config from a memfd: nothing of ours to clean up if it fails.
            args.addAll(List.of("--bundle", config.bundle().toString(), "--config", "@file:0", spec.id()));
            return new Outcome.Exec(args, context.env(), List.of(config.toBytes()));
        }
        // runc reads config.json from a bundle directory, so it gets a copy that is removed as
        // soon as runc is done with it.
        Path shadow;
        try {
            shadow = Files.createTempDirectory(context.store().root(), "." + spec.id() + ".bundle");
            Files.write(shadow.resolve("config.json"), config.toBytes());
        } catch (IOException e) {
            context.store().remove(spec.id());
            throw new OciException("cannot write the bundle copy for runc in " + context.store().root() + ": " + e.getMessage());
        }
        args.addAll(List.of("--bundle", shadow.toString(), spec.id()));
        return new Outcome.Spawn(args, context.env(), status -> {
            try {
                Files.deleteIfExists(shadow.resolve("config.json"));
                Files.deleteIfExists(shadow);
            } catch (IOException e) {
                dev.vessel.linux.Log.info("cannot remove " + shadow + ": " + e.getMessage());
            }
            if (status != 0 || spec.foreground()) context.store().remove(spec.id());
            return new Outcome.Exit(status, "", "");
        });
    }

    private Outcome runtime(Context context, String subcommand, SandboxRecord record, List<String> passThrough,
            List<String> after) {
        List<String> args = new ArrayList<>(context.runtimeArgv());
        args.add(subcommand);
        args.addAll(passThrough);
        args.add(record.id());
        args.addAll(after);
        return new Outcome.Exec(args, context.env(), List.of());
    }

    @Override
    public Outcome start(Context context, SandboxRecord record) {
        return runtime(context, "start", record, List.of(), List.of());
    }

    @Override
    public OciState state(Context context, SandboxRecord record) {
        List<String> argv = new ArrayList<>(context.runtimeArgv());
        argv.addAll(List.of("state", record.id()));
        Command.Result result;
        try {
            result = Command.run(argv, "", RUNTIME_TIMEOUT);
        } catch (IOException e) {
            throw new OciException("container \"" + record.id() + "\": " + argv.getFirst() + " state: " + e.getMessage());
        }
        if (result.status() != 0) {
            throw new OciException("container \"" + record.id() + "\": " + result.firstLine());
        }
        JsonNode state;
        try {
            state = JSON.readTree(result.output());
        } catch (IOException e) {
            throw new OciException("container \"" + record.id() + "\": " + argv.getFirst() + " state printed no JSON");
        }
        return fromRuntime(state, record);
    }

    /** The runtime's view of a container, with Vessel's version and the record's bundle and annotations. */
    static OciState fromRuntime(JsonNode state, SandboxRecord record) {
        String bundle = record != null && record.bundle() != null ? record.bundle() : state.path("bundle").asText();
        return new OciState(OciState.SPEC_VERSION, state.path("id").asText(), state.path("pid").asLong(),
                state.path("status").asText(), bundle, record != null ? record.rootfs() : state.path("rootfs").asText(null),
                state.path("created").asText(), state.path("owner").asText("root"),
                record != null ? record.annotations() : java.util.Map.of());
    }

    /**
     * The client runs the runtime's state as its child (a native fork and exec: a JVM spawning it
     * costs milliseconds more) and hands its output back, shown here in Vessel's shape.
     */
    @Override
    public Outcome stateOutcome(Context context, SandboxRecord record) {
        List<String> argv = new ArrayList<>(context.runtimeArgv());
        argv.addAll(List.of("state", record.id()));
        return new Outcome.Capture(argv, context.env(), (status, stdout) -> {
            if (status != 0) return new Outcome.Exit(status, "", ""); // the runtime has said why, on stderr
            try {
                OciState state = fromRuntime(JSON.readTree(stdout), record);
                return Outcome.print(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(state) + "\n");
            } catch (IOException e) {
                throw new OciException("container \"" + record.id() + "\": " + argv.getFirst() + " state printed no JSON");
            }
        });
    }

    /**
     * Every container under the root, as {@link #list} shows them, read from crun's own state files
     * ({@code ROOT/ID/status}) instead of a {@code crun list}: what a metrics scrape asks for each
     * time, where a fork and exec of the runtime cost the daemon more than the scrape itself. The
     * status is found as crun finds it: stopped when the process is gone (or its pid reused: the start
     * time differs), created while the exec fifo is there, paused while the cgroup is frozen.
     * With runc, or a state file not in crun's shape, it asks the runtime.
     */
    public List<OciState> listFromStateFiles(Context context) {
        if (!isCrun.get()) return list(context);
        List<OciState> states = new ArrayList<>();
        dev.vessel.linux.Cgroup hierarchies = null; // the freezer's (or v2's) root, found once for every container
        try (java.nio.file.DirectoryStream<Path> dirs = Files.newDirectoryStream(context.store().root())) {
            for (Path dir : dirs) {
                String id = dir.getFileName().toString();
                Path status = dir.resolve("status");
                if (!Files.isRegularFile(status)) continue;
                JsonNode state;
                try {
                    state = JSON.readTree(Files.readAllBytes(status));
                } catch (IOException e) {
                    if (!Files.exists(dir)) continue; // deleted meanwhile
                    return list(context);
                }
                if (!state.has("pid") || !state.has("process-start-time")) return list(context);
                SandboxRecord record = context.store().load(id).orElse(null);
                if (record != null && record.isolation() != Isolation.CONTAINER) continue;
                long pid = state.path("pid").asLong();
                if (hierarchies == null) {
                    hierarchies = dev.vessel.linux.Cgroup.parse(List.of("1:freezer:/", "0::/"),
                            Files.readAllLines(Path.of("/proc/self/mountinfo")));
                }
                String now = crunStatus(dir, pid, state.path("process-start-time").asLong(),
                        freezerFile(hierarchies, state.path("cgroup-path").asText("")));
                com.fasterxml.jackson.databind.node.ObjectNode shown = state.deepCopy();
                shown.put("id", id).put("status", now).put("pid", now.equals("stopped") ? 0 : pid);
                states.add(fromRuntime(shown, record));
            }
        } catch (IOException e) {
            return List.of(); // no root (yet): no containers, as crun list says
        }
        return states;
    }

    /** A container's status from crun's state directory, the way crun's own state and list decide it. */
    static String crunStatus(Path dir, long pid, long startTime, Path freezer) {
        if (pid <= 0 || processStartTime(pid) != startTime) return "stopped";
        if (Files.exists(dir.resolve("exec.fifo"))) return "created";
        String frozen = freezer == null ? "" : dev.vessel.linux.Cgroup.readFile(freezer).orElse("");
        return frozen.equals("1") || frozen.equals("FROZEN") ? "paused" : "running";
    }

    /**
     * The file that says whether a container's cgroup is frozen: crun puts it at the same path in
     * every hierarchy (its state's cgroup-path), so the freezer's root is found once, not per container.
     */
    static Path freezerFile(dev.vessel.linux.Cgroup hierarchies, String cgroupPath) {
        if (cgroupPath.isEmpty()) return null;
        String relative = cgroupPath.startsWith("/") ? cgroupPath.substring(1) : cgroupPath;
        return hierarchies.dir("freezer")
                .map(root -> root.resolve(relative).resolve(hierarchies.isUnified() ? "cgroup.freeze" : "freezer.state"))
                .orElse(null);
    }

    /** Field 22 of /proc/PID/stat (clock ticks since boot), or -1 when there is no such process. */
    static long processStartTime(long pid) {
        try {
            return parseStartTime(Files.readString(Path.of("/proc/" + pid + "/stat")));
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** The start time in a /proc/PID/stat line; the command name (field 2) may hold spaces and parentheses. */
    static long parseStartTime(String stat) {
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ");
        return Long.parseLong(fields[19]); // fields[0] is field 3 (state)
    }

    /** Every container the low-level runtime has under the root, joined with the store's records. */
    public List<OciState> list(Context context) {
        List<String> argv = new ArrayList<>(context.runtimeArgv());
        argv.addAll(List.of("list", "--format", "json"));
        Command.Result result;
        try {
            result = Command.run(argv, "", RUNTIME_TIMEOUT);
        } catch (IOException e) {
            throw new OciException(argv.getFirst() + " list: " + e.getMessage());
        }
        if (result.status() != 0) throw new OciException(argv.getFirst() + " list: " + result.firstLine());
        List<OciState> states = new ArrayList<>();
        try {
            JsonNode list = JSON.readTree(result.output().isBlank() ? "[]" : result.output());
            for (JsonNode state : list) {
                SandboxRecord record = context.store().load(state.path("id").asText()).orElse(null);
                if (record != null && record.isolation() != Isolation.CONTAINER) continue;
                states.add(fromRuntime(state, record));
            }
        } catch (IOException e) {
            throw new OciException(argv.getFirst() + " list printed no JSON");
        }
        return states;
    }

    @Override
    public Outcome kill(Context context, SandboxRecord record, int signal, boolean all, List<String> passThrough) {
        // crun 1.8 accepts unknown signal names silently: the signal goes as a number.
        return runtime(context, "kill", record, passThrough, List.of(Integer.toString(signal)));
    }

    @Override
    public Outcome pause(Context context, SandboxRecord record, List<String> passThrough) {
        return runtime(context, "pause", record, passThrough, List.of());
    }

    @Override
    public Outcome resume(Context context, SandboxRecord record, List<String> passThrough) {
        return runtime(context, "resume", record, passThrough, List.of());
    }

    /**
     * The record goes first, then the client execs the runtime's delete: nothing is left to do
     * after it, so a daemon killed meanwhile loses nothing. Should the runtime refuse (a running
     * container without --force), the container stays and is known from the runtime's own state.
     */
    @Override
    public Outcome delete(Context context, SandboxRecord record, boolean force, List<String> passThrough) {
        context.store().remove(record.id());
        return runtime(context, "delete", record, passThrough, List.of());
    }

    /**
     * The client execs the runtime in its own place and the exec'd process is the runtime's child,
     * so it inherits the client's oom_score_adj: the process's {@code oomScoreAdj} is given to the
     * client first. runc applies it itself, crun (1.8) does not, and under Kubernetes every
     * ExecSync and exec probe carries the container's score (a 1 instead would make the
     * container's own process the OOM killer's first victim).
     */
    @Override
    public Outcome exec(Context context, SandboxRecord record, ExecSpec spec) {
        applyOomScoreAdj(spec.process(), Path.of("/proc", Long.toString(context.clientPid()), "oom_score_adj"));
        return runtime(context, "exec", record, spec.passThrough(), spec.command());
    }

    /** Writes the process's {@code oomScoreAdj} (when it has one) to {@code scoreFile}. */
    static void applyOomScoreAdj(JsonNode process, Path scoreFile) {
        if (process == null || !process.path("oomScoreAdj").canConvertToInt()) return;
        int score = process.get("oomScoreAdj").asInt();
        if (score < -1000 || score > 1000) {
            throw new OciException("exec: process.oomScoreAdj " + score + " is outside -1000..1000");
        }
        try {
            Files.writeString(scoreFile, Integer.toString(score));
        } catch (IOException e) {
            throw new OciException("exec: cannot set oom_score_adj " + score + " (" + scoreFile + "): " + e.getMessage());
        }
    }

    @Override
    public Outcome ps(Context context, SandboxRecord record, String format, List<String> psArgs, List<String> passThrough) {
        return runtime(context, "ps", record, passThrough, psArgs);
    }

    @Override
    public Outcome update(Context context, SandboxRecord record, List<String> options,
            com.fasterxml.jackson.databind.node.ObjectNode resources) {
        if (resources == null) return runtime(context, "update", record, options, List.of());
        List<String> args = new ArrayList<>(context.runtimeArgv());
        args.add("update");
        args.addAll(options);
        args.addAll(List.of("--resources", "@file:0", record.id())); // the client puts the document in a memfd
        return new Outcome.Exec(args, context.env(), List.of(resources.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    }

    @Override
    public Outcome events(Context context, SandboxRecord record, boolean once, Duration interval) {
        OciState state = state(context, record);
        if (!state.status().equals("created") && !state.status().equals("running") && !state.status().equals("paused")) {
            throw new OciException("container \"" + record.id() + "\" is not running");
        }
        CgroupEvents events = new CgroupEvents(record.id(), state.pid());
        return new Outcome.Stream(out -> events.run(once, interval, out));
    }

    /** The container's cgroup, found from its process; zeros once it has none. */
    @Override
    public SandboxStats stats(Context context, SandboxRecord record) {
        return stats(context, record, state(context, record));
    }

    @Override
    public SandboxStats stats(Context context, SandboxRecord record, OciState state) {
        if (state.pid() <= 0 || !java.util.Set.of("created", "running", "paused").contains(state.status())) {
            return SandboxStats.none(SandboxStats.CGROUP, 0);
        }
        try {
            return SandboxStats.ofCgroup(dev.vessel.linux.Cgroup.ofProcess(state.pid()), state.pid());
        } catch (IOException e) {
            return SandboxStats.none(SandboxStats.CGROUP, 0); // it exited meanwhile
        }
    }
}
