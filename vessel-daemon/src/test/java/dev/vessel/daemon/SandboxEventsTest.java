package dev.vessel.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SandboxEventsTest {
    private static final List<String> KEY = List.of("/run/r", "c1");

    private static List<String> types(Map<List<String>, SandboxEvents.Seen> before, Map<List<String>, SandboxEvents.Seen> after) {
        return SandboxEvents.diff(before, after).stream().map(SandboxEvents.Event::type).toList();
    }

    private static Map<List<String>, SandboxEvents.Seen> of(String status, long ooms) {
        return Map.of(KEY, new SandboxEvents.Seen(status, "container", ooms));
    }

    @Test
    void aLifeInOrder() {
        assertThat(types(Map.of(), of("created", 0))).containsExactly("create");
        assertThat(types(of("created", 0), of("running", 0))).containsExactly("start");
        assertThat(types(of("running", 0), of("paused", 0))).containsExactly("pause");
        assertThat(types(of("paused", 0), of("running", 0))).containsExactly("resume");
        assertThat(types(of("running", 0), of("running", 1))).containsExactly("oom");
        assertThat(types(of("running", 1), of("stopped", 1))).containsExactly("exit");
        assertThat(types(of("stopped", 1), Map.of())).containsExactly("delete");
        assertThat(types(of("running", 0), of("running", 0))).isEmpty();
    }

    @Test
    void whatHappenedBetweenTwoLooksIsStillTold() {
        assertThat(types(Map.of(), of("running", 0))).containsExactly("create", "start");
        assertThat(types(Map.of(), of("stopped", 0))).containsExactly("create", "exit");
        assertThat(types(of("running", 0), Map.of())).containsExactly("exit", "delete");
        assertThat(types(of("created", 0), of("paused", 0))).containsExactly("start", "pause");
    }

    @Test
    void anEventNamesTheSandbox() {
        SandboxEvents.Event e = SandboxEvents.diff(Map.of(), of("created", 0)).getFirst();
        assertThat(e.id()).isEqualTo("c1");
        assertThat(e.root()).isEqualTo("/run/r");
        assertThat(e.isolation()).isEqualTo("container");
        assertThat(e.time()).isNotBlank();
    }
}
