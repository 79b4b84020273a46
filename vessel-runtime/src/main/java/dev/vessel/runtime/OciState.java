package dev.vessel.runtime;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.Map;

/** A sandbox's state as the OCI runtime spec (and runc's {@code state} and {@code list}) shows it. */
@JsonPropertyOrder({"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner", "annotations"})
@JsonInclude(JsonInclude.Include.NON_NULL)
public record OciState(String ociVersion, String id, long pid, String status, String bundle, String rootfs,
        String created, String owner, Map<String, String> annotations) {
    /** The runtime spec version Vessel implements: what --version, features and state all say. */
    public static final String SPEC_VERSION = "1.0.2";
}
