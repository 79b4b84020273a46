package dev.vessel.daemon;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The {@code --log} file in runc's formats: JSON lines {"level","msg","time"} (which
 * containerd's shim reads back to explain a failure) or logrus-style text.
 */
final class RuntimeLog {
    private static final ObjectMapper JSON = new ObjectMapper();

    private RuntimeLog() {}

    static void write(String file, String format, String level, String message) {
        if (file == null) {
            return;
        }
        String line;
        if ("json".equals(format)) {
            Map<String, String> entry = new LinkedHashMap<>();
            entry.put("level", level);
            entry.put("msg", message);
            entry.put("time", Instant.now().toString());
            try {
                line = JSON.writeValueAsString(entry);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        } else {
            line = "time=\"" + Instant.now() + "\" level=" + level + " msg=\"" + message.replace("\"", "\\\"") + "\"";
        }
        try {
            Files.writeString(Path.of(file), line + "\n", StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE);
        } catch (IOException e) {
            Vesseld.log("cannot write log " + file + ": " + e.getMessage());
        }
    }
}
