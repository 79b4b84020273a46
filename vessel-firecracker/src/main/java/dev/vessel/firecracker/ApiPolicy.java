package dev.vessel.firecracker;

/**
 * Which actions the API lets through, checked after a request is parsed and before a controller
 * sees it. A VMM of our own ({@code vessel vmm}) allows everything; the API of a microVM that
 * someone else owns (Vessel's OCI runtime: a {@code microvm} container) allows looking, pausing,
 * resuming, snapshotting and a logger and metrics of its own, and nothing that would change what
 * the owner set up (the boot source, devices, machine, start, Ctrl+Alt+Del, snapshot load, MMDS).
 */
public sealed interface ApiPolicy {
    ApiPolicy UNRESTRICTED = new Unrestricted();

    /** Throws a 400 naming the endpoint when {@code action} is not allowed. */
    void check(VmmAction action) throws ApiException;

    /** Null for a VM of our own, else who owns it. */
    String owner();

    static ApiPolicy managedBy(String owner) {
        return new ManagedByOwner(owner);
    }

    record Unrestricted() implements ApiPolicy {
        @Override
        public void check(VmmAction action) {
            // everything goes
        }

        @Override
        public String owner() {
            return null;
        }
    }

    /** Read-only, but for what cannot break the owner's contract. */
    record ManagedByOwner(String owner) implements ApiPolicy {
        @Override
        public void check(VmmAction action) throws ApiException {
            if (!allows(action)) {
                throw ApiException.badRequest("The microVM is managed by its OCI runtime (" + owner + "): " + action.endpoint()
                        + " is not allowed (read-only: a change would break the container's contract; use the OCI"
                        + " runtime's commands).");
            }
        }

        /** Every action is named, so a new one must be decided here (the switch is exhaustive). */
        static boolean allows(VmmAction action) {
            return switch (action) {
                case VmmAction.GetInstanceInfo a -> true;
                case VmmAction.GetVersion a -> true;
                case VmmAction.GetMachineConfig a -> true;
                case VmmAction.GetFullVmConfig a -> true;
                case VmmAction.Pause a -> true; // the same as `vessel pause`, which the container's state shows
                case VmmAction.Resume a -> true;
                case VmmAction.CreateSnapshot a -> true; // reads the VM; QEMU refuses while the 9p root is mounted
                case VmmAction.ConfigureLogger a -> true; // the API's own log and metrics, not the VM's
                case VmmAction.ConfigureMetrics a -> true;
                case VmmAction.FlushMetrics a -> true;
                case VmmAction.ConfigureBootSource a -> false;
                case VmmAction.InsertBlockDevice a -> false;
                case VmmAction.InsertNetworkDevice a -> false;
                case VmmAction.SetMachineConfig a -> false;
                case VmmAction.UpdateMachineConfig a -> false;
                case VmmAction.SetVsockDevice a -> false;
                case VmmAction.SetEntropyDevice a -> false;
                case VmmAction.SetBalloonDevice a -> false;
                case VmmAction.SetMmdsConfig a -> false;
                case VmmAction.StartMicroVm a -> false;
                case VmmAction.LoadSnapshot a -> false;
                case VmmAction.UpdateBlockDevice a -> false;
                case VmmAction.UpdateNetworkInterface a -> false; // the NICs are the container's network
                case VmmAction.SendCtrlAltDel a -> false; // would end the container behind its runtime's back
                case VmmAction.GetBalloonStats a -> false; // no balloon: the runtime sizes the VM
                case VmmAction.GetBalloonConfig a -> false;
                case VmmAction.UpdateBalloon a -> false;
                case VmmAction.UpdateBalloonStatistics a -> false;
                case VmmAction.GetMmds a -> false; // no metadata service on a container's microVM
                case VmmAction.PutMmds a -> false;
                case VmmAction.PatchMmds a -> false;
            };
        }
    }
}
