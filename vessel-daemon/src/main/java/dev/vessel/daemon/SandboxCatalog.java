package dev.vessel.daemon;

import dev.vessel.oci.Isolation;
import dev.vessel.runtime.ContainerDriver;
import dev.vessel.runtime.IsolationDriver;
import dev.vessel.runtime.OciState;
import dev.vessel.runtime.SandboxRecord;
import dev.vessel.runtime.SandboxStore;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Every sandbox this host's Vessel knows, of every isolation and every --root: what the
 * management API and the metrics read. The roots are those of the stores (each store's
 * {@code root} file names its --root) and the configured state_root; ids are unique per root only.
 */
final class SandboxCatalog {
    /** One sandbox: the --root it belongs to, Vessel's record and its state now. */
    record Entry(Path root, SandboxRecord record, OciState state) {
        Isolation isolation() {
            return record.isolation();
        }
    }

    /** What a lookup by id found: one sandbox, none, or one in each of several roots. */
    sealed interface Lookup {
        record Found(Entry entry) implements Lookup {}

        record Missing() implements Lookup {}

        record Ambiguous(List<Path> roots) implements Lookup {}
    }

    private final Call.Drivers drivers;
    private final Settings settings;

    SandboxCatalog(Call.Drivers drivers, Settings settings) {
        this.drivers = drivers;
        this.settings = settings;
    }

    IsolationDriver driver(Isolation isolation) {
        return drivers.of(isolation);
    }

    /** The --roots that have sandboxes: every store's, and the configured state_root. */
    List<Path> roots() {
        Set<Path> roots = new LinkedHashSet<>();
        if (Files.isDirectory(settings.stateRoot())) roots.add(settings.stateRoot());
        try (DirectoryStream<Path> stores = Files.newDirectoryStream(drivers.storeBase())) {
            for (Path store : stores) {
                StoreRoot.readRoot(store).ifPresent(roots::add);
            }
        } catch (IOException e) {
            // no store yet
        }
        return new ArrayList<>(roots);
    }

    /** A context of the daemon's own for one root: the store and the low-level runtime's --root. */
    IsolationDriver.Context context(Path root) {
        return new ApiContext(SandboxStore.forRoot(drivers.storeBase(), root),
                LowLevelRuntime.resolve(settings.lowLevelRuntime()).globalArgs(
                        new LowLevelRuntime.GlobalOptions(root, null, null, false, false, null)));
    }

    /** Every sandbox of every root; a root that cannot be read is left out (and logged). */
    List<Entry> list() {
        List<Entry> entries = new ArrayList<>();
        for (Path root : roots()) {
            try {
                entries.addAll(list(root));
            } catch (RuntimeException e) {
                Vesseld.log("management API: cannot list --root " + root + ": " + e.getMessage());
            }
        }
        return entries;
    }

    List<Entry> list(Path root) {
        IsolationDriver.Context context = context(root);
        List<Entry> entries = new ArrayList<>();
        Set<String> listed = new java.util.HashSet<>();
        if (Files.isDirectory(root)) {
            // from crun's state files: a scrape lists every root each time, and a `crun list` per root was a fork each
            for (OciState state : drivers.container().listFromStateFiles(context)) {
                SandboxRecord record = context.store().load(state.id()).orElse(
                        new SandboxRecord(state.id(), Isolation.CONTAINER, state.bundle(), state.rootfs(), state.created(),
                                state.owner(), state.annotations(), null, null));
                entries.add(new Entry(root, record, state));
                listed.add(state.id());
            }
        }
        for (SandboxRecord record : context.store().list()) {
            if (listed.contains(record.id()) || record.isolation() == Isolation.CONTAINER) continue;
            try {
                entries.add(new Entry(root, record, drivers.of(record.isolation()).state(context, record)));
            } catch (RuntimeException e) {
                Vesseld.log("management API: state of \"" + record.id() + "\": " + e.getMessage());
            }
        }
        return entries;
    }

    /** The sandbox {@code id} in {@code root}, or in whichever root has it. */
    Lookup find(String id, Path root) {
        List<Path> roots = root != null ? List.of(root) : roots();
        List<Entry> found = new ArrayList<>();
        for (Path r : roots) {
            IsolationDriver.Context context = context(r);
            Optional<SandboxRecord> record = context.store().load(id);
            if (record.isEmpty() && ContainerDriver.runtimeHas(context.store(), id)) {
                record = Optional.of(new SandboxRecord(id, Isolation.CONTAINER, null, null, null, null, Map.of(), null, null));
            }
            if (record.isEmpty()) continue;
            try {
                found.add(new Entry(r, record.get(), drivers.of(record.get().isolation()).state(context, record.get())));
            } catch (RuntimeException e) {
                // a record being created or removed meanwhile: not there
            }
        }
        if (found.isEmpty()) return new Lookup.Missing();
        if (found.size() > 1) return new Lookup.Ambiguous(found.stream().map(Entry::root).toList());
        return new Lookup.Found(found.getFirst());
    }

    /** A store directory's --root, from its {@code root} file. */
    static final class StoreRoot {
        static Optional<Path> readRoot(Path store) {
            try {
                String text = Files.readString(store.resolve("root")).strip();
                return text.isEmpty() ? Optional.empty() : Optional.of(Path.of(text));
            } catch (IOException | RuntimeException e) {
                return Optional.empty();
            }
        }
    }

    /** The drivers' context for a call of the daemon's own (no client behind it). */
    record ApiContext(SandboxStore store, List<String> runtimeArgv) implements IsolationDriver.Context {
        @Override
        public List<String> env() {
            return List.of("PATH=" + System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"));
        }

        @Override
        public long clientPid() {
            return ProcessHandle.current().pid();
        }

        @Override
        public List<String> globalArgs() {
            return List.of("--root", store.root().toString());
        }
    }
}
