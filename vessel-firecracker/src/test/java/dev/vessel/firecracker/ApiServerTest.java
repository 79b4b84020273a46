package dev.vessel.firecracker;

import dev.vessel.vmm.Accelerator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** HTTP on the Unix sockets, with raw requests as curl would send them. */
class ApiServerTest {
    @TempDir
    Path dir;
    ApiServer server;
    Vmm vmm;

    @BeforeEach
    void setUp() throws Exception {
        FcLog quiet = new FcLog("t");
        quiet.configure(new Model.Logger(null, "Off", null, null, null));
        QemuMapping.Host host = new QemuMapping.Host("qemu-system-x86_64", Accelerator.Kind.TCG, 0, dir.resolve("initrd"),
                dir.resolve("a.sock.qmp"), dir.resolve("a.sock.mmds"));
        vmm = new Vmm("t", new Vmm.Env(argv -> {
            throw new dev.vessel.vmm.VmmException("no QEMU in unit tests");
        }, () -> host, dir.resolve("none")), quiet, new FcMetrics());
        server = ApiServer.start(dir.resolve("a.sock"), new Api(vmm), dir.resolve("a.sock.mmds"),
                new MmdsService(vmm.mmds(), System::currentTimeMillis));
    }

    @AfterEach
    void tearDown() {
        server.close();
    }

    static String exchange(Path socket, String request) throws IOException {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            ch.write(ByteBuffer.wrap(request.getBytes(StandardCharsets.UTF_8)));
            ch.shutdownOutput();
            ByteBuffer buf = ByteBuffer.allocate(1 << 20);
            while (ch.read(buf) >= 0 && buf.hasRemaining()) {
                // until the server closes
            }
            return new String(buf.array(), 0, buf.position(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void getAndPutOverTheSocket() throws IOException {
        String r = exchange(dir.resolve("a.sock"), "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        assertThat(r).startsWith("HTTP/1.1 200 OK").contains("Content-Type: application/json")
                .contains("{\"id\":\"t\",\"state\":\"Not started\"");
        String body = "{\"vcpu_count\":2,\"mem_size_mib\":256}";
        r = exchange(dir.resolve("a.sock"), "PUT /machine-config HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + body.length()
                + "\r\nConnection: close\r\n\r\n" + body);
        assertThat(r).startsWith("HTTP/1.1 204");
        r = exchange(dir.resolve("a.sock"), "PUT /machine-config HTTP/1.1\r\nHost: localhost\r\nContent-Length: 14"
                + "\r\nConnection: close\r\n\r\n{\"vcpu_count\":");
        assertThat(r).startsWith("HTTP/1.1 400").contains("fault_message");
    }

    @Test
    void bodiesOverTheLimitAreRefusedUnread() throws IOException {
        String r = exchange(dir.resolve("a.sock"), "PUT /boot-source HTTP/1.1\r\nHost: localhost\r\nContent-Length: 60000\r\n\r\n{");
        assertThat(r).startsWith("HTTP/1.1 400").contains("larger than the limit of 51200");
        String chunk = "a".repeat(60000);
        r = exchange(dir.resolve("a.sock"), "PUT /boot-source HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
                + "Connection: close\r\n\r\n" + Integer.toHexString(chunk.length()) + "\r\n" + chunk + "\r\n0\r\n\r\n");
        assertThat(r).startsWith("HTTP/1.1 400").contains("larger than the limit");
    }

    @Test
    void metadataOnItsOwnSocket() throws IOException, ApiException {
        vmm.mmds().put(ApiJson.MAPPER.readTree("{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-1\"}}}"));
        String r = exchange(dir.resolve("a.sock.mmds"), "GET /latest/meta-data/ami-id HTTP/1.1\r\nHost: 169.254.169.254\r\n"
                + "Connection: close\r\n\r\n");
        assertThat(r).startsWith("HTTP/1.1 200").endsWith("ami-1");
        // the API is not on the metadata socket
        r = exchange(dir.resolve("a.sock.mmds"), "GET /machine-config HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assertThat(r).startsWith("HTTP/1.1 404");
    }

    @Test
    void anExistingSocketPathIsRefusedAndCloseRemovesOurs() throws IOException {
        assertThatThrownBy(() -> ApiServer.start(dir.resolve("a.sock"), new Api(vmm), dir.resolve("b.mmds"), null))
                .hasMessageContaining("already exists");
        server.close();
        assertThat(Files.exists(dir.resolve("a.sock"))).isFalse();
        assertThat(Files.exists(dir.resolve("a.sock.mmds"))).isFalse();
    }
}
