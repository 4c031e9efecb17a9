package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;
import dev.zq.runtime.KernelMath;

/**
 * A LLaMA-family decoder's row kernels around its GEMMs, on FP32 rows, beside {@link DecoderRowKernels} (GPT-2's, whose
 * norm kernels take a LLaMA's RMSNorm too: {@link SkinnyGemmKernel#RMS_NORM}): the token embeddings (no position table)
 * and the SiLU-gated unit between the MLP's projections; and the rotary position embedding that
 * {@link CachedAttentionKernel} applies to the new queries and keys as it reads them ({@link #newFeature}).
 */
public final class LlamaRowKernels {
    private LlamaRowKernels() {}

    /** The launch of {@link #embed}: a block of 256 threads a row. */
    public static Grid grid(int rows) { return Grid.of(rows, 256); }

    /**
     * The launch of {@link #swiglu} over {@code rows} rows of {@code n}: a thread an element, blocks of 256. (A block a row
     * took 10 µs a launch at batch 1 on TinyLlama 1.1B's 5632 features on the H200, its one block's loads one after another.)
     */
    public static Grid swigluGrid(int rows, int n) {
        long threads = (long) rows * n;
        if (threads > Integer.MAX_VALUE - 255) throw new IllegalArgumentException(rows + " rows of " + n + " are too many for 32-bit indices");
        return Grid.of((int) Math.ceilDiv(threads, 256), 256);
    }

    /** {@code x[r] = wte[tokens[r]]} for the {@code rows} new token rows of {@code n} features. */
    @Kernel
    public static void embed(KernelContext ctx, IntArray tokens, FloatArray wte, FloatArray x, int n) {
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();
        int r = ctx.groupIdx(), t = tokens.get(r);
        for (int e = ctx.localIdx(); e < n; e += ctx.localSizeX()) x.set(r * n + e, wte.get(t * n + e));
    }

    /**
     * Element {@code i} of the head at {@code qkv[at …]} ({@code headDim} features) turned by position {@code p}'s rotary
     * angles, HF's "rotate half" form as {@code dev.zq.tensor.Rope} computes it: feature {@code i < d/2} pairs with
     * {@code i + d/2}; the cosines and sines the host tabulated ({@code cos[p·d/2 + i]}, the CPU's float values), so the
     * products are the CPU decoder's; with {@code rotate == 0} (GPT-2) the element as it is. For
     * {@link CachedAttentionKernel}'s reads of new queries and keys.
     */
    static float newFeature(FloatArray qkv, int at, int i, int headDim, FloatArray cos, FloatArray sin, int p, int rotate) {
        if (rotate == 0) return qkv.get(at + i);
        int half = headDim >> 1;
        if (i < half) {
            float c = cos.get(p * half + i), s = sin.get(p * half + i);
            return qkv.get(at + i) * c - qkv.get(at + i + half) * s;
        }
        int j = i - half;
        float c = cos.get(p * half + j), s = sin.get(p * half + j);
        return qkv.get(at + i) * c + qkv.get(at + j) * s;
    }

    /**
     * LLaMA's gated unit: {@code out[r, i] = silu(gu[r, i]) · gu[r, n + i]} for the rows {@code gu[rows, 2n]} of the gate
     * and up projections run as one (gate first); launch {@link #swigluGrid}.
     */
    @Kernel
    public static void swiglu(KernelContext ctx, FloatArray gu, FloatArray out, int rows, int n) {
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();
        int t = ctx.globalIdx(), r = t / n, i = t - r * n;
        if (r < rows) {
            float g = gu.get(r * 2 * n + i), u = gu.get(r * 2 * n + n + i);
            out.set(t, gated(g, u));
        }
    }

    /** {@code silu(g)·u}, as the CPU decoder computes it; also where the down projection reads its input ({@link SkinnyGemmKernel#SWIGLU}). */
    static float gated(float g, float u) { return g / (1f + KernelMath.exp(-g)) * u; }
}
