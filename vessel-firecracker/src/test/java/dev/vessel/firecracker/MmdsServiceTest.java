package dev.vessel.firecracker;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;

class MmdsServiceTest {
    final Mmds mmds = new Mmds();
    long now = 1_000_000;
    final MmdsService service = new MmdsService(mmds, () -> now);

    @BeforeEach
    void setUp() throws Exception {
        mmds.put(ApiJson.MAPPER.readTree("{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-12345678\",\"reservation-id\":\"r-1\","
                + "\"network\":{\"interfaces\":{}}},\"count\":3}}"));
    }

    MmdsService.Reply call(String method, String path, String... headers) {
        Map<String, String> h = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        for (int i = 0; i < headers.length; i += 2) h.put(headers[i], headers[i + 1]);
        return service.handle(method, path, h::get);
    }

    @Test
    void v1AnswersGetsInImdsFormatOrJson() {
        assertThat(call("GET", "/latest/meta-data/ami-id")).isEqualTo(new MmdsService.Reply(200, "text/plain", "ami-12345678"));
        assertThat(call("GET", "/latest/meta-data/").body()).isEqualTo("ami-id\nreservation-id\nnetwork/");
        assertThat(call("GET", "/latest/meta-data", "Accept", "application/json").body())
                .isEqualTo("{\"ami-id\":\"ami-12345678\",\"reservation-id\":\"r-1\",\"network\":{\"interfaces\":{}}}");
        assertThat(call("GET", "/latest/nope").status()).isEqualTo(404);
        assertThat(call("GET", "/latest/count").status()).isEqualTo(501);
        assertThat(call("POST", "/latest").status()).isEqualTo(405);
    }

    @Test
    void v2NeedsASessionToken() {
        mmds.configure(new Model.MmdsConfig("V2", java.util.List.of("eth0"), null, null));
        assertThat(call("GET", "/latest/meta-data/ami-id").status()).isEqualTo(401);
        assertThat(call("PUT", "/latest/api/token").status()).isEqualTo(400);
        assertThat(call("PUT", "/latest/api/token", "X-metadata-token-ttl-seconds", "0").body()).contains("between 1 and 21600");
        assertThat(call("PUT", "/latest/api/token", "X-metadata-token-ttl-seconds", "60", "X-Forwarded-For", "1.2.3.4")
                .status()).isEqualTo(400);
        MmdsService.Reply token = call("PUT", "/latest/api/token", "X-metadata-token-ttl-seconds", "60");
        assertThat(token.status()).isEqualTo(200);
        assertThat(call("GET", "/latest/meta-data/ami-id", "X-metadata-token", token.body()).body()).isEqualTo("ami-12345678");
        assertThat(call("GET", "/latest/meta-data/ami-id", "X-metadata-token", "forged").status()).isEqualTo(401);
        now += 61_000;
        assertThat(call("GET", "/latest/meta-data/ami-id", "X-metadata-token", token.body()).status()).isEqualTo(401);
    }
}
