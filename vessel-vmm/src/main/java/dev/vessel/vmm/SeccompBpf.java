package dev.vessel.vmm;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Compiles an OCI {@code linux.seccomp} object into a classic BPF program for an x86_64 guest,
 * which the guest agent installs (PR_SET_SECCOMP) as the last step before exec, as runc does
 * through libseccomp. Done on the host, in Java, so that the agent stays small and static with
 * no new library, and the whole profile (names, arguments, actions) is checked at create, where a
 * bad one fails in one line.
 *
 * <p>The program: an architecture other than x86_64 (i386 through int 0x80), or an x32 call,
 * takes the default action when the profile lists that architecture (no i386 or x32 numbers
 * here: a limitation) and is killed otherwise, as libseccomp kills a "bad arch". Then one block
 * per system call named by a rule (unknown names are ignored, as runc does): its rules with
 * argument conditions in profile order (conditions of one rule ANDed; a rule naming one argument
 * twice becomes one rule per condition, as runc splits it), then its first unconditional rule,
 * else the default action. Every block ends in a return, so every jump stays short.
 */
public final class SeccompBpf {
    static final int AUDIT_ARCH_X86_64 = 0xc000003e;
    static final int X32_SYSCALL_BIT = 0x40000000;
    static final int RET_KILL_THREAD = 0, RET_KILL_PROCESS = 0x80000000, RET_TRAP = 0x00030000, RET_ERRNO = 0x00050000,
            RET_TRACE = 0x7ff00000, RET_LOG = 0x7ffc0000, RET_ALLOW = 0x7fff0000;
    private static final int EPERM = 1;

    // classic BPF opcodes
    private static final short LD_W_ABS = 0x20, RET_K = 0x06, JEQ_K = 0x15, JGT_K = 0x25, JGE_K = 0x35, AND_K = 0x54;

    private static final Map<String, Integer> SYSCALLS = load();

    private SeccompBpf() {}

    /** The program, 8 bytes an instruction as the kernel reads it (little-endian struct sock_filter). */
    public static byte[] compile(JsonNode seccomp) {
        int defaultErrno = seccomp.path("defaultErrnoRet").asInt(EPERM);
        int defaultAction = action(seccomp.path("defaultAction").asText(""), seccomp.has("defaultErrnoRet") ? defaultErrno : EPERM,
                "defaultAction");
        List<String> arches = new ArrayList<>();
        seccomp.path("architectures").forEach(a -> arches.add(a.asText()));
        if (seccomp.hasNonNull("listenerPath") && !seccomp.path("listenerPath").asText().isEmpty()) {
            throw new IllegalArgumentException("linux.seccomp.listenerPath: a guest's filter cannot notify a host listener");
        }
        // the rules of each system call, in the profile's order
        Map<Integer, List<Rule>> bySyscall = new LinkedHashMap<>();
        int i = 0;
        for (JsonNode s : seccomp.path("syscalls")) {
            String where = "linux.seccomp.syscalls[" + i++ + "]";
            int act = action(s.path("action").asText(""), s.has("errnoRet") ? s.path("errnoRet").asInt() : EPERM, where + ".action");
            List<Condition> conditions = new ArrayList<>();
            int a = 0;
            for (JsonNode arg : s.path("args")) {
                conditions.add(Condition.of(arg, where + ".args[" + a++ + "]"));
            }
            List<List<Condition>> rules = new ArrayList<>();
            if (conditions.stream().map(Condition::index).distinct().count() < conditions.size()) {
                conditions.forEach(c -> rules.add(List.of(c))); // one argument twice: each a rule (runc's OR)
            } else {
                rules.add(conditions);
            }
            for (JsonNode n : s.path("names")) {
                Integer nr = SYSCALLS.get(n.asText());
                if (nr == null) continue; // unknown on x86_64: ignored, as runc does
                for (List<Condition> r : rules) bySyscall.computeIfAbsent(nr, k -> new ArrayList<>()).add(new Rule(r, act));
            }
        }
        Program p = new Program();
        int foreign = arches.contains("SCMP_ARCH_X86") ? defaultAction : RET_KILL_THREAD;
        int x32 = arches.contains("SCMP_ARCH_X32") ? defaultAction : RET_KILL_THREAD;
        p.load(4); // seccomp_data.arch
        p.jump(JEQ_K, AUDIT_ARCH_X86_64, "native", null);
        p.ret(foreign);
        p.label("native");
        p.load(0); // seccomp_data.nr
        p.jump(JGE_K, X32_SYSCALL_BIT, null, "x64");
        p.ret(x32);
        p.label("x64");
        int block = 0;
        for (var e : bySyscall.entrySet()) {
            String next = "syscall" + block++;
            p.jump(JEQ_K, e.getKey(), null, next);
            Rule unconditional = null;
            int rule = 0;
            for (Rule r : e.getValue()) {
                if (r.conditions().isEmpty()) {
                    if (unconditional == null) unconditional = r;
                    continue;
                }
                String fail = next + "-rule" + rule++;
                for (Condition c : r.conditions()) c.emit(p, fail);
                p.ret(r.action());
                p.label(fail);
            }
            p.ret(unconditional != null ? unconditional.action() : defaultAction);
            p.label(next);
        }
        p.ret(defaultAction);
        return p.bytes();
    }

    /** An OCI action's return value. */
    static int action(String name, int errno, String where) {
        return switch (name) {
            case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD" -> RET_KILL_THREAD;
            case "SCMP_ACT_KILL_PROCESS" -> RET_KILL_PROCESS;
            case "SCMP_ACT_TRAP" -> RET_TRAP;
            case "SCMP_ACT_ERRNO" -> RET_ERRNO | (errno & 0xffff);
            case "SCMP_ACT_TRACE" -> RET_TRACE | (errno & 0xffff);
            case "SCMP_ACT_ALLOW" -> RET_ALLOW;
            case "SCMP_ACT_LOG" -> RET_LOG;
            case "SCMP_ACT_NOTIFY" -> throw new IllegalArgumentException(where + ": SCMP_ACT_NOTIFY cannot reach a host listener from a guest");
            default -> throw new IllegalArgumentException(where + ": unknown seccomp action '" + name + "'");
        };
    }

    private record Rule(List<Condition> conditions, int action) {}

    /** One argument comparison, 64-bit as libseccomp makes it on x86_64: the high word, then the low. */
    record Condition(int index, String op, long value, long valueTwo) {
        static Condition of(JsonNode arg, String where) {
            int index = arg.path("index").asInt(-1);
            if (index < 0 || index > 5) throw new IllegalArgumentException(where + ".index: not 0 to 5");
            String op = arg.path("op").asText("");
            if (!List.of("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
                    "SCMP_CMP_MASKED_EQ").contains(op)) {
                throw new IllegalArgumentException(where + ".op: unknown comparison '" + op + "'");
            }
            return new Condition(index, op, unsigned(arg.path("value")), unsigned(arg.path("valueTwo")));
        }

        /** Falls through when it holds, jumps to {@code fail} when not. */
        void emit(Program p, String fail) {
            int hiOff = 16 + 8 * index + 4, loOff = 16 + 8 * index;
            int vhi = (int) (value >>> 32), vlo = (int) value;
            String ok = p.fresh();
            switch (op) {
                case "SCMP_CMP_EQ" -> {
                    p.load(hiOff); p.jump(JEQ_K, vhi, null, fail);
                    p.load(loOff); p.jump(JEQ_K, vlo, null, fail);
                }
                case "SCMP_CMP_NE" -> {
                    p.load(hiOff); p.jump(JEQ_K, vhi, null, ok);
                    p.load(loOff); p.jump(JEQ_K, vlo, fail, null);
                }
                case "SCMP_CMP_MASKED_EQ" -> { // (arg & value) == valueTwo
                    p.load(hiOff); p.and(vhi); p.jump(JEQ_K, (int) (valueTwo >>> 32), null, fail);
                    p.load(loOff); p.and(vlo); p.jump(JEQ_K, (int) valueTwo, null, fail);
                }
                case "SCMP_CMP_GT", "SCMP_CMP_GE" -> {
                    p.load(hiOff); p.jump(JGT_K, vhi, ok, null); p.jump(JEQ_K, vhi, null, fail);
                    p.load(loOff); p.jump(op.equals("SCMP_CMP_GT") ? JGT_K : JGE_K, vlo, null, fail);
                }
                default -> { // LT, LE
                    p.load(hiOff); p.jump(JGT_K, vhi, fail, null); p.jump(JEQ_K, vhi, null, ok);
                    p.load(loOff); p.jump(op.equals("SCMP_CMP_LT") ? JGE_K : JGT_K, vlo, fail, null);
                }
            }
            p.label(ok);
        }
    }

    private static long unsigned(JsonNode n) {
        return n.isBigInteger() ? n.bigIntegerValue().longValue() : n.asLong(0);
    }

    /** Instructions with symbolic forward jumps (null: the next instruction), resolved at the end. */
    static final class Program {
        private record Insn(short code, String jt, String jf, int k) {}

        private final List<Insn> insns = new ArrayList<>();
        private final Map<String, Integer> labels = new HashMap<>();
        private int fresh;

        String fresh() {
            return "l" + fresh++;
        }

        void label(String name) {
            labels.put(name, insns.size());
        }

        void load(int offset) {
            insns.add(new Insn(LD_W_ABS, null, null, offset));
        }

        void and(int k) {
            insns.add(new Insn(AND_K, null, null, k));
        }

        void jump(short code, int k, String jt, String jf) {
            insns.add(new Insn(code, jt, jf, k));
        }

        void ret(int k) {
            insns.add(new Insn(RET_K, null, null, k));
        }

        byte[] bytes() {
            if (insns.size() > 4096) throw new IllegalArgumentException("linux.seccomp: more than 4096 BPF instructions");
            ByteBuffer b = ByteBuffer.allocate(8 * insns.size()).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < insns.size(); i++) {
                Insn in = insns.get(i);
                b.putShort(in.code()).put(offset(i, in.jt())).put(offset(i, in.jf())).putInt(in.k());
            }
            return b.array();
        }

        private byte offset(int at, String label) {
            if (label == null) return 0;
            int off = labels.get(label) - at - 1;
            if (off < 0 || off > 255) throw new IllegalArgumentException("linux.seccomp: a rule too large for a BPF jump");
            return (byte) off;
        }
    }

    private static Map<String, Integer> load() {
        Map<String, Integer> m = new HashMap<>();
        try (var in = SeccompBpf.class.getResourceAsStream("syscalls-x86_64.txt");
             var r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                if (line.isBlank() || line.startsWith("#")) continue;
                String[] f = line.trim().split(" ");
                m.put(f[0], Integer.parseInt(f[1]));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return Map.copyOf(m);
    }

    /** The x86_64 number of a system call, or -1. */
    public static int number(String name) {
        return SYSCALLS.getOrDefault(name, -1);
    }
}
