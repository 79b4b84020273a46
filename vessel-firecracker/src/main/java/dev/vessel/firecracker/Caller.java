package dev.vessel.firecracker;

import dev.vessel.vmm.VmmException;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * Whoever ran {@code vessel vmm}, as the process serving its API reaches it (vesseld, through the
 * {@code vessel} client that stays in the caller's process tree as a small relay): its terminal,
 * its working directory, and children of its own. QEMU must be one of those — in the caller's
 * network namespace (a jailer's or a test's netns holds the tap), working directory and terminal
 * (the guest's serial console is the caller's stdout) — as Firecracker's VMM is the caller's
 * process.
 */
public interface Caller {
    /** The caller's working directory: relative paths on its command line and in the API are its. */
    Path cwd();

    /** The caller's pid (in the serving process's view), for names of its own. */
    long pid();

    /** Text for the caller's stdout. */
    void stdout(String text);

    /** Text for the caller's stderr (Firecracker's log until PUT /logger names a file). */
    void stderr(String text);

    /**
     * From now on the caller holds the VM: if the serving process goes away, the caller removes
     * {@code leftovers} (the sockets it served) and goes on waiting for its QEMU. Returns when the
     * caller knows.
     */
    void hold(List<Path> leftovers) throws VmmException;

    /**
     * Runs {@code argv} as the caller's child, with the caller's stdin, stdout, working directory,
     * environment and namespaces, ending with the caller (parent-death signal SIGTERM). Its stderr
     * goes to the caller's stderr, each line also to {@code stderrLines}. One child at a time.
     */
    Child spawn(List<String> argv, Consumer<String> stderrLines) throws VmmException;

    /** Completes when the caller has gone (it exited, or was killed). */
    CompletableFuture<Void> gone();

    /** A child of the caller. */
    interface Child {
        /** Its pid as the caller sees it. */
        long pid();

        /** Completes with its exit status (128+n when signal n ended it); with -1 if the caller went first. */
        CompletableFuture<Integer> exit();

        /** Sends it {@code signal} (the caller does). */
        void signal(int signal);
    }
}
