package dev.vessel.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vessel.oci.OciException;
import dev.vessel.runtime.vm.VmDriver;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A migration's target vesseld as the source's sees it: its management API ({@code api.sock}
 * next to the daemon's socket), {@code POST|DELETE /v1/vms/{name}/incoming}. One HTTP/1.1
 * request per connection ({@code Connection: close}); the JDK's HTTP client speaks no Unix sockets.
 * A target that does not answer within {@link #TIMEOUT} is given up (the source holds the VM's
 * lock meanwhile).
 */
final class MigrationClient implements VmDriver.MigrationTarget {
    /** The target makes the VM and starts its QEMU within this (a cold QEMU start under load takes seconds). */
    static final java.time.Duration TIMEOUT = java.time.Duration.ofSeconds(120);
    private final Path daemonSocket;
    private final Path api;

    private MigrationClient(Path daemonSocket) {
        this.daemonSocket = daemonSocket;
        this.api = ManagementServer.socketNextTo(daemonSocket);
    }

    /** The target at {@code daemonSocket}; one that is not there is refused here, before anything is made. */
    static MigrationClient at(Path daemonSocket) {
        if (!Files.exists(daemonSocket)) {
            throw new OciException("vm migrate: --to " + daemonSocket + ": no vesseld there (no such socket)");
        }
        if (!Files.exists(ManagementServer.socketNextTo(daemonSocket))) {
            throw new OciException("vm migrate: --to " + daemonSocket + ": that vesseld serves no management API ("
                    + ManagementServer.socketNextTo(daemonSocket) + " is missing)");
        }
        return new MigrationClient(daemonSocket);
    }

    @Override
    public String prepare(String name, String uid, String created, byte[] manifest, Path sourceDir) {
        Map<String, String> body = new LinkedHashMap<>();
        body.put("manifest", new String(manifest, StandardCharsets.UTF_8));
        body.put("sourceDir", sourceDir.toString());
        if (uid != null) body.put("uid", uid);
        if (created != null) body.put("created", created);
        JsonNode reply = call("POST", "/v1/vms/" + name + "/incoming", body);
        return reply.path("uri").asText();
    }

    @Override
    public void abort(String name) {
        call("DELETE", "/v1/vms/" + name + "/incoming", null);
    }

    @Override
    public String describe() {
        return daemonSocket.toString();
    }

    private JsonNode call(String method, String path, Object body) {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(api));
            // blocking channels have no read timeout: closing it ends a read that waits too long
            Thread watchdog = Thread.ofVirtual().start(() -> {
                try {
                    Thread.sleep(TIMEOUT);
                    ch.close();
                } catch (InterruptedException | IOException done) {
                    // answered in time
                }
            });
            try {
                return exchange(ch, method, path, body);
            } catch (java.nio.channels.AsynchronousCloseException e) {
                throw new OciException("vm migrate: target " + describe() + ": no answer within " + TIMEOUT.toSeconds() + " s");
            } finally {
                watchdog.interrupt();
            }
        } catch (IOException | NumberFormatException e) {
            throw new OciException("vm migrate: target " + describe() + ": " + e.getMessage());
        }
    }

    private JsonNode exchange(SocketChannel ch, String method, String path, Object body) throws IOException {
        byte[] content = body == null ? new byte[0] : ManagementApi.JSON.writeValueAsBytes(body);
        String head = method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                + "Content-Type: application/json\r\nContent-Length: " + content.length + "\r\n\r\n";
        ch.write(ByteBuffer.wrap(head.getBytes(StandardCharsets.US_ASCII)));
        ch.write(ByteBuffer.wrap(content));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Channels.newInputStream(ch).transferTo(out);
        String reply = out.toString(StandardCharsets.UTF_8);
        int end = reply.indexOf("\r\n\r\n");
        if (!reply.startsWith("HTTP/1.1 ") || end < 0) throw new OciException("vm migrate: " + describe() + ": not an HTTP reply");
        int status = Integer.parseInt(reply.substring(9, 12));
        String payload = reply.substring(end + 4);
        if (reply.substring(0, end).toLowerCase().contains("transfer-encoding: chunked")) payload = unchunk(payload);
        JsonNode json = payload.isBlank() ? ManagementApi.JSON.createObjectNode() : ManagementApi.JSON.readTree(payload);
        if (status >= 300) {
            throw new OciException("vm migrate: target " + describe() + ": " + json.path("error").asText("HTTP " + status));
        }
        return json;
    }

    private static String unchunk(String s) {
        StringBuilder b = new StringBuilder();
        int i = 0;
        while (i < s.length()) {
            int eol = s.indexOf("\r\n", i);
            if (eol < 0) break;
            int n = Integer.parseInt(s.substring(i, eol).split(";")[0].strip(), 16);
            if (n == 0) break;
            b.append(s, eol + 2, eol + 2 + n);
            i = eol + 2 + n + 2;
        }
        return b.toString();
    }
}
