package dev.vessel.daemon;

import com.fasterxml.jackson.annotation.JsonInclude;
import dev.vessel.oci.Isolation;
import dev.vessel.runtime.MicroVmState;
import dev.vessel.runtime.OciState;
import dev.vessel.runtime.SandboxRecord;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One sandbox as the management API shows it (docs/management-api.yaml's {@code Sandbox}): the
 * list leaves out {@code pids} and {@code resources}, which cost a read of the cgroup and the bundle.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
record SandboxInfo(String id, String root, String isolation, String status, long pid, String bundle, String created,
        String owner, Kubernetes kubernetes, Map<String, String> annotations, List<Long> pids, Resources resources,
        Long vmmPid, String apiSocket) {

    /** The bundle's limits; for a microVM also how its VM was sized. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record Resources(Long memoryLimitBytes, Long cpuQuota, Long cpuPeriod, Long cpuShares, Long pidsLimit, Integer vcpus,
            Integer guestMemoryMib) {}

    /**
     * Who the sandbox is in Kubernetes, from the CRI annotations containerd (io.kubernetes.cri.*)
     * or CRI-O (io.kubernetes.pod.*, io.kubernetes.container.name) put in the bundle.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record Kubernetes(String pod, String namespace, String container, String type, String sandboxId) {
        static Kubernetes of(Map<String, String> a) {
            String pod = first(a, "io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name");
            String namespace = first(a, "io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace");
            String container = first(a, "io.kubernetes.cri.container-name", "io.kubernetes.container.name");
            String type = first(a, "io.kubernetes.cri.container-type", "io.kubernetes.cri-o.ContainerType");
            String sandboxId = first(a, "io.kubernetes.cri.sandbox-id", "io.kubernetes.cri-o.SandboxID");
            if (pod == null && namespace == null && container == null && type == null && sandboxId == null) return null;
            return new Kubernetes(pod, namespace, container, type, sandboxId);
        }

        private static String first(Map<String, String> annotations, String... keys) {
            for (String key : keys) {
                String value = annotations.get(key);
                if (value != null && !value.isEmpty()) return value;
            }
            return null;
        }
    }

    /** What the list shows. */
    static SandboxInfo summary(SandboxCatalog.Entry entry) {
        OciState s = entry.state();
        Map<String, String> annotations = s.annotations() == null ? Map.of() : s.annotations();
        return new SandboxInfo(s.id(), entry.root().toString(), entry.isolation().label(), s.status(), s.pid(), s.bundle(),
                s.created(), s.owner(), Kubernetes.of(annotations), annotations, null, null, null, null);
    }

    /** What inspect shows: the summary with the processes, the limits, QEMU's pid and the Firecracker API socket. */
    static SandboxInfo detail(SandboxCatalog.Entry entry) {
        SandboxInfo s = summary(entry);
        MicroVmState vm = entry.record().microvm();
        Integer vcpus = vm == null ? null : vm.vcpus();
        Integer memoryMib = vm == null ? null : vm.memoryMib();
        Resources resources = resources(s.bundle(), vcpus, memoryMib);
        String api = s.annotations().get("dev.vessel.api-socket");
        Long vmmPid = vm != null && vm.qemuPid() > 0 ? vm.qemuPid() : null;
        return new SandboxInfo(s.id(), s.root(), s.isolation(), s.status(), s.pid(), s.bundle(), s.created(), s.owner(),
                s.kubernetes(), s.annotations(), pids(entry), resources, vmmPid, api);
    }

    /**
     * The host's processes of the sandbox: a container's cgroup members; for a microVM the relays
     * that stand for its processes (the guest's own are listed by {@code vessel ps}).
     */
    static List<Long> pids(SandboxCatalog.Entry entry) {
        List<Long> pids = new ArrayList<>();
        long pid = entry.state().pid();
        if (pid <= 0 || !ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) return pids;
        if (entry.isolation() == Isolation.MICROVM) {
            pids.add(pid);
            MicroVmState vm = entry.record().microvm();
            if (vm != null) {
                vm.execRelays().stream().filter(p -> ProcessHandle.of(p).map(ProcessHandle::isAlive).orElse(false)).forEach(pids::add);
            }
            return pids;
        }
        try {
            dev.vessel.linux.Cgroup cgroup = dev.vessel.linux.Cgroup.ofProcess(pid);
            String controller = cgroup.isUnified() ? "memory" : "pids";
            cgroup.read(controller, "cgroup.procs").ifPresent(text -> text.lines().forEach(
                    line -> dev.vessel.linux.Cgroup.parseLong(line).ifPresent(pids::add)));
        } catch (IOException e) {
            // exited meanwhile
        }
        if (pids.isEmpty()) pids.add(pid);
        return pids;
    }

    static Resources resources(String bundle, Integer vcpus, Integer guestMemoryMib) {
        dev.vessel.oci.OciSpec.Resources r = null;
        if (bundle != null) {
            try {
                r = dev.vessel.oci.OciSpec.read(Path.of(bundle)).linux().resources();
            } catch (IOException | RuntimeException e) {
                // the bundle is gone (or its config is not one): only what Vessel kept
            }
        }
        if (r == null) return new Resources(null, null, null, null, null, vcpus, guestMemoryMib);
        return new Resources(r.memory().limit(), r.cpu().quota(), r.cpu().period(), r.cpu().shares(), r.pids().limit(),
                vcpus, guestMemoryMib);
    }
}
