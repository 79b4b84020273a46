package dev.vessel.runtime.vm;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.vessel.oci.OciException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a {@code VirtualMachine} manifest strictly, as kubectl's strict validation does: an
 * unknown field, a wrong type, a value outside an enum or a missing required value is one
 * {@link OciException} naming the field path (e.g. {@code spec.template.spec.domain.devices.disks[0].disk.bus:
 * Unsupported value: "ide": supported values: "virtio", "sata", "scsi"}).
 */
public final class Manifests {
    public static final ObjectMapper YAML = YAMLMapper.builder(YAMLFactory.builder()
                    .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build())
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
            .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
            .build();
    public static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    /** KubeVirt's default terminationGracePeriodSeconds. */
    public static final long DEFAULT_GRACE_SECONDS = 180;
    private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
    private static final Pattern QUANTITY = Pattern.compile("([0-9]+(?:\\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?");
    private static final Pattern MAC = Pattern.compile("(?i)[0-9a-f]{2}(:[0-9a-f]{2}){5}");
    private static final Pattern BRIDGE_NAME = Pattern.compile("[A-Za-z0-9_.-]{1,15}");

    private Manifests() {}

    /** Parses YAML (JSON is YAML too) into a manifest; {@code source} names it in messages ("vm.yaml", "-"). */
    public static VirtualMachine read(byte[] text, String source) {
        if (text.length == 0 || new String(text, java.nio.charset.StandardCharsets.UTF_8).isBlank()) {
            throw new OciException(source + ": empty manifest (want a kubevirt.io/v1 VirtualMachine)");
        }
        try {
            VirtualMachine vm = YAML.readValue(text, VirtualMachine.class);
            if (vm == null) throw new OciException(source + ": empty manifest (want a kubevirt.io/v1 VirtualMachine)");
            return vm;
        } catch (UnrecognizedPropertyException e) {
            throw new OciException(source + ": unknown field \"" + path(e) + "\"");
        } catch (InvalidFormatException e) {
            throw new OciException(source + ": " + path(e) + ": Invalid value: \"" + e.getValue() + "\": want "
                    + typeName(e.getTargetType()));
        } catch (MismatchedInputException e) {
            String at = path(e);
            if (at.isEmpty()) throw new OciException(source + ": not a VirtualMachine manifest (want a YAML mapping)");
            throw new OciException(source + ": " + at + ": Invalid value: want " + typeName(e.getTargetType()));
        } catch (JsonMappingException e) {
            throw new OciException(source + ": " + path(e) + ": " + firstLine(e.getOriginalMessage()));
        } catch (JsonProcessingException e) {
            var where = e.getLocation();
            throw new OciException(source + ": malformed YAML" + (where == null ? "" : " at line " + where.getLineNr()
                    + ", column " + where.getColumnNr()) + ": " + firstLine(e.getOriginalMessage()));
        } catch (IOException e) {
            throw new OciException(source + ": " + e.getMessage());
        }
    }

    /** {@link #read}, then {@link #plan}. */
    public static VmPlan parse(byte[] text, String source) {
        return plan(read(text, source), source);
    }

    /** Validates the manifest and fills in KubeVirt's defaults. */
    public static VmPlan plan(VirtualMachine vm, String source) {
        Errors err = new Errors(source);
        if (!VirtualMachine.API_VERSION.equals(vm.apiVersion())) {
            throw err.unsupported("apiVersion", vm.apiVersion(), VirtualMachine.API_VERSION);
        }
        if (!VirtualMachine.KIND.equals(vm.kind())) throw err.unsupported("kind", vm.kind(), VirtualMachine.KIND);
        if (vm.metadata() == null || vm.metadata().name() == null) throw err.required("metadata.name");
        String name = vm.metadata().name();
        if (!DNS_LABEL.matcher(name).matches()) {
            throw err.invalid("metadata.name", name, "a lowercase RFC 1123 label (a-z, 0-9 and '-', at most 63, "
                    + "starting and ending with a letter or digit)");
        }
        VirtualMachine.Spec spec = vm.spec();
        if (spec == null) throw err.required("spec");
        VmPlan.RunStrategy strategy;
        if (spec.running() != null && spec.runStrategy() != null) {
            throw err.invalid("spec.running", spec.running().toString(), "spec.running and spec.runStrategy are mutually exclusive");
        } else if (spec.runStrategy() != null) {
            strategy = enumValue(err, "spec.runStrategy", spec.runStrategy(), VmPlan.RunStrategy.class);
        } else if (spec.running() != null) {
            strategy = spec.running() ? VmPlan.RunStrategy.Always : VmPlan.RunStrategy.Halted;
        } else {
            strategy = VmPlan.RunStrategy.Halted;
        }
        if (spec.template() == null) throw err.required("spec.template");
        VirtualMachine.TemplateSpec t = spec.template().spec();
        if (t == null) throw err.required("spec.template.spec");
        String ts = "spec.template.spec";
        VirtualMachine.Domain domain = t.domain();
        if (domain == null) throw err.required(ts + ".domain");
        String ds = ts + ".domain";

        if (domain.machine() != null && domain.machine().type() != null && !domain.machine().type().matches("q35|pc-q35.*")) {
            throw err.unsupported(ds + ".machine.type", domain.machine().type(), "q35");
        }
        int sockets = 1, cores = 1, threads = 1;
        if (domain.cpu() != null) {
            sockets = positive(err, ds + ".cpu.sockets", domain.cpu().sockets(), 1);
            cores = positive(err, ds + ".cpu.cores", domain.cpu().cores(), 1);
            threads = positive(err, ds + ".cpu.threads", domain.cpu().threads(), 1);
            if (sockets * cores * threads > 255) {
                throw err.invalid(ds + ".cpu", sockets + "x" + cores + "x" + threads, "at most 255 vCPUs");
            }
        }
        Long memory = null;
        if (domain.memory() != null && domain.memory().guest() != null) {
            memory = quantity(err, ds + ".memory.guest", domain.memory().guest());
        }
        String requests = ds + ".resources.requests.memory";
        Long requested = domain.resources() != null && domain.resources().requests() != null
                && domain.resources().requests().memory() != null
                ? quantity(err, requests, domain.resources().requests().memory()) : null;
        if (memory == null) memory = requested;
        if (memory == null) throw err.required(ds + ".memory.guest");
        long memoryMib = memory / (1024 * 1024);
        if (memoryMib < 64) throw err.invalid(memory == requested ? requests : ds + ".memory.guest", memory + " bytes", "at least 64Mi");

        // volumes by name
        Map<String, VmPlan.Source> sources = new LinkedHashMap<>();
        List<VirtualMachine.Volume> volumes = t.volumes() == null ? List.of() : t.volumes();
        for (int i = 0; i < volumes.size(); i++) {
            String vp = ts + ".volumes[" + i + "]";
            VirtualMachine.Volume v = volumes.get(i);
            if (v.name() == null) throw err.required(vp + ".name");
            if (sources.containsKey(v.name())) throw err.duplicate(vp + ".name", v.name());
            sources.put(v.name(), source(err, vp, v));
        }
        // disks
        List<VmPlan.PlannedDisk> disks = new ArrayList<>();
        Set<String> diskNames = new HashSet<>();
        Set<Integer> bootOrders = new HashSet<>();
        List<VirtualMachine.Disk> manifestDisks = domain.devices() == null || domain.devices().disks() == null
                ? List.of() : domain.devices().disks();
        for (int i = 0; i < manifestDisks.size(); i++) {
            String dp = ds + ".devices.disks[" + i + "]";
            VirtualMachine.Disk d = manifestDisks.get(i);
            if (d.name() == null) throw err.required(dp + ".name");
            if (!diskNames.add(d.name())) throw err.duplicate(dp + ".name", d.name());
            VmPlan.Source src = sources.get(d.name());
            if (src == null) throw err.notFound(dp + ".name", d.name(), "no volume of that name in " + ts + ".volumes");
            if (d.disk() != null && d.cdrom() != null) {
                throw err.invalid(dp, "disk, cdrom", "exactly one of disk and cdrom");
            }
            VmPlan.DiskKind kind;
            String bus;
            boolean readOnly;
            if (d.cdrom() != null) {
                kind = VmPlan.DiskKind.CDROM;
                bus = choice(err, dp + ".cdrom.bus", d.cdrom().bus(), "sata", List.of("sata", "scsi"));
                readOnly = d.cdrom().readonly() == null || d.cdrom().readonly();
                if (!readOnly) throw err.invalid(dp + ".cdrom.readonly", "false", "a cdrom is read-only");
            } else {
                kind = VmPlan.DiskKind.DISK;
                VirtualMachine.DiskTarget target = d.disk();
                bus = choice(err, dp + ".disk.bus", target == null ? null : target.bus(), "virtio", List.of("virtio", "sata", "scsi"));
                readOnly = target != null && Boolean.TRUE.equals(target.readonly());
            }
            if (src instanceof VmPlan.CloudInitSource && kind == VmPlan.DiskKind.DISK) readOnly = false;
            if (d.bootOrder() != null) {
                if (d.bootOrder() < 1) throw err.invalid(dp + ".bootOrder", d.bootOrder().toString(), "a positive integer");
                if (!bootOrders.add(d.bootOrder())) throw err.duplicate(dp + ".bootOrder", d.bootOrder().toString());
            }
            if (d.serial() != null && !d.serial().matches("[A-Za-z0-9_.+-]{1,20}")) {
                throw err.invalid(dp + ".serial", d.serial(), "up to 20 of A-Z a-z 0-9 _ . + -");
            }
            disks.add(new VmPlan.PlannedDisk(d.name(), kind, bus, d.bootOrder(), d.serial(), readOnly, src));
        }
        for (int i = 0; i < volumes.size(); i++) {
            if (!diskNames.contains(volumes.get(i).name())) {
                throw err.notFound(ts + ".volumes[" + i + "].name", volumes.get(i).name(),
                        "no disk of that name in " + ds + ".devices.disks");
            }
        }
        List<VmPlan.PlannedNic> nics = nics(err, t, domain, ts, ds);
        boolean efi = false;
        if (domain.firmware() != null && domain.firmware().bootloader() != null) {
            VirtualMachine.Bootloader b = domain.firmware().bootloader();
            if (b.bios() != null && b.efi() != null) {
                throw err.invalid(ds + ".firmware.bootloader", "bios, efi", "exactly one of bios and efi");
            }
            efi = b.efi() != null;
            if (efi && Boolean.TRUE.equals(b.efi().secureBoot())) {
                throw err.unsupported(ds + ".firmware.bootloader.efi.secureBoot", "true", "false");
            }
        }
        long grace = DEFAULT_GRACE_SECONDS;
        if (t.terminationGracePeriodSeconds() != null) {
            grace = t.terminationGracePeriodSeconds();
            if (grace < 0) throw err.invalid(ts + ".terminationGracePeriodSeconds", Long.toString(grace), "0 or more");
        }
        Map<String, String> annotations = vm.metadata().annotations() == null ? Map.of() : vm.metadata().annotations();
        return new VmPlan(name, strategy, sockets, cores, threads, memoryMib, List.copyOf(disks), List.copyOf(nics), efi,
                grace, Map.copyOf(annotations));
    }

    private static List<VmPlan.PlannedNic> nics(Errors err, VirtualMachine.TemplateSpec t, VirtualMachine.Domain domain,
            String ts, String ds) {
        List<VirtualMachine.Interface> interfaces = domain.devices() == null || domain.devices().interfaces() == null
                ? null : domain.devices().interfaces();
        List<VirtualMachine.Network> networks = t.networks();
        if (interfaces == null && networks == null) {
            // KubeVirt's default: one interface on the pod network, masquerade
            return List.of(new VmPlan.PlannedNic("default", VmPlan.Binding.MASQUERADE, null, List.of(), null));
        }
        Map<String, VirtualMachine.Network> byName = new HashMap<>();
        List<VirtualMachine.Network> nets = networks == null ? List.of() : networks;
        boolean podSeen = false;
        for (int i = 0; i < nets.size(); i++) {
            String np = ts + ".networks[" + i + "]";
            VirtualMachine.Network n = nets.get(i);
            if (n.name() == null) throw err.required(np + ".name");
            if (byName.put(n.name(), n) != null) throw err.duplicate(np + ".name", n.name());
            if ((n.pod() == null) == (n.multus() == null)) throw err.invalid(np, n.name(), "exactly one of pod and multus");
            if (n.pod() != null) {
                if (podSeen) throw err.invalid(np + ".pod", n.name(), "at most one pod network");
                podSeen = true;
            }
            if (n.multus() != null) {
                String bridge = n.multus().networkName();
                if (bridge == null) throw err.required(np + ".multus.networkName");
                if (!BRIDGE_NAME.matcher(bridge).matches()) {
                    throw err.invalid(np + ".multus.networkName", bridge, "the name of a Linux bridge on the host");
                }
            }
        }
        List<VmPlan.PlannedNic> nics = new ArrayList<>();
        List<VirtualMachine.Interface> ifs = interfaces == null ? List.of() : interfaces;
        Set<String> seen = new HashSet<>();
        Set<String> hostPorts = new HashSet<>();
        for (int i = 0; i < ifs.size(); i++) {
            String ip = ds + ".devices.interfaces[" + i + "]";
            VirtualMachine.Interface f = ifs.get(i);
            if (f.name() == null) throw err.required(ip + ".name");
            if (!seen.add(f.name())) throw err.duplicate(ip + ".name", f.name());
            VirtualMachine.Network n = byName.get(f.name());
            if (n == null) throw err.notFound(ip + ".name", f.name(), "no network of that name in " + ts + ".networks");
            if ((f.masquerade() == null) == (f.bridge() == null)) {
                throw err.invalid(ip, f.name(), "exactly one binding: masquerade or bridge");
            }
            if (f.macAddress() != null && !MAC.matcher(f.macAddress()).matches()) {
                throw err.invalid(ip + ".macAddress", f.macAddress(), "a MAC address (e.g. 02:00:00:00:00:01)");
            }
            List<VmPlan.PlannedPort> ports = new ArrayList<>();
            List<VirtualMachine.Port> given = f.ports() == null ? List.of() : f.ports();
            for (int j = 0; j < given.size(); j++) {
                String pp = ip + ".ports[" + j + "]";
                VirtualMachine.Port p = given.get(j);
                if (p.port() == null) throw err.required(pp + ".port");
                if (p.port() < 1 || p.port() > 65535) throw err.invalid(pp + ".port", p.port().toString(), "1 to 65535");
                String protocol = choice(err, pp + ".protocol", p.protocol(), "TCP", List.of("TCP", "UDP"));
                if (!hostPorts.add(protocol + "/" + p.port())) throw err.duplicate(pp + ".port", p.port().toString());
                ports.add(new VmPlan.PlannedPort(p.name(), p.port(), protocol));
            }
            if (f.masquerade() != null) {
                if (n.pod() == null) throw err.invalid(ip + ".masquerade", f.name(), "masquerade binds to the pod network only");
                nics.add(new VmPlan.PlannedNic(f.name(), VmPlan.Binding.MASQUERADE, null, List.copyOf(ports), f.macAddress()));
            } else {
                if (n.multus() == null) {
                    throw err.invalid(ip + ".bridge", f.name(), "a bridge binding needs a multus network naming the host bridge");
                }
                if (!ports.isEmpty()) throw err.invalid(ip + ".ports", f.name(), "ports are for masquerade only");
                nics.add(new VmPlan.PlannedNic(f.name(), VmPlan.Binding.BRIDGE, n.multus().networkName(), List.of(), f.macAddress()));
            }
        }
        for (int i = 0; i < nets.size(); i++) {
            if (!seen.contains(nets.get(i).name())) {
                throw err.notFound(ts + ".networks[" + i + "].name", nets.get(i).name(),
                        "no interface of that name in " + ds + ".devices.interfaces");
            }
        }
        return nics;
    }

    private static VmPlan.Source source(Errors err, String vp, VirtualMachine.Volume v) {
        List<String> given = new ArrayList<>();
        if (v.containerDisk() != null) given.add("containerDisk");
        if (v.hostDisk() != null) given.add("hostDisk");
        if (v.emptyDisk() != null) given.add("emptyDisk");
        if (v.ephemeral() != null) given.add("ephemeral");
        if (v.cloudInitNoCloud() != null) given.add("cloudInitNoCloud");
        if (given.size() != 1) {
            throw err.invalid(vp, v.name(), "exactly one source: containerDisk, hostDisk, emptyDisk, ephemeral or cloudInitNoCloud"
                    + (given.isEmpty() ? "" : " (not " + String.join(" and ", given) + ")"));
        }
        if (v.containerDisk() != null) {
            VirtualMachine.ContainerDisk cd = v.containerDisk();
            if (cd.image() == null || cd.image().isBlank()) throw err.required(vp + ".containerDisk.image");
            String policy = cd.imagePullPolicy() == null ? null
                    : choice(err, vp + ".containerDisk.imagePullPolicy", cd.imagePullPolicy(), null, List.of("Always", "IfNotPresent", "Never"));
            if (cd.path() != null && !cd.path().startsWith("/")) {
                throw err.invalid(vp + ".containerDisk.path", cd.path(), "an absolute path in the image");
            }
            String image = cd.image();
            if (!image.startsWith("/") && !image.startsWith(DiskSources.OCI_ARCHIVE)) {
                String why = Registries.invalid(image);
                if (why != null) throw err.invalid(vp + ".containerDisk.image", image, why);
            }
            return new VmPlan.ContainerDiskSource(image, cd.path(), policy, vp + ".containerDisk.image");
        }
        if (v.hostDisk() != null) {
            VirtualMachine.HostDisk h = v.hostDisk();
            if (h.path() == null) throw err.required(vp + ".hostDisk.path");
            if (!h.path().startsWith("/")) throw err.invalid(vp + ".hostDisk.path", h.path(), "an absolute path");
            if (h.type() == null) throw err.required(vp + ".hostDisk.type");
            boolean create = switch (h.type()) {
                case "Disk" -> false;
                case "DiskOrCreate" -> true;
                default -> throw err.unsupported(vp + ".hostDisk.type", h.type(), "Disk", "DiskOrCreate");
            };
            long capacity = 0;
            if (h.capacity() != null) capacity = quantity(err, vp + ".hostDisk.capacity", h.capacity());
            else if (create) throw err.required(vp + ".hostDisk.capacity");
            return new VmPlan.HostDiskSource(h.path(), create, capacity);
        }
        if (v.emptyDisk() != null) {
            if (v.emptyDisk().capacity() == null) throw err.required(vp + ".emptyDisk.capacity");
            return new VmPlan.EmptyDiskSource(quantity(err, vp + ".emptyDisk.capacity", v.emptyDisk().capacity()));
        }
        if (v.ephemeral() != null) {
            var claim = v.ephemeral().persistentVolumeClaim();
            if (claim == null || claim.claimName() == null) throw err.required(vp + ".ephemeral.persistentVolumeClaim.claimName");
            if (!claim.claimName().startsWith("/")) {
                throw err.invalid(vp + ".ephemeral.persistentVolumeClaim.claimName", claim.claimName(),
                        "the absolute path of a disk file (Vessel has no PersistentVolumeClaims)");
            }
            return new VmPlan.EphemeralSource(claim.claimName());
        }
        VirtualMachine.CloudInitNoCloud c = v.cloudInitNoCloud();
        String cp = vp + ".cloudInitNoCloud";
        if (c.userData() != null && c.userDataBase64() != null) {
            throw err.invalid(cp + ".userDataBase64", "…", "userData and userDataBase64 are mutually exclusive");
        }
        if (c.networkData() != null && c.networkDataBase64() != null) {
            throw err.invalid(cp + ".networkDataBase64", "…", "networkData and networkDataBase64 are mutually exclusive");
        }
        String user = c.userData() != null ? c.userData() : base64(err, cp + ".userDataBase64", c.userDataBase64());
        String network = c.networkData() != null ? c.networkData() : base64(err, cp + ".networkDataBase64", c.networkDataBase64());
        if (user == null && network == null) throw err.required(cp + ".userData");
        return new VmPlan.CloudInitSource(user, network);
    }

    private static String base64(Errors err, String path, String value) {
        if (value == null) return null;
        try {
            return new String(Base64.getMimeDecoder().decode(value), java.nio.charset.StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw err.invalid(path, abbreviate(value), "base64");
        }
    }

    private static int positive(Errors err, String path, Integer value, int fallback) {
        if (value == null) return fallback;
        if (value < 1) throw err.invalid(path, value.toString(), "a positive integer");
        return value;
    }

    private static String choice(Errors err, String path, String value, String fallback, List<String> allowed) {
        if (value == null) return fallback;
        if (!allowed.contains(value)) throw err.unsupported(path, value, allowed.toArray(String[]::new));
        return value;
    }

    private static <E extends Enum<E>> E enumValue(Errors err, String path, String value, Class<E> type) {
        for (E e : type.getEnumConstants()) if (e.name().equals(value)) return e;
        throw err.unsupported(path, value, java.util.Arrays.stream(type.getEnumConstants()).map(Enum::name).toArray(String[]::new));
    }

    /** A Kubernetes quantity in bytes: "1Gi", "512Mi", "1G", "1500M", "1073741824". */
    public static long quantity(String value) {
        Matcher m = QUANTITY.matcher(value.strip());
        if (!m.matches()) throw new IllegalArgumentException(value);
        double number = Double.parseDouble(m.group(1));
        String suffix = m.group(2) == null ? "" : m.group(2);
        long factor = switch (suffix) {
            case "" -> 1L;
            case "k" -> 1000L;
            case "M" -> 1000L * 1000;
            case "G" -> 1000L * 1000 * 1000;
            case "T" -> 1000L * 1000 * 1000 * 1000;
            case "P" -> 1000L * 1000 * 1000 * 1000 * 1000;
            case "Ki" -> 1L << 10;
            case "Mi" -> 1L << 20;
            case "Gi" -> 1L << 30;
            case "Ti" -> 1L << 40;
            case "Pi" -> 1L << 50;
            default -> throw new IllegalArgumentException(value);
        };
        return (long) Math.ceil(number * factor);
    }

    private static long quantity(Errors err, String path, String value) {
        try {
            long bytes = quantity(value);
            if (bytes <= 0) throw err.invalid(path, value, "a positive quantity (e.g. 1Gi, 512Mi)");
            return bytes;
        } catch (IllegalArgumentException e) {
            throw err.invalid(path, value, "a quantity (e.g. 1Gi, 512Mi, 2G)");
        }
    }

    private static String path(JsonMappingException e) {
        StringBuilder b = new StringBuilder();
        for (JsonMappingException.Reference r : e.getPath()) {
            if (r.getFieldName() != null) {
                if (!b.isEmpty()) b.append('.');
                b.append(r.getFieldName());
            } else if (r.getIndex() >= 0) {
                b.append('[').append(r.getIndex()).append(']');
            }
        }
        return b.toString();
    }

    private static String typeName(Class<?> type) {
        if (type == null) return "another type";
        if (type == Integer.class || type == int.class || type == Long.class || type == long.class) return "an integer";
        if (type == Boolean.class || type == boolean.class) return "true or false";
        if (type == String.class) return "a string";
        if (List.class.isAssignableFrom(type)) return "a list";
        if (Map.class.isAssignableFrom(type)) return "a map of strings";
        return "an object";
    }

    private static String firstLine(String s) {
        return s == null ? "invalid" : s.lines().findFirst().orElse(s).strip();
    }

    private static String abbreviate(String s) {
        return s.length() > 40 ? s.substring(0, 40) + "…" : s;
    }

    /** kubectl's field errors, each one line prefixed with the manifest's name. */
    private record Errors(String source) {
        OciException required(String path) {
            return new OciException(source + ": " + path + ": Required value");
        }

        OciException invalid(String path, String value, String want) {
            return new OciException(source + ": " + path + ": Invalid value: \"" + value + "\": " + want);
        }

        OciException unsupported(String path, String value, String... allowed) {
            List<String> quoted = java.util.Arrays.stream(allowed).map(a -> "\"" + a + "\"").toList();
            return new OciException(source + ": " + path + ": Unsupported value: \"" + value + "\": supported values: "
                    + String.join(", ", quoted));
        }

        OciException duplicate(String path, String value) {
            return new OciException(source + ": " + path + ": Duplicate value: \"" + value + "\"");
        }

        OciException notFound(String path, String value, String why) {
            return new OciException(source + ": " + path + ": Not found: \"" + value + "\": " + why);
        }
    }
}
