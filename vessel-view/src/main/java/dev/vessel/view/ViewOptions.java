package dev.vessel.view;

/**
 * How the view counts what it shows.
 *
 * @param cpusFromShares derive the CPU count from CPU shares (v1 cpu.shares / 1024, v2 cpu.weight /
 *     100, rounded up, at least 1) instead of the CFS quota. Off by default, as lxcfs's maintainers
 *     advise: shares are a relative weight, not a limit, and a container may use every CPU of its
 *     cpuset when the host is idle.
 */
public record ViewOptions(boolean cpusFromShares) {
    public static final ViewOptions DEFAULTS = new ViewOptions(false);
}
