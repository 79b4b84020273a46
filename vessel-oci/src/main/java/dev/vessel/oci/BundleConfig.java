package dev.vessel.oci;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * A bundle's config.json, kept as a JSON tree so that fields Vessel does not know pass through
 * the rewrite untouched.
 */
public final class BundleConfig {
    public static final ObjectMapper JSON = new ObjectMapper();

    private final Path bundle;
    private final ObjectNode root;

    private BundleConfig(Path bundle, ObjectNode root) {
        this.bundle = bundle;
        this.root = root;
    }

    /** Reads {@code bundle/config.json}; every failure names the bundle and what is wrong with it. */
    public static BundleConfig load(Path bundle) {
        if (!Files.isDirectory(bundle)) {
            throw new OciException("bundle " + bundle + " does not exist or is not a directory");
        }
        Path file = bundle.resolve("config.json");
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new OciException("bundle " + bundle + " has no config.json");
        } catch (IOException e) {
            throw new OciException("cannot read " + file + ": " + e.getMessage());
        }
        return parse(bundle, bytes);
    }

    public static BundleConfig parse(Path bundle, byte[] bytes) {
        Path file = bundle.resolve("config.json");
        JsonNode node;
        try {
            node = JSON.readTree(bytes);
        } catch (JsonProcessingException e) {
            throw new OciException(file + " is not valid JSON: " + e.getOriginalMessage().lines().findFirst().orElse(""));
        } catch (IOException e) {
            throw new OciException("cannot read " + file + ": " + e.getMessage());
        }
        if (!(node instanceof ObjectNode object)) {
            throw new OciException(file + " is not a JSON object");
        }
        if (!object.path("ociVersion").isTextual()) {
            throw new OciException(file + ": ociVersion is missing");
        }
        if (!object.path("root").path("path").isTextual()) {
            throw new OciException(file + ": root.path is missing");
        }
        JsonNode process = object.get("process");
        if (process != null && !process.path("args").isArray()) {
            throw new OciException(file + ": process.args must be an array");
        }
        return new BundleConfig(bundle, object);
    }

    static BundleConfig wrap(Path bundle, ObjectNode tree) {
        return new BundleConfig(bundle, tree);
    }

    public Path bundle() {
        return bundle;
    }

    public ObjectNode tree() {
        return root;
    }

    /** The parts Vessel reads, typed; a field of the wrong type is one line naming the config. */
    public OciSpec spec() {
        try {
            return JSON.treeToValue(root, OciSpec.class);
        } catch (JsonProcessingException e) {
            throw new OciException(bundle.resolve("config.json") + ": " + e.getOriginalMessage().lines().findFirst().orElse(""));
        }
    }

    public String annotation(String key) {
        JsonNode value = root.path("annotations").get(key);
        return value == null || !value.isTextual() ? null : value.asText();
    }

    public Isolation isolation(Isolation fallback) {
        String value = annotation(Isolation.ANNOTATION);
        return value == null ? fallback : Isolation.parse(value, "annotation " + Isolation.ANNOTATION);
    }

    /** The root file system as an absolute path. */
    public Path rootfs() {
        return bundle.resolve(root.path("root").path("path").asText()).normalize();
    }

    public byte[] toBytes() {
        try {
            return JSON.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
