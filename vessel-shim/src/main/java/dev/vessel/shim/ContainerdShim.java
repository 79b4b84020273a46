package dev.vessel.shim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vessel.linux.Command;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;


/**
 * {@code containerd-shim-vessel-v2}, containerd's runtime {@code io.containerd.vessel.v2}: the
 * shim v2 command line containerd runs (Go-style single-dash flags, then an action).
 * {@code start} (cwd: the bundle) prints the ttrpc address of the shim serving the container,
 * starting one unless its pod's shim runs already; {@code delete} cleans up after a shim that
 * died; {@code serve} is that long-lived shim, its own process and session, so neither a restart
 * of containerd nor one of vesseld touches the workloads it waits for.
 */
@CommandLine.Command(name = "containerd-shim-vessel-v2", mixinStandardHelpOptions = false,
        description = "containerd's shim v2 for Vessel (runtime_type io.containerd.vessel.v2)")
public final class ContainerdShim implements Callable<Integer> {
    static final String SANDBOX_ID = "io.kubernetes.cri.sandbox-id";
    private static final Duration START_TIMEOUT = Duration.ofSeconds(60);

    @CommandLine.Option(names = {"-namespace", "--namespace"}, description = "containerd namespace", defaultValue = "default")
    String namespace;
    @CommandLine.Option(names = {"-address", "--address"}, description = "containerd's grpc address", defaultValue = "/run/containerd/containerd.sock")
    String address;
    @CommandLine.Option(names = {"-publish-binary", "--publish-binary"}, description = "containerd's binary to publish events", defaultValue = "")
    String publishBinary;
    @CommandLine.Option(names = {"-id", "--id"}, description = "the container's id", defaultValue = "")
    String id;
    @CommandLine.Option(names = {"-bundle", "--bundle"}, description = "the bundle (delete)", defaultValue = "")
    String bundle;
    @CommandLine.Option(names = {"-debug", "--debug"}, description = "debug logging")
    boolean debug;
    @CommandLine.Option(names = {"-socket", "--socket"}, description = "the socket to serve on (serve)", defaultValue = "")
    String socket;
    @CommandLine.Option(names = {"-v", "--version"}, description = "print the version")
    boolean version;
    @CommandLine.Parameters(arity = "0..1", description = "start | delete | serve", defaultValue = "")
    String action;

    public static void main(String[] args) {
        CommandLine cli = new CommandLine(new ContainerdShim());
        cli.setParameterExceptionHandler((e, a) -> {
            System.err.println("containerd-shim-vessel-v2: " + e.getMessage());
            return 2;
        });
        cli.setExecutionExceptionHandler((e, c, p) -> {
            System.err.println("containerd-shim-vessel-v2: " + e.getMessage());
            return 1;
        });
        int status = cli.execute(args);
        if (!"serve".equals(((ContainerdShim) cli.getCommand()).action) || status != 0) System.exit(status);
    }

    @Override
    public Integer call() throws Exception {
        if (version) {
            System.out.println("containerd-shim-vessel-v2 (Vessel) 1");
            return 0;
        }
        return switch (action) {
            case "start" -> start();
            case "delete" -> delete();
            case "serve" -> serve();
            default -> {
                System.err.println("containerd-shim-vessel-v2: action must be start, delete or serve, not '" + action + "'");
                yield 2;
            }
        };
    }

    /** Where the shims live, per containerd namespace: Vessel's --root for their containers. */
    private Path root() {
        return Path.of("/run/containerd/vessel", namespace);
    }

    private static Path home() {
        return Path.of(System.getProperty("vessel.home", "/usr/local/lib/vessel"));
    }

    /** The socket of the shim of grouping {@code group}: containerd's own scheme (runtime/v2/shim SocketAddress). */
    static Path socketFor(String containerdAddress, String namespace, String group) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256")
                    .digest(Path.of(containerdAddress, namespace, group).toString().getBytes(StandardCharsets.UTF_8));
            return Path.of("/run/containerd/s", HexFormat.of().formatHex(digest));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /** A pod's containers go to the shim of its sandbox, as the runc shim groups them. */
    static String groupOf(String id, JsonNode spec) {
        String sandbox = spec == null ? "" : spec.path("annotations").path(SANDBOX_ID).asText("");
        return sandbox.isEmpty() ? id : sandbox;
    }

    private int start() throws IOException, InterruptedException {
        if (id.isEmpty()) throw new IOException("start: -id is required");
        Path bundleDir = Path.of("").toAbsolutePath();
        JsonNode spec = null;
        Path config = bundleDir.resolve("config.json");
        if (Files.exists(config)) spec = new ObjectMapper().readTree(config.toFile());
        Path sock = socketFor(address, namespace, groupOf(id, spec));
        if (!canConnect(sock)) {
            Files.createDirectories(root());
            List<String> argv = List.of("setsid", home().resolve("bin/containerd-shim-vessel-v2").toString(),
                    "-namespace", namespace, "-address", address, "-publish-binary", publishBinary, "-id", id,
                    "-socket", sock.toString(), "serve");
            Process server = Command.start(argv, ProcessBuilder.Redirect.appendTo(bundleDir.resolve("shim.log").toFile()));
            Instant deadline = Instant.now().plus(START_TIMEOUT);
            while (!canConnect(sock)) {
                if (!server.isAlive() && server.exitValue() != 0) {
                    throw new IOException("the shim server exited with status " + server.exitValue() + " (" + bundleDir.resolve("shim.log") + ")");
                }
                if (Instant.now().isAfter(deadline)) throw new IOException("the shim server did not listen on " + sock + " within " + START_TIMEOUT.toSeconds() + " s");
                Thread.sleep(20);
            }
        }
        String addr = "unix://" + sock;
        Files.writeString(bundleDir.resolve("address"), addr);
        System.out.print(addr);
        System.out.flush();
        return 0;
    }

    static boolean canConnect(Path sock) {
        if (!Files.exists(sock)) return false;
        try (SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(sock))) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** After a shim died: the container removed by force, a DeleteResponse (killed: 137) on stdout. */
    private int delete() throws IOException {
        if (id.isEmpty()) throw new IOException("delete: -id is required");
        Path bundleDir = bundle.isEmpty() ? Path.of("").toAbsolutePath() : Path.of(bundle);
        String binary = defaultBinary();
        Command.Result r = Command.run(List.of(binary, "--root", root().toString(), "delete", "--force", id), "", Duration.ofSeconds(60));
        if (r.status() != 0 && !r.output().contains("does not exist") && !r.output().contains("not found")) {
            System.err.println("containerd-shim-vessel-v2: delete " + id + ": " + r.firstLine());
        }
        Path rootfs = bundleDir.resolve("rootfs");
        if (Files.isDirectory(rootfs)) Command.run(List.of("umount", "-l", rootfs.toString()), "", Duration.ofSeconds(30));
        byte[] response = new Protobuf.Writer().uint(2, 128 + 9).timestamp(3, Instant.now()).toByteArray();
        System.out.write(response);
        System.out.flush();
        return 0;
    }

    /** The runtime the shim runs: {@code VESSEL_SHIM_RUNTIME}, else {@code vessel-microvm} beside the shim. */
    static String defaultBinary() {
        String env = System.getenv("VESSEL_SHIM_RUNTIME");
        if (env != null && !env.isEmpty()) return env;
        return home().resolve("bin/vessel-microvm").toString();
    }

    private int serve() throws IOException {
        if (socket.isEmpty()) throw new IOException("serve: -socket is required");
        Native.becomeSubreaper();
        Path sock = Path.of(socket);
        ServerSocketChannel channel = ShimServer.bind(sock);
        Events events = new Events(System.getenv("TTRPC_ADDRESS"), namespace);
        Runnable exit = () -> Thread.ofVirtual().start(() -> {
            try {
                Thread.sleep(100); // the Shutdown's answer goes out first
                events.close();
                Files.deleteIfExists(sock);
            } catch (IOException | InterruptedException e) {
                // exiting anyway
            }
            System.exit(0);
        });
        Files.createDirectories(root());
        TaskService tasks = new TaskService(events, defaultBinary(), root(), exit);
        new ShimServer(sock, tasks).serve(channel);
        return 0;
    }
}
