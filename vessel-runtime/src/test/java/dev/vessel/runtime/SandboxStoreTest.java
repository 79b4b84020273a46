package dev.vessel.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vessel.oci.Isolation;
import dev.vessel.oci.OciException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SandboxStoreTest {
    @TempDir Path base;

    private static SandboxRecord record(String id, String created) {
        return new SandboxRecord(id, Isolation.MICROVM, "/b/" + id, "/b/" + id + "/rootfs", created, "root",
                Map.of("a", "b"), Status.CREATED, new MicroVmState("/run/vessel/vm/x", 304, 1, "tcg", 10, 11, false, 0,
                        null, null, null, List.of(new MicroVmState.Nic("eth0", "02:00:00:00:00:01", "tap0_vessel")),
                        null, null, null, null));
    }

    @Test
    void eachRootHasItsOwnDirectoryOutsideTheRoot() {
        SandboxStore a = SandboxStore.forRoot(base, Path.of("/run/containerd/runc/default"));
        SandboxStore b = SandboxStore.forRoot(base, Path.of("/run/containerd/runc/k8s.io"));
        assertThat(a.dir()).isNotEqualTo(b.dir()).startsWithRaw(base);
        assertThat(SandboxStore.forRoot(base, Path.of("/run/containerd/runc/default/")).dir()).isEqualTo(a.dir());
    }

    @Test
    void recordsRoundTripAndTheLastOneTakesTheDirectoryWithIt() throws Exception {
        SandboxStore store = SandboxStore.forRoot(base, Path.of("/r"));
        SandboxRecord vm = record("vm1", "2026-12-01T10:00:00Z");
        store.save(vm);
        store.save(record("vm0", "2026-12-01T09:00:00Z"));
        assertThat(store.load("vm1")).contains(vm);
        assertThat(store.list()).extracting(SandboxRecord::id).containsExactly("vm0", "vm1"); // by creation
        assertThat(Files.readString(store.dir().resolve("root")).strip()).isEqualTo("/r");
        store.remove("vm0");
        store.remove("vm1");
        assertThat(store.load("vm1")).isEmpty();
        assertThat(store.dir()).doesNotExist();
        assertThat(store.list()).isEmpty();
    }

    @Test
    void aWriteIsAtomicAndLeavesNoTemporaryFile() throws Exception {
        SandboxStore store = SandboxStore.forRoot(base, Path.of("/r"));
        store.save(record("c", "2026-12-01T10:00:00Z"));
        store.save(record("c", "2026-12-01T10:00:00Z").withStatus(Status.RUNNING));
        try (var files = Files.list(store.dir())) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("c.json", "root");
        }
        assertThat(store.load("c").orElseThrow().status()).isEqualTo(Status.RUNNING);
    }

    @Test
    void aLockOfAnIdWithNoRecordLeavesNoFileBehind() throws Exception {
        SandboxStore store = SandboxStore.forRoot(base, Path.of("/r"));
        try (var lock = store.lock("nosuch")) {
            assertThat(store.dir().resolve(".nosuch.lock")).exists();
        }
        assertThat(store.dir()).as("state or delete of an id that is not there").doesNotExist();
        store.save(record("a", "2026-12-01T10:00:00Z"));
        try (var lock = store.lock("a")) {
            store.save(record("a", "2026-12-01T10:00:00Z").withStatus(Status.RUNNING));
        }
        try (var lock = store.lock("b")) {
            store.save(record("b", "2026-12-01T10:00:00Z"));
            store.remove("b"); // a create that failed
        }
        try (var files = Files.list(store.dir())) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("a.json", ".a.lock", "root");
        }
        try (var lock = store.lock("a")) {
            store.remove("a");
        }
        assertThat(store.dir()).doesNotExist();
    }

    @Test
    void aDamagedRecordIsOneLineNamingIt() throws Exception {
        SandboxStore store = SandboxStore.forRoot(base, Path.of("/r"));
        Files.createDirectories(store.dir());
        Files.writeString(store.dir().resolve("bad.json"), "{not json");
        assertThatThrownBy(() -> store.load("bad")).isInstanceOf(OciException.class).hasMessageContaining("bad.json");
    }

    @Test
    void theLockSerialisesReadModifyWrite() throws Exception {
        SandboxStore store = SandboxStore.forRoot(base, Path.of("/r"));
        SandboxRecord first = record("vm", "2026-12-01T10:00:00Z");
        store.save(first);
        ExecutorService pool = Executors.newFixedThreadPool(8);
        AtomicInteger done = new AtomicInteger();
        for (int i = 0; i < 200; i++) {
            pool.execute(() -> {
                try (SandboxStore.Lock lock = store.lock("vm")) {
                    SandboxRecord r = store.load("vm").orElseThrow();
                    store.save(r.withMicrovm(r.microvm().withExecs(r.microvm().execs() + 1)));
                    done.incrementAndGet();
                }
            });
        }
        pool.shutdown();
        assertThat(pool.awaitTermination(60, TimeUnit.SECONDS)).isTrue();
        assertThat(done.get()).isEqualTo(200);
        assertThat(store.load("vm").orElseThrow().microvm().execs()).isEqualTo(200); // no update lost
    }
}
