package dev.vessel.oci;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Turns a bundle's config into the one the low-level runtime executes for {@code container}
 * isolation. This is where the resource view plugs in; today it records what Vessel decided.
 */
public final class ConfigRewriter {
    public static final String BUNDLE_ANNOTATION = "dev.vessel.bundle";

    private ConfigRewriter() {}

    public static BundleConfig forContainer(BundleConfig config, Isolation isolation) {
        ObjectNode tree = config.tree().deepCopy();
        // The rewritten config may live outside the bundle (runc reads it from a copy), so the
        // root file system must not depend on where the file is.
        ((ObjectNode) tree.get("root")).put("path", config.rootfs().toString());
        ObjectNode annotations = tree.has("annotations") && tree.get("annotations").isObject()
                ? (ObjectNode) tree.get("annotations")
                : tree.putObject("annotations");
        annotations.put(Isolation.ANNOTATION, isolation.label());
        annotations.put(BUNDLE_ANNOTATION, config.bundle().toString());
        return BundleConfig.wrap(config.bundle(), tree);
    }
}
