package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;
import dev.zq.runtime.KernelMath;

/**
 * {@code y = x·Wᵀ + b} for a few activation rows, the shape of decoding (one token per sequence): the time goes into
 * reading the weights once, so each warp streams one weight row (one output feature) with coalesced 32-bit loads and
 * multiplies it against up to {@link #ROWS} activation rows held in shared memory. Three weight formats, each row
 * {@code K} elements of a Linear's {@code [N, K]} weight:
 * <ul>
 * <li>{@link #fp16}: FP16 weights (two per int), activations rounded to FP16: the W16A16 baseline.</li>
 * <li>{@link #int8}: INT8 codes (four per int) with one scale per group of {@code groupSize} inputs (per-row when
 * {@code groupSize = K}); the activations quantized token-wise to INT8 by this kernel itself — ZeroQuant's
 * quantization fused into the consumer — and the products summed four at a time with {@code dp4a}.</li>
 * <li>{@link #int4}: INT4 codes (eight per int, element {@code 2i} in the low nibble of byte {@code i}, as
 * {@code Tensor}'s I4), unpacked in registers to signed bytes, same activations and {@code dp4a}.</li>
 * </ul>
 * Each integer partial sum covers one 32-bit weight word (inside one group), is scaled by its group's weight scale
 * and accumulated in FP32; the row's activation scale, the bias and the epilogue come last: {@code mode} {@link #STORE}
 * writes {@code y}, {@link #GELU_TANH} writes GPT-2's tanh-GeLU of it, {@link #ADD} adds it to {@code y} (the residual
 * stream). Activations and outputs are FP32 rows. Token-wise scales follow {@code dev.zq.quant.Symmetric}:
 * {@code max|x|/127}, codes {@code rint(x/scale)} clamped to [-128, 127], 0 for a zero row.
 *
 * <p>Launch {@link #grid}: blocks of 8 warps (8 output features) over {@link #ROWS} rows each. K must be a multiple
 * of 128 (FP16, INT8) or 256 (INT4), and of the group size, which must be a multiple of the elements per word.
 */
public final class SkinnyGemmKernel {
    private SkinnyGemmKernel() {}

    /** Activation rows per block. */
    public static final int ROWS = 8;
    /** Epilogues. */
    public static final int STORE = 0, GELU_TANH = 1, ADD = 2;

    /** The launch for {@code m} rows and {@code n} output features. */
    public static Grid grid(int m, int n) { return new Grid(Math.ceilDiv(n, 8), Math.ceilDiv(m, ROWS), 256, 1); }

    /** FP16 weights {@code w} (K/2 ints per row); activations rounded to FP16 as they are staged. */
    @Kernel
    public static void fp16(KernelContext ctx, FloatArray x, IntArray w, FloatArray bias, FloatArray y, int m, int n, int k, int mode) {
        float[] xs = ctx.allocateFloatShared(8192);   // 8 rows × 1024 elements of K at a time
        int tid = ctx.localIdx(), lane = tid & 31, row0 = ctx.groupIdy() * ROWS, col = ctx.groupIdx() * 8 + (tid >> 5);
        float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f, a6 = 0f, a7 = 0f;
        int kw = k >> 1;
        for (int t0 = 0; t0 < k; t0 += 1024) {
            int len = Math.min(1024, k - t0);
            for (int i = tid; i < 8192; i += 256) {
                int r = i >> 10, j = i & 1023;
                float v = 0f;
                if (j < len && row0 + r < m) v = Float.float16ToFloat(Float.floatToFloat16(x.get((row0 + r) * k + t0 + j)));
                xs[i] = v;
            }
            ctx.barrier();
            if (col < n) {
                for (int j = lane; j < (len >> 1); j += 32) {
                    int word = w.get(col * kw + (t0 >> 1) + j);
                    float w0 = Epilogue.lowHalf(word), w1 = Epilogue.highHalf(word);
                    int e = j << 1;
                    a0 += w0 * xs[e] + w1 * xs[e + 1];
                    a1 += w0 * xs[1024 + e] + w1 * xs[1025 + e];
                    a2 += w0 * xs[2048 + e] + w1 * xs[2049 + e];
                    a3 += w0 * xs[3072 + e] + w1 * xs[3073 + e];
                    a4 += w0 * xs[4096 + e] + w1 * xs[4097 + e];
                    a5 += w0 * xs[5120 + e] + w1 * xs[5121 + e];
                    a6 += w0 * xs[6144 + e] + w1 * xs[6145 + e];
                    a7 += w0 * xs[7168 + e] + w1 * xs[7169 + e];
                }
            }
            ctx.barrier();
        }
        a0 = warpSum(ctx, a0); a1 = warpSum(ctx, a1); a2 = warpSum(ctx, a2); a3 = warpSum(ctx, a3);
        a4 = warpSum(ctx, a4); a5 = warpSum(ctx, a5); a6 = warpSum(ctx, a6); a7 = warpSum(ctx, a7);
        if (col < n && lane < ROWS && row0 + lane < m)
            finish(y, (row0 + lane) * n + col, pick(lane, a0, a1, a2, a3, a4, a5, a6, a7) + bias.get(col), mode);
    }

    /** INT8 weight codes {@code w} (K/4 ints per row) with scales {@code sw[N, K/groupSize]}; W8A8. */
    @Kernel
    public static void int8(KernelContext ctx, FloatArray x, IntArray w, FloatArray sw, FloatArray bias, FloatArray y, int m, int n, int k,
                            int groupSize, int mode) {
        int[] xs = ctx.allocateIntShared(8192);   // 8 rows × 4096 codes of K at a time
        float[] sx = ctx.allocateFloatShared(8);
        int tid = ctx.localIdx(), lane = tid & 31, row0 = ctx.groupIdy() * ROWS, col = ctx.groupIdx() * 8 + (tid >> 5);
        rowScales(ctx, x, sx, row0, m, k);
        float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f, a6 = 0f, a7 = 0f;
        int kw = k >> 2, groups = k / groupSize;
        for (int t0 = 0; t0 < k; t0 += 4096) {
            int len = Math.min(4096, k - t0);
            for (int i = tid; i < 8192; i += 256) {
                int r = i >> 10, j = i & 1023, word = 0;
                if ((j << 2) < len && row0 + r < m) {
                    int at = (row0 + r) * k + t0 + (j << 2);
                    word = RowKernels.packCodes(x.get(at), x.get(at + 1), x.get(at + 2), x.get(at + 3), sx[r]);
                }
                xs[i] = word;
            }
            ctx.barrier();
            if (col < n) {
                for (int j = lane; j < (len >> 2); j += 32) {
                    int word = w.get(col * kw + (t0 >> 2) + j);
                    float s = sw.get(col * groups + (t0 + (j << 2)) / groupSize);
                    a0 += s * KernelMath.dp4a(word, xs[j], 0);
                    a1 += s * KernelMath.dp4a(word, xs[1024 + j], 0);
                    a2 += s * KernelMath.dp4a(word, xs[2048 + j], 0);
                    a3 += s * KernelMath.dp4a(word, xs[3072 + j], 0);
                    a4 += s * KernelMath.dp4a(word, xs[4096 + j], 0);
                    a5 += s * KernelMath.dp4a(word, xs[5120 + j], 0);
                    a6 += s * KernelMath.dp4a(word, xs[6144 + j], 0);
                    a7 += s * KernelMath.dp4a(word, xs[7168 + j], 0);
                }
            }
            ctx.barrier();
        }
        a0 = warpSum(ctx, a0); a1 = warpSum(ctx, a1); a2 = warpSum(ctx, a2); a3 = warpSum(ctx, a3);
        a4 = warpSum(ctx, a4); a5 = warpSum(ctx, a5); a6 = warpSum(ctx, a6); a7 = warpSum(ctx, a7);
        if (col < n && lane < ROWS && row0 + lane < m)
            finish(y, (row0 + lane) * n + col, sx[lane] * pick(lane, a0, a1, a2, a3, a4, a5, a6, a7) + bias.get(col), mode);
    }

    /**
     * INT4 weight codes {@code w} (K/8 ints per row) with scales {@code sw[N, K/groupSize]}; W4A8. The activation codes
     * are staged with each 8-element chunk split into its even and odd elements, which line up with the low and high
     * nibbles of a weight word.
     */
    @Kernel
    public static void int4(KernelContext ctx, FloatArray x, IntArray w, FloatArray sw, FloatArray bias, FloatArray y, int m, int n, int k,
                            int groupSize, int mode) {
        int[] xs = ctx.allocateIntShared(8192);   // 8 rows × 4096 codes of K at a time (1024 ints per row)
        float[] sx = ctx.allocateFloatShared(8);
        int tid = ctx.localIdx(), lane = tid & 31, row0 = ctx.groupIdy() * ROWS, col = ctx.groupIdx() * 8 + (tid >> 5);
        rowScales(ctx, x, sx, row0, m, k);
        float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f, a6 = 0f, a7 = 0f;
        int kw = k >> 3, groups = k / groupSize;
        for (int t0 = 0; t0 < k; t0 += 4096) {
            int len = Math.min(4096, k - t0);
            for (int i = tid; i < 4096; i += 256) {   // one 8-element chunk each: its even codes, then its odd codes
                int r = i >> 9, c = i & 511, even = 0, odd = 0;
                if ((c << 3) < len && row0 + r < m) {
                    int at = (row0 + r) * k + t0 + (c << 3);
                    float s = sx[r];
                    even = RowKernels.packCodes(x.get(at), x.get(at + 2), x.get(at + 4), x.get(at + 6), s);
                    odd = RowKernels.packCodes(x.get(at + 1), x.get(at + 3), x.get(at + 5), x.get(at + 7), s);
                }
                xs[(r << 10) + (c << 1)] = even;
                xs[(r << 10) + (c << 1) + 1] = odd;
            }
            ctx.barrier();
            if (col < n) {
                for (int j = lane; j < (len >> 3); j += 32) {
                    int word = w.get(col * kw + (t0 >> 3) + j);
                    int lo = signedNibbles(word & 0x0F0F0F0F), hi = signedNibbles((word >>> 4) & 0x0F0F0F0F);
                    float s = sw.get(col * groups + (t0 + (j << 3)) / groupSize);
                    int e = j << 1;
                    a0 += s * KernelMath.dp4a(hi, xs[e + 1], KernelMath.dp4a(lo, xs[e], 0));
                    a1 += s * KernelMath.dp4a(hi, xs[1025 + e], KernelMath.dp4a(lo, xs[1024 + e], 0));
                    a2 += s * KernelMath.dp4a(hi, xs[2049 + e], KernelMath.dp4a(lo, xs[2048 + e], 0));
                    a3 += s * KernelMath.dp4a(hi, xs[3073 + e], KernelMath.dp4a(lo, xs[3072 + e], 0));
                    a4 += s * KernelMath.dp4a(hi, xs[4097 + e], KernelMath.dp4a(lo, xs[4096 + e], 0));
                    a5 += s * KernelMath.dp4a(hi, xs[5121 + e], KernelMath.dp4a(lo, xs[5120 + e], 0));
                    a6 += s * KernelMath.dp4a(hi, xs[6145 + e], KernelMath.dp4a(lo, xs[6144 + e], 0));
                    a7 += s * KernelMath.dp4a(hi, xs[7169 + e], KernelMath.dp4a(lo, xs[7168 + e], 0));
                }
            }
            ctx.barrier();
        }
        a0 = warpSum(ctx, a0); a1 = warpSum(ctx, a1); a2 = warpSum(ctx, a2); a3 = warpSum(ctx, a3);
        a4 = warpSum(ctx, a4); a5 = warpSum(ctx, a5); a6 = warpSum(ctx, a6); a7 = warpSum(ctx, a7);
        if (col < n && lane < ROWS && row0 + lane < m)
            finish(y, (row0 + lane) * n + col, sx[lane] * pick(lane, a0, a1, a2, a3, a4, a5, a6, a7) + bias.get(col), mode);
    }

    // ------------------------------------------------------------------ helpers (inlined by the JIT)

    /** Four 4-bit two's-complement values, one in the low nibble of each byte, sign-extended to bytes. */
    static int signedNibbles(int v) {
        return v | ((v & 0x08080808) * 0x1E);   // bit 3 set: 8·0x1E = 0xF0 fills the byte's high nibble
    }

    /** Warp {@code r} computes the token-wise scale of row {@code row0 + r} into {@code sx[r]} (0 past the last row). */
    static void rowScales(KernelContext ctx, FloatArray x, float[] sx, int row0, int m, int k) {
        int warp = ctx.localIdx() >> 5, lane = ctx.localIdx() & 31, row = row0 + warp;
        float max = 0f;
        if (row < m) for (int j = lane; j < k; j += 32) max = Math.max(max, Math.abs(x.get(row * k + j)));
        for (int mask = 16; mask > 0; mask >>= 1) max = Math.max(max, ctx.shflXor(max, mask));
        if (lane == 0) sx[warp] = max / 127f;
        ctx.barrier();
    }

    static float warpSum(KernelContext ctx, float v) {
        for (int mask = 16; mask > 0; mask >>= 1) v += ctx.shflXor(v, mask);
        return v;
    }

    static float pick(int i, float a0, float a1, float a2, float a3, float a4, float a5, float a6, float a7) {
        return i == 0 ? a0 : i == 1 ? a1 : i == 2 ? a2 : i == 3 ? a3 : i == 4 ? a4 : i == 5 ? a5 : i == 6 ? a6 : a7;
    }

    static void finish(FloatArray y, int at, float v, int mode) {
        if (mode == GELU_TANH) y.set(at, geluTanh(v));
        else if (mode == ADD) y.set(at, y.get(at) + v);
        else y.set(at, v);
    }

    /** GPT-2's {@code gelu_new}: {@code 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))}, tanh through the fast exp. */
    static float geluTanh(float x) {
        float u = 0.7978846f * (x + 0.044715f * x * x * x);
        float t = 1f - 2f / (KernelMath.exp(2f * u) + 1f);   // tanh(u); exp overflows to +Inf for large u, giving 1
        return 0.5f * x * (1f + t);
    }
}
