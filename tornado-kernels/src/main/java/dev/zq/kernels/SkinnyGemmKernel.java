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
 * <li>{@link #int4}: INT4 codes (eight per int, in {@link Int4Words}' order), unpacked in registers to signed bytes,
 * same activations and {@code dp4a}.</li>
 * </ul>
 * And the weight-only variants ({@link #int8a16}, {@link #int4a16}: W8A16, W4A16) with {@link #fp16}'s FP16-rounded
 * activations. Each integer partial sum covers one 32-bit weight word (inside one group), is scaled by its group's weight scale
 * and accumulated in FP32; the row's activation scale, the bias and the epilogue come last: {@code mode} {@link #STORE}
 * writes {@code y}, {@link #GELU_TANH} writes GPT-2's tanh-GeLU of it, {@link #ADD} adds it to {@code y} (the residual
 * stream). With {@code norm != 0} the kernel multiplies the rows' LayerNorm ({@code gamma}, {@code beta}, {@code eps})
 * instead of the rows themselves: the pre-norm LayerNorm fused into its consumer ({@link #normalized}). Activations and outputs are FP32 rows. Token-wise scales follow {@code dev.zq.quant.Symmetric}:
 * {@code max|x|/127}, codes {@code rint(x/scale)} clamped to [-128, 127], 0 for a zero row.
 *
 * <p>Launch {@link #grid}: blocks of 8 warps (8 output features) over {@link #ROWS} rows each. K must be a multiple
 * of 128 (FP16, INT8) or 256 (INT4), and of the group size, which must be a multiple of 4 (INT8) or 32 (INT4).
 */
public final class SkinnyGemmKernel {
    private SkinnyGemmKernel() {}

    /** Activation rows per block. */
    public static final int ROWS = 8;
    /** Epilogues. */
    public static final int STORE = 0, GELU_TANH = 1, ADD = 2;

    /** The launch for {@code m} rows and {@code n} output features. */
    public static Grid grid(int m, int n) { return new Grid(Math.ceilDiv(n, 8), Math.ceilDiv(m, ROWS), 256, 1); }

    /**
     * Asks L2 for the block's eight weight rows ({@code words} ints each) and their scales ({@code groups} each; none when
     * {@code groups} is 0) before the kernel waits for its activations: the loads after the wait then find them there.
     */
    static void prefetchWeights(KernelContext ctx, IntArray w, FloatArray sw, int n, int words, int groups) {
        int col0 = ctx.groupIdx() * 8, cols = Math.min(8, n - col0), tid = ctx.localIdx();
        if (cols <= 0) return;
        int first = col0 * words, last = first + cols * words - 1;
        for (int line = (first >> 5) + tid; line <= last >> 5; line += 256) ctx.prefetchL2(w, Math.max(first, line << 5));
        if (groups > 0 && tid == 255) {
            int f = col0 * groups, l = f + cols * groups - 1;
            for (int line = f >> 5; line <= l >> 5; line++) ctx.prefetchL2(sw, Math.max(f, line << 5));
        }
    }

    /** FP16 weights {@code w} (K/2 ints per row); activations rounded to FP16 as they are staged. */
    @Kernel
    public static void fp16(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray bias,
                            FloatArray y, int m, int n, int k, int mode) {
        prefetchWeights(ctx, w, bias, n, k >> 1, 0);   // they do not depend on the previous kernel
        ctx.awaitPreviousKernel();
        float[] xs = ctx.allocateFloatShared(8192);   // 8 rows × 1024 elements of K at a time
        float[] mean = ctx.allocateFloatShared(8), rstd = ctx.allocateFloatShared(8), red = ctx.allocateFloatShared(32);
        int tid = ctx.localIdx(), lane = tid & 31, row0 = ctx.groupIdy() * ROWS, col = ctx.groupIdx() * 8 + (tid >> 5);
        int rowsHere = Math.min(ROWS, m - row0);   // rows past it hold stale shared memory; their sums are never written
        if (norm != 0) rowStats(ctx, red, x, mean, rstd, row0, rowsHere, k, eps);
        float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f, a6 = 0f, a7 = 0f;
        boolean more = rowsHere > 1;
        int kw = k >> 1;
        for (int t0 = 0; t0 < k; t0 += 1024) {
            int len = Math.min(1024, k - t0);
            stageHalves(ctx, xs, x, row0, rowsHere, k, t0, len, norm, gamma, beta, mean, rstd);
            int words = len >> 1, base = col * kw + (t0 >> 1);
            for (int j = lane; col < n && j < words; j += 256) {
                // Eight weight words in flight per lane (enough bytes in flight to approach the memory bandwidth);
                // those past the row are 0 and their activation index wraps into the row, where it multiplies nothing.
                int word0 = w.get(base + j), word1 = j + 32 < words ? w.get(base + j + 32) : 0, word2 = j + 64 < words ? w.get(base + j + 64) : 0;
                int word3 = j + 96 < words ? w.get(base + j + 96) : 0, word4 = j + 128 < words ? w.get(base + j + 128) : 0;
                int word5 = j + 160 < words ? w.get(base + j + 160) : 0, word6 = j + 192 < words ? w.get(base + j + 192) : 0;
                int word7 = j + 224 < words ? w.get(base + j + 224) : 0;
                for (int h = 0; h < 8; h++) {
                    int word = pickInt(h, word0, word1, word2, word3, word4, word5, word6, word7), e = ((j + 32 * h) & 511) << 1;
                    float w0 = Epilogue.lowHalf(word), w1 = Epilogue.highHalf(word);
                    a0 += w0 * xs[e] + w1 * xs[e + 1];
                    if (more) {   // uniform: a decode step of batch 1 (one row) skips the other seven
                        a1 += w0 * xs[1024 + e] + w1 * xs[1025 + e];
                        a2 += w0 * xs[2048 + e] + w1 * xs[2049 + e];
                        a3 += w0 * xs[3072 + e] + w1 * xs[3073 + e];
                        a4 += w0 * xs[4096 + e] + w1 * xs[4097 + e];
                        a5 += w0 * xs[5120 + e] + w1 * xs[5121 + e];
                        a6 += w0 * xs[6144 + e] + w1 * xs[6145 + e];
                        a7 += w0 * xs[7168 + e] + w1 * xs[7169 + e];
                    }
                }
            }
            ctx.barrier();
        }
        float sum = laneRowSum(ctx, lane, a0, a1, a2, a3, a4, a5, a6, a7);
        if (col < n && lane < ROWS && row0 + lane < m) finish(y, (row0 + lane) * n + col, sum + bias.get(col), mode);
    }

    /**
     * Weight-only INT8 (W8A16): codes {@code w} (K/4 ints per row) with scales {@code sw[N, K/groupSize]}, each code
     * converted exactly to float and its word's sum scaled by the group's scale; activations rounded to FP16 as in
     * {@link #fp16}. Half the weight bytes of FP16 at the same activation precision.
     */
    @Kernel
    public static void int8a16(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                               FloatArray bias, FloatArray y, int m, int n, int k, int groupSize, int mode) {
        prefetchWeights(ctx, w, sw, n, k >> 2, k / groupSize);   // they do not depend on the previous kernel
        ctx.awaitPreviousKernel();
        float[] xs = ctx.allocateFloatShared(8192);   // 8 rows × 1024 elements of K at a time
        float[] mean = ctx.allocateFloatShared(8), rstd = ctx.allocateFloatShared(8), red = ctx.allocateFloatShared(32);
        int tid = ctx.localIdx(), lane = tid & 31, row0 = ctx.groupIdy() * ROWS, col = ctx.groupIdx() * 8 + (tid >> 5);
        int rowsHere = Math.min(ROWS, m - row0);
        if (norm != 0) rowStats(ctx, red, x, mean, rstd, row0, rowsHere, k, eps);
        float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f, a6 = 0f, a7 = 0f;
        boolean more = rowsHere > 1;
        int kw = k >> 2, groups = k / groupSize;
        for (int t0 = 0; t0 < k; t0 += 1024) {
            int len = Math.min(1024, k - t0);
            stageHalves(ctx, xs, x, row0, rowsHere, k, t0, len, norm, gamma, beta, mean, rstd);
            int words = len >> 2, base = col * kw + (t0 >> 2), scaleBase = col * groups;
            for (int j = lane; col < n && j < words; j += 256) {
                // Eight weight words in flight per lane, as in fp16; a word past the row is 0 and multiplies nothing.
                int word0 = w.get(base + j), word1 = j + 32 < words ? w.get(base + j + 32) : 0, word2 = j + 64 < words ? w.get(base + j + 64) : 0;
                int word3 = j + 96 < words ? w.get(base + j + 96) : 0, word4 = j + 128 < words ? w.get(base + j + 128) : 0;
                int word5 = j + 160 < words ? w.get(base + j + 160) : 0, word6 = j + 192 < words ? w.get(base + j + 192) : 0;
                int word7 = j + 224 < words ? w.get(base + j + 224) : 0;
                for (int h = 0; h < 8; h++) {
                    int word = pickInt(h, word0, word1, word2, word3, word4, word5, word6, word7), e = ((j + 32 * h) & 255) << 2;
                    float s = sw.get(scaleBase + Math.min((t0 + e) / groupSize, groups - 1));   // a zero word past the row: any scale
                    float w0 = s * PrefillGemmKernel.exactFloat((word << 24) >> 24), w1 = s * PrefillGemmKernel.exactFloat((word << 16) >> 24);
                    float w2 = s * PrefillGemmKernel.exactFloat((word << 8) >> 24), w3 = s * PrefillGemmKernel.exactFloat(word >> 24);
                    a0 += w0 * xs[e] + w1 * xs[e + 1] + w2 * xs[e + 2] + w3 * xs[e + 3];
                    if (more) {   // uniform: a decode step of batch 1 (one row) skips the other seven
                        a1 += w0 * xs[1024 + e] + w1 * xs[1025 + e] + w2 * xs[1026 + e] + w3 * xs[1027 + e];
                        a2 += w0 * xs[2048 + e] + w1 * xs[2049 + e] + w2 * xs[2050 + e] + w3 * xs[2051 + e];
                        a3 += w0 * xs[3072 + e] + w1 * xs[3073 + e] + w2 * xs[3074 + e] + w3 * xs[3075 + e];
                        a4 += w0 * xs[4096 + e] + w1 * xs[4097 + e] + w2 * xs[4098 + e] + w3 * xs[4099 + e];
                        a5 += w0 * xs[5120 + e] + w1 * xs[5121 + e] + w2 * xs[5122 + e] + w3 * xs[5123 + e];
                        a6 += w0 * xs[6144 + e] + w1 * xs[6145 + e] + w2 * xs[6146 + e] + w3 * xs[6147 + e];
                        a7 += w0 * xs[7168 + e] + w1 * xs[7169 + e] + w2 * xs[7170 + e] + w3 * xs[7171 + e];
                    }
                }
            }
            ctx.barrier();
        }
        float sum = laneRowSum(ctx, lane, a0, a1, a2, a3, a4, a5, a6, a7);
        if (col < n && lane < ROWS && row0 + lane < m) finish(y, (row0 + lane) * n + col, sum + bias.get(col), mode);
    }

    /**
     * Weight-only INT4 (W4A16): codes in {@link Int4Words}' order (K/8 ints per row) with scales {@code sw[N, K/groupSize]},
     * activations rounded to FP16; four weight words (32 codes) in flight per lane.
     */
    @Kernel
    public static void int4a16(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                               FloatArray bias, FloatArray y, int m, int n, int k, int groupSize, int mode) {
        prefetchWeights(ctx, w, sw, n, k >> 3, k / groupSize);   // they do not depend on the previous kernel
        ctx.awaitPreviousKernel();
        float[] xs = ctx.allocateFloatShared(8192);   // 8 rows × 1024 elements of K at a time
        float[] mean = ctx.allocateFloatShared(8), rstd = ctx.allocateFloatShared(8), red = ctx.allocateFloatShared(32);
        int tid = ctx.localIdx(), lane = tid & 31, row0 = ctx.groupIdy() * ROWS, col = ctx.groupIdx() * 8 + (tid >> 5);
        int rowsHere = Math.min(ROWS, m - row0);
        if (norm != 0) rowStats(ctx, red, x, mean, rstd, row0, rowsHere, k, eps);
        float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f, a6 = 0f, a7 = 0f;
        boolean more = rowsHere > 1;
        int kw = k >> 3, groups = k / groupSize;
        for (int t0 = 0; t0 < k; t0 += 1024) {
            int len = Math.min(1024, k - t0);
            stageHalves(ctx, xs, x, row0, rowsHere, k, t0, len, norm, gamma, beta, mean, rstd);
            int words = len >> 3, base = col * kw + (t0 >> 3), scaleBase = col * groups;
            for (int j = lane; col < n && j < words; j += 128) {
                int word0 = w.get(base + j), word1 = j + 32 < words ? w.get(base + j + 32) : 0, word2 = j + 64 < words ? w.get(base + j + 64) : 0;
                int word3 = j + 96 < words ? w.get(base + j + 96) : 0;
                for (int h = 0; h < 4; h++) {
                    // Word jj holds codes e + i (low nibbles) and e + 16 + i (high nibbles), i = 0..3, e = 32·(jj >> 2) + 4·(jj & 3).
                    int jj = (j + 32 * h) & 127, word = pickInt(h, word0, word1, word2, word3, 0, 0, 0, 0), e = ((jj >> 2) << 5) + ((jj & 3) << 2);
                    float s = sw.get(scaleBase + Math.min((t0 + e) / groupSize, groups - 1));   // a zero word past the row: any scale
                    float w0 = s * PrefillGemmKernel.exactFloat((word << 28) >> 28), w1 = s * PrefillGemmKernel.exactFloat((word << 20) >> 28);
                    float w2 = s * PrefillGemmKernel.exactFloat((word << 12) >> 28), w3 = s * PrefillGemmKernel.exactFloat((word << 4) >> 28);
                    float w4 = s * PrefillGemmKernel.exactFloat((word << 24) >> 28), w5 = s * PrefillGemmKernel.exactFloat((word << 16) >> 28);
                    float w6 = s * PrefillGemmKernel.exactFloat((word << 8) >> 28), w7 = s * PrefillGemmKernel.exactFloat(word >> 28);
                    a0 += dot8(xs, e, w0, w1, w2, w3, w4, w5, w6, w7);
                    if (more) {   // uniform: a decode step of batch 1 (one row) skips the other seven
                        a1 += dot8(xs, 1024 + e, w0, w1, w2, w3, w4, w5, w6, w7);
                        a2 += dot8(xs, 2048 + e, w0, w1, w2, w3, w4, w5, w6, w7);
                        a3 += dot8(xs, 3072 + e, w0, w1, w2, w3, w4, w5, w6, w7);
                        a4 += dot8(xs, 4096 + e, w0, w1, w2, w3, w4, w5, w6, w7);
                        a5 += dot8(xs, 5120 + e, w0, w1, w2, w3, w4, w5, w6, w7);
                        a6 += dot8(xs, 6144 + e, w0, w1, w2, w3, w4, w5, w6, w7);
                        a7 += dot8(xs, 7168 + e, w0, w1, w2, w3, w4, w5, w6, w7);
                    }
                }
            }
            ctx.barrier();
        }
        float sum = laneRowSum(ctx, lane, a0, a1, a2, a3, a4, a5, a6, a7);
        if (col < n && lane < ROWS && row0 + lane < m) finish(y, (row0 + lane) * n + col, sum + bias.get(col), mode);
    }

    /** INT8 weight codes {@code w} (K/4 ints per row) with scales {@code sw[N, K/groupSize]}; W8A8. */
    @Kernel
    public static void int8(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                            FloatArray bias, FloatArray y, int m, int n, int k, int groupSize, int mode) {
        prefetchWeights(ctx, w, sw, n, k >> 2, k / groupSize);   // they do not depend on the previous kernel
        ctx.awaitPreviousKernel();
        int[] xs = ctx.allocateIntShared(8192);   // 8 rows × 4096 codes of K at a time
        float[] sx = ctx.allocateFloatShared(8);
        float[] mean = ctx.allocateFloatShared(8), rstd = ctx.allocateFloatShared(8), red = ctx.allocateFloatShared(32);
        int tid = ctx.localIdx(), lane = tid & 31, row0 = ctx.groupIdy() * ROWS, col = ctx.groupIdx() * 8 + (tid >> 5);
        int rowsHere = Math.min(ROWS, m - row0);   // rows past it hold stale shared memory; their sums are never written
        if (norm != 0) rowStats(ctx, red, x, mean, rstd, row0, rowsHere, k, eps);
        rowScales(ctx, red, x, norm, gamma, beta, mean, rstd, sx, row0, rowsHere, k);
        float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f, a6 = 0f, a7 = 0f;
        boolean more = rowsHere > 1;
        int kw = k >> 2, groups = k / groupSize;
        for (int t0 = 0; t0 < k; t0 += 4096) {
            int len = Math.min(4096, k - t0);
            for (int i = tid; i < rowsHere << 10; i += 256) {
                int r = i >> 10, j = i & 1023, word = 0;
                if ((j << 2) < len) {
                    int e = t0 + (j << 2), at = (row0 + r) * k + e;
                    // The loads first, all in flight together; then the LayerNorm, if any.
                    float v0 = x.get(at), v1 = x.get(at + 1), v2 = x.get(at + 2), v3 = x.get(at + 3);
                    if (norm != 0) {
                        v0 = normalized(v0, e, r, gamma, beta, mean, rstd);
                        v1 = normalized(v1, e + 1, r, gamma, beta, mean, rstd);
                        v2 = normalized(v2, e + 2, r, gamma, beta, mean, rstd);
                        v3 = normalized(v3, e + 3, r, gamma, beta, mean, rstd);
                    }
                    word = RowKernels.packCodes(v0, v1, v2, v3, sx[r]);
                }
                xs[i] = word;
            }
            ctx.barrier();
            int words = len >> 2, base = col * kw + (t0 >> 2), scaleBase = col * groups;
            for (int j = lane; col < n && j < words; j += 256) {
                // Eight weight words and their group scales in flight per lane; see fp16.
                int word0 = w.get(base + j), word1 = j + 32 < words ? w.get(base + j + 32) : 0, word2 = j + 64 < words ? w.get(base + j + 64) : 0;
                int word3 = j + 96 < words ? w.get(base + j + 96) : 0, word4 = j + 128 < words ? w.get(base + j + 128) : 0;
                int word5 = j + 160 < words ? w.get(base + j + 160) : 0, word6 = j + 192 < words ? w.get(base + j + 192) : 0;
                int word7 = j + 224 < words ? w.get(base + j + 224) : 0;
                float s0 = sw.get(scaleBase + (t0 + ((j) << 2)) / groupSize), s1 = j + 32 < words ? sw.get(scaleBase + (t0 + ((j + 32) << 2)) / groupSize) : 0f, s2 = j + 64 < words ? sw.get(scaleBase + (t0 + ((j + 64) << 2)) / groupSize) : 0f;
                float s3 = j + 96 < words ? sw.get(scaleBase + (t0 + ((j + 96) << 2)) / groupSize) : 0f, s4 = j + 128 < words ? sw.get(scaleBase + (t0 + ((j + 128) << 2)) / groupSize) : 0f, s5 = j + 160 < words ? sw.get(scaleBase + (t0 + ((j + 160) << 2)) / groupSize) : 0f;
                float s6 = j + 192 < words ? sw.get(scaleBase + (t0 + ((j + 192) << 2)) / groupSize) : 0f, s7 = j + 224 < words ? sw.get(scaleBase + (t0 + ((j + 224) << 2)) / groupSize) : 0f;
                for (int h = 0; h < 8; h++) {
                    int word = pickInt(h, word0, word1, word2, word3, word4, word5, word6, word7), e = (j + 32 * h) & 1023;
                    float s = pick(h, s0, s1, s2, s3, s4, s5, s6, s7);
                    a0 += s * KernelMath.dp4a(word, xs[e], 0);
                    if (more) {   // uniform: a decode step of batch 1 (one row) skips the other seven
                        a1 += s * KernelMath.dp4a(word, xs[1024 + e], 0);
                        a2 += s * KernelMath.dp4a(word, xs[2048 + e], 0);
                        a3 += s * KernelMath.dp4a(word, xs[3072 + e], 0);
                        a4 += s * KernelMath.dp4a(word, xs[4096 + e], 0);
                        a5 += s * KernelMath.dp4a(word, xs[5120 + e], 0);
                        a6 += s * KernelMath.dp4a(word, xs[6144 + e], 0);
                        a7 += s * KernelMath.dp4a(word, xs[7168 + e], 0);
                    }
                }
            }
            ctx.barrier();
        }
        float sum = laneRowSum(ctx, lane, a0, a1, a2, a3, a4, a5, a6, a7);
        if (col < n && lane < ROWS && row0 + lane < m) finish(y, (row0 + lane) * n + col, sx[lane] * sum + bias.get(col), mode);
    }

    /**
     * INT4 weight codes {@code w} in {@link Int4Words}' order (K/8 ints per row) with scales {@code sw[N, K/groupSize]};
     * W4A8. The activation codes are staged per weight word: the four codes of its low nibbles, then the four of its
     * high nibbles.
     */
    @Kernel
    public static void int4(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                            FloatArray bias, FloatArray y, int m, int n, int k, int groupSize, int mode) {
        prefetchWeights(ctx, w, sw, n, k >> 3, k / groupSize);   // they do not depend on the previous kernel
        ctx.awaitPreviousKernel();
        int[] xs = ctx.allocateIntShared(8192);   // 8 rows × 4096 codes of K at a time (1024 ints per row)
        float[] sx = ctx.allocateFloatShared(8);
        float[] mean = ctx.allocateFloatShared(8), rstd = ctx.allocateFloatShared(8), red = ctx.allocateFloatShared(32);
        int tid = ctx.localIdx(), lane = tid & 31, row0 = ctx.groupIdy() * ROWS, col = ctx.groupIdx() * 8 + (tid >> 5);
        int rowsHere = Math.min(ROWS, m - row0);   // rows past it hold stale shared memory; their sums are never written
        if (norm != 0) rowStats(ctx, red, x, mean, rstd, row0, rowsHere, k, eps);
        rowScales(ctx, red, x, norm, gamma, beta, mean, rstd, sx, row0, rowsHere, k);
        float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f, a6 = 0f, a7 = 0f;
        boolean more = rowsHere > 1;
        int kw = k >> 3, groups = k / groupSize;
        for (int t0 = 0; t0 < k; t0 += 4096) {
            int len = Math.min(4096, k - t0);
            for (int i = tid; i < rowsHere << 9; i += 256) {   // the codes of weight word j's low nibbles, then of its high ones
                int r = i >> 9, j = i & 511, lo = 0, hi = 0;
                if ((j << 3) < len) {
                    int e = t0 + ((j >> 2) << 5) + ((j & 3) << 2), at = (row0 + r) * k + e;
                    float s = sx[r];
                    float v0 = x.get(at), v1 = x.get(at + 1), v2 = x.get(at + 2), v3 = x.get(at + 3);
                    float v4 = x.get(at + 16), v5 = x.get(at + 17), v6 = x.get(at + 18), v7 = x.get(at + 19);
                    if (norm != 0) {
                        v0 = normalized(v0, e, r, gamma, beta, mean, rstd);
                        v1 = normalized(v1, e + 1, r, gamma, beta, mean, rstd);
                        v2 = normalized(v2, e + 2, r, gamma, beta, mean, rstd);
                        v3 = normalized(v3, e + 3, r, gamma, beta, mean, rstd);
                        v4 = normalized(v4, e + 16, r, gamma, beta, mean, rstd);
                        v5 = normalized(v5, e + 17, r, gamma, beta, mean, rstd);
                        v6 = normalized(v6, e + 18, r, gamma, beta, mean, rstd);
                        v7 = normalized(v7, e + 19, r, gamma, beta, mean, rstd);
                    }
                    lo = RowKernels.packCodes(v0, v1, v2, v3, s);
                    hi = RowKernels.packCodes(v4, v5, v6, v7, s);
                }
                xs[(r << 10) + (j << 1)] = lo;
                xs[(r << 10) + (j << 1) + 1] = hi;
            }
            ctx.barrier();
            int words = len >> 3, base = col * kw + (t0 >> 3), scaleBase = col * groups;
            for (int j = lane; col < n && j < words; j += 256) {
                // Eight weight words and their group scales in flight per lane; see fp16.
                int word0 = w.get(base + j), word1 = j + 32 < words ? w.get(base + j + 32) : 0, word2 = j + 64 < words ? w.get(base + j + 64) : 0;
                int word3 = j + 96 < words ? w.get(base + j + 96) : 0, word4 = j + 128 < words ? w.get(base + j + 128) : 0;
                int word5 = j + 160 < words ? w.get(base + j + 160) : 0, word6 = j + 192 < words ? w.get(base + j + 192) : 0;
                int word7 = j + 224 < words ? w.get(base + j + 224) : 0;
                float s0 = sw.get(scaleBase + (t0 + ((j) << 3)) / groupSize), s1 = j + 32 < words ? sw.get(scaleBase + (t0 + ((j + 32) << 3)) / groupSize) : 0f, s2 = j + 64 < words ? sw.get(scaleBase + (t0 + ((j + 64) << 3)) / groupSize) : 0f;
                float s3 = j + 96 < words ? sw.get(scaleBase + (t0 + ((j + 96) << 3)) / groupSize) : 0f, s4 = j + 128 < words ? sw.get(scaleBase + (t0 + ((j + 128) << 3)) / groupSize) : 0f, s5 = j + 160 < words ? sw.get(scaleBase + (t0 + ((j + 160) << 3)) / groupSize) : 0f;
                float s6 = j + 192 < words ? sw.get(scaleBase + (t0 + ((j + 192) << 3)) / groupSize) : 0f, s7 = j + 224 < words ? sw.get(scaleBase + (t0 + ((j + 224) << 3)) / groupSize) : 0f;
                for (int h = 0; h < 8; h++) {
                    int word = pickInt(h, word0, word1, word2, word3, word4, word5, word6, word7), e = ((j + 32 * h) & 511) << 1;
                    float s = pick(h, s0, s1, s2, s3, s4, s5, s6, s7);
                    int lo = signedNibbles(word & 0x0F0F0F0F), hi = signedNibbles((word >>> 4) & 0x0F0F0F0F);
                    a0 += s * KernelMath.dp4a(hi, xs[e + 1], KernelMath.dp4a(lo, xs[e], 0));
                    if (more) {   // uniform: a decode step of batch 1 (one row) skips the other seven
                        a1 += s * KernelMath.dp4a(hi, xs[1025 + e], KernelMath.dp4a(lo, xs[1024 + e], 0));
                        a2 += s * KernelMath.dp4a(hi, xs[2049 + e], KernelMath.dp4a(lo, xs[2048 + e], 0));
                        a3 += s * KernelMath.dp4a(hi, xs[3073 + e], KernelMath.dp4a(lo, xs[3072 + e], 0));
                        a4 += s * KernelMath.dp4a(hi, xs[4097 + e], KernelMath.dp4a(lo, xs[4096 + e], 0));
                        a5 += s * KernelMath.dp4a(hi, xs[5121 + e], KernelMath.dp4a(lo, xs[5120 + e], 0));
                        a6 += s * KernelMath.dp4a(hi, xs[6145 + e], KernelMath.dp4a(lo, xs[6144 + e], 0));
                        a7 += s * KernelMath.dp4a(hi, xs[7169 + e], KernelMath.dp4a(lo, xs[7168 + e], 0));
                    }
                }
            }
            ctx.barrier();
        }
        float sum = laneRowSum(ctx, lane, a0, a1, a2, a3, a4, a5, a6, a7);
        if (col < n && lane < ROWS && row0 + lane < m) finish(y, (row0 + lane) * n + col, sx[lane] * sum + bias.get(col), mode);
    }

    // ------------------------------------------------------------------ helpers (inlined by the JIT)

    /** Four 4-bit two's-complement values, one in the low nibble of each byte, sign-extended to bytes. */
    static int signedNibbles(int v) {
        return v | ((v & 0x08080808) * 0x1E);   // bit 3 set: 8·0x1E = 0xF0 fills the byte's high nibble
    }

    /**
     * Stages elements {@code t0 … t0 + len − 1} of the block's rows into {@code xs} (1024 per row), LayerNorm'd when
     * {@code norm != 0}, rounded to FP16 (the A16 kernels' activations); elements past the row become 0.
     */
    static void stageHalves(KernelContext ctx, float[] xs, FloatArray x, int row0, int rows, int k, int t0, int len, int norm, FloatArray gamma,
                            FloatArray beta, float[] mean, float[] rstd) {
        for (int i = ctx.localIdx(); i < rows << 10; i += ctx.localSizeX()) {
            int r = i >> 10, j = i & 1023;
            float v = 0f;
            if (j < len) {
                v = x.get((row0 + r) * k + t0 + j);
                if (norm != 0) v = normalized(v, t0 + j, r, gamma, beta, mean, rstd);
            }
            xs[i] = Float.float16ToFloat(Float.floatToFloat16(v));
        }
        ctx.barrier();
    }

    /** One row's dot product with a weight word of {@link Int4Words}: elements e … e + 3 and e + 16 … e + 19. */
    static float dot8(float[] xs, int e, float w0, float w1, float w2, float w3, float w4, float w5, float w6, float w7) {
        return w0 * xs[e] + w1 * xs[e + 1] + w2 * xs[e + 2] + w3 * xs[e + 3] + w4 * xs[e + 16] + w5 * xs[e + 17] + w6 * xs[e + 18]
                + w7 * xs[e + 19];
    }

    /**
     * Element {@code e} of block row {@code r}, value {@code v}, under its LayerNorm {@code (v − mean)·rstd·γ + β} with the
     * row's statistics from {@link #rowStats}: the decoder's pre-norm LayerNorm fused into the GEMM that consumes it. The
     * callers load their elements first and normalise after, so that a thread's loads are in flight together.
     */
    static float normalized(float v, int e, int r, FloatArray gamma, FloatArray beta, float[] mean, float[] rstd) {
        return (v - mean[r]) * rstd[r] * gamma.get(e) + beta.get(e);
    }

    /** {@code x[at]} (column {@code e} of block row {@code r}), normalised when {@code norm != 0}. */
    static float input(FloatArray x, int at, int e, int r, int norm, FloatArray gamma, FloatArray beta, float[] mean, float[] rstd) {
        float v = x.get(at);
        if (norm != 0) v = normalized(v, e, r, gamma, beta, mean, rstd);
        return v;
    }

    /**
     * LayerNorm statistics of rows {@code row0 … row0 + rows − 1} into {@code mean} and {@code rstd}, PyTorch's (two
     * passes, biased variance) as {@code DecoderRowKernels.layerNorm} computes them, each row by the whole block.
     */
    static void rowStats(KernelContext ctx, float[] red, FloatArray x, float[] mean, float[] rstd, int row0, int rows, int k, float eps) {
        int tid = ctx.localIdx(), threads = ctx.localSizeX();
        for (int r = 0; r < rows; r++) {
            int at = (row0 + r) * k;
            float sum = 0f;
            for (int j = tid; j < k; j += threads) sum += x.get(at + j);
            float mu = RowKernels.blockSum(ctx, red, sum) / k;
            float sq = 0f;
            for (int j = tid; j < k; j += threads) {
                float d = x.get(at + j) - mu;
                sq += d * d;
            }
            float inv = 1f / KernelMath.sqrt(RowKernels.blockSum(ctx, red, sq) / k + eps);
            if (tid == 0) {
                mean[r] = mu;
                rstd[r] = inv;
            }
        }
        ctx.barrier();
    }

    /**
     * The token-wise scales of rows {@code row0 … row0 + rows − 1} (of their LayerNorm with {@code norm != 0}) into
     * {@code sx}: the whole block reads each row, four independent loads per thread and step (a decoding token's row is
     * one block's worth of latency, not a warp's).
     */
    static void rowScales(KernelContext ctx, float[] red, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float[] mean, float[] rstd,
                          float[] sx, int row0, int rows, int k) {
        int tid = ctx.localIdx(), threads = ctx.localSizeX();
        for (int r = 0; r < rows; r++) {
            int at = (row0 + r) * k;
            float max = 0f;
            for (int j = tid; j < k; j += 4 * threads) {
                int j1 = Math.min(j + threads, k - 1), j2 = Math.min(j + 2 * threads, k - 1), j3 = Math.min(j + 3 * threads, k - 1);
                float v0 = x.get(at + j), v1 = x.get(at + j1), v2 = x.get(at + j2), v3 = x.get(at + j3);   // past the row: its last element again
                if (norm != 0) {
                    v0 = normalized(v0, j, r, gamma, beta, mean, rstd);
                    v1 = normalized(v1, j1, r, gamma, beta, mean, rstd);
                    v2 = normalized(v2, j2, r, gamma, beta, mean, rstd);
                    v3 = normalized(v3, j3, r, gamma, beta, mean, rstd);
                }
                max = Math.max(max, Math.max(Math.max(Math.abs(v0), Math.abs(v1)), Math.max(Math.abs(v2), Math.abs(v3))));
            }
            max = RowKernels.blockMax(ctx, red, max);
            if (tid == 0) sx[r] = max / 127f;
        }
        ctx.barrier();
    }

    /** Each row's partial sums added over the warp; lane {@code r < 8} gets row {@code r}'s total (the others row 7's). */
    static float laneRowSum(KernelContext ctx, int lane, float a0, float a1, float a2, float a3, float a4, float a5, float a6, float a7) {
        return pick(lane, warpSum(ctx, a0), warpSum(ctx, a1), warpSum(ctx, a2), warpSum(ctx, a3), warpSum(ctx, a4), warpSum(ctx, a5),
                warpSum(ctx, a6), warpSum(ctx, a7));
    }

    static float warpSum(KernelContext ctx, float v) {
        for (int mask = 16; mask > 0; mask >>= 1) v += ctx.shflXor(v, mask);
        return v;
    }

    static int pickInt(int i, int a0, int a1, int a2, int a3, int a4, int a5, int a6, int a7) {
        return i == 0 ? a0 : i == 1 ? a1 : i == 2 ? a2 : i == 3 ? a3 : i == 4 ? a4 : i == 5 ? a5 : i == 6 ? a6 : a7;
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
