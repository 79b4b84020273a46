package dev.vessel.view.fuse;

import java.util.Set;

/**
 * What a {@link FuseServer} serves: a fixed, read-only tree of files whose content is rendered
 * for the process that reads it. Implementations must be thread-safe: requests from many
 * containers are served at once.
 */
public interface FuseFileSystem {

    /**
     * The files, as absolute paths such as {@code /proc/meminfo}; the directories above them
     * are implied. Read once when the server starts.
     */
    Set<String> files();

    /** The whole content of {@code path} as the process {@code callerPid} should see it. */
    byte[] render(String path, long callerPid) throws Exception;

    /**
     * The content of {@code path} in the directory of container {@code container} (the number its
     * directory's name gives), read by {@code callerPid}: what every process of that container
     * should see, as the kernel may serve it to any of them from its cache. By default the
     * caller's render.
     */
    default byte[] render(String path, long callerPid, long container) throws Exception {
        return render(path, callerPid);
    }

    /**
     * What to serve when {@link #render} throws; {@code null} makes the read fail with EIO.
     * Must not throw.
     */
    default byte[] fallback(String path, long callerPid) {
        return null;
    }

    /**
     * The size stat(2) reports when serving per open. Readers of /proc read until EOF and the
     * server bypasses the page cache, so 0 (what /proc itself reports) is right for most files;
     * sysfs reports 4096. A cached server reports each render's own length.
     */
    default long size(String path) {
        return 0;
    }
}
