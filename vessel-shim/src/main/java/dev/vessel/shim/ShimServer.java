package dev.vessel.shim;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.logging.Logger;

/**
 * The long-lived shim: a ttrpc server on a Unix socket that containerd connects to. Each request
 * is answered on a virtual thread of its own, as ttrpc multiplexes streams on one connection (a
 * Wait blocks until its process exits while State and Stats go on).
 */
final class ShimServer {
    private static final Logger LOG = Logger.getLogger(ShimServer.class.getName());

    private final Path socket;
    private final TaskService tasks;

    ShimServer(Path socket, TaskService tasks) {
        this.socket = socket;
        this.tasks = tasks;
    }

    static ServerSocketChannel bind(Path socket) throws IOException {
        Files.createDirectories(socket.getParent());
        Files.deleteIfExists(socket);
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        return server;
    }

    void serve(ServerSocketChannel server) throws IOException {
        LOG.info("serving on " + socket);
        while (true) {
            SocketChannel connection = server.accept();
            Thread.ofVirtual().start(() -> serveConnection(connection));
        }
    }

    private void serveConnection(SocketChannel connection) {
        try (connection) {
            InputStream in = Channels.newInputStream(connection);
            OutputStream out = Channels.newOutputStream(connection);
            while (true) {
                Ttrpc.Frame frame = Ttrpc.read(in);
                if (frame.type() != Ttrpc.REQUEST) continue; // nothing else is sent to a server
                Thread.ofVirtual().start(() -> answer(frame, out));
            }
        } catch (EOFException e) {
            // containerd closed the connection
        } catch (IOException e) {
            LOG.warning("connection: " + e.getMessage());
        }
    }

    private void answer(Ttrpc.Frame frame, OutputStream out) {
        Ttrpc.Response response = respond(frame.body(), tasks);
        try {
            Ttrpc.write(out, new Ttrpc.Frame(frame.streamId(), Ttrpc.RESPONSE, (byte) 0, response.encode()));
        } catch (IOException e) {
            LOG.warning("answering stream " + frame.streamId() + ": " + e.getMessage());
        }
    }

    /** One request's response: its payload, or the error with its code; never an exception. */
    static Ttrpc.Response respond(byte[] body, TaskService tasks) {
        Ttrpc.Request request;
        try {
            request = Ttrpc.Request.parse(body);
        } catch (IllegalArgumentException e) {
            return Ttrpc.Response.error(Ttrpc.INVALID_ARGUMENT, "malformed ttrpc request: " + e.getMessage());
        }
        if (!request.service().equals(TaskService.SERVICE)) {
            return Ttrpc.Response.error(Ttrpc.UNIMPLEMENTED, "service " + request.service() + " is not served here");
        }
        try {
            return Ttrpc.Response.ok(tasks.handle(request.method(), request.payload()));
        } catch (TaskService.ShimException e) {
            LOG.info(request.method() + ": " + e.getMessage());
            return Ttrpc.Response.error(e.code, e.getMessage());
        } catch (RuntimeException e) {
            LOG.log(java.util.logging.Level.WARNING, request.method() + " failed", e);
            return Ttrpc.Response.error(Ttrpc.UNKNOWN, request.method() + ": " + e);
        }
    }
}
