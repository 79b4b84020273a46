package dev.vessel.shim;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * The three system calls a shim needs and the JDK lacks: becoming the subreaper of what it starts
 * (the container's process is a grandchild: {@code vessel create} forks it and exits, as runc's
 * init), waiting for such a process by pid with its status, and sending it any signal.
 */
final class Native {
    private Native() {
    }

    private static final int PR_SET_CHILD_SUBREAPER = 36;
    private static final int ECHILD = 10;
    private static final int EINTR = 4;
    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE_LAYOUT.varHandle(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE = Linker.Option.captureCallState("errno");
    private static final MethodHandle PRCTL = LINKER.downcallHandle(LINKER.defaultLookup().findOrThrow("prctl"),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG), CAPTURE);
    private static final MethodHandle WAITPID = LINKER.downcallHandle(LINKER.defaultLookup().findOrThrow("waitpid"),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT), CAPTURE);
    private static final MethodHandle KILL = LINKER.downcallHandle(LINKER.defaultLookup().findOrThrow("kill"),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT), CAPTURE);

    static void becomeSubreaper() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE_LAYOUT);
            int r = (int) PRCTL.invokeExact(state, PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L);
            if (r != 0) throw new IllegalStateException("prctl(PR_SET_CHILD_SUBREAPER): errno " + (int) ERRNO.get(state, 0L));
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * Waits for {@code pid}, a child or an orphan reparented to this subreaper, and returns its
     * status as a shell gives it (the exit code, or 128 + the signal that killed it); -1 when it is
     * not ours to wait for (ECHILD), e.g. reaped already.
     */
    static int waitFor(int pid) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE_LAYOUT);
            MemorySegment status = arena.allocate(JAVA_INT);
            while (true) {
                int r = (int) WAITPID.invokeExact(state, pid, status, 0);
                if (r == pid) return decodeStatus(status.get(JAVA_INT, 0));
                int errno = (int) ERRNO.get(state, 0L);
                if (errno == EINTR) continue;
                if (errno == ECHILD) return -1;
                throw new IllegalStateException("waitpid(" + pid + "): errno " + errno);
            }
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
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
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE_LAYOUT);
            return (int) KILL.invokeExact(state, pid, signal) == 0;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }
}
