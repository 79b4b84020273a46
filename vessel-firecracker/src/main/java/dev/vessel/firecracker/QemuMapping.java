package dev.vessel.firecracker;

import dev.vessel.vmm.Accelerator;
import dev.vessel.vmm.QemuCommand;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A Firecracker configuration as a QEMU command line (docs/firecracker-api.md, "Mapping"):
 * pure, so the same configuration and host always give the same argv.
 *
 * <pre>
 * qemu-system-x86_64 -M microvm -nodefaults -no-user-config -nographic -no-reboot
 *   -accel tcg,tb-size=16 -cpu max | -accel kvm -cpu host    -m mem_size_mib -smp vcpu_count
 *   -kernel kernel_image_path -initrd initrd_path (default: Vessel's initrd)
 *   -append "boot_args (default: Firecracker's) [tsc_early_khz=…] root=/dev/vda rw|ro"
 *   -chardev stdio,id=serial0,signal=off -serial chardev:serial0         (ttyS0 on our stdio)
 *   -blockdev file…,-blockdev raw,node-name=driveN -device virtio-blk-device  (root drive first)
 *   -netdev tap,ifname=host_dev_name -device virtio-net-device,mac=guest_mac
 *   -device i8042 (SendCtrlAltDel)   -device virtio-rng-device   -device virtio-balloon-device
 *   MMDS, per interface in mmds-config: the NIC, its tap and a restricted user-mode (slirp) netdev
 *   on one hub; slirp hands TCP to ipv4_address:80 to {@code socat - UNIX-CONNECT:<api>.mmds}
 *   -qmp unix:&lt;api socket&gt;.qmp
 * </pre>
 */
public final class QemuMapping {
    /** Firecracker's default kernel command line, used when boot_args is absent. */
    public static final String DEFAULT_BOOT_ARGS =
            "reboot=k panic=1 pci=off nomodule 8250.nr_uarts=0 i8042.noaux i8042.nomux i8042.dumbkbd";
    public static final String BALLOON_ID = "balloon0";

    /**
     * What the host contributes: QEMU's binary, the accelerator, the TSC rate (TCG), Vessel's
     * initrd, and the sockets next to the API socket: QMP's and the metadata service's.
     */
    public record Host(String qemu, Accelerator.Kind accelerator, long tscKhz, Path defaultInitrd, Path qmpSocket,
                       Path mmdsSocket, String socat) {
        public Host(String qemu, Accelerator.Kind accelerator, long tscKhz, Path defaultInitrd, Path qmpSocket,
                    Path mmdsSocket) {
            this(qemu, accelerator, tscKhz, defaultInitrd, qmpSocket, mmdsSocket, "socat");
        }
    }

    private QemuMapping() {
    }

    /** QEMU's node name of the drive at {@code index} in {@link VmConfig#guestDriveOrder}. */
    public static String nodeName(int index) {
        return "drive" + index;
    }

    public static List<String> argv(VmConfig c, Host host) throws ApiException {
        Model.BootSource boot = c.bootSource();
        if (boot == null) throw ApiException.badRequest("Cannot start microvm without kernel configuration (PUT /boot-source).");
        Model.MachineConfiguration m = c.machine();
        // words after "--" are init's: what we add to the kernel's line goes before them
        String args = boot.bootArgs() != null ? boot.bootArgs() : DEFAULT_BOOT_ARGS, initArgs = null;
        java.util.regex.Matcher dashes = java.util.regex.Pattern.compile("(^|\\s)--(\\s|$)").matcher(args);
        if (dashes.find()) {
            initArgs = args.substring(dashes.end()).strip();
            args = args.substring(0, dashes.start()).strip();
        }
        QemuCommand q = QemuCommand.builder().binary(host.qemu()).accelerator(host.accelerator())
                .memoryMib(m.memSizeMib()).vcpus(m.vcpuCount())
                .kernel(Path.of(boot.kernelImagePath()))
                .initrd(boot.initrdPath() != null ? Path.of(boot.initrdPath()) : host.defaultInitrd())
                .kernelArgs(args)
                .tscKhz(host.accelerator() == Accelerator.Kind.TCG ? host.tscKhz() : 0)
                .agentChannel(false).serialStdio(true).qmpSocket(host.qmpSocket());
        List<Model.Drive> drives = c.guestDriveOrder();
        for (int i = 0; i < drives.size(); i++) {
            Model.Drive d = drives.get(i);
            String cache = "Writeback".equals(d.cacheType()) ? "writeback" : "unsafe";
            q.drive(new QemuCommand.Drive(nodeName(i), Path.of(d.pathOnHost()), d.readOnly(), cache, throttle(d.rateLimiter())));
            if (d.root()) {
                String root = d.partuuid() != null ? "root=PARTUUID=" + d.partuuid() : "root=/dev/vda";
                q.cmdline(root, d.readOnly() ? "ro" : "rw");
            }
        }
        if (initArgs != null) q.cmdline(initArgs.isEmpty() ? new String[]{"--"} : new String[]{"--", initArgs});
        for (Model.NetworkInterface n : c.networkInterfaces()) {
            q.nic(new QemuCommand.Nic(n.hostDevName(), n.guestMac() != null ? n.guestMac().toLowerCase(Locale.ROOT)
                    : generatedMac(n.ifaceId())));
        }
        List<String> argv = new ArrayList<>(q.build());
        if (m.smt()) {
            int i = argv.indexOf("-smp");
            int n = m.vcpuCount();
            if (n > 1) argv.set(i + 1, n + ",sockets=1,cores=" + (n / 2) + ",threads=2");
        }
        // mtu: virtio-net's host_mtu advertises VIRTIO_NET_F_MTU, as Firecracker's mtu does
        List<Model.NetworkInterface> nics = c.networkInterfaces();
        for (int i = 0, dev = 0; i < argv.size() && dev < nics.size(); i++) {
            if (argv.get(i).startsWith("virtio-net-device,")) {
                Integer mtu = nics.get(dev++).mtu();
                if (mtu != null) argv.set(i, argv.get(i) + ",host_mtu=" + mtu);
            }
        }
        if (c.mmdsConfig() != null) mmds(argv, c, host);
        // an i8042 controller, as Firecracker has: SendCtrlAltDel presses Ctrl+Alt+Del on its keyboard
        argv.addAll(List.of("-device", "i8042"));
        if (c.entropy() != null) {
            String rng = "virtio-rng-device,rng=rng0";
            Model.RateLimiter r = c.entropy().rateLimiter();
            if (r != null && r.bandwidth() != null && r.bandwidth().limits()) {
                rng += ",max-bytes=" + r.bandwidth().size() + ",period=" + r.bandwidth().refillTime();
            }
            argv.addAll(List.of("-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", rng));
        }
        if (c.balloon() != null) {
            Model.Balloon b = c.balloon();
            String dev = "virtio-balloon-device,id=" + BALLOON_ID + ",deflate-on-oom=" + (b.deflateOnOom() ? "on" : "off");
            if (Boolean.TRUE.equals(b.freePageReporting())) dev += ",free-page-reporting=on";
            argv.addAll(List.of("-device", dev));
        }
        if (c.vsock() != null) {
            argv.addAll(List.of("-device", "vhost-vsock-device,guest-cid=" + c.vsock().guestCid()));
        }
        return argv;
    }

    /**
     * MMDS for each interface named in mmds-config: its virtio-net device moves from the tap
     * netdev to a hub port; the tap and a user-mode netdev join the same hub. The user-mode
     * netdev is restricted (it routes nothing out of the host) and lives on ipv4_address's /24
     * with {@code guestfwd} of ipv4_address:80 to a command that connects the guest's TCP stream
     * to the metadata service's Unix socket; it answers ARP for ipv4_address, so the guest needs
     * only Firecracker's usual {@code ip route add 169.254.169.254 dev eth0}.
     */
    static void mmds(List<String> argv, VmConfig c, Host host) {
        String address = c.mmdsConfig().ipv4Address() != null ? c.mmdsConfig().ipv4Address() : Mmds.DEFAULT_ADDRESS;
        String prefix = address.substring(0, address.lastIndexOf('.') + 1);
        int last = Integer.parseInt(address.substring(address.lastIndexOf('.') + 1));
        int gw = last == 1 ? 2 : 1, dns = last == 3 ? 4 : 3;
        String cmd = host.socat() + " - UNIX-CONNECT:" + Vmm.shellQuote(host.mmdsSocket().toString());
        List<Model.NetworkInterface> nics = c.networkInterfaces();
        for (int i = 0; i < nics.size(); i++) {
            if (!c.mmdsConfig().networkInterfaces().contains(nics.get(i).ifaceId())) continue;
            String net = "net" + i, hub = Integer.toString(100 + i);
            int dev = -1;
            for (int j = 0; j < argv.size(); j++) {
                if (argv.get(j).startsWith("virtio-net-device,netdev=" + net + ",")) {
                    argv.set(j, argv.get(j).replace("netdev=" + net + ",", "netdev=" + net + "-guest,"));
                    dev = j;
                }
            }
            argv.addAll(dev - 1, List.of(
                    "-netdev", "hubport,id=" + net + "-tap,hubid=" + hub + ",netdev=" + net,
                    "-netdev", "user,id=" + net + "-mmds,restrict=on,ipv6=off,net=" + prefix + "0/24,host=" + prefix + gw
                            + ",dns=" + prefix + dns + ",guestfwd=tcp:" + address + ":80-cmd:" + cmd.replace(",", ",,"),
                    "-netdev", "hubport,id=" + net + "-mmdsport,hubid=" + hub + ",netdev=" + net + "-mmds",
                    "-netdev", "hubport,id=" + net + "-guest,hubid=" + hub));
        }
    }

    /**
     * A drive's rate limiter as QEMU throttle-group properties: a bucket of {@code size} tokens
     * refilled every {@code refill_time} ms is a rate of size*1000/refill_time per second; a
     * one-time burst lets the first second go that much faster.
     */
    static List<String> throttle(Model.RateLimiter r) {
        List<String> t = new ArrayList<>();
        if (r == null) return t;
        bucket(t, r.bandwidth(), "bps");
        bucket(t, r.ops(), "iops");
        return t;
    }

    private static void bucket(List<String> t, Model.TokenBucket b, String kind) {
        if (b == null || !b.limits()) return;
        long rate = b.ratePerSecond();
        t.add("x-" + kind + "-total=" + rate);
        if (b.oneTimeBurst() != null && b.oneTimeBurst() > 0) {
            t.add("x-" + kind + "-total-max=" + (rate + b.oneTimeBurst()));
            t.add("x-" + kind + "-total-max-length=1");
        }
    }

    /** A locally administered MAC derived from the interface id, for an interface without guest_mac. */
    static String generatedMac(String ifaceId) {
        int h = ifaceId.hashCode();
        return String.format("06:00:%02x:%02x:%02x:%02x", (h >>> 24) & 0xff, (h >>> 16) & 0xff, (h >>> 8) & 0xff, h & 0xff);
    }
}
