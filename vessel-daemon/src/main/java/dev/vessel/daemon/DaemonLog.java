package dev.vessel.daemon;

import dev.vessel.linux.Log;
import java.nio.file.Path;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/**
 * Where the daemon's log goes, and libraries' logging routed to Vessel's one logger ({@link Log}:
 * lines on stderr, which is the journal under systemd and otherwise the file the client opened
 * for the daemon, {@code VESSEL_LOG}, default {@code /var/log/vessel/vesseld.log}). Libraries log
 * through SLF4J (Jetty) or java.util.logging; slf4j-jdk14 brings the first to the second and
 * {@link #routeLibraries()} the second to {@link Log}, so every line has one shape and no library
 * prints its own warnings about a missing backend.
 */
final class DaemonLog {
    // held: java.util.logging keeps loggers weakly, and a collected one forgets its level
    private static final Logger JETTY = Logger.getLogger("org.eclipse.jetty");

    private DaemonLog() {}

    /** Where this daemon's lines go, for {@code vessel doctor}: the file, or the journal. */
    static String destination() {
        String file = System.getenv("VESSEL_LOG");
        if (file != null && !file.isEmpty()) {
            return Path.of(file).toString();
        }
        return System.getenv("JOURNAL_STREAM") != null ? "the journal (journalctl -u vesseld)" : "stderr";
    }

    /** Library records at INFO and above (Jetty's at WARNING: it announces every server start) go to {@link Log}. */
    static void routeLibraries() {
        LogManager.getLogManager().reset();
        Logger root = Logger.getLogger("");
        root.setLevel(Level.INFO);
        root.addHandler(new Handler() {
            private final SimpleFormatter formatter = new SimpleFormatter();

            @Override
            public void publish(LogRecord record) {
                if (!isLoggable(record)) {
                    return;
                }
                String name = record.getLoggerName() == null ? "" : record.getLoggerName();
                String text = record.getLevel() + " " + name.substring(name.lastIndexOf('.') + 1) + ": "
                        + formatter.formatMessage(record);
                Log.info(record.getThrown() == null ? text : text + ": " + record.getThrown());
            }

            @Override
            public void flush() {
                System.err.flush();
            }

            @Override
            public void close() {}
        });
        JETTY.setLevel(Level.WARNING);
    }
}
