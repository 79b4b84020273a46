package dev.vessel.oci;

import java.util.Locale;
import java.util.Map;

/** Signal names and numbers as runc's kill accepts them: "TERM", "SIGTERM", "15", "SIGRTMIN+3". */
public final class Signals {
    private static final Map<String, Integer> BY_NAME = Map.ofEntries(
            Map.entry("HUP", 1), Map.entry("INT", 2), Map.entry("QUIT", 3), Map.entry("ILL", 4),
            Map.entry("TRAP", 5), Map.entry("ABRT", 6), Map.entry("IOT", 6), Map.entry("BUS", 7),
            Map.entry("FPE", 8), Map.entry("KILL", 9), Map.entry("USR1", 10), Map.entry("SEGV", 11),
            Map.entry("USR2", 12), Map.entry("PIPE", 13), Map.entry("ALRM", 14), Map.entry("TERM", 15),
            Map.entry("STKFLT", 16), Map.entry("CHLD", 17), Map.entry("CONT", 18), Map.entry("STOP", 19),
            Map.entry("TSTP", 20), Map.entry("TTIN", 21), Map.entry("TTOU", 22), Map.entry("URG", 23),
            Map.entry("XCPU", 24), Map.entry("XFSZ", 25), Map.entry("VTALRM", 26), Map.entry("PROF", 27),
            Map.entry("WINCH", 28), Map.entry("IO", 29), Map.entry("POLL", 29), Map.entry("PWR", 30),
            Map.entry("SYS", 31));
    private static final int RTMIN = 34;
    private static final int RTMAX = 64;

    private Signals() {}

    /** The signal's number, or an {@link OciException} naming the bad value. */
    public static int parse(String signal) {
        String s = signal.trim().toUpperCase(Locale.ROOT);
        if (!s.isEmpty() && s.chars().allMatch(Character::isDigit)) {
            int n = Integer.parseInt(s.length() > 3 ? "999" : s);
            if (n >= 1 && n <= RTMAX) {
                return n;
            }
            throw invalid(signal);
        }
        if (s.startsWith("SIG")) {
            s = s.substring(3);
        }
        Integer n = BY_NAME.get(s);
        if (n != null) {
            return n;
        }
        if (s.startsWith("RTMIN") || s.startsWith("RTMAX")) {
            int base = s.startsWith("RTMIN") ? RTMIN : RTMAX;
            String rest = s.substring(5);
            try {
                int offset = rest.isEmpty() ? 0 : Integer.parseInt(rest);
                int result = base + offset;
                if (result >= RTMIN && result <= RTMAX) {
                    return result;
                }
            } catch (NumberFormatException e) {
                // falls through to the error below
            }
        }
        throw invalid(signal);
    }

    private static OciException invalid(String signal) {
        return new OciException("invalid signal \"" + signal + "\"");
    }
}
