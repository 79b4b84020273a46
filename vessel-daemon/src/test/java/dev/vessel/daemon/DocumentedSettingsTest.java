package dev.vessel.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * What a user can find (issue 10, item 5): the sample packaging/config.toml documents every key
 * {@link Settings} accepts, and the README names every key and every VESSEL_* variable that the
 * daemon's Java or the C client and keeper read. Compared mechanically, so a new setting without
 * its documentation fails here.
 */
class DocumentedSettingsTest {
    private static final Path REPO = Path.of("").toAbsolutePath().getParent();

    private static Set<String> all(Pattern pattern, String text) {
        Set<String> found = new TreeSet<>();
        Matcher m = pattern.matcher(text);
        while (m.find()) found.add(m.group(1));
        return found;
    }

    private static String readme() throws IOException {
        return Files.readString(REPO.resolve("README.md"));
    }

    @Test
    void theSampleConfigDocumentsEveryKey() throws IOException {
        assertThat(all(Pattern.compile("(?m)^#?([a-z_]+) = "), Files.readString(REPO.resolve("packaging/config.toml"))))
                .as("keys shown in packaging/config.toml").isEqualTo(new TreeSet<>(Settings.KEYS));
    }

    @Test
    void theReadmeNamesEveryKey() throws IOException {
        String readme = readme();
        String table = readme.substring(readme.indexOf("**Settings**"), readme.indexOf("**Environment variables:**"));
        assertThat(all(Pattern.compile("(?m)^\\| `([a-z_]+)` \\|"), table))
                .as("keys in the README's settings table").isEqualTo(new TreeSet<>(Settings.KEYS));
    }

    @Test
    void theReadmeNamesEveryEnvironmentVariableTheCodeReads() throws IOException {
        Set<String> read = new TreeSet<>();
        Pattern literal = Pattern.compile("\"(VESSEL_[A-Z0-9_]+)\"");
        try (Stream<Path> files = Files.walk(REPO)) {
            for (Path f : files.filter(DocumentedSettingsTest::isSource).toList()) {
                read.addAll(all(literal, Files.readString(f)));
            }
        }
        assertThat(read).as("the code reads some").contains("VESSEL_SOCKET", "VESSEL_CONFIG", "VESSEL_DAEMON");
        String readme = readme();
        String table = readme.substring(readme.indexOf("**Environment variables:**"));
        table = table.substring(0, table.indexOf("\n\n", table.indexOf("| variable |")));
        assertThat(all(Pattern.compile("(?m)^\\| `(VESSEL_[A-Z0-9_]+)` \\|"), table))
                .as("variables in the README's environment table").isEqualTo(read);
    }

    /** The daemon's main Java and the native C: what runs on a user's host (tests read their own). */
    private static boolean isSource(Path f) {
        String rel = REPO.relativize(f).toString();
        if (rel.startsWith("native/")) return rel.endsWith(".c") || rel.endsWith(".h");
        return rel.endsWith(".java") && rel.contains("/src/main/java/") && !rel.contains("/target/");
    }
}
