package dev.zq.model.decoder;

import dev.zq.model.format.SafeTensors;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class SamplerAndPerplexityTest {
    static Tensor row(Arena a, float... v) { return Tensor.ofFloats(a, v, 1, v.length); }

    @Test
    void greedyTakesTheLargestLogitAndFiltersNarrowToIt() {
        try (Arena a = Arena.ofConfined()) {
            Tensor l = row(a, 0.1f, 2.5f, -1f, 2.5f, 1f);
            assertEquals(1, Sampler.greedy().sample(l, 0), "ties go to the lowest id");
            for (long seed = 0; seed < 20; seed++) {
                assertEquals(1, Sampler.of(1f, 1, 1f, seed).sample(l, 0), "top-k 1 is greedy");
                assertEquals(1, Sampler.of(1f, 0, 1e-6f, seed).sample(l, 0), "a tiny nucleus is greedy");
            }
            int t = Sampler.of(1f, 2, 1f, 5).sample(l, 0);
            assertTrue(t == 1 || t == 3, "top-k 2 keeps the two largest");
        }
    }

    @Test
    void samplingFollowsTheSoftmaxAndRepeatsWithItsSeed() {
        try (Arena a = Arena.ofConfined()) {
            Tensor l = row(a, 0f, (float) Math.log(2), (float) Math.log(3), (float) Math.log(4)); // probabilities 1:2:3:4
            Sampler s = Sampler.of(1f, 0, 1f, 42), again = Sampler.of(1f, 0, 1f, 42);
            int[] counts = new int[4];
            int n = 20000;
            for (int i = 0; i < n; i++) {
                int t = s.sample(l, 0);
                assertEquals(t, again.sample(l, 0), "same seed, same tokens");
                counts[t]++;
            }
            for (int i = 0; i < 4; i++) assertEquals((i + 1) / 10.0, counts[i] / (double) n, 0.015, "frequency of token " + i);
            assertThrows(IllegalArgumentException.class, () -> Sampler.of(-1f, 0, 1f, 0));
            assertThrows(IllegalArgumentException.class, () -> Sampler.of(1f, 0, 0f, 0));
            assertThrows(IllegalStateException.class, () -> Sampler.greedy().sample(row(a, Float.NaN, Float.NaN), 0));
        }
    }

    @Test
    void slidingWindowPerplexityMatchesADirectComputation() throws Exception {
        Path d = DecoderAgainstHfTest.dir("tiny-llama");
        try (SafeTensors w = SafeTensors.open(d.resolve("model.safetensors")); Arena arena = Arena.ofShared()) {
            DecoderModel m = DecoderCheckpoint.load(d, w, arena);
            SplittableRandom rnd = new SplittableRandom(9);
            int[] tokens = new int[30];
            for (int i = 0; i < tokens.length; i++) tokens[i] = rnd.nextInt(m.config().vocabSize());
            // Direct: one pass over all 30 tokens, NLL of tokens 1..29 each from all tokens before it.
            double nll = 0;
            try (KvCache c = m.newCache(1, 30)) {
                Tensor logits = m.forward(arena, c, 1, 30, tokens, true);
                for (int t = 1; t < 30; t++) nll += Perplexity.negativeLogLikelihood(logits, (long) (t - 1) * 96, 96, tokens[t]);
            }
            Perplexity.Result whole = Perplexity.evaluate(m, tokens, 32, 16, x -> {});
            assertEquals(29, whole.tokensScored());
            // Float logits from two separate forward calls: their last bits may differ (seen once in CI: 4e-9 relative), so a
            // float-sized bound; a token scored against the wrong context moves it by far more.
            assertEquals(Math.exp(nll / 29), whole.perplexity(), 1e-6 * whole.perplexity());
            // Windows of 8 every 4 tokens: every token still scored once, with less context, so a different value.
            Perplexity.Result windows = Perplexity.evaluate(m, tokens, 8, 4, x -> {});
            assertEquals(29, windows.tokensScored());
            assertEquals(7, windows.windows());
            assertNotEquals(whole.perplexity(), windows.perplexity());
            // Non-overlapping windows are independent chunks: a chunk's first token has no context, so is not scored (as in HF).
            Perplexity.Result chunks = Perplexity.evaluate(m, tokens, 10, 10, x -> {});
            assertEquals(27, chunks.tokensScored());
            assertThrows(IllegalArgumentException.class, () -> Perplexity.evaluate(m, new int[]{1}, 8, 4, x -> {}));
            assertThrows(IllegalArgumentException.class, () -> Perplexity.evaluate(m, tokens, 8, 9, x -> {}));
        }
    }

    @Test
    void logitsThatOverflowAreAnErrorNotANaNPerplexity() {
        try (Arena a = Arena.ofShared()) {
            DecoderModel m = DecoderModel.random(DecoderConfig.gpt2(50, 32, 1, 4, 16), 3, a);
            int[] tokens = {1, 2, 3, 4, 5, 6, 7, 8};
            assertTrue(Double.isFinite(Perplexity.evaluate(m, tokens, 8, 4, x -> {}).perplexity()));
            for (long i = 0; i < m.tokenEmbeddings().numel(); i++) m.tokenEmbeddings().setFloat(i, i % 2 == 0 ? 3e38f : -3e38f);
            var e = assertThrows(IllegalStateException.class, () -> Perplexity.evaluate(m, tokens, 8, 4, x -> {}));
            assertTrue(e.getMessage().contains("not finite"), e.getMessage());
        }
    }
}
