package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;
import dev.zq.runtime.KernelMath;

/**
 * The encoder's row-wise kernels, one warp per token row (4 rows per block of 128 threads, launch
 * {@code ceil(rows/4)} blocks): embeddings + LayerNorm, residual + LayerNorm, and ZeroQuant's token-wise INT8
 * quantization, fused where the paper fuses them so that a row crosses global memory once. Rows are FP16 viewed as
 * ints (two halves each); INT8 codes are packed four per int, so a kernel writes whole words and the GEMM reads them
 * as they are. Each lane handles four consecutive elements per step: rows need a length divisible by 4.
 *
 * <p>LayerNorm is PyTorch's (biased variance, two passes: the mean, then the variance of {@code x − mean}), in FP32;
 * its output is rounded to FP16 for the residual stream, while the quantized copy for the next GEMM is taken from
 * the FP32 value, as the CPU path quantizes its FP32 activations. Quantization is {@code dev.zq.quant.Symmetric}'s:
 * scale {@code max|y| / 127}, codes {@code rint(y / scale)} clamped to [-128, 127], a zero row gets scale 0 and codes
 * 0, a row with NaN or ±Inf gets codes 0 and a non-finite scale (its outputs become NaN, as on the CPU).
 */
public final class RowKernels {
    private RowKernels() {}

    /**
     * BERT's embeddings: {@code LayerNorm(word[id] + position[s] + type[t])} for token row {@code r} at position
     * {@code r % seq}; FP32 tables, FP16 rows out, and (when {@code quantize != 0}) INT8 codes and row scales.
     */
    @Kernel
    public static void embedLayerNorm(KernelContext ctx, IntArray ids, IntArray types, FloatArray words, FloatArray positions,
                                      FloatArray typeTable, FloatArray gamma, FloatArray beta, IntArray out, IntArray codes,
                                      FloatArray scales, int rows, int seq, int n, float eps, int quantize) {
        int row = ctx.globalIdx() >> 5, lane = ctx.laneId();
        if (row >= rows) return;
        int wBase = ids.get(row) * n, pBase = (row - (row / seq) * seq) * n, tBase = types.get(row) * n;
        float sum = 0f;
        for (int j = lane << 2; j < n; j += 128)
            for (int e = j; e < j + 4; e++) sum += words.get(wBase + e) + positions.get(pBase + e) + typeTable.get(tBase + e);
        float mean = allSum(ctx, sum) / n;
        float sq = 0f;
        for (int j = lane << 2; j < n; j += 128)
            for (int e = j; e < j + 4; e++) {
                float d = words.get(wBase + e) + positions.get(pBase + e) + typeTable.get(tBase + e) - mean;
                sq += d * d;
            }
        float inv = 1f / KernelMath.sqrt(allSum(ctx, sq) / n + eps);
        float max = 0f;
        for (int j = lane << 2; j < n; j += 128) {
            float y0 = norm(words.get(wBase + j) + positions.get(pBase + j) + typeTable.get(tBase + j), mean, inv, gamma, beta, j);
            float y1 = norm(words.get(wBase + j + 1) + positions.get(pBase + j + 1) + typeTable.get(tBase + j + 1), mean, inv, gamma, beta, j + 1);
            float y2 = norm(words.get(wBase + j + 2) + positions.get(pBase + j + 2) + typeTable.get(tBase + j + 2), mean, inv, gamma, beta, j + 2);
            float y3 = norm(words.get(wBase + j + 3) + positions.get(pBase + j + 3) + typeTable.get(tBase + j + 3), mean, inv, gamma, beta, j + 3);
            int o = (row * n + j) >> 1;
            out.set(o, Epilogue.packHalves(y0, y1));
            out.set(o + 1, Epilogue.packHalves(y2, y3));
            max = Math.max(max, Math.max(Math.max(Math.abs(y0), Math.abs(y1)), Math.max(Math.abs(y2), Math.abs(y3))));
        }
        if (quantize == 0) return;
        float scale = scaleOf(ctx, max);
        if (lane == 0) scales.set(row, scale);
        for (int j = lane << 2; j < n; j += 128) {
            float y0 = norm(words.get(wBase + j) + positions.get(pBase + j) + typeTable.get(tBase + j), mean, inv, gamma, beta, j);
            float y1 = norm(words.get(wBase + j + 1) + positions.get(pBase + j + 1) + typeTable.get(tBase + j + 1), mean, inv, gamma, beta, j + 1);
            float y2 = norm(words.get(wBase + j + 2) + positions.get(pBase + j + 2) + typeTable.get(tBase + j + 2), mean, inv, gamma, beta, j + 2);
            float y3 = norm(words.get(wBase + j + 3) + positions.get(pBase + j + 3) + typeTable.get(tBase + j + 3), mean, inv, gamma, beta, j + 3);
            codes.set((row * n + j) >> 2, packCodes(y0, y1, y2, y3, scale));
        }
    }

    /**
     * BERT's post-norm residual: {@code out = LayerNorm(x + residual)} over FP16 rows, and INT8 codes with row
     * scales of the FP32 result when {@code quantize != 0}. {@code out} must be neither input: the quantization pass
     * reads them again.
     */
    @Kernel
    public static void residualLayerNorm(KernelContext ctx, IntArray x, IntArray residual, FloatArray gamma, FloatArray beta,
                                         IntArray out, IntArray codes, FloatArray scales, int rows, int n, float eps, int quantize) {
        int row = ctx.globalIdx() >> 5, lane = ctx.laneId();
        if (row >= rows) return;
        int base = (row * n) >> 1;
        float sum = 0f;
        for (int j = lane << 1; j < n >> 1; j += 64) {
            int a = x.get(base + j), b = x.get(base + j + 1), ra = residual.get(base + j), rb = residual.get(base + j + 1);
            sum += (Epilogue.lowHalf(a) + Epilogue.lowHalf(ra)) + (Epilogue.highHalf(a) + Epilogue.highHalf(ra))
                    + (Epilogue.lowHalf(b) + Epilogue.lowHalf(rb)) + (Epilogue.highHalf(b) + Epilogue.highHalf(rb));
        }
        float mean = allSum(ctx, sum) / n;
        float sq = 0f;
        for (int j = lane << 1; j < n >> 1; j += 64) {
            int a = x.get(base + j), b = x.get(base + j + 1), ra = residual.get(base + j), rb = residual.get(base + j + 1);
            float d0 = Epilogue.lowHalf(a) + Epilogue.lowHalf(ra) - mean, d1 = Epilogue.highHalf(a) + Epilogue.highHalf(ra) - mean;
            float d2 = Epilogue.lowHalf(b) + Epilogue.lowHalf(rb) - mean, d3 = Epilogue.highHalf(b) + Epilogue.highHalf(rb) - mean;
            sq += d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3;
        }
        float inv = 1f / KernelMath.sqrt(allSum(ctx, sq) / n + eps);
        float max = 0f;
        float[] y = new float[4];
        for (int j = lane << 1; j < n >> 1; j += 64) {
            residualNorm(x, residual, base + j, mean, inv, gamma, beta, j << 1, y);
            out.set(base + j, Epilogue.packHalves(y[0], y[1]));
            out.set(base + j + 1, Epilogue.packHalves(y[2], y[3]));
            max = Math.max(max, Math.max(Math.max(Math.abs(y[0]), Math.abs(y[1])), Math.max(Math.abs(y[2]), Math.abs(y[3]))));
        }
        if (quantize == 0) return;
        float scale = scaleOf(ctx, max);
        if (lane == 0) scales.set(row, scale);
        for (int j = lane << 1; j < n >> 1; j += 64) {
            residualNorm(x, residual, base + j, mean, inv, gamma, beta, j << 1, y);
            codes.set((row * n + (j << 1)) >> 2, packCodes(y[0], y[1], y[2], y[3], scale));
        }
    }

    /**
     * ZeroQuant's token-wise INT8 quantization of FP16 rows (the attention context and the GeLU'd MLP activation,
     * before their GEMMs): codes packed four per int and one scale per row.
     */
    @Kernel
    public static void quantizeRows(KernelContext ctx, IntArray x, IntArray codes, FloatArray scales, int rows, int n) {
        int row = ctx.globalIdx() >> 5, lane = ctx.laneId();
        if (row >= rows) return;
        int base = (row * n) >> 1;
        float max = 0f;
        for (int j = lane << 1; j < n >> 1; j += 64) {
            int a = x.get(base + j), b = x.get(base + j + 1);
            max = Math.max(max, Math.max(Math.max(Math.abs(Epilogue.lowHalf(a)), Math.abs(Epilogue.highHalf(a))),
                    Math.max(Math.abs(Epilogue.lowHalf(b)), Math.abs(Epilogue.highHalf(b)))));
        }
        float scale = scaleOf(ctx, max);
        if (lane == 0) scales.set(row, scale);
        for (int j = lane << 1; j < n >> 1; j += 64) {
            int a = x.get(base + j), b = x.get(base + j + 1);
            codes.set((base + j) >> 1, packCodes(Epilogue.lowHalf(a), Epilogue.highHalf(a), Epilogue.lowHalf(b), Epilogue.highHalf(b), scale));
        }
    }

    // ------------------------------------------------------------------ helpers (inlined by the JIT)

    /** The sum over the warp, in every lane (butterfly: every lane adds in the same order). */
    static float allSum(KernelContext ctx, float v) {
        for (int mask = 16; mask > 0; mask >>= 1) v += ctx.shflXor(v, mask);
        return v;
    }

    /** The row's INT8 scale from this lane's max |y|: the warp's max / 127 (NaN if any lane saw NaN). */
    static float scaleOf(KernelContext ctx, float max) {
        for (int mask = 16; mask > 0; mask >>= 1) max = Math.max(max, ctx.shflXor(max, mask));
        return max / 127f;
    }

    static float norm(float v, float mean, float inv, FloatArray gamma, FloatArray beta, int e) {
        return (v - mean) * inv * gamma.get(e) + beta.get(e);
    }

    /** LayerNorm of {@code x + residual} for the 4 elements in words {@code w, w+1}, into {@code y}. */
    static void residualNorm(IntArray x, IntArray residual, int w, float mean, float inv, FloatArray gamma, FloatArray beta, int e, float[] y) {
        int a = x.get(w), b = x.get(w + 1), ra = residual.get(w), rb = residual.get(w + 1);
        y[0] = norm(Epilogue.lowHalf(a) + Epilogue.lowHalf(ra), mean, inv, gamma, beta, e);
        y[1] = norm(Epilogue.highHalf(a) + Epilogue.highHalf(ra), mean, inv, gamma, beta, e + 1);
        y[2] = norm(Epilogue.lowHalf(b) + Epilogue.lowHalf(rb), mean, inv, gamma, beta, e + 2);
        y[3] = norm(Epilogue.highHalf(b) + Epilogue.highHalf(rb), mean, inv, gamma, beta, e + 3);
    }

    /** Four values quantized under {@code scale} and packed little-endian into one int. */
    static int packCodes(float v0, float v1, float v2, float v3, float scale) {
        return (code(v0, scale) & 0xFF) | ((code(v1, scale) & 0xFF) << 8) | ((code(v2, scale) & 0xFF) << 16) | (code(v3, scale) << 24);
    }

    /** {@code dev.zq.quant.Symmetric.quantize(v, scale, 8)}; 0 under a zero or non-finite scale. */
    static int code(float v, float scale) {
        if (scale == 0f || !(scale - scale == 0f)) return 0;
        float r = (float) Math.rint(v / scale);
        return r <= -128f ? -128 : r >= 127f ? 127 : (int) r;
    }
}
