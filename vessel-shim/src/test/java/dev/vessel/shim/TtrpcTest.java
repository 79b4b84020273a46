package dev.vessel.shim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.util.HexFormat;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TtrpcTest {
    @Test
    void frameHeaderIsTenBytesBigEndianLengthStreamTypeFlags() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Ttrpc.write(out, new Ttrpc.Frame(0x01020304, Ttrpc.RESPONSE, (byte) 0, new byte[] {9, 8, 7}));
        assertThat(HexFormat.of().formatHex(out.toByteArray())).isEqualTo("00000003" + "01020304" + "02" + "00" + "090807");
    }

    @Test
    void framesRoundTripAndACleanEndIsEof() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Ttrpc.write(out, new Ttrpc.Frame(3, Ttrpc.REQUEST, (byte) 0, "abc".getBytes()));
        Ttrpc.write(out, new Ttrpc.Frame(5, Ttrpc.REQUEST, (byte) 0, new byte[0]));
        ByteArrayInputStream in = new ByteArrayInputStream(out.toByteArray());
        Ttrpc.Frame a = Ttrpc.read(in);
        assertThat(a.streamId()).isEqualTo(3);
        assertThat(a.type()).isEqualTo(Ttrpc.REQUEST);
        assertThat(new String(a.body())).isEqualTo("abc");
        assertThat(Ttrpc.read(in).streamId()).isEqualTo(5);
        assertThatThrownBy(() -> Ttrpc.read(in)).isInstanceOf(EOFException.class);
    }

    @Test
    void aTruncatedOrOversizedFrameIsAnError() {
        assertThatThrownBy(() -> Ttrpc.read(new ByteArrayInputStream(new byte[] {0, 0, 0})))
                .hasMessageContaining("truncated header");
        assertThatThrownBy(() -> Ttrpc.read(new ByteArrayInputStream(new byte[] {0, 0, 0, 5, 0, 0, 0, 1, 1, 0, 1})))
                .hasMessageContaining("truncated message");
        assertThatThrownBy(() -> Ttrpc.read(new ByteArrayInputStream(new byte[] {0x10, 0, 0, 0, 0, 0, 0, 1, 1, 0})))
                .hasMessageContaining("4 MiB");
    }

    /** The bytes Go's ttrpc client sends for Task/State {id "c1"} with a namespace header (proto3 field order). */
    @Test
    void aRequestDecodesAsGoEncodesIt() {
        byte[] payload = {0x0a, 0x02, 'c', '1'};
        byte[] body = new Protobuf.Writer().string(1, "containerd.task.v2.Task").string(2, "State").bytes(3, payload)
                .uint(4, 5_000_000_000L)
                .message(5, new Protobuf.Writer().string(1, "containerd-namespace-ttrpc").string(2, "k8s.io")).toByteArray();
        Ttrpc.Request r = Ttrpc.Request.parse(body);
        assertThat(r.service()).isEqualTo("containerd.task.v2.Task");
        assertThat(r.method()).isEqualTo("State");
        assertThat(r.payload()).containsExactly(payload);
        assertThat(r.metadata()).containsEntry("containerd-namespace-ttrpc", "k8s.io");
        assertThat(Ttrpc.Request.parse(r.encode())).usingRecursiveComparison().isEqualTo(r);
    }

    @Test
    void anErrorResponseCarriesAGoogleRpcStatus() {
        byte[] body = Ttrpc.Response.error(Ttrpc.NOT_FOUND, "container x does not exist").encode();
        // field 1 (status) {code 5, message}
        assertThat(body[0]).isEqualTo((byte) 0x0a);
        Ttrpc.Response r = Ttrpc.Response.parse(body);
        assertThat(r.code()).isEqualTo(Ttrpc.NOT_FOUND);
        assertThat(r.message()).isEqualTo("container x does not exist");
        assertThat(r.payload()).isNull();
        Ttrpc.Response ok = Ttrpc.Response.parse(Ttrpc.Response.ok(new byte[] {8, 1}).encode());
        assertThat(ok.code()).isEqualTo(Ttrpc.OK);
        assertThat(ok.payload()).containsExactly(8, 1);
    }

    @Test
    void anUnknownServiceOrMalformedBodyIsAnsweredNotThrown() {
        TaskService tasks = new TaskService(new Events("", "default"), "/bin/false", java.nio.file.Path.of("/nonexistent"), () -> {});
        byte[] other = new Ttrpc.Request("grpc.health.v1.Health", "Check", new byte[0], Map.of()).encode();
        assertThat(ShimServer.respond(other, tasks).code()).isEqualTo(Ttrpc.UNIMPLEMENTED);
        assertThat(ShimServer.respond(new byte[] {(byte) 0xff}, tasks).code()).isEqualTo(Ttrpc.INVALID_ARGUMENT);
        byte[] state = new Ttrpc.Request(TaskService.SERVICE, "State", new Protobuf.Writer().string(1, "nope").toByteArray(), Map.of()).encode();
        Ttrpc.Response r = ShimServer.respond(state, tasks);
        assertThat(r.code()).isEqualTo(Ttrpc.NOT_FOUND);
        assertThat(r.message()).contains("nope");
        byte[] unknown = new Ttrpc.Request(TaskService.SERVICE, "Frobnicate", new byte[0], Map.of()).encode();
        assertThat(ShimServer.respond(unknown, tasks).code()).isEqualTo(Ttrpc.UNIMPLEMENTED);
    }
}
