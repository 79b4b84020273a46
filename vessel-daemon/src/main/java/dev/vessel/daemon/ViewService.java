package dev.vessel.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vessel.linux.FdKeeper;
import dev.vessel.linux.Libc;
import dev.vessel.linux.UnixSockets;
import dev.vessel.oci.ViewPlan;
import dev.vessel.view.ResourceView;
import dev.vessel.view.SyscallView;
import dev.vessel.view.ViewOptions;
import dev.vessel.view.fuse.FuseFileSystem;
import dev.vessel.view.fuse.FuseServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Serves the resource view of {@code container} isolation: the FUSE file system whose files are
 * bind-mounted over /proc and /sys, and the seccomp listener that answers sysinfo(2).
 *
 * <p>Restart-safe: the FUSE connection and every container's notify fd are also held by
 * vessel-keeper, so they outlive this daemon; a new daemon takes them back and carries on, and
 * the mounts in running containers never break.
 */
final class ViewService {
    static final List<String> SYSCALLS = List.of("sysinfo", "sched_getaffinity");
    /**
     * The kernel caches each container's view files (FuseServer's cached mode): reads at the
     * kernel's speed, changes seen within 100 ms. -Dvessel.view.cache=false renders at every open
     * instead, as before (the mode is the connection's: it must stay the same across restarts).
     */
    private static final boolean CACHED = !"false".equals(System.getProperty("vessel.view.cache"));
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path fuseRoot;
    private final Path listenerPath;
    private final ResourceView view;
    private final SyscallView syscalls;
    private FdKeeper keeper;
    private FuseServer fuse;
    /** Listening sockets a previous daemon left with the keeper, by name, until adopted. */
    private final Map<String, Integer> heldListeners = new java.util.concurrent.ConcurrentHashMap<>();

    private ViewService(Path runDir, ResourceView view) {
        this.fuseRoot = runDir.resolve("view");
        this.listenerPath = runDir.resolve("seccomp.sock");
        this.view = view;
        this.syscalls = new SyscallView(view, SyscallView.possibleCpus());
    }

    /**
     * Starts the view next to the daemon's socket, or returns null (logged) when this host cannot
     * serve it: containers then run without a view rather than not at all.
     */
    static ViewService start(Path runDir, Path home, Settings settings) {
        ViewService service = new ViewService(runDir, new ResourceView(new ViewOptions(settings.viewCpusFromShares())));
        try {
            service.startServing(home);
            return service;
        } catch (IOException | RuntimeException e) {
            Vesseld.log("resource view unavailable: " + e.getMessage());
            return null;
        }
    }

    ViewPlan plan() {
        return new ViewPlan(fuseRoot, List.copyOf(ResourceView.paths()), listenerPath, SYSCALLS);
    }

    /** The keeper writes where this daemon does: the file the client gave it, else (systemd) its stderr. */
    private static Path logFile() {
        String file = System.getenv("VESSEL_LOG");
        return file == null || file.isEmpty() ? null : Path.of(file);
    }

    private void startServing(Path home) throws IOException {
        keeper = FdKeeper.attach(listenerPath.resolveSibling("keeper.sock"), home.resolve("bin/vessel-keeper"),
                home.resolve("bin/vesseld"), logFile());
        boolean keeperReceives = keeper.hello();
        Map<String, Integer> held = keeper.takeAll();
        FuseFileSystem files = new ViewFiles(view);
        Integer fuseFd = held.remove("fuse");
        if (fuseFd != null) {
            // The mode is the connection's, settled by the FUSE_INIT of the daemon that mounted it: a
            // connection of an older daemon (no marker, or one naming another connection: an older
            // daemon remounted) is served per open until it is remounted.
            boolean cached = mountedDevice().equals(readMarker());
            fuse = FuseServer.adopt(fuseFd, files, backingTable(), cached);
            Vesseld.log("resource view: took over the FUSE connection on " + fuseRoot + (cached ? "" : " (served per open)"));
        } else {
            // A mount left by a keeper that died is dead ("Transport endpoint is not connected"):
            // detach it first, since even creating the directory under it fails while it is there.
            Libc.umount2(fuseRoot.toString(), Libc.MNT_DETACH);
            Files.createDirectories(fuseRoot);
            Files.deleteIfExists(cachedMarker());
            fuse = FuseServer.mount(fuseRoot, files, backingTable(), CACHED);
            if (CACHED) {
                Files.writeString(cachedMarker(), mountedDevice());
            }
            keeper.put("fuse", fuse.fd());
            Vesseld.log("resource view: mounted on " + fuseRoot);
        }
        held.forEach((name, fd) -> {
            if (name.startsWith("seccomp:")) {
                syscalls.serve(name, fd, this::forget);
            } else if (name.startsWith(LISTEN)) {
                heldListeners.put(name, fd);
            } else {
                Libc.close(fd);
            }
        });
        int listener = listen("seccomp", listenerPath);
        if (keeperReceives) {
            // the keeper accepts each container's notify fd and passes it on: none is lost if this
            // daemon dies between accepting and holding it
            Libc.close(listener);
            keeper.watch(n -> syscalls.serve(n.name(), n.fd(), this::forget));
        } else {
            Vesseld.log("vessel-keeper is of an older build: this daemon receives the notify fds itself");
            Thread.ofPlatform().daemon().name("seccomp listener").start(() -> accept(listener));
        }
    }

    private static final String LISTEN = "listen:";

    /**
     * A listening socket at {@code path} that outlives this daemon: the one the keeper holds from
     * the previous daemon (so connections made while none ran wait in its backlog, and nothing is
     * refused), or a new one, given to the keeper for the next daemon.
     */
    synchronized int listen(String name, Path path) throws IOException {
        Integer held = heldListeners.remove(LISTEN + name);
        if (held != null) {
            if (Files.exists(path) && path.equals(UnixSockets.boundPath(held))) {
                Vesseld.log("took over the listening socket " + path + " from the keeper");
                return held;
            }
            Libc.close(held); // its path is gone or another's: a new socket
        }
        Files.deleteIfExists(path);
        int fd = UnixSockets.listen(path);
        Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-------"));
        keeper.put(LISTEN + name, fd);
        return fd;
    }

    /** A deliberate stop: the keeper lets go of the listening sockets, so that no call starts a daemon. */
    void release() {
        try {
            keeper.remove(LISTEN + "vesseld");
            keeper.remove(LISTEN + "seccomp");
        } catch (IOException e) {
            Vesseld.log("keeper: " + e.getMessage());
        }
    }

    /**
     * Names the connection (its device, as mountinfo gives it) when the one mounted is cached
     * (FuseServer's mode), for a successor.
     */
    private Path cachedMarker() {
        return listenerPath.resolveSibling("view-cached");
    }

    private String readMarker() {
        try {
            return Files.readString(cachedMarker()).strip();
        } catch (IOException e) {
            return "none";
        }
    }

    /** "major:minor" of the file system mounted on the view's directory (the last mount there), or "". */
    private String mountedDevice() {
        String device = "";
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                String[] fields = line.split(" ");
                if (fields.length > 4 && fields[4].equals(fuseRoot.toString())) {
                    device = fields[2];
                }
            }
        } catch (IOException e) {
            return "";
        }
        return device;
    }

    /** Which passthrough backing each view file holds: outlives the daemon, like the mount (see Backings). */
    private Path backingTable() {
        return listenerPath.resolveSibling("view-backings");
    }

    /** The OCI seccomp listener: the runtime sends each new container's notify fd with its state. */
    private void accept(int listener) {
        while (true) {
            int connection = UnixSockets.accept(listener);
            if (connection < 0) {
                if (-connection == Libc.EINTR) {
                    continue;
                }
                Vesseld.log("seccomp listener stopped: " + Libc.strerror(-connection));
                return;
            }
            try {
                UnixSockets.Received message = UnixSockets.receive(connection, 64 * 1024);
                if (message.fds().length == 0) {
                    continue;
                }
                JsonNode state = JSON.readTree(message.data());
                String name = "seccomp:" + state.path("state").path("id").asText("?") + ":" + state.path("pid").asLong();
                int fd = message.fds()[0];
                for (int i = 1; i < message.fds().length; i++) {
                    Libc.close(message.fds()[i]);
                }
                keeper.put(name, fd);
                syscalls.serve(name, fd, this::forget);
            } catch (IOException | RuntimeException e) {
                Vesseld.log("seccomp listener: " + e.getMessage());
            } finally {
                Libc.close(connection);
            }
        }
    }

    /** A container's last task has exited: the keeper can let go of its notify fd. */
    private void forget(String name) {
        try {
            keeper.remove(name);
        } catch (IOException e) {
            Vesseld.log("keeper: " + e.getMessage());
        }
    }

    /** The view's files for the FUSE server, falling back to the host's text when rendering fails. */
    private record ViewFiles(ResourceView view) implements FuseFileSystem {
        @Override
        public Set<String> files() {
            return Set.copyOf(ResourceView.paths());
        }

        @Override
        public byte[] render(String path, long callerPid) {
            return view.render(path, callerPid);
        }

        @Override
        public byte[] render(String path, long callerPid, long container) {
            return view.render(path, callerPid, container);
        }

        @Override
        public long size(String path) {
            return path.startsWith("/sys/") ? 4096 : 0;
        }
    }
}
