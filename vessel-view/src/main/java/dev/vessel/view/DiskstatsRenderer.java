package dev.vessel.view;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * /proc/diskstats: the host's lines of the devices the container did I/O on, with its own counts
 * (operations, 512-byte sectors, discards); devices it did not touch are left out, as lxcfs does.
 * Merges, times and in-flight counts have no cgroup counterpart and show 0. Without a readable I/O
 * controller it is the host's file.
 */
final class DiskstatsRenderer {
    private DiskstatsRenderer() {}

    private static final int SECTOR = 512;

    static String render(ContainerResources resources, HostInfo host, double now) {
        String hostText = host.diskstats();
        if (resources.blockIo().isEmpty()) {
            return hostText;
        }
        Map<Long, BlockIo> byDevice = new HashMap<>();
        for (BlockIo io : resources.blockIo().get()) {
            byDevice.put(key(io.major(), io.minor()), io);
        }
        StringBuilder out = new StringBuilder();
        for (String line : hostText.split("\n")) {
            String[] fields = line.strip().split("\\s+");
            if (fields.length < 14) {
                continue;
            }
            BlockIo io;
            try {
                io = byDevice.get(key(Integer.parseInt(fields[0]), Integer.parseInt(fields[1])));
            } catch (NumberFormatException e) {
                continue;
            }
            if (io == null || io.readOps() + io.writeOps() + io.readBytes() + io.writeBytes() + io.discardOps() == 0) {
                continue;
            }
            out.append(String.format("%4d %7d %s", io.major(), io.minor(), fields[2])); // the kernel's layout
            List<Long> values = List.of(io.readOps(), 0L, io.readBytes() / SECTOR, 0L,
                    io.writeOps(), 0L, io.writeBytes() / SECTOR, 0L, 0L, 0L, 0L,
                    io.discardOps(), 0L, io.discardBytes() / SECTOR, 0L);
            int count = fields.length - 3; // 11, 15 or 17 numbers, by kernel version
            for (int i = 0; i < count; i++) {
                out.append(' ').append(i < values.size() ? values.get(i) : 0L);
            }
            out.append('\n');
        }
        return out.toString();
    }

    private static long key(int major, int minor) {
        return ((long) major << 32) | (minor & 0xffffffffL);
    }
}
