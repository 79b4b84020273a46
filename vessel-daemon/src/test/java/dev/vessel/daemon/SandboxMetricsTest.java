package dev.vessel.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vessel.runtime.SandboxStats;
import io.prometheus.metrics.config.EscapingScheme;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The exposition Prometheus scrapes: cadvisor's names, the labels, the stale gauge, the host's metrics. */
class SandboxMetricsTest {
    private static SandboxInfo info(String id, String isolation, String status, Map<String, String> annotations) {
        return new SandboxInfo(id, "/run/r", isolation, status, 1, "/b", "2026-01-01T00:00:00Z", "root",
                SandboxInfo.Kubernetes.of(annotations), annotations, null, null, null, null);
    }

    private static String text(List<SandboxMetrics.Sample> samples) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrometheusTextFormatWriter.create().write(out, SandboxMetrics.snapshots(samples, "tcg", 61_500), EscapingScheme.ALLOW_UTF8);
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void cadvisorNamesWithTheSandboxAndKubernetesLabels() throws Exception {
        SandboxStats stats = new SandboxStats(2.5, 1000, 800, 268435456L, 11, 22, 33, 44, 4, SandboxStats.CGROUP);
        String text = text(List.of(new SandboxMetrics.Sample(info("ct1", "container", "running",
                Map.of("io.kubernetes.cri.sandbox-name", "web", "io.kubernetes.cri.sandbox-namespace", "shop",
                        "io.kubernetes.cri.container-name", "nginx")), null, stats, false)));
        String labels = "{container=\"nginx\",id=\"ct1\",isolation=\"container\",namespace=\"shop\",pod=\"web\",root=\"/run/r\"}";
        assertThat(text).contains("container_spec_memory_limit_bytes" + labels + " 2.68435456E8")
                .contains("container_cpu_usage_seconds_total" + labels + " 2.5")
                .contains("container_memory_working_set_bytes" + labels + " 800.0")
                .contains("container_memory_usage_bytes" + labels + " 1000.0")
                .contains("container_network_receive_bytes_total" + labels + " 11.0")
                .contains("container_network_transmit_bytes_total" + labels + " 22.0")
                .contains("container_fs_reads_bytes_total" + labels + " 33.0")
                .contains("container_fs_writes_bytes_total" + labels + " 44.0")
                .contains("vessel_sandbox_stats_stale" + labels + " 0.0")
                .contains("# TYPE container_cpu_usage_seconds_total counter");
        assertThat(text).contains("vessel_sandbox_state{container=\"nginx\",id=\"ct1\",isolation=\"container\",namespace=\"shop\",pod=\"web\",root=\"/run/r\",state=\"running\"} 1.0")
                .contains("state=\"stopped\"} 0.0");
        assertThat(text).contains("vessel_sandboxes{isolation=\"container\",state=\"running\"} 1.0")
                .contains("vessel_sandboxes{isolation=\"microvm\",state=\"running\"} 0.0")
                .contains("vessel_accelerator_info{accelerator=\"tcg\"} 1")
                .contains("vessel_daemon_uptime_seconds 61.5")
                .contains("vessel_daemon_resident_memory_bytes ");
    }

    @Test
    void aSandboxWithoutAnswerIsStaleAndShowsNoNumbers() throws Exception {
        String text = text(List.of(new SandboxMetrics.Sample(info("vm1", "microvm", "running", Map.of()), null, null, true)));
        assertThat(text).contains("vessel_sandbox_stats_stale{container=\"\",id=\"vm1\"").contains("} 1.0");
        assertThat(text).doesNotContain("container_memory_usage_bytes{");
    }
}
