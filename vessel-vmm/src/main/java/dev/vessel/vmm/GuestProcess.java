package dev.vessel.vmm;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/**
 * A process for the guest agent to run: what it needs of an OCI {@code process} object. The agent
 * applies it inside the guest (docs/microvm.md, "Process lines"), as runc does; AppArmor and
 * SELinux labels are left out (the guest kernel has neither).
 *
 * @param rlimits OCI types ({@code RLIMIT_NOFILE} …); values are unsigned 64-bit, -1 is unlimited
 * @param capabilities null: none given, the process keeps what the agent's child has (all, as root)
 * @param oomScoreAdj null: left as inherited
 */
public record GuestProcess(List<String> args, List<String> env, String cwd, long uid, long gid, List<Long> gids,
                           List<Rlimit> rlimits, boolean tty, boolean noNewPrivileges, Capabilities capabilities,
                           Integer oomScoreAdj) {

    public record Rlimit(String type, long soft, long hard) {}

    public GuestProcess {
        args = List.copyOf(args);
        env = List.copyOf(env);
        cwd = cwd == null || cwd.isEmpty() ? "/" : cwd;
        gids = List.copyOf(gids);
        rlimits = List.copyOf(rlimits);
    }

    public GuestProcess(List<String> args, List<String> env, String cwd, long uid, long gid, List<Long> gids,
                        List<Rlimit> rlimits, boolean tty, boolean noNewPrivileges) {
        this(args, env, cwd, uid, gid, gids, rlimits, tty, noNewPrivileges, null, null);
    }

    /** A process with the given args, as root in "/", with a default PATH. */
    public static GuestProcess of(String... args) {
        return new GuestProcess(List.of(args), List.of("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
                "/", 0, 0, List.of(), List.of(), false, false);
    }

    /** Reads an OCI config's {@code process} object (or an exec's process.json). */
    public static GuestProcess fromOci(JsonNode process) {
        List<String> args = strings(process.path("args"));
        List<String> env = strings(process.path("env"));
        JsonNode user = process.path("user");
        List<Long> gids = new ArrayList<>();
        user.path("additionalGids").forEach(g -> gids.add(g.asLong()));
        List<Rlimit> rlimits = new ArrayList<>();
        process.path("rlimits").forEach(r -> rlimits.add(new Rlimit(r.path("type").asText(),
                unsigned(r.path("soft")), unsigned(r.path("hard")))));
        return new GuestProcess(args, env, process.path("cwd").asText("/"), user.path("uid").asLong(0),
                user.path("gid").asLong(0), gids, rlimits, process.path("terminal").asBoolean(false),
                process.path("noNewPrivileges").asBoolean(false), Capabilities.fromOci(process.get("capabilities")),
                process.hasNonNull("oomScoreAdj") ? process.get("oomScoreAdj").asInt() : null);
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    /** uint64 in JSON (18446744073709551615 is RLIM_INFINITY) → the same 64 bits in a long. */
    private static long unsigned(JsonNode n) {
        return n.isBigInteger() ? n.bigIntegerValue().longValue() : n.asLong();
    }
}
