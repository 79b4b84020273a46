package dev.vessel.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * "One way to do each thing" (DESIGN.md) over every module's main sources: a child process is
 * started by {@code dev.vessel.linux.Command} only, so that stdin, output, timeouts and PATH
 * lookup are decided in one place. This module is built last, so the others' sources are its
 * siblings' {@code src/main/java}.
 */
class OneWayTest {
    private static final Path REPO = Path.of(System.getProperty("user.dir")).getParent();
    private static final Path COMMAND = Path.of("vessel-linux/src/main/java/dev/vessel/linux/Command.java");

    @Test
    void everyChildProcessIsStartedByCommand() throws IOException {
        List<String> found = new ArrayList<>();
        for (Path source : mainSources()) {
            if (REPO.relativize(source).equals(COMMAND)) continue;
            List<String> lines = Files.readAllLines(source);
            for (int i = 0; i < lines.size(); i++) {
                String line = lines.get(i);
                if (line.contains("new ProcessBuilder(") || line.contains("Runtime.getRuntime().exec(")) {
                    found.add(REPO.relativize(source) + ":" + (i + 1) + ": " + line.strip());
                }
            }
        }
        assertThat(mainSources()).as("the modules' sources are found").hasSizeGreaterThan(100);
        assertThat(found).as("child processes started outside dev.vessel.linux.Command").isEmpty();
    }

    private static List<Path> mainSources() throws IOException {
        List<Path> all = new ArrayList<>();
        try (Stream<Path> modules = Files.list(REPO)) {
            for (Path module : modules.filter(m -> Files.isDirectory(m.resolve("src/main/java"))).toList()) {
                try (Stream<Path> files = Files.walk(module.resolve("src/main/java"))) {
                    files.filter(f -> f.toString().endsWith(".java")).forEach(all::add);
                }
            }
        }
        return all;
    }
}
