package dev.vessel.firecracker;

/**
 * The VMM's side of one phase, as Firecracker's {@code PrebootApiController} and
 * {@code RuntimeApiController}: each takes every {@link VmmAction} and refuses, by the action's
 * type, those of the other phase. Called under the {@link Vmm}'s lock.
 */
sealed interface ApiController permits PrebootApiController, RuntimeApiController {
    /** Runs a checked action; its answer's JSON value, or null for none (204). */
    Object handle(VmmAction action) throws ApiException;

    Vmm.State state();

    /** QEMU's pid, -1 before it runs. */
    long qemuPid();
}
