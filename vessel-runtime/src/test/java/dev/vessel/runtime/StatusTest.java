package dev.vessel.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The lifecycle rules, as runc applies them. */
class StatusTest {
    @Test
    void onlyACreatedSandboxStarts() {
        for (Status s : Status.values()) assertThat(s.canStart()).as(s.label()).isEqualTo(s == Status.CREATED);
    }

    @Test
    void aRunningOrPausedSandboxIsNotDeletedWithoutForce() {
        assertThat(Status.RUNNING.canDelete()).isFalse();
        assertThat(Status.PAUSED.canDelete()).isFalse();
        assertThat(Status.STOPPED.canDelete()).isTrue();
        assertThat(Status.CREATED.canDelete()).isTrue();
    }

    @Test
    void signalsPauseAndExecFollowRunc() {
        assertThat(Status.STOPPED.canKill()).isFalse();
        assertThat(Status.CREATED.canKill()).isTrue();
        assertThat(Status.PAUSED.canKill()).isTrue();
        assertThat(Status.RUNNING.canPause()).isTrue();
        assertThat(Status.PAUSED.canPause()).isFalse();
        assertThat(Status.PAUSED.canResume()).isTrue();
        assertThat(Status.CREATED.canExec()).isFalse();
        assertThat(Status.RUNNING.canExec()).isTrue();
        assertThat(Status.RUNNING.label()).isEqualTo("running");
    }
}
