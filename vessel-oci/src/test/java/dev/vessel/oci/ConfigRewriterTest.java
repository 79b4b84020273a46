package dev.vessel.oci;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConfigRewriterTest {
    static final ViewPlan VIEW = new ViewPlan(Path.of("/run/vessel/view"), List.of("/proc/meminfo", "/sys/devices/system/cpu/online"),
            Path.of("/run/vessel/seccomp.sock"), List.of("sysinfo", "sched_getaffinity"));

    static BundleConfig config(String extra) {
        String json = "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"rootfs\"}, \"process\": {\"args\": [\"sh\"]}" + extra + "}";
        return BundleConfig.parse(Path.of("/b"), json.getBytes(StandardCharsets.UTF_8));
    }

    static List<String> texts(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    @Test
    void addsBindMountsOfTheRenderedFiles() {
        JsonNode tree = ConfigRewriter.forContainer(config(""), Isolation.CONTAINER, "c1", VIEW).tree();
        assertThat(tree.path("mounts")).hasSize(2);
        JsonNode meminfo = tree.path("mounts").get(0);
        assertThat(meminfo.path("destination").asText()).isEqualTo("/proc/meminfo");
        // a directory of its own: 12 hex digits under the mount
        assertThat(meminfo.path("source").asText()).matches("/run/vessel/view/[0-9a-f]{12}/proc/meminfo");
        assertThat(meminfo.path("type").asText()).isEqualTo("bind");
        assertThat(texts(meminfo.path("options"))).contains("bind", "ro");
        String source = meminfo.path("source").asText();
        String directory = source.substring(0, source.indexOf("/proc/"));
        assertThat(tree.path("mounts").get(1).path("source").asText()).isEqualTo(directory + "/sys/devices/system/cpu/online");
        String another = ConfigRewriter.forContainer(config(""), Isolation.CONTAINER, "c2", VIEW).tree()
                .path("mounts").get(0).path("source").asText();
        assertThat(another).as("each container's own directory").isNotEqualTo(source);
    }

    @Test
    void leavesAFileTheConfigAlreadyMountsAlone() {
        JsonNode tree = ConfigRewriter.forContainer(config(
                ", \"mounts\": [{\"destination\": \"/proc/meminfo\", \"type\": \"bind\", \"source\": \"/var/lib/lxcfs/proc/meminfo\"}]"),
                Isolation.CONTAINER, "c1", VIEW).tree();
        assertThat(tree.path("mounts")).hasSize(2);
        assertThat(tree.path("mounts").get(0).path("source").asText()).isEqualTo("/var/lib/lxcfs/proc/meminfo");
        assertThat(tree.path("mounts").get(1).path("destination").asText()).isEqualTo("/sys/devices/system/cpu/online");
    }

    @Test
    void trapsSysinfoWithANewProfileAndAffinityOnlyWhenAskedFor() {
        JsonNode seccomp = ConfigRewriter.forContainer(config(""), Isolation.CONTAINER, "c1", VIEW).tree().at("/linux/seccomp");
        assertThat(seccomp.path("defaultAction").asText()).isEqualTo("SCMP_ACT_ALLOW");
        assertThat(seccomp.path("listenerPath").asText()).isEqualTo("/run/vessel/seccomp.sock");
        assertThat(seccomp.path("listenerMetadata").asText()).isEqualTo("c1");
        assertThat(seccomp.path("syscalls")).hasSize(1);
        assertThat(texts(seccomp.at("/syscalls/0/names"))).containsExactly("sysinfo");
        assertThat(seccomp.at("/syscalls/0/action").asText()).isEqualTo("SCMP_ACT_NOTIFY");

        JsonNode withAffinity = ConfigRewriter.forContainer(config(", \"annotations\": {\"dev.vessel.view.affinity\": \"true\"}"),
                Isolation.CONTAINER, "c1", VIEW).tree().at("/linux/seccomp");
        assertThat(texts(withAffinity.at("/syscalls/0/names"))).containsExactly("sysinfo", "sched_getaffinity");
    }

    @Test
    void anExistingProfileKeepsItsRulesButNoLongerAllowsTheTrappedCalls() {
        String profile = ", \"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": ["
                + "{\"names\": [\"read\", \"sysinfo\", \"write\"], \"action\": \"SCMP_ACT_ALLOW\"},"
                + "{\"names\": [\"sysinfo\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": []},"
                + "{\"names\": [\"ptrace\"], \"action\": \"SCMP_ACT_ERRNO\"}]}}";
        JsonNode seccomp = ConfigRewriter.forContainer(config(profile), Isolation.CONTAINER, "c1", VIEW).tree().at("/linux/seccomp");
        assertThat(seccomp.path("defaultAction").asText()).isEqualTo("SCMP_ACT_ERRNO");
        assertThat(seccomp.path("syscalls")).hasSize(3);
        assertThat(texts(seccomp.at("/syscalls/0/names"))).containsExactly("sysinfo");
        assertThat(texts(seccomp.at("/syscalls/1/names"))).containsExactly("read", "write");
        assertThat(texts(seccomp.at("/syscalls/2/names"))).containsExactly("ptrace");
    }

    @Test
    void aProfileWithItsOwnListenerIsLeftAlone() {
        String profile = ", \"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\", \"listenerPath\": \"/theirs.sock\","
                + " \"syscalls\": [{\"names\": [\"mount\"], \"action\": \"SCMP_ACT_NOTIFY\"}]}}";
        JsonNode seccomp = ConfigRewriter.forContainer(config(profile), Isolation.CONTAINER, "c1", VIEW).tree().at("/linux/seccomp");
        assertThat(seccomp.path("listenerPath").asText()).isEqualTo("/theirs.sock");
        assertThat(texts(seccomp.at("/syscalls/0/names"))).containsExactly("mount");
    }

    @Test
    void optOutLeavesTheConfigWithoutTheView() {
        JsonNode tree = ConfigRewriter.forContainer(config(", \"annotations\": {\"dev.vessel.view\": \"false\"}"),
                Isolation.CONTAINER, "c1", VIEW).tree();
        assertThat(tree.has("mounts")).isFalse();
        assertThat(tree.at("/linux/seccomp").isMissingNode()).isTrue();
    }
}
