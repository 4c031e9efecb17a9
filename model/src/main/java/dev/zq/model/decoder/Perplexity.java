package dev.zq.model.decoder;

import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.function.IntConsumer;

/**
 * Perplexity with a sliding window, as Hugging Face's perplexity guide computes it: windows of
 * {@code window} tokens start every {@code stride} tokens; each window scores only the tokens that the
 * previous window did not, each from the tokens before it inside its window (so with {@code stride < window}
 * every token but the text's first is scored once, with at least {@code window - stride} tokens of context
 * outside the first window; with {@code stride == window} a window's first token has no context and is skipped).
 * {@code ppl = exp(Σ NLL / tokens scored)}, natural log, accumulated in double precision.
 */
public final class Perplexity {
    private Perplexity() {}

    public record Result(double perplexity, double meanNll, long tokensScored, int window, int stride, int windows) {}

    /** {@code progress} gets the number of tokens scored so far after every window. */
    public static Result evaluate(DecoderModel model, int[] tokens, int window, int stride, IntConsumer progress) {
        if (tokens.length < 2) throw new IllegalArgumentException("perplexity needs at least 2 tokens, got " + tokens.length);
        if (window < 2 || stride < 1 || stride > window)
            throw new IllegalArgumentException("need 2 <= window and 1 <= stride <= window, got window " + window + ", stride " + stride);
        if (model.config().family() == DecoderConfig.Family.GPT2 && window > model.config().maxPositions())
            throw new IllegalArgumentException("window " + window + " exceeds the model's " + model.config().maxPositions() + " positions");
        int vocab = model.config().vocabSize();
        // Window w starts at w·stride and scores the tokens the window before it did not: independent of the
        // other windows, so they run in parallel; the sum is taken in window order, so the result does not
        // depend on the thread count.
        int windows = 1;
        while ((long) (windows - 1) * stride + window < tokens.length) windows++;
        double[] nll = new double[windows];
        long[] scored = new long[windows];
        long[] done = {0};
        java.util.stream.IntStream.range(0, windows).parallel().forEach(w -> {
            int begin = w * stride, end = Math.min(begin + window, tokens.length), len = end - begin;
            int prevEnd = w == 0 ? 0 : Math.min((w - 1) * stride + window, tokens.length);
            int[] input = java.util.Arrays.copyOfRange(tokens, begin, end);
            try (Arena arena = Arena.ofShared(); KvCache cache = model.newCache(1, len)) {
                Tensor logits = model.forward(arena, cache, 1, len, input, true);
                for (int t = Math.max(prevEnd, begin + 1); t < end; t++) {
                    long row = (long) (t - begin - 1) * vocab;
                    double n = negativeLogLikelihood(logits, row, vocab, tokens[t]);
                    // Finite logits give a finite NLL; NaN or overflowing ones would make the perplexity NaN without a word.
                    if (!Double.isFinite(n))
                        throw new IllegalStateException("the model's logits for token " + t + " of the text are not finite (NaN or overflowing): no perplexity");
                    nll[w] += n;
                    scored[w]++;
                }
            }
            synchronized (done) {
                done[0] += scored[w];
                progress.accept((int) done[0]);
            }
        });
        double total = 0;
        long count = 0;
        for (int w = 0; w < windows; w++) {
            total += nll[w];
            count += scored[w];
        }
        double mean = total / count;
        return new Result(Math.exp(mean), mean, count, window, stride, windows);
    }

    /** -log softmax(logits[row..row+vocab))[target], in double. */
    static double negativeLogLikelihood(Tensor logits, long row, int vocab, int target) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) max = Math.max(max, logits.getFloat(row + i));
        double sum = 0;
        for (int i = 0; i < vocab; i++) sum += Math.exp(logits.getFloat(row + i) - max);
        return Math.log(sum) + max - logits.getFloat(row + target);
    }
}
