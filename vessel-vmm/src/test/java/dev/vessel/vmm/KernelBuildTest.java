package dev.vessel.vmm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The guest kernel's cache key and cache look-up, and the check of the fragment against the final .config. */
class KernelBuildTest {
    private static final byte[] CONFIG = "CONFIG_PVH=y\n# CONFIG_MODULES is not set\n".getBytes(StandardCharsets.UTF_8);

    @TempDir Path dir;

    @Test
    void theKeyNamesTheSourceVersionAndChangesWithEitherInput() {
        String key = KernelBuild.key("6.1.192-3", CONFIG);
        assertThat(key).matches("6\\.1\\.192-3-[0-9a-f]{16}");
        assertThat(KernelBuild.key("6.1.192-3", CONFIG.clone())).isEqualTo(key);
        assertThat(KernelBuild.key("6.1.193-1", CONFIG)).isNotEqualTo(key);
        assertThat(KernelBuild.key("6.1.192-3", "CONFIG_PVH=y\n".getBytes(StandardCharsets.UTF_8))).isNotEqualTo(key);
        // an epoch's colon (or a slash) never reaches the directory name
        assertThat(KernelBuild.key("1:6.1/x", CONFIG)).startsWith("1_6.1_x-");
    }

    @Test
    void theShippedFragmentIsTheOneKeyed() {
        byte[] bundled = KernelBuild.bundledConfig();
        assertThat(new String(bundled, StandardCharsets.UTF_8)).contains("CONFIG_PVH=y", "CONFIG_VIRTIO_MMIO=y",
                "CONFIG_9P_FS=y", "# CONFIG_MODULES is not set", "CONFIG_RD_GZIP=y");
        assertThat(new KernelBuild(dir, bundled, () -> "6.1.192-3", dir.resolve("none.tar.xz")))
                .extracting(b -> {
                    try {
                        return b.key();
                    } catch (VmmException e) {
                        throw new AssertionError(e);
                    }
                }).isEqualTo(KernelBuild.key("6.1.192-3", bundled));
    }

    @Test
    void aCachedBuildIsUsedWithoutBuilding() throws Exception {
        String key = KernelBuild.key("6.1.192-3", CONFIG);
        Files.createDirectories(dir.resolve(key));
        Files.writeString(dir.resolve(key).resolve("vmlinux"), "elf");
        AtomicInteger asked = new AtomicInteger();
        // no source tarball: building would fail, so a result proves the cache answered
        KernelBuild build = new KernelBuild(dir, CONFIG, () -> {
            asked.incrementAndGet();
            return "6.1.192-3";
        }, dir.resolve("no-source.tar.xz"));
        KernelBuild.Built built = build.ensure(line -> { });
        assertThat(built.fresh()).isFalse();
        assertThat(built.key()).isEqualTo(key);
        assertThat(built.vmlinux()).isEqualTo(dir.resolve(key).resolve("vmlinux"));
        assertThat(asked).hasValue(1);
    }

    @Test
    void aNewSourceVersionOrConfigMissesTheCache() throws Exception {
        String key = KernelBuild.key("6.1.192-3", CONFIG);
        Files.createDirectories(dir.resolve(key));
        Files.writeString(dir.resolve(key).resolve("vmlinux"), "elf");
        Path tarball = dir.resolve("no-source.tar.xz");
        assertThatThrownBy(() -> new KernelBuild(dir, CONFIG, () -> "6.1.193-1", tarball).ensure(line -> { }))
                .isInstanceOf(VmmException.class).hasMessageContaining(tarball + " is missing");
        byte[] other = "CONFIG_PVH=y\nCONFIG_9P_FS=y\n".getBytes(StandardCharsets.UTF_8);
        assertThatThrownBy(() -> new KernelBuild(dir, other, () -> "6.1.192-3", tarball).ensure(line -> { }))
                .isInstanceOf(VmmException.class).hasMessageContaining(tarball + " is missing");
        // a directory without its vmlinux (a build that did not finish) is no build
        Files.delete(dir.resolve(key).resolve("vmlinux"));
        assertThat(new KernelBuild(dir, CONFIG, () -> "6.1.192-3", tarball).cached(key)).isNull();
    }

    @Test
    void noSourcePackageIsOneLine() {
        assertThatThrownBy(() -> new KernelBuild(dir, CONFIG, () -> {
            throw new VmmException("linux-source-6.1 is not installed");
        }, dir.resolve("x")).ensure(line -> { })).hasMessage("linux-source-6.1 is not installed");
    }

    @Test
    void unmetNamesWhatKconfigDropped() {
        String fragment = """
                # a comment
                CONFIG_PVH=y
                CONFIG_9P_FS=y
                CONFIG_HZ=100
                # CONFIG_MODULES is not set
                # CONFIG_SWAP is not set
                """;
        String finalConfig = """
                CONFIG_PVH=y
                CONFIG_HZ=100
                CONFIG_9P_FS_POSIX_ACL=y
                CONFIG_SWAP=y
                # CONFIG_NET_9P is not set
                """;
        // 9P_FS absent (an unmet dependency); MODULES absent altogether counts as not set; SWAP came out y
        assertThat(KernelBuild.unmet(fragment, finalConfig)).containsExactly("CONFIG_9P_FS=y", "# CONFIG_SWAP is not set");
        assertThat(KernelBuild.unmet(fragment, finalConfig.replace("CONFIG_SWAP=y", "# CONFIG_SWAP is not set")
                + "CONFIG_9P_FS=y\n")).isEmpty();
    }

    @Test
    void durationsReadAsMinutesAndSeconds() {
        assertThat(KernelBuild.describe(java.time.Duration.ofSeconds(42))).isEqualTo("42s");
        assertThat(KernelBuild.describe(java.time.Duration.ofSeconds(423))).isEqualTo("7m 3s");
    }
}
