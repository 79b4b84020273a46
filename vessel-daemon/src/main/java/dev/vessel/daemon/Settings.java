package dev.vessel.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import dev.vessel.linux.Tools;
import dev.vessel.oci.Isolation;
import dev.vessel.oci.OciException;
import dev.vessel.vmm.AcceleratorSelector;
import dev.vessel.vmm.GuestKernel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;

/**
 * Vessel's configuration, from {@code /etc/vessel/config.toml} (or {@code $VESSEL_CONFIG}).
 *
 * <pre>
 * low_level_runtime = "crun"        # or "runc", or an absolute path to either
 * default_isolation = "container"   # or "microvm"
 * state_root = "/run/vessel/containers"
 * resource_view = true              # the /proc, /sys and sysinfo(2) view for container isolation
 * view_cpus_from_shares = false     # count CPUs from CPU shares instead of cpuset and quota
 * assets_dir = "/var/lib/vessel/assets"   # the microVM guest kernel and initrd
 * microvm_boot_timeout = 60         # seconds a microVM's agent has to come up at create
 * accelerator = "auto"              # or "kvm" or "tcg"; env VESSEL_ACCELERATOR overrides it
 * qemu = "qemu-system-x86_64"       # QEMU's binary (a name in PATH or a path); env VESSEL_QEMU overrides it
 * metrics_address = ""             # Prometheus metrics on this TCP address, e.g. "127.0.0.1:9464"; off when empty
 * guest_kernel = "debian"           # or "vessel" (built from linux-source-6.1); env VESSEL_GUEST_KERNEL overrides it
 * templates = true                  # microVMs start from pre-booted templates; env VESSEL_TEMPLATES=0|1 overrides it
 * pod_memory = 512                  # MiB of a Kubernetes pod's microVM when neither its pod cgroup nor its annotations size it
 * pod_cpus = 1                      # its vCPUs, likewise
 * jail = false                      # each microVM's QEMU confined (own uid, no capabilities, own mount namespace); env VESSEL_JAIL=0|1
 * </pre>
 *
 * @param metricsAddress HOST:PORT as written (checked when the daemon binds it, so that a bad one
 *     costs the metrics only), or null (absent or empty): no metrics
 */
public record Settings(String lowLevelRuntime, Isolation defaultIsolation, Path stateRoot, boolean resourceView,
        boolean viewCpusFromShares, Path assetsDir, Duration microvmBootTimeout, AcceleratorSelector.Mode accelerator,
        String qemu, GuestKernel guestKernel, String metricsAddress, boolean templates, int podMemory, int podCpus,
        boolean jail) {
    public static final String ACCELERATOR_ENV = "VESSEL_ACCELERATOR";
    public static final String QEMU_ENV = "VESSEL_QEMU";
    public static final String TEMPLATES_ENV = "VESSEL_TEMPLATES";
    public static final String JAIL_ENV = "VESSEL_JAIL";
    public static final String GUEST_KERNEL_ENV = "VESSEL_GUEST_KERNEL";
    public static final Path DEFAULT_FILE = Path.of("/etc/vessel/config.toml");
    /** Every key the config may hold (the sample packaging/config.toml and the README document each). */
    static final Set<String> KEYS = Set.of("low_level_runtime", "default_isolation", "state_root",
            "resource_view", "view_cpus_from_shares", "assets_dir", "microvm_boot_timeout", "accelerator", "qemu",
            "guest_kernel", "metrics_address", "templates", "pod_memory", "pod_cpus", "jail");

    /** As the canonical constructor, jail off. */
    public Settings(String lowLevelRuntime, Isolation defaultIsolation, Path stateRoot, boolean resourceView,
            boolean viewCpusFromShares, Path assetsDir, Duration microvmBootTimeout, AcceleratorSelector.Mode accelerator,
            String qemu, GuestKernel guestKernel, String metricsAddress, boolean templates, int podMemory, int podCpus) {
        this(lowLevelRuntime, defaultIsolation, stateRoot, resourceView, viewCpusFromShares, assetsDir, microvmBootTimeout,
                accelerator, qemu, guestKernel, metricsAddress, templates, podMemory, podCpus, false);
    }

    /** As the canonical constructor, with the pod defaults of {@link #defaults()}, jail off. */
    public Settings(String lowLevelRuntime, Isolation defaultIsolation, Path stateRoot, boolean resourceView,
            boolean viewCpusFromShares, Path assetsDir, Duration microvmBootTimeout, AcceleratorSelector.Mode accelerator,
            String qemu, GuestKernel guestKernel, String metricsAddress, boolean templates) {
        this(lowLevelRuntime, defaultIsolation, stateRoot, resourceView, viewCpusFromShares, assetsDir, microvmBootTimeout,
                accelerator, qemu, guestKernel, metricsAddress, templates,
                (int) (dev.vessel.runtime.MicroVmDriver.DEFAULT_POD_MEMORY >> 20), dev.vessel.runtime.MicroVmDriver.DEFAULT_POD_CPUS);
    }

    public static Settings defaults() {
        return new Settings("crun", Isolation.CONTAINER, Path.of("/run/vessel/containers"), true, false,
                Path.of("/var/lib/vessel/assets"), Duration.ofSeconds(60), AcceleratorSelector.Mode.AUTO,
                "qemu-system-x86_64", GuestKernel.DEBIAN, null, true,
                (int) (dev.vessel.runtime.MicroVmDriver.DEFAULT_POD_MEMORY >> 20), dev.vessel.runtime.MicroVmDriver.DEFAULT_POD_CPUS);
    }

    /**
     * These settings with the environment's overrides ({@code VESSEL_ACCELERATOR}, {@code
     * VESSEL_QEMU}, {@code VESSEL_GUEST_KERNEL}), each checked as its config key is; an empty
     * variable counts as unset.
     */
    public Settings withEnvironment(Map<String, String> env) {
        String accel = env.getOrDefault(ACCELERATOR_ENV, "");
        String binary = env.getOrDefault(QEMU_ENV, "");
        String kernel = env.getOrDefault(GUEST_KERNEL_ENV, "");
        String tmpl = env.getOrDefault(TEMPLATES_ENV, "");
        if (!tmpl.isEmpty() && !tmpl.equals("0") && !tmpl.equals("1")) {
            throw new OciException(TEMPLATES_ENV + ": must be 0 or 1, not \"" + tmpl + "\"");
        }
        String jailed = env.getOrDefault(JAIL_ENV, "");
        if (!jailed.isEmpty() && !jailed.equals("0") && !jailed.equals("1")) {
            throw new OciException(JAIL_ENV + ": must be 0 or 1, not \"" + jailed + "\"");
        }
        return new Settings(lowLevelRuntime, defaultIsolation, stateRoot, resourceView, viewCpusFromShares, assetsDir,
                microvmBootTimeout, accel.isEmpty() ? accelerator : accelerator(ACCELERATOR_ENV, accel),
                binary.isEmpty() ? qemu : qemu(QEMU_ENV, binary),
                kernel.isEmpty() ? guestKernel : guestKernel(GUEST_KERNEL_ENV, kernel), metricsAddress,
                tmpl.isEmpty() ? templates : tmpl.equals("1"), podMemory, podCpus, jailed.isEmpty() ? jail : jailed.equals("1"));
    }

    public static Settings load(Path file) {
        if (!Files.exists(file)) {
            return defaults();
        }
        JsonNode toml;
        try {
            toml = new TomlMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new OciException(file + ": " + e.getMessage().lines().findFirst().orElse("unreadable"));
        }
        return parse(file, toml);
    }

    static Settings parse(Path file, JsonNode toml) {
        for (Iterator<String> names = toml.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!KEYS.contains(name)) {
                throw new OciException(file + ": unknown setting \"" + name + "\"");
            }
        }
        Settings d = defaults();
        String runtime = toml.path("low_level_runtime").asText(d.lowLevelRuntime());
        Isolation isolation = toml.has("default_isolation")
                ? Isolation.parse(toml.get("default_isolation").asText(), file + ": default_isolation")
                : d.defaultIsolation();
        Path root = toml.has("state_root") ? Path.of(toml.get("state_root").asText()) : d.stateRoot();
        if (!root.isAbsolute()) {
            throw new OciException(file + ": state_root must be an absolute path");
        }
        return new Settings(runtime, isolation, root, bool(file, toml, "resource_view", d.resourceView()),
                bool(file, toml, "view_cpus_from_shares", d.viewCpusFromShares()),
                toml.has("assets_dir") ? Path.of(toml.get("assets_dir").asText()) : d.assetsDir(),
                seconds(file, toml, "microvm_boot_timeout", d.microvmBootTimeout()),
                toml.has("accelerator") ? accelerator(file + ": accelerator", toml.get("accelerator").asText())
                        : d.accelerator(),
                toml.has("qemu") ? qemu(file + ": qemu", toml.get("qemu").asText()) : d.qemu(),
                toml.has("guest_kernel") ? guestKernel(file + ": guest_kernel", toml.get("guest_kernel").asText())
                        : d.guestKernel(),
                metricsAddress(file, toml), bool(file, toml, "templates", d.templates()),
                positive(file, toml, "pod_memory", d.podMemory(), 64), positive(file, toml, "pod_cpus", d.podCpus(), 1),
                bool(file, toml, "jail", d.jail()));
    }

    /** A whole number of at least {@code min}, or the default when absent; else one line naming the key. */
    private static int positive(Path file, JsonNode toml, String key, int fallback, int min) {
        if (!toml.has(key)) return fallback;
        JsonNode value = toml.get(key);
        if (!value.canConvertToInt() || !value.isIntegralNumber() || value.asInt() < min) {
            throw new OciException(file + ": " + key + " must be a whole number of at least " + min + ", not " + value);
        }
        return value.asInt();
    }

    private static GuestKernel guestKernel(String what, String value) {
        try {
            return GuestKernel.parse(value);
        } catch (IllegalArgumentException e) {
            throw new OciException(what + ": " + e.getMessage());
        }
    }

    private static AcceleratorSelector.Mode accelerator(String what, String value) {
        try {
            return AcceleratorSelector.Mode.parse(value);
        } catch (IllegalArgumentException e) {
            throw new OciException(what + ": " + e.getMessage());
        }
    }

    /**
     * A QEMU binary given by the config or the environment: a path that must exist, or a name that
     * must be found where {@link Tools} looks (checked now, so that an override naming nothing stops
     * the daemon at start with one line, not each microVM's create later). The default is not
     * checked: a host without QEMU still runs containers.
     */
    private static String qemu(String what, String value) {
        if (value.isBlank()) {
            throw new OciException(what + ": empty (give QEMU's binary, e.g. qemu-system-x86_64 or a path)");
        }
        if (value.contains("/") && !Files.isExecutable(Path.of(value))) {
            throw new OciException(what + ": " + value + (Files.exists(Path.of(value)) ? " is not executable"
                    : " does not exist"));
        }
        if (!value.contains("/") && Tools.lookup(value).isEmpty()) {
            throw new OciException(what + ": " + value + " is not in PATH (nor in /usr/sbin, /sbin, /usr/bin, /bin)");
        }
        return value;
    }

    private static String metricsAddress(Path file, JsonNode toml) {
        JsonNode value = toml.get("metrics_address");
        if (value == null) return null;
        if (!value.isTextual()) throw new OciException(file + ": metrics_address must be a string such as \"127.0.0.1:9464\"");
        return value.asText().isEmpty() ? null : value.asText();
    }

    private static Duration seconds(Path file, JsonNode toml, String key, Duration fallback) {
        JsonNode value = toml.get(key);
        if (value == null) {
            return fallback;
        }
        if (!value.canConvertToInt() || value.asInt() < 1) {
            throw new OciException(file + ": " + key + " must be a whole number of seconds, at least 1");
        }
        return Duration.ofSeconds(value.asInt());
    }

    private static boolean bool(Path file, JsonNode toml, String key, boolean fallback) {
        JsonNode value = toml.get(key);
        if (value == null) {
            return fallback;
        }
        if (!value.isBoolean()) {
            throw new OciException(file + ": " + key + " must be true or false");
        }
        return value.asBoolean();
    }
}
