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
 * the C client (bin/vessel, built before this module) must produce exactly the request bytes, and
 * the Java side must read them and write exactly the reply bytes. A change to either side that
 * the other does not share fails here, not in an end-to-end test.
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
}
