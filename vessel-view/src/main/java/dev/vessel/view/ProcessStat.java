package dev.vessel.view;

import java.util.OptionalLong;

/** Fields of /proc/PID/stat. The command name (field 2) may hold spaces and ')', so parse after the last ')'. */
final class ProcessStat {
    private ProcessStat() {}

    /** Field 3, the state letter ('R', 'S', 'D', ...), or '?' for unreadable text. */
    static char state(String stat) {
        String[] fields = afterName(stat);
        return fields.length > 0 && !fields[0].isEmpty() ? fields[0].charAt(0) : '?';
    }

    /** Field 22, the start time in USER_HZ ticks since boot. */
    static OptionalLong startTicks(String stat) {
        String[] fields = afterName(stat);
        if (fields.length <= 19) {
            return OptionalLong.empty();
        }
        try {
            return OptionalLong.of(Long.parseLong(fields[19]));
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
    }

    /** Fields 3 onwards. */
    private static String[] afterName(String stat) {
        int close = stat.lastIndexOf(')');
        if (close < 0) {
            return new String[0];
        }
        return stat.substring(close + 1).strip().split(" ");
    }
}
