package dev.vessel.vmm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import org.junit.jupiter.api.Test;

class GuestLinuxTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void encodesTheLinuxSection() throws Exception {
        var config = JSON.readTree("""
                {"root": {"path": "rootfs", "readonly": true},
                 "linux": {"maskedPaths": ["/proc/kcore", "/proc/a b"], "readonlyPaths": ["/proc/sys"],
                           "sysctl": {"net.ipv4.ip_forward": "1", "kernel.msgmax": "8192"},
                           "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438},
                                       {"path": "/dev/loop|x", "type": "b", "major": 7, "minor": 0, "uid": 1, "gid": 2}]}}""");
        var linux = GuestLinux.fromOci(config, new byte[] {6, 0, 0, 0, 0, 0, (byte) 0xff, 0x7f});
        assertThat(linux.lines()).containsExactly("masked /proc/kcore", "masked /proc/a b", "readonly /proc/sys",
                "rootReadonly 1", "sysctl net.ipv4.ip_forward 1", "sysctl kernel.msgmax 8192",
                "device /dev/fuse|c|10|229|666|0|0", "device /dev/loop\\|x|b|7|0|666|1|2", "seccomp 060000000000ff7f");
        assertThat(GuestLinux.fromOci(JSON.readTree("{}"), null).lines()).isEmpty();
        assertThat(AgentClient.encodeCreate("h", List.of(), List.of(), List.of(), List.of(), linux, GuestProcess.of("true")))
                .containsSubsequence("CREATE", "masked /proc/kcore", "PROCESS 0", "arg true");
    }

    @Test
    void aUserNamespaceOfItsOwnWithItsMapsAndThePropagation() throws Exception {
        var config = JSON.readTree("""
                {"linux": {"namespaces": [{"type": "pid"}, {"type": "user"}], "rootfsPropagation": "shared",
                           "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                           "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 1000},
                                           {"containerID": 1000, "hostID": 1000, "size": 1}]}}""");
        assertThat(GuestLinux.fromOci(config, null).lines()).containsExactly("uidmap 0 100000 65536",
                "gidmap 0 200000 1000", "gidmap 1000 1000 1", "rootfsPropagation shared");
        // maps without a user namespace of its own (none, or a path: a host one) make none
        var noUserns = JSON.readTree("""
                {"linux": {"namespaces": [{"type": "user", "path": "/proc/1/ns/user"}],
                           "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]}}""");
        assertThat(GuestLinux.fromOci(noUserns, null).lines()).isEmpty();
    }

    @Test
    void refusesAUserNamespaceWithoutMapsAndAnUnknownPropagation() throws Exception {
        assertThatThrownBy(() -> GuestLinux.fromOci(JSON.readTree("{\"linux\": {\"namespaces\": [{\"type\": \"user\"}]}}"), null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("linux.namespaces: a user namespace, but no linux.uidMappings");
        var bad = GuestLinux.fromOci(JSON.readTree("{\"linux\": {\"rootfsPropagation\": \"bogus\"}}"), null);
        assertThatThrownBy(bad::lines).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("linux.rootfsPropagation: 'bogus' is not one of shared, slave, private, unbindable, rshared, "
                        + "rslave, rprivate, runbindable");
        var badMap = GuestLinux.fromOci(JSON.readTree("""
                {"linux": {"namespaces": [{"type": "user"}], "uidMappings": [{"containerID": 0, "hostID": 1, "size": 0}]}}"""), null);
        assertThatThrownBy(badMap::lines).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("linux.uidMappings[0]: containerID, hostID and size must be numbers (size at least 1)");
    }

    @Test
    void refusesWhatCannotGoOnTheWire() throws Exception {
        var badSysctl = GuestLinux.fromOci(JSON.readTree("{\"linux\": {\"sysctl\": {\"a b\": \"1\"}}}"), null);
        assertThatThrownBy(badSysctl::lines).isInstanceOf(IllegalArgumentException.class).hasMessage("not a sysctl name: 'a b'");
        var badType = GuestLinux.fromOci(JSON.readTree("{\"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"q\"}]}}"), null);
        assertThatThrownBy(badType::lines).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("device /dev/x: type 'q' is not c, u, b or p");
    }

    @Test
    void capabilitiesAsMasks() throws Exception {
        var caps = JSON.readTree("""
                {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_BOGUS"], "effective": ["CAP_KILL"],
                 "permitted": ["CAP_KILL", "CAP_CHECKPOINT_RESTORE"], "ambient": []}""");
        var c = Capabilities.fromOci(caps);
        assertThat(c).isEqualTo(new Capabilities(0x421, 0x20, 0x20 | (1L << 40), 0, 0));
        assertThat(c.line()).isEqualTo("caps 421 20 10000000020 0 0");
        assertThat(Capabilities.unknown(caps)).containsExactly("CAP_BOGUS");
        assertThat(Capabilities.fromOci(null)).isNull();
        var p = GuestProcess.fromOci(JSON.readTree("{\"args\": [\"true\"], \"capabilities\": {}, \"oomScoreAdj\": -500}"));
        assertThat(AgentClient.processLines(p)).containsExactly("arg true", "cwd /", "user 0 0", "caps 0 0 0 0 0",
                "oomScoreAdj -500");
    }
}
