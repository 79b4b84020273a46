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
import org.junit.jupiter.api.io.TempDir;

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
        SandboxStats stats = new SandboxStats(2.5, 1000, 800, 268435456L, 11, 22, 33, 44, 4, SandboxStats.CGROUP, null);
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

    @TempDir java.nio.file.Path dir;

    @Test
    void aScrapeIsNotHeldUpByAGuestThatDoesNotAnswer() throws Exception {
        java.nio.file.Path base = dir.resolve("sandboxes");
        dev.vessel.runtime.SandboxStore.forRoot(base, dir.resolve("root")).save(new dev.vessel.runtime.SandboxRecord("vm1",
                dev.vessel.oci.Isolation.MICROVM, null, null, "2026-01-01T00:00:00Z", "root", Map.of(),
                dev.vessel.runtime.Status.RUNNING, null));
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        IsolationDriverStub hanging = new IsolationDriverStub(release);
        Call.Drivers drivers = new Call.Drivers(Map.of(dev.vessel.oci.Isolation.CONTAINER,
                new dev.vessel.runtime.ContainerDriver(() -> true), dev.vessel.oci.Isolation.MICROVM, hanging), base);
        Settings settings = new Settings("crun", dev.vessel.oci.Isolation.CONTAINER, dir.resolve("none"), false, false,
                dir.resolve("assets"), java.time.Duration.ofSeconds(5), dev.vessel.vmm.AcceleratorSelector.Mode.AUTO,
                "qemu-system-x86_64", dev.vessel.vmm.GuestKernel.DEBIAN, null, false);
        SandboxMetrics metrics = new SandboxMetrics(new SandboxCatalog(drivers, settings));
        long start = System.nanoTime();
        String first = write(metrics.collect());
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertThat(millis).as("bounded by STATS_BOUND").isLessThan(SandboxMetrics.STATS_BOUND.toMillis() + 1500);
        String stale = "vessel_sandbox_stats_stale{container=\"\",id=\"vm1\",isolation=\"microvm\",namespace=\"\",pod=\"\",root=\""
                + dir.resolve("root") + "\"} ";
        assertThat(first).contains(stale + "1.0");
        assertThat(first).as("no numbers it never gave").doesNotContain("container_memory_usage_bytes{");
        String second = write(metrics.collect());
        assertThat(hanging.calls.get()).as("a request still pending is not made again").isEqualTo(1);
        release.countDown();
        Thread.sleep(200);
        String third = write(metrics.collect());
        assertThat(second).contains(stale + "1.0");
        assertThat(third).contains(stale + "0.0").contains("container_spec_memory_limit_bytes{container=\"\",id=\"vm1\"");
    }

    /**
     * The real microVM driver, its agent a socket that takes the connection and never answers
     * (a guest hung, or busy under TCG): the scrape still ends within the bound, the VM stale.
     */
    @Test
    void aRealMicroVmWhoseAgentDoesNotAnswerIsStaleAndTheScrapeIsNotHeldUp() throws Exception {
        java.nio.file.Path runDir = java.nio.file.Files.createDirectories(dir.resolve("vm"));
        try (java.nio.channels.ServerSocketChannel agent = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            agent.bind(java.net.UnixDomainSocketAddress.of(runDir.resolve(dev.vessel.vmm.QemuCommand.AGENT_SOCKET)));
            long self = ProcessHandle.current().pid(); // a live "QEMU" and "relay"
            // not started: its status is the record's (created), no QMP is asked
            dev.vessel.runtime.MicroVmState vm = new dev.vessel.runtime.MicroVmState(runDir.toString(), 320, 1, "tcg", self, self,
                    false, 0, null, null, null, null, null, null, null, null);
            java.nio.file.Path base = dir.resolve("sandboxes");
            dev.vessel.runtime.SandboxStore.forRoot(base, dir.resolve("root")).save(new dev.vessel.runtime.SandboxRecord("vm1",
                    dev.vessel.oci.Isolation.MICROVM, null, null, "2026-01-01T00:00:00Z", "root", Map.of(),
                    dev.vessel.runtime.Status.CREATED, vm));
            dev.vessel.runtime.MicroVmDriver driver = new dev.vessel.runtime.MicroVmDriver(
                    new dev.vessel.vmm.GuestAssets(dir.resolve("assets")), "sh", java.time.Duration.ofSeconds(5),
                    dev.vessel.vmm.AcceleratorSelector.Mode.TCG, true, new dev.vessel.runtime.MicroVmDriver.Observer() {
                        @Override public void booted(String id, dev.vessel.runtime.MicroVmState v) {}
                        @Override public void destroyed(java.nio.file.Path d) {}
                    });
            Call.Drivers drivers = new Call.Drivers(Map.of(dev.vessel.oci.Isolation.CONTAINER,
                    new dev.vessel.runtime.ContainerDriver(() -> true), dev.vessel.oci.Isolation.MICROVM, driver), base);
            Settings settings = new Settings("crun", dev.vessel.oci.Isolation.CONTAINER, dir.resolve("none"), false, false,
                    dir.resolve("assets"), java.time.Duration.ofSeconds(5), dev.vessel.vmm.AcceleratorSelector.Mode.AUTO,
                    "qemu-system-x86_64", dev.vessel.vmm.GuestKernel.DEBIAN, null, false);
            SandboxMetrics metrics = new SandboxMetrics(new SandboxCatalog(drivers, settings));
            for (int scrape = 0; scrape < 2; scrape++) {
                long start = System.nanoTime();
                String text = write(metrics.collect());
                long millis = (System.nanoTime() - start) / 1_000_000;
                assertThat(millis).as("scrape %d bounded by STATS_BOUND", scrape).isLessThan(SandboxMetrics.STATS_BOUND.toMillis() + 1500);
                assertThat(text).contains("vessel_sandbox_stats_stale{container=\"\",id=\"vm1\",isolation=\"microvm\",namespace=\"\",pod=\"\",root=\""
                        + dir.resolve("root") + "\"} 1.0");
                assertThat(text).contains("vessel_sandbox_state{container=\"\",id=\"vm1\"").doesNotContain("container_memory_usage_bytes{");
            }
            agent.configureBlocking(false);
            try (var asked = agent.accept()) {
                assertThat(asked).as("the driver did ask the agent (stale for the silence, not a quick failure)").isNotNull();
            }
            assertThat(agent.accept()).as("one request, still pending, not made again by the second scrape").isNull();
        }
    }

    /** A microVM driver whose stats wait until released, as a guest whose agent does not answer. */
    static final class IsolationDriverStub extends ManagementApiTest.RecordDriver {
        final java.util.concurrent.CountDownLatch release;
        final java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();

        IsolationDriverStub(java.util.concurrent.CountDownLatch release) {
            this.release = release;
        }

        @Override
        public SandboxStats stats(Context c, dev.vessel.runtime.SandboxRecord r) {
            calls.incrementAndGet();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return super.stats(c, r);
        }
    }

    private static String write(io.prometheus.metrics.model.snapshots.MetricSnapshots snapshots) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrometheusTextFormatWriter.create().write(out, snapshots, EscapingScheme.ALLOW_UTF8);
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void aMicroVmShowsItsGuestsNumbersAndQemusCostApart() throws Exception {
        SandboxStats stats = new SandboxStats(1.25, 90_000_000, 60_000_000, 268435456L, 5, 6, 7, 8, 3, SandboxStats.GUEST,
                new SandboxStats.VmmCost(4242, 9.5, 300_000_000, 310_000_000));
        String text = text(List.of(new SandboxMetrics.Sample(info("vm1", "microvm", "running", Map.of()), null, stats, false)));
        String labels = "{container=\"\",id=\"vm1\",isolation=\"microvm\",namespace=\"\",pod=\"\",root=\"/run/r\"}";
        assertThat(text).contains("container_cpu_usage_seconds_total" + labels + " 1.25")
                .contains("container_memory_working_set_bytes" + labels + " 6.0E7")
                .contains("vessel_sandbox_stats_source_info{container=\"\",id=\"vm1\",isolation=\"microvm\",namespace=\"\",pod=\"\",root=\"/run/r\",source=\"guest\"} 1")
                .contains("vessel_sandbox_vmm_cpu_seconds_total" + labels + " 9.5")
                .contains("vessel_sandbox_vmm_resident_memory_bytes" + labels + " 3.0E8")
                .contains("vessel_sandbox_vmm_cgroup_memory_bytes" + labels + " 3.1E8");
    }

    @Test
    void aContainerHasNoVmmCost() throws Exception {
        SandboxStats stats = new SandboxStats(1, 2, 3, 4, 5, 6, 7, 8, 9, SandboxStats.CGROUP, null);
        String text = text(List.of(new SandboxMetrics.Sample(info("ct1", "container", "running", Map.of()), null, stats, false)));
        assertThat(text).contains("container_processes{").doesNotContain("vessel_sandbox_vmm_cpu_seconds_total{");
    }

    @Test
    void aSandboxWithoutAnswerIsStaleAndShowsNoNumbers() throws Exception {
        String text = text(List.of(new SandboxMetrics.Sample(info("vm1", "microvm", "running", Map.of()), null, null, true)));
        assertThat(text).contains("vessel_sandbox_stats_stale{container=\"\",id=\"vm1\"").contains("} 1.0");
        assertThat(text).doesNotContain("container_memory_usage_bytes{");
    }
}
