package dev.vessel.vmm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

/**
 * The host's configured apt sources ({@code /etc/apt/sources.list}, {@code sources.list.d/*.list}
 * one-line entries and {@code *.sources} deb822 stanzas), read so that a guest image is made from
 * the same archive the host installs from (a mirror, a proxy, a snapshot).
 */
public final class AptSources {
    /** One {@code deb} entry: where, which suites, which components. */
    public record Source(String uri, List<String> suites, List<String> components) {
        public Source {
            suites = List.copyOf(suites);
            components = List.copyOf(components);
        }

        /** The URI without a trailing slash (debootstrap and apt take either). */
        public String mirror() {
            return uri.endsWith("/") ? uri.substring(0, uri.length() - 1) : uri;
        }
    }

    private AptSources() {
    }

    /** Every {@code deb} entry under {@code etcApt} (normally /etc/apt), files in apt's order. */
    public static List<Source> read(Path etcApt) throws IOException {
        List<Source> all = new ArrayList<>();
        Path list = etcApt.resolve("sources.list");
        if (Files.isRegularFile(list)) all.addAll(parseOneLine(Files.readString(list)));
        Path dir = etcApt.resolve("sources.list.d");
        if (Files.isDirectory(dir)) {
            List<Path> files;
            try (Stream<Path> s = Files.list(dir)) {
                files = s.sorted().toList();
            }
            for (Path f : files) {
                String name = f.getFileName().toString();
                if (name.endsWith(".list")) all.addAll(parseOneLine(Files.readString(f)));
                else if (name.endsWith(".sources")) all.addAll(parseDeb822(Files.readString(f)));
            }
        }
        return all;
    }

    /**
     * The source that carries {@code suite} with the {@code main} component, and the one that
     * carries {@code suite + "-security"} if any (empty when the host has none): what the image's
     * own /etc/apt/sources.list gets too.
     */
    public static List<Source> forSuite(List<Source> sources, String suite) {
        List<Source> chosen = new ArrayList<>();
        for (String wanted : List.of(suite, suite + "-updates", suite + "-security")) {
            sources.stream().filter(s -> s.suites().contains(wanted) && s.components().contains("main"))
                    .findFirst()
                    .ifPresent(s -> chosen.add(new Source(s.uri(), List.of(wanted), List.of("main"))));
        }
        if (chosen.isEmpty() || !chosen.getFirst().suites().contains(suite)) return List.of();
        return chosen;
    }

    /** {@code deb [options] URI SUITE COMPONENT...} lines; deb-src and comments skipped. */
    static List<Source> parseOneLine(String text) {
        List<Source> out = new ArrayList<>();
        for (String raw : text.split("\n")) {
            String line = raw.contains("#") ? raw.substring(0, raw.indexOf('#')) : raw;
            line = line.strip();
            if (!line.startsWith("deb ") && !line.startsWith("deb\t")) continue;
            line = line.substring(3).strip();
            if (line.startsWith("[")) {
                int end = line.indexOf(']');
                if (end < 0) continue;
                line = line.substring(end + 1).strip();
            }
            String[] words = line.split("\\s+");
            if (words.length < 2) continue;
            out.add(new Source(words[0], List.of(words[1]), Arrays.asList(words).subList(2, words.length)));
        }
        return out;
    }

    /** deb822 stanzas ({@code Types: deb}, {@code URIs}, {@code Suites}, {@code Components}; {@code Enabled: no} skipped). */
    static List<Source> parseDeb822(String text) {
        List<Source> out = new ArrayList<>();
        for (String stanza : text.split("\n\\s*\n")) {
            java.util.Map<String, String> fields = new java.util.HashMap<>();
            String last = null;
            for (String raw : stanza.split("\n")) {
                if (raw.startsWith("#") || raw.isBlank()) continue;
                if ((raw.startsWith(" ") || raw.startsWith("\t")) && last != null) {
                    fields.merge(last, " " + raw.strip(), String::concat);
                    continue;
                }
                int colon = raw.indexOf(':');
                if (colon < 0) continue;
                last = raw.substring(0, colon).strip().toLowerCase(java.util.Locale.ROOT);
                fields.put(last, raw.substring(colon + 1).strip());
            }
            List<String> types = words(fields.get("types"));
            if (!types.contains("deb") || "no".equalsIgnoreCase(fields.getOrDefault("enabled", "yes"))) continue;
            List<String> suites = words(fields.get("suites"));
            List<String> components = words(fields.get("components"));
            for (String uri : words(fields.get("uris"))) out.add(new Source(uri, suites, components));
        }
        return out;
    }

    private static List<String> words(String value) {
        if (value == null || value.isBlank()) return List.of();
        return List.of(value.strip().split("\\s+"));
    }
}
