package dev.vessel.runtime;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/**
 * A microVM sandbox's own state: where its QEMU and sockets are, how it was sized and booted
 * (what Firecracker's API shows), and the host's pids that stand for its processes.
 *
 * @param runDir QEMU's sockets, pid file and logs
 * @param relayPid the relay of process 0: the container's pid as engines see it
 * @param process the OCI process of the container (the base of an exec)
 * @param netns the network namespace whose interfaces the guest took over, or null
 * @param redirected the interfaces whose traffic tc redirects to the guest's taps
 * @param execRelays the relays of detached execs
 * @param pod its part in a Kubernetes pod ({@link MicroVmPod}), or null: a microVM of its own
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record MicroVmState(String runDir, int memoryMib, int vcpus, String accelerator, long qemuPid, long relayPid,
        boolean started, int execs, JsonNode process, String netns, List<String> redirected, List<Nic> nics,
        String kernel, String initrd, String bootArgs, List<Long> execRelays, Pod pod) {

    /**
     * A pod's sandbox ({@code sandbox} null: it owns the VM and the share) or a later container of
     * the pod ({@code sandbox}: the sandbox's id; it runs as process {@code process} of the
     * sandbox's VM, whose run dir and QEMU its state names), with what it mounted in the share.
     *
     * @param share the pod's share on the host
     * @param mounts the paths in the share this container mounted (its rootfs, its volumes)
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Pod(String sandbox, int process, String share, List<String> mounts) {
        public Pod {
            mounts = mounts == null ? List.of() : List.copyOf(mounts);
        }

        public boolean member() {
            return sandbox != null;
        }
    }

    public MicroVmState(String runDir, int memoryMib, int vcpus, String accelerator, long qemuPid, long relayPid,
            boolean started, int execs, JsonNode process, String netns, List<String> redirected, List<Nic> nics,
            String kernel, String initrd, String bootArgs, List<Long> execRelays) {
        this(runDir, memoryMib, vcpus, accelerator, qemuPid, relayPid, started, execs, process, netns, redirected, nics,
                kernel, initrd, bootArgs, execRelays, null);
    }

    public MicroVmState withPod(Pod next) {
        return new MicroVmState(runDir, memoryMib, vcpus, accelerator, qemuPid, relayPid, started, execs, process, netns,
                redirected, nics, kernel, initrd, bootArgs, execRelays, next);
    }

    /** A later container of a pod. */
    public boolean podMember() {
        return pod != null && pod.member();
    }

    /** A guest NIC as Firecracker's API names it. */
    public record Nic(@JsonProperty("iface_id") String ifaceId, @JsonProperty("guest_mac") String guestMac,
            @JsonProperty("host_dev_name") String hostDevName) {}

    public MicroVmState {
        redirected = redirected == null ? List.of() : List.copyOf(redirected);
        nics = nics == null ? List.of() : List.copyOf(nics);
        execRelays = execRelays == null ? List.of() : List.copyOf(execRelays);
    }

    public MicroVmState withBoot(long qemuPid, String kernel, String initrd, String bootArgs, String accelerator) {
        return new MicroVmState(runDir, memoryMib, vcpus, accelerator, qemuPid, relayPid, started, execs, process, netns,
                redirected, nics, kernel, initrd, bootArgs, execRelays, pod);
    }

    public MicroVmState withRelay(long pid) {
        return new MicroVmState(runDir, memoryMib, vcpus, accelerator, qemuPid, pid, started, execs, process, netns,
                redirected, nics, kernel, initrd, bootArgs, execRelays, pod);
    }

    public MicroVmState withStarted() {
        return new MicroVmState(runDir, memoryMib, vcpus, accelerator, qemuPid, relayPid, true, execs, process, netns,
                redirected, nics, kernel, initrd, bootArgs, execRelays, pod);
    }

    public MicroVmState withExecs(int n) {
        return new MicroVmState(runDir, memoryMib, vcpus, accelerator, qemuPid, relayPid, started, n, process, netns,
                redirected, nics, kernel, initrd, bootArgs, execRelays, pod);
    }

    public MicroVmState withExecRelay(long pid) {
        List<Long> relays = new ArrayList<>(execRelays);
        relays.add(pid);
        return new MicroVmState(runDir, memoryMib, vcpus, accelerator, qemuPid, relayPid, started, execs, process, netns,
                redirected, nics, kernel, initrd, bootArgs, relays, pod);
    }
}
