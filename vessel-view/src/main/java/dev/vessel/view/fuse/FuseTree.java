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
 */
final class FuseTree {
    static final long ROOT_ID = 1; // FUSE_ROOT_ID

    /** A file or directory; {@code children} is empty for files, sorted by name for directories. */
    record Node(long id, String path, String name, long parentId, boolean directory, long size,
                List<Node> children, Map<String, Node> childByName) {
        int subdirectories() {
            return (int) children.stream().filter(Node::directory).count();
        }
    }

    private final long[] ids;   // sorted, for binary search without boxing
    private final Node[] nodes; // nodes[i].id() == ids[i]

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
