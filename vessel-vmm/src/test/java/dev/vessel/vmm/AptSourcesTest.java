package dev.vessel.vmm;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The host's apt sources in both formats, and the choice of the Debian source an image is made from. */
class AptSourcesTest {
    @TempDir Path etc;

    @Test
    void deb822StanzasAndOneLineEntriesAreBothRead() throws Exception {
        Files.writeString(etc.resolve("sources.list"), """
                # deb http://old.example/debian buster main
                deb-src http://src.example/debian bookworm main
                deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian/ bookworm main contrib # trailing
                """);
        Files.createDirectories(etc.resolve("sources.list.d"));
        Files.writeString(etc.resolve("sources.list.d/debian.sources"), """
                Types: deb
                # http://snapshot.debian.org/archive/debian/20250520T000000Z
                URIs: http://deb.debian.org/debian
                Suites: bookworm bookworm-updates
                Components: main
                Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

                Types: deb
                URIs: http://deb.debian.org/debian-security
                Suites: bookworm-security
                Components: main

                Types: deb
                Enabled: no
                URIs: http://disabled.example/debian
                Suites: bookworm
                Components: main
                """);
        Files.writeString(etc.resolve("sources.list.d/node.list"), "deb https://deb.nodesource.com/node_20.x nodistro main\n");
        List<AptSources.Source> all = AptSources.read(etc);
        assertThat(all).extracting(AptSources.Source::uri).containsExactly("http://mirror.example/debian/",
                "http://deb.debian.org/debian", "http://deb.debian.org/debian-security", "https://deb.nodesource.com/node_20.x");
        assertThat(all.get(0).components()).containsExactly("main", "contrib");
        assertThat(all.get(1).suites()).containsExactly("bookworm", "bookworm-updates");

        // the first source that has the suite wins (apt's order: sources.list, then sources.list.d sorted)
        List<AptSources.Source> chosen = AptSources.forSuite(all, "bookworm");
        assertThat(chosen).extracting(s -> s.mirror() + " " + s.suites().getFirst()).containsExactly(
                "http://mirror.example/debian bookworm", "http://deb.debian.org/debian bookworm-updates",
                "http://deb.debian.org/debian-security bookworm-security");
    }

    @Test
    void aHostWithoutTheSuiteInMainHasNoSource() throws Exception {
        List<AptSources.Source> sources = AptSources.parseOneLine("""
                deb http://deb.debian.org/debian bullseye main
                deb http://deb.debian.org/debian bookworm contrib
                deb http://deb.debian.org/debian-security bookworm-security main
                """);
        assertThat(AptSources.forSuite(sources, "bookworm")).isEmpty();
        assertThat(AptSources.read(etc.resolve("missing"))).isEmpty();
    }
}
