package dev.vessel.vmm;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static dev.vessel.vmm.Accelerator.Kind.KVM;
import static dev.vessel.vmm.Accelerator.Kind.TCG;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class AcceleratorVerdictTest {
    @TempDir Path dir;

    private static final AcceleratorVerdict.Key KEY = new AcceleratorVerdict.Key("6.18.44-fc-v1045",
            "kvm_pvm (10:232, KVM API 12)", "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)",
            "vmlinux 41234567 2026-12-01T03:55:12Z, initrd.img 2345678 2026-12-01T03:55:13Z");

    @Test
    void kvmOnlyWhenItCameUpAndWasNotSlower() {
        assertThat(AcceleratorVerdict.choose(800L, 3400L)).isEqualTo(KVM);
        assertThat(AcceleratorVerdict.choose(3400L, 3400L)).isEqualTo(KVM);
        assertThat(AcceleratorVerdict.choose(3401L, 3400L)).isEqualTo(TCG);
        assertThat(AcceleratorVerdict.choose(null, 3400L)).isEqualTo(TCG);
        assertThat(AcceleratorVerdict.choose(900L, null)).isEqualTo(KVM);
        assertThat(AcceleratorVerdict.choose(null, null)).isEqualTo(TCG);
    }

    @Test
    void jsonRoundTripAndFile() throws Exception {
        AcceleratorVerdict v = new AcceleratorVerdict("tcg", 3456L, null, true,
                "under KVM the guest did not come up within 3456 ms", KEY, "2026-12-01T10:00:00Z");
        assertThat(AcceleratorVerdict.fromJson(v.toJson())).isEqualTo(v);
        assertThat(v.toJson()).contains("\"verdict\" : \"tcg\"", "\"tcgBootMs\" : 3456", "\"kvmBootMs\" : null",
                "\"hostKernel\" : \"6.18.44-fc-v1045\"");
        Path file = dir.resolve("state/accelerator.json");
        v.write(file);
        assertThat(AcceleratorVerdict.read(file)).contains(v);
        try (var files = Files.list(file.getParent())) {
            assertThat(files).containsExactly(file); // no temporary file left
        }
    }

    @Test
    void aDamagedCacheIsNoVerdict() throws Exception {
        Path file = dir.resolve("accelerator.json");
        assertThat(AcceleratorVerdict.read(file)).isEmpty();
        Files.writeString(file, "{\"verdict\": \"fast\", \"key\": {}}");
        assertThat(AcceleratorVerdict.read(file)).isEmpty();
        Files.writeString(file, "{not json");
        assertThat(AcceleratorVerdict.read(file)).isEmpty();
        assertThatThrownBy(() -> AcceleratorVerdict.fromJson("{\"verdict\": \"kvm\"}")).hasMessageContaining("with a key");
    }

    @Test
    void keyDiffersWhenAnyPartDoes() {
        assertThat(new AcceleratorVerdict.Key(KEY.hostKernel(), KEY.kvmDevice(), KEY.qemuVersion(), KEY.guestAssets()))
                .isEqualTo(KEY);
        assertThat(new AcceleratorVerdict.Key("6.1.0-13-amd64", KEY.kvmDevice(), KEY.qemuVersion(), KEY.guestAssets()))
                .isNotEqualTo(KEY);
        assertThat(new AcceleratorVerdict.Key(KEY.hostKernel(), "kvm_intel (10:232, KVM API 12)", KEY.qemuVersion(),
                KEY.guestAssets())).isNotEqualTo(KEY);
    }

    @Test
    void bootTimesSayWhatHappened() {
        assertThat(new AcceleratorVerdict("kvm", 3000L, 700L, true, "r", KEY, "t").bootTimes())
                .isEqualTo("tcg 3000 ms, kvm 700 ms");
        assertThat(new AcceleratorVerdict("tcg", 3000L, null, true, "r", KEY, "t").bootTimes())
                .isEqualTo("tcg 3000 ms, kvm did not come up within its deadline");
        assertThat(new AcceleratorVerdict("tcg", 3000L, null, false, "r", KEY, "t").bootTimes())
                .isEqualTo("tcg 3000 ms, kvm not booted (the quick probes failed)");
    }

    @Test
    void modeParsesTheThreeValuesOnly() {
        assertThat(AcceleratorSelector.Mode.parse("auto")).isEqualTo(AcceleratorSelector.Mode.AUTO);
        assertThat(AcceleratorSelector.Mode.parse("kvm")).isEqualTo(AcceleratorSelector.Mode.KVM);
        assertThat(AcceleratorSelector.Mode.parse("tcg")).isEqualTo(AcceleratorSelector.Mode.TCG);
        assertThatThrownBy(() -> AcceleratorSelector.Mode.parse("hvf"))
                .hasMessage("unknown value \"hvf\" (use auto, kvm or tcg)");
    }

    @Test
    void kvmDeadlineAtCreate() {
        Duration timeout = Duration.ofSeconds(60);
        assertThat(AcceleratorSelector.kvmDeadline(1000L, timeout)).hasSeconds(10);
        assertThat(AcceleratorSelector.kvmDeadline(5000L, timeout)).hasSeconds(15);
        assertThat(AcceleratorSelector.kvmDeadline(30_000L, timeout)).hasSeconds(60);
        assertThat(AcceleratorSelector.kvmDeadline(null, timeout)).hasSeconds(60);
    }

    @Test
    void whatTheKvmDeviceIs() throws Exception {
        assertThat(Accelerator.describeDevice(dir.resolve("kvm"))).isEqualTo("absent");
        assertThat(Accelerator.describeDevice(Path.of("/dev/null")))
                .isEqualTo("not a KVM device (character device 1:3, KVM's is 10:232)");
        assertThat(Accelerator.describeDevice(Files.createFile(dir.resolve("file"))))
                .isEqualTo("not a KVM device (not a character device)");
        // the quick probe names it so, and does not blame a KVM module
        assertThat(Accelerator.probe(Path.of("/dev/null"), "/bin/false"))
                .isEqualTo(new Accelerator(TCG, "/dev/null is not a KVM device (character device 1:3, KVM's is 10:232)"));
    }

    private AcceleratorSelector selector(Path assetsDir, Path cache, String qemu) throws Exception {
        Files.createDirectories(assetsDir);
        Files.writeString(assetsDir.resolve("vmlinux"), "not a kernel");
        Files.writeString(assetsDir.resolve("initrd.img"), "not an initrd");
        return new AcceleratorSelector(AcceleratorSelector.Mode.AUTO, qemu, new GuestAssets(assetsDir), cache,
                dir.resolve("no-kvm"), true, Duration.ofSeconds(5));
    }

    @Test
    void aMatchingCachedVerdictIsUsedWithoutBooting() throws Exception {
        Path cache = dir.resolve("accelerator.json");
        AcceleratorSelector s = selector(dir.resolve("assets"), cache, "/bin/false");
        AcceleratorVerdict cached = new AcceleratorVerdict("kvm", 3000L, 700L, true, "measured", s.key(), "t");
        cached.write(cache);
        List<String> progress = new ArrayList<>();
        AcceleratorSelector.Choice choice = s.choose(progress::add);
        assertThat(progress).isEmpty();
        assertThat(choice.kind()).isEqualTo(KVM);
        assertThat(choice.fallBack()).isTrue();
        assertThat(choice.deadline()).hasSeconds(5); // 3 x 3000 ms, capped by the boot timeout

        String line = s.kvmFailed("no READY within 5000 ms");
        assertThat(line).contains("flipped to tcg", cache.toString());
        AcceleratorVerdict flipped = AcceleratorVerdict.read(cache).orElseThrow();
        assertThat(flipped.verdict()).isEqualTo("tcg");
        assertThat(flipped.reason()).contains("did not come up under KVM at create (no READY within 5000 ms)",
                "tcg 3000 ms, kvm 700 ms");
        assertThat(flipped.key()).isEqualTo(cached.key());
        assertThat(s.choose(progress::add).kind()).isEqualTo(TCG);
        assertThat(progress).isEmpty();
    }

    @Test
    void anotherHostConfigurationIsMeasuredAndNothingBootedIsNotCached() throws Exception {
        Path cache = dir.resolve("accelerator.json");
        AcceleratorSelector s = selector(dir.resolve("assets"), cache, "/bin/false");
        AcceleratorVerdict.Key k = s.key();
        new AcceleratorVerdict("kvm", 3000L, 700L, true, "measured elsewhere",
                new AcceleratorVerdict.Key("other-kernel", k.kvmDevice(), k.qemuVersion(), k.guestAssets()), "t").write(cache);
        List<String> progress = new ArrayList<>();
        AcceleratorVerdict v = s.current(progress::add);
        assertThat(v.verdict()).isEqualTo("tcg");
        assertThat(v.tcgBootMs()).isNull();
        assertThat(v.reason()).contains("did not come up under TCG", "QEMU exited with status 1", "not cached");
        assertThat(v.kvmBooted()).isFalse();
        assertThat(progress).anyMatch(l -> l.contains("booting the guest under TCG"))
                .noneMatch(l -> l.contains("booting the guest under KVM"));
        // /bin/false booted nothing: the old file stays, and is not this host's
        assertThat(AcceleratorVerdict.read(cache).orElseThrow().reason()).isEqualTo("measured elsewhere");
    }

    @Test
    void forcedModesNeitherMeasureNorFallBack() throws Exception {
        Path assets = dir.resolve("assets");
        selector(assets, dir.resolve("c.json"), "/bin/false");
        for (AcceleratorSelector.Mode mode : List.of(AcceleratorSelector.Mode.KVM, AcceleratorSelector.Mode.TCG)) {
            AcceleratorSelector s = new AcceleratorSelector(mode, "/bin/false", new GuestAssets(assets),
                    dir.resolve("c.json"), dir.resolve("no-kvm"), false, Duration.ofSeconds(7));
            List<String> progress = new ArrayList<>();
            AcceleratorSelector.Choice c = s.choose(progress::add);
            assertThat(c.kind()).isEqualTo(mode == AcceleratorSelector.Mode.KVM ? KVM : TCG);
            assertThat(c.fallBack()).isFalse();
            assertThat(c.deadline()).hasSeconds(7);
            assertThat(progress).isEmpty();
            assertThat(dir.resolve("c.json")).doesNotExist();
        }
    }

    @Test
    void aVerdictOfThisHostOverrulesPassingQuickProbes() throws Exception {
        Path device = dir.resolve("kvm");
        String qemu = "qemu-system-x86_64";
        AcceleratorVerdict.Key here = new AcceleratorVerdict.Key(
                Files.readString(Path.of("/proc/sys/kernel/osrelease")).strip(), "absent",
                HostProbe.qemuVersion(qemu).orElse("not found"), "any assets");
        Accelerator quick = new Accelerator(KVM, "probes passed");
        AcceleratorVerdict tcg = new AcceleratorVerdict("tcg", 3000L, null, true, "KVM hung", here, "t");
        assertThat(Accelerator.overruled(quick, tcg, device, qemu).kind()).isEqualTo(TCG);
        assertThat(Accelerator.overruled(quick, tcg, device, qemu).reason()).contains("KVM hung");
        assertThat(Accelerator.overruled(quick, null, device, qemu)).isEqualTo(quick);
        // the quick probes failed when it was measured: it says nothing about KVM
        assertThat(Accelerator.overruled(quick, new AcceleratorVerdict("tcg", 3000L, null, false, "r", here, "t"),
                device, qemu)).isEqualTo(quick);
        AcceleratorVerdict elsewhere = new AcceleratorVerdict("tcg", 3000L, null, true, "r",
                new AcceleratorVerdict.Key("other", "absent", here.qemuVersion(), "a"), "t");
        assertThat(Accelerator.overruled(quick, elsewhere, device, qemu)).isEqualTo(quick);
        Accelerator noKvm = new Accelerator(TCG, "no kvm");
        assertThat(Accelerator.overruled(noKvm, tcg, device, qemu)).isEqualTo(noKvm);
    }
}
