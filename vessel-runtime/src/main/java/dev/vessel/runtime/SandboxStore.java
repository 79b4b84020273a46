package dev.vessel.runtime;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vessel.oci.OciException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Vessel's own records of the sandboxes of one {@code --root}: one JSON file per sandbox in a
 * directory of Vessel's ({@code <base>/<hash of the root>/}), never inside the low-level
 * runtime's state directory. Writes are atomic (a temporary file renamed over the record);
 * {@link #lock} serialises every read-modify-write of one sandbox, within this daemon and
 * against any other process that takes the same lock.
 */
public final class SandboxStore {
    public static final Path DEFAULT_BASE = Path.of("/run/vessel/sandboxes");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String SUFFIX = ".json";
    private static final ConcurrentHashMap<Path, ReentrantLock> LOCKS = new ConcurrentHashMap<>();

    private final Path root;
    private final Path dir;

    private SandboxStore(Path root, Path dir) {
        this.root = root;
        this.dir = dir;
    }

    /** The store of the sandboxes created with {@code --root root}. */
    public static SandboxStore forRoot(Path base, Path root) {
        return new SandboxStore(root, base.resolve(hash(root.toAbsolutePath().normalize().toString())));
    }

    public Path root() {
        return root;
    }

    public Path dir() {
        return dir;
    }

    public Optional<SandboxRecord> load(String id) {
        try {
            return Optional.of(JSON.readValue(Files.readAllBytes(file(id)), SandboxRecord.class));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new OciException("sandbox \"" + id + "\": its record " + file(id) + " cannot be read: "
                    + e.getMessage().lines().findFirst().orElse(""));
        }
    }

    public void save(SandboxRecord record) {
        Path target = file(record.id());
        try {
            byte[] bytes = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(record);
            for (int attempt = 0; ; attempt++) {
                try {
                    Files.createDirectories(dir);
                    Path tmp = dir.resolve("." + record.id() + SUFFIX + ".tmp");
                    Files.write(tmp, bytes);
                    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
                    break;
                } catch (NoSuchFileException e) {
                    if (attempt == 2) throw e; // the directory was removed (last record gone) meanwhile
                }
            }
            Path rootFile = dir.resolve("root");
            if (!Files.exists(rootFile)) Files.writeString(rootFile, root + "\n"); // for people: which --root
        } catch (FileAlreadyExistsException e) {
            throw new OciException("sandbox store " + dir + ": " + e.getFile() + " is in the way");
        } catch (IOException e) {
            throw new OciException("cannot write the record of \"" + record.id() + "\" in " + dir + ": " + e.getMessage());
        }
    }

    /** Removes the record; the directory goes with the last one, so that a --root used once leaves nothing. */
    public void remove(String id) {
        try {
            Files.deleteIfExists(file(id));
            Files.deleteIfExists(lockFile(id));
            try (DirectoryStream<Path> rest = Files.newDirectoryStream(dir, "*" + SUFFIX)) {
                if (!rest.iterator().hasNext()) {
                    Files.deleteIfExists(dir.resolve("root"));
                    Files.deleteIfExists(dir);
                }
            }
        } catch (NoSuchFileException | java.nio.file.DirectoryNotEmptyException e) {
            // a record saved meanwhile keeps the directory
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public List<SandboxRecord> list() {
        List<SandboxRecord> records = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "[!.]*" + SUFFIX)) {
            for (Path f : files) {
                String name = f.getFileName().toString();
                load(name.substring(0, name.length() - SUFFIX.length())).ifPresent(records::add);
            }
        } catch (NoSuchFileException e) {
            return records;
        } catch (IOException e) {
            throw new OciException("cannot list " + dir + ": " + e.getMessage());
        }
        records.sort(java.util.Comparator.comparing(SandboxRecord::created, java.util.Comparator.nullsFirst(String::compareTo))
                .thenComparing(SandboxRecord::id));
        return records;
    }

    /** Held by every operation that reads, changes and writes back one sandbox's record. */
    public Lock lock(String id) {
        Path path = lockFile(id);
        ReentrantLock local = LOCKS.computeIfAbsent(path, p -> new ReentrantLock());
        local.lock();
        try {
            if (local.getHoldCount() > 1) return new Lock(local, null, null, null); // nested: the file lock is held already
            Files.createDirectories(dir);
            FileChannel channel = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            // released with no record (an id that was not there, one deleted meanwhile, a create
            // that failed): the lock's file goes too, and the directory with the last of them
            return new Lock(local, channel, channel.lock(), () -> {
                if (!Files.exists(file(id))) remove(id);
            });
        } catch (IOException | RuntimeException e) {
            local.unlock();
            throw new OciException("cannot lock \"" + id + "\" in " + dir + ": " + e.getMessage());
        }
    }

    public static final class Lock implements AutoCloseable {
        private final ReentrantLock local;
        private final FileChannel channel;
        private final FileLock lock;
        private final Runnable beforeRelease;

        private Lock(ReentrantLock local, FileChannel channel, FileLock lock, Runnable beforeRelease) {
            this.local = local;
            this.channel = channel;
            this.lock = lock;
            this.beforeRelease = beforeRelease;
        }

        @Override
        public void close() {
            try {
                if (beforeRelease != null) {
                    try {
                        beforeRelease.run();
                    } catch (RuntimeException e) {
                        // a file left behind: the next operation on this id removes it
                    }
                }
                if (lock != null) lock.release();
                if (channel != null) channel.close();
            } catch (IOException ignored) {
                // closing releases the lock anyway
            } finally {
                local.unlock();
            }
        }
    }

    private Path file(String id) {
        return dir.resolve(id + SUFFIX);
    }

    private Path lockFile(String id) {
        return dir.resolve("." + id + ".lock");
    }

    static String hash(String text) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
