package dev.vessel.daemon;

import dev.vessel.runtime.MicroVmState;
import dev.vessel.runtime.SandboxStats;
import dev.vessel.vmm.Accelerator;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.InfoSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;

/**
 * Prometheus metrics of every sandbox and of the host, on the opt-in {@code metrics_address}.
 * Where cadvisor has a metric of the same meaning its name is used, so that Kubernetes
 * dashboards work unchanged. Each scrape asks every sandbox's driver for its stats in parallel
 * and waits at most {@link #STATS_BOUND}: a sandbox that has not answered by then shows its last
 * numbers with {@code vessel_sandbox_stats_stale 1}, and the scrape is not held up.
 */
final class SandboxMetrics implements MultiCollector {
    static final Duration STATS_BOUND = Duration.ofSeconds(2);

    private final SandboxCatalog catalog;
    private final long started = System.currentTimeMillis();
    // at most one request per sandbox at a time (see pending): a guest that hangs holds one thread, not the others' turn
    private final ExecutorService statsThreads = Executors.newCachedThreadPool(
            Thread.ofPlatform().daemon().name("metrics-stats-", 0).factory());
    /** The last stats each sandbox gave, for a scrape it does not answer in time. */
    private final Map<List<String>, SandboxStats> last = new ConcurrentHashMap<>();
    /** A sandbox whose previous stats request has not ended: not asked again until it does. */
    private final Map<List<String>, Future<SandboxStats>> pending = new ConcurrentHashMap<>();

    SandboxMetrics(SandboxCatalog catalog) {
        this.catalog = catalog;
    }

    /** What came of starting the metrics: the server, or the one line that says why there is none. */
    record Started(HTTPServer server, String problem) {}

    /** Serves the metrics on {@code address} (HOST:PORT); a bad or busy address is reported, not thrown. */
    static Started start(String address, SandboxCatalog catalog) {
        int colon = address.lastIndexOf(':');
        String host = colon <= 0 ? "" : address.substring(0, colon).replaceAll("^\\[|\\]$", "");
        int port;
        try {
            port = Integer.parseInt(address.substring(colon + 1));
            if (port < 1 || port > 65535 || host.isEmpty()) throw new NumberFormatException();
        } catch (NumberFormatException | IndexOutOfBoundsException e) {
            return new Started(null, "metrics_address \"" + address + "\" is not HOST:PORT (e.g. \"127.0.0.1:9464\"): no metrics");
        }
        PrometheusRegistry registry = new PrometheusRegistry();
        registry.register(new SandboxMetrics(catalog));
        try {
            HTTPServer server = HTTPServer.builder().hostname(host).port(port).registry(registry)
                    .executorService(Executors.newFixedThreadPool(2, Thread.ofPlatform().daemon().name("metrics-http-", 0).factory()))
                    .buildAndStart();
            return new Started(server, null);
        } catch (IOException | RuntimeException e) {
            return new Started(null, "metrics_address " + address + " cannot be bound (" + e.getMessage() + "): no metrics");
        }
    }

    /** One sandbox's labels: who it is, and who it is in Kubernetes. */
    static Labels labels(SandboxInfo s) {
        SandboxInfo.Kubernetes k = s.kubernetes();
        return Labels.of("id", s.id(), "isolation", s.isolation(), "root", s.root(),
                "pod", k == null || k.pod() == null ? "" : k.pod(),
                "namespace", k == null || k.namespace() == null ? "" : k.namespace(),
                "container", k == null || k.container() == null ? "" : k.container());
    }

    @Override
    public MetricSnapshots collect() {
        List<SandboxCatalog.Entry> entries = catalog.list();
        Map<List<String>, Future<SandboxStats>> asked = new LinkedHashMap<>();
        for (SandboxCatalog.Entry e : entries) {
            List<String> key = key(e);
            // a request still running since an earlier scrape is waited for again, not asked anew
            asked.put(key, pending.computeIfAbsent(key, k -> statsThreads.submit(
                    () -> catalog.driver(e.isolation()).stats(catalog.context(e.root()), e.record(), e.state()))));
        }
        long deadline = System.nanoTime() + STATS_BOUND.toNanos();
        List<Sample> samples = new ArrayList<>();
        for (SandboxCatalog.Entry e : entries) {
            List<String> key = key(e);
            SandboxStats stats = null;
            boolean stale = false;
            Future<SandboxStats> future = asked.get(key);
            try {
                stats = future.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                last.put(key, stats);
                pending.remove(key, future);
            } catch (java.util.concurrent.TimeoutException ex) {
                stale = true; // still pending: the next scrape takes its answer if it has come by then
                stats = last.get(key);
            } catch (java.util.concurrent.ExecutionException ex) {
                pending.remove(key, future);
                stale = true;
                stats = last.get(key);
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                stale = true;
            }
            samples.add(new Sample(SandboxInfo.summary(e), e, stats, stale));
        }
        last.keySet().retainAll(asked.keySet());
        pending.keySet().retainAll(asked.keySet());
        return snapshots(samples, Accelerator.detect().kind().qemuName, System.currentTimeMillis() - started);
    }

    private static List<String> key(SandboxCatalog.Entry e) {
        return List.of(e.root().toString(), e.record().id());
    }

    /** One sandbox at one scrape; {@code stats} may be null (never answered). */
    record Sample(SandboxInfo info, SandboxCatalog.Entry entry, SandboxStats stats, boolean stale) {}

    static MetricSnapshots snapshots(List<Sample> samples, String accelerator, long uptimeMillis) {
        List<MetricSnapshot> out = new ArrayList<>();
        out.add(counter("container_cpu_usage_seconds", "Cumulative CPU time consumed, in seconds (for a microVM: the guest's).",
                samples, SandboxStats::cpuSeconds));
        out.add(gauge("container_memory_usage_bytes", "Current memory usage, page cache included, in bytes.", samples,
                s -> s.memoryUsageBytes()));
        out.add(gauge("container_memory_working_set_bytes", "Current working set (usage less inactive file pages), in bytes.",
                samples, s -> s.memoryWorkingSetBytes()));
        out.add(gauge("container_spec_memory_limit_bytes", "Memory limit of the sandbox, in bytes (0: none).", samples,
                s -> s.memoryLimitBytes()));
        out.add(counter("container_network_receive_bytes", "Cumulative bytes received (loopback excluded).", samples,
                s -> s.networkRxBytes()));
        out.add(counter("container_network_transmit_bytes", "Cumulative bytes transmitted (loopback excluded).", samples,
                s -> s.networkTxBytes()));
        out.add(counter("container_fs_reads_bytes", "Cumulative bytes read from block devices.", samples, s -> s.fsReadBytes()));
        out.add(counter("container_fs_writes_bytes", "Cumulative bytes written to block devices.", samples, s -> s.fsWriteBytes()));
        out.add(gauge("container_processes", "Number of processes (tasks) of the sandbox.", samples, s -> s.pids()));
        // a microVM's QEMU: what the VM costs the host beyond the guest's numbers above
        List<Sample> vms = samples.stream().filter(s -> s.stats() != null && s.stats().vmm() != null).toList();
        out.add(counter("vessel_sandbox_vmm_cpu_seconds", "CPU time of a microVM's QEMU on the host (vCPU threads included), in seconds.",
                vms, s -> s.vmm().cpuSeconds()));
        out.add(gauge("vessel_sandbox_vmm_resident_memory_bytes", "Resident memory of a microVM's QEMU on the host (guest RAM it touched included), in bytes.",
                vms, s -> s.vmm().residentBytes()));
        out.add(gauge("vessel_sandbox_vmm_cgroup_memory_bytes", "Memory usage of a microVM's sandbox cgroup (QEMU and its helpers), in bytes.",
                vms.stream().filter(s -> s.stats().vmm().sandboxCgroupMemoryBytes() >= 0).toList(),
                s -> s.vmm().sandboxCgroupMemoryBytes()));

        GaugeSnapshot.Builder state = GaugeSnapshot.builder().name("vessel_sandbox_state")
                .help("1 for the sandbox's current state (creating, created, running, paused, stopped).");
        GaugeSnapshot.Builder stale = GaugeSnapshot.builder().name("vessel_sandbox_stats_stale")
                .help("1 when the sandbox's stats did not come within the scrape's bound (the numbers shown are its last).");
        GaugeSnapshot.Builder boot = GaugeSnapshot.builder().name("vessel_sandbox_boot_seconds")
                .help("How long the microVM took from QEMU's start to its agent answering, in seconds.");
        InfoSnapshot.Builder source = InfoSnapshot.builder().name("vessel_sandbox_stats_source")
                .help("Where the sandbox's numbers come from: cgroup (a container's) or guest (a microVM's, through its agent).");
        Map<List<String>, Integer> byState = new java.util.TreeMap<>(java.util.Comparator.comparing(Object::toString));
        for (Sample sample : samples) {
            Labels labels = labels(sample.info());
            for (String st : ApiQuery.STATUSES.stream().sorted().toList()) {
                state.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(labels.add("state", st))
                        .value(st.equals(sample.info().status()) ? 1 : 0).build());
            }
            stale.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(labels).value(sample.stale() ? 1 : 0).build());
            if (sample.stats() != null) {
                source.dataPoint(InfoSnapshot.InfoDataPointSnapshot.builder().labels(labels.add("source", sample.stats().source())).build());
            }
            MicroVmState vm = sample.entry() == null ? null : sample.entry().record().microvm();
            Double seconds = vm == null ? null : BootTimes.read(vm);
            if (seconds != null) boot.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(labels).value(seconds).build());
            byState.merge(List.of(sample.info().isolation(), sample.info().status()), 1, Integer::sum);
        }
        out.add(state.build());
        out.add(stale.build());
        out.add(boot.build());
        out.add(source.build());

        GaugeSnapshot.Builder sandboxes = GaugeSnapshot.builder().name("vessel_sandboxes").help("Sandboxes by isolation and state.");
        for (String isolation : ApiQuery.ISOLATIONS.stream().sorted().toList()) {
            for (String st : ApiQuery.STATUSES.stream().sorted().toList()) {
                sandboxes.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder()
                        .labels(Labels.of("isolation", isolation, "state", st))
                        .value(byState.getOrDefault(List.of(isolation, st), 0)).build());
            }
        }
        out.add(sandboxes.build());
        out.add(InfoSnapshot.builder().name("vessel_accelerator").help("The accelerator microVMs use on this host (kvm or tcg).")
                .dataPoint(InfoSnapshot.InfoDataPointSnapshot.builder().labels(Labels.of("accelerator", accelerator)).build()).build());
        out.add(GaugeSnapshot.builder().name("vessel_daemon_resident_memory_bytes").help("vesseld's resident memory, in bytes.")
                .dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().value(residentBytes()).build()).build());
        out.add(GaugeSnapshot.builder().name("vessel_daemon_heap_used_bytes").help("vesseld's Java heap in use, in bytes.")
                .dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder()
                        .value(ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed()).build()).build());
        out.add(GaugeSnapshot.builder().name("vessel_daemon_uptime_seconds").help("Seconds since vesseld started.")
                .dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().value(uptimeMillis / 1000.0).build()).build());
        return new MetricSnapshots(out);
    }

    private static GaugeSnapshot gauge(String name, String help, List<Sample> samples, ToDoubleFunction<SandboxStats> value) {
        GaugeSnapshot.Builder b = GaugeSnapshot.builder().name(name).help(help);
        for (Sample s : samples) {
            if (s.stats() != null) {
                b.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(labels(s.info())).value(value.applyAsDouble(s.stats())).build());
            }
        }
        return b.build();
    }

    private static CounterSnapshot counter(String name, String help, List<Sample> samples, ToDoubleFunction<SandboxStats> value) {
        CounterSnapshot.Builder b = CounterSnapshot.builder().name(name).help(help);
        for (Sample s : samples) {
            if (s.stats() != null) {
                b.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().labels(labels(s.info())).value(value.applyAsDouble(s.stats())).build());
            }
        }
        return b.build();
    }

    private static double residentBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024.0;
            }
        } catch (IOException | RuntimeException e) {
            // not Linux's /proc: unknown
        }
        return 0;
    }
}
