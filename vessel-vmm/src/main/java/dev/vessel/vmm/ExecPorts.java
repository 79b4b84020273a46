package dev.vessel.vmm;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Which process ports of a microVM can go. Each exec (and each later container of a pod) gets a
 * virtio-serial port {@code procN} hot-added, and the controller has 31 slots, so a port must be
 * removed once its process is done: its number no longer held by the agent (it forgets a process
 * once it has ended, its output and status have gone to the relay, and the relay has gone) and no
 * relay connected on the host. Both facts are read live (the agent's PROCS, QEMU's query-chardev),
 * so a daemon that was killed meanwhile finds the ports of execs that ended without it.
 */
public final class ExecPorts {
    private static final String PREFIX = "proc";

    /**
     * How many execs and pod containers a VM runs at once: the controller's 31 slots (QEMU's
     * default max_ports) less the console's (slot 0), the agent's and process 0's.
     */
    public static final int CAPACITY = 28;

    private ExecPorts() {}

    /** The QEMU id of process N's port and chardev. */
    public static String id(int n) {
        return PREFIX + n;
    }

    /** N of a chardev or device id {@code procN}, or -1 for any other id. */
    public static int number(String id) {
        if (id == null || !id.startsWith(PREFIX) || id.length() == PREFIX.length() || id.length() > PREFIX.length() + 9) return -1;
        for (int i = PREFIX.length(); i < id.length(); i++) {
            if (id.charAt(i) < '0' || id.charAt(i) > '9') return -1;
        }
        return Integer.parseInt(id.substring(PREFIX.length()));
    }

    /**
     * The ports to remove, lowest first: of {@code ports} (N to whether a relay is connected on the
     * host), those whose process the agent no longer holds ({@code held}) and that no relay holds.
     * Process 0's port, the container's own, stays for the VM's life.
     */
    public static List<Integer> reclaimable(Map<Integer, Boolean> ports, Set<Integer> held) {
        List<Integer> free = new ArrayList<>();
        ports.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(port -> {
            int n = port.getKey();
            if (n > 0 && !port.getValue() && !held.contains(n)) free.add(n);
        });
        return free;
    }
}
