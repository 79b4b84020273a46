package dev.vessel.view.fuse;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The fixed tree a {@link FuseServer} serves: files plus the directories implied by their paths.
 * A node's inode number is a hash of its path, so a server that takes over a live connection
 * from another process, even of another version, resolves the kernel's inode numbers without
 * any state handed over.
 *
 * <p>Beside that tree, the root holds, unlisted, one copy of it per container: a directory named
 * by {@link #CONTAINER_DIGITS} hex digits (a number the config rewrite chose), whose files are
 * rendered for that container alone, so the kernel may cache their pages. Their inode numbers
 * encode the directory's number and the node's place in the tree ({@link #CONTAINER_BIT}, then the
 * number, then the index), so they too are resolved without state.
 */
final class FuseTree {
    static final long ROOT_ID = 1; // FUSE_ROOT_ID
    /**
     * Set in the inode numbers of container copies. A path hash of the shared tree may have it set
     * too; the few shared numbers are looked up first, and a copy's number equal to one of them
     * (odds of about 2^-40 per container) would shadow it.
     */
    static final long CONTAINER_BIT = 1L << 62;
    static final int CONTAINER_DIGITS = 12; // 48 bits
    private static final int INDEX_BITS = 8;
    /** No container: the shared tree. */
    static final long SHARED = -1;

    /** A node as the kernel knows it: its inode number, the container it belongs to (or SHARED), the tree's node. */
    record Ref(long id, long container, Node node) {}

    /** A file or directory; {@code children} is empty for files, sorted by name for directories. */
    record Node(long id, String path, String name, long parentId, boolean directory, long size,
                List<Node> children, Map<String, Node> childByName) {
        int subdirectories() {
            return (int) children.stream().filter(Node::directory).count();
        }
    }

    private final long[] ids;   // sorted, for binary search without boxing
    private final Node[] nodes; // nodes[i].id() == ids[i]
    private final Node[] byIndex; // the index a container copy's inode number carries
    private final Map<Long, Integer> indexOf = new HashMap<>();

    FuseTree(Collection<String> files, FuseFileSystem fs) {
        Map<String, List<String>> childNames = new TreeMap<>();
        childNames.put("/", new ArrayList<>());
        for (String file : files) {
            if (!file.startsWith("/") || file.endsWith("/") || file.contains("//")) {
                throw new IllegalArgumentException("not a normal absolute file path: " + file);
            }
            String child = file;
            while (!child.equals("/")) {
                String parent = parentOf(child);
                List<String> siblings = childNames.computeIfAbsent(parent, p -> new ArrayList<>());
                if (!siblings.contains(child)) {
                    siblings.add(child);
                }
                child = parent;
            }
        }
        Map<String, Node> byPath = new HashMap<>();
        build("/", childNames, fs, byPath);
        nodes = byPath.values().stream().sorted((a, b) -> Long.compare(a.id(), b.id())).toArray(Node[]::new);
        ids = Arrays.stream(nodes).mapToLong(Node::id).toArray();
        byIndex = byPath.values().stream().sorted((a, b) -> a.path().compareTo(b.path())).toArray(Node[]::new);
        if (byIndex.length > 1 << INDEX_BITS) {
            throw new IllegalArgumentException("too many files for container copies: " + byIndex.length);
        }
        for (int i = 0; i < byIndex.length; i++) {
            indexOf.put(byIndex[i].id(), i);
        }
        for (int i = 1; i < ids.length; i++) {
            if (ids[i] == ids[i - 1]) {
                throw new IllegalStateException("inode collision: " + nodes[i].path() + ", " + nodes[i - 1].path());
            }
        }
    }

    /** The node with this inode number, or null. */
    Node node(long id) {
        int index = Arrays.binarySearch(ids, id);
        return index >= 0 ? nodes[index] : null;
    }

    Node root() {
        return node(ROOT_ID);
    }

    /** What an inode number the kernel sent stands for, or null. */
    Ref ref(long id) {
        Node shared = node(id); // path hashes may have the bit set too: they come first
        if (shared != null || (id & CONTAINER_BIT) == 0) {
            return shared == null ? null : new Ref(id, SHARED, shared);
        }
        int index = (int) (id & ((1 << INDEX_BITS) - 1));
        if (index >= byIndex.length) {
            return null;
        }
        return new Ref(id, (id & ~CONTAINER_BIT) >>> INDEX_BITS, byIndex[index]);
    }

    /** The child called {@code name} of the directory {@code parent}, or null. */
    Ref child(Ref parent, String name) {
        if (parent.container() == SHARED && parent.node().id() == ROOT_ID) {
            long container = containerOf(name);
            if (container >= 0) {
                return new Ref(idIn(container, root()), container, root());
            }
        }
        Node child = parent.node().childByName().get(name);
        return child == null ? null : new Ref(idIn(parent.container(), child), parent.container(), child);
    }

    /** The inode number of {@code node} in the container's copy, or its own in the shared tree. */
    long idIn(long container, Node node) {
        return container == SHARED ? node.id()
                : CONTAINER_BIT | container << INDEX_BITS | indexOf.get(node.id());
    }

    /** The parent's inode number: a container directory's is the root. */
    long parentId(Ref ref) {
        if (ref.container() == SHARED) {
            return ref.node().parentId();
        }
        if (ref.node().id() == ROOT_ID) {
            return ROOT_ID;
        }
        return idIn(ref.container(), node(ref.node().parentId()));
    }

    /** A container directory's number from its name, or -1 if the name is not one. */
    static long containerOf(String name) {
        if (name.length() != CONTAINER_DIGITS) {
            return -1;
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (!(c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) {
                return -1;
            }
        }
        return Long.parseLong(name, 16);
    }

    /** Inode number of a path: FNV-1a, kept clear of 0 (invalid) and 1 (the root). */
    static long inodeOf(String path) {
        if (path.equals("/")) {
            return ROOT_ID;
        }
        long hash = 0xcbf29ce484222325L;
        for (byte b : path.getBytes(StandardCharsets.UTF_8)) {
            hash = (hash ^ (b & 0xff)) * 0x100000001b3L;
        }
        hash &= Long.MAX_VALUE;
        return hash < 2 ? hash + 2 : hash;
    }

    private static Node build(String path, Map<String, List<String>> childNames, FuseFileSystem fs,
                              Map<String, Node> byPath) {
        List<String> names = childNames.get(path);
        boolean directory = names != null;
        List<Node> children = new ArrayList<>();
        Map<String, Node> childByName = new HashMap<>();
        if (directory) {
            for (String child : names.stream().sorted().toList()) {
                Node node = build(child, childNames, fs, byPath);
                children.add(node);
                childByName.put(node.name(), node);
            }
        }
        String name = path.equals("/") ? "/" : path.substring(path.lastIndexOf('/') + 1);
        long parentId = path.equals("/") ? ROOT_ID : inodeOf(parentOf(path));
        Node node = new Node(inodeOf(path), path, name, parentId, directory,
                directory ? 0 : fs.size(path), List.copyOf(children), Map.copyOf(childByName));
        byPath.put(path, node);
        return node;
    }

    private static String parentOf(String path) {
        int slash = path.lastIndexOf('/');
        return slash == 0 ? "/" : path.substring(0, slash);
    }
}
