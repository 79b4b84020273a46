package dev.vessel.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.reflect.RecordComponent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** packaging/config.toml, the sample `make install` puts in /etc/vessel: every setting, each with its true default. */
class SampleConfigTest {
    private static final Path SAMPLE = Path.of("../packaging/config.toml");
    private static final Pattern KEY_LINE = Pattern.compile("^#([a-z_]+) = (.+)$");

    @TempDir Path dir;

    @Test
    void documentsEverySetting() throws Exception {
        List<String> documented = Files.readAllLines(SAMPLE).stream().map(KEY_LINE::matcher).filter(Matcher::matches)
                .map(m -> m.group(1)).toList();
        assertThat(documented).containsAll(settingKeys());
    }

    @Test
    void asInstalledItChangesNothing() {
        assertThat(Settings.load(SAMPLE)).isEqualTo(Settings.defaults());
    }

    @Test
    void theValuesItShowsAreTheDefaults() throws Exception {
        List<String> keys = settingKeys();
        String uncommented = Files.readAllLines(SAMPLE).stream().map(KEY_LINE::matcher).filter(Matcher::matches)
                .filter(m -> keys.contains(m.group(1))).map(m -> m.group(1) + " = " + m.group(2))
                .collect(Collectors.joining("\n"));
        Path file = dir.resolve("config.toml");
        Files.writeString(file, uncommented + "\n");
        assertThat(uncommented.lines()).hasSize(keys.size());
        assertThat(Settings.load(file)).isEqualTo(Settings.defaults());
    }

    /** The config keys, from the Settings record's components (lowLevelRuntime is low_level_runtime). */
    private static List<String> settingKeys() {
        return Arrays.stream(Settings.class.getRecordComponents()).map(RecordComponent::getName)
                .map(name -> name.replaceAll("([A-Z])", "_$1").toLowerCase()).toList();
    }
}
