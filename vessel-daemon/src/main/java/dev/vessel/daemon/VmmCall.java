package dev.vessel.daemon;

import dev.vessel.firecracker.Caller;
import dev.vessel.vmm.VmmException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * The caller of a {@code vessel vmm} as the daemon reaches it: the {@code vessel} client on the
 * other end of this call's connection, which stays in the caller's process tree as a small relay
 * (native/client/vessel.c, frames {@code M}, {@code Q}, {@code K}: see {@link Protocol}). The
 * daemon serves the VM's API; QEMU is the client's child. The VMM runs on a virtual thread
 * ({@link #run}); the call's own thread reads the client's messages (a child's pid, stderr and
 * exit: a blocking read of the raw connection, which a virtual thread must not make), and the
 * connection's end is the caller's.
 */
final class VmmCall implements Caller {
    private final Protocol.Request request;
    private final Protocol.Replier reply;
    private final CompletableFuture<Void> gone = new CompletableFuture<>();
    private final Object lock = new Object();
    private ChildOfCaller child;
    private volatile boolean holding;
    /** Completes when the client holds the VM ({@link #hold}) or the VMM ended without it. */
    private final CompletableFuture<Boolean> held = new CompletableFuture<>();

    VmmCall(Protocol.Request request, Protocol.Replier reply) {
        this.request = request;
        this.reply = reply;
    }

    @Override
    public Path cwd() {
        return Path.of(request.cwd());
    }

    @Override
    public long pid() {
        return request.pid();
    }

    @Override
    public void stdout(String text) {
        send(() -> reply.stdout(text));
    }

    @Override
    public void stderr(String text) {
        send(() -> reply.stderr(text));
    }

    @Override
    public void hold(List<Path> leftovers) throws VmmException {
        try {
            reply.hold(leftovers.stream().map(Path::toString).toList());
        } catch (IOException e) {
            throw new VmmException("the caller went away", e);
        }
        holding = true;
        held.complete(true);
    }

    /**
     * Runs {@code vmm} (the VMM, which answers its exit status) on a virtual thread, relays the
     * client's messages on this one while the client holds the VM, and returns once both are done.
     */
    void run(java.util.function.IntSupplier vmm) {
        Thread t = Thread.ofVirtual().name("vmm-" + request.pid()).start(() -> {
            int status = 1;
            try {
                status = vmm.getAsInt();
            } catch (RuntimeException e) {
                // a defect of ours: the caller still gets one line and a status, the log gets the trace
                Vesseld.log("unexpected failure of vessel vmm: " + e);
                e.printStackTrace();
                stderr("vessel vmm: internal error: " + e + "\n");
            } finally {
                held.complete(false);
                exit(status);
            }
        });
        if (held.join()) readMessages();
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public Child spawn(List<String> argv, Consumer<String> stderrLines) throws VmmException {
        if (!holding) throw new IllegalStateException("hold() first");
        ChildOfCaller c = new ChildOfCaller(stderrLines);
        synchronized (lock) {
            if (child != null && !child.exit.isDone()) throw new IllegalStateException("one child at a time");
            if (gone.isDone()) throw new VmmException("the caller went away");
            child = c;
        }
        try {
            reply.startChild(argv, request.env());
        } catch (IOException e) {
            throw new VmmException("the caller went away", e);
        }
        try {
            c.pid.get(30, java.util.concurrent.TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new VmmException("the caller did not start " + argv.getFirst() + " within 30 s");
        } catch (java.util.concurrent.ExecutionException e) {
            throw new VmmException("the caller went away before " + argv.getFirst() + " started");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmException("interrupted", e);
        }
        return c;
    }

    @Override
    public CompletableFuture<Void> gone() {
        return gone;
    }

    /** The exit status for the client (nothing if it has gone). */
    private void exit(int status) {
        send(() -> reply.exit(status));
    }

    private void readMessages() {
        try {
            for (Protocol.Message m; (m = reply.message()) != null; ) {
                ChildOfCaller c;
                synchronized (lock) {
                    c = child;
                }
                if (c == null) continue;
                switch (m.type()) {
                    case 'p' -> c.pid.complete(Integer.toUnsignedLong(m.u32()));
                    case 'e' -> c.stderr(m.payload());
                    case 'w' -> c.exited(m.u32());
                    default -> { } // a newer client's: nothing to do with it
                }
            }
        } catch (IOException e) {
            // the connection broke: the caller is gone as much as after an EOF
        } finally {
            ChildOfCaller c;
            synchronized (lock) {
                c = child;
            }
            if (c != null) {
                c.pid.completeExceptionally(new IOException("the caller went away"));
                c.exited(-1);
            }
            gone.complete(null);
        }
    }

    private interface Frame {
        void send() throws IOException;
    }

    /** A frame for a caller that may have gone: then there is no one to tell. */
    private void send(Frame frame) {
        try {
            frame.send();
        } catch (IOException e) {
            // the caller went away; its reader ends the VM
        }
    }

    /** The caller's child: its pid and exit come as the client's messages. */
    private final class ChildOfCaller implements Child {
        final CompletableFuture<Long> pid = new CompletableFuture<>();
        final CompletableFuture<Integer> exit = new CompletableFuture<>();
        private final Consumer<String> stderrLines;
        private final StringBuilder partial = new StringBuilder();

        ChildOfCaller(Consumer<String> stderrLines) {
            this.stderrLines = stderrLines;
        }

        void stderr(byte[] bytes) {
            partial.append(new String(bytes, StandardCharsets.UTF_8));
            for (int nl; (nl = partial.indexOf("\n")) >= 0; ) {
                stderrLines.accept(partial.substring(0, nl));
                partial.delete(0, nl + 1);
            }
            if (partial.length() > 64 * 1024) partial.setLength(0); // a line without end is not QEMU's error
        }

        void exited(int status) {
            if (!partial.isEmpty()) {
                stderrLines.accept(partial.toString());
                partial.setLength(0);
            }
            exit.complete(status);
        }

        @Override
        public long pid() {
            return pid.getNow(-1L);
        }

        @Override
        public CompletableFuture<Integer> exit() {
            return exit;
        }

        @Override
        public void signal(int signal) {
            if (!exit.isDone()) send(() -> reply.signalChild(signal));
        }
    }
}
