package dev.vessel.runtime.vm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vessel.linux.Command;
import dev.vessel.linux.Log;
import dev.vessel.oci.OciException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The files behind a VM's disks, made for each run in the VM's directory:
 * <ul>
 *   <li>containerDisk: {@code image} is the absolute path of a disk image file on the host (raw
 *       or qcow2, as {@code qemu-img info} says), {@code oci-archive:PATH}, an OCI image-layout
 *       tar holding a KubeVirt containerDisk (its one file under {@code /disk/}, or the image's
 *       {@code path}), or a registry reference ({@link Registries}, pulled with skopeo): that file is
 *       taken out once into {@code <vms>/.images/<manifest digest>.img}. The run gets a qcow2 overlay
 *       on the image ({@code run-VOLUME.qcow2}), so the image itself is never written;</li>
 *   <li>ephemeral: the claim's name is the path of a disk file; an overlay as for containerDisk;</li>
 *   <li>hostDisk: the file itself, raw, persistent; DiskOrCreate makes it sparse with its capacity;</li>
 *   <li>emptyDisk: a blank qcow2 of its capacity ({@code run-VOLUME.qcow2});</li>
 *   <li>cloudInitNoCloud: a NoCloud seed ISO labelled {@code cidata} ({@code run-VOLUME.iso}, made
 *       with genisoimage) holding meta-data (instance-id, local-hostname), user-data and network-config.</li>
 * </ul>
 * Everything named {@code run-*} goes when the run ends.
 */
final class DiskSources {
    static final String RUN_PREFIX = "run-";
    private static final ObjectMapper JSON = new ObjectMapper();

    private DiskSources() {}

    /** A disk's file and its format (raw or qcow2); {@code created}: a hostDisk made now (DiskOrCreate). */
    record Prepared(Path path, String format, boolean created) {
        Prepared(Path path, String format) {
            this(path, format, false);
        }
    }

    static final String OCI_ARCHIVE = "oci-archive:";

    /** Whether a containerDisk's image is a registry reference (neither a host path nor an OCI archive). */
    static boolean fromRegistry(VmPlan.ContainerDiskSource c) {
        return !c.image().startsWith("/") && !c.image().startsWith(OCI_ARCHIVE);
    }

    /** The image file (or OCI archive) of a local containerDisk, checked: it exists and is a regular file. */
    static Path imageFile(VmPlan.ContainerDiskSource c) {
        String image = c.image();
        if (image.startsWith(OCI_ARCHIVE)) image = image.substring(OCI_ARCHIVE.length());
        if (!image.startsWith("/")) {
            throw new OciException(c.field() + ": Invalid value: \"" + c.image() + "\": oci-archive: takes the absolute path of an OCI archive");
        }
        Path p = Path.of(image);
        if (!Files.isRegularFile(p)) throw new OciException(c.field() + ": " + image + " does not exist");
        return p;
    }

    /** The disk behind a containerDisk: the file itself, taken out of an OCI archive, or pulled from a registry. */
    static Path containerDisk(Path cache, VmPlan.ContainerDiskSource c) throws IOException {
        if (fromRegistry(c)) return Registries.disk(cache, c.image(), c.path(), c.pullPolicy(), c.field());
        if (c.image().startsWith(OCI_ARCHIVE)) return fromArchive(cache, imageFile(c), c.path(), c.field());
        return imageFile(c);
    }

    static Prepared prepare(Path dir, String vm, VmPlan.PlannedDisk disk) throws IOException {
        String volume = disk.name();
        return switch (disk.source()) {
            case VmPlan.ContainerDiskSource c -> overlay(dir, volume, containerDisk(dir.getParent().resolve(".images"), c));
            case VmPlan.EphemeralSource e -> overlay(dir, volume, Path.of(e.path()));
            case VmPlan.HostDiskSource h -> {
                Path p = Path.of(h.path());
                if (Files.exists(p)) yield new Prepared(p, "raw");
                if (!h.create()) throw new OciException("volume \"" + volume + "\": hostDisk " + p + " does not exist");
                try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
                    f.setLength(h.capacityBytes());
                }
                Log.info("vm " + vm + ": made hostDisk " + p + " (" + h.capacityBytes() + " bytes, sparse)");
                yield new Prepared(p, "raw", true);
            }
            case VmPlan.EmptyDiskSource e -> {
                Path p = dir.resolve(RUN_PREFIX + volume + ".qcow2");
                qemuImg(List.of("qemu-img", "create", "-q", "-f", "qcow2", p.toString(), Long.toString(e.capacityBytes())));
                yield new Prepared(p, "qcow2");
            }
            case VmPlan.CloudInitSource c -> new Prepared(seed(dir, vm, volume, c), "raw");
        };
    }

    /**
     * The disk of a containerDisk in an OCI image-layout archive: index.json's first manifest, its
     * disk found by {@link #fromLayers}, taken out once per manifest digest into {@code cache}.
     */
    static Path fromArchive(Path cache, Path archive, String path, String field) throws IOException {
        Files.createDirectories(cache);
        Path work = Files.createTempDirectory(cache, ".work-"); // beside the cache: the disk is moved, not copied
        try {
            // members are "index.json" or "./index.json", as the archive was made
            Command.Result listing = Command.run(List.of("tar", "-tf", archive.toString()), "", Duration.ofMinutes(10));
            if (listing.status() != 0) throw new OciException(field + ": " + archive + " is not a tar archive (" + listing.firstLine() + ")");
            String prefix = listing.output().lines().anyMatch("./index.json"::equals) ? "./" : "";
            tar(List.of("tar", "-xf", archive.toString(), "-C", work.toString(), prefix + "index.json"), archive, field);
            JsonNode index = JSON.readTree(work.resolve("index.json").toFile());
            String manifestDigest = index.path("manifests").path(0).path("digest").asText("");
            if (!manifestDigest.startsWith("sha256:")) throw new OciException(field + ": " + archive + ": index.json names no sha256 manifest");
            Path cached = cache.resolve(manifestDigest.substring(7) + ".img");
            if (Files.isRegularFile(cached)) return cached;
            String manifestBlob = "blobs/sha256/" + manifestDigest.substring(7);
            tar(List.of("tar", "-xf", archive.toString(), "-C", work.toString(), prefix + manifestBlob), archive, field);
            return fromLayers(cache, manifestDigest, Files.readAllBytes(work.resolve(manifestBlob)), hex -> {
                String blob = "blobs/sha256/" + hex;
                tar(List.of("tar", "-xf", archive.toString(), "-C", work.toString(), prefix + blob), archive, field);
                return work.resolve(blob);
            }, path, field, archive.toString());
        } finally {
            VmDriver.deleteTree(work);
        }
    }

    /** A layer's blob as a file, by its sha256 (hex). */
    interface Blobs {
        Path blob(String hex) throws IOException;
    }

    /**
     * KubeVirt's containerDisk rules on an image's layers (its manifest, OCI or Docker v2): the file
     * {@code path} when given, else the one file under {@code /disk/} (more than one is refused),
     * searched from the top layer down; moved into {@code cache} as {@code <manifest digest>.img}.
     */
    static Path fromLayers(Path cache, String manifestDigest, byte[] manifest, Blobs blobs, String path, String field, String image)
            throws IOException {
        Path cached = cache.resolve(manifestDigest.substring("sha256:".length()) + ".img");
        Path work = Files.createTempDirectory(cache, ".layers-");
        try {
            JsonNode layers = JSON.readTree(manifest).path("layers");
            String inImage = path == null ? null : path.replaceFirst("^/+", "");
            for (int i = layers.size() - 1; i >= 0; i--) {
                Path blob = blobs.blob(layers.get(i).path("digest").asText("").replaceFirst("^sha256:", ""));
                Path out = Files.createDirectories(work.resolve("layer" + i));
                // GNU tar finds the layer's compression itself; only the disk's entries are taken out
                Command.run(List.of("tar", "-xf", blob.toString(), "-C", out.toString(), "--wildcards",
                        inImage != null ? inImage : "disk/*"), "", Duration.ofMinutes(10));
                Files.deleteIfExists(blob);
                Path found = null;
                if (inImage != null) {
                    if (Files.isRegularFile(out.resolve(inImage))) found = out.resolve(inImage);
                } else if (Files.isDirectory(out.resolve("disk"))) {
                    try (var files = Files.list(out.resolve("disk"))) {
                        List<Path> disks = files.filter(Files::isRegularFile).toList();
                        if (disks.size() > 1) {
                            throw new OciException(field + ": " + image + " holds " + disks.size()
                                    + " files under /disk/: name one with containerDisk.path");
                        }
                        if (!disks.isEmpty()) found = disks.getFirst();
                    }
                }
                if (found != null) {
                    Path tmp = cache.resolve("." + cached.getFileName() + ".tmp");
                    Files.move(found, tmp, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                    Files.move(tmp, cached, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                    return cached;
                }
                VmDriver.deleteTree(out);
            }
            throw new OciException(field + ": " + image + " holds no "
                    + (inImage != null ? "/" + inImage : "disk under /disk/") + " (a KubeVirt containerDisk image)");
        } finally {
            VmDriver.deleteTree(work);
        }
    }

    /** Writes a small cache file; a failure is logged (the cache works without it). */
    static void writeQuietly(Path file, String content) {
        try {
            VmDriver.writeAtomically(file, content.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        } catch (RuntimeException e) {
            Log.info("vm: " + file + ": " + e.getMessage());
        }
    }

    private static void tar(List<String> argv, Path archive, String field) throws IOException {
        Command.Result r = Command.run(argv, "", Duration.ofMinutes(10));
        if (r.status() != 0) throw new OciException(field + ": " + archive + " is not an OCI image archive (" + r.firstLine() + ")");
    }

    private static Prepared overlay(Path dir, String volume, Path image) throws IOException {
        Path p = dir.resolve(RUN_PREFIX + volume + ".qcow2");
        String format = format(image);
        qemuImg(List.of("qemu-img", "create", "-q", "-f", "qcow2", "-F", format, "-b", image.toAbsolutePath().toString(),
                p.toString()));
        return new Prepared(p, "qcow2");
    }

    /** raw or qcow2, as qemu-img reads the file. */
    static String format(Path image) throws IOException {
        Command.Result r = Command.run(List.of("qemu-img", "info", "--output=json", "-U", image.toString()), "", Duration.ofSeconds(30));
        if (r.status() != 0) throw new OciException("qemu-img info " + image + ": " + r.firstLine());
        JsonNode info = JSON.readTree(r.output().substring(Math.max(0, r.output().indexOf('{'))));
        String format = info.path("format").asText("raw");
        if (!format.equals("raw") && !format.equals("qcow2")) {
            throw new OciException("disk image " + image + " is " + format + " (raw and qcow2 are supported)");
        }
        return format;
    }

    private static Path seed(Path dir, String vm, String volume, VmPlan.CloudInitSource c) throws IOException {
        Path work = dir.resolve(RUN_PREFIX + volume + ".d");
        Files.createDirectories(work);
        try {
            Files.writeString(work.resolve("meta-data"), "instance-id: " + vm + "\nlocal-hostname: " + vm + "\n");
            Files.writeString(work.resolve("user-data"), c.userData() == null ? "" : c.userData());
            List<String> files = new ArrayList<>(List.of("meta-data", "user-data"));
            if (c.networkData() != null) {
                Files.writeString(work.resolve("network-config"), c.networkData());
                files.add("network-config");
            }
            Path iso = dir.resolve(RUN_PREFIX + volume + ".iso");
            List<String> argv = new ArrayList<>(List.of("genisoimage", "-quiet", "-output", iso.toString(), "-volid", "cidata",
                    "-joliet", "-rock"));
            files.forEach(f -> argv.add(work.resolve(f).toString()));
            Command.Result r = Command.run(argv, "", Duration.ofSeconds(60));
            if (r.status() != 0) throw new OciException("genisoimage (the cloud-init seed): " + r.firstLine());
            return iso;
        } finally {
            VmDriver.deleteTree(work);
        }
    }

    private static void qemuImg(List<String> argv) throws IOException {
        Command.Result r;
        try {
            r = Command.run(argv, "", Duration.ofSeconds(60));
        } catch (IOException e) {
            throw new OciException("qemu-img: " + e.getMessage() + " (apt-get install qemu-utils)");
        }
        if (r.status() != 0) throw new OciException("qemu-img: " + r.firstLine());
    }

    /** The file a run already made for {@code disk} (a migration's target: linked from the source's run). */
    static Prepared existing(Path dir, VmPlan.PlannedDisk disk) {
        String volume = disk.name();
        Prepared p = switch (disk.source()) {
            case VmPlan.HostDiskSource h -> new Prepared(Path.of(h.path()), "raw");
            case VmPlan.CloudInitSource c -> new Prepared(dir.resolve(RUN_PREFIX + volume + ".iso"), "raw");
            default -> new Prepared(dir.resolve(RUN_PREFIX + volume + ".qcow2"), "qcow2");
        };
        if (!Files.isRegularFile(p.path())) throw new OciException("volume \"" + volume + "\": " + p.path() + " does not exist");
        return p;
    }

    /** Removes every file a run made ({@code run-*}). */
    static void removeRunFiles(Path dir) {
        if (!Files.isDirectory(dir)) return;
        try (var files = Files.list(dir)) {
            files.filter(f -> f.getFileName().toString().startsWith(RUN_PREFIX)).forEach(VmDriver::deleteTree);
        } catch (IOException e) {
            Log.info("vm: " + dir + ": " + e.getMessage());
        }
    }
}
