package dev.vessel.daemon;

import dev.vessel.oci.OciException;
import dev.vessel.oci.ViewPlan;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** One client call: what was asked, where to answer, and the options that apply to it. */
final class Call {
    final Protocol.Request request;
    final Protocol.Replier reply;
    final Settings settings;
    /** What the resource view adds to a container; null when the view is off or unavailable. */
    final ViewPlan view;
    final MicroVms microVms;
    LowLevelRuntime.GlobalOptions global;
    private LowLevelRuntime runtime;

    Call(Protocol.Request request, Protocol.Replier reply, Settings settings, ViewPlan view, MicroVms microVms) {
        this.request = request;
        this.reply = reply;
        this.settings = settings;
        this.view = view;
        this.microVms = microVms;
    }

    /** A path from the command line, relative to the client's working directory. */
    Path resolve(String path) {
        return Path.of(request.cwd()).resolve(path).normalize();
    }

    LowLevelRuntime runtime() {
        if (runtime == null) {
            runtime = LowLevelRuntime.resolve(settings.lowLevelRuntime());
        }
        return runtime;
    }

    Path root() {
        return global.root();
    }

    Path containerDir(String id) {
        return root().resolve(id);
    }

    boolean exists(String id) {
        return Files.isDirectory(containerDir(id));
    }

    void requireExists(String id) {
        if (!exists(id)) {
            throw new OciException("container \"" + id + "\" does not exist");
        }
    }

    void print(String text) {
        try {
            reply.stdout(text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Has the client exec the low-level runtime with this subcommand and arguments. */
    void execRuntime(List<String> subcommandAndArgs, List<byte[]> files) {
        List<String> argv = new ArrayList<>(runtime().globalArgs(global));
        argv.addAll(subcommandAndArgs);
        try {
            reply.exec(new Protocol.Program(argv, request.env(), files));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    void execRuntime(List<String> subcommandAndArgs) {
        execRuntime(subcommandAndArgs, List.of());
    }

    /** Runs the low-level runtime as the client's child and returns its exit status. */
    int spawnRuntime(List<String> subcommandAndArgs) {
        List<String> argv = new ArrayList<>(runtime().globalArgs(global));
        argv.addAll(subcommandAndArgs);
        try {
            return reply.spawn(new Protocol.Program(argv, request.env(), List.of()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
