package dev.zq.lkd.autodiff;

import dev.zq.quant.Symmetric;

/**
 * Quantize-dequantize with a straight-through estimator: the forward value is exactly what zq's integer
 * path computes (codes and scales in float32, as {@code GroupwiseQuantizer}/{@code TokenwiseQuantizer} do,
 * dequantized as {@code code · scale} in float32), the backward pass treats the op as the identity.
 */
public final class FakeQuant {
    private FakeQuant() {}

    /** Weights [N, K]: one scale per group of {@code groupSize} consecutive inputs of each row. */
    public static Var weights(Var w, int bits, int groupSize) {
        if (w.rank() != 2) throw new IllegalArgumentException("weights must be [out, in], got " + w);
        int K = w.dim(1);
        if (groupSize <= 0 || K % groupSize != 0) throw new IllegalArgumentException("group size " + groupSize + " does not divide " + K);
        return quantizeGroups(w, bits, groupSize);
    }

    /** Weights [N, K] at a granularity of zq's schemes: per tensor, per row, or groups along each row. */
    public static Var weights(Var w, int bits, dev.zq.quant.WeightGranularity granularity) {
        if (w.rank() != 2) throw new IllegalArgumentException("weights must be [out, in], got " + w);
        return switch (granularity.kind()) {
            case PER_TENSOR -> quantizeGroups(w, bits, w.numel());
            case PER_ROW -> quantizeGroups(w, bits, w.dim(1));
            case GROUPWISE -> weights(w, bits, granularity.groupSizeFor(w.dim(1)));
        };
    }

    /** The group size of {@code granularity} for weights [N, K] of {@code numel} elements. */
    public static int groupSize(dev.zq.quant.WeightGranularity granularity, int numel, int K) {
        return switch (granularity.kind()) {
            case PER_TENSOR -> numel;
            case PER_ROW -> K;
            case GROUPWISE -> granularity.groupSizeFor(K);
        };
    }

    /**
     * Weights in groups of {@code group} consecutive elements with a learnable clipping threshold per group
     * ({@code clip}, one per group; LSQ/OmniQuant-style): with {@code c = min(clip, max|w|)} the codes are those of
     * {@code clamp(w, ±c)} at scale {@code c/Q}, i.e. exactly what the max-based quantizer gives for the clamped
     * weights (see {@link #clamped}), so the trained threshold survives export. Gradients: straight through for
     * weights inside the threshold, 0 outside; for c, LSQ's {@code (q − w/s)/Q} inside and {@code ±1} outside,
     * and none while {@code clip > max|w|} (then c is the max, as without clipping). At {@code clip = max|w|}, where
     * learning starts, the gradient is the one from below: with none there a threshold initialised at the max would
     * never move (it did not, before this was fixed).
     */
    public static Var weightsClipped(Var w, Var clip, int bits, int group) {
        int n = w.numel();
        if (group <= 0 || n % group != 0 || clip.numel() != n / group)
            throw new IllegalArgumentException("need one clip value per group of " + group + " of " + w + ", got " + clip);
        int Q = dev.zq.quant.Symmetric.maxCode(bits);
        double[] y = new double[n];
        float[] c = new float[n / group];
        boolean[] active = new boolean[n / group];
        for (int g = 0; g < c.length; g++) {
            float absMax = 0;
            for (int i = g * group; i < (g + 1) * group; i++) {
                float v = (float) w.data[i];
                if (!Float.isFinite(v)) throw new IllegalArgumentException("non-finite value " + v + " at " + i + " cannot be quantized");
                absMax = Math.max(absMax, Math.abs(v));
            }
            float t = (float) Math.max(0, clip.data[g]);
            active[g] = t <= absMax;   // at the max itself too: the threshold starts there and must learn from its first step
            c[g] = active[g] ? t : absMax;
            float scale = dev.zq.quant.Symmetric.scale(c[g], bits);
            for (int i = g * group; i < (g + 1) * group; i++)
                y[i] = (float) (dev.zq.quant.Symmetric.quantize(Math.clamp((float) w.data[i], -c[g], c[g]), scale, bits) * scale);
        }
        return Var.op(y, w.shape, new Var[]{w, clip}, out -> {
            double[] go = out.grad();
            double[] gw = w.requiresGrad() ? w.grad() : null, gc = clip.requiresGrad() ? clip.grad() : null;
            for (int g = 0; g < c.length; g++) {
                double s = c[g] / (double) Q, sum = 0;
                for (int i = g * group; i < (g + 1) * group; i++) {
                    boolean inside = Math.abs((float) w.data[i]) <= c[g];
                    if (gw != null && inside) gw[i] += go[i];
                    if (active[g] && s > 0) sum += go[i] * (inside ? (y[i] - w.data[i]) / s / Q : Math.signum(w.data[i]));
                }
                if (gc != null) gc[g] += sum;
            }
        });
    }

    /** {@code w} clamped to its groups' effective thresholds {@code min(clip, max|w|)}, in float: the weights to export. */
    public static float[] clamped(double[] w, double[] clip, int group) {
        float[] out = new float[w.length];
        for (int g = 0; g < clip.length; g++) {
            float absMax = 0;
            for (int i = g * group; i < (g + 1) * group; i++) absMax = Math.max(absMax, Math.abs((float) w[i]));
            float t = (float) Math.max(0, clip[g]), c = t < absMax ? t : absMax;
            for (int i = g * group; i < (g + 1) * group; i++) out[i] = Math.clamp((float) w[i], -c, c);
        }
        return out;
    }

    /** Each group's max|w|: the starting clip values (no clipping). */
    public static double[] groupMax(double[] w, int group) {
        double[] m = new double[w.length / group];
        for (int i = 0; i < w.length; i++) m[i / group] = Math.max(m[i / group], Math.abs((float) w[i]));
        return m;
    }

    /** Activations [..., K]: one scale per token row (dynamic, computed from the values themselves). */
    public static Var tokenwise(Var x, int bits) {
        return quantizeGroups(x, bits, x.dim(-1));
    }

    private static Var quantizeGroups(Var x, int bits, int group) {
        double[] y = new double[x.numel()];
        for (int g0 = 0; g0 < y.length; g0 += group) {
            float absMax = 0;
            for (int i = g0; i < g0 + group; i++) {
                float v = (float) x.data[i];
                if (!Float.isFinite(v)) throw new IllegalArgumentException("non-finite value " + v + " at " + i + " cannot be quantized");
                absMax = Math.max(absMax, Math.abs(v));
            }
            float scale = Symmetric.scale(absMax, bits);
            for (int i = g0; i < g0 + group; i++) y[i] = (float) (Symmetric.quantize((float) x.data[i], scale, bits) * scale);
        }
        return Var.op(y, x.shape, new Var[]{x}, out -> {
            double[] g = out.grad(), gx = x.grad();
            for (int i = 0; i < g.length; i++) gx[i] += g[i];
        });
    }
}
