package dev.vessel.shim;

import dev.vessel.linux.Libc;

/**
 * The three system calls a shim needs and the JDK lacks (through {@link Libc}): becoming the
 * subreaper of what it starts (the container's process is a grandchild: {@code vessel create}
 * forks it and exits, as runc's init), waiting for such a process by pid with its status, and
 * sending it any signal.
 */
final class Native {
    private Native() {
    }

    private static final int PR_SET_CHILD_SUBREAPER = 36;

    static void becomeSubreaper() {
        int r = Libc.prctl(PR_SET_CHILD_SUBREAPER, 1L);
        if (r != 0) throw new IllegalStateException("prctl(PR_SET_CHILD_SUBREAPER): errno " + -r);
    }

    /**
     * Waits for {@code pid}, a child or an orphan reparented to this subreaper, and returns its
     * status as a shell gives it (the exit code, or 128 + the signal that killed it); -1 when it is
     * not ours to wait for (ECHILD), e.g. reaped already.
     */
    static int waitFor(int pid) {
        int[] status = new int[1];
        while (true) {
            int r = Libc.waitpid(pid, status, 0);
            if (r == pid) return decodeStatus(status[0]);
            if (r == -Libc.EINTR) continue;
            if (r == -Libc.ECHILD) return -1;
            throw new IllegalStateException("waitpid(" + pid + "): errno " + -r);
        }
    }

    /** waitpid's status word as a shell's exit status. */
    static int decodeStatus(int status) {
        int signal = status & 0x7F;
        if (signal == 0) return (status >> 8) & 0xFF; // exited
        return 128 + signal; // killed by a signal
    }

    /** kill(2); false when the process is gone. */
    static boolean kill(int pid, int signal) {
        return Libc.kill(pid, signal) == 0;
    }
}
