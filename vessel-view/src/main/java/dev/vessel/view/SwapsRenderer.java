package dev.vessel.view;

/**
 * /proc/swaps: the header, and one line for the swap the container may use ("none", as lxcfs names
 * it, type "virtual") with its limit and usage in kB — or the header alone when it has none. With
 * no memory limit it is the host's file.
 */
final class SwapsRenderer {
    private SwapsRenderer() {}

    static final String HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";

    static String render(ContainerResources resources, HostInfo host, double now) {
        Memory memory = resources.memory();
        String hostText = host.swaps();
        if (!memory.limited() && !hostText.isEmpty()) {
            return hostText;
        }
        StringBuilder out = new StringBuilder(HEADER);
        long sizeKb = memory.swapTotalBytes() / 1024;
        if (sizeKb > 0) {
            long usedKb = memory.swapUsedBytes() / 1024;
            // The kernel's layout: the name padded to 40 columns, then tab-separated numbers with an
            // extra tab while a number is under 8 digits, so the columns line up under the header.
            String name = "none";
            out.append(name).append(" ".repeat(40 - name.length()))
                    .append("virtual\t")
                    .append(sizeKb).append('\t').append(sizeKb < 10_000_000 ? "\t" : "")
                    .append(usedKb).append('\t').append(usedKb < 10_000_000 ? "\t" : "")
                    .append("0\n");
        }
        return out.toString();
    }
}
