package dev.zq.quant;

import dev.zq.model.ModelFormatException;
import dev.zq.model.decoder.DecoderCheckpoint;
import dev.zq.model.decoder.DecoderModel;
import dev.zq.model.decoder.LanguageModel;
import dev.zq.model.format.SafeTensors;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A quantized decoder on disk: Hugging Face's directory layout (config.json, tokenizer files, model.safetensors
 * with HF's names for embeddings and norms), with every block projection stored as {@link QuantizedModelFile}
 * stores a BERT projection ({@code NAME.qweight} I8/I4 {@code [out, in]}, {@code NAME.scales}, {@code NAME.bias},
 * or FP {@code NAME.weight} in zq's {@code [out, in]} order; {@code zq.bits/zq.group/zq.act.NAME} metadata).
 * {@code zq.format} = {@value #FORMAT}. Written to a temporary directory and renamed into place when complete.
 */
public final class QuantizedDecoderFile {
    public static final String FORMAT = "zq-quantized-decoder/1";
    static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
            "special_tokens_map.json", "generation_config.json");

    private QuantizedDecoderFile() {}

    /** Writes {@code model} to {@code dir}, with the tokenizer files found in {@code source} (the FP model's directory). */
    public static void write(Path dir, DecoderModel model, String schemeName, Path source) throws IOException {
        QuantizedModelFile.writeAtomically(dir, tmp -> {
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("zq.format", FORMAT);
            meta.put("zq.scheme", schemeName);
            meta.put("zq.source", source.toAbsolutePath().toString());
            DecoderCheckpoint.save(model, tmp, QuantizedModelFile::putLinear, meta);
            for (String f : TOKENIZER_FILES)
                if (Files.isRegularFile(source.resolve(f))) Files.copy(source.resolve(f), tmp.resolve(f));
        });
    }

    /** Whether {@code dir} holds a decoder written by {@link #write}. */
    public static boolean isQuantized(Path dir) {
        return QuantizedModelFile.hasFormat(dir, FORMAT);
    }

    /** Opens a quantized decoder directory, or an FP one in HF's layout. */
    public static LanguageModel openAny(Path dir) throws ModelFormatException {
        if (!isQuantized(dir)) return LanguageModel.open(dir);
        return LanguageModel.open(dir, (st, name) -> QuantizedModelFile.readLinear(st, st.metadata(), name));
    }

    /** The scheme name recorded in a quantized decoder, or null for an FP directory. */
    public static String schemeOf(Path dir) {
        return metadata(dir, "zq.scheme");
    }

    /** The FP model directory a quantized decoder was made from, as recorded when written (it may since have moved), or null. */
    public static Path sourceOf(Path dir) {
        String s = metadata(dir, "zq.source");
        return s == null ? null : Path.of(s);
    }

    private static String metadata(Path dir, String key) {
        try (SafeTensors s = SafeTensors.open(dir.resolve("model.safetensors"))) {
            return s.metadata().get(key);
        } catch (ModelFormatException e) {
            return null;
        }
    }
}
