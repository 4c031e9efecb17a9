package dev.zq.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * LayerNorm over the last dimension: {@code (x − mean) / sqrt(var + eps) · gamma + beta} with the biased
 * variance, as PyTorch. Two passes (mean, then the variance of {@code x − mean}), so rows with a large
 * mean lose no precision.
 */
public final class LayerNorm {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private LayerNorm() {}

    /** {@code out} may be {@code x}. */
    public static void apply(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor out) {
        int n = Checks.rowLength(x, "x");
        Checks.dtype(x, DType.F32, "x");
        Checks.dtype(out, DType.F32, "out");
        Checks.sameNumel(x, out, "LayerNorm");
        if (gamma.numel() != n || beta.numel() != n || gamma.dtype() != DType.F32 || beta.dtype() != DType.F32)
            throw new IllegalArgumentException("LayerNorm of rows of " + n + " needs F32 gamma and beta of " + n + ", got " + gamma + ", " + beta);
        int rows = (int) (x.numel() / Math.max(1, n));
        MemorySegment xs = x.segment(), os = out.segment(), g = gamma.segment(), b = beta.segment();
        Parallel.forEach(rows, 8L * n, new Tensor[]{x, out, gamma, beta}, r -> {
            long base = 4L * r * n;
            // Summing x − x[0] rather than x keeps the mean exact for rows with a large offset.
            float shift = xs.get(Tensor.F32, base);
            float mean = shift + sum(xs, base, n, shift) / n;
            float var = sumSquares(xs, base, n, mean) / n;
            float inv = (float) (1.0 / Math.sqrt(var + eps));
            int i = 0;
            for (int bound = S.loopBound(n); i < bound; i += S.length()) {
                FloatVector v = FloatVector.fromMemorySegment(S, xs, base + 4L * i, LE).sub(mean).mul(inv);
                v.fma(FloatVector.fromMemorySegment(S, g, 4L * i, LE), FloatVector.fromMemorySegment(S, b, 4L * i, LE))
                        .intoMemorySegment(os, base + 4L * i, LE);
            }
            for (; i < n; i++) {
                float v = (xs.get(Tensor.F32, base + 4L * i) - mean) * inv;
                os.set(Tensor.F32, base + 4L * i, Math.fma(v, g.getAtIndex(Tensor.F32, i), b.getAtIndex(Tensor.F32, i)));
            }
        });
    }

    /** Σ (x − shift) over a row. */
    static float sum(MemorySegment s, long base, int n, float shift) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += S.length())
            acc = acc.add(FloatVector.fromMemorySegment(S, s, base + 4L * i, LE).sub(shift));
        float t = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) t += s.get(Tensor.F32, base + 4L * i) - shift;
        return t;
    }

    /** Σ (x − shift)² over a row. */
    static float sumSquares(MemorySegment s, long base, int n, float shift) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += S.length()) {
            FloatVector d = FloatVector.fromMemorySegment(S, s, base + 4L * i, LE).sub(shift);
            acc = d.fma(d, acc);
        }
        float t = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float d = s.get(Tensor.F32, base + 4L * i) - shift;
            t = Math.fma(d, d, t);
        }
        return t;
    }
}
