package dev.vessel.shim;

import java.time.Instant;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * One process the shim tracks: a container's init (its exec id "") or an exec. Its status is the
 * shim's own knowledge (created, running once started, stopped once reaped), as the runc shim
 * keeps it: containerd asks State often, and a runtime call for each would cost a JVM-less client
 * call but still a daemon round trip.
 */
final class TaskProcess {
    /** containerd.v1.types.Status */
    static final int UNKNOWN = 0;
    static final int CREATED = 1;
    static final int RUNNING = 2;
    static final int STOPPED = 3;
    static final int PAUSED = 4;

    final String containerId;
    final String execId;
    final Runtime.Stdio stdio;
    final boolean terminal;
    /** an exec's OCI process (JSON), null for init */
    final byte[] spec;
    /** its terminal, when it has one */
    volatile Console console;
    private final CountDownLatch exited = new CountDownLatch(1);
    private volatile int pid;
    private volatile int status = CREATED;
    private volatile int exitStatus;
    private volatile Instant exitedAt;

    TaskProcess(String containerId, String execId, Runtime.Stdio stdio, boolean terminal, byte[] spec) {
        this.containerId = containerId;
        this.execId = execId;
        this.stdio = stdio;
        this.terminal = terminal;
        this.spec = spec;
    }

    /** The process id containerd's events name it by: the container's id for init. */
    String processId() {
        return execId.isEmpty() ? containerId : execId;
    }

    int pid() {
        return pid;
    }

    void created(int pid) {
        this.pid = pid;
    }

    void started() {
        if (status == CREATED) status = RUNNING;
    }

    void paused(boolean paused) {
        if (status == RUNNING || status == PAUSED) status = paused ? PAUSED : RUNNING;
    }

    void exited(int exitStatus, Instant at) {
        this.exitStatus = exitStatus;
        this.exitedAt = at;
        this.status = STOPPED;
        exited.countDown();
    }

    int status() {
        return status;
    }

    boolean hasExited() {
        return exited.getCount() == 0;
    }

    int exitStatus() {
        return exitStatus;
    }

    Instant exitedAt() {
        return exitedAt;
    }

    void awaitExit() throws InterruptedException {
        exited.await();
    }

    boolean awaitExit(long millis) throws InterruptedException {
        return exited.await(millis, TimeUnit.MILLISECONDS);
    }
}
