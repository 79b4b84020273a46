package dev.vessel.vmm;

/** Moved to {@link dev.vessel.linux.Tools} (the network code needs it too); kept for this module's callers. */
public final class Tools {
    private Tools() {
    }

    public static String find(String name) {
        return dev.vessel.linux.Tools.find(name);
    }
}
