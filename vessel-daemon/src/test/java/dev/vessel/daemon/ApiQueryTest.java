package dev.vessel.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ApiQueryTest {
    private static ApiQuery list(String raw) {
        return ApiQuery.parse(raw, ManagementApi.LIST_PARAMETERS);
    }

    @Test
    void noQueryIsNoFilter() {
        assertThat(list(null)).isEqualTo(ApiQuery.none());
        assertThat(list("")).isEqualTo(ApiQuery.none());
        assertThat(ApiQuery.none().matches("microvm", "running", Map.of())).isTrue();
    }

    @Test
    void readsEveryFilterPercentDecoded() {
        ApiQuery q = list("isolation=microvm&status=running&annotation=io.kubernetes.cri.sandbox-name%3Dweb&annotation=team&root=%2Frun%2Fx%2F");
        assertThat(q.isolation()).isEqualTo("microvm");
        assertThat(q.status()).isEqualTo("running");
        assertThat(q.annotations()).containsEntry("io.kubernetes.cri.sandbox-name", "web").containsEntry("team", null);
        assertThat(q.root()).isEqualTo(Path.of("/run/x"));
    }

    @Test
    void everyFilterMustMatch() {
        ApiQuery q = list("isolation=container&annotation=a=1&annotation=b");
        assertThat(q.matches("container", "running", Map.of("a", "1", "b", "anything"))).isTrue();
        assertThat(q.matches("container", "running", Map.of("a", "2", "b", "x"))).isFalse();
        assertThat(q.matches("container", "running", Map.of("a", "1"))).isFalse();
        assertThat(q.matches("microvm", "running", Map.of("a", "1", "b", "x"))).isFalse();
        assertThat(list("status=stopped").matches("container", "running", Map.of())).isFalse();
    }

    @Test
    void anAnnotationValueMayHoldEqualsSigns() {
        assertThat(list("annotation=k=a=b").annotations()).containsEntry("k", "a=b");
    }

    @Test
    void badInputNamesTheParameter() {
        assertBad("isolation=kvm", "isolation", "unknown isolation \"kvm\"");
        assertBad("status=sleeping", "status", "unknown status \"sleeping\"");
        assertBad("colour=red", "colour", "unknown query parameter \"colour\"");
        assertBad("status=", "status", "needs a value");
        assertBad("isolation", "isolation", "needs a value");
        assertBad("annotation==v", "annotation", "KEY=VALUE");
        assertBad("root=relative/path", "root", "absolute");
        assertBad("status=running&status=paused", "status", "twice");
        assertBad("root=%zz", "root", "percent-encoding");
    }

    @Test
    void aSandboxTakesOnlyRoot() {
        assertThat(ApiQuery.parse("root=/r", ManagementApi.ONE_PARAMETERS).root()).isEqualTo(Path.of("/r"));
        assertThatThrownBy(() -> ApiQuery.parse("status=running", ManagementApi.ONE_PARAMETERS))
                .isInstanceOf(ApiQuery.BadQuery.class).hasMessageContaining("unknown query parameter \"status\"");
    }

    @Test
    void controlCharactersAreNotEchoed() {
        assertThatThrownBy(() -> list("x%0Ay=1")).hasMessageContaining("x\\x0ay").hasMessageNotContaining("\n");
    }

    private static void assertBad(String raw, String parameter, String message) {
        assertThatThrownBy(() -> list(raw)).isInstanceOf(ApiQuery.BadQuery.class).hasMessageContaining(message)
                .satisfies(e -> assertThat(((ApiQuery.BadQuery) e).parameter()).isEqualTo(parameter));
    }
}
