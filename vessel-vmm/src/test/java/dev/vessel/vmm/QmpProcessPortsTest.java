package dev.vessel.vmm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The process ports of a real QEMU (7.2's microvm, stopped before boot: the controller's slots are
 * QEMU's, no guest is needed): the ports of the microVM's command line leave 28 slots, the next
 * add is {@link Qmp.NoFreePort}, a removed port's slot is taken again, and query-chardev tells a
 * port with a relay connected from one without.
 */
class QmpProcessPortsTest {
    private Process qemu;
    private Path state;

    @AfterEach
    void cleanUp() throws Exception {
        if (qemu != null) qemu.destroyForcibly().waitFor();
        if (state != null) GuestAssets.deleteTree(state);
    }

    @Test
    void slotsAreCountedTakenAndGivenBack() throws Exception {
        MicrovmBootTest.require(Doctor.onPath("qemu-system-x86_64").isPresent(), "needs qemu-system-x86_64 on PATH");
        state = Files.createTempDirectory("vessel-qmp-ports");
        Path sock = state.resolve("qmp.sock");
        // the serial devices QemuCommand gives a microVM: the controller, the console, the agent's and process 0's ports
        qemu = new ProcessBuilder(List.of("qemu-system-x86_64", "-M", "microvm", "-S", "-nodefaults", "-display", "none",
                "-accel", "tcg", "-device", "virtio-serial-device,id=" + QemuCommand.SERIAL_ID,
                "-chardev", "file,id=console,path=" + state.resolve("console.log"), "-device", "virtconsole,chardev=console",
                "-chardev", "socket,id=agent,path=" + state.resolve("agent.sock") + ",server=on,wait=off",
                "-device", "virtserialport,chardev=agent,name=vessel.agent",
                "-chardev", "socket,id=proc0,path=" + state.resolve("proc-0.sock") + ",server=on,wait=off",
                "-device", "virtserialport,chardev=proc0,name=vessel.proc.0",
                "-qmp", "unix:" + sock + ",server=on,wait=off"))
                .redirectErrorStream(true).redirectOutput(state.resolve("qemu.out").toFile()).start();
        try (Qmp qmp = Qmp.connect(sock, Duration.ofSeconds(20))) {
            for (int n = 1; n <= ExecPorts.CAPACITY; n++) qmp.addProcessPort(n, state.resolve("proc-" + n + ".sock"));
            int next = ExecPorts.CAPACITY + 1;
            assertThatThrownBy(() -> qmp.addProcessPort(next, state.resolve("proc-" + next + ".sock")))
                    .isInstanceOf(Qmp.NoFreePort.class);
            assertThat(qmp.processPorts()).hasSize(ExecPorts.CAPACITY + 1).doesNotContainKey(next);

            try (SocketChannel relay = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                relay.connect(UnixDomainSocketAddress.of(state.resolve("proc-2.sock")));
                long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
                while (!qmp.processPorts().get(2) && System.nanoTime() < deadline) Thread.sleep(20);
                assertThat(qmp.processPorts()).containsEntry(2, true).containsEntry(3, false).containsEntry(0, false);
            }

            qmp.removeProcessPort(3);
            assertThat(qmp.processPorts()).doesNotContainKey(3);
            qmp.removeProcessPort(3); // already gone: no error
            qmp.addProcessPort(next, state.resolve("proc-" + next + ".sock")); // into the slot 3 had
            assertThat(qmp.processPorts()).containsKey(next).hasSize(ExecPorts.CAPACITY + 1);
        }
    }
}
