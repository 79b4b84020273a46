package dev.vessel.firecracker;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the API has configured so far: the pre-boot state of one microVM. Each setter takes a
 * validated {@link Model} value and applies Firecracker's rules between resources (one root
 * drive, no two interfaces on one tap or one MAC, MMDS on known interfaces). Not thread-safe: {@link Vmm} serialises the calls.
 */
public final class VmConfig {
    private Model.BootSource bootSource;
    private final Map<String, Model.Drive> drives = new LinkedHashMap<>();
    private final Map<String, Model.NetworkInterface> nics = new LinkedHashMap<>();
    private Model.MachineConfiguration machine = Model.MachineConfiguration.DEFAULT;
    private Model.Logger logger;
    private Model.Metrics metrics;
    private Model.Vsock vsock;
    private Model.EntropyDevice entropy;
    private Model.Balloon balloon;
    private Model.MmdsConfig mmdsConfig;

    public Model.BootSource bootSource() {
        return bootSource;
    }

    public void bootSource(Model.BootSource b) {
        this.bootSource = b;
    }

    /** Drives in the order they were first put; Firecracker gives the root device /dev/vda. */
    public List<Model.Drive> drives() {
        return List.copyOf(drives.values());
    }

    /** The drives as the guest sees them: the root device first, then the others in order. */
    public List<Model.Drive> guestDriveOrder() {
        List<Model.Drive> order = new ArrayList<>();
        drives.values().stream().filter(Model.Drive::root).forEach(order::add);
        drives.values().stream().filter(d -> !d.root()).forEach(order::add);
        return order;
    }

    public Model.Drive drive(String id) {
        return drives.get(id);
    }

    public void putDrive(Model.Drive d) throws ApiException {
        if (d.root()) {
            for (Model.Drive other : drives.values()) {
                if (other.root() && !other.driveId().equals(d.driveId())) {
                    throw ApiException.badRequest("field `is_root_device`: a root block device already exists (drive `"
                            + other.driveId() + "`)");
                }
            }
        }
        drives.put(d.driveId(), d);
    }

    public List<Model.NetworkInterface> networkInterfaces() {
        return List.copyOf(nics.values());
    }

    public Model.NetworkInterface networkInterface(String id) {
        return nics.get(id);
    }

    public void putNetworkInterface(Model.NetworkInterface n) throws ApiException {
        for (Model.NetworkInterface other : nics.values()) {
            if (other.ifaceId().equals(n.ifaceId())) continue;
            if (other.hostDevName().equals(n.hostDevName())) {
                throw ApiException.badRequest("field `host_dev_name`: tap device `" + n.hostDevName()
                        + "` is already used by interface `" + other.ifaceId() + "`");
            }
            if (n.guestMac() != null && n.guestMac().equalsIgnoreCase(String.valueOf(other.guestMac()))) {
                throw ApiException.badRequest("field `guest_mac`: " + n.guestMac() + " is already used by interface `"
                        + other.ifaceId() + "`");
            }
        }
        nics.put(n.ifaceId(), n);
    }

    public Model.MachineConfiguration machine() {
        return machine;
    }

    public void machine(Model.MachineConfiguration m) throws ApiException {
        m.validateWhole();
        this.machine = m;
    }

    public Model.Logger logger() {
        return logger;
    }

    public void logger(Model.Logger l) {
        this.logger = l;
    }

    public Model.Metrics metrics() {
        return metrics;
    }

    public void metrics(Model.Metrics m) {
        this.metrics = m;
    }

    public Model.Vsock vsock() {
        return vsock;
    }

    public void vsock(Model.Vsock v) {
        this.vsock = v;
    }

    public Model.EntropyDevice entropy() {
        return entropy;
    }

    public void entropy(Model.EntropyDevice e) {
        this.entropy = e;
    }

    public Model.Balloon balloon() {
        return balloon;
    }

    public void balloon(Model.Balloon b) {
        this.balloon = b;
    }

    public Model.MmdsConfig mmdsConfig() {
        return mmdsConfig;
    }

    public void mmdsConfig(Model.MmdsConfig c) throws ApiException {
        for (String id : c.networkInterfaces()) {
            if (!nics.containsKey(id)) {
                throw ApiException.badRequest("field `network_interfaces`: no network interface with id `" + id + "`");
            }
        }
        this.mmdsConfig = c;
    }

    /** GET /vm/config. */
    public Model.FullVmConfiguration export() {
        return new Model.FullVmConfiguration(balloon, drives(), bootSource, logger, machine, metrics, mmdsConfig,
                networkInterfaces(), vsock, entropy, null);
    }

    /**
     * A configuration from Firecracker's {@code --config-file} layout (or a snapshot's state file),
     * checked as the API would check each resource.
     */
    public static VmConfig of(Model.FullVmConfiguration f) throws ApiException {
        VmConfig c = new VmConfig();
        if (f.bootSource() != null) {
            f.bootSource().validate();
            c.bootSource(f.bootSource());
        }
        if (f.machineConfig() != null) {
            Model.MachineConfiguration m = f.machineConfig();
            m.validate();
            Model.require(m.vcpuCount(), "machine-config.vcpu_count");
            Model.require(m.memSizeMib(), "machine-config.mem_size_mib");
            c.machine(m.over(Model.MachineConfiguration.DEFAULT));
        }
        if (f.drives() != null) {
            for (Model.Drive d : f.drives()) {
                d.validate();
                c.putDrive(d);
            }
        }
        if (f.networkInterfaces() != null) {
            for (Model.NetworkInterface n : f.networkInterfaces()) {
                n.validate();
                c.putNetworkInterface(n);
            }
        }
        if (f.logger() != null) {
            f.logger().validate();
            c.logger(f.logger());
        }
        if (f.metrics() != null) {
            f.metrics().validate();
            c.metrics(f.metrics());
        }
        if (f.vsock() != null) {
            f.vsock().validate();
            c.vsock(f.vsock());
        }
        if (f.entropy() != null) {
            f.entropy().validate();
            c.entropy(f.entropy());
        }
        if (f.balloon() != null) {
            f.balloon().validate();
            c.balloon(f.balloon());
        }
        if (f.mmdsConfig() != null) {
            f.mmdsConfig().validate();
            c.mmdsConfig(f.mmdsConfig());
        }
        if (f.cpuConfig() != null) throw ApiException.badRequest("field `cpu-config`: CPU templates are not supported by Vessel");
        return c;
    }
}
