package dev.vessel.vmm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

/** The compiled programs, run by a small classic-BPF interpreter over seccomp_data. */
class SeccompBpfTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Runs the program on (arch, nr, args) as the kernel would; returns its SECCOMP_RET value. */
    static int run(byte[] prog, int arch, int nr, long... args) {
        ByteBuffer data = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        data.putInt(0, nr).putInt(4, arch);
        for (int i = 0; i < args.length; i++) data.putLong(16 + 8 * i, args[i]);
        ByteBuffer p = ByteBuffer.wrap(prog).order(ByteOrder.LITTLE_ENDIAN);
        int a = 0;
        for (int pc = 0; ; pc++) {
            short code = p.getShort(pc * 8);
            int jt = p.get(pc * 8 + 2) & 0xff, jf = p.get(pc * 8 + 3) & 0xff, k = p.getInt(pc * 8 + 4);
            switch (code) {
                case 0x20 -> a = data.getInt(k);
                case 0x54 -> a &= k;
                case 0x06 -> { return k; }
                case 0x15 -> pc += a == k ? jt : jf;
                case 0x25 -> pc += Integer.compareUnsigned(a, k) > 0 ? jt : jf;
                case 0x35 -> pc += Integer.compareUnsigned(a, k) >= 0 ? jt : jf;
                default -> throw new AssertionError("opcode " + code);
            }
        }
    }

    private static final int X64 = SeccompBpf.AUDIT_ARCH_X86_64, ALLOW = SeccompBpf.RET_ALLOW;
    private static final int EPERM = SeccompBpf.RET_ERRNO | 1;

    @Test
    void allowListWithArgumentConditions() throws Exception {
        byte[] prog = SeccompBpf.compile(JSON.readTree("""
                {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                 "syscalls": [
                   {"names": ["read", "write", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                   {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                   {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                   {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                   {"names": ["kill"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 4294967296, "op": "SCMP_CMP_GT"}]},
                   {"names": ["tkill"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 10, "op": "SCMP_CMP_LE"}]},
                   {"names": ["tgkill"], "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 2, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 2, "value": 3, "op": "SCMP_CMP_EQ"}]},
                   {"names": ["getpid"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_NE"}]}
                 ]}"""));
        assertThat(run(prog, X64, SeccompBpf.number("read"))).isEqualTo(ALLOW);
        assertThat(run(prog, X64, SeccompBpf.number("write"))).isEqualTo(ALLOW);
        assertThat(run(prog, X64, SeccompBpf.number("openat"))).isEqualTo(EPERM);
        assertThat(run(prog, X64, SeccompBpf.number("personality"), 8)).isEqualTo(ALLOW);
        assertThat(run(prog, X64, SeccompBpf.number("personality"), 8 | (1L << 32))).isEqualTo(EPERM);
        assertThat(run(prog, X64, SeccompBpf.number("clone"), 0x11)).isEqualTo(ALLOW);
        assertThat(run(prog, X64, SeccompBpf.number("clone"), 0x20000000 /* CLONE_NEWPID */)).isEqualTo(EPERM);
        assertThat(run(prog, X64, SeccompBpf.number("mkdir"))).isEqualTo(SeccompBpf.RET_ERRNO | 38);
        assertThat(run(prog, X64, SeccompBpf.number("kill"), 0, 1L << 33)).isEqualTo(ALLOW);
        assertThat(run(prog, X64, SeccompBpf.number("kill"), 0, 1L << 32)).isEqualTo(EPERM);
        assertThat(run(prog, X64, SeccompBpf.number("kill"), 0, 0xffffffffL)).isEqualTo(EPERM);
        assertThat(run(prog, X64, SeccompBpf.number("tkill"), 0, 10)).isEqualTo(ALLOW);
        assertThat(run(prog, X64, SeccompBpf.number("tkill"), 0, 11)).isEqualTo(EPERM);
        assertThat(run(prog, X64, SeccompBpf.number("tkill"), 0, 1L << 32)).isEqualTo(EPERM);
        // one argument twice: either condition
        assertThat(run(prog, X64, SeccompBpf.number("tgkill"), 0, 0, 1)).isEqualTo(ALLOW);
        assertThat(run(prog, X64, SeccompBpf.number("tgkill"), 0, 0, 3)).isEqualTo(ALLOW);
        assertThat(run(prog, X64, SeccompBpf.number("tgkill"), 0, 0, 2)).isEqualTo(EPERM);
        assertThat(run(prog, X64, SeccompBpf.number("getpid"), 4)).isEqualTo(ALLOW);
        assertThat(run(prog, X64, SeccompBpf.number("getpid"), 5)).isEqualTo(EPERM);
        assertThat(run(prog, X64, SeccompBpf.number("getpid"), 5 | (1L << 32))).isEqualTo(ALLOW);
        // i386 listed: its calls take the default action; x32 not listed: killed
        assertThat(run(prog, 0x40000003, 3)).isEqualTo(EPERM);
        assertThat(run(prog, X64, SeccompBpf.X32_SYSCALL_BIT | 0)).isEqualTo(SeccompBpf.RET_KILL_THREAD);
    }

    @Test
    void denyListAndDefaults() throws Exception {
        byte[] prog = SeccompBpf.compile(JSON.readTree("""
                {"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 5,
                 "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_KILL_PROCESS"},
                              {"names": ["umount2"], "action": "SCMP_ACT_ERRNO"}]}"""));
        assertThat(run(prog, X64, SeccompBpf.number("getpid"))).isEqualTo(ALLOW);
        assertThat(run(prog, X64, SeccompBpf.number("mount"))).isEqualTo(SeccompBpf.RET_KILL_PROCESS);
        assertThat(run(prog, X64, SeccompBpf.number("umount2"))).isEqualTo(EPERM);
        assertThat(run(prog, 0x40000003, 1)).isEqualTo(SeccompBpf.RET_KILL_THREAD); // i386 not listed
        assertThat(prog.length % 8).isZero();
    }

    @Test
    void refusesWhatCannotApply() {
        assertThatThrownBy(() -> SeccompBpf.compile(JSON.readTree("{\"defaultAction\": \"SCMP_ACT_NOPE\"}")))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("defaultAction: unknown seccomp action 'SCMP_ACT_NOPE'");
        assertThatThrownBy(() -> SeccompBpf.compile(JSON.readTree("""
                {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}""")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("syscalls[0].action: SCMP_ACT_NOTIFY");
        assertThatThrownBy(() -> SeccompBpf.compile(JSON.readTree("""
                {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                  "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}""")))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("linux.seccomp.syscalls[0].args[0].index: not 0 to 5");
    }
}
