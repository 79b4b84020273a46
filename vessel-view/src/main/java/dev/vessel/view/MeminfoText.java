package dev.vessel.view;

import java.util.HashMap;
import java.util.Map;

/** Parsing and writing /proc/meminfo lines ("MemTotal:       24683656 kB"). */
final class MeminfoText {
    private MeminfoText() {}

    /** Every "Key: number [kB]" line's number, by key. */
    static Map<String, Long> values(String text) {
        Map<String, Long> values = new HashMap<>();
        text.lines().forEach(line -> {
            int colon = line.indexOf(':');
            if (colon > 0) {
                String[] rest = line.substring(colon + 1).strip().split("\\s+");
                try {
                    values.put(line.substring(0, colon), Long.parseLong(rest[0]));
                } catch (NumberFormatException e) {
                    // not a number line; ignore
                }
            }
        });
        return values;
    }

    /** The key of a line ("MemTotal"), or null for a line without one. */
    static String key(String line) {
        int colon = line.indexOf(':');
        return colon > 0 ? line.substring(0, colon) : null;
    }

    /**
     * A line as the kernel writes it: the label padded to 16 columns, the number right-aligned in
     * 8 (wider numbers push on, as in "VmallocTotal:   34359738367 kB"), and the host's unit kept.
     */
    static String line(String key, long value, boolean kilobytes) {
        StringBuilder out = new StringBuilder(32).append(key).append(':');
        while (out.length() < 16) {
            out.append(' ');
        }
        String number = Long.toString(value);
        for (int i = number.length(); i < 8; i++) {
            out.append(' ');
        }
        out.append(number);
        if (kilobytes) {
            out.append(" kB");
        }
        return out.append('\n').toString();
    }
}
