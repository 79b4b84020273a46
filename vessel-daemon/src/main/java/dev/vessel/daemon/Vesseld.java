package dev.vessel.daemon;

import dev.vessel.linux.Cgroup;
import dev.vessel.linux.FdStreams;
import dev.vessel.linux.Libc;
import dev.vessel.linux.UnixSockets;
import dev.vessel.oci.Isolation;
import dev.vessel.oci.ViewPlan;
import dev.vessel.runtime.ContainerDriver;
import dev.vessel.runtime.MicroVmDriver;
import dev.vessel.runtime.SandboxStore;
import dev.vessel.vmm.AcceleratorSelector;
import dev.vessel.vmm.GuestAssets;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * vesseld: serves the native clients on a Unix socket. Every connection is one client call,
 * handled on a pooled thread. Nothing a container needs at run time lives here, so the
 * daemon can be killed and restarted at any moment.
 */
public final class Vesseld {
    public static final String DEFAULT_SOCKET = "/run/vessel/vesseld.sock";
    /**
     * The daemon's cgroup: a leaf under Vessel's own, so that the sandboxes' cgroups can sit beside
     * it (cgroup v2 allows no process in a cgroup whose children have controllers).
     */
    static final String CGROUP = "vessel/vesseld";

    private final Path socket;
    private final Dispatcher dispatcher;
    private volatile boolean stopping;
    // Platform threads, reused: a call is a few blocking system calls, and a virtual thread pays
    // a park and an unpark through the poller for each (measured: ~0.2 ms of a ~1 ms call).
    private final ExecutorService clients = Executors.newCachedThreadPool(Thread.ofPlatform().daemon().name("client-", 0).factory());
    private final ViewService view;
    private int server = -1;

    Vesseld(Path socket, Dispatcher dispatcher, ViewService view) {
        this.socket = socket;
        this.dispatcher = dispatcher;
        this.view = view;
    }

    public static void main(String[] args) throws IOException {
        DaemonLog.routeLibraries();
        String env = System.getenv("VESSEL_SOCKET");
        Path socket = Path.of(env == null || env.isEmpty() ? DEFAULT_SOCKET : env);
        Path configFile = Path.of(System.getenv().getOrDefault("VESSEL_CONFIG", Settings.DEFAULT_FILE.toString()));
        Settings settings;
        try {
            settings = Settings.load(configFile).withEnvironment(System.getenv());
        } catch (RuntimeException e) {
            log("cannot start: " + e.getMessage());
            System.exit(1);
            return;
        }
        Files.createDirectories(socket.getParent());
        // One daemon per socket: the lock is held for the daemon's life and released by the kernel
        // when it dies, kill -9 included. A second daemon started by a racing client just leaves.
        FileChannel lockFile = FileChannel.open(socket.resolveSibling(socket.getFileName() + ".lock"),
                StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock lock = lockFile.tryLock();
        for (int waited = 0; lock == null; waited += 50) {
            // Either a daemon serves (then leave it be) or one is just exiting (then take over).
            if (waited >= 5000 || answers(socket)) {
                log("another vesseld serves " + socket + "; exiting");
                return;
            }
            sleep(50);
            lock = lockFile.tryLock();
        }
        // before anything it starts (the keeper, QEMUs), which inherit its cgroup
        leaveCallersCgroup();
        Path home = Path.of(System.getProperty("vessel.home", "."));
        ViewService view = settings.resourceView() ? ViewService.start(socket.getParent(), home, settings) : null;
        Call.Drivers drivers = new Call.Drivers(java.util.Map.of(
                Isolation.CONTAINER, new ContainerDriver(() -> LowLevelRuntime.resolve(settings.lowLevelRuntime()).isCrun()),
                Isolation.MICROVM, new MicroVmDriver(new GuestAssets(settings.assetsDir(), settings.guestKernel()), settings.qemu(),
                        settings.microvmBootTimeout(), settings.accelerator(),
                        "skip".equals(System.getenv(AcceleratorSelector.PROBE_ENV)), settings.templates(), BootTimes.observing(MicroVmApis.OBSERVER))
                        .podDefaults((long) settings.podMemory() << 20, settings.podCpus())
                        .jail(settings.jail() ? home.toAbsolutePath().resolve("bin/vessel-jail") : null)),
                SandboxStore.DEFAULT_BASE);
        Vesseld daemon = new Vesseld(socket, new Dispatcher(settings, configFile, view == null ? null : view.plan(),
                drivers, home), view);
        daemon.dispatcher.attach(daemon);
        if (view != null) {
            // SIGTERM is a stop too (kill -9 is not: then the keeper keeps the sockets for the next daemon)
            Runtime.getRuntime().addShutdownHook(new Thread(view::release));
        }
        ViewPlan plan = view == null ? null : view.plan();
        Thread.ofPlatform().daemon().name("warm-up").start(() -> OciCli.warmUp(plan));
        MicroVmApis.resumeAll();
        VmService.start(settings); // re-adopts the QEMUs of full VMs a previous daemon left running
        // beside the clients' socket, not before it: a client waiting for its first call is not held up by Jetty's start
        Thread.ofPlatform().daemon().name("management-plane").start(() -> ManagementPlane.start(socket, settings, drivers));
        daemon.serve();
    }

    private static boolean answers(Path socket) {
        try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static void log(String message) {
        dev.vessel.linux.Log.info(message);
    }

    /**
     * The daemon and all it starts live in a cgroup of their own, never in that of whoever ran
     * vessel first (e.g. a podman container's conmon scope, which podman stats would count and whose
     * stop would take them down): {@value #CGROUP} under the root of every hierarchy. Started as
     * a systemd service, it stays in the unit's cgroup (the client clears INVOCATION_ID for the
     * daemons it starts, so a caller that is itself a service is not mistaken for ours).
     */
    private static void leaveCallersCgroup() {
        long pid = ProcessHandle.current().pid();
        try {
            List<String> own = Files.readAllLines(Path.of("/proc/self/cgroup"));
            Optional<String> unit = Cgroup.serviceUnit(own);
            if (System.getenv("INVOCATION_ID") != null && unit.isPresent()) {
                log("started by systemd: staying in " + unit.get() + "'s cgroup");
                return;
            }
            List<String> failures = Cgroup.moveUnderRoots(pid, CGROUP);
            if (!failures.isEmpty()) {
                log("could not move to cgroup /" + CGROUP + " in every hierarchy: " + String.join("; ", failures));
            }
        } catch (IOException e) {
            log("could not move to cgroup /" + CGROUP + ": " + e.getMessage());
        }
    }

    /**
     * Serves the clients' socket. With the resource view on, the keeper holds the listening
     * socket too: a client that connects while no daemon runs (one was killed) waits in the
     * backlog, the keeper starts a daemon, and that daemon takes the socket over and answers.
     */
    void serve() throws IOException {
        if (view != null) {
            server = view.listen("vesseld", socket);
        } else {
            Files.deleteIfExists(socket);
            server = UnixSockets.listen(socket);
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
        }
        log("serving " + socket);
        while (!stopping) {
            int client = UnixSockets.accept(server);
            if (client < 0) {
                if (-client == Libc.EINTR || -client == Libc.EAGAIN) continue;
                if (stopping) break;
                throw new IOException("accept on " + socket + ": " + Libc.strerror(-client));
            }
            clients.execute(() -> handle(client));
        }
    }

    private void handle(int client) {
        try (OutputStream out = FdStreams.output(client)) {
            // Buffered: the request is read in u32-sized pieces, each a system call otherwise.
            InputStream in = new BufferedInputStream(FdStreams.input(client), 64 * 1024);
            Protocol.Request request = Protocol.readRequest(in);
            Protocol.Replier reply = new Protocol.Replier(out, in);
            if (request.version() < 3) {
                // a client of an older build: it may stop this daemon (so that one of its own starts), nothing else
                if (request.version() == 2) reply.accepted(); // a v2 client reads 'A' first, a v1 client never
                if (request.args().equals(List.of("daemon", "stop"))) {
                    closeListener();
                    try {
                        reply.stdout("vesseld " + ProcessHandle.current().pid() + " (a newer version) stopped\n");
                        reply.exit(0);
                    } finally {
                        System.exit(0); // stopped even if that client has gone: this daemon no longer has a socket
                    }
                }
                reply.stderr("vessel: this client is older than vesseld on " + socket + " (stop it: vessel daemon stop)\n");
                reply.exit(1);
                return;
            }
            reply.accepted();
            dispatcher.handle(request, reply);
        } catch (IOException e) {
            log("client: " + e.getMessage());
        } catch (RuntimeException e) {
            log("client: unexpected " + e);
            e.printStackTrace();
        }
    }

    /**
     * Removes the socket so that no new client reaches this daemon. Containers do not depend on
     * the daemon, so after this it only has to exit. The listening channel stays open: closing it
     * would end the accept loop and with it the JVM (client calls run on daemon threads) before
     * the caller's reply is written.
     */
    void closeListener() {
        stopping = true;
        if (view != null) view.release();
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            log("stop: " + e.getMessage());
        }
        log("stopped");
    }
}
