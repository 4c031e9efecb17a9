package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;
import dev.zq.runtime.KernelMath;

/**
 * The encoder's row-wise kernels: embeddings + LayerNorm, residual + LayerNorm, and ZeroQuant's token-wise INT8
 * quantization, fused where the paper fuses them so that a row crosses global memory once. One block per token row
 * (launch {@link #grid}), each thread holding four consecutive elements in registers from its single read to its
 * writes, the row's sums and maximum reduced by warp shuffles and then across warps in shared memory; every thread
 * adds the warps' partial results in the same order, so all agree and the CPU executor gives the same bits. Rows of
 * up to 4096 elements, a multiple of 4. For many rows the quantization and the residual LayerNorm also come with
 * a warp per row ({@link #quantizeRowsByWarp}, {@link #residualLayerNormByWarp}). Rows are FP16 viewed as ints (two
 * halves each); INT8 codes are packed four per int, so a kernel writes whole words and the GEMM reads them as they are.
 *
 * <p>LayerNorm is PyTorch's (biased variance, two passes: the mean, then the variance of {@code x − mean}), in FP32;
 * its output is rounded to FP16 for the residual stream, while the quantized copy for the next GEMM is taken from
 * the FP32 value, as the CPU path quantizes its FP32 activations. Quantization is {@code dev.zq.quant.Symmetric}'s:
 * scale {@code max|y| / 127}, codes {@code rint(y / scale)} clamped to [-128, 127], a zero row gets scale 0 and codes
 * 0, a row with NaN or ±Inf gets codes 0 and a non-finite scale (its outputs become NaN, as on the CPU).
 */
public final class RowKernels {
    private RowKernels() {}

    /** The launch for {@code rows} rows of {@code n} elements: one block per row, a thread per four elements (whole warps). */
    public static Grid grid(int rows, int n) {
        if (n <= 0 || n % 4 != 0 || n > 4096) throw new IllegalArgumentException("row kernels take rows of 4 to 4096 elements, a multiple of 4; got " + n);
        return Grid.of(rows, Math.ceilDiv(n / 4, 32) * 32);
    }

    /**
     * BERT's embeddings: {@code LayerNorm(word[id] + position[s] + type[t])} for token row {@code r} at position
     * {@code r % seq}; FP32 tables, FP16 rows out, and (when {@code quantize != 0}) INT8 codes and row scales.
     */
    @Kernel
    public static void embedLayerNorm(KernelContext ctx, IntArray ids, IntArray types, FloatArray words, FloatArray positions,
                                      FloatArray typeTable, FloatArray gamma, FloatArray beta, IntArray out, IntArray codes,
                                      FloatArray scales, int rows, int seq, int n, float eps, int quantize) {
        float[] red = ctx.allocateFloatShared(32);
        ctx.awaitPreviousKernel();
        int row = ctx.groupIdx(), t = ctx.localIdx(), e = t << 2;
        boolean active = e < n;
        float v0 = 0f, v1 = 0f, v2 = 0f, v3 = 0f;
        if (active) {
            int w = ids.get(row) * n + e, p = (row - (row / seq) * seq) * n + e, ty = types.get(row) * n + e;
            v0 = words.get(w) + positions.get(p) + typeTable.get(ty);
            v1 = words.get(w + 1) + positions.get(p + 1) + typeTable.get(ty + 1);
            v2 = words.get(w + 2) + positions.get(p + 2) + typeTable.get(ty + 2);
            v3 = words.get(w + 3) + positions.get(p + 3) + typeTable.get(ty + 3);
        }
        normalize(ctx, red, v0, v1, v2, v3, active, gamma, beta, e, n, eps, out, codes, scales, row, quantize);
    }

    /**
     * BERT's post-norm residual: {@code out = LayerNorm(x + residual)} over FP16 rows, and INT8 codes with row scales of
     * the FP32 result when {@code quantize != 0}. {@code out} may be one of the inputs: each thread reads its elements
     * before anything is written.
     */
    @Kernel
    public static void residualLayerNorm(KernelContext ctx, IntArray x, IntArray residual, FloatArray gamma, FloatArray beta,
                                         IntArray out, IntArray codes, FloatArray scales, int rows, int n, float eps, int quantize) {
        float[] red = ctx.allocateFloatShared(32);
        ctx.awaitPreviousKernel();
        int row = ctx.groupIdx(), t = ctx.localIdx(), e = t << 2;
        boolean active = e < n;
        float v0 = 0f, v1 = 0f, v2 = 0f, v3 = 0f;
        if (active) {
            int w = (row * n + e) >> 1;
            int a = x.get(w), b = x.get(w + 1), ra = residual.get(w), rb = residual.get(w + 1);
            v0 = Epilogue.lowHalf(a) + Epilogue.lowHalf(ra);
            v1 = Epilogue.highHalf(a) + Epilogue.highHalf(ra);
            v2 = Epilogue.lowHalf(b) + Epilogue.lowHalf(rb);
            v3 = Epilogue.highHalf(b) + Epilogue.highHalf(rb);
        }
        normalize(ctx, red, v0, v1, v2, v3, active, gamma, beta, e, n, eps, out, codes, scales, row, quantize);
    }

    /**
     * ZeroQuant's token-wise INT8 quantization of FP16 rows (the attention context and the GeLU'd MLP activation,
     * before their GEMMs): codes packed four per int and one scale per row.
     */
    @Kernel
    public static void quantizeRows(KernelContext ctx, IntArray x, IntArray codes, FloatArray scales, int rows, int n) {
        float[] red = ctx.allocateFloatShared(32);
        ctx.awaitPreviousKernel();
        int row = ctx.groupIdx(), t = ctx.localIdx(), e = t << 2;
        boolean active = e < n;
        float v0 = 0f, v1 = 0f, v2 = 0f, v3 = 0f;
        if (active) {
            int w = (row * n + e) >> 1;
            int a = x.get(w), b = x.get(w + 1);
            v0 = Epilogue.lowHalf(a);
            v1 = Epilogue.highHalf(a);
            v2 = Epilogue.lowHalf(b);
            v3 = Epilogue.highHalf(b);
        }
        quantize(ctx, red, v0, v1, v2, v3, active, codes, scales, row, n);
    }

    /**
     * The launch of {@link #quantizeRowsByWarp} for {@code rows} rows of {@code n} elements: a warp per row,
     * {@code rowsPerBlock} (1 to 32) rows a block; n a multiple of 8 (a lane reads eight halves, 16 bytes, at a time) up to 4096.
     */
    public static Grid warpGrid(int rows, int n, int rowsPerBlock) {
        if (n <= 0 || n % 8 != 0 || n > 4096) throw new IllegalArgumentException("warp-per-row kernels take rows of 8 to 4096 elements, a multiple of 8; got " + n);
        if (rowsPerBlock < 1 || rowsPerBlock > 32) throw new IllegalArgumentException("1 to 32 rows a block, not " + rowsPerBlock);
        return Grid.of(Math.ceilDiv(rows, rowsPerBlock), 32 * rowsPerBlock);
    }

    /**
     * {@link #quantizeRows} with a warp per row ({@link #warpGrid}: {@code rowsPerBlock} rows a block), each lane four
     * 16-byte chunks in flight at a time: the row's largest |x|, then the codes — from the registers where the row is
     * at most 1,024 elements (four chunks a lane), else from a second read (from cache), four chunks in flight again. The
     * same codes and scales (a maximum does not depend on its order). Measured on an H200 (bert-base s128, bench/RESULTS.md),
     * when the codes still came from a second read a chunk at a time: faster at 16,384 rows (1.83 ms against 2.84 ms a
     * forward pass), where a block per row spends more on its block-wide reduction than on a few elements a thread; slower
     * at 128 rows (0.30 against 0.13 ms), where a lane's chunks, walked one after another, were the latency. Session 56's
     * registers and four chunks in flight: 1.594 → 1.517 ms at 16,384 rows on an H100; 128 rows not measured again.
     */
    @Kernel
    public static void quantizeRowsByWarp(KernelContext ctx, IntArray x, IntArray codes, FloatArray scales, int rows, int n, int rowsPerBlock) {
        ctx.awaitPreviousKernel();
        int lane = ctx.localIdx() & 31, row = ctx.groupIdx() * rowsPerBlock + (ctx.localIdx() >> 5);
        if (row >= rows) return;
        int chunks = n >> 3, base = (row * n) >> 1;
        int[] t0 = new int[4], t1 = new int[4], t2 = new int[4], t3 = new int[4];
        float max = 0f;
        for (int c = lane; c < chunks; c += 128) {
            boolean h1 = c + 32 < chunks, h2 = c + 64 < chunks, h3 = c + 96 < chunks;
            ctx.load4(t0, x, base + (c << 2));
            if (h1) ctx.load4(t1, x, base + ((c + 32) << 2));
            if (h2) ctx.load4(t2, x, base + ((c + 64) << 2));
            if (h3) ctx.load4(t3, x, base + ((c + 96) << 2));
            max = Math.max(max, absMax(t0[0], t0[1], t0[2], t0[3]));
            if (h1) max = Math.max(max, absMax(t1[0], t1[1], t1[2], t1[3]));
            if (h2) max = Math.max(max, absMax(t2[0], t2[1], t2[2], t2[3]));
            if (h3) max = Math.max(max, absMax(t3[0], t3[1], t3[2], t3[3]));
        }
        float scale = SkinnyGemmKernel.warpMax(ctx, max) / 127f;
        if (lane == 0) scales.set(row, scale);
        for (int c = lane; c < chunks; c += 128) {
            boolean h1 = c + 32 < chunks, h2 = c + 64 < chunks, h3 = c + 96 < chunks;
            if (chunks > 128) {   // a longer row is read again, four chunks in flight; a shorter one is still in t0..t3
                ctx.load4(t0, x, base + (c << 2));
                if (h1) ctx.load4(t1, x, base + ((c + 32) << 2));
                if (h2) ctx.load4(t2, x, base + ((c + 64) << 2));
                if (h3) ctx.load4(t3, x, base + ((c + 96) << 2));
            }
            storeCodes(codes, (base + (c << 2)) >> 1, t0, scale);
            if (h1) storeCodes(codes, (base + ((c + 32) << 2)) >> 1, t1, scale);
            if (h2) storeCodes(codes, (base + ((c + 64) << 2)) >> 1, t2, scale);
            if (h3) storeCodes(codes, (base + ((c + 96) << 2)) >> 1, t3, scale);
        }
    }

    /** The launch of {@link #residualLayerNormByWarp}: {@link #warpGrid}'s, for rows of 8 to 1024 elements. */
    public static Grid warpNormGrid(int rows, int n, int rowsPerBlock) {
        if (n > 1024) throw new IllegalArgumentException("the warp-per-row LayerNorm holds rows of up to 1024 elements in a warp's registers; got " + n);
        return warpGrid(rows, n, rowsPerBlock);
    }

    /**
     * {@link #residualLayerNorm} with a warp per row ({@link #warpNormGrid}: {@code rowsPerBlock} rows a block), for many
     * rows: a lane reads up to four 16-byte chunks of x and of the residual at once (chunk {@code lane + 32j} of the
     * row's eight-half chunks), keeps the row in registers, and reduces its sums and maximum by warp shuffles alone —
     * no block barriers, which {@code residualLayerNorm} pays six of a row while its 192 threads each hold four elements.
     * Its outputs are written 16 bytes (FP16) and 8 bytes (codes) a chunk. The same definition (two-pass FP32
     * LayerNorm, codes of the FP32 result); the sums are added in another order, so the last bits may differ from it.
     */
    @Kernel
    public static void residualLayerNormByWarp(KernelContext ctx, IntArray x, IntArray residual, FloatArray gamma, FloatArray beta,
                                               IntArray out, IntArray codes, FloatArray scales, int rows, int n, float eps, int quantize,
                                               int rowsPerBlock) {
        ctx.awaitPreviousKernel();
        int lane = ctx.localIdx() & 31, row = ctx.groupIdx() * rowsPerBlock + (ctx.localIdx() >> 5);
        if (row >= rows) return;
        int chunks = n >> 3, base = (row * n) >> 1;
        boolean h0 = lane < chunks, h1 = lane + 32 < chunks, h2 = lane + 64 < chunks, h3 = lane + 96 < chunks;
        int[] a0 = new int[4], a1 = new int[4], a2 = new int[4], a3 = new int[4];
        int[] r0 = new int[4], r1 = new int[4], r2 = new int[4], r3 = new int[4];
        if (h0) { ctx.load4(a0, x, base + (lane << 2)); ctx.load4(r0, residual, base + (lane << 2)); }
        if (h1) { ctx.load4(a1, x, base + ((lane + 32) << 2)); ctx.load4(r1, residual, base + ((lane + 32) << 2)); }
        if (h2) { ctx.load4(a2, x, base + ((lane + 64) << 2)); ctx.load4(r2, residual, base + ((lane + 64) << 2)); }
        if (h3) { ctx.load4(a3, x, base + ((lane + 96) << 2)); ctx.load4(r3, residual, base + ((lane + 96) << 2)); }
        float[] v0 = new float[8], v1 = new float[8], v2 = new float[8], v3 = new float[8];   // zeros where a chunk is absent
        if (h0) addHalves(v0, a0, r0);
        if (h1) addHalves(v1, a1, r1);
        if (h2) addHalves(v2, a2, r2);
        if (h3) addHalves(v3, a3, r3);
        float mean = SkinnyGemmKernel.warpSum(ctx, sum8(v0) + sum8(v1) + sum8(v2) + sum8(v3)) / n;
        float sq = 0f;
        if (h0) sq += squares8(v0, mean);
        if (h1) sq += squares8(v1, mean);
        if (h2) sq += squares8(v2, mean);
        if (h3) sq += squares8(v3, mean);
        float inv = 1f / KernelMath.sqrt(SkinnyGemmKernel.warpSum(ctx, sq) / n + eps);
        float max = 0f;
        if (h0) max = Math.max(max, normalize8(ctx, v0, mean, inv, gamma, beta, lane << 3, out, base + (lane << 2), a0));
        if (h1) max = Math.max(max, normalize8(ctx, v1, mean, inv, gamma, beta, (lane + 32) << 3, out, base + ((lane + 32) << 2), a1));
        if (h2) max = Math.max(max, normalize8(ctx, v2, mean, inv, gamma, beta, (lane + 64) << 3, out, base + ((lane + 64) << 2), a2));
        if (h3) max = Math.max(max, normalize8(ctx, v3, mean, inv, gamma, beta, (lane + 96) << 3, out, base + ((lane + 96) << 2), a3));
        if (quantize == 0) return;
        float scale = SkinnyGemmKernel.warpMax(ctx, max) / 127f;
        if (lane == 0) scales.set(row, scale);
        if (h0) storeCodes8(codes, (base + (lane << 2)) >> 1, v0, scale);
        if (h1) storeCodes8(codes, (base + ((lane + 32) << 2)) >> 1, v1, scale);
        if (h2) storeCodes8(codes, (base + ((lane + 64) << 2)) >> 1, v2, scale);
        if (h3) storeCodes8(codes, (base + ((lane + 96) << 2)) >> 1, v3, scale);
    }

    // ------------------------------------------------------------------ helpers (inlined by the JIT)

    /** The eight codes of eight halves (four ints) under {@code scale}, as two words from word {@code w}. */
    static void storeCodes(IntArray codes, int w, int[] t, float scale) {
        codes.set(w, packCodes(Epilogue.lowHalf(t[0]), Epilogue.highHalf(t[0]), Epilogue.lowHalf(t[1]), Epilogue.highHalf(t[1]), scale));
        codes.set(w + 1, packCodes(Epilogue.lowHalf(t[2]), Epilogue.highHalf(t[2]), Epilogue.lowHalf(t[3]), Epilogue.highHalf(t[3]), scale));
    }

    /** The eight codes of eight floats under {@code scale}, as two words from word {@code w}. */
    static void storeCodes8(IntArray codes, int w, float[] y, float scale) {
        codes.set(w, packCodes(y[0], y[1], y[2], y[3], scale));
        codes.set(w + 1, packCodes(y[4], y[5], y[6], y[7], scale));
    }

    /** {@code v[i] = x_i + r_i} in FP32 for the eight halves of four ints of x and of r. */
    static void addHalves(float[] v, int[] x, int[] r) {
        v[0] = Epilogue.lowHalf(x[0]) + Epilogue.lowHalf(r[0]);
        v[1] = Epilogue.highHalf(x[0]) + Epilogue.highHalf(r[0]);
        v[2] = Epilogue.lowHalf(x[1]) + Epilogue.lowHalf(r[1]);
        v[3] = Epilogue.highHalf(x[1]) + Epilogue.highHalf(r[1]);
        v[4] = Epilogue.lowHalf(x[2]) + Epilogue.lowHalf(r[2]);
        v[5] = Epilogue.highHalf(x[2]) + Epilogue.highHalf(r[2]);
        v[6] = Epilogue.lowHalf(x[3]) + Epilogue.lowHalf(r[3]);
        v[7] = Epilogue.highHalf(x[3]) + Epilogue.highHalf(r[3]);
    }

    static float sum8(float[] v) { return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7])); }

    /** The sum of {@code (v[i] − mean)²} over eight values. */
    static float squares8(float[] v, float mean) {
        float d0 = v[0] - mean, d1 = v[1] - mean, d2 = v[2] - mean, d3 = v[3] - mean;
        float d4 = v[4] - mean, d5 = v[5] - mean, d6 = v[6] - mean, d7 = v[7] - mean;
        return ((d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)) + ((d4 * d4 + d5 * d5) + (d6 * d6 + d7 * d7));
    }

    /**
     * Eight values LayerNorm'd in place ({@code (v − mean)·inv·γ + β}, γ and β from element {@code e}), stored as FP16
     * at int {@code w} of {@code out} in one 16-byte store (through {@code packed}, a spent int[4]); returns their largest |y|.
     */
    static float normalize8(KernelContext ctx, float[] v, float mean, float inv, FloatArray gamma, FloatArray beta, int e, IntArray out,
                            int w, int[] packed) {
        v[0] = (v[0] - mean) * inv * gamma.get(e) + beta.get(e);
        v[1] = (v[1] - mean) * inv * gamma.get(e + 1) + beta.get(e + 1);
        v[2] = (v[2] - mean) * inv * gamma.get(e + 2) + beta.get(e + 2);
        v[3] = (v[3] - mean) * inv * gamma.get(e + 3) + beta.get(e + 3);
        v[4] = (v[4] - mean) * inv * gamma.get(e + 4) + beta.get(e + 4);
        v[5] = (v[5] - mean) * inv * gamma.get(e + 5) + beta.get(e + 5);
        v[6] = (v[6] - mean) * inv * gamma.get(e + 6) + beta.get(e + 6);
        v[7] = (v[7] - mean) * inv * gamma.get(e + 7) + beta.get(e + 7);
        packed[0] = Epilogue.packHalves(v[0], v[1]);
        packed[1] = Epilogue.packHalves(v[2], v[3]);
        packed[2] = Epilogue.packHalves(v[4], v[5]);
        packed[3] = Epilogue.packHalves(v[6], v[7]);
        ctx.store4(out, w, packed);
        return Math.max(Math.max(Math.max(Math.abs(v[0]), Math.abs(v[1])), Math.max(Math.abs(v[2]), Math.abs(v[3]))),
                Math.max(Math.max(Math.abs(v[4]), Math.abs(v[5])), Math.max(Math.abs(v[6]), Math.abs(v[7]))));
    }

    /** The largest |x| of the eight halves in four ints. */
    static float absMax(int u0, int u1, int u2, int u3) {
        float m0 = Math.max(Math.abs(Epilogue.lowHalf(u0)), Math.abs(Epilogue.highHalf(u0)));
        float m1 = Math.max(Math.abs(Epilogue.lowHalf(u1)), Math.abs(Epilogue.highHalf(u1)));
        float m2 = Math.max(Math.abs(Epilogue.lowHalf(u2)), Math.abs(Epilogue.highHalf(u2)));
        float m3 = Math.max(Math.abs(Epilogue.lowHalf(u3)), Math.abs(Epilogue.highHalf(u3)));
        return Math.max(Math.max(m0, m1), Math.max(m2, m3));
    }

    /** LayerNorm of the row whose four elements from {@code e} this thread holds; FP16 out, then optionally quantized. */
    static void normalize(KernelContext ctx, float[] red, float v0, float v1, float v2, float v3, boolean active, FloatArray gamma,
                          FloatArray beta, int e, int n, float eps, IntArray out, IntArray codes, FloatArray scales, int row, int quantize) {
        // γ and β first: their loads then wait out the two block reductions instead of following them.
        float g0 = 0f, g1 = 0f, g2 = 0f, g3 = 0f, b0 = 0f, b1 = 0f, b2 = 0f, b3 = 0f;
        if (active) {
            g0 = gamma.get(e); g1 = gamma.get(e + 1); g2 = gamma.get(e + 2); g3 = gamma.get(e + 3);
            b0 = beta.get(e); b1 = beta.get(e + 1); b2 = beta.get(e + 2); b3 = beta.get(e + 3);
        }
        float mean = blockSum(ctx, red, v0 + v1 + v2 + v3) / n;
        float d0 = active ? v0 - mean : 0f, d1 = active ? v1 - mean : 0f, d2 = active ? v2 - mean : 0f, d3 = active ? v3 - mean : 0f;
        float inv = 1f / KernelMath.sqrt(blockSum(ctx, red, d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3) / n + eps);
        float y0 = 0f, y1 = 0f, y2 = 0f, y3 = 0f;
        if (active) {
            y0 = d0 * inv * g0 + b0;
            y1 = d1 * inv * g1 + b1;
            y2 = d2 * inv * g2 + b2;
            y3 = d3 * inv * g3 + b3;
            int w = (row * n + e) >> 1;
            out.set(w, Epilogue.packHalves(y0, y1));
            out.set(w + 1, Epilogue.packHalves(y2, y3));
        }
        if (quantize != 0) quantize(ctx, red, y0, y1, y2, y3, active, codes, scales, row, n);
    }

    /** Token-wise INT8 codes of the row whose four elements this thread holds, and the row's scale. */
    static void quantize(KernelContext ctx, float[] red, float v0, float v1, float v2, float v3, boolean active, IntArray codes,
                         FloatArray scales, int row, int n) {
        float scale = blockMax(ctx, red, Math.max(Math.max(Math.abs(v0), Math.abs(v1)), Math.max(Math.abs(v2), Math.abs(v3)))) / 127f;
        if (ctx.localIdx() == 0) scales.set(row, scale);
        if (active) codes.set((row * n + (ctx.localIdx() << 2)) >> 2, packCodes(v0, v1, v2, v3, scale));
    }

    /** The sum over the block, in every thread: warp butterflies, then the warps' sums in order. */
    static float blockSum(KernelContext ctx, float[] red, float v) {
        v = SkinnyGemmKernel.warpSum(ctx, v);
        int warps = ctx.localSizeX() >> 5;
        if ((ctx.localIdx() & 31) == 0) red[ctx.localIdx() >> 5] = v;
        ctx.barrier();
        float total = 0f;
        for (int w = 0; w < warps; w++) total += red[w];
        ctx.barrier();   // red is reused by the next reduction
        return total;
    }

    /**
     * {@link #blockSum} for blocks of 8 warps (256 threads), through slot {@code slot} of {@code red} (its 8 floats at
     * {@code 8·slot}) and without the barrier after it: consecutive reductions of a kernel take different slots instead.
     * The warp sums are added in {@link #blockSum}'s order (the same bits), spelled out rather than in a loop.
     */
    static float blockSum8(KernelContext ctx, float[] red, int slot, float v) {
        v = SkinnyGemmKernel.warpSum(ctx, v);
        int at = slot << 3;
        if ((ctx.localIdx() & 31) == 0) red[at + (ctx.localIdx() >> 5)] = v;
        ctx.barrier();
        float t = 0f + red[at];   // 0 + first: blockSum's start, signed zeros included
        t += red[at + 1];
        t += red[at + 2];
        t += red[at + 3];
        t += red[at + 4];
        t += red[at + 5];
        t += red[at + 6];
        return t + red[at + 7];
    }

    /** {@link #blockMax} for blocks of 8 warps, as {@link #blockSum8}: slot {@code slot} of {@code red}, no barrier after. */
    static float blockMax8(KernelContext ctx, float[] red, int slot, float v) {
        v = SkinnyGemmKernel.warpMax(ctx, v);
        int at = slot << 3;
        if ((ctx.localIdx() & 31) == 0) red[at + (ctx.localIdx() >> 5)] = v;
        ctx.barrier();
        return Math.max(Math.max(Math.max(red[at], red[at + 1]), Math.max(red[at + 2], red[at + 3])),
                Math.max(Math.max(red[at + 4], red[at + 5]), Math.max(red[at + 6], red[at + 7])));
    }

    /** The maximum over the block, in every thread (NaN if any thread holds NaN). */
    static float blockMax(KernelContext ctx, float[] red, float v) {
        v = SkinnyGemmKernel.warpMax(ctx, v);
        int warps = ctx.localSizeX() >> 5;
        if ((ctx.localIdx() & 31) == 0) red[ctx.localIdx() >> 5] = v;
        ctx.barrier();
        float max = Float.NEGATIVE_INFINITY;
        for (int w = 0; w < warps; w++) max = Math.max(max, red[w]);
        ctx.barrier();
        return max;
    }

    /**
     * Four values quantized under {@code scale} ({@code dev.zq.quant.Symmetric.quantize(v, scale, 8)}; 0 under a zero or
     * non-finite scale) and packed little-endian into one int; the scale checked once for the four (ptxas kept four copies
     * of the check when each code made it).
     */
    static int packCodes(float v0, float v1, float v2, float v3, float scale) {
        if (scale == 0f || !(scale - scale == 0f)) return 0;
        return (clampCode(KernelMath.rint(v0 / scale)) & 0xFF) | ((clampCode(KernelMath.rint(v1 / scale)) & 0xFF) << 8)
                | ((clampCode(KernelMath.rint(v2 / scale)) & 0xFF) << 16) | (clampCode(KernelMath.rint(v3 / scale)) << 24);
    }

    /** A rounded quotient clamped to INT8's range (NaN to 0, as Java's and PTX's conversions both give). */
    static int clampCode(float r) { return r <= -128f ? -128 : r >= 127f ? 127 : (int) r; }
}
