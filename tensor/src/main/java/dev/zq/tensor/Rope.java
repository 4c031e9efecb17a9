package dev.zq.tensor;

import java.lang.foreign.MemorySegment;

/**
 * Rotary position embedding in the "rotate half" form that Hugging Face's LLaMA uses: within each head of
 * {@code d} features, feature {@code i < d/2} is paired with {@code i + d/2} and the pair is rotated by
 * {@code position · θ^(-2i/d)}. (llama2.c/Meta checkpoints pair adjacent features instead; HF's converter
 * permutes the q/k weights so that this form gives the same result.)
 */
public final class Rope {
    private Rope() {}

    /**
     * Rotates {@code x} ([B, S, heads·d], F32) in place; row {@code s} of every batch is at absolute
     * position {@code firstPosition + s}. Angles are computed like HF does: inverse frequencies and their
     * product with the position in float32, cos/sin of that float.
     */
    public static void apply(Tensor x, int heads, int firstPosition, float theta) {
        Checks.dtype(x, DType.F32, "x");
        Checks.rank(x, 3, "x");
        int b = x.dim(0), s = x.dim(1), hd = x.dim(2);
        if (heads <= 0 || hd % heads != 0 || (hd / heads) % 2 != 0)
            throw new IllegalArgumentException(hd + " features cannot be split into " + heads + " heads of even size");
        if (firstPosition < 0) throw new IllegalArgumentException("negative position " + firstPosition);
        int d = hd / heads, half = d / 2;
        float[] cos = new float[s * half], sin = new float[s * half];
        angles(theta, d, firstPosition, s, cos, sin);
        MemorySegment xs = x.segment();
        Parallel.forEach(b * s, 6L * hd, new Tensor[]{x}, row -> {
            int p = row % s;
            for (int h = 0; h < heads; h++) {
                long base = 4L * ((long) row * hd + (long) h * d);
                for (int i = 0; i < half; i++) {
                    float x1 = xs.get(Tensor.F32, base + 4L * i), x2 = xs.get(Tensor.F32, base + 4L * (i + half));
                    float c = cos[p * half + i], sn = sin[p * half + i];
                    xs.set(Tensor.F32, base + 4L * i, x1 * c - x2 * sn);
                    xs.set(Tensor.F32, base + 4L * (i + half), x2 * c + x1 * sn);
                }
            }
        });
    }

    /**
     * The rotation's cosines and sines for heads of {@code headDim} features at positions {@code firstPosition …
     * firstPosition + positions − 1}: {@code cos[p·headDim/2 + i]} for position {@code firstPosition + p} and pair {@code i}.
     * {@link #apply} turns rows by these; the GPU decoder tabulates them here too, so that both rotate alike.
     */
    public static void angles(float theta, int headDim, int firstPosition, int positions, float[] cos, float[] sin) {
        int half = headDim / 2;
        if (cos.length < positions * half || sin.length < positions * half)
            throw new IllegalArgumentException(positions + " positions of " + half + " pairs do not fit tables of " + cos.length + " and " + sin.length);
        float[] inv = new float[half];
        for (int i = 0; i < half; i++) inv[i] = (float) (1.0 / (float) Math.pow(theta, (float) (2 * i) / headDim));
        for (int p = 0; p < positions; p++)
            for (int i = 0; i < half; i++) {
                float angle = (float) (firstPosition + p) * inv[i];
                cos[p * half + i] = (float) Math.cos(angle);
                sin[p * half + i] = (float) Math.sin(angle);
            }
    }
}
