/** MicroVM isolation: guest assets, QEMU, QMP and the guest agent's protocol (see docs/microvm.md). */
package dev.vessel.vmm;
