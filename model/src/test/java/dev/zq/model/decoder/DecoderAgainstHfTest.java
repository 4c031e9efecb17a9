package dev.zq.model.decoder;

import dev.zq.model.format.SafeTensors;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The decoder against Hugging Face transformers: tiny randomly initialised GPT2LMHeadModel and
 * LlamaForCausalLM (grouped-query attention, rotary positions) saved by HF itself, with HF's logits for a
 * batch and HF's greedy continuation (scripts/hf_decoder_fixtures.py made them; random weights, so this
 * checks the function and the file layout, not language quality).
 */
class DecoderAgainstHfTest {
    static Path dir(String name) throws Exception {
        return Path.of(DecoderAgainstHfTest.class.getResource("/hf/" + name + "/config.json").toURI()).getParent();
    }

    /** max |a - b| / max |b|: the relative error of the whole logit tensor. */
    static double relativeError(Tensor ours, Tensor ref) {
        assertEquals(ref.numel(), ours.numel());
        double maxDiff = 0, maxRef = 0;
        for (long i = 0; i < ref.numel(); i++) {
            maxDiff = Math.max(maxDiff, Math.abs(ours.getFloat(i) - ref.getFloat(i)));
            maxRef = Math.max(maxRef, Math.abs(ref.getFloat(i)));
        }
        return maxDiff / maxRef;
    }

    static int[] ints(Tensor t) {
        int[] out = new int[(int) t.numel()];
        for (int i = 0; i < out.length; i++) out[i] = (int) t.getLong(i);
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-gpt2", "tiny-llama"})
    void batchLogitsEqualTransformers(String name) throws Exception {
        Path d = dir(name);
        try (SafeTensors w = SafeTensors.open(d.resolve("model.safetensors")); SafeTensors g = SafeTensors.open(d.resolve("golden.safetensors"));
             Arena arena = Arena.ofShared()) {
            DecoderModel m = DecoderCheckpoint.load(d, w, arena);
            Tensor ids = g.get("input_ids");
            int b = ids.dim(0), s = ids.dim(1);
            try (KvCache cache = m.newCache(b, s)) {
                Tensor logits = m.forward(arena, cache, b, s, ints(ids), true);
                double err = relativeError(logits, g.get("logits"));
                assertTrue(err <= 1e-5, name + ": relative error " + err);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-gpt2", "tiny-llama"})
    void tokenByTokenThroughTheCacheEqualsOnePass(String name) throws Exception {
        Path d = dir(name);
        try (SafeTensors w = SafeTensors.open(d.resolve("model.safetensors")); SafeTensors g = SafeTensors.open(d.resolve("golden.safetensors"));
             Arena arena = Arena.ofShared()) {
            DecoderModel m = DecoderCheckpoint.load(d, w, arena);
            int[] all = ints(g.get("input_ids"));
            int b = 2, s = all.length / 2, vocab = m.config().vocabSize();
            Tensor ref = g.get("logits");
            // Prefill 4 tokens, then feed the rest one at a time: each step's last logits equal HF's at that position.
            try (KvCache cache = m.newCache(b, s)) {
                int[] first = new int[b * 4];
                for (int r = 0; r < b; r++) System.arraycopy(all, r * s, first, r * 4, 4);
                m.forward(arena, cache, b, 4, first, false);
                for (int t = 4; t < s; t++) {
                    int[] step = {all[t], all[s + t]};
                    Tensor logits = m.forward(arena, cache, b, 1, step, false);
                    for (int r = 0; r < b; r++)
                        for (int v = 0; v < vocab; v++) {
                            float want = ref.getFloat(((long) r * s + t) * vocab + v);
                            assertEquals(want, logits.getFloat((long) r * vocab + v), 2e-5 * (1 + Math.abs(want)), name + " row " + r + " pos " + t);
                        }
                }
                assertEquals(s, cache.length());
                assertThrows(IllegalArgumentException.class, () -> m.forward(arena, cache, b, 1, new int[]{1, 1}, false), "cache full");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-gpt2", "tiny-llama"})
    void greedyGenerationEqualsTransformersGenerate(String name) throws Exception {
        Path d = dir(name);
        try (SafeTensors w = SafeTensors.open(d.resolve("model.safetensors")); SafeTensors g = SafeTensors.open(d.resolve("golden.safetensors"));
             Arena arena = Arena.ofShared()) {
            DecoderModel m = DecoderCheckpoint.load(d, w, arena);
            int[] prompt = ints(g.get("gen_prompt")), want = ints(g.get("gen_ids"));
            List<Integer> streamed = new ArrayList<>();
            Generator.Result r = Generator.generate(m, prompt, want.length - prompt.length, Sampler.greedy(), t -> streamed.add(t));
            assertArrayEquals(want, r.tokens());
            assertEquals(want.length - prompt.length, streamed.size());
            assertEquals(prompt.length, r.promptTokens());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-gpt2", "tiny-llama"})
    void configIsReadAsTransformersWroteIt(String name) throws Exception {
        DecoderConfig c = DecoderCheckpoint.readConfig(dir(name));
        assertEquals(96, c.vocabSize());
        assertEquals(32, c.hiddenSize());
        assertEquals(2, c.numLayers());
        assertEquals(4, c.numHeads());
        if (name.contains("llama")) {
            assertEquals(2, c.numKvHeads());
            assertEquals(10000f, c.ropeTheta());
            assertEquals(DecoderConfig.Activation.SWIGLU, c.activation());
        } else {
            assertEquals(128, c.intermediateSize());
            assertTrue(c.tiedEmbeddings());
        }
    }
}
