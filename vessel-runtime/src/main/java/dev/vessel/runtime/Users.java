package dev.vessel.runtime;

import dev.vessel.oci.OciException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code --user NAME|UID[:GROUP|GID]} resolved in a container's own /etc/passwd and /etc/group,
 * as runc and crun do: a name must be there, a number need not; the user's supplementary groups
 * and home come from there too.
 */
public final class Users {
    private Users() {
    }

    public record User(long uid, long gid, List<Long> additionalGids, String home) {}

    public static User resolve(Path rootfs, String spec) {
        String[] parts = spec.split(":", 2);
        String userPart = parts[0];
        List<String[]> passwd = entries(rootfs.resolve("etc/passwd"));
        List<String[]> groups = entries(rootfs.resolve("etc/group"));
        String[] entry = null;
        for (String[] e : passwd) {
            if (e.length >= 4 && (e[0].equals(userPart) || e[2].equals(userPart))) {
                entry = e;
                break;
            }
        }
        long uid;
        long gid;
        String home = null;
        if (entry != null) {
            uid = number(entry[2], "uid of " + entry[0]);
            gid = number(entry[3], "gid of " + entry[0]);
            home = entry.length > 5 ? entry[5] : null;
        } else if (isNumber(userPart)) {
            uid = Long.parseLong(userPart);
            gid = 0;
        } else {
            throw new OciException("user \"" + userPart + "\" is not in the container's /etc/passwd");
        }
        if (parts.length > 1) {
            gid = group(groups, parts[1]);
        }
        List<Long> additional = new ArrayList<>();
        if (entry != null) {
            for (String[] g : groups) {
                if (g.length >= 4 && List.of(g[3].split(",")).contains(entry[0])) {
                    long id = number(g[2], "gid of group " + g[0]);
                    if (id != gid && !additional.contains(id)) additional.add(id);
                }
            }
        }
        return new User(uid, gid, additional, home);
    }

    private static long group(List<String[]> groups, String name) {
        for (String[] g : groups) {
            if (g.length >= 3 && (g[0].equals(name) || g[2].equals(name))) return number(g[2], "gid of group " + g[0]);
        }
        if (isNumber(name)) return Long.parseLong(name);
        throw new OciException("group \"" + name + "\" is not in the container's /etc/group");
    }

    /** A whole number for a uid or gid, or one line naming {@code what}. */
    public static long number(String text, String what) {
        if (!isNumber(text)) throw new OciException(what + ": \"" + text + "\" is not a number");
        return Long.parseLong(text);
    }

    private static boolean isNumber(String text) {
        return !text.isEmpty() && text.length() < 11 && text.chars().allMatch(Character::isDigit);
    }

    private static List<String[]> entries(Path file) {
        List<String[]> entries = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(file)) {
                if (!line.isBlank() && !line.startsWith("#")) entries.add(line.split(":", -1));
            }
        } catch (NoSuchFileException e) {
            return entries;
        } catch (IOException e) {
            throw new OciException("cannot read " + file + ": " + e.getMessage());
        }
        return entries;
    }
}
