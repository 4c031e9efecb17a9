package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;
import dev.zq.runtime.KernelMath;

/**
 * A LLaMA-family decoder's row kernels around its GEMMs, on FP32 rows, as {@link DecoderRowKernels} are GPT-2's: the
 * token embeddings (no position table), RMSNorm, the final RMSNorm of each sequence's last token and the SiLU-gated unit
 * between the MLP's projections; and the rotary position embedding that {@link CachedAttentionKernel} applies to the new
 * queries and keys as it reads them ({@link #newFeature}). The number of cached
 * tokens lives on the device ({@code pos[0]}): {@link #lastTokenRmsNorm} advances it, as {@link DecoderRowKernels#lastTokenNorm}
 * does, so that a captured decode step replays for every new token.
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

    /** {@code out[r] = x[r] / sqrt(mean(x[r]²) + eps) · gamma} for every row; launch {@link RowKernels#grid}. */
    @Kernel
    public static void rmsNorm(KernelContext ctx, FloatArray x, FloatArray gamma, FloatArray out, int n, float eps) {
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();
        float[] red = ctx.allocateFloatShared(32);
        normalizeRow(ctx, red, x, ctx.groupIdx(), gamma, out, ctx.groupIdx(), n, eps);
    }

    /**
     * {@code out[b] = RMSNorm(x[b·seq + seq − 1])} for each of the batch's sequences, a block each (launch
     * {@link RowKernels#grid}{@code (batch, n)}); then {@code pos[0] += seq}: the new tokens are in the cache.
     */
    @Kernel
    public static void lastTokenRmsNorm(KernelContext ctx, FloatArray x, FloatArray gamma, FloatArray out, IntArray pos, int seq, int n,
                                        float eps) {
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();
        float[] red = ctx.allocateFloatShared(32);
        int b = ctx.groupIdx();
        normalizeRow(ctx, red, x, b * seq + seq - 1, gamma, out, b, n, eps);
        if (b == 0 && ctx.localIdx() == 0) pos.set(0, pos.get(0) + seq);   // nobody in this launch reads pos
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

    /** One row's RMSNorm by a block of a thread per four features (rows of a multiple of 4 up to 4096). */
    static void normalizeRow(KernelContext ctx, float[] red, FloatArray x, int xr, FloatArray gamma, FloatArray out, int or, int n, float eps) {
        int e = ctx.localIdx() << 2;
        boolean active = e < n;
        float v0 = 0f, v1 = 0f, v2 = 0f, v3 = 0f, g0 = 0f, g1 = 0f, g2 = 0f, g3 = 0f;
        if (active) {
            v0 = x.get(xr * n + e);
            v1 = x.get(xr * n + e + 1);
            v2 = x.get(xr * n + e + 2);
            v3 = x.get(xr * n + e + 3);
            g0 = gamma.get(e); g1 = gamma.get(e + 1); g2 = gamma.get(e + 2); g3 = gamma.get(e + 3);
        }
        float inv = 1f / KernelMath.sqrt(RowKernels.blockSum(ctx, red, v0 * v0 + v1 * v1 + v2 * v2 + v3 * v3) / n + eps);
        if (active) {
            out.set(or * n + e, v0 * inv * g0);
            out.set(or * n + e + 1, v1 * inv * g1);
            out.set(or * n + e + 2, v2 * inv * g2);
            out.set(or * n + e + 3, v3 * inv * g3);
        }
    }
}
