package dev.vessel.daemon;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.SocketChannelEndPoint;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.unixdomain.server.UnixDomainServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The management API over HTTP/1.1 on a Unix socket next to vesseld's ({@code api.sock}): Jetty's
 * Unix-domain connector, as Firecracker's API in vessel-firecracker. Root only: the socket is
 * 0600 and each connection's peer credentials (SO_PEERCRED) must be uid 0.
 */
final class ManagementServer implements AutoCloseable {
    /** How often an idle event stream says it is alive (and finds a client that went away). */
    private static final long KEEPALIVE_SECONDS = 15;

    private final Server server;
    private final Path socket;

    private ManagementServer(Server server, Path socket) {
        this.server = server;
        this.socket = socket;
    }

    static Path socketNextTo(Path vesseldSocket) {
        return vesseldSocket.resolveSibling("api.sock");
    }

    /**
     * Serves {@code api} on {@code socket}, replacing a socket a previous daemon left behind. The
     * socket is bound under a name of its own, made root's only and then renamed into place, so
     * that {@code socket} never exists with the umask's mode.
     */
    static ManagementServer start(Path socket, ManagementApi api, SandboxEvents events) throws IOException {
        Path bound = socket.resolveSibling("." + socket.getFileName() + "." + ProcessHandle.current().pid());
        Files.deleteIfExists(bound);
        QueuedThreadPool threads = new QueuedThreadPool(32, 2);
        threads.setName("mgmt-api");
        threads.setDaemon(true);
        Server server = new Server(threads);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendXPoweredBy(false);
        UnixDomainServerConnector connector = new UnixDomainServerConnector(server, 1, 1, new HttpConnectionFactory(http));
        connector.setUnixDomainPath(bound);
        server.addConnector(connector);
        server.setErrorHandler(ManagementServer::jettyError);
        server.setHandler(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                serve(api, events, request, response, callback);
                return true;
            }
        });
        try {
            server.start();
        } catch (Exception e) {
            try {
                server.stop();
            } catch (Exception ignored) {
                // the start failure is what matters
            }
            Files.deleteIfExists(bound);
            throw new IOException("cannot serve the management API on " + socket + ": " + e.getMessage(), e);
        }
        Files.setPosixFilePermissions(bound, PosixFilePermissions.fromString("rw-------"));
        Files.move(bound, socket, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        return new ManagementServer(server, socket);
    }

    /** The uid of the connection's peer, or -1 when it cannot be told. */
    static long peerUid(Request request) {
        EndPoint endPoint = request.getConnectionMetaData().getConnection().getEndPoint();
        if (!(endPoint instanceof SocketChannelEndPoint channelEndPoint)) return -1;
        try {
            SocketChannel channel = channelEndPoint.getChannel();
            UnixDomainPrincipal peer = channel.getOption(ExtendedSocketOptions.SO_PEERCRED);
            return peer.user().getName().equals("root") ? 0 : uidOf(peer.user().getName());
        } catch (IOException | UnsupportedOperationException e) {
            return -1;
        }
    }

    private static long uidOf(String name) {
        try {
            return Long.parseLong(name); // a uid without a passwd entry is given as its number
        } catch (NumberFormatException e) {
            return Long.MAX_VALUE; // some user other than root
        }
    }

    private static void serve(ManagementApi api, SandboxEvents events, Request request, Response response, Callback callback)
            throws IOException {
        String target = request.getHttpURI().getPath();
        // a VM manifest comes in the body (POST /v1/vms); every other request's body is ignored
        byte[] body = target != null && VmApi.handles(target) && VmService.started()
                ? bytes(Content.Source.asByteBuffer(request)) : null;
        if (body == null) Content.Source.consumeAll(request, Callback.NOOP);
        if (peerUid(request) != 0) {
            send(response, callback, ManagementApi.Reply.error(403, "the management API is for root only"));
            return;
        }
        String path = request.getHttpURI().getPath();
        String query = request.getHttpURI().getQuery();
        if (ManagementApi.isEvents(path) && request.getMethod().equals("GET")) {
            ApiQuery filter;
            try {
                filter = ApiQuery.parse(query, ManagementApi.EVENT_PARAMETERS);
            } catch (ApiQuery.BadQuery e) {
                send(response, callback, ManagementApi.Reply.json(400, ManagementApi.JSON.createObjectNode()
                        .put("error", e.getMessage()).put("parameter", e.parameter())));
                return;
            }
            stream(events, filter, response, callback);
            return;
        }
        if (body != null) {
            send(response, callback, VmApi.handle(VmService.driver(), request.getMethod(), path, query, body));
            return;
        }
        send(response, callback, api.handle(request.getMethod(), path == null ? "/" : path, query));
    }

    private static byte[] bytes(java.nio.ByteBuffer buffer) {
        byte[] b = new byte[buffer.remaining()];
        buffer.get(b);
        return b;
    }

    private static void send(Response response, Callback callback, ManagementApi.Reply reply) {
        response.setStatus(reply.status());
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.write(true, ByteBuffer.wrap(reply.body()), callback);
    }

    /** Server-sent events until the client goes: one {@code event:}/{@code data:} block per event. */
    private static void stream(SandboxEvents events, ApiQuery filter, Response response, Callback callback) {
        response.setStatus(200);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream");
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
        BlockingQueue<SandboxEvents.Event> queue = events.subscribe();
        try (OutputStream out = Content.Sink.asOutputStream(response)) {
            out.write(": vessel events\n\n".getBytes(StandardCharsets.UTF_8)); // headers out now: the client knows it is subscribed
            out.flush();
            while (true) {
                SandboxEvents.Event event = queue.poll(KEEPALIVE_SECONDS, TimeUnit.SECONDS);
                String text;
                if (event == null) {
                    text = ": keep-alive\n\n";
                } else if (filter.root() != null && !filter.root().toString().equals(event.root())
                        || filter.isolation() != null && !filter.isolation().equals(event.isolation())) {
                    continue;
                } else {
                    text = "event: " + event.type() + "\ndata: " + ManagementApi.JSON.writeValueAsString(event) + "\n\n";
                }
                out.write(text.getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
        } catch (IOException e) {
            // the client went away
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            events.unsubscribe(queue);
            callback.succeeded();
        }
    }

    /** What Jetty refuses itself (a malformed request line or header): a JSON error, not Jetty's HTML page. */
    private static boolean jettyError(Request request, Response response, Callback callback) {
        int status = request.getAttribute(ErrorHandler.ERROR_STATUS) instanceof Integer i ? i : response.getStatus();
        if (status < 400) status = 400;
        Object message = request.getAttribute(ErrorHandler.ERROR_MESSAGE);
        String reason = message != null ? message.toString() : org.eclipse.jetty.http.HttpStatus.getMessage(status);
        send(response, callback, ManagementApi.Reply.error(status, "invalid request: " + ApiQuery.printable(reason)));
        return true;
    }

    Path socket() {
        return socket;
    }

    @Override
    public void close() {
        try {
            server.stop();
        } catch (Exception ignored) {
            // exiting anyway
        }
        try {
            Files.deleteIfExists(socket);
        } catch (IOException ignored) {
            // nothing more to do
        }
    }
}
