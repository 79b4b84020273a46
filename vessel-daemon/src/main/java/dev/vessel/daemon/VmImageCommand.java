package dev.vessel.daemon;

import java.io.IOException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParseResult;

/**
 * {@code vessel vm image build KIND OUT.qcow2 [--size SIZE] [--packages P,...]}: a bootable guest
 * disk made from the distribution's packages (dev.vessel.vmm.VmImageBuilder), cached; run by the
 * daemon, with progress lines on stderr, as {@code vessel assets build} is. A verb of
 * {@link VmCommand} with a verb of its own.
 */
@Command(name = "image", description = "Guest disk images for full VMs: vessel vm image build debian OUT.qcow2.",
        subcommands = {VmImageCommand.Build.class})
final class VmImageCommand implements OciCli.Handler {
    @Mixin OciCli.HelpFlag help;

    @Command(name = "build", description = "Make a bootable disk (Debian 12 with systemd, openssh-server, cloud-init"
            + " (NoCloud), Debian's kernel, extlinux, console on ttyS0) from the host's apt source; cached under"
            + " /var/lib/vessel/vm-images by a hash of its inputs, OUT a copy.")
    static final class Build implements OciCli.Handler {
        @Mixin OciCli.HelpFlag help;
        @Parameters(index = "0", paramLabel = "KIND", description = "the guest OS: debian") String kind;
        @Parameters(index = "1", paramLabel = "OUT.qcow2", description = "where the qcow2 copy goes") String output;
        @Option(names = "--size", paramLabel = "SIZE", description = "the disk's virtual size: MiB, or with K, M, G, T"
                + " (default 3G, at least 2G)") String size;
        @Option(names = "--packages", paramLabel = "P,...", description = "Debian packages to add to the image") String packages;

        @Override
        public void run(Call call, ParseResult parsed) throws IOException {
            call.dispatcher.vmImageBuild(call, kind, output, size, packages);
        }
    }

    @Override
    public void run(Call call, ParseResult parsed) throws IOException {
        if (!parsed.hasSubcommand() || parsed.subcommand().isUsageHelpRequested()) {
            ParseResult shown = parsed.hasSubcommand() ? parsed.subcommand() : parsed;
            call.print(shown.commandSpec().commandLine().getUsageMessage());
            if (parsed.hasSubcommand()) OciCli.done(call);
            else call.reply.exit(1);
            return;
        }
        ((OciCli.Handler) parsed.subcommand().commandSpec().userObject()).run(call, parsed.subcommand());
    }
}
