package dev.vessel.linux;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A host program run to completion: its input given, its output (stdout and stderr together) kept. */
public final class Command {
    private Command() {
    }

    /** How it ended: the exit status and everything it wrote. */
    public record Result(int status, String output) {
        /** The first non-blank line of the output, or "exit status N": what to quote in an error. */
        public String firstLine() {
            return output.lines().filter(l -> !l.isBlank()).findFirst().map(String::strip).orElse("exit status " + status);
        }
    }

    /** It ran longer than it was given; it has been killed. */
    public static final class TimeoutException extends IOException {
        TimeoutException(String message) {
            super(message);
        }
    }

    /**
     * Runs {@code argv} with {@code input} on its stdin (then closed) and waits at most
     * {@code timeout}. Throws IOException when it cannot start (the JDK's reason) and
     * {@link TimeoutException} when it does not finish in time.
     */
    public static Result run(List<String> argv, String input, Duration timeout) throws IOException {
        return run(argv, input, timeout, null, java.util.Map.of());
    }

    /** {@link #run(List, String, Duration)} in directory {@code cwd} (null: ours) with {@code env} added to ours. */
    public static Result run(List<String> argv, String input, Duration timeout, java.nio.file.Path cwd,
            java.util.Map<String, String> env) throws IOException {
        ProcessBuilder builder = new ProcessBuilder(argv).redirectErrorStream(true);
        if (cwd != null) builder.directory(cwd.toFile());
        builder.environment().putAll(env);
        Process p = builder.start();
        // read aside: a program that hangs with its output open must still meet the timeout
        ByteArrayOutputStream output = new ByteArrayOutputStream();
        Thread reader = Thread.ofVirtual().start(() -> {
            try {
                p.getInputStream().transferTo(output);
            } catch (IOException e) {
                // the program went away; what was read is kept
            }
        });
        try {
            try {
                p.getOutputStream().write(input.getBytes(StandardCharsets.UTF_8));
                p.getOutputStream().close();
            } catch (IOException e) {
                // it exited (or closed its stdin) without reading it all: its status says how it went
            }
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new TimeoutException(argv.getFirst() + " did not finish within " + timeout.toMillis() + " ms");
            }
            reader.join(timeout.toMillis()); // a child it left running may hold the output open
            return new Result(p.exitValue(), output.toString(StandardCharsets.UTF_8));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(argv.getFirst() + ": interrupted", e);
        } finally {
            p.destroyForcibly(); // a no-op once it has exited
        }
    }
}
