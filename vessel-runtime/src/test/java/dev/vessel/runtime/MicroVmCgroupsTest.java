package dev.vessel.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import org.junit.jupiter.api.Test;

class MicroVmCgroupsTest {
    private final ObjectMapper json = new ObjectMapper();

    private List<String> writes(boolean unified, String memory) throws Exception {
        return MicroVmCgroups.memoryDetails(unified, json.readTree(memory)).stream().map(w -> w[0] + "=" + w[1]).toList();
    }

    @Test
    void v1TakesReservationSwapAndSwappinessAsCrunWritesThem() throws Exception {
        assertThat(writes(false, """
                {"limit": 151781376, "reservation": 151781376, "swap": 151781376, "kernel": 151781376,
                 "kernelTCP": 151781376, "swappiness": 10, "disableOOMKiller": true}"""))
                .containsExactly("memory.soft_limit_in_bytes=151781376", "memory.memsw.limit_in_bytes=151781376",
                        "memory.swappiness=10");
    }

    @Test
    void v2CountsSwapWithoutTheLimitAndHasNoSwappiness() throws Exception {
        assertThat(writes(true, """
                {"limit": 200, "reservation": 100, "swap": 300, "swappiness": 10}"""))
                .containsExactly("memory.low=100", "memory.swap.max=100");
        assertThat(writes(true, "{\"limit\": 200, \"swap\": -1}")).containsExactly("memory.swap.max=max");
    }

    @Test
    void nothingGivenNothingWritten() throws Exception {
        assertThat(writes(false, "{}")).isEmpty();
        assertThat(writes(true, "{\"limit\": 100}")).isEmpty();
        assertThat(writes(false, "{\"swappiness\": 101}")).isEmpty(); // runc's "invalid": left to the kernel's default
    }
}
