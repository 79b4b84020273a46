package dev.vessel.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class DaemonLogTest {
    @Test
    void jettysSlf4jWarningsBecomeDaemonLogLinesAndItsInfoIsDropped() {
        PrintStream saved = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            DaemonLog.routeLibraries();
            org.slf4j.Logger jetty = LoggerFactory.getLogger("org.eclipse.jetty.server.Server");
            jetty.info("Started oejs.Server@1");
            jetty.warn("cannot bind {}", "/run/x.sock");
            LoggerFactory.getLogger("com.example.Other").info("a library's info line");
        } finally {
            System.setErr(saved);
        }
        String text = captured.toString(StandardCharsets.UTF_8);
        assertThat(text.lines().toList()).hasSize(2).allSatisfy(line -> assertThat(line).matches("\\S+Z vesseld\\[\\d+\\]: .*"));
        assertThat(text).contains("WARNING Server: cannot bind /run/x.sock").contains("INFO Other: a library's info line")
                .doesNotContain("Started").doesNotContain("SLF4J");
    }
}
