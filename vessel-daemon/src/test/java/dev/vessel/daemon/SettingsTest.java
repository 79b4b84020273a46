package dev.vessel.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vessel.oci.Isolation;
import dev.vessel.vmm.AcceleratorSelector;
import dev.vessel.vmm.GuestKernel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SettingsTest {
    @TempDir Path dir;

    @Test
    void missingFileMeansDefaults() {
        assertThat(Settings.load(dir.resolve("none.toml"))).isEqualTo(Settings.defaults());
    }

    @Test
    void readsEverySetting() throws Exception {
        Path file = dir.resolve("config.toml");
        Files.writeString(file, """
                low_level_runtime = "runc"
                default_isolation = "microvm"
                state_root = "/run/other"
                assets_dir = "/srv/assets"
                microvm_boot_timeout = 5
                resource_view = false
                metrics_address = "127.0.0.1:9464"
                """);
        Settings settings = Settings.load(file);
        assertThat(settings.lowLevelRuntime()).isEqualTo("runc");
        assertThat(settings.defaultIsolation()).isEqualTo(Isolation.MICROVM);
        assertThat(settings.stateRoot()).isEqualTo(Path.of("/run/other"));
        assertThat(settings.assetsDir()).isEqualTo(Path.of("/srv/assets"));
        assertThat(settings.microvmBootTimeout()).hasSeconds(5);
        assertThat(settings.resourceView()).isFalse();
        assertThat(settings.metricsAddress()).isEqualTo("127.0.0.1:9464");
        assertThat(Settings.defaults().metricsAddress()).as("metrics are off by default").isNull();
    }

    @Test
    void sizesAPodsMicroVmThatNothingElseSizes() throws Exception {
        assertThat(Settings.defaults().podMemory()).isEqualTo(512);
        assertThat(Settings.defaults().podCpus()).isEqualTo(1);
        Path file = dir.resolve("config.toml");
        Files.writeString(file, "pod_memory = 1024\npod_cpus = 2\n");
        Settings settings = Settings.load(file);
        assertThat(settings.podMemory()).isEqualTo(1024);
        assertThat(settings.podCpus()).isEqualTo(2);
        Files.writeString(file, "pod_memory = 16\n");
        assertThatThrownBy(() -> Settings.load(file)).hasMessageEndingWith("pod_memory must be a whole number of at least 64, not 16");
        Files.writeString(file, "pod_cpus = \"two\"\n");
        assertThatThrownBy(() -> Settings.load(file)).hasMessageContaining("pod_cpus must be a whole number of at least 1");
    }

    @Test
    void namesWhatIsWrong() throws Exception {
        Path file = dir.resolve("config.toml");
        Files.writeString(file, "low_level_runtim = \"runc\"\n");
        assertThatThrownBy(() -> Settings.load(file)).hasMessageContaining("unknown setting \"low_level_runtim\"");
        Files.writeString(file, "default_isolation = \"vm\"\n");
        assertThatThrownBy(() -> Settings.load(file)).hasMessageContaining("unknown isolation \"vm\"");
        Files.writeString(file, "state_root = \"relative\"\n");
        assertThatThrownBy(() -> Settings.load(file)).hasMessageContaining("absolute");
        Files.writeString(file, "microvm_boot_timeout = 0\n");
        assertThatThrownBy(() -> Settings.load(file)).hasMessageContaining("microvm_boot_timeout must be");
        Files.writeString(file, "resource_view = \"yes\"\n");
        assertThatThrownBy(() -> Settings.load(file)).hasMessageContaining("resource_view must be true or false");
        Files.writeString(file, "metrics_address = 9464\n");
        assertThatThrownBy(() -> Settings.load(file)).hasMessageContaining("metrics_address must be a string");
        Files.writeString(file, "this is not toml");
        assertThatThrownBy(() -> Settings.load(file)).hasMessageContaining(file.toString());
    }

    @Test
    void acceleratorAndQemuFromTheConfigAndTheEnvironment() throws Exception {
        assertThat(Settings.defaults().accelerator()).isEqualTo(AcceleratorSelector.Mode.AUTO);
        assertThat(Settings.defaults().qemu()).isEqualTo("qemu-system-x86_64");
        Path qemu = Files.createFile(dir.resolve("qemu"));
        Files.setPosixFilePermissions(qemu, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path file = dir.resolve("config.toml");
        Files.writeString(file, "accelerator = \"tcg\"\nqemu = \"" + qemu + "\"\n");
        Settings settings = Settings.load(file);
        assertThat(settings.accelerator()).isEqualTo(AcceleratorSelector.Mode.TCG);
        assertThat(settings.qemu()).isEqualTo(qemu.toString());

        // a name is kept as given (looked up again at each use); "sh" stands for one found in PATH
        Settings env = settings.withEnvironment(Map.of("VESSEL_ACCELERATOR", "kvm", "VESSEL_QEMU", "sh"));
        assertThat(env.accelerator()).isEqualTo(AcceleratorSelector.Mode.KVM);
        assertThat(env.qemu()).isEqualTo("sh");
        assertThat(settings.withEnvironment(Map.of("VESSEL_ACCELERATOR", ""))).isEqualTo(settings);
    }

    @Test
    void guestKernelFromTheConfigAndTheEnvironment() throws Exception {
        assertThat(Settings.defaults().guestKernel()).isEqualTo(GuestKernel.DEBIAN);
        Path file = dir.resolve("config.toml");
        Files.writeString(file, "guest_kernel = \"vessel\"\n");
        Settings settings = Settings.load(file);
        assertThat(settings.guestKernel()).isEqualTo(GuestKernel.VESSEL);
        assertThat(settings.withEnvironment(Map.of("VESSEL_GUEST_KERNEL", "debian")).guestKernel())
                .isEqualTo(GuestKernel.DEBIAN);
        assertThat(settings.withEnvironment(Map.of("VESSEL_GUEST_KERNEL", ""))).isEqualTo(settings);
        Files.writeString(file, "guest_kernel = \"custom\"\n");
        assertThatThrownBy(() -> Settings.load(file))
                .hasMessage(file + ": guest_kernel: \"custom\" is not a guest kernel (use vessel or debian)");
        assertThatThrownBy(() -> Settings.defaults().withEnvironment(Map.of("VESSEL_GUEST_KERNEL", "Vessel")))
                .hasMessage("VESSEL_GUEST_KERNEL: \"Vessel\" is not a guest kernel (use vessel or debian)");
    }

    @Test
    void jailFromTheConfigAndTheEnvironment() throws Exception {
        assertThat(Settings.defaults().jail()).isFalse();
        Path file = dir.resolve("config.toml");
        Files.writeString(file, "jail = true\n");
        Settings on = Settings.load(file);
        assertThat(on.jail()).isTrue();
        assertThat(on.withEnvironment(Map.of("VESSEL_JAIL", "0")).jail()).isFalse();
        assertThat(Settings.defaults().withEnvironment(Map.of("VESSEL_JAIL", "1")).jail()).isTrue();
        assertThat(on.withEnvironment(Map.of("VESSEL_JAIL", ""))).isEqualTo(on);
        assertThatThrownBy(() -> Settings.defaults().withEnvironment(Map.of("VESSEL_JAIL", "on")))
                .hasMessage("VESSEL_JAIL: must be 0 or 1, not \"on\"");
        Files.writeString(file, "jail = 1\n");
        assertThatThrownBy(() -> Settings.load(file)).hasMessageContaining("jail must be true or false");
    }

    @Test
    void templatesFromTheConfigAndTheEnvironment() throws Exception {
        assertThat(Settings.defaults().templates()).isTrue();
        Path file = dir.resolve("config.toml");
        Files.writeString(file, "templates = false\n");
        Settings off = Settings.load(file);
        assertThat(off.templates()).isFalse();
        assertThat(off.withEnvironment(Map.of("VESSEL_TEMPLATES", "1")).templates()).isTrue();
        assertThat(Settings.defaults().withEnvironment(Map.of("VESSEL_TEMPLATES", "0")).templates()).isFalse();
        assertThat(off.withEnvironment(Map.of("VESSEL_TEMPLATES", ""))).isEqualTo(off);
        assertThatThrownBy(() -> Settings.defaults().withEnvironment(Map.of("VESSEL_TEMPLATES", "yes")))
                .hasMessage("VESSEL_TEMPLATES: must be 0 or 1, not \"yes\"");
        Files.writeString(file, "templates = \"yes\"\n");
        assertThatThrownBy(() -> Settings.load(file)).hasMessageContaining("templates must be true or false");
    }

    @Test
    void badAcceleratorOrQemuNamesTheKeyOrPath() throws Exception {
        Path file = dir.resolve("config.toml");
        Files.writeString(file, "accelerator = \"hvf\"\n");
        assertThatThrownBy(() -> Settings.load(file))
                .hasMessage(file + ": accelerator: unknown value \"hvf\" (use auto, kvm or tcg)");
        Files.writeString(file, "qemu = \"/no/such/qemu\"\n");
        assertThatThrownBy(() -> Settings.load(file)).hasMessage(file + ": qemu: /no/such/qemu does not exist");
        assertThatThrownBy(() -> Settings.defaults().withEnvironment(Map.of("VESSEL_ACCELERATOR", "KVM")))
                .hasMessage("VESSEL_ACCELERATOR: unknown value \"KVM\" (use auto, kvm or tcg)");
        assertThatThrownBy(() -> Settings.defaults().withEnvironment(Map.of("VESSEL_QEMU", "/no/such/qemu")))
                .hasMessage("VESSEL_QEMU: /no/such/qemu does not exist");
        assertThatThrownBy(() -> Settings.defaults().withEnvironment(Map.of("VESSEL_QEMU", "no-such-qemu-binary")))
                .hasMessage("VESSEL_QEMU: no-such-qemu-binary is not in PATH (nor in /usr/sbin, /sbin, /usr/bin, /bin)");
        Files.writeString(file, "qemu = \"no-such-qemu-binary\"\n");
        assertThatThrownBy(() -> Settings.load(file))
                .hasMessage(file + ": qemu: no-such-qemu-binary is not in PATH (nor in /usr/sbin, /sbin, /usr/bin, /bin)");
        assertThat(Settings.defaults().qemu()).as("the default is not looked up: QEMU is needed by microVMs only")
                .isEqualTo("qemu-system-x86_64");
    }

}
