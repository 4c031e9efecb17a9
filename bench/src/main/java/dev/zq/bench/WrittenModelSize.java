package dev.zq.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;

/** The size of the {@code model.safetensors} a model writer produces, written to a temporary directory and deleted after. */
final class WrittenModelSize {
    private WrittenModelSize() {}

    /** Writes a model directory at the path it is given. */
    interface Writer {
        void write(Path dir) throws IOException;
    }

    static long of(Writer writer) throws IOException {
        Path tmp = Files.createTempDirectory("zq-size");
        try {
            Path out = tmp.resolve("model");
            writer.write(out);
            return Files.size(out.resolve("model.safetensors"));
        } finally {
            try (var files = Files.walk(tmp)) {
                for (Path f : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
            }
        }
    }
}
