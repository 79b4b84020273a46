package dev.vessel.shim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

class ProtobufTest {
    private static String hex(Protobuf.Writer w) {
        return HexFormat.of().formatHex(w.toByteArray());
    }

    /** Encodings checked against protoc's (protobuf's encoding guide: 150 → 96 01). */
    @Test
    void varintsStringsAndDefaultsAsProtocEncodesThem() {
        assertThat(hex(new Protobuf.Writer().uint(1, 150))).isEqualTo("089601");
        assertThat(hex(new Protobuf.Writer().string(2, "testing"))).isEqualTo("120774657374696e67");
        assertThat(hex(new Protobuf.Writer().uint(1, 0).string(2, "").bool(3, false))).isEmpty();
        assertThat(hex(new Protobuf.Writer().uint(1, -1))).isEqualTo("08ffffffffffffffffff01");
        assertThat(hex(new Protobuf.Writer().packed(4, List.of(3L, 270L)))).isEqualTo("2203038e02");
    }

    @Test
    void messagesDecodeWhatTheyEncode() {
        Instant at = Instant.ofEpochSecond(1_700_000_000L, 123_456_789);
        byte[] b = new Protobuf.Writer().string(1, "id").uint(3, 4242).bool(4, true).timestamp(10, at)
                .message(3, new Protobuf.Writer().string(1, "overlay")).toByteArray();
        Protobuf.Message m = Protobuf.Message.parse(b);
        assertThat(m.string(1)).isEqualTo("id");
        assertThat(m.bool(4)).isTrue();
        assertThat(m.string(7)).isEmpty();
        assertThat(m.uint(9)).isZero();
        Protobuf.Message ts = m.message(10);
        assertThat(ts.uint(1)).isEqualTo(1_700_000_000L);
        assertThat(ts.uint(2)).isEqualTo(123_456_789L);
    }

    @Test
    void repeatedStringsAndMapsDecode() {
        byte[] mount = new Protobuf.Writer().string(1, "overlay").string(2, "overlay").string(4, "lowerdir=/a").string(4, "upperdir=/b")
                .toByteArray();
        Protobuf.Message m = Protobuf.Message.parse(mount);
        assertThat(m.allBytes(4).stream().map(String::new)).containsExactly("lowerdir=/a", "upperdir=/b");
        byte[] withMap = new Protobuf.Writer().message(3, new Protobuf.Writer().string(1, "k").string(2, "v")).toByteArray();
        assertThat(Protobuf.Message.parse(withMap).stringMap(3)).containsEntry("k", "v");
    }

    @Test
    void truncatedInputIsRejected() {
        assertThatThrownBy(() -> Protobuf.Message.parse(new byte[] {0x0a, 0x05, 'a'})).hasMessageContaining("truncated");
        assertThatThrownBy(() -> Protobuf.Message.parse(new byte[] {(byte) 0x08, (byte) 0x96})).hasMessageContaining("truncated");
        assertThatThrownBy(() -> Protobuf.Message.parse(new byte[] {0x0b})).hasMessageContaining("wire type 3");
    }
}
