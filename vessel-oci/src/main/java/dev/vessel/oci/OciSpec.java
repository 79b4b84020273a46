package dev.vessel.oci;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import java.util.List;
import java.util.Map;

/**
 * The parts of an OCI runtime config that Vessel reads, as typed values (the runtime spec's
 * names). Everything else stays in {@link BundleConfig}'s tree, which is what a rewrite changes
 * and passes on untouched.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record OciSpec(Process process, String hostname, List<Mount> mounts, Linux linux, Map<String, String> annotations) {
    public OciSpec {
        mounts = mounts == null ? List.of() : mounts;
        linux = linux == null ? new Linux(null, null) : linux;
        annotations = annotations == null ? Map.of() : annotations;
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Process(boolean terminal) {}

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Mount(String destination, String type, String source, List<String> options) {
        public Mount {
            options = options == null ? List.of() : options;
        }

        /** A bind mount, by its type or (as runc takes it) by its options. */
        public boolean isBind() {
            return "bind".equals(type) || options.contains("bind") || options.contains("rbind");
        }
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Linux(Resources resources, List<Namespace> namespaces) {
        public Linux {
            resources = resources == null ? new Resources(null, null, null) : resources;
            namespaces = namespaces == null ? List.of() : namespaces;
        }

        /** The namespace of this type, if the config asks for one. */
        public java.util.Optional<Namespace> namespace(String type) {
            return namespaces.stream().filter(n -> type.equals(n.type())).findFirst();
        }
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Resources(Memory memory, Cpu cpu, Pids pids) {
        public Resources {
            memory = memory == null ? new Memory(null) : memory;
            cpu = cpu == null ? new Cpu(null, null, null) : cpu;
            pids = pids == null ? new Pids(null) : pids;
        }
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Memory(Long limit) {}

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Cpu(Long quota, Long period, Long shares) {}

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Pids(Long limit) {}

    /** The typed parts of {@code bundle}'s config.json. */
    public static OciSpec read(java.nio.file.Path bundle) throws java.io.IOException {
        return BundleConfig.JSON.readValue(java.nio.file.Files.readAllBytes(bundle.resolve("config.json")), OciSpec.class);
    }

    /** {@code path} empty or null: a new namespace. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Namespace(String type, String path) {}
}
