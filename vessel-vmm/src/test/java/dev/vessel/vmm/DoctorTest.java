package dev.vessel.vmm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class DoctorTest {
    @Test
    void aLineIsNameValueAndFix() {
        assertThat(Doctor.Check.parse("fuse: /dev/fuse")).isEqualTo(new Doctor.Check("fuse", "/dev/fuse", null));
        assertThat(Doctor.Check.parse("kernel: missing /x/vmlinux — fix: vessel assets build"))
                .isEqualTo(new Doctor.Check("kernel", "missing /x/vmlinux", "vessel assets build"));
        assertThat(Doctor.Check.parse("accelerator: tcg (a: b) — fix: run elsewhere"))
                .isEqualTo(new Doctor.Check("accelerator", "tcg (a: b)", "run elsewhere"));
        assertThat(Doctor.Check.parse("no colon")).isEqualTo(new Doctor.Check("", "no colon", null));
    }

    @Test
    void jsonIsAnArrayOfChecks() throws Exception {
        JsonNode json = new ObjectMapper().readTree(Doctor.json(List.of("fuse: /dev/fuse",
                "kernel: missing /x — fix: vessel assets build")));
        assertThat(json.isArray()).isTrue();
        assertThat(json.get(0).path("name").asText()).isEqualTo("fuse");
        assertThat(json.get(0).path("fix").isNull()).isTrue();
        assertThat(json.get(1).path("value").asText()).isEqualTo("missing /x");
        assertThat(json.get(1).path("fix").asText()).isEqualTo("vessel assets build");
    }
}
