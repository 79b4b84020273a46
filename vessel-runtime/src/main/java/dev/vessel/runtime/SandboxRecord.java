package dev.vessel.runtime;

import com.fasterxml.jackson.annotation.JsonInclude;
import dev.vessel.oci.Isolation;
import java.util.Map;

/**
 * What Vessel keeps about one sandbox, whatever its isolation: decided once, at create, and kept
 * in the {@link SandboxStore} of the caller's {@code --root}. Driver-specific state sits in the
 * field of that driver ({@link #microvm}); the others are null.
 *
 * @param annotations the bundle's own annotations (what hooks and {@code state} show)
 * @param status the status last recorded; drivers refresh it from the running parts
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record SandboxRecord(String id, Isolation isolation, String bundle, String rootfs, String created,
        String owner, Map<String, String> annotations, Status status, MicroVmState microvm) {

    public SandboxRecord {
        annotations = annotations == null ? Map.of() : Map.copyOf(annotations);
    }

    public SandboxRecord withStatus(Status next) {
        return new SandboxRecord(id, isolation, bundle, rootfs, created, owner, annotations, next, microvm);
    }

    public SandboxRecord withMicrovm(MicroVmState next) {
        return new SandboxRecord(id, isolation, bundle, rootfs, created, owner, annotations, status, next);
    }
}
