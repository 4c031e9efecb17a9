package dev.zq.tensor;

import java.lang.foreign.MemorySegment;

/** RMSNorm over the last dimension (LLaMA): {@code x / sqrt(mean(x²) + eps) · weight}. */
public final class RmsNorm {
    private RmsNorm() {}

    /** {@code out} may be {@code x}. */
    public static void apply(Tensor x, Tensor weight, float eps, Tensor out) {
        int n = Checks.rowLength(x, "x");
        Checks.dtype(x, DType.F32, "x");
        Checks.dtype(out, DType.F32, "out");
        Checks.sameNumel(x, out, "RmsNorm");
        if (weight.numel() != n || weight.dtype() != DType.F32)
            throw new IllegalArgumentException("RmsNorm of rows of " + n + " needs an F32 weight of " + n + ", got " + weight);
        int rows = (int) (x.numel() / Math.max(1, n));
        MemorySegment xs = x.segment(), os = out.segment(), w = weight.segment();
        Parallel.forEach(rows, 4L * n, new Tensor[]{x, weight, out}, r -> {
            long base = 4L * r * n;
            float inv = (float) (1.0 / Math.sqrt(LayerNorm.sumSquares(xs, base, n, 0f) / n + eps));
            for (int i = 0; i < n; i++)
                os.set(Tensor.F32, base + 4L * i, xs.get(Tensor.F32, base + 4L * i) * inv * w.getAtIndex(Tensor.F32, i));
        });
    }
}
