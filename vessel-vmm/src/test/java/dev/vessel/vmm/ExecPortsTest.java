package dev.vessel.vmm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ExecPortsTest {

    @Test
    void aPortGoesOnlyOnceTheAgentHasLetGoAndNoRelayIsConnected() {
        // 0: the container's own; 3: done, relay gone; 4: running, relay connected; 5: done but its relay
        // still reads; 6: added, its relay not connected yet (the agent holds it); 7: done, relay gone
        Map<Integer, Boolean> ports = Map.of(0, false, 3, false, 4, true, 5, true, 6, false, 7, false);
        Set<Integer> held = Set.of(0, 4, 6);
        assertThat(ExecPorts.reclaimable(ports, held)).containsExactly(3, 7);
    }

    @Test
    void processZerosPortStaysEvenWhenTheAgentNoLongerHoldsIt() {
        assertThat(ExecPorts.reclaimable(Map.of(0, false), Set.of())).isEmpty();
    }

    @Test
    void nothingToReclaimWhileEveryExecRuns() {
        assertThat(ExecPorts.reclaimable(Map.of(0, true, 1, true, 2, false), Set.of(0, 1, 2))).isEmpty();
    }

    @Test
    void onlyProcNIdsAreProcessPorts() {
        assertThat(ExecPorts.id(12)).isEqualTo("proc12");
        assertThat(ExecPorts.number("proc12")).isEqualTo(12);
        assertThat(ExecPorts.number("proc0")).isZero();
        assertThat(ExecPorts.number("proc")).isEqualTo(-1);
        assertThat(ExecPorts.number("procx")).isEqualTo(-1);
        assertThat(ExecPorts.number("proc-1")).isEqualTo(-1);
        assertThat(ExecPorts.number("proc12345678901")).isEqualTo(-1);
        assertThat(ExecPorts.number("agent")).isEqualTo(-1);
        assertThat(ExecPorts.number("console")).isEqualTo(-1);
        assertThat(ExecPorts.number(null)).isEqualTo(-1);
    }

    @Test
    void procsAnswerIsASetOfNumbers() throws VmmException {
        assertThat(AgentClient.parseNumbers("0 12 3")).containsExactly(0, 3, 12);
        assertThat(AgentClient.parseNumbers("")).isEmpty();
        assertThatThrownBy(() -> AgentClient.parseNumbers("0 x")).isInstanceOf(VmmException.class).hasMessageContaining("PROCS");
    }
}
