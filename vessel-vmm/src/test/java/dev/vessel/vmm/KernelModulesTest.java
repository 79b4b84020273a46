package dev.vessel.vmm;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class KernelModulesTest {
    private static final Map<String, KernelModules.Module> MODULES = new HashMap<>();

    private static void module(String name, List<String> depends, List<String> softPre) {
        MODULES.put(name, new KernelModules.Module(name, Path.of("/m/" + name.replace('_', '-') + ".ko"), depends,
                softPre));
    }

    static {
        module("virtio", List.of(), List.of());
        module("virtio_ring", List.of(), List.of());
        module("virtio_mmio", List.of("virtio", "virtio_ring"), List.of());
        module("virtio_console", List.of("virtio", "virtio_ring"), List.of());
        module("9pnet", List.of(), List.of());
        module("9pnet_virtio", List.of("9pnet", "virtio", "virtio_ring"), List.of());
        module("netfs", List.of(), List.of());
        module("fscache", List.of("netfs"), List.of());
        module("9p", List.of("9pnet", "netfs", "fscache"), List.of());
        module("crc32c_generic", List.of(), List.of());
        module("ext4", List.of("mbcache"), List.of("crc32c", "crc32c_generic"));
        module("mbcache", List.of(), List.of());
        module("a", List.of("b"), List.of());
        module("b", List.of("a"), List.of());
    }

    private static List<String> order(Set<String> builtin, String... wanted) throws VmmException {
        return new KernelModules(MODULES, builtin).loadOrder(List.of(wanted)).stream()
                .map(KernelModules.Module::name).toList();
    }

    @Test
    void dependenciesComeFirstAndEachModuleOnce() throws VmmException {
        assertThat(order(Set.of(), "virtio_mmio", "virtio_console", "9pnet_virtio", "9p")).containsExactly(
                "virtio", "virtio_ring", "virtio_mmio", "virtio_console", "9pnet", "9pnet_virtio", "netfs",
                "fscache", "9p");
    }

    @Test
    void builtinModulesAreLeftOut() throws VmmException {
        assertThat(order(Set.of("virtio", "virtio_ring", "virtio_mmio"), "virtio-mmio", "virtio_console"))
                .containsExactly("virtio_console");
    }

    @Test
    void softDependenciesAreLoadedWhenPresentAndSkippedWhenNot() throws VmmException {
        assertThat(order(Set.of(), "ext4")).containsExactly("crc32c_generic", "mbcache", "ext4");
    }

    @Test
    void unknownModulesAndCyclesAreErrors() {
        assertThatThrownBy(() -> order(Set.of(), "nosuch")).hasMessageContaining("no module or built-in nosuch");
        assertThatThrownBy(() -> order(Set.of(), "a")).hasMessageContaining("cycle");
    }

    @Test
    void parsesNamesAndSoftdeps() {
        assertThat(KernelModules.nameOf("kernel/fs/9p/9p.ko")).isEqualTo("9p");
        assertThat(KernelModules.nameOf("kernel/drivers/virtio/virtio-mmio.ko.xz")).isEqualTo("virtio_mmio");
        assertThat(KernelModules.softPre("pre: crc32c sha256 post: foo")).containsExactly("crc32c", "sha256");
        assertThat(KernelModules.softPre(null)).isEmpty();
    }

    @Test
    void readsModinfoFromAnElfSection() throws VmmException {
        byte[] elf = TestElf.withSection(".modinfo",
                "license=GPL\0depends=virtio,virtio_ring\0\0name=virtio_mmio\0author=Ren\u00e9\0".getBytes(
                        java.nio.charset.StandardCharsets.UTF_8));
        Map<String, String> info = KernelModules.modinfo(elf);
        assertThat(info).containsEntry("depends", "virtio,virtio_ring").containsEntry("name", "virtio_mmio")
                .containsEntry("author", "Ren\u00e9");
    }
}
