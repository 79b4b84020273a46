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
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record MicroVmState(String runDir, int memoryMib, int vcpus, String accelerator, long qemuPid, long relayPid,
        boolean started, int execs, JsonNode process, String netns, List<String> redirected, List<Nic> nics,
        String kernel, String initrd, String bootArgs, List<Long> execRelays) {

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
                redirected, nics, kernel, initrd, bootArgs, execRelays);
    }

    public MicroVmState withRelay(long pid) {
        return new MicroVmState(runDir, memoryMib, vcpus, accelerator, qemuPid, pid, started, execs, process, netns,
                redirected, nics, kernel, initrd, bootArgs, execRelays);
    }

    public MicroVmState withStarted() {
        return new MicroVmState(runDir, memoryMib, vcpus, accelerator, qemuPid, relayPid, true, execs, process, netns,
                redirected, nics, kernel, initrd, bootArgs, execRelays);
    }

    public MicroVmState withExecs(int n) {
        return new MicroVmState(runDir, memoryMib, vcpus, accelerator, qemuPid, relayPid, started, n, process, netns,
                redirected, nics, kernel, initrd, bootArgs, execRelays);
    }

    public MicroVmState withExecRelay(long pid) {
        List<Long> relays = new ArrayList<>(execRelays);
        relays.add(pid);
        return new MicroVmState(runDir, memoryMib, vcpus, accelerator, qemuPid, relayPid, started, execs, process, netns,
                redirected, nics, kernel, initrd, bootArgs, relays);
    }
}
