package dev.vessel.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vessel.oci.OciException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class UsersTest {
    @TempDir Path rootfs;

    @BeforeEach
    void etc() throws Exception {
        Files.createDirectories(rootfs.resolve("etc"));
        Files.writeString(rootfs.resolve("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
                + "app:x:1000:1000::/srv/app:/bin/sh\n");
        Files.writeString(rootfs.resolve("etc/group"), "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nwheel:x:10:app,root\n");
    }

    @Test
    void namesResolveInTheContainersFiles() {
        assertThat(Users.resolve(rootfs, "nobody")).isEqualTo(new Users.User(65534, 65534, List.of(), "/home"));
        assertThat(Users.resolve(rootfs, "app")).isEqualTo(new Users.User(1000, 1000, List.of(10L), "/srv/app"));
        assertThat(Users.resolve(rootfs, "app:wheel").gid()).isEqualTo(10);
        assertThat(Users.resolve(rootfs, "1000:1000").home()).isEqualTo("/srv/app");
    }

    @Test
    void numbersNeedNoEntry() {
        assertThat(Users.resolve(rootfs, "4242:4343")).isEqualTo(new Users.User(4242, 4343, List.of(), null));
    }

    @Test
    void anUnknownNameIsOneLine() {
        assertThatThrownBy(() -> Users.resolve(rootfs, "nosuch")).isInstanceOf(OciException.class)
                .hasMessage("user \"nosuch\" is not in the container's /etc/passwd");
        assertThatThrownBy(() -> Users.resolve(rootfs, "app:nosuch")).isInstanceOf(OciException.class)
                .hasMessageContaining("group \"nosuch\"");
    }
}
