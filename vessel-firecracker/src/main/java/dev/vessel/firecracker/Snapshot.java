package dev.vessel.firecracker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A snapshot's state file: JSON with the VM's configuration (Firecracker's full VM configuration
 * layout, so GET /vm/config of the restored VM matches) and the MMDS store. The memory and device
 * state are in the memory file, a QEMU migration stream, which only the same configuration can take in.
 */
final class Snapshot {
    static final String FORMAT = "vessel-firecracker-snapshot/1";

    private Snapshot() {
    }

    static void write(Path path, VmConfig config, Mmds mmds) throws ApiException {
        ObjectNode root = ApiJson.MAPPER.createObjectNode();
        root.put("format", FORMAT);
        root.put("vmm_version", Vmm.VERSION);
        root.set("config", ApiJson.MAPPER.valueToTree(config.export()));
        JsonNode data = mmds.snapshot();
        if (data != null) root.set("mmds", data);
        try {
            Path tmp = path.resolveSibling(path.getFileName() + ".tmp");
            Files.write(tmp, ApiJson.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(root));
            Files.move(tmp, path, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw ApiException.badRequest("field `snapshot_path`: cannot write " + path + ": " + e.getMessage());
        }
    }

    static VmConfig read(Path path, Mmds mmds) throws ApiException {
        JsonNode root;
        try {
            root = ApiJson.MAPPER.readTree(Files.readAllBytes(path));
        } catch (IOException e) {
            throw ApiException.badRequest("field `snapshot_path`: cannot read " + path + ": " + e.getMessage());
        }
        if (root == null || !FORMAT.equals(root.path("format").asText())) {
            throw ApiException.badRequest("field `snapshot_path`: " + path + " is not a Vessel snapshot state file");
        }
        Model.FullVmConfiguration f;
        try {
            f = ApiJson.MAPPER.treeToValue(root.get("config"), Model.FullVmConfiguration.class);
        } catch (IOException e) {
            throw ApiException.badRequest("field `snapshot_path`: " + path + ": " + e.getMessage());
        }
        VmConfig c = VmConfig.of(f);
        if (root.has("mmds")) mmds.put(root.get("mmds"));
        if (f.mmdsConfig() != null) mmds.configure(f.mmdsConfig());
        return c;
    }
}
