package dev.vessel.runtime.vm;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/**
 * What vesseld keeps of a VM besides its manifest ({@code state.json} in the VM's directory,
 * written atomically): whether it should run, the QEMU serving it, why the last run ended, the
 * crash loop, and what an {@code apply} changed that needs a restart. Enough for a later daemon
 * (or one after a host reboot, told apart by {@code bootId}) to carry on.
 *
 * @param desired     whether the VM should be running (runStrategy, then start/stop)
 * @param pid         QEMU's pid, 0 for none
 * @param stopping    a stop (ACPI) was asked at {@code stopDeadline} minus the grace period; forced after
 * @param restart     start again once this run has ended (restart)
 * @param failures    consecutive crashes; the next start waits until {@code backoffUntil} (epoch ms)
 * @param lastExit    how the last run ended: "Crashed", "PoweredOff", "Stopped", or null
 * @param taps        tap devices made for bridge interfaces (removed when the run ends)
 * @param forwards    the masquerade forwards as "proto:addr:hostport-guestport" (for get)
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonIgnoreProperties(ignoreUnknown = true)
public record VmState(String uid, String created, boolean desired, long pid, String bootId, String startedAt,
        boolean stopping, long stopDeadline, boolean restart, int failures, long backoffUntil, String lastExit,
        String lastExitAt, List<String> restartRequired, List<String> taps, List<String> forwards) {

    public VmState {
        restartRequired = restartRequired == null ? List.of() : List.copyOf(restartRequired);
        taps = taps == null ? List.of() : List.copyOf(taps);
        forwards = forwards == null ? List.of() : List.copyOf(forwards);
    }

    static VmState fresh(String uid, String created, boolean desired) {
        return new VmState(uid, created, desired, 0, null, null, false, 0, false, 0, 0, null, null, List.of(), List.of(), List.of());
    }

    VmState withDesired(boolean d) {
        return new VmState(uid, created, d, pid, bootId, startedAt, stopping, stopDeadline, restart, failures, backoffUntil,
                lastExit, lastExitAt, restartRequired, taps, forwards);
    }

    VmState running(long p, String boot, String at, List<String> t, List<String> f) {
        return new VmState(uid, created, desired, p, boot, at, false, 0, false, failures, 0, lastExit, lastExitAt,
                List.of(), t, f);
    }

    VmState stoppingUntil(long deadline, boolean thenRestart) {
        return new VmState(uid, created, desired, pid, bootId, startedAt, true, deadline, thenRestart, failures, backoffUntil,
                lastExit, lastExitAt, restartRequired, taps, forwards);
    }

    VmState ended(String how, String at, boolean d, int f, long backoff) {
        return new VmState(uid, created, d, 0, null, null, false, 0, false, f, backoff, how, at, restartRequired,
                List.of(), List.of());
    }

    VmState withRestartRequired(List<String> fields) {
        return new VmState(uid, created, desired, pid, bootId, startedAt, stopping, stopDeadline, restart, failures,
                backoffUntil, lastExit, lastExitAt, fields, taps, forwards);
    }

    VmState withFailures(int f, long backoff) {
        return new VmState(uid, created, desired, pid, bootId, startedAt, stopping, stopDeadline, restart, f, backoff,
                lastExit, lastExitAt, restartRequired, taps, forwards);
    }
}
