package dev.zq.model.decoder;

import dev.zq.model.ModelFormatException;
import dev.zq.model.format.SafeTensors;
import dev.zq.model.tokenizer.ByteLevelBpeTokenizer;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A decoder opened from a Hugging Face directory ({@code config.json}, {@code model.safetensors}, and
 * {@code tokenizer.json} or {@code vocab.json}+{@code merges.txt}), owning the mapped weights and the memory of
 * converted ones. The tokenizer is null when the directory has none (token ids only).
 */
public final class LanguageModel implements AutoCloseable {
    private final SafeTensors weights;
    private final Arena arena;
    private final DecoderModel model;
    private final ByteLevelBpeTokenizer tokenizer;

    private LanguageModel(SafeTensors weights, Arena arena, DecoderModel model, ByteLevelBpeTokenizer tokenizer) {
        this.weights = weights;
        this.arena = arena;
        this.model = model;
        this.tokenizer = tokenizer;
    }

    public static LanguageModel open(Path dir) throws ModelFormatException {
        return open(dir, null);
    }

    /** Opens a decoder whose block projections {@code projections} reads (null: HF's FP layout). */
    public static LanguageModel open(Path dir, DecoderCheckpoint.ProjectionReader projections) throws ModelFormatException {
        if (!Files.isDirectory(dir)) throw ModelFormatException.of(dir, "a decoder is a directory with config.json and model.safetensors");
        DecoderCheckpoint.readConfig(dir);
        SafeTensors w = SafeTensors.open(dir.resolve("model.safetensors"));
        Arena arena = Arena.ofShared();
        try {
            DecoderModel m = DecoderCheckpoint.load(dir, w, arena, projections);
            boolean hasTokenizer = Files.isRegularFile(dir.resolve("tokenizer.json")) || Files.isRegularFile(dir.resolve("vocab.json"));
            ByteLevelBpeTokenizer tok = hasTokenizer ? ByteLevelBpeTokenizer.fromDirectory(dir) : null;
            if (tok != null && tok.vocabSize() > m.config().vocabSize())
                throw ModelFormatException.of(dir, "tokenizer has " + tok.vocabSize() + " tokens, the model only " + m.config().vocabSize());
            return new LanguageModel(w, arena, m, tok);
        } catch (ModelFormatException | RuntimeException e) {
            arena.close();
            w.close();
            throw e;
        }
    }

    public DecoderModel model() { return model; }
    public ByteLevelBpeTokenizer tokenizer() { return tokenizer; }

    /** The tokenizer, or a clear error for a directory that has none. */
    public ByteLevelBpeTokenizer requireTokenizer() {
        if (tokenizer == null) throw new IllegalArgumentException("this model directory has no tokenizer.json (or vocab.json + merges.txt)");
        return tokenizer;
    }

    @Override
    public void close() {
        arena.close();
        weights.close();
    }
}
