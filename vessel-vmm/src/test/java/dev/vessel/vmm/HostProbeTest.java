package dev.vessel.vmm;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class HostProbeTest {
    @Test
    void takesTheRefinedTscCalibrationFromTheKernelLog() {
        String log = "6,12,0,-;tsc: Detected 2445.404 MHz processor\n"
                + "6,400,0,-;tsc: Refined TSC clocksource calibration: 2445.399 MHz\n";
        assertThat(HostProbe.tscFromKernelLog(log)).isEqualTo(2445399);
        assertThat(HostProbe.tscFromKernelLog("nothing here")).isZero();
    }

    @Test
    void fallsBackToCpuinfo() {
        assertThat(HostProbe.tscFromCpuinfo("processor\t: 0\ncpu MHz\t\t: 2445.4\n")).isEqualTo(2445400);
        assertThat(HostProbe.tscFromCpuinfo("cpu MHz : 3000\n")).isEqualTo(3000000);
        assertThat(HostProbe.tscFromCpuinfo("")).isZero();
    }
}
