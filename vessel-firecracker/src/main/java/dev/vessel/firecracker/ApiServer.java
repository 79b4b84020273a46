package dev.vessel.firecracker;

import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.io.Content;
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
import org.eclipse.jetty.util.thread.VirtualThreadPool;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ExecutionException;

/**
 * Firecracker's API over HTTP/1.1 on a Unix socket: Jetty's Unix-domain connector and one plain
 * handler that reads the body (at most {@link ApiJson#maxBody()} bytes, 51200 by default: a larger Content-Length is
 * answered 400 without reading it) and hands it to {@link Api}. A second connector, on the
 * metadata socket, serves the guest's MMDS requests ({@link MmdsService}) that QEMU forwards.
 */
public final class ApiServer implements AutoCloseable {
    private final Server server;
    private final Path socket;
    private final Path mmdsSocket;

    private ApiServer(Server server, Path socket, Path mmdsSocket) {
        this.server = server;
        this.socket = socket;
        this.mmdsSocket = mmdsSocket;
    }

    /**
     * Listens on {@code socket} (null: no API, as with --no-api), which must not exist (as
     * Firecracker, which will not replace it), and for the guest's metadata requests on {@code mmdsSocket}
     * (null: none, as for a microVM of Vessel's OCI runtime, which has no MMDS).
     */
    public static ApiServer start(Path socket, Api api, Path mmdsSocket, MmdsService mmds) throws IOException {
        return start(socket, api, mmdsSocket, mmds, ApiJson.MAX_BODY, false);
    }

    /**
     * As {@link #start(Path, Api, Path, MmdsService)}, with Firecracker's {@code --http-api-max-payload-size}
     * ({@code maxBody}) and, with {@code virtualThreads}, every thread of the server virtual (a
     * daemon serving a {@code vessel vmm} per caller: an idle VM then costs no platform thread).
     */
    public static ApiServer start(Path socket, Api api, Path mmdsSocket, MmdsService mmds, int maxBody,
                                  boolean virtualThreads) throws IOException {
        if (maxBody < 1) throw new IllegalArgumentException("the payload limit must be positive");
        if (socket != null && Files.exists(socket, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException("the API socket " + socket + " already exists (remove it, or choose another path)");
        }
        if (mmdsSocket != null) Files.deleteIfExists(mmdsSocket);
        Server server;
        if (virtualThreads) {
            VirtualThreadPool threads = new VirtualThreadPool(64);
            threads.setName("vmm-api");
            server = new Server(threads);
        } else {
            QueuedThreadPool threads = new QueuedThreadPool(8, 2);
            threads.setName("api");
            threads.setDaemon(true);
            server = new Server(threads);
        }
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendXPoweredBy(false);
        // Jetty refuses ambiguous paths (`..`, `%2e%2e`, `//`, `%2F`) itself, with an HTML page: let
        // them through to ParsedRequest, which refuses them with Firecracker's error body
        http.setUriCompliance(UriCompliance.UNSAFE);
        UnixDomainServerConnector metadata = null;
        if (mmdsSocket != null) {
            metadata = new UnixDomainServerConnector(server, 1, 1, new HttpConnectionFactory(http));
            metadata.setUnixDomainPath(mmdsSocket);
            server.addConnector(metadata);
        }
        UnixDomainServerConnector mmdsConnector = metadata;
        if (socket != null) {
            UnixDomainServerConnector connector = new UnixDomainServerConnector(server, 1, 1, new HttpConnectionFactory(http));
            connector.setUnixDomainPath(socket);
            server.addConnector(connector);
        }
        server.setErrorHandler((request, response, callback) ->
                ScopedValue.where(ApiJson.MAX_BODY_LIMIT, maxBody).call(() -> jettyError(request, response, callback)));
        server.setHandler(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) {
                boolean metadataRequest = mmdsConnector != null && request.getConnectionMetaData().getConnector() == mmdsConnector;
                if (metadataRequest) serveMmds(mmds, request, response, callback);
                else ScopedValue.where(ApiJson.MAX_BODY_LIMIT, maxBody).run(() -> serve(api, request, response, callback));
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
            throw new IOException("cannot serve the API on " + socket + ": " + e.getMessage(), e);
        }
        return new ApiServer(server, socket, mmdsSocket);
    }

    private static void serveMmds(MmdsService mmds, Request request, Response response, Callback callback) {
        MmdsService.Reply r = mmds.handle(request.getMethod(), request.getHttpURI().getPath(),
                name -> request.getHeaders().get(name));
        Content.Source.consumeAll(request, Callback.NOOP);
        response.setStatus(r.status());
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, r.contentType());
        response.write(true, ByteBuffer.wrap(MmdsService.bytes(r.body())), callback);
    }

    private static final HttpField SERVER = new HttpField(HttpHeader.SERVER, "Firecracker API");

    /**
     * What Jetty refuses before our handler sees it (a malformed request line, header or
     * Content-Length, a bad chunk, a URI it cannot parse): Firecracker's JSON error body, not
     * Jetty's HTML page. An unsupported HTTP version or transfer coding is the client's mistake
     * too, so a 400 where Jetty says 505 or 501; any other 5xx stays one (a fault of ours).
     */
    private static boolean jettyError(Request request, Response response, Callback callback) {
        int status = request.getAttribute(ErrorHandler.ERROR_STATUS) instanceof Integer i ? i : response.getStatus();
        if (status < 400 || status == HttpStatus.NOT_IMPLEMENTED_501 || status == HttpStatus.HTTP_VERSION_NOT_SUPPORTED_505) {
            status = 400;
        }
        Object message = request.getAttribute(ErrorHandler.ERROR_MESSAGE);
        String reason = message != null ? message.toString() : HttpStatus.getMessage(status);
        response.setStatus(status);
        response.getHeaders().put(SERVER);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.write(true, ByteBuffer.wrap(ApiJson.fault("Invalid request: " + ParsedRequest.printable(reason) + ".")), callback);
        return true;
    }

    private static void serve(Api api, Request request, Response response, Callback callback) {
        Api.Response r;
        long length = request.getLength();
        if (length > ApiJson.maxBody()) {
            r = new Api.Response(400, ApiJson.fault(ApiJson.tooLarge(length).getMessage()));
            response.getHeaders().put(HttpHeader.CONNECTION, "close");
        } else {
            byte[] body;
            try {
                body = Content.Source.asByteArrayAsync(request, ApiJson.maxBody()).get();
            } catch (ExecutionException e) {
                body = null;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                callback.failed(e);
                return;
            }
            r = body == null ? new Api.Response(400, ApiJson.fault(ApiJson.tooLarge(ApiJson.maxBody() + 1L).getMessage()))
                    : api.handle(request.getMethod(), request.getHttpURI().getPath(), body);
        }
        response.setStatus(r.status());
        response.getHeaders().put(SERVER);
        if (r.body() == null) {
            callback.succeeded();
            return;
        }
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.write(true, ByteBuffer.wrap(r.body()), callback);
    }

    public Path socket() {
        return socket;
    }

    /** Stops serving and removes the socket. */
    @Override
    public void close() {
        try {
            server.stop();
        } catch (Exception ignored) {
            // exiting anyway
        }
        try {
            if (socket != null) Files.deleteIfExists(socket);
            if (mmdsSocket != null) Files.deleteIfExists(mmdsSocket);
        } catch (IOException ignored) {
            // nothing more to do
        }
    }
}
