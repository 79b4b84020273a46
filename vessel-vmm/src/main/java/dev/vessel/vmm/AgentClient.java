package dev.vessel.vmm;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

/**
 * The daemon's side of the guest agent's control protocol (docs/microvm.md), over QEMU's
 * {@code agent.sock}. One request at a time; answers come in order; {@code EXIT N STATUS} lines
 * may come at any time and are kept (see {@link #awaitExit}) and passed to {@link #onExit}
 * listeners. The agent says READY whenever a host (re)connects, and repeats every EXIT it has
 * reported, so a restarted daemon just connects again. Closing the client stops nothing in the guest.
 */
public final class AgentClient implements AutoCloseable {

    /** An OCI mount, as the guest makes it: bind sources are paths inside the rootfs. */
    public record Mount(String source, String destination, String type, List<String> options) {
        public Mount {
            source = source == null ? "" : source;
            type = type == null || type.isEmpty() ? "bind" : type;
            options = List.copyOf(options);
        }
    }

    /**
     * A guest NIC, found by its MAC (QEMU gave it the MAC of the host side's interface): brought up
     * with this MTU (0: the driver's) and these addresses, IPv4 or IPv6 with a prefix length
     * ({@code 10.88.0.5/16}, {@code fd00::5/64}).
     */
    public record Nic(String mac, int mtu, List<String> addresses) {
        public Nic {
            addresses = List.copyOf(addresses);
        }
    }

    /**
     * A route through the NIC with this MAC: {@code destination} a CIDR ({@code 0.0.0.0/0} or
     * {@code ::/0} for the default routes), {@code gateway} null for an on-link route.
     */
    public record Route(String destination, String gateway, String mac) {}

    /**
     * A small host file (podman's /etc/hosts, /etc/resolv.conf, /etc/hostname), bind-mounted at
     * {@code destination} in the guest's rootfs; the image's own file there is left as it was.
     */
    public record HostFile(String destination, String content) {}

    /** Generous: under TCG on a loaded host a guest can take tens of seconds to answer. */
    public static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(90);
    private static final String EOF = "\0eof";

    private final SocketChannel channel;
    private final OutputStream out;
    private final BlockingQueue<String> answers = new LinkedBlockingQueue<>();
    private final Map<Integer, Integer> exits = new HashMap<>();
    private final List<BiConsumer<Integer, Integer>> listeners = new CopyOnWriteArrayList<>();
    private final Thread reader;

    /** The control protocol's version (docs/microvm.md), as the agent says it when a host connects. */
    public static final int PROTOCOL = 3;
    static final String READY = "READY " + PROTOCOL;

    /** {@code attached}: no READY handshake is expected, so every READY is ignored. */
    private AgentClient(SocketChannel channel, boolean attached) {
        this.channel = channel;
        this.out = Channels.newOutputStream(channel);
        BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
        this.reader = Thread.ofPlatform().daemon().name("agent-client").start(() -> read(in, attached));
    }

    /**
     * Connects to the agent of a guest that has already booted, without waiting for READY: the
     * agent notices a new host connection only within its poll period, and a call that comes
     * right after another (create, then start) may fall inside it. Requests are read anyway.
     */
    public static AgentClient attach(Path socket) throws VmmException {
        try {
            SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                ch.connect(UnixDomainSocketAddress.of(socket));
            } catch (IOException e) {
                closeQuietly(ch);
                throw e;
            }
            return new AgentClient(ch, true);
        } catch (IOException e) {
            throw new VmmException("cannot connect to the guest agent at " + socket + ": " + e.getMessage(), e);
        }
    }

    /** Connects to agent.sock and waits for the agent's READY (the guest may still be booting). */
    public static AgentClient connect(Path socket, Duration timeout) throws VmmException {
        long deadline = System.nanoTime() + timeout.toNanos();
        SocketChannel ch = null;
        while (ch == null) {
            try {
                ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                ch.connect(UnixDomainSocketAddress.of(socket));
            } catch (IOException e) {
                closeQuietly(ch);
                ch = null;
                if (System.nanoTime() > deadline) throw new VmmException("cannot connect to the guest agent at " + socket + ": " + e.getMessage(), e);
                sleep(20);
            }
        }
        AgentClient c = new AgentClient(ch, false);
        try {
            String line = c.answers.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (line == null || !line.startsWith("READY")) {
                c.close();
                throw new VmmException(line == null || line.equals(EOF)
                        ? "the guest agent did not say READY within " + timeout.toMillis() + " ms"
                        : "the guest agent said " + line + " instead of READY");
            }
            if (!line.equals(READY)) {
                c.close();
                throw new VmmException("the guest agent speaks another protocol (\"" + line + "\", this daemon wants \""
                        + READY + "\"): rebuild the guest assets (vessel assets build)");
            }
        } catch (InterruptedException e) {
            c.close();
            Thread.currentThread().interrupt();
            throw new VmmException("interrupted while waiting for the guest agent");
        }
        return c;
    }

    /** Sets the guest up for the container and prepares process 0, which waits for {@link #start}. */
    public void create(String hostname, List<Mount> mounts, GuestProcess process) throws VmmException {
        create(hostname, mounts, List.of(), List.of(), List.of(), process);
    }

    /**
     * As {@link #create(String, List, GuestProcess)}, with the host files to mount and the
     * network: NICs up with their addresses, then the routes, all before process 0 can start.
     */
    public void create(String hostname, List<Mount> mounts, List<HostFile> files, List<Nic> nics, List<Route> routes,
                       GuestProcess process) throws VmmException {
        create(hostname, mounts, files, nics, routes, GuestLinux.NONE, process);
    }

    /** As above, with what the guest applies of the config's linux section ({@link GuestLinux}). */
    public void create(String hostname, List<Mount> mounts, List<HostFile> files, List<Nic> nics, List<Route> routes,
                       GuestLinux linux, GuestProcess process) throws VmmException {
        request(encodeCreate(hostname, mounts, files, nics, routes, linux, process));
    }

    /**
     * As above for a pod's sandbox: the guest also mounts the pod's share (mount tag {@code podShare})
     * and its cgroup2, for the pod's later containers ({@link #container}).
     */
    public void createSandbox(String podShare, String hostname, List<Mount> mounts, List<HostFile> files, List<Nic> nics,
                              List<Route> routes, GuestLinux linux, GuestProcess process) throws VmmException {
        List<String> lines = encodeCreate(hostname, mounts, files, nics, routes, linux, process);
        lines.add(1, "pod " + escape(podShare));
        request(lines);
    }

    /** A pod's container's cgroup limits in the guest; null: none. */
    public record Limits(Long memory, Long cpuQuota, Long cpuPeriod) {
        String line() {
            return "limits " + (memory == null || memory <= 0 ? "max" : memory.toString()) + " "
                    + (cpuQuota == null || cpuQuota <= 0 ? "max" : cpuQuota.toString()) + " "
                    + (cpuPeriod == null || cpuPeriod <= 0 ? "100000" : cpuPeriod.toString());
        }
    }

    /**
     * CONTAINER: a pod's later container, as process n (its port vessel.proc.N hot-plugged), in the
     * pod's guest: its rootfs at {@code root} in the pod's share, its mounts (type "pod": a path in
     * that share), namespaces of its own but the pod's network and IPC, a cgroup with
     * {@code limits}; prepared, waiting for {@link #start}. Returns its guest pid.
     */
    public int container(int n, String root, String hostname, boolean podPids, List<Mount> mounts, Limits limits,
                         GuestLinux linux, GuestProcess process) throws VmmException {
        return Integer.parseInt(request(encodeContainer(n, root, hostname, podPids, mounts, limits, linux, process)));
    }

    /**
     * {@code hostname}: null, it shares the pod's UTS namespace (Kubernetes' way); else one of its own with that name.
     * {@code podPids}: in the pod's PID namespace, the sandbox's (Kubernetes' shareProcessNamespace), not one of its own.
     */
    static List<String> encodeContainer(int n, String root, String hostname, boolean podPids, List<Mount> mounts,
                                        Limits limits, GuestLinux linux, GuestProcess process) {
        List<String> lines = new ArrayList<>();
        lines.add("CONTAINER " + n);
        lines.add("root " + escape(root));
        if (hostname != null) {
            lines.add("uts 1");
            if (!hostname.isEmpty()) lines.add("hostname " + escape(hostname));
        }
        if (podPids) lines.add("pidns 0");
        lines.add(limits.line());
        for (Mount m : mounts) lines.add(mountLine(m));
        lines.addAll(linux.lines());
        lines.add("PROCESS " + n);
        lines.addAll(processLines(process));
        return lines;
    }

    /** As {@link #exec(int, GuestProcess)}, in the namespaces and cgroup of the pod's container that is process {@code in}. */
    public int exec(int n, int in, GuestProcess process) throws VmmException {
        List<String> lines = new ArrayList<>();
        lines.add("EXEC " + n);
        if (in > 0) lines.add("in " + in);
        lines.addAll(processLines(process));
        return Integer.parseInt(request(lines));
    }

    /**
     * LIMITS: a pod's container's (process n) guest cgroup takes new limits (update): null leaves
     * one as it is, a memory or quota ≤ 0 is none ("max").
     */
    public void updateLimits(int n, Long memory, Long cpuQuota, Long cpuPeriod) throws VmmException {
        request(encodeLimits(n, memory, cpuQuota, cpuPeriod));
    }

    static List<String> encodeLimits(int n, Long memory, Long cpuQuota, Long cpuPeriod) {
        return List.of("LIMITS " + n, "limits " + (memory == null ? "-" : memory <= 0 ? "max" : memory.toString()) + " "
                + (cpuQuota == null ? "-" : cpuQuota <= 0 ? "max" : cpuQuota.toString()) + " "
                + (cpuPeriod == null || cpuPeriod <= 0 ? "-" : cpuPeriod.toString()));
    }

    /** REMOVE: a pod's container (process n) deleted: its processes killed and its guest cgroup removed. */
    public void remove(int n) throws VmmException {
        request(List.of("REMOVE " + n));
    }

    /** The numbers of the pod's container that is process n (its guest cgroup's), as {@link #stats()} gives the guest's. */
    public GuestStats stats(int n) throws VmmException {
        if (n <= 0) return stats();
        try {
            return GuestStats.parse(request(List.of("STATS " + n)));
        } catch (IllegalArgumentException e) {
            throw new VmmException(e.getMessage());
        }
    }

    /**
     * CLONE: a guest restored from a template (which its other clones share) becomes a machine of
     * its own before CREATE: the host's clock {@code now}, {@code entropy} mixed into its pool and
     * its CRNG reseeded, each NIC's template MAC replaced (key: the template's, value: this one's),
     * then its rootfs mounted. An agent older than CLONE answers ERR.
     */
    public void cloned(java.time.Instant now, byte[] entropy, Map<String, String> macs) throws VmmException {
        request(encodeClone(now, entropy, macs));
    }

    static List<String> encodeClone(java.time.Instant now, byte[] entropy, Map<String, String> macs) {
        List<String> lines = new ArrayList<>();
        lines.add("CLONE");
        lines.add("time " + now.getEpochSecond() + " " + now.getNano());
        if (entropy.length > 0) lines.add("entropy " + java.util.HexFormat.of().formatHex(entropy));
        macs.forEach((from, to) -> lines.add("hwaddr " + word(from) + " " + word(to)));
        return lines;
    }

    /** Starts the prepared process n (0: the container's); returns its guest pid. */
    public int start(int n) throws VmmException {
        return Integer.parseInt(request(List.of("START " + n)));
    }

    /** Starts process n, whose port vessel.proc.N must have been hot-plugged; returns its guest pid. */
    public int exec(int n, GuestProcess process) throws VmmException {
        List<String> lines = new ArrayList<>();
        lines.add("EXEC " + n);
        lines.addAll(processLines(process));
        return Integer.parseInt(request(lines));
    }

    /** Signals process n; with {@code all} (process 0 only), every process in the guest. */
    public void kill(int n, int signal, boolean all) throws VmmException {
        request(List.of("KILL " + n + " " + signal + (all ? " ALL" : "")));
    }

    /**
     * PROCS: the process numbers the agent still holds (0, pod containers, execs not yet done or
     * whose relay is still connected); an exec's port whose number is not among them is free to
     * remove. An agent older than PROCS answers ERR.
     */
    public java.util.Set<Integer> processes() throws VmmException {
        return parseNumbers(request(List.of("PROCS")));
    }

    static java.util.Set<Integer> parseNumbers(String value) throws VmmException {
        java.util.Set<Integer> numbers = new java.util.TreeSet<>();
        for (String s : value.trim().split(" ")) {
            if (s.isEmpty()) continue;
            try {
                numbers.add(Integer.parseInt(s));
            } catch (NumberFormatException e) {
                throw new VmmException("agent: PROCS answered \"" + value + "\", not process numbers");
            }
        }
        return numbers;
    }

    /** The guest pids of every live process but the agent. */
    public List<Integer> ps() throws VmmException {
        String v = request(List.of("PS"));
        List<Integer> pids = new ArrayList<>();
        for (String s : v.trim().split(" ")) if (!s.isEmpty()) pids.add(Integer.parseInt(s));
        return pids;
    }

    /** The guest's own memory, CPU, processes, network and disk counters (STATS). */
    public GuestStats stats() throws VmmException {
        try {
            return GuestStats.parse(newerRequest("STATS"));
        } catch (IllegalArgumentException e) {
            throw new VmmException(e.getMessage());
        }
    }

    /** The guest's processes with their command lines (TOP), as {@link #ps} lists them. */
    public List<GuestStats.Process> top() throws VmmException {
        List<GuestStats.Process> processes = new ArrayList<>();
        try {
            for (String entry : unescape(newerRequest("TOP")).split("\n")) {
                if (!entry.isBlank()) processes.add(GuestStats.Process.parse(entry));
            }
        } catch (IllegalArgumentException e) {
            throw new VmmException(e.getMessage());
        }
        return processes;
    }

    /** A request added to protocol 1 after its first agents: theirs answer "unknown request". */
    private String newerRequest(String verb) throws VmmException {
        try {
            return request(List.of(verb));
        } catch (VmmException e) {
            if (e.getMessage().endsWith(": unknown request")) {
                throw new VmmException("the guest agent is older than " + verb + " (rebuild the guest assets: vessel assets build)");
            }
            throw e;
        }
    }

    /** Syncs and powers the guest off; QEMU exits soon after the answer. */
    public void poweroff() throws VmmException {
        request(List.of("POWEROFF"));
    }

    /** Called (on the reader thread) with (n, status) for every EXIT line, repeats included. */
    public void onExit(BiConsumer<Integer, Integer> listener) {
        listeners.add(listener);
    }

    /** Process n's exit status (shell convention) once it has ended, or empty at the timeout. */
    public OptionalInt awaitExit(int n, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (exits) {
            while (!exits.containsKey(n)) {
                long left = deadline - System.nanoTime();
                if (left <= 0) return OptionalInt.empty();
                TimeUnit.NANOSECONDS.timedWait(exits, left);
            }
            return OptionalInt.of(exits.get(n));
        }
    }

    /** Whether the connection is still up (false once QEMU or the guest went away). */
    public boolean isConnected() {
        return reader.isAlive();
    }

    @Override
    public void close() {
        closeQuietly(channel);
    }

    // ---------------------------------------------------------------- the wire

    private synchronized String request(List<String> lines) throws VmmException {
        StringBuilder b = new StringBuilder();
        for (String l : lines) b.append(l).append('\n');
        b.append("END\n");
        try {
            out.write(b.toString().getBytes(StandardCharsets.UTF_8));
            out.flush();
            String line = answers.poll(REQUEST_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            if (line == null) throw new VmmException("the guest agent did not answer " + lines.get(0) + " in time");
            if (line.equals(EOF)) {
                answers.add(EOF);
                throw new VmmException("the guest agent's connection closed during " + lines.get(0));
            }
            if (line.equals("OK")) return "";
            if (line.startsWith("OK ")) return line.substring(3);
            if (line.startsWith("ERR")) throw new VmmException(lines.get(0) + ": " + unescape(line.substring(Math.min(4, line.length()))));
            throw new VmmException("the guest agent answered " + line + " to " + lines.get(0));
        } catch (IOException e) {
            throw new VmmException("guest agent connection: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmException("interrupted while waiting for the guest agent");
        }
    }

    private void read(BufferedReader in, boolean ready) {
        try {
            for (String line; (line = in.readLine()) != null; ) {
                if (line.startsWith("EXIT ")) {
                    String[] f = line.split(" ");
                    int n = Integer.parseInt(f[1]), status = Integer.parseInt(f[2]);
                    synchronized (exits) {
                        exits.put(n, status);
                        exits.notifyAll();
                    }
                    for (var l : listeners) l.accept(n, status);
                } else if (line.startsWith("READY")) {
                    if (!ready) answers.add(line); // only the first is the handshake; the agent may repeat it
                    ready = true;
                } else {
                    answers.add(line);
                }
            }
        } catch (IOException | RuntimeException e) {
            // the connection is gone: callers learn it from EOF
        }
        answers.add(EOF);
    }

    // ---------------------------------------------------------------- encoding (package-private for tests)

    /** A value on the wire: a backslash is {@code \\}, a newline {@code \n}. */
    static String escape(String v) {
        return v.replace("\\", "\\\\").replace("\n", "\\n");
    }

    static String unescape(String v) {
        StringBuilder b = new StringBuilder(v.length());
        for (int i = 0; i < v.length(); i++) {
            char c = v.charAt(i);
            if (c == '\\' && i + 1 < v.length()) {
                char d = v.charAt(++i);
                b.append(d == 'n' ? '\n' : d);
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    /** {@code mount SOURCE|DEST|TYPE|opt1,opt2}; a {@code |} inside a field is {@code \|}. */
    static String mountLine(Mount m) {
        return "mount " + field(m.source()) + "|" + field(m.destination()) + "|" + field(m.type()) + "|"
                + field(String.join(",", m.options()));
    }

    static String field(String v) {
        return escape(v).replace("|", "\\|");
    }

    /** A MAC, an address or a CIDR: a single word, which a blank or a newline would split. */
    private static String word(String v) {
        if (v == null || v.isEmpty() || v.chars().anyMatch(c -> c <= ' ')) {
            throw new IllegalArgumentException("not a network value: '" + v + "'");
        }
        return v;
    }

    static List<String> encodeCreate(String hostname, List<Mount> mounts, GuestProcess p) {
        return encodeCreate(hostname, mounts, List.of(), List.of(), List.of(), p);
    }

    /** {@code net MAC MTU}, {@code addr MAC CIDR}, {@code route CIDR GATEWAY|- MAC}, {@code file DEST|CONTENT}. */
    static List<String> encodeCreate(String hostname, List<Mount> mounts, List<HostFile> files, List<Nic> nics,
                                     List<Route> routes, GuestProcess p) {
        return encodeCreate(hostname, mounts, files, nics, routes, GuestLinux.NONE, p);
    }

    static List<String> encodeCreate(String hostname, List<Mount> mounts, List<HostFile> files, List<Nic> nics,
                                     List<Route> routes, GuestLinux linux, GuestProcess p) {
        List<String> lines = new ArrayList<>();
        lines.add("CREATE");
        if (hostname != null && !hostname.isEmpty()) lines.add("hostname " + escape(hostname));
        for (Nic n : nics) {
            lines.add("net " + word(n.mac()) + " " + n.mtu());
            for (String a : n.addresses()) lines.add("addr " + word(n.mac()) + " " + word(a));
        }
        for (Route r : routes) {
            lines.add("route " + word(r.destination()) + " " + (r.gateway() == null ? "-" : word(r.gateway())) + " "
                    + word(r.mac()));
        }
        for (Mount m : mounts) lines.add(mountLine(m));
        for (HostFile f : files) lines.add("file " + field(f.destination()) + "|" + field(f.content()));
        lines.addAll(linux.lines());
        lines.add("PROCESS 0");
        lines.addAll(processLines(p));
        return lines;
    }

    static List<String> processLines(GuestProcess p) {
        List<String> lines = new ArrayList<>();
        for (String a : p.args()) lines.add("arg " + escape(a));
        for (String e : p.env()) lines.add("env " + escape(e));
        lines.add("cwd " + escape(p.cwd()));
        lines.add("user " + p.uid() + " " + p.gid());
        for (long g : p.gids()) lines.add("gid " + g);
        for (GuestProcess.Rlimit r : p.rlimits()) {
            lines.add("rlimit " + r.type() + " " + Long.toUnsignedString(r.soft()) + " " + Long.toUnsignedString(r.hard()));
        }
        if (p.tty()) lines.add("tty 1");
        if (p.noNewPrivileges()) lines.add("noNewPrivileges 1");
        if (p.capabilities() != null) lines.add(p.capabilities().line());
        if (p.oomScoreAdj() != null) lines.add("oomScoreAdj " + p.oomScoreAdj());
        return lines;
    }

    private static void closeQuietly(SocketChannel ch) {
        try {
            if (ch != null) ch.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }

    private static void sleep(long ms) throws VmmException {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmException("interrupted while connecting to the guest agent");
        }
    }
}
