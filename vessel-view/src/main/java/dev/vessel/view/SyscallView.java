package dev.vessel.view;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.vessel.linux.Cgroup;
import dev.vessel.linux.SeccompNotify;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * The system-call half of the resource view: answers {@code sysinfo(2)} and, opt-in,
 * {@code sched_getaffinity(2)} trapped by seccomp user notification, with the calling
 * container's numbers written straight into the caller's buffer.
 *
 * <p>Any call that cannot be answered — a caller that went away, a buffer that cannot be written,
 * a view that cannot be rendered — runs for real instead: a container never fails or hangs
 * because of the view.
 */
public final class SyscallView {
    private static final int SYSINFO_SIZE = 112;
    private static final int EINVAL = 22;

    private final ResourceView view;
    private final int possibleCpus;

    public SyscallView(ResourceView view, int possibleCpus) {
        this.view = view;
        this.possibleCpus = possibleCpus;
    }

    /**
     * Serves one container's notify fd on a thread of its own until the container's last task
     * exits; then closes the fd and calls {@code onEnd}.
     */
    public Thread serve(String name, int notifyFd, Consumer<String> onEnd) {
        return Thread.ofPlatform().daemon().name("seccomp " + name).start(() -> {
            SeccompNotify notify = new SeccompNotify(notifyFd);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment buffer = arena.allocate(Math.max(SYSINFO_SIZE, maskBytes()), 8);
                SeccompNotify.Notification call;
                while ((call = notify.receive()) != null) {
                    answer(notify, call, buffer);
                }
            } finally {
                notify.close();
                onEnd.accept(name);
            }
        });
    }

    private void answer(SeccompNotify notify, SeccompNotify.Notification call, MemorySegment buffer) {
        try {
            switch (call.syscall()) {
                case SeccompNotify.SYS_SYSINFO -> answerSysinfo(notify, call, buffer);
                case SeccompNotify.SYS_SCHED_GETAFFINITY -> answerAffinity(notify, call, buffer);
                default -> notify.letThrough(call.id());
            }
        } catch (RuntimeException e) {
            notify.letThrough(call.id());
        }
    }

    private void answerSysinfo(SeccompNotify notify, SeccompNotify.Notification call, MemorySegment buffer) {
        MemorySegment struct = buffer.asSlice(0, SYSINFO_SIZE);
        encode(view.sysinfo(call.pid()), struct);
        // The pid names the caller only while the call waits: check before writing into it.
        if (notify.stillWaiting(call.id()) && SeccompNotify.writeMemory(call.pid(), call.args()[0], struct) == SYSINFO_SIZE) {
            notify.answer(call.id(), 0, 0);
        } else {
            notify.letThrough(call.id());
        }
    }

    /** sched_getaffinity(pid, len, mask): for the caller itself, the CPUs its container may use. */
    private void answerAffinity(SeccompNotify notify, SeccompNotify.Notification call, MemorySegment buffer) {
        long target = call.args()[0];
        long length = call.args()[1];
        if (target != 0 && target != call.pid()) {
            notify.letThrough(call.id()); // another process's mask: not ours to shape
            return;
        }
        int size = maskBytes();
        if (length < size) {
            notify.answer(call.id(), 0, EINVAL); // as the kernel answers a mask too small for its CPUs
            return;
        }
        MemorySegment mask = buffer.asSlice(0, size);
        mask.fill((byte) 0);
        for (int cpu : view.visibleCpus(call.pid())) {
            if (cpu < possibleCpus) {
                long word = mask.get(JAVA_LONG, (cpu / 64) * 8L);
                mask.set(JAVA_LONG, (cpu / 64) * 8L, word | (1L << (cpu % 64)));
            }
        }
        if (notify.stillWaiting(call.id()) && SeccompNotify.writeMemory(call.pid(), call.args()[2], mask) == size) {
            notify.answer(call.id(), size, 0);
        } else {
            notify.letThrough(call.id());
        }
    }

    /** The kernel's cpumask size in bytes: whole longs covering every possible CPU. */
    private int maskBytes() {
        return ((possibleCpus + 63) / 64) * 8;
    }

    /** struct sysinfo as x86_64 lays it out (see sysinfo(2)). */
    static void encode(Sysinfo s, MemorySegment out) {
        out.fill((byte) 0);
        out.set(JAVA_LONG, 0, s.uptime());
        for (int i = 0; i < 3; i++) {
            out.set(JAVA_LONG, 8 + 8L * i, s.loads()[i]);
        }
        out.set(JAVA_LONG, 32, s.totalram());
        out.set(JAVA_LONG, 40, s.freeram());
        out.set(JAVA_LONG, 48, s.sharedram());
        out.set(JAVA_LONG, 56, s.bufferram());
        out.set(JAVA_LONG, 64, s.totalswap());
        out.set(JAVA_LONG, 72, s.freeswap());
        out.set(JAVA_SHORT, 80, (short) Math.min(s.procs(), 0xffff));
        out.set(JAVA_LONG, 88, 0); // totalhigh
        out.set(JAVA_LONG, 96, 0); // freehigh
        out.set(JAVA_INT, 104, 1); // mem_unit: byte counts
    }

    /** The number of possible CPUs (the kernel's nr_cpu_ids), from /sys/devices/system/cpu/possible. */
    public static int possibleCpus() {
        return Cgroup.readFile(Path.of("/sys/devices/system/cpu/possible"))
                .map(text -> {
                    int max = 0;
                    for (String range : text.split(",")) {
                        String[] ends = range.split("-");
                        max = Math.max(max, Integer.parseInt(ends[ends.length - 1].trim()));
                    }
                    return max + 1;
                })
                .orElse(Runtime.getRuntime().availableProcessors());
    }
}
