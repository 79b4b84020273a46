package dev.vessel.shim;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Map;

/**
 * ttrpc, containerd's small RPC over a stream socket (github.com/containerd/ttrpc): each message is
 * a 10-byte header (length u32, stream id u32, type u8, flags u8, big-endian) and a protobuf body,
 * a {@code Request} (service 1, method 2, payload 3, timeout_nano 4, metadata 5) or a
 * {@code Response} (status 1 as google.rpc.Status {code 1, message 2}, payload 2).
 */
final class Ttrpc {
    private Ttrpc() {
    }

    static final int HEADER_LENGTH = 10;
    static final int MAX_LENGTH = 4 << 20;
    static final byte REQUEST = 1;
    static final byte RESPONSE = 2;

    /** gRPC status codes the shim answers with (google.golang.org/grpc/codes). */
    static final int OK = 0;
    static final int UNKNOWN = 2;
    static final int INVALID_ARGUMENT = 3;
    static final int NOT_FOUND = 5;
    static final int ALREADY_EXISTS = 6;
    static final int FAILED_PRECONDITION = 9;
    static final int UNIMPLEMENTED = 12;

    record Frame(int streamId, byte type, byte flags, byte[] body) {
    }

    record Request(String service, String method, byte[] payload, Map<String, String> metadata) {
        static Request parse(byte[] body) {
            Protobuf.Message m = Protobuf.Message.parse(body);
            Map<String, String> metadata = new java.util.LinkedHashMap<>();
            m.messages(5).forEach(kv -> metadata.put(kv.string(1), kv.string(2)));
            byte[] payload = m.bytes(3);
            return new Request(m.string(1), m.string(2), payload == null ? new byte[0] : payload, metadata);
        }

        byte[] encode() {
            Protobuf.Writer w = new Protobuf.Writer().string(1, service).string(2, method).bytes(3, payload);
            metadata.forEach((k, v) -> w.message(5, new Protobuf.Writer().string(1, k).string(2, v)));
            return w.toByteArray();
        }
    }

    /** A response: {@code code} OK with a payload, or an error code with its message. */
    record Response(int code, String message, byte[] payload) {
        static Response ok(byte[] payload) {
            return new Response(OK, "", payload);
        }

        static Response error(int code, String message) {
            return new Response(code, message, null);
        }

        byte[] encode() {
            Protobuf.Writer w = new Protobuf.Writer();
            if (code != OK) w.message(1, new Protobuf.Writer().uint(1, code).string(2, message));
            return w.bytes(2, payload).toByteArray();
        }

        static Response parse(byte[] body) {
            Protobuf.Message m = Protobuf.Message.parse(body);
            Protobuf.Message status = m.message(1);
            return new Response(status == null ? OK : (int) status.uint(1), status == null ? "" : status.string(2), m.bytes(2));
        }
    }

    /** Reads one frame; EOFException at a clean end of the stream. */
    static Frame read(InputStream in) throws IOException {
        byte[] header = in.readNBytes(HEADER_LENGTH);
        if (header.length == 0) throw new EOFException();
        if (header.length < HEADER_LENGTH) throw new IOException("ttrpc: truncated header");
        long length = ((header[0] & 0xFFL) << 24) | ((header[1] & 0xFF) << 16) | ((header[2] & 0xFF) << 8) | (header[3] & 0xFF);
        int stream = ((header[4] & 0xFF) << 24) | ((header[5] & 0xFF) << 16) | ((header[6] & 0xFF) << 8) | (header[7] & 0xFF);
        if (length > MAX_LENGTH) throw new IOException("ttrpc: message of " + length + " bytes is over the 4 MiB limit");
        byte[] body = in.readNBytes((int) length);
        if (body.length < length) throw new IOException("ttrpc: truncated message");
        return new Frame(stream, header[8], header[9], body);
    }

    static void write(OutputStream out, Frame frame) throws IOException {
        byte[] b = new byte[HEADER_LENGTH + frame.body().length];
        int length = frame.body().length;
        b[0] = (byte) (length >>> 24);
        b[1] = (byte) (length >>> 16);
        b[2] = (byte) (length >>> 8);
        b[3] = (byte) length;
        b[4] = (byte) (frame.streamId() >>> 24);
        b[5] = (byte) (frame.streamId() >>> 16);
        b[6] = (byte) (frame.streamId() >>> 8);
        b[7] = (byte) frame.streamId();
        b[8] = frame.type();
        b[9] = frame.flags();
        System.arraycopy(frame.body(), 0, b, HEADER_LENGTH, length);
        synchronized (out) {
            out.write(b);
            out.flush();
        }
    }
}
