package dev.vessel.shim;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.logging.Logger;

/**
 * Task events to containerd, in order, as containerd 1.6's shims publish them: a ttrpc call of
 * {@code containerd.services.events.ttrpc.v1.Events/Forward} on the address containerd gives its
 * shims in {@code TTRPC_ADDRESS}. containerd's CRI plugin learns of a container's exit only from
 * {@code /tasks/exit}. The message builders are the events of api/events/task.proto.
 */
final class Events implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(Events.class.getName());
    private static final String PREFIX = "containerd.events.";

    private final String ttrpcAddress;
    private final String namespace;
    private final ExecutorService queue = Executors.newSingleThreadExecutor();
    private SocketChannel channel;
    private int nextStream = 1;

    Events(String ttrpcAddress, String namespace) {
        this.ttrpcAddress = ttrpcAddress;
        this.namespace = namespace;
    }

    /** One event to publish: its topic, its type's name and its message. */
    record Event(String topic, String type, Protobuf.Writer message) {
    }

    static Event taskCreate(String id, String bundle, Runtime.Stdio stdio, boolean terminal, int pid) {
        return new Event("/tasks/create", "TaskCreate", new Protobuf.Writer().string(1, id).string(2, bundle)
                .message(4, new Protobuf.Writer().string(1, stdio.stdin()).string(2, stdio.stdout()).string(3, stdio.stderr())
                        .bool(4, terminal))
                .uint(6, pid));
    }

    static Event taskStart(String id, int pid) {
        return new Event("/tasks/start", "TaskStart", new Protobuf.Writer().string(1, id).uint(2, pid));
    }

    static Event taskExit(String id, String processId, int pid, int status, Instant at) {
        return new Event("/tasks/exit", "TaskExit", new Protobuf.Writer().string(1, id).string(2, processId).uint(3, pid)
                .uint(4, status).timestamp(5, at));
    }

    static Event taskDelete(String id, int pid, int status, Instant at) {
        return new Event("/tasks/delete", "TaskDelete", new Protobuf.Writer().string(1, id).uint(2, pid).uint(3, status)
                .timestamp(4, at).string(5, id));
    }

    static Event execAdded(String id, String execId) {
        return new Event("/tasks/exec-added", "TaskExecAdded", new Protobuf.Writer().string(1, id).string(2, execId));
    }

    static Event execStarted(String id, String execId, int pid) {
        return new Event("/tasks/exec-started", "TaskExecStarted", new Protobuf.Writer().string(1, id).string(2, execId).uint(3, pid));
    }

    static Event taskOom(String id) {
        return new Event("/tasks/oom", "TaskOOM", new Protobuf.Writer().string(1, id));
    }

    static Event paused(String id) {
        return new Event("/tasks/paused", "TaskPaused", new Protobuf.Writer().string(1, id));
    }

    static Event resumed(String id) {
        return new Event("/tasks/resumed", "TaskResumed", new Protobuf.Writer().string(1, id));
    }

    /** The ForwardRequest for {@code event}: an Envelope (timestamp 1, namespace 2, topic 3, event 4 as an Any). */
    static byte[] forwardRequest(String namespace, Event event, Instant at) {
        Protobuf.Writer envelope = new Protobuf.Writer().timestamp(1, at).string(2, namespace).string(3, event.topic())
                .any(4, PREFIX + event.type(), event.message());
        return new Protobuf.Writer().message(1, envelope).toByteArray();
    }

    /** Queues {@code event}; sent in order, a failure logged (containerd may be restarting). */
    void publish(Event event) {
        if (ttrpcAddress == null || ttrpcAddress.isEmpty()) return;
        Instant at = Instant.now();
        queue.execute(() -> {
            for (int attempt = 0; attempt < 3; attempt++) {
                try {
                    forward(forwardRequest(namespace, event, at));
                    return;
                } catch (IOException e) {
                    LOG.warning("publishing " + event.topic() + ": " + e.getMessage());
                    closeChannel();
                    try {
                        Thread.sleep(200L << attempt);
                    } catch (InterruptedException ie) {
                        return;
                    }
                }
            }
        });
    }

    private void forward(byte[] payload) throws IOException {
        if (channel == null) {
            String path = ttrpcAddress.startsWith("unix://") ? ttrpcAddress.substring(7) : ttrpcAddress;
            channel = SocketChannel.open(UnixDomainSocketAddress.of(path));
        }
        OutputStream out = Channels.newOutputStream(channel);
        InputStream in = Channels.newInputStream(channel);
        int stream = nextStream;
        nextStream += 2; // a ttrpc client's streams are odd
        byte[] request = new Ttrpc.Request("containerd.services.events.ttrpc.v1.Events", "Forward", payload,
                Map.of("containerd-namespace-ttrpc", namespace)).encode();
        Ttrpc.write(out, new Ttrpc.Frame(stream, Ttrpc.REQUEST, (byte) 0, request));
        Ttrpc.Frame frame = Ttrpc.read(in);
        Ttrpc.Response response = Ttrpc.Response.parse(frame.body());
        if (response.code() != Ttrpc.OK) throw new IOException("containerd answered " + response.code() + ": " + response.message());
    }

    private void closeChannel() {
        try {
            if (channel != null) channel.close();
        } catch (IOException e) {
            // gone already
        }
        channel = null;
    }

    /** Sends what is queued (a few seconds at most), then closes. */
    @Override
    public void close() {
        queue.shutdown();
        try {
            queue.awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        closeChannel();
    }
}
