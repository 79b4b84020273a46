package dev.vessel.firecracker;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.List;
import java.util.Locale;

/**
 * Firecracker's logger: human-readable lines to the file or FIFO given by PUT /logger (log_path),
 * filtered by level; until then, warnings and errors to stderr. Lines look like Firecracker's:
 * {@code 2026-11-27T01:02:03.456Z [vm-id:main:INFO] message}.
 */
public final class FcLog {
    private static final List<String> LEVELS = List.of("off", "error", "warn", "info", "debug", "trace");
    private final String id;
    /** Where lines go until PUT /logger names a file: the caller's stderr. */
    private final java.util.function.Consumer<String> console;
    private OutputStream out;
    private int level = LEVELS.indexOf("warn");
    private boolean showLevel;

    /** A log whose console is this process's stderr. */
    public FcLog(String id) {
        this(id, text -> {
            System.err.print(text);
            System.err.flush();
        });
    }

    public FcLog(String id, java.util.function.Consumer<String> console) {
        this.id = id;
        this.console = console;
    }

    public synchronized void configure(Model.Logger l) throws ApiException {
        configure(l, l.logPath() == null ? null : Path.of(l.logPath()));
    }

    /** As {@link #configure(Model.Logger)}, with the log's path resolved by the caller ({@code logPath}: null for none). */
    public synchronized void configure(Model.Logger l, Path logPath) throws ApiException {
        if (logPath != null) {
            try {
                OutputStream o = Files.newOutputStream(logPath, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                        StandardOpenOption.APPEND);
                if (out != null) out.close();
                out = o;
            } catch (IOException e) {
                throw ApiException.badRequest("field `log_path`: cannot open " + l.logPath() + ": " + e.getMessage());
            }
        }
        String lv = l.level() == null ? "info" : l.level().toLowerCase(Locale.ROOT);
        level = LEVELS.indexOf(lv.equals("warning") ? "warn" : lv);
        showLevel = Boolean.TRUE.equals(l.showLevel());
    }

    /** Closes the log file, if PUT /logger gave one (the VM is gone). */
    public synchronized void close() {
        try {
            if (out != null) out.close();
        } catch (IOException ignored) {
            // nothing more to write
        }
        out = null;
        level = 0;
    }

    public void error(String message) {
        write("error", message);
    }

    public void warn(String message) {
        write("warn", message);
    }

    public void info(String message) {
        write("info", message);
    }

    public void debug(String message) {
        write("debug", message);
    }

    private synchronized void write(String lv, String message) {
        if (LEVELS.indexOf(lv) > level) return;
        String line = Instant.now() + " [" + id + ":main" + (showLevel || out == null ? ":" + lv.toUpperCase(Locale.ROOT) : "")
                + "] " + message + "\n";
        if (out == null) {
            console.accept(line);
            return;
        }
        try {
            out.write(line.getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (IOException ignored) {
            // a reader that went away (a FIFO) does not stop the VMM
        }
    }
}
