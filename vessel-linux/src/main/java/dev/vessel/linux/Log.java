package dev.vessel.linux;

import java.time.Instant;

/** Vessel's one logger: a line on stderr with the time and the process, which the daemon's launcher sends to its log. */
public final class Log {
    private Log() {
    }

    public static void info(String message) {
        System.err.println(Instant.now() + " vesseld[" + ProcessHandle.current().pid() + "]: " + message);
    }
}
