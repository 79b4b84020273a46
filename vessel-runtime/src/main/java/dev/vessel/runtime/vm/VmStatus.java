package dev.vessel.runtime.vm;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/**
 * KubeVirt's VirtualMachine status as {@code vessel vm get} writes it back: printableStatus,
 * ready, created, conditions (Ready, Paused, RestartRequired, Failure), and the interfaces with
 * their addresses (a VirtualMachineInstance's, here on the VM). {@code vessel} holds what only
 * Vessel has: the QEMU serving it and its sockets.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record VmStatus(String printableStatus, boolean ready, boolean created, String runStrategy,
        List<Condition> conditions, List<Interface> interfaces, Vessel vessel, List<Snapshot> snapshots,
        MigrationState migrationState) {

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Condition(String type, String status, String reason, String message, String lastTransitionTime) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Interface(String name, String mac, String ipAddress, List<String> ipAddresses, String interfaceName,
            String infoSource, List<String> forwards, String bridge, String tap) {}

    /**
     * KubeVirt's VMI {@code status.migrationState}: the run's last migration away ({@code targetNode}
     * is the target vesseld's socket). Kept in the VM's directory ({@link VmDriver#MIGRATION}) from
     * before the target is asked to prepare, so a daemon that restarts mid-way finds it: no
     * {@code endTimestamp} while it goes on.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @com.fasterxml.jackson.annotation.JsonIgnoreProperties(ignoreUnknown = true)
    public record MigrationState(String targetNode, String startTimestamp, String endTimestamp, Boolean completed,
            Boolean failed, String failureReason) {
        /** Begun and not ended (by this daemon or one before it). */
        @com.fasterxml.jackson.annotation.JsonIgnore
        public boolean inProgress() {
            return endTimestamp == null;
        }

        MigrationState failedNow(String why) {
            return new MigrationState(targetNode, startTimestamp, java.time.Instant.now().toString(), false, true, why);
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Vessel(long pid, String qmpSocket, String serialSocket, String consoleLog, int failures,
            String lastExit, String lastExitAt, String startedAt, String cgroup) {}

    /**
     * A snapshot of the VM (KubeVirt has VirtualMachineSnapshot objects; here a list in the status):
     * its name, when it was taken, and what it holds. Of a running VM ({@code memory} true): the
     * block nodes holding it (the run's qcow2 disks; raw hostDisks are not part of it) and the run it
     * belongs to (its start); it ends with the run. Of a stopped VM ({@code memory} false): copies of
     * its persistent disks, {@code disks} their volumes and {@code hostDisks} each one's file; it stays
     * until deleted (or the VM is).
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Snapshot(String name, String creationTime, List<String> disks, String runStartedAt, Boolean memory,
            java.util.Map<String, String> hostDisks) {
        /** Whether it is a running VM's (memory and the run's disks) rather than a stopped VM's disks. */
        @com.fasterxml.jackson.annotation.JsonIgnore
        public boolean ofRun() {
            return hostDisks == null;
        }
    }

    /** The manifest with this status, for get -o yaml|json. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Document(String apiVersion, String kind, VirtualMachine.Metadata metadata, VirtualMachine.Spec spec,
            VmStatus status) {}
}
