package dev.vessel.oci;

import java.util.regex.Pattern;

/** Container ids as runc accepts them: they become directory names, so no slashes or dots alone. */
public final class ContainerId {
    private static final Pattern VALID = Pattern.compile("^[\\w+\\-.]+$");

    private ContainerId() {}

    public static String validate(String id) {
        if (id == null || id.isEmpty()) {
            throw new OciException("container id cannot be empty");
        }
        if (!VALID.matcher(id).matches() || id.equals(".") || id.equals("..") || id.length() > 1024) {
            throw new OciException("invalid container id \"" + id + "\": use letters, digits, '_', '+', '-' and '.'");
        }
        return id;
    }
}
