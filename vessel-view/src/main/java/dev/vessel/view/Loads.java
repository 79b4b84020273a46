package dev.vessel.view;

/**
 * Load averages over 1, 5 and 15 minutes.
 *
 * @param known false when the view has no estimate for the container (it shows the host's then)
 */
public record Loads(boolean known, double one, double five, double fifteen) {
    public static final Loads UNKNOWN = new Loads(false, 0, 0, 0);

    /** The host's, from /proc/loadavg ("0.61 0.45 0.21 1/107 20367"). */
    public static Loads ofHost(HostInfo host) {
        String[] fields = host.loadavg().strip().split("\\s+");
        if (fields.length < 3) {
            return UNKNOWN;
        }
        try {
            return new Loads(true, Double.parseDouble(fields[0]), Double.parseDouble(fields[1]),
                    Double.parseDouble(fields[2]));
        } catch (NumberFormatException e) {
            return UNKNOWN;
        }
    }
}
