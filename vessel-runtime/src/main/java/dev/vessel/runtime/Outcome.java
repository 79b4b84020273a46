package dev.vessel.runtime;

import java.io.IOException;
import java.util.List;
import java.util.function.IntFunction;
import java.util.function.LongFunction;

/**
 * What a driver's operation comes to, for a front end to carry out: drivers know nothing of the
 * client protocol. A front end (the OCI command line) turns each outcome into frames; the
 * continuations ({@code then}) run once the client has done its part.
 */
public sealed interface Outcome {
    /** Print, then exit with {@code status}. */
    record Exit(int status, String stdout, String stderr) implements Outcome {}

    /** Exec this program in the client's place (argv[0] is a path); {@code files} become memfds. */
    record Exec(List<String> argv, List<String> env, List<byte[]> files) implements Outcome {}

    /** Run this program as the client's child; {@code then} gets its exit status. */
    record Spawn(List<String> argv, List<String> env, IntFunction<Outcome> then) implements Outcome {}

    /** Run this program as the client's child, its stdout captured; {@code then} gets the status and the output. */
    record Capture(List<String> argv, List<String> env, Captured then) implements Outcome {}

    interface Captured {
        Outcome apply(int status, String stdout);
    }

    /**
     * Have the client stand in for a microVM process whose stream port is {@code port}: forked
     * ({@code detach}) or in its own place. {@code then} gets the relay's pid; an attached relay
     * starts relaying when that outcome is done, and sends {@code afterExit} (a command line,
     * empty for none) to the daemon once the process has exited.
     */
    record Relay(String port, String pidFile, String consoleSocket, boolean tty, boolean detach,
            List<String> afterExit, LongFunction<Outcome> then) implements Outcome {}

    /** An attached relay's go: the process is started, the client relays from now on. */
    record Go() implements Outcome {}

    /** Output that goes on until the client goes away or the body returns (events). */
    record Stream(Body body) implements Outcome {}

    /** Writes a stream's lines; a write fails once the client has gone. */
    interface Body {
        int write(Lines out) throws IOException;
    }

    interface Lines {
        void line(String text) throws IOException;
    }

    static Outcome ok() {
        return new Exit(0, "", "");
    }

    static Outcome print(String stdout) {
        return new Exit(0, stdout, "");
    }
}
