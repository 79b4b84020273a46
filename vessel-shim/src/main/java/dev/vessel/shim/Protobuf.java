package dev.vessel.shim;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Protocol Buffers' wire format, the part containerd's shim API uses (varints, length-delimited
 * fields, nested messages, Any). Written by hand, not generated: the shim reads and writes some
 * twenty small messages whose field numbers are fixed by containerd 1.6's .proto files
 * (runtime/v2/task/shim.proto, api/events/task.proto, cgroups/stats/v1/metrics.proto), and a
 * generator would bring protoc into the build for that.
 */
final class Protobuf {
    private Protobuf() {
    }

    static final int VARINT = 0;
    static final int FIXED64 = 1;
    static final int BYTES = 2;
    static final int FIXED32 = 5;

    /** Builds one message; fields at their proto3 default (0, "", false, empty) are left out, as protoc's encoders do. */
    static final class Writer {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Writer uint(int field, long value) {
            if (value == 0) return this;
            tag(field, VARINT);
            varint(value);
            return this;
        }

        Writer bool(int field, boolean value) {
            return uint(field, value ? 1 : 0);
        }

        Writer string(int field, String value) {
            if (value == null || value.isEmpty()) return this;
            return bytes(field, value.getBytes(StandardCharsets.UTF_8));
        }

        Writer bytes(int field, byte[] value) {
            if (value == null) return this;
            tag(field, BYTES);
            varint(value.length);
            out.writeBytes(value);
            return this;
        }

        /** A nested message, written even when empty (presence matters for messages). */
        Writer message(int field, Writer message) {
            return bytes(field, message.toByteArray());
        }

        /** A repeated uint64 as proto3 packs it. */
        Writer packed(int field, List<Long> values) {
            if (values.isEmpty()) return this;
            Writer inner = new Writer();
            values.forEach(inner::varint);
            return bytes(field, inner.toByteArray());
        }

        /** google.protobuf.Any: type_url 1, value 2. */
        Writer any(int field, String typeUrl, Writer value) {
            return message(field, new Writer().string(1, typeUrl).bytes(2, value.toByteArray()));
        }

        /** google.protobuf.Timestamp: seconds 1, nanos 2. */
        Writer timestamp(int field, java.time.Instant at) {
            if (at == null) return this;
            return message(field, new Writer().uint(1, at.getEpochSecond()).uint(2, at.getNano()));
        }

        byte[] toByteArray() {
            return out.toByteArray();
        }

        private void tag(int field, int wireType) {
            varint(((long) field << 3) | wireType);
        }

        private void varint(long value) {
            while ((value & ~0x7FL) != 0) {
                out.write((int) ((value & 0x7F) | 0x80));
                value >>>= 7;
            }
            out.write((int) value);
        }
    }

    /** A decoded message: each field number's values in order (varints as Long, length-delimited as byte[]). */
    static final class Message {
        private final Map<Integer, List<Object>> fields = new LinkedHashMap<>();

        static Message parse(byte[] data) {
            Message m = new Message();
            int[] pos = {0};
            while (pos[0] < data.length) {
                long key = varint(data, pos);
                int field = (int) (key >>> 3);
                int type = (int) (key & 7);
                Object value = switch (type) {
                    case VARINT -> varint(data, pos);
                    case FIXED64 -> fixed(data, pos, 8);
                    case FIXED32 -> fixed(data, pos, 4);
                    case BYTES -> {
                        long length = varint(data, pos);
                        if (length < 0 || pos[0] + length > data.length) throw new IllegalArgumentException("truncated field " + field);
                        byte[] b = java.util.Arrays.copyOfRange(data, pos[0], pos[0] + (int) length);
                        pos[0] += (int) length;
                        yield b;
                    }
                    default -> throw new IllegalArgumentException("unsupported wire type " + type + " in field " + field);
                };
                m.fields.computeIfAbsent(field, f -> new ArrayList<>()).add(value);
            }
            return m;
        }

        long uint(int field) {
            List<Object> v = fields.get(field);
            return v == null ? 0 : (Long) v.getLast();
        }

        boolean bool(int field) {
            return uint(field) != 0;
        }

        String string(int field) {
            byte[] b = bytes(field);
            return b == null ? "" : new String(b, StandardCharsets.UTF_8);
        }

        byte[] bytes(int field) {
            List<Object> v = fields.get(field);
            return v == null ? null : (byte[]) v.getLast();
        }

        Message message(int field) {
            byte[] b = bytes(field);
            return b == null ? null : parse(b);
        }

        List<Message> messages(int field) {
            return fields.getOrDefault(field, List.of()).stream().map(b -> parse((byte[]) b)).toList();
        }

        /** A map<string,string> field (entries: key 1, value 2). */
        Map<String, String> stringMap(int field) {
            Map<String, String> map = new LinkedHashMap<>();
            messages(field).forEach(e -> map.put(e.string(1), e.string(2)));
            return map;
        }

        /** Every value of a repeated length-delimited field (repeated string, bytes). */
        List<byte[]> allBytes(int field) {
            return fields.getOrDefault(field, List.of()).stream().map(b -> (byte[]) b).toList();
        }

        boolean has(int field) {
            return fields.containsKey(field);
        }

        private static long varint(byte[] data, int[] pos) {
            long result = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                if (pos[0] >= data.length) throw new IllegalArgumentException("truncated varint");
                byte b = data[pos[0]++];
                result |= (long) (b & 0x7F) << shift;
                if ((b & 0x80) == 0) return result;
            }
            throw new IllegalArgumentException("varint longer than 10 bytes");
        }

        private static long fixed(byte[] data, int[] pos, int size) {
            if (pos[0] + size > data.length) throw new IllegalArgumentException("truncated fixed field");
            long result = 0;
            for (int i = 0; i < size; i++) result |= (long) (data[pos[0] + i] & 0xFF) << (8 * i);
            pos[0] += size;
            return result;
        }
    }
}
