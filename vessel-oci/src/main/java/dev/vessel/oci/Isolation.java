package dev.vessel.oci;

import java.util.Locale;

/** How strongly a container is isolated; chosen per container with the annotation {@link #ANNOTATION}. */
public enum Isolation {
    CONTAINER,
    MICROVM;

    public static final String ANNOTATION = "dev.vessel.isolation";

    public static Isolation parse(String value, String where) {
        try {
            return valueOf(value.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new OciException(where + ": unknown isolation \"" + value + "\" (use container or microvm)");
        }
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
