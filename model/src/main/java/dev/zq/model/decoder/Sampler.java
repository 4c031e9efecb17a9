package dev.zq.model.decoder;

import dev.zq.tensor.Tensor;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from a row of logits: greedy (arg-max, lowest id on ties), or sampling at a
 * temperature from the top-k tokens and then the smallest set whose probability reaches top-p (nucleus),
 * with a seeded generator so that a run can be repeated exactly.
 */
public final class Sampler {
    private final float temperature;
    private final int topK;
    private final float topP;
    private final SplittableRandom random;

    private Sampler(float temperature, int topK, float topP, long seed) {
        if (!(temperature >= 0) || Float.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0 (0 = off), got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
        this.random = new SplittableRandom(seed);
    }

    public static Sampler greedy() { return new Sampler(0, 0, 1, 0); }

    /** temperature 0 means greedy; topK 0 and topP 1 switch those filters off. */
    public static Sampler of(float temperature, int topK, float topP, long seed) { return new Sampler(temperature, topK, topP, seed); }

    public boolean isGreedy() { return temperature == 0; }

    /** The next token for row {@code row} of {@code logits} ([rows, vocab] or [b, 1, vocab]). */
    public int sample(Tensor logits, int row) {
        int vocab = logits.dim(-1);
        long base = (long) row * vocab;
        if (temperature == 0) {
            int best = 0;
            float max = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < vocab; i++) {
                float v = logits.getFloat(base + i);
                if (v > max) { max = v; best = i; }
            }
            if (max == Float.NEGATIVE_INFINITY) throw new IllegalStateException("logits are all -inf or NaN: the model produced no usable distribution");
            return best;
        }
        Integer[] order = new Integer[vocab];
        double[] p = new double[vocab];
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            order[i] = i;
            p[i] = logits.getFloat(base + i) / (double) temperature;
            if (Double.isNaN(p[i])) throw new IllegalStateException("NaN logit at token " + i);
            max = Math.max(max, p[i]);
        }
        Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
        int keep = topK > 0 ? Math.min(topK, vocab) : vocab;
        double sum = 0;
        for (int i = 0; i < keep; i++) sum += Math.exp(p[order[i]] - max);
        // Nucleus: the smallest prefix (by probability) whose mass reaches topP.
        double mass = 0;
        int n = 0;
        while (n < keep) {
            mass += Math.exp(p[order[n]] - max) / sum;
            n++;
            if (mass >= topP) break;
        }
        double total = 0;
        for (int i = 0; i < n; i++) total += Math.exp(p[order[i]] - max);
        double u = random.nextDouble() * total;
        for (int i = 0; i < n; i++) {
            u -= Math.exp(p[order[i]] - max);
            if (u <= 0) return order[i];
        }
        return order[n - 1];
    }
}
