package dev.vessel.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vessel.oci.OciException;
import java.util.List;
import java.util.Locale;

/**
 * What {@code update} of a microVM can change, from runc's update options as the daemon forwards
 * them ({@code --memory=256m}, {@code --cpu-quota=50000}) and the {@code --resources} document: CPU quota,
 * period and shares, and the memory limit. Anything else is refused in one line naming it.
 */
final class MicroVmUpdate {
    private MicroVmUpdate() {}

    /** {@code resources} (normalised, or null) first; the flags override it, as runc's do. */
    static MicroVmCgroups.OciLimits parse(String id, List<String> options, JsonNode resources) {
        Long memory = null, quota = null, period = null, shares = null;
        if (resources != null) {
            JsonNode cpu = resources.path("cpu"), mem = resources.path("memory");
            // "devices" is left as it is: containerd's CRI sends the spec's whole linux.resources with
            // each UpdateContainerResources, device rules included, and a guest's devices are its own
            // nodes, which no host device cgroup reaches (create does not apply them either)
            for (String unsupported : List.of("pids", "blockIO", "hugepageLimits", "network", "rdma", "unified")) {
                if (resources.hasNonNull(unsupported)) throw refused(id, "--resources: " + unsupported);
            }
            var fields = mem.fieldNames();
            while (fields.hasNext()) {
                String f = fields.next();
                // swap: containerd sets it to the limit (no swap) with every limit; a guest has no swap
                if (!f.equals("limit") && !f.equals("swap") && !mem.path(f).isNull()) throw refused(id, "--resources: memory." + f);
            }
            fields = cpu.fieldNames();
            while (fields.hasNext()) {
                String f = fields.next();
                if (!List.of("quota", "period", "shares").contains(f) && !cpu.path(f).isNull()) throw refused(id, "--resources: cpu." + f);
            }
            if (mem.hasNonNull("limit")) memory = mem.get("limit").asLong();
            if (cpu.hasNonNull("quota")) quota = cpu.get("quota").asLong();
            if (cpu.hasNonNull("period")) period = cpu.get("period").asLong();
            if (cpu.hasNonNull("shares")) shares = cpu.get("shares").asLong();
        }
        for (String option : options) {
            int eq = option.indexOf('=');
            String name = eq < 0 ? option : option.substring(0, eq), value = eq < 0 ? "" : option.substring(eq + 1);
            switch (name) {
                case "--memory" -> memory = bytes(id, name, value);
                case "--cpu-quota" -> quota = number(id, name, value);
                case "--cpu-period" -> period = number(id, name, value);
                case "--cpu-share" -> shares = number(id, name, value);
                default -> throw refused(id, name);
            }
        }
        return new MicroVmCgroups.OciLimits(memory, quota, period, shares);
    }

    private static OciException refused(String id, String what) {
        return new OciException("update of microvm container \"" + id + "\": " + what
                + " cannot be changed (a microVM takes --cpu-quota, --cpu-period, --cpu-share and --memory)");
    }

    private static long number(String id, String name, String value) {
        try {
            return Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            throw new OciException("update of microvm container \"" + id + "\": invalid " + name + " \"" + value + "\"");
        }
    }

    /** Bytes as runc takes them: 268435456, 256m, 1g, 512k; -1 is no limit. */
    static long bytes(String id, String name, String value) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        long unit = 1;
        if (v.endsWith("b")) v = v.substring(0, v.length() - 1);
        if (!v.isEmpty() && "kmg".indexOf(v.charAt(v.length() - 1)) >= 0) {
            unit = 1L << (10 * ("kmg".indexOf(v.charAt(v.length() - 1)) + 1));
            v = v.substring(0, v.length() - 1);
        }
        try {
            long n = Long.parseLong(v);
            return n < 0 ? -1 : Math.multiplyExact(n, unit);
        } catch (NumberFormatException | ArithmeticException e) {
            throw new OciException("update of microvm container \"" + id + "\": invalid " + name + " \"" + value + "\"");
        }
    }
}
