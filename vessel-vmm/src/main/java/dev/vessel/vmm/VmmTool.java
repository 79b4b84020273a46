package dev.vessel.vmm;

import java.nio.file.Path;
import java.util.List;

/**
 * A small command line over this module, for scripts and debugging without the daemon:
 * {@code assets build [--dir D] AGENT}, {@code assets show [--dir D]}, {@code kernel build [--dir D]}
 * (Vessel's guest kernel alone, into D/kernel), {@code accel}, {@code doctor}.
 * Exits 1 with one line on stderr on failure.
 */
public final class VmmTool {
    private VmmTool() {}

    public static void main(String[] args) {
        try {
            System.exit(run(List.of(args)));
        } catch (VmmException e) {
            System.err.println("vessel: " + e.getMessage());
            System.exit(1);
        }
    }

    static int run(List<String> args) throws VmmException {
        Path dir = GuestAssets.DEFAULT_DIR;
        List<String> rest = new java.util.ArrayList<>(args);
        int at = rest.indexOf("--dir");
        if (at >= 0 && at + 1 < rest.size()) {
            dir = Path.of(rest.get(at + 1));
            rest.remove(at + 1);
            rest.remove(at);
        }
        String command = String.join(" ", rest.subList(0, Math.min(2, rest.size())));
        if (command.equals("assets build") && rest.size() == 3) {
            GuestAssets assets = new GuestAssets(dir);
            System.out.println(assets.build(Path.of(rest.get(2))));
            assets.show().forEach(System.out::println);
        } else if (command.equals("assets show")) {
            new GuestAssets(dir).show().forEach(System.out::println);
        } else if (command.equals("kernel build")) {
            KernelBuild.Built built = new KernelBuild(dir.resolve("kernel")).ensure(System.err::println);
            System.out.println(built.vmlinux() + (built.fresh() ? " (built in " + KernelBuild.describe(built.took()) + ")" : " (cached)"));
        } else if (command.equals("accel")) {
            System.out.println(Accelerator.detect().describe());
        } else if (command.equals("doctor")) {
            Doctor.lines(new GuestAssets(dir)).forEach(System.out::println);
        } else {
            System.err.println("usage: VmmTool [--dir D] assets build AGENT | assets show | kernel build | accel | doctor");
            return 2;
        }
        return 0;
    }
}
