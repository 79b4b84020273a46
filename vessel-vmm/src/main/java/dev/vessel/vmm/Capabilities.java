package dev.vessel.vmm;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/**
 * The five capability sets of an OCI {@code process.capabilities}, as bit masks (bit N is
 * capability N: {@code CAP_CHOWN} is 0), which the guest agent applies as runc does. A set the
 * object leaves out is empty, as in runc.
 */
public record Capabilities(long bounding, long effective, long permitted, long inheritable, long ambient) {

    /** linux/capability.h's names, in number order (CAP_CHOWN = 0 … CAP_CHECKPOINT_RESTORE = 40). */
    public static final List<String> NAMES = List.of("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
            "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
            "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
            "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN",
            "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
            "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
            "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
            "CAP_CHECKPOINT_RESTORE");

    /** The sets of an OCI capabilities object, or null when there is none (the process keeps what it has). */
    public static Capabilities fromOci(JsonNode caps) {
        if (caps == null || !caps.isObject()) return null;
        return new Capabilities(mask(caps.path("bounding")), mask(caps.path("effective")), mask(caps.path("permitted")),
                mask(caps.path("inheritable")), mask(caps.path("ambient")));
    }

    /** The names in an OCI capabilities object that this table does not know (runc warns and ignores them). */
    public static List<String> unknown(JsonNode caps) {
        List<String> out = new ArrayList<>();
        if (caps == null) return out;
        for (String set : List.of("bounding", "effective", "permitted", "inheritable", "ambient")) {
            caps.path(set).forEach(n -> {
                if (bit(n.asText()) < 0 && !out.contains(n.asText())) out.add(n.asText());
            });
        }
        return out;
    }

    /** Capability {@code name}'s number ({@code CAP_} optional, any case), or -1. */
    public static int bit(String name) {
        String n = name.toUpperCase(java.util.Locale.ROOT);
        return NAMES.indexOf(n.startsWith("CAP_") ? n : "CAP_" + n);
    }

    private static long mask(JsonNode names) {
        long m = 0;
        for (JsonNode n : names) {
            int b = bit(n.asText());
            if (b >= 0) m |= 1L << b;
        }
        return m;
    }

    /** One line of the agent's protocol: {@code caps BOUNDING EFFECTIVE PERMITTED INHERITABLE AMBIENT}, in hex. */
    String line() {
        return "caps " + Long.toHexString(bounding) + " " + Long.toHexString(effective) + " " + Long.toHexString(permitted)
                + " " + Long.toHexString(inheritable) + " " + Long.toHexString(ambient);
    }
}
