package dev.vessel.runtime;

import dev.vessel.oci.BundleConfig;
import dev.vessel.oci.Isolation;
import java.time.Duration;
import java.util.List;

/**
 * One isolation's way of running sandboxes (crun's custom handlers, youki's {@code Container}).
 * The isolation is decided once, at create, and kept in the sandbox's {@link SandboxRecord};
 * every later operation goes to that record's driver, under the record's lock. Operations return
 * an {@link Outcome} for the front end to carry out; {@code passThrough} is the caller's options
 * as spelt for a runc-compatible low-level runtime.
 */
public interface IsolationDriver {
    Isolation isolation();

    /** What create and run are given: {@code run} also starts it; {@code detach}: run -d. */
    record CreateSpec(String id, BundleConfig config, String pidFile, String consoleSocket, boolean run, boolean detach,
            List<String> passThrough) {
        /** run without -d: the caller waits for the process, then the sandbox is removed (as runc's run). */
        public boolean foreground() {
            return run && !detach;
        }
    }

    /** An exec: the OCI process (a JSON tree) and where its stdio goes. */
    record ExecSpec(com.fasterxml.jackson.databind.JsonNode process, List<String> command, boolean detach, String pidFile,
            String consoleSocket, List<String> passThrough) {}

    Outcome create(Context context, SandboxRecord record, CreateSpec spec);

    /**
     * Removes what a create that never finished left (its daemon died mid-way), before the call
     * is done again. The record only, unless the isolation started something.
     */
    default void abandon(Context context, SandboxRecord record) {
        context.store().remove(record.id());
    }

    Outcome start(Context context, SandboxRecord record);

    /** The current state, refreshed from the running parts (QEMU, the relay, crun). */
    OciState state(Context context, SandboxRecord record);

    Outcome stateOutcome(Context context, SandboxRecord record);

    Outcome kill(Context context, SandboxRecord record, int signal, boolean all, List<String> passThrough);

    Outcome pause(Context context, SandboxRecord record, List<String> passThrough);

    Outcome resume(Context context, SandboxRecord record, List<String> passThrough);

    Outcome delete(Context context, SandboxRecord record, boolean force, List<String> passThrough);

    Outcome exec(Context context, SandboxRecord record, ExecSpec spec);

    Outcome ps(Context context, SandboxRecord record, String format, List<String> psArgs, List<String> passThrough);

    /**
     * Changes a sandbox's limits: {@code options} are runc's update flags other than
     * {@code --resources}; {@code resources} is that document, read by the front end and
     * normalised by {@link UpdateResources} (null when none was given).
     */
    Outcome update(Context context, SandboxRecord record, List<String> options, com.fasterxml.jackson.databind.node.ObjectNode resources);

    Outcome events(Context context, SandboxRecord record, boolean once, Duration interval);

    /**
     * The sandbox's resource use now (the management API's stats and the metrics). It may take
     * a while (a guest asked through its agent): callers bound the wait themselves.
     */
    SandboxStats stats(Context context, SandboxRecord record);

    /** {@link #stats}, for a caller that has just read the sandbox's {@code state}: a driver need not read it again. */
    default SandboxStats stats(Context context, SandboxRecord record, OciState state) {
        return stats(context, record);
    }

    /**
     * What every operation of one call shares: the store of the caller's --root, the caller's
     * environment and pid, and how to reach the low-level runtime with the caller's global options.
     */
    interface Context {
        SandboxStore store();

        /** The low-level runtime's argv up to the subcommand (path and global options). */
        List<String> runtimeArgv();

        List<String> env();

        /** The pid of the client that made the call. */
        long clientPid();

        /** The global options as the caller gave them, for a command the client sends later. */
        List<String> globalArgs();

        /** This call was sent again: the daemon it went to first died before answering it. */
        default boolean retried() {
            return false;
        }

        /**
         * A line of progress of long work the caller waits for (the accelerator's first
         * measurement), shown on the caller's stderr only when that is a terminal: an engine's
         * create, whose stderr is a pipe, still prints nothing but its error line.
         */
        default void progress(String line) {
        }
    }
}
