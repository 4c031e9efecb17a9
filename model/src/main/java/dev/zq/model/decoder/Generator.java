package dev.zq.model.decoder;

import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.function.IntPredicate;

/**
 * Autoregressive generation for one sequence: the prompt in one forward pass (prefill), then one pass
 * per new token (decode) through the KV cache. Each new token goes to {@code onToken}, which returns
 * false to stop early (e.g. at an end-of-text token).
 */
public final class Generator {
    private Generator() {}

    /** What a generation produced and how long its two phases took. */
    public record Result(int[] tokens, int promptTokens, long prefillNanos, long decodeNanos) {
        public int newTokens() { return tokens.length - promptTokens; }
        /** Decode speed: tokens after the first new one, over the time spent producing them. */
        public double decodeTokensPerSecond() { return newTokens() <= 1 ? Double.NaN : (newTokens() - 1) / (decodeNanos / 1e9); }
        public double prefillTokensPerSecond() { return promptTokens / (prefillNanos / 1e9); }
    }

    /**
     * Whether {@link #generate} can take a prompt of {@code promptTokens} and {@code maxNewTokens} more on {@code config}:
     * throws {@link IllegalArgumentException} saying why not, so that a caller can ask before it prints anything.
     */
    public static void checkRequest(DecoderConfig config, int promptTokens, int maxNewTokens) {
        if (promptTokens <= 0) throw new IllegalArgumentException("the prompt has no tokens");
        if (maxNewTokens < 0) throw new IllegalArgumentException("max new tokens must be >= 0, got " + maxNewTokens);
        if (config.family() == DecoderConfig.Family.GPT2 && (long) promptTokens + maxNewTokens > config.maxPositions())
            throw new IllegalArgumentException("prompt (" + promptTokens + ") + new tokens (" + maxNewTokens + ") exceed the model's "
                    + config.maxPositions() + " positions");
    }

    public static Result generate(DecoderModel model, int[] prompt, int maxNewTokens, Sampler sampler, IntPredicate onToken) {
        checkRequest(model.config(), prompt.length, maxNewTokens);
        int capacity = prompt.length + maxNewTokens;
        int[] out = Arrays.copyOf(prompt, capacity);
        int n = prompt.length;
        long prefill = 0, decode = 0;
        try (KvCache cache = model.newCache(1, Math.max(1, capacity)); Arena arena = Arena.ofShared()) {
            if (maxNewTokens == 0) return new Result(prompt.clone(), prompt.length, 0, 0);
            long t0 = System.nanoTime();
            Tensor logits = model.forward(arena, cache, 1, prompt.length, prompt, false);
            int next = sampler.sample(logits, 0);
            prefill = System.nanoTime() - t0;
            out[n++] = next;
            boolean go = onToken.test(next);
            long t1 = System.nanoTime();
            while (go && n < capacity) {
                try (Arena step = Arena.ofShared()) {
                    logits = model.forward(step, cache, 1, 1, new int[]{next}, false);
                    next = sampler.sample(logits, 0);
                }
                out[n++] = next;
                go = onToken.test(next);
            }
            decode = System.nanoTime() - t1;
        }
        return new Result(Arrays.copyOf(out, n), prompt.length, prefill, decode);
    }
}
