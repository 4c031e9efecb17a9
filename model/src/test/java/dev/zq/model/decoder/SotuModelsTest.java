package dev.zq.model.decoder;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.zq.model.BundledModels;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The bundled sotu-gpt and sotu-llama against what transformers computed when scripts/train_sotu_gpt.py trained them
 * (reference.json: FP32 on the saved FP16 weights, TF32 off).
 */
class SotuModelsTest {
    static JsonNode reference(Path dir) throws Exception {
        return new ObjectMapper().readTree(dir.resolve("reference.json").toFile());
    }

    static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).asInt();
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {BundledModels.SOTU_GPT, BundledModels.SOTU_LLAMA})
    void lastPositionLogitsEqualTransformers(String name) throws Exception {
        Path dir = BundledModels.resolve(name);
        JsonNode ref = reference(dir);
        int[] prompt = ints(ref.get("prompt_ids"));
        JsonNode expected = ref.get("prompt_last_logits");
        try (LanguageModel lm = LanguageModel.open(dir); Arena a = Arena.ofShared(); KvCache cache = lm.model().newCache(1, prompt.length)) {
            DecoderModel m = lm.model();
            assertEquals(4096, m.config().vocabSize());
            assertEquals(name.equals(BundledModels.SOTU_LLAMA) ? DecoderConfig.Family.LLAMA : DecoderConfig.Family.GPT2, m.config().family());
            Tensor logits = m.forward(a, cache, 1, prompt.length, prompt, false);
            double maxDiff = 0, maxRef = 0;
            int argmax = 0, refArgmax = 0;
            for (int i = 0; i < 4096; i++) {
                double r = expected.get(i).asDouble();
                maxDiff = Math.max(maxDiff, Math.abs(logits.getFloat(i) - r));
                maxRef = Math.max(maxRef, Math.abs(r));
                if (logits.getFloat(i) > logits.getFloat(argmax)) argmax = i;
                if (r > expected.get(refArgmax).asDouble()) refArgmax = i;
            }
            assertTrue(maxDiff / maxRef < 1e-5, "relative error " + maxDiff / maxRef);
            assertEquals(refArgmax, argmax);
        }
    }

    @Test
    void theyAreKnownAsTrainedOnTheStateOfTheUnionByNameAndByDirectory() throws Exception {
        assertTrue(BundledModels.trainedOnSotu(BundledModels.SOTU_LLAMA) && BundledModels.trainedOnSotu(BundledModels.SOTU_GPT));
        assertFalse(BundledModels.trainedOnSotu(BundledModels.MINILM));
        assertTrue(BundledModels.trainedOnSotu(BundledModels.sotuLlama()));
        assertFalse(BundledModels.trainedOnSotu(BundledModels.cacheDir().resolve("sotu-llama-copy")));
    }

    @Test
    void theyShareOneTokenizer() throws Exception {
        assertArrayEquals(Files.readAllBytes(BundledModels.sotuGpt().resolve("tokenizer.json")),
                Files.readAllBytes(BundledModels.sotuLlama().resolve("tokenizer.json")));
    }

    @Test
    void theTokenizerReproducesTransformersIds() throws Exception {
        Path dir = BundledModels.sotuGpt();
        JsonNode ref = reference(dir);
        try (LanguageModel lm = LanguageModel.open(dir)) {
            for (String split : new String[]{"test_ids_head", "train_ids_head"}) {
                int[] ids = ints(ref.get(split));
                String text = lm.requireTokenizer().decode(ids);
                int[] again = lm.requireTokenizer().encode(text);
                // The head ends mid-text: only its last word may split differently once cut off.
                int n = ids.length - 4;
                assertArrayEquals(Arrays.copyOf(ids, n), Arrays.copyOf(again, n), split);
            }
        }
    }
}
