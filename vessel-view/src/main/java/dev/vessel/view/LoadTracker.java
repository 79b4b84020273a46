package dev.vessel.view;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Estimates each container's load averages the way the kernel computes its own — an exponentially
 * decaying average of the number of running and uninterruptible threads — from samples taken when
 * the view is asked (each uncached read of /proc/loadavg and each sysinfo call). Between samples the count is assumed to have held steady, the honest
 * limit of sampling on demand; the first sample assumes it held since the container started. The
 * kernel's own per-cgroup load is not exposed, so this is an estimate, and says so in the README.
 */
public final class LoadTracker {
    private static final double[] WINDOWS = {60, 300, 900};
    private static final double FORGET_AFTER_SECONDS = 3600;

    private record State(double sampledAt, double[] loads) {}

    private final Map<String, State> states = new ConcurrentHashMap<>();

    /**
     * Folds a sample in and returns the averages.
     *
     * @param container a key naming the container (its cgroup directory)
     * @param now seconds since boot
     * @param startedAt seconds since boot when the container started, or -1 when unknown
     * @param active threads running or in uninterruptible sleep now
     */
    public Loads sample(String container, double now, double startedAt, int active) {
        State updated = states.compute(container, (key, previous) -> {
            double since = previous != null ? previous.sampledAt() : startedAt >= 0 ? startedAt : now;
            double[] loads = previous != null ? previous.loads().clone() : new double[WINDOWS.length];
            double elapsed = Math.max(0, now - since);
            for (int i = 0; i < loads.length; i++) {
                double decay = Math.exp(-elapsed / WINDOWS[i]);
                loads[i] = loads[i] * decay + Math.max(0, active) * (1 - decay);
            }
            return new State(Math.max(now, since), loads);
        });
        if (states.size() > 1024) {
            states.values().removeIf(s -> now - s.sampledAt() > FORGET_AFTER_SECONDS);
        }
        double[] loads = updated.loads();
        return new Loads(true, loads[0], loads[1], loads[2]);
    }
}
