package dev.vessel.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client↔daemon protocol in golden bytes, written out by hand from Protocol's description:
 * the C client (bin/vessel, built before this module) must produce exactly the request bytes and
 * act on the golden reply bytes (served to it by a stand-in daemon on a socket of its own), and
 * the Java side must read the request and write exactly the reply bytes. A change to either side
 * that the other does not share fails here, not in an end-to-end test.
 */
class ProtocolTest {
    /** `vessel --root /r create --bundle /b id1` from cwd / with the environment VESSEL_DUMP_REQUEST=/dev/stdout. */
    static final String REQUEST = "56534c33" // VSL3
            + "06000000" // six arguments
            + "06000000" + hex("--root") + "02000000" + hex("/r") + "06000000" + hex("create")
            + "08000000" + hex("--bundle") + "02000000" + hex("/b") + "03000000" + hex("id1")
            + "01000000" + "1f000000" + hex("VESSEL_DUMP_REQUEST=/dev/stdout") // the environment
            + "01000000" + hex("/") // the working directory
            + "01000000" // the pid (fixed to 1 when dumping)
            + "00000000"; // the first attempt

    private static String hex(String s) {
        return HexFormat.of().formatHex(s.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    @Test
    void theCClientWritesTheGoldenRequest() throws Exception {
        Path client = Path.of(System.getProperty("user.dir")).resolveSibling("bin").resolve("vessel");
        assertThat(client).as("bin/vessel is built by the native module first").isExecutable();
        Process p = new ProcessBuilder("env", "-i", "VESSEL_DUMP_REQUEST=/dev/stdout", client.toString(),
                "--root", "/r", "create", "--bundle", "/b", "id1").directory(Path.of("/").toFile()).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(HexFormat.of().formatHex(out)).isEqualTo(REQUEST);
    }

    @Test
    void calledAsVesselMicrovmTheClientAsksForMicroVmsFirst(@TempDir Path dir) throws Exception {
        Path client = Path.of(System.getProperty("user.dir")).resolveSibling("bin").resolve("vessel");
        Path link = Files.createSymbolicLink(dir.resolve("vessel-microvm"), client);
        Process p = new ProcessBuilder("env", "-i", "VESSEL_DUMP_REQUEST=/dev/stdout", link.toString(),
                "--root", "/r", "create", "--bundle", "/b", "id1").directory(Path.of("/").toFile()).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
        String expected = REQUEST.replaceFirst("^56534c33" + "06000000",
                "56534c33" + "07000000" + "13000000" + hex("--isolation=microvm"));
        assertThat(HexFormat.of().formatHex(out)).isEqualTo(expected);
    }

    @Test
    void theDaemonReadsTheGoldenRequest() throws Exception {
        Protocol.Request r = Protocol.readRequest(new ByteArrayInputStream(HexFormat.of().parseHex(REQUEST)));
        assertThat(r).isEqualTo(new Protocol.Request(List.of("--root", "/r", "create", "--bundle", "/b", "id1"),
                List.of("VESSEL_DUMP_REQUEST=/dev/stdout"), "/", 1, 3, 0));
    }

    @Test
    void theDaemonWritesTheGoldenReplies() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        // the client's answer to the relay frame: pid 0x1234
        Protocol.Replier reply = new Protocol.Replier(out, new ByteArrayInputStream(HexFormat.of().parseHex("34120000")));
        reply.accepted();
        reply.stderr("e");
        assertThat(reply.relay("/p", "", "", true, false, List.of("delete"))).isEqualTo(0x1234);
        reply.go();
        reply.exit(3);
        assertThat(HexFormat.of().formatHex(out.toByteArray())).isEqualTo(
                "4100000000" // A
                        + "4501000000" + hex("e") // E "e"
                        + "5620000000" + "02000000" + hex("/p") + "00000000" + "00000000" + "01000000" // V: port, pid file, console, flags tty
                        + "01000000" + "06000000" + hex("delete") // ...and the command after exit
                        + "4700000000" // G
                        + "580400000003000000"); // X 3
    }

    @Test
    void aVmmCallerIsHeldAndStartsTheChildAndAnswers() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        // the client's messages: p (pid 0x1234), e "x\n", w (status 2), then its end
        Protocol.Replier reply = new Protocol.Replier(out, new ByteArrayInputStream(HexFormat.of().parseHex(
                "700400000034120000" + "6502000000" + hex("x\n") + "770400000002000000")));
        reply.hold(List.of("/s"));
        reply.startChild(List.of("/q"), List.of("A=b"));
        reply.signalChild(15);
        assertThat(HexFormat.of().formatHex(out.toByteArray())).isEqualTo(
                "4d0a000000" + "01000000" + "02000000" + hex("/s") // M: the paths to remove without the daemon
                        + "5115000000" + "01000000" + "02000000" + hex("/q") + "01000000" + "03000000" + hex("A=b") // Q: argv, env
                        + "4b040000000f000000"); // K 15
        Protocol.Message pid = reply.message();
        assertThat(pid.type()).isEqualTo('p');
        assertThat(pid.u32()).isEqualTo(0x1234);
        assertThat(new String(reply.message().payload(), java.nio.charset.StandardCharsets.UTF_8)).isEqualTo("x\n");
        Protocol.Message exit = reply.message();
        assertThat(exit.type()).isEqualTo('w');
        assertThat(exit.u32()).isEqualTo(2);
        assertThat(reply.message()).as("the client's end").isNull();
    }

    @Test
    void aClientOfTheLastVersionIsRecognised() throws Exception {
        String v2 = REQUEST.replaceFirst("^56534c33", "56534c32");
        assertThat(Protocol.readRequest(new ByteArrayInputStream(HexFormat.of().parseHex(v2))).version()).isEqualTo(2);
        String v1 = "56534c31" + "02000000" + "06000000" + hex("daemon") + "04000000" + hex("stop") + "00000000" + "01000000" + hex("/");
        Protocol.Request r = Protocol.readRequest(new ByteArrayInputStream(HexFormat.of().parseHex(v1)));
        assertThat(r.version()).isEqualTo(1);
        assertThat(r.args()).containsExactly("daemon", "stop");
    }

    /**
     * The replies a daemon sends, as bytes: accepted; stdout; stderr; a program to run captured
     * (the client answers its status and output); a program to run as its child with a file in a
     * memfd (the client answers its status); the exit status. The real client gets them from a
     * stand-in daemon and must print, run and answer exactly so.
     */
    static final String REPLIES = "4100000000" // A
            + "4504000000" + hex("err\n") // E "err\n"
            + "4f04000000" + hex("out\n") // O "out\n"
            + "43" + "32000000" + "03000000" + "07000000" + hex("/bin/sh") + "02000000" + hex("-c")
            + "11000000" + hex("echo cap; exit 2;") + "00000000" + "00000000" // C: argv, no env, no files
            + "53" + "41000000" + "04000000" + "07000000" + hex("/bin/sh") + "02000000" + hex("-c")
            + "0e000000" + hex("cat $0; exit 5") + "07000000" + hex("@file:0") + "00000000"
            + "01000000" + "03000000" + hex("mem") // S: argv with @file:0, no env, one file "mem"
            + "580400000003000000"; // X 3

    @Test
    void theCClientActsOnTheGoldenReplies(@TempDir Path dir) throws Exception {
        Path client = Path.of(System.getProperty("user.dir")).resolveSibling("bin").resolve("vessel");
        Path socket = dir.resolve("d.sock");
        try (java.nio.channels.ServerSocketChannel server = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            server.bind(java.net.UnixDomainSocketAddress.of(socket));
            Process p = new ProcessBuilder("env", "-i", "VESSEL_SOCKET=" + socket, client.toString(), "--root", "/r", "state", "x")
                    .directory(Path.of("/").toFile()).start();
            ByteArrayOutputStream answers = new ByteArrayOutputStream();
            try (java.nio.channels.SocketChannel c = server.accept()) {
                java.io.InputStream in = java.nio.channels.Channels.newInputStream(c);
                Protocol.Request request = Protocol.readRequest(in);
                assertThat(request.args()).containsExactly("--root", "/r", "state", "x");
                assertThat(request.attempt()).isZero();
                java.nio.channels.Channels.newOutputStream(c).write(HexFormat.of().parseHex(REPLIES));
                // C's answer: status 2, 4 bytes of output "cap\n"; S's: status 5; then the client closes
                answers.write(in.readNBytes(4 + 4 + 4 + 4));
                assertThat(in.read()).as("nothing more from the client").isEqualTo(-1);
            }
            assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
            assertThat(HexFormat.of().formatHex(answers.toByteArray())).isEqualTo("02000000" + "04000000" + hex("cap\n") + "05000000");
            assertThat(new String(p.getInputStream().readAllBytes())).isEqualTo("out\nmem");
            assertThat(new String(p.getErrorStream().readAllBytes())).isEqualTo("err\n");
            assertThat(p.exitValue()).isEqualTo(3);
        }
    }
}
