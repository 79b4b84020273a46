package dev.vessel.vmm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AgentClientTest {

    @Test
    void escapesBackslashesAndNewlines() {
        String v = "a\\b\nc|d";
        assertThat(AgentClient.escape(v)).isEqualTo("a\\\\b\\nc|d");
        assertThat(AgentClient.unescape(AgentClient.escape(v))).isEqualTo(v);
    }

    @Test
    void mountFieldsEscapeTheSeparator() {
        var m = new AgentClient.Mount("/data|x", "/mnt/a b", "bind", List.of("rbind", "ro"));
        assertThat(AgentClient.mountLine(m)).isEqualTo("mount /data\\|x|/mnt/a b|bind|rbind,ro");
        var proc = new AgentClient.Mount("proc", "/proc", "proc", List.of());
        assertThat(AgentClient.mountLine(proc)).isEqualTo("mount proc|/proc|proc|");
    }

    @Test
    void encodesCreateWithEveryProcessLine() {
        var p = new GuestProcess(List.of("sh", "-c", "echo 'a\nb'"), List.of("PATH=/bin", "X=\\"), "/work dir", 1000, 100,
                List.of(10L, 20L), List.of(new GuestProcess.Rlimit("RLIMIT_NOFILE", 1024, -1)), true, true);
        var mounts = List.of(new AgentClient.Mount("tmpfs", "/dev", "tmpfs", List.of("nosuid", "mode=755")));
        assertThat(AgentClient.encodeCreate("web\n1", mounts, p)).containsExactly(
                "CREATE", "hostname web\\n1", "mount tmpfs|/dev|tmpfs|nosuid,mode=755", "PROCESS 0",
                "arg sh", "arg -c", "arg echo 'a\\nb'", "env PATH=/bin", "env X=\\\\", "cwd /work dir", "user 1000 100",
                "gid 10", "gid 20", "rlimit RLIMIT_NOFILE 1024 18446744073709551615", "tty 1", "noNewPrivileges 1");
    }

    @Test
    void encodesNetworkAndHostFiles() {
        var nic = new AgentClient.Nic("52:54:00:12:34:56", 1500, List.of("10.88.0.5/16", "fd00::5/64"));
        var routes = List.of(new AgentClient.Route("0.0.0.0/0", "10.88.0.1", "52:54:00:12:34:56"),
                new AgentClient.Route("::/0", "fd00::1", "52:54:00:12:34:56"),
                new AgentClient.Route("10.99.0.0/16", null, "52:54:00:12:34:56"));
        var files = List.of(new AgentClient.HostFile("/etc/hosts", "127.0.0.1 localhost\n10.88.0.5 web|x\n"),
                new AgentClient.HostFile("/etc/a|b", "back\\slash"));
        var mounts = List.of(new AgentClient.Mount("proc", "/proc", "proc", List.of()));
        assertThat(AgentClient.encodeCreate("web", mounts, files, List.of(nic), routes, GuestProcess.of("true")))
                .startsWith("CREATE", "hostname web",
                        "net 52:54:00:12:34:56 1500",
                        "addr 52:54:00:12:34:56 10.88.0.5/16",
                        "addr 52:54:00:12:34:56 fd00::5/64",
                        "route 0.0.0.0/0 10.88.0.1 52:54:00:12:34:56",
                        "route ::/0 fd00::1 52:54:00:12:34:56",
                        "route 10.99.0.0/16 - 52:54:00:12:34:56",
                        "mount proc|/proc|proc|",
                        "file /etc/hosts|127.0.0.1 localhost\\n10.88.0.5 web\\|x\\n",
                        "file /etc/a\\|b|back\\\\slash",
                        "PROCESS 0", "arg true");
        // the three-argument form is the same with nothing of the above
        assertThat(AgentClient.encodeCreate("web", mounts, GuestProcess.of("true")))
                .isEqualTo(AgentClient.encodeCreate("web", mounts, List.of(), List.of(), List.of(), GuestProcess.of("true")))
                .noneMatch(l -> l.startsWith("net ") || l.startsWith("file "));
    }

    @Test
    void refusesNetworkValuesThatWouldSplitALine() {
        var nic = new AgentClient.Nic("52:54:00:12:34:56", 0, List.of("10.0.0.1/8\nPROCESS 0"));
        assertThatThrownBy(() -> AgentClient.encodeCreate(null, List.of(), List.of(), List.of(nic), List.of(),
                GuestProcess.of("true"))).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void readsAnOciProcess() throws Exception {
        var json = new ObjectMapper().readTree("""
                {"terminal": true, "user": {"uid": 1, "gid": 2, "additionalGids": [3, 4]},
                 "args": ["sh"], "env": ["PATH=/bin", "TERM=xterm"], "cwd": "/",
                 "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 18446744073709551615, "soft": 1024}],
                 "noNewPrivileges": true, "capabilities": {"bounding": ["CAP_KILL"]}}""");
        var p = GuestProcess.fromOci(json);
        assertThat(p).isEqualTo(new GuestProcess(List.of("sh"), List.of("PATH=/bin", "TERM=xterm"), "/", 1, 2,
                List.of(3L, 4L), List.of(new GuestProcess.Rlimit("RLIMIT_NOFILE", 1024, -1)), true, true,
                new Capabilities(1L << 5, 0, 0, 0, 0), null)); // CAP_KILL; the sets it leaves out are empty
        var bare = GuestProcess.fromOci(new ObjectMapper().readTree("{\"args\": [\"true\"]}"));
        assertThat(bare.cwd()).isEqualTo("/");
        assertThat(bare.tty()).isFalse();
        assertThat(AgentClient.processLines(bare)).containsExactly("arg true", "cwd /", "user 0 0");
    }

    /** A scripted agent: READY twice, then one answer per block, with EXIT lines mixed in. */
    @Test
    void talksToAnAgent(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("agent.sock");
        List<List<String>> blocks = new CopyOnWriteArrayList<>();
        try (var server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(sock));
            Thread agent = Thread.ofPlatform().start(() -> serve(server, blocks));
            try (var c = AgentClient.connect(sock, Duration.ofSeconds(5))) {
                List<int[]> seen = new CopyOnWriteArrayList<>();
                c.onExit((n, st) -> seen.add(new int[] {n, st}));
                c.create("h", List.of(), GuestProcess.of("true"));
                assertThat(c.start(0)).isEqualTo(42);
                assertThat(c.ps()).containsExactly(42, 43);
                assertThatThrownBy(() -> c.exec(1, GuestProcess.of("x")))
                        .isInstanceOf(VmmException.class).hasMessage("EXEC 1: port vessel.proc.1\ndid not appear");
                c.kill(0, 9, true);
                assertThat(c.awaitExit(0, Duration.ofSeconds(5))).hasValue(137);
                assertThat(c.awaitExit(7, Duration.ofMillis(10))).isEmpty();
                assertThat(seen).extracting(e -> e[0] + ":" + e[1]).containsExactly("5:0", "0:137");
            }
            agent.join(5000);
        }
        assertThat(blocks).extracting(b -> b.get(0)).containsExactly("CREATE", "START 0", "PS", "EXEC 1", "KILL 0 9 ALL");
        assertThat(blocks.get(0)).containsExactly("CREATE", "hostname h", "PROCESS 0", "arg true",
                "env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "cwd /", "user 0 0");
    }

    @Test
    void failsWhenNoAgentAnswers(@TempDir Path dir) {
        assertThatThrownBy(() -> AgentClient.connect(dir.resolve("none.sock"), Duration.ofMillis(100)))
                .isInstanceOf(VmmException.class).hasMessageContaining("cannot connect");
    }

    private static void serve(ServerSocketChannel server, List<List<String>> blocks) {
        try (SocketChannel ch = server.accept()) {
            OutputStream out = Channels.newOutputStream(ch);
            var in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
            send(out, AgentClient.READY + "\n" + AgentClient.READY + "\n");
            List<String> block = new ArrayList<>();
            for (String line; (line = in.readLine()) != null; ) {
                if (!line.equals("END")) {
                    block.add(line);
                    continue;
                }
                blocks.add(List.copyOf(block));
                String verb = block.get(0);
                block.clear();
                send(out, switch (verb.split(" ")[0]) {
                    case "START" -> "OK 42\n";
                    case "PS" -> "EXIT 5 0\nOK 42 43\n";
                    case "EXEC" -> "ERR port vessel.proc.1\\ndid not appear\n";
                    case "KILL" -> "OK\nEXIT 0 137\n";
                    default -> "OK\n";
                });
            }
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    private static void send(OutputStream out, String s) throws java.io.IOException {
        out.write(s.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    @Test
    void encodesClone() {
        var lines = AgentClient.encodeClone(java.time.Instant.ofEpochSecond(1796129479, 530336000), new byte[] {1, (byte) 0xab},
                java.util.Map.of("02:76:73:74:00:00", "aa:bb:cc:dd:ee:ff"));
        assertThat(lines).containsExactly("CLONE", "time 1796129479 530336000", "entropy 01ab",
                "hwaddr 02:76:73:74:00:00 aa:bb:cc:dd:ee:ff");
    }

    @Test
    void encodesAPodsContainerWithItsRootItsLimitsAndItsPlaceInThePodsNamespaces() {
        var mounts = List.of(new AgentClient.Mount("v/0123456789abcdef", "/data", "pod", List.of("rw")));
        var limits = new AgentClient.Limits(64L << 20, 50_000L, 100_000L);
        // hostname null: the pod's UTS namespace
        assertThat(AgentClient.encodeContainer(3, "c/abc", null, false, mounts, limits, GuestLinux.NONE, GuestProcess.of("sleep", "1")))
                .containsExactly("CONTAINER 3", "root c/abc", "limits 67108864 50000 100000",
                        "mount v/0123456789abcdef|/data|pod|rw", "PROCESS 3", "arg sleep", "arg 1", "env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "cwd /", "user 0 0");
        // one of its own, and no limits
        assertThat(AgentClient.encodeContainer(4, "c/def", "web", false, List.of(), new AgentClient.Limits(null, null, null),
                GuestLinux.NONE, GuestProcess.of("true")))
                .containsSequence("CONTAINER 4", "root c/def", "uts 1", "hostname web", "limits max max 100000");
        // shareProcessNamespace: the pod's PID namespace (process 0's), said before its limits
        assertThat(AgentClient.encodeContainer(5, "c/ghi", null, true, List.of(), new AgentClient.Limits(null, null, null),
                GuestLinux.NONE, GuestProcess.of("true")))
                .containsSequence("CONTAINER 5", "root c/ghi", "pidns 0", "limits max max 100000");
    }

    @Test
    void encodesAnUpdateOfAPodsContainersLimitsLeavingWhatIsNotGiven() {
        assertThat(AgentClient.encodeLimits(3, 128L << 20, null, null)).containsExactly("LIMITS 3", "limits 134217728 - -");
        assertThat(AgentClient.encodeLimits(3, -1L, 50_000L, 100_000L)).containsExactly("LIMITS 3", "limits max 50000 100000");
        assertThat(AgentClient.encodeLimits(4, null, -1L, null)).containsExactly("LIMITS 4", "limits - max -");
    }
}
