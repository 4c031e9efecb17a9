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
