package dev.vessel.runtime;

import java.util.Locale;

/**
 * Where a sandbox is in its life, and what each state allows: the lifecycle rules in one place
 * (as youki's {@code ContainerStatus}), for every isolation. The names are the OCI runtime
 * spec's ({@code creating}, {@code created}, {@code running}, {@code stopped}) plus runc's
 * {@code paused}.
 */
public enum Status {
    CREATING, CREATED, RUNNING, PAUSED, STOPPED;

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    public boolean canStart() {
        return this == CREATED;
    }

    /** runc signals created, running and paused containers. */
    public boolean canKill() {
        return this == CREATED || this == RUNNING || this == PAUSED;
    }

    public boolean canPause() {
        return this == RUNNING;
    }

    public boolean canResume() {
        return this == PAUSED;
    }

    public boolean canExec() {
        return this == RUNNING;
    }

    /** Without --force: what runc deletes (a created container has no process running yet). */
    public boolean canDelete() {
        return this == STOPPED || this == CREATED || this == CREATING;
    }

    public boolean isAlive() {
        return this == CREATED || this == RUNNING || this == PAUSED;
    }
}
