package dev.vessel.firecracker;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vessel.vmm.Accelerator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * Malformed requests, seeded-random, as raw HTTP on the API socket of a VMM that has not started
 * its guest: every answer is a 4xx carrying Firecracker's {@code {"fault_message": …}} (never a
 * 5xx, never Jetty's HTML page), whatever part of the request is wrong — the request line, the
 * headers, the framing (Content-Length, chunks) or the body — and the server answers afterwards.
 */
class MalformedRequestsTest {
    static final long SEED = 20261201L;
    static final int REQUESTS = 400;

    @TempDir
    Path dir;
    ApiServer server;
    Path socket;
    final List<List<String>> launched = new ArrayList<>();
    final ExecutorService io = Executors.newSingleThreadExecutor(r -> Thread.ofPlatform().daemon().unstarted(r));

    @BeforeEach
    void setUp() throws Exception {
        FcLog quiet = new FcLog("fuzz");
        quiet.configure(new Model.Logger(null, "Off", null, null, null));
        QemuMapping.Host host = new QemuMapping.Host("qemu-system-x86_64", Accelerator.Kind.TCG, 0, dir.resolve("initrd"),
                dir.resolve("f.sock.qmp"), dir.resolve("f.sock.mmds"));
        Vmm vmm = new Vmm("fuzz", new Vmm.Env(argv -> {
            launched.add(argv);
            throw new dev.vessel.vmm.VmmException("no QEMU in unit tests");
        }, () -> host, dir.resolve("no-vhost-vsock")), quiet, new FcMetrics());
        socket = dir.resolve("f.sock");
        server = ApiServer.start(socket, new Api(vmm), null, null);
    }

    @AfterEach
    void tearDown() {
        server.close();
        io.shutdownNow();
    }

    /** An answer as it came: status, headers (lower-case names) and the decoded body. */
    record Answer(int status, String head, String body) {
    }

    @Test
    void everyMalformedRequestGetsA4xxWithFaultMessage() throws Exception {
        Random random = new Random(SEED);
        Generator g = new Generator(random);
        List<String> wrong = new ArrayList<>();
        for (int i = 0; i < REQUESTS; i++) {
            byte[] request = g.next();
            String shown = show(request);
            Answer a = exchange(request, shown);
            String why = null;
            if (a.status() < 400 || a.status() > 499) why = "status " + a.status();
            else if (!a.head().toLowerCase().contains("content-type: application/json")) why = "not JSON";
            else {
                JsonNode fault;
                try {
                    fault = ApiJson.MAPPER.readTree(a.body());
                } catch (IOException e) {
                    fault = null;
                }
                if (fault == null || !fault.path("fault_message").isTextual() || fault.path("fault_message").asText().isBlank()) {
                    why = "no fault_message";
                }
            }
            if (why != null) wrong.add("request " + i + " (" + why + "): " + shown + "\n  answer: " + a.head() + " " + a.body());
        }
        assertThat(wrong).as("answers that are not a 4xx with a fault_message, of " + REQUESTS).isEmpty();
        assertThat(launched).as("no malformed request started QEMU").isEmpty();
        // still serving, still pre-boot
        Answer after = exchange(("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.UTF_8), "GET /");
        assertThat(after.status()).isEqualTo(200);
        assertThat(after.body()).contains("\"state\":\"Not started\"");
    }

    @Test
    void theIssuesExamplesAre400sNamingWhatIsWrong() throws Exception {
        String nul = "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/tmp/a\\u0000b\",\"is_root_device\":true}";
        Answer a = exchange(put("/drives/rootfs", nul), "NUL in path_on_host");
        assertThat(a.status()).isEqualTo(400);
        assertThat(a.body()).contains("fault_message").contains("`path_on_host`").contains("NUL");
        for (String path : List.of("/drives/../machine-config", "/drives/%2e%2e/machine-config", "/../version",
                "/drives//rootfs", "/./version", "/drives/a%2Fb")) {
            a = exchange(("GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.UTF_8), path);
            assertThat(a.status()).as(path + ": " + a.body()).isEqualTo(400);
            assertThat(a.body()).as(path).contains("fault_message");
        }
        a = exchange(put("/drives/" + "x".repeat(65), "{}"), "a 65-character id");
        assertThat(a.status()).isEqualTo(400);
        assertThat(a.body()).contains("Invalid ID");
    }

    static byte[] put(String path, String body) {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        return ("PUT " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: " + b.length
                + "\r\nConnection: close\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8);
    }

    /** One connection: the request, then half-close; the first answer on it, within 10 s. */
    Answer exchange(byte[] request, String shown) throws Exception {
        Future<byte[]> f = io.submit(() -> {
            try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                ch.connect(UnixDomainSocketAddress.of(socket));
                ByteBuffer out = ByteBuffer.wrap(request);
                try {
                    while (out.hasRemaining()) ch.write(out);
                    ch.shutdownOutput();
                } catch (IOException e) {
                    // the server may answer and close before it has read everything (a body over the limit)
                }
                ByteArrayOutputStream in = new ByteArrayOutputStream();
                ByteBuffer buf = ByteBuffer.allocate(65536);
                try {
                    while (ch.read(buf) >= 0) {
                        in.write(buf.array(), 0, buf.position());
                        buf.clear();
                    }
                } catch (IOException e) {
                    // reset after the answer: what was read is the answer
                }
                return in.toByteArray();
            }
        });
        byte[] raw;
        try {
            raw = f.get(10, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            return fail("no answer within 10 s to " + shown);
        }
        return parse(raw, shown);
    }

    static Answer parse(byte[] raw, String shown) {
        String text = new String(raw, StandardCharsets.ISO_8859_1);
        int end = text.indexOf("\r\n\r\n");
        if (!text.startsWith("HTTP/1.1 ") || end < 0) return fail("not an HTTP answer to " + shown + ": " + text);
        String head = text.substring(0, end);
        int status = Integer.parseInt(head.substring(9, 12));
        String rest = text.substring(end + 4);
        String lower = head.toLowerCase();
        String body;
        int cl = lower.indexOf("\r\ncontent-length: ");
        if (cl >= 0) {
            int n = Integer.parseInt(lower.substring(cl + 18, lower.indexOf("\r\n", cl + 2) < 0 ? lower.length()
                    : lower.indexOf("\r\n", cl + 2)).strip());
            body = rest.substring(0, Math.min(n, rest.length()));
        } else if (lower.contains("\r\ntransfer-encoding: chunked")) {
            StringBuilder b = new StringBuilder();
            int at = 0;
            while (true) {
                int nl = rest.indexOf("\r\n", at);
                int size = Integer.parseInt(rest.substring(at, nl).strip(), 16);
                if (size == 0) break;
                b.append(rest, nl + 2, nl + 2 + size);
                at = nl + 2 + size + 2;
            }
            body = b.toString();
        } else {
            body = rest;
        }
        return new Answer(status, head, new String(body.getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8));
    }

    static String show(byte[] request) {
        String s = new String(request, StandardCharsets.ISO_8859_1);
        if (s.length() > 300) s = s.substring(0, 300) + "…(" + request.length + " bytes)";
        return ParsedRequest.printable(s);
    }

    /** Malformed requests of many kinds, each wrong in one or two ways. */
    static final class Generator {
        static final String[] ENDPOINTS = {"/", "/version", "/boot-source", "/drives/rootfs", "/network-interfaces/eth0",
                "/machine-config", "/actions", "/vm", "/vm/config", "/logger", "/metrics", "/vsock", "/entropy", "/balloon",
                "/balloon/statistics", "/snapshot/create", "/snapshot/load", "/mmds", "/mmds/config"};
        static final String[] PATH_FIELDS = {"kernel_image_path", "initrd_path", "path_on_host", "metrics_path", "log_path",
                "uds_path", "snapshot_path", "mem_file_path", "host_dev_name"};
        final Random r;
        final List<Supplier<byte[]>> kinds = new ArrayList<>();

        Generator(Random r) {
            this.r = r;
            kinds.add(this::badJson);
            kinds.add(this::nulInAPathField);
            kinds.add(this::ambiguousPath);
            kinds.add(this::hugeId);
            kinds.add(this::wrongMethod);
            kinds.add(this::unknownEndpoint);
            kinds.add(this::badContentLength);
            kinds.add(this::badChunked);
            kinds.add(this::badRequestLine);
            kinds.add(this::badHeaders);
            kinds.add(this::wrongTypes);
        }

        byte[] next() {
            return kinds.get(r.nextInt(kinds.size())).get();
        }

        String pick(String... xs) {
            return xs[r.nextInt(xs.length)];
        }

        /** A PUT or PATCH (the methods that read a body) on a route that takes one. */
        String bodyRoute() {
            return pick("PUT /boot-source", "PUT /drives/rootfs", "PATCH /drives/rootfs", "PUT /network-interfaces/eth0",
                    "PATCH /network-interfaces/eth0", "PUT /machine-config", "PATCH /machine-config", "PUT /actions",
                    "PATCH /vm", "PUT /logger", "PUT /metrics", "PUT /vsock", "PUT /entropy", "PUT /balloon",
                    "PATCH /balloon", "PATCH /balloon/statistics", "PUT /snapshot/create", "PUT /snapshot/load",
                    "PUT /mmds/config", "PUT /mmds", "PATCH /mmds");
        }

        static byte[] request(String methodAndPath, String headers, byte[] body) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            b.writeBytes((methodAndPath + " HTTP/1.1\r\nHost: localhost\r\n" + headers + "Connection: close\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            b.writeBytes(body);
            return b.toByteArray();
        }

        static byte[] withBody(String methodAndPath, String body) {
            byte[] b = body.getBytes(StandardCharsets.UTF_8);
            return request(methodAndPath, "Content-Type: application/json\r\nContent-Length: " + b.length + "\r\n", b);
        }

        byte[] badJson() {
            String body = switch (r.nextInt(9)) {
                case 0 -> "{";
                case 1 -> "{\"kernel_image_path\":";
                case 2 -> "[1,2,3]";
                case 3 -> "null";
                case 4 -> "{\"a\":1} trailing";
                case 5 -> "{\"drive_id\":\"rootfs\",\"drive_id\":\"rootfs\"}";
                case 6 -> "\"just a string\"";
                case 7 -> {
                    byte[] junk = new byte[1 + r.nextInt(200)];
                    r.nextBytes(junk);
                    yield new String(junk, StandardCharsets.ISO_8859_1);
                }
                default -> "{\"" + "x".repeat(r.nextInt(50)) + "\": {\"nested\": [" + "[".repeat(r.nextInt(40)) + "}";
            };
            if (body.equals("null") && r.nextBoolean()) body = "";
            return withBody(bodyRoute(), body);
        }

        byte[] nulInAPathField() {
            String field = pick(PATH_FIELDS);
            String nul = r.nextBoolean() ? "\\u0000" : "\u0000"; // an escape, or a raw NUL byte (invalid JSON)
            String value = "/tmp/" + "a".repeat(r.nextInt(10)) + nul + "b";
            String body = switch (field) {
                case "kernel_image_path", "initrd_path" -> "{\"kernel_image_path\":\"" + value + "\"}";
                case "path_on_host" -> "{\"drive_id\":\"rootfs\",\"path_on_host\":\"" + value + "\",\"is_root_device\":true}";
                case "metrics_path" -> "{\"metrics_path\":\"" + value + "\"}";
                case "log_path" -> "{\"log_path\":\"" + value + "\"}";
                case "uds_path" -> "{\"guest_cid\":3,\"uds_path\":\"" + value + "\"}";
                case "host_dev_name" -> "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap" + nul + "\"}";
                default -> "{\"snapshot_path\":\"" + value + "\",\"mem_file_path\":\"" + value + "\"}";
            };
            String route = switch (field) {
                case "kernel_image_path", "initrd_path" -> "PUT /boot-source";
                case "path_on_host" -> pick("PUT /drives/rootfs", "PATCH /drives/rootfs");
                case "metrics_path" -> "PUT /metrics";
                case "log_path" -> "PUT /logger";
                case "uds_path" -> "PUT /vsock";
                case "host_dev_name" -> "PUT /network-interfaces/eth0";
                default -> pick("PUT /snapshot/create", "PUT /snapshot/load");
            };
            return withBody(route, body);
        }

        byte[] ambiguousPath() {
            String path = pick("/drives/../machine-config", "/drives/%2e%2e/machine-config", "/%2E%2E/%2e%2E/version",
                    "/../../etc/passwd", "/drives/..", "//", "//version", "/drives//rootfs", "/./boot-source",
                    "/drives/%2e/x", "/drives/a%2Fb", "/drives/%00", "/drives/a%00b", "/mmds/%zz", "/drives/%",
                    "/drives/%c3%28", "/vm/./config", "/drives/rootfs/..", "/network-interfaces/%2e%2e%2f%2e%2e",
                    "/drives/a;b=c", "/drives/%u0041");
            String method = pick("GET", "PUT", "PATCH");
            return method.equals("GET") ? request(method + " " + path, "", new byte[0]) : withBody(method + " " + path, "{}");
        }

        byte[] hugeId() {
            int n = switch (r.nextInt(3)) {
                case 0 -> 65 + r.nextInt(200);
                case 1 -> 1000 + r.nextInt(5000);
                default -> 60000 + r.nextInt(10000); // over the body limit, or over Jetty's header limit in a path
            };
            String id = "d".repeat(n);
            return switch (r.nextInt(3)) {
                case 0 -> withBody("PUT /drives/" + id, "{\"drive_id\":\"" + id + "\",\"path_on_host\":\"/x\",\"is_root_device\":false}");
                case 1 -> withBody("PUT /drives/rootfs", "{\"drive_id\":\"" + id + "\",\"path_on_host\":\"/x\",\"is_root_device\":false}");
                default -> withBody("PATCH /network-interfaces/" + id, "{\"iface_id\":\"" + id + "\"}");
            };
        }

        byte[] wrongMethod() {
            // not HEAD: its answer has no body by definition
            String method = pick("DELETE", "POST", "OPTIONS", "TRACE", "CONNECT", "FOO", "get", "PROPFIND", "PUTT");
            String path = pick(ENDPOINTS);
            return method.equals("CONNECT") ? request("CONNECT localhost:80", "", new byte[0])
                    : withBody(method + " " + path, r.nextBoolean() ? "{}" : "");
        }

        byte[] unknownEndpoint() {
            StringBuilder path = new StringBuilder();
            int segments = 1 + r.nextInt(3);
            for (int i = 0; i < segments; i++) {
                path.append('/');
                int len = 1 + r.nextInt(12);
                for (int j = 0; j < len; j++) path.append("abcdefghijklmnopqrstuvwxyz-_0123456789".charAt(r.nextInt(38)));
            }
            String p = switch (r.nextInt(4)) {
                case 0 -> path.toString();
                case 1 -> "/cpu-config";
                case 2 -> "/boot-source" + path;
                default -> "/snapshot" + path;
            };
            return r.nextBoolean() ? request("GET " + p, "", new byte[0]) : withBody("PUT " + p, "{}");
        }

        byte[] badContentLength() {
            String body = "{\"vcpu_count\":2,\"mem_size_mib\":256}";
            byte[] b = body.getBytes(StandardCharsets.UTF_8);
            String header = switch (r.nextInt(8)) {
                case 0 -> "Content-Length: abc\r\n";
                case 1 -> "Content-Length: -1\r\n";
                case 2 -> "Content-Length: 99999999999999999999999\r\n";
                case 3 -> "Content-Length: " + (b.length + 1 + r.nextInt(100)) + "\r\n"; // the body ends early
                case 4 -> "Content-Length: " + b.length + "\r\nContent-Length: " + (b.length + 3) + "\r\n";
                case 5 -> "Content-Length: 1e3\r\n";
                case 6 -> "Content-Length: " + (51201 + r.nextInt(1 << 20)) + "\r\n";
                default -> "Content-Length:  " + b.length + "x\r\n";
            };
            return request("PUT /machine-config", header, b);
        }

        byte[] badChunked() {
            String te = "Transfer-Encoding: chunked\r\n";
            String chunks = switch (r.nextInt(7)) {
                case 0 -> "zz\r\nabc\r\n0\r\n\r\n";
                case 1 -> "5\r\n{\"a\":\r\n"; // never ends
                case 2 -> "ffffffffffffffff\r\n{}\r\n0\r\n\r\n";
                case 3 -> "3\r\n{}x\r\n0\r\n\r\n";
                case 4 -> "2\r\n{}\r\n0\r\n\r\n"; // well-formed framing, but with a Content-Length too (below)
                case 5 -> "-2\r\n{}\r\n0\r\n\r\n";
                default -> "2;ext=\"unterminated\r\n{}\r\n0\r\n\r\n";
            };
            String headers = te;
            if (chunks.startsWith("2\r\n{}")) headers += "Content-Length: 2\r\n";
            if (r.nextInt(5) == 0) headers = "Transfer-Encoding: gzip, chunked\r\n";
            if (r.nextInt(7) == 0) headers = "Transfer-Encoding: identity\r\n";
            return request(pick("PUT /machine-config", "PUT /drives/rootfs", "PUT /vsock"), headers,
                    chunks.getBytes(StandardCharsets.ISO_8859_1));
        }

        byte[] badRequestLine() {
            String line = pick("GET / HTTP/9.9", "GET / HTTP/1.1 extra", "GET /\tversion HTTP/1.1",
                    "GET / HTTX/1.1", "/ HTTP/1.1", "GET", "GET version HTTP/1.1", "GET http://localhost/../x HTTP/1.1",
                    "GET /ver\u0000sion HTTP/1.1", "GET /v\u00e9rsion HTTP/1.1", "G\u0001T / HTTP/1.1", "GET * HTTP/1.1",
                    "GET /" + "a".repeat(9000) + " HTTP/1.1");
            return (line + "\r\nHost: localhost\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1);
        }

        byte[] badHeaders() {
            String header = pick("No-Colon-Header\r\n", "Bad Name: x\r\n", "X-Nul: a\u0000b\r\n", ": empty-name\r\n",
                    "X-Long: " + "v".repeat(20000) + "\r\n", "Content-Type: application/json\r\n folded: continuation\r\n",
                    "Host: second\r\n", "Expect: 100-banana\r\n", "X\u0001: ctl\r\n");
            // with the headers let by, the request is still wrong: PUT /machine-config {} lacks the required fields
            return request("PUT /machine-config", header + "Content-Length: 2\r\n", "{}".getBytes(StandardCharsets.UTF_8));
        }

        byte[] wrongTypes() {
            String body = pick("{\"vcpu_count\":\"2\",\"mem_size_mib\":128}", "{\"vcpu_count\":1.5,\"mem_size_mib\":128}",
                    "{\"vcpu_count\":99999999999999999999,\"mem_size_mib\":128}", "{\"vcpu_count\":-1,\"mem_size_mib\":128}",
                    "{\"vcpu_count\":true,\"mem_size_mib\":128}", "{\"vcpu_count\":2,\"mem_size_mib\":1e400}",
                    "{\"vcpu_count\":2,\"mem_size_mib\":128,\"smt\":\"yes\"}", "{\"vcpu_count\":null,\"mem_size_mib\":128}",
                    "{\"vcpu_count\":{},\"mem_size_mib\":[]}", "{\"vcpu_count\":2}", "{}", "{\"unknown\":1}");
            // PATCH takes a partial body: the two that lack a required field are wrong for PUT only
            boolean partial = body.equals("{}") || body.equals("{\"vcpu_count\":2}") || body.contains("null");
            return withBody(partial ? "PUT /machine-config" : pick("PUT /machine-config", "PATCH /machine-config"), body);
        }
    }
}
