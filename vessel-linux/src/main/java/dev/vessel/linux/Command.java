package dev.vessel.linux;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Vessel's one way to start a host program: {@link #run} for one run to completion (its input
 * given, its output, stdout and stderr together, kept), {@link #filter} for one whose stdout is
 * binary data, {@link #start} for one that lives on (QEMU, the keeper, a namespace holder),
 * {@link #startTied} for one that must learn when this JVM has gone.
 */
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
        Thread reader = readAside(p, output);
        try {
            try {
                p.getOutputStream().write(input.getBytes(StandardCharsets.UTF_8));
                p.getOutputStream().close();
            } catch (IOException e) {
                // it exited (or closed its stdin) without reading it all: its status says how it went
            }
            await(p, argv, timeout, reader); // the reader too: a child it left running may hold the output open
            return new Result(p.exitValue(), output.toString(StandardCharsets.UTF_8));
        } finally {
            p.destroyForcibly(); // a no-op once it has exited
        }
    }

    /**
     * Starts {@code argv}, which lives on after this returns: its stdin is /dev/null, its stdout
     * and stderr go together to {@code output} (a file, {@link ProcessBuilder.Redirect#DISCARD},
     * or {@link ProcessBuilder.Redirect#INHERIT}). The caller waits for it, or not.
     */
    public static Process start(List<String> argv, ProcessBuilder.Redirect output) throws IOException {
        return new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectErrorStream(true).redirectOutput(output).start();
    }

    /**
     * Runs {@code argv} to completion with its stdio given (files, fifos: a shim hands a runtime the
     * engine's fifos, which the process it starts keeps) and returns its exit status; at most
     * {@code timeout}. Its output is not kept: such a runtime reports errors in its log file.
     */
    public static int runWithStdio(List<String> argv, ProcessBuilder.Redirect stdin, ProcessBuilder.Redirect stdout,
            ProcessBuilder.Redirect stderr, Duration timeout) throws IOException {
        Process p = new ProcessBuilder(argv).redirectInput(stdin).redirectOutput(stdout).redirectError(stderr).start();
        try {
            await(p, argv, timeout);
            return p.exitValue();
        } finally {
            p.destroyForcibly();
        }
    }

    /**
     * Starts {@code argv} tied to this JVM: its stdin is a pipe whose only writer is this process
     * (the JDK closes every other descriptor in its children), so the program reads end-of-file
     * the moment this JVM is gone, kill -9 included, and whatever the caller writes to
     * {@link Process#getOutputStream} before that. Its stdout and stderr go to {@code output}.
     */
    public static Process startTied(List<String> argv, ProcessBuilder.Redirect output) throws IOException {
        return new ProcessBuilder(argv).redirectErrorStream(true).redirectOutput(output).start();
    }

    /**
     * Runs {@code argv} as a filter: {@code length} bytes of {@code input} from {@code offset} on
     * its stdin, its stdout returned (stderr discarded), at most {@code timeout}. Its exit status
     * is not judged: a decompressor may complain of trailing data after a whole stream, so the
     * caller judges the output.
     */
    public static byte[] filter(List<String> argv, byte[] input, int offset, int length, Duration timeout) throws IOException {
        Process p = new ProcessBuilder(argv).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        // fed aside: a filter writes while it reads, and would block on a full pipe otherwise
        Thread feeder = Thread.ofVirtual().start(() -> {
            try (java.io.OutputStream in = p.getOutputStream()) {
                in.write(input, offset, length);
            } catch (IOException e) {
                // it stopped reading at the end of its stream
            }
        });
        ByteArrayOutputStream output = new ByteArrayOutputStream();
        Thread reader = readAside(p, output);
        try {
            await(p, argv, timeout, reader, feeder);
            return output.toByteArray();
        } finally {
            p.destroyForcibly();
        }
    }

    /**
     * Waits at most {@code timeout} for {@code p} to exit ({@link TimeoutException} if it does not),
     * then as long again for each of its {@code helpers} (the threads feeding and reading it).
     */
    private static void await(Process p, List<String> argv, Duration timeout, Thread... helpers) throws IOException {
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new TimeoutException(argv.getFirst() + " did not finish within " + timeout.toMillis() + " ms");
            }
            for (Thread helper : helpers) {
                helper.join(timeout.toMillis());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(argv.getFirst() + ": interrupted", e);
        }
    }

    /** A thread that copies {@code p}'s stdout into {@code output} until the program closes it. */
    private static Thread readAside(Process p, ByteArrayOutputStream output) {
        return Thread.ofVirtual().start(() -> {
            try {
                p.getInputStream().transferTo(output);
            } catch (IOException e) {
                // the program went away; what was read is kept
            }
        });
    }
}
