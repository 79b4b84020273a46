package dev.vessel.runtime.vm;

import dev.vessel.linux.Command;
import dev.vessel.linux.Log;
import dev.vessel.linux.Tools;
import dev.vessel.oci.OciException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A containerDisk's image from a registry ({@code HOST[:PORT]/NAME[:TAG][@sha256:…]}, optionally
 * {@code docker://…}), read with Debian's skopeo: its manifest digest asked for (or taken from the
 * reference), the image copied once per digest into a {@code dir:} layout, and its disk taken out as
 * from an OCI archive ({@link DiskSources#fromLayers}). The cache ({@code <vms>/.images}) holds the disk
 * as {@code <digest>.img} and, per reference, the digest it last resolved to ({@code refs/<sha256 of
 * the reference>}), so that IfNotPresent (Kubernetes' default for a tag other than latest) starts a VM
 * again without the registry. A registry on a loopback address is spoken to over plain HTTP as well as
 * HTTPS, as Docker treats 127.0.0.0/8 as an insecure registry by default.
 */
final class Registries {
    /** docker's reference grammar, simplified: [DOMAIN/]PATH[:TAG][@DIGEST]. */
    private static final Pattern REFERENCE = Pattern.compile(
            "(?:([A-Za-z0-9.-]+(?::[0-9]+)?|\\[[0-9a-fA-F:]+\\](?::[0-9]+)?)/)?"
                    + "([a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
                    + "(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(sha256:[0-9a-f]{64}))?");
    static final String DOCKER = "docker://";
    private static final Duration INSPECT_TIMEOUT = Duration.ofMinutes(2);
    private static final Duration PULL_TIMEOUT = Duration.ofMinutes(30);

    private Registries() {}

    /** A reference taken apart; {@code domain} null for Docker Hub's short names. */
    record Reference(String domain, String path, String tag, String digest) {
        /** The repository without tag or digest, as skopeo names it. */
        String repository() {
            return domain == null ? path : domain + "/" + path;
        }

        /** Docker's default insecure registries: a loopback host (127.0.0.0/8, ::1, localhost). */
        boolean loopback() {
            if (domain == null) return false;
            String host = domain.startsWith("[") ? domain.substring(1, domain.indexOf(']')) : domain.replaceFirst(":[0-9]+$", "");
            return host.equals("localhost") || host.matches("127(\\.[0-9]{1,3}){3}") || host.equals("::1");
        }

        /** Kubernetes' default pull policy: Always for latest (or no tag), else IfNotPresent. */
        String defaultPullPolicy() {
            return digest == null && (tag == null || tag.equals("latest")) ? "Always" : "IfNotPresent";
        }
    }

    /** Why {@code image} is no registry reference, or null when it is one. */
    static String invalid(String image) {
        return parse(image) == null ? "a registry reference (HOST[:PORT]/NAME[:TAG], or docker://…), the absolute path of a disk"
                + " image file, or oci-archive:/PATH" : null;
    }

    static Reference parse(String image) {
        String ref = image.startsWith(DOCKER) ? image.substring(DOCKER.length()) : image;
        Matcher m = REFERENCE.matcher(ref);
        if (!m.matches()) return null;
        String domain = m.group(1);
        String path = m.group(2);
        if (domain != null && !domain.contains(".") && !domain.contains(":") && !domain.startsWith("[") && !domain.equals("localhost")) {
            // "library/busybox": the first part is a path component of Docker Hub, not a host
            if (!domain.equals(domain.toLowerCase())) return null;
            path = domain + "/" + path;
            domain = null;
        }
        return new Reference(domain, path, m.group(3), m.group(4));
    }

    /**
     * The disk of registry image {@code image} in {@code cache} (pulled when the pull policy says so);
     * every failure one line starting with {@code field}.
     */
    static Path disk(Path cache, String image, String inImagePath, String pullPolicy, String field) throws IOException {
        Reference ref = parse(image);
        if (ref == null) throw new OciException(field + ": Invalid value: \"" + image + "\": " + invalid(image));
        String policy = pullPolicy != null ? pullPolicy : ref.defaultPullPolicy();
        Files.createDirectories(cache.resolve("refs"));
        Path refFile = cache.resolve("refs").resolve(sha256(ref.repository() + (ref.tag() == null ? "" : ":" + ref.tag())
                + (ref.digest() == null ? "" : "@" + ref.digest())));
        String digest = ref.digest();
        if (digest == null && !policy.equals("Always") && Files.isRegularFile(refFile)) {
            digest = Files.readString(refFile).strip();
        }
        if (digest != null && !policy.equals("Always") && Files.isRegularFile(cached(cache, digest))) return cached(cache, digest);
        if (policy.equals("Never")) {
            throw new OciException(field + ": \"" + image + "\" is not in the image cache " + cache + " (imagePullPolicy Never)");
        }
        if (ref.digest() == null) {
            digest = skopeo(field, image, ref, List.of("inspect", "--no-tags", "--format", "{{.Digest}}"), DOCKER + ref.repository()
                    + (ref.tag() == null ? ":latest" : ":" + ref.tag()), null, INSPECT_TIMEOUT).strip();
            if (!digest.matches("sha256:[0-9a-f]{64}")) {
                throw new OciException(field + ": \"" + image + "\": the registry gave no sha256 digest (\"" + digest + "\")");
            }
        }
        Path disk = cached(cache, digest);
        if (!Files.isRegularFile(disk)) {
            Path work = Files.createTempDirectory(cache, ".pull-"); // beside the cache: the disk is moved, not copied
            try {
                Path layout = work.resolve("image");
                // by digest: the image the tag named a moment ago, even if the tag moves meanwhile
                skopeo(field, image, ref, List.of("copy", "--quiet"), DOCKER + ref.repository() + "@" + digest, "dir:" + layout,
                        PULL_TIMEOUT);
                byte[] manifest = Files.readAllBytes(layout.resolve("manifest.json"));
                DiskSources.fromLayers(cache, digest, manifest, hex -> layout.resolve(hex), inImagePath, field, "\"" + image + "\"");
                Log.info("containerDisk " + image + ": pulled " + digest + " into " + disk);
            } finally {
                VmDriver.deleteTree(work);
            }
        }
        DiskSources.writeQuietly(refFile, digest + "\n");
        return disk;
    }

    private static Path cached(Path cache, String digest) {
        return cache.resolve(digest.substring("sha256:".length()) + ".img");
    }

    /** Runs skopeo VERB … SOURCE [DEST]; its output, or one line saying why it failed. */
    private static String skopeo(String field, String image, Reference ref, List<String> verb, String source, String dest,
            Duration timeout) throws IOException {
        List<String> argv = new ArrayList<>();
        argv.add(Tools.find("skopeo"));
        argv.addAll(verb);
        if (ref.loopback()) argv.add(verb.getFirst().equals("copy") ? "--src-tls-verify=false" : "--tls-verify=false");
        argv.add(source);
        if (dest != null) argv.add(dest);
        Command.Result r;
        try {
            r = Command.run(argv, "", timeout);
        } catch (Command.TimeoutException e) {
            throw new OciException(field + ": \"" + image + "\": skopeo " + verb.getFirst() + " did not finish within "
                    + timeout.toMinutes() + " min");
        } catch (IOException e) {
            throw new OciException(field + ": \"" + image + "\": skopeo: " + e.getMessage() + " (apt-get install skopeo)");
        }
        if (r.status() != 0) throw new OciException(field + ": \"" + image + "\": " + reason(r.output()));
        return r.output();
    }

    /** skopeo's fatal message (logrus: {@code level=fatal msg="…"}), its "Error parsing image name …:" prefixes dropped. */
    static String reason(String output) {
        Matcher m = Pattern.compile("msg=\"((?:[^\"\\\\]|\\\\.)*)\"").matcher(output);
        String msg = null;
        while (m.find()) msg = m.group(1);
        if (msg == null) {
            msg = output.lines().filter(l -> !l.isBlank()).reduce((a, b) -> b).orElse("skopeo failed").strip();
        }
        msg = msg.replace("\\\"", "\"").replace("\\\\", "\\");
        msg = msg.replaceAll("^(?:Error parsing image name|Error initializing source|initializing source) \"?docker://[^\" ]*\"?: ", "");
        return msg.lines().findFirst().orElse(msg).strip();
    }

    private static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
