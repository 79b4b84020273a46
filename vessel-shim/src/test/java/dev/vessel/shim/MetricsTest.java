package dev.vessel.shim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** events --stats (runc's JSON, a microVM's guest numbers) → io.containerd.cgroups.v1.Metrics. */
class MetricsTest {
    /** What Vessel prints for a microVM (MicroVmEvents.stats), abridged. */
    static final String MICROVM_EVENT = """
            {"type":"stats","id":"c1","data":{
              "cpu":{"usage":{"total":2500000000,"percpu":[1500000000,1000000000],"kernel":500000000,"user":2000000000},"throttling":{}},
              "memory":{"cache":1048576,"usage":{"usage":83886080,"limit":268435456,"max":0,"failcnt":0},
                        "swap_usage":{"usage":0,"limit":0},"raw":{"active_file":4096,"oom_kill":2}},
              "pids":{"current":3,"limit":0},
              "blkio":{"ioServiceBytesRecursive":[{"major":254,"minor":0,"op":"Read","value":4096}],"ioServicedRecursive":[]},
              "hugetlb":{},
              "network_interfaces":[{"name":"eth0","rx_bytes":1000,"rx_packets":10,"rx_errors":0,"rx_dropped":0,
                                     "tx_bytes":2000,"tx_packets":20,"tx_errors":0,"tx_dropped":0}],
              "vessel":{"source":"guest","qemu_rss_bytes":300000000}}}""";

    @Test
    void memoryUsageAndLimitAreTheGuestsNotQemus() throws Exception {
        Protobuf.Message m = Protobuf.Message.parse(Metrics.fromStatsEvent(MICROVM_EVENT).toByteArray());
        Protobuf.Message memory = m.message(4);
        Protobuf.Message usage = memory.message(33);
        assertThat(usage.uint(2)).isEqualTo(83886080L);
        assertThat(usage.uint(1)).isEqualTo(268435456L);
        assertThat(memory.uint(1)).as("cache").isEqualTo(1048576L);
        assertThat(memory.uint(18)).as("total_cache").isEqualTo(1048576L);
        // the CRI plugin's working set is usage - total_inactive_file: the guest's usage as it is
        assertThat(memory.uint(30)).isZero();
        assertThat(memory.uint(31)).as("total_active_file").isEqualTo(4096L);
    }

    @Test
    void cpuPidsBlkioNetworkAndOomKills() throws Exception {
        Protobuf.Message m = Protobuf.Message.parse(Metrics.fromStatsEvent(MICROVM_EVENT).toByteArray());
        Protobuf.Message cpuUsage = m.message(3).message(1);
        assertThat(cpuUsage.uint(1)).isEqualTo(2500000000L);
        assertThat(cpuUsage.uint(2)).isEqualTo(500000000L);
        assertThat(cpuUsage.uint(3)).isEqualTo(2000000000L);
        assertThat(cpuUsage.bytes(4)).as("per_cpu packed").isNotNull();
        assertThat(m.message(2).uint(1)).as("pids.current").isEqualTo(3L);
        Protobuf.Message blk = m.message(5).messages(1).getFirst();
        assertThat(blk.string(1)).isEqualTo("Read");
        assertThat(blk.uint(3)).isEqualTo(254L);
        assertThat(blk.uint(5)).isEqualTo(4096L);
        Protobuf.Message nic = m.messages(7).getFirst();
        assertThat(nic.string(1)).isEqualTo("eth0");
        assertThat(nic.uint(2)).isEqualTo(1000L);
        assertThat(nic.uint(6)).isEqualTo(2000L);
        assertThat(m.message(9).uint(3)).as("oom kills").isEqualTo(2L);
    }

    /** A container's event (CgroupEvents): cgroup v1 names in raw, total_inactive_file kept for the working set. */
    @Test
    void aContainersCgroupNumbersKeepTheirInactiveFile() throws Exception {
        String event = """
                {"type":"stats","id":"c2","data":{"cpu":{"usage":{"total":10}},
                 "memory":{"cache":500,"usage":{"usage":9000,"limit":9223372036854771712,"max":9500,"failcnt":1},
                           "raw":{"total_cache":500,"total_rss":7000,"total_inactive_file":300}},
                 "pids":{"current":1,"limit":100}}}""";
        Protobuf.Message m = Protobuf.Message.parse(Metrics.fromStatsEvent(event).toByteArray());
        Protobuf.Message memory = m.message(4);
        assertThat(memory.uint(30)).isEqualTo(300L);
        assertThat(memory.uint(19)).isEqualTo(7000L);
        assertThat(memory.message(33).uint(1)).isEqualTo(9223372036854771712L);
        assertThat(memory.message(33).uint(4)).isEqualTo(1L);
        assertThat(m.message(2).uint(2)).isEqualTo(100L);
        assertThat(m.has(9)).as("no OOM control without kills").isFalse();
    }

    @Test
    void oomKillsAreCountedFromRaw() throws Exception {
        assertThat(Metrics.oomKills(MICROVM_EVENT)).isEqualTo(2L);
        assertThat(Metrics.oomKills("{\"type\":\"stats\",\"data\":{}}")).isZero();
    }

    @Test
    void notJsonIsAnError() {
        assertThatThrownBy(() -> Metrics.fromStatsEvent("[]")).hasMessageContaining("no JSON object");
    }

    @Test
    void theAnyOfAStatsResponseNamesTheCgroupsV1Type() {
        byte[] response = new Protobuf.Writer().any(1, Metrics.TYPE_URL, new Protobuf.Writer()).toByteArray();
        assertThat(Protobuf.Message.parse(response).message(1).string(1)).isEqualTo("io.containerd.cgroups.v1.Metrics");
    }
}
