package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;
import dev.zq.runtime.KernelMath;

/**
 * {@code y = x·Wᵀ + b} for a few activation rows, the shape of decoding (one token per sequence): the time goes into
 * reading the weights once, so each warp streams one weight row (one output feature) with coalesced loads and
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
 * stream). With {@code norm} {@link #LAYER_NORM} the kernel multiplies the rows' LayerNorm ({@code gamma}, {@code beta}, {@code eps})
 * instead of the rows themselves: the pre-norm LayerNorm fused into its consumer ({@link #normalized}); with {@link #RMS_NORM},
 * their RMSNorm (LLaMA's: no mean taken out, {@code beta} all zeros). Activations and outputs are FP32 rows. Token-wise scales follow {@code dev.zq.quant.Symmetric}:
 * {@code max|x|/127}, codes {@code rint(x/scale)} clamped to [-128, 127], 0 for a zero row.
 *
 * <p>Launch {@link #grid}: blocks of 8 warps (8 output features) over {@link #ROWS} rows each; with fewer blocks
 * ({@link #grid(int, int, int)}) the warps loop over the features past the grid, each pass reusing the rows the block
 * staged when they fit its shared memory at once (one row, or any rows of a K within one staged piece). {@link #fp16} and
 * {@link #int8} read their weights in 16-byte chunks ({@link KernelContext#load4}: K must be a multiple of 8 and 16
 * respectively, or the tail of each row is never read); K must be a multiple of the group size, which must be a multiple
 * of 4 (INT8) or 32 (INT4, whose K must be a multiple of 32); the weight-only kernels need K even (INT8) or a multiple
 * of 32 (INT4).
 */
public final class SkinnyGemmKernel {
    private SkinnyGemmKernel() {}

    /** Activation rows per block. */
    public static final int ROWS = 8;
    /**
     * Registers a thread, at most: four blocks of 256 threads an SM, the residency {@link #grid(int, int, int)}'s
     * one-wave grids of the decoder ({@code DecoderTaskGraph.COLUMN_BLOCKS} = 4 × 132) count on.
     */
    public static final int REGISTERS = 64;
    /** Epilogues. */
    public static final int STORE = 0, GELU_TANH = 1, ADD = 2;
    /**
     * The kernels' {@code norm} argument, shared by every kernel that normalises the rows it reads: none, GPT-2's LayerNorm,
     * or LLaMA's RMSNorm — {@code x / sqrt(mean(x²) + eps) · γ}: the LayerNorm's formulas with the mean taken as 0 (and a
     * β of zeros from the caller), so that one code path serves both.
     */
    public static final int NO_NORM = 0, LAYER_NORM = 1, RMS_NORM = 2;
    /**
     * A {@code norm} that gates instead: the rows hold LLaMA's gate and up projections side by side ({@code 2k} a row) and
     * the input is {@code silu(gate)·up} ({@link LlamaRowKernels#gated}), the SiLU-gated unit fused into the
     * down projection that reads it. Only the kernels that read their rows through {@link WideGemvKernel#loadRow} take it,
     * at their {@code …Gated} entries (the batch-1 {@link WideGemvKernel#int8Gated}, {@code int4Gated}, {@code fp16Gated},
     * {@code int8a16Gated}, {@code int4a16Gated}, {@link MmaGemvKernel#int8a16Gated}, {@code int4a16Gated},
     * {@link DecoderRowKernels#quantizeRowsWideGated}, {@link DecoderRowKernels#halfRowsWideGated}): the gating is a
     * constant there, so that the plain entries carry none of its code — with it behind a run-time test of {@code norm}
     * in every kernel, GPT-2's batch-1 decode step was 0.8–1.7% slower on the H200 (bench/RESULTS.md, session 47).
     */
    public static final int SWIGLU = 3;

    /** Whether {@code norm} normalises the row ({@link #LAYER_NORM}, {@link #RMS_NORM}): γ and β are read. */
    public static boolean normalises(int norm) { return norm == LAYER_NORM || norm == RMS_NORM; }
    /** Up to this K, {@link #int8} on a single row holds it in registers and computes its LayerNorm itself ({@link #stageOneRow}). */
    public static final int INT8_ROW_IN_REGISTERS = 4096;

    /** The launch for {@code m} rows and {@code n} output features: a warp per feature. */
    public static Grid grid(int m, int n) { return new Grid(Math.ceilDiv(n, 8), Math.ceilDiv(m, ROWS), 256, 1); }

    /**
     * {@link #fp16} and {@link #int8} over at most {@code columnBlocks} blocks of features per 8 rows: their warps loop
     * over the features past the grid, reusing the rows they staged. With the grid within what the GPU holds at once, a
     * projection is one wave of blocks rather than two or three, each wave a full chain of staging, loads and reductions.
     */
    public static Grid grid(int m, int n, int columnBlocks) {
        if (columnBlocks <= 0) throw new IllegalArgumentException("columnBlocks must be positive, not " + columnBlocks);
        return new Grid(Math.min(columnBlocks, Math.ceilDiv(n, 8)), Math.ceilDiv(m, ROWS), 256, 1);
    }

    /**
     * Asks L2 for the weight rows ({@code words} ints each) of every column the block covers and their scales
     * ({@code groups} each; none when {@code groups} is 0) before the kernel waits for its activations: the loads after
     * the wait then find them there.
     */
    static void prefetchWeights(KernelContext ctx, IntArray w, FloatArray sw, int n, int words, int groups) {
        int tid = ctx.localIdx();
        for (int col0 = ctx.groupIdx() * 8; col0 < n; col0 += ctx.numGroupsX() * 8) {
            int cols = Math.min(8, n - col0), first = col0 * words, last = first + cols * words - 1;
            for (int line = (first >> 5) + tid; line <= last >> 5; line += 256) ctx.prefetchL2(w, Math.max(first, line << 5));
            if (groups > 0 && tid == 255) {
                int f = col0 * groups, l = f + cols * groups - 1;
                for (int line = f >> 5; line <= l >> 5; line++) ctx.prefetchL2(sw, Math.max(f, line << 5));
            }
        }
    }

    /**
     * Asks L2 for the LayerNorm's {@code gamma} and {@code beta} (weights too) before the wait, from the first block only
     * (every block reads the same K of each): the normalisation then finds them there instead of going to DRAM after its
     * reductions, on the critical path.
     */
    static void prefetchNorm(KernelContext ctx, FloatArray gamma, FloatArray beta, int k) {
        if (ctx.groupIdx() == 0 && ctx.groupIdy() == 0)
            for (int line = ctx.localIdx(); line < (k + 31) >> 5; line += 256) {
                ctx.prefetchL2(gamma, line << 5);
                ctx.prefetchL2(beta, line << 5);
            }
    }

    /** {@code log2(groupSize)} when it is a power of two (group indices by a shift), else −1 (by a division). */
    static int groupShift(int groupSize) {
        // A power of two's exponent from its float's bits: three instructions where a loop took six rounds a warp.
        return groupSize > 0 && (groupSize & (groupSize - 1)) == 0 ? (Float.floatToRawIntBits((float) groupSize) >> 23) - 127 : -1;
    }

    /** {@code k / groupSize} for a {@link #groupShift} of {@code shift}: a shift for powers of two, else a division. */
    static int groupCount(int k, int groupSize, int shift) {
        return shift >= 0 ? k >> shift : k / groupSize;
    }

    /** The group of element {@code e ≥ 0}: {@code e / groupSize}, a shift for the usual power-of-two groups. */
    static int groupOf(int e, int groupSize, int shift) {
        return shift >= 0 ? e >> shift : e / groupSize;
    }

    /**
     * FP16 weights {@code w} (K/2 ints per row); activations rounded to FP16 as they are staged. A block of one row with
     * K ≤ 8192 (a decode step at batch 1) stages the whole row once and then streams the weight rows of every column it
     * covers without a barrier, as do more rows of K ≤ 1024; otherwise rows are staged 1024 elements at a time, again for
     * each column pass.
     */
    @Kernel(maxRegisters = REGISTERS)
    public static void fp16(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray bias,
                            FloatArray y, int m, int n, int k, int mode) {
        prefetchWeights(ctx, w, bias, n, k >> 1, 0);   // they do not depend on the previous kernel
        if (norm != 0) prefetchNorm(ctx, gamma, beta, k);
        ctx.awaitPreviousKernel();
        float[] xs = ctx.allocateFloatShared(8192);   // 8 rows × 1024 elements of K at a time, or one row of up to 8192
        float[] mean = ctx.allocateFloatShared(8), rstd = ctx.allocateFloatShared(8), red = ctx.allocateFloatShared(32);
        int tid = ctx.localIdx(), lane = tid & 31, row0 = ctx.groupIdy() * ROWS;
        int rowsHere = Math.min(ROWS, m - row0);   // rows past it hold stale shared memory; their sums are never written
        boolean oneRow = rowsHere == 1 && k <= 8192, more = rowsHere > 1, once = oneRow || k <= 1024;   // once: staged for every pass
        if (norm != 0) rowStats(ctx, red, x, mean, rstd, row0, rowsHere, k, eps, norm);
        if (oneRow) stageRowHalves(ctx, xs, x, row0, k, norm, gamma, beta, mean, rstd, 1);
        else if (once) stageHalvesByChunk(ctx, xs, x, row0, rowsHere, k, 0, k, norm, gamma, beta, mean, rstd);
        int kw = k >> 1;
        for (int c8 = ctx.groupIdx() * 8; c8 < n; c8 += ctx.numGroupsX() * 8) {   // uniform: the block's column passes
            int col = c8 + (tid >> 5), outAt = (row0 + lane) * n + col;
            boolean writes = col < n && lane < ROWS && row0 + lane < m;
            // The epilogue's loads issued now, their latency hidden behind the weights'; used after the dot products.
            float b = writes ? bias.get(col) : 0f, resid = writes && mode == ADD ? y.get(outAt) : 0f;
            float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f, a6 = 0f, a7 = 0f;
            for (int t0 = 0; t0 < k; t0 += 1024) {
                int len = Math.min(1024, k - t0);
                if (!once) stageHalvesByChunk(ctx, xs, x, row0, rowsHere, k, t0, len, norm, gamma, beta, mean, rstd);
                int chunks = len >> 3, base = col * kw + (t0 >> 1), rb = oneRow ? t0 : 0;   // 16-byte chunks: 4 words, 8 halves
                if (col < n) {
                    // The warp's whole share of the weight row in flight at once: four 16-byte loads per lane (a staged piece of
                    // 1024 elements is 128 chunks); chunks past the row are 0 and multiply staged zeros.
                    int[] q = new int[4];
                    int w00 = 0, w01 = 0, w02 = 0, w03 = 0, w10 = 0, w11 = 0, w12 = 0, w13 = 0, w20 = 0, w21 = 0, w22 = 0, w23 = 0, w30 = 0, w31 = 0, w32 = 0, w33 = 0;
                    if (lane < chunks) { ctx.load4(q, w, base + (lane << 2)); w00 = q[0]; w01 = q[1]; w02 = q[2]; w03 = q[3]; }
                    if (lane + 32 < chunks) { ctx.load4(q, w, base + ((lane + 32) << 2)); w10 = q[0]; w11 = q[1]; w12 = q[2]; w13 = q[3]; }
                    if (lane + 64 < chunks) { ctx.load4(q, w, base + ((lane + 64) << 2)); w20 = q[0]; w21 = q[1]; w22 = q[2]; w23 = q[3]; }
                    if (lane + 96 < chunks) { ctx.load4(q, w, base + ((lane + 96) << 2)); w30 = q[0]; w31 = q[1]; w32 = q[2]; w33 = q[3]; }
                    a0 += chunkDot(xs, rb, lane, w00, w01, w02, w03, w10, w11, w12, w13, w20, w21, w22, w23, w30, w31, w32, w33);
                    if (more) {   // uniform: a decode step of batch 1 (one row) skips the other seven
                        a1 += chunkDot(xs, 1024, lane, w00, w01, w02, w03, w10, w11, w12, w13, w20, w21, w22, w23, w30, w31, w32, w33);
                        a2 += chunkDot(xs, 2048, lane, w00, w01, w02, w03, w10, w11, w12, w13, w20, w21, w22, w23, w30, w31, w32, w33);
                        a3 += chunkDot(xs, 3072, lane, w00, w01, w02, w03, w10, w11, w12, w13, w20, w21, w22, w23, w30, w31, w32, w33);
                        a4 += chunkDot(xs, 4096, lane, w00, w01, w02, w03, w10, w11, w12, w13, w20, w21, w22, w23, w30, w31, w32, w33);
                        a5 += chunkDot(xs, 5120, lane, w00, w01, w02, w03, w10, w11, w12, w13, w20, w21, w22, w23, w30, w31, w32, w33);
                        a6 += chunkDot(xs, 6144, lane, w00, w01, w02, w03, w10, w11, w12, w13, w20, w21, w22, w23, w30, w31, w32, w33);
                        a7 += chunkDot(xs, 7168, lane, w00, w01, w02, w03, w10, w11, w12, w13, w20, w21, w22, w23, w30, w31, w32, w33);
                    }
                }
                if (!once) ctx.barrier();   // before the next piece is staged over this one
            }
            float sum = laneRowSum(ctx, lane, more, a0, a1, a2, a3, a4, a5, a6, a7);
            if (writes) finish(y, outAt, sum + b, resid, mode);
        }
    }

    /**
     * Weight-only INT8 (W8A16): codes {@code w} (K/4 ints per row) with scales {@code sw[N, K/groupSize]}, each code
     * converted exactly to float and its word's sum scaled by the group's scale; activations rounded to FP16 as in
     * {@link #fp16}. Half the weight bytes of FP16 at the same activation precision.
     */
    @Kernel(maxRegisters = REGISTERS)
    public static void int8a16(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                               FloatArray bias, FloatArray y, int m, int n, int k, int groupSize, int mode) {
        prefetchWeights(ctx, w, sw, n, k >> 2, k / groupSize);   // they do not depend on the previous kernel
        if (norm != 0) prefetchNorm(ctx, gamma, beta, k);
        ctx.awaitPreviousKernel();
        float[] xs = ctx.allocateFloatShared(8192);   // 8 rows × 1024 elements of K at a time, or one row of up to 8192
        float[] mean = ctx.allocateFloatShared(8), rstd = ctx.allocateFloatShared(8), red = ctx.allocateFloatShared(32);
        int tid = ctx.localIdx(), lane = tid & 31, row0 = ctx.groupIdy() * ROWS;
        int rowsHere = Math.min(ROWS, m - row0);
        if (norm != 0) rowStats(ctx, red, x, mean, rstd, row0, rowsHere, k, eps, norm);
        // once: the rows staged a single time for every feature pass (one row of up to 8192 elements, or any rows of K ≤ 1024)
        boolean more = rowsHere > 1, oneRow = rowsHere == 1 && k <= 8192, once = oneRow || k <= 1024;
        if (oneRow) stageRowHalves(ctx, xs, x, row0, k, norm, gamma, beta, mean, rstd, 0);
        else if (once) stageHalves(ctx, xs, x, row0, rowsHere, k, 0, k, norm, gamma, beta, mean, rstd);
        int kw = k >> 2, groups = k / groupSize, gShift = groupShift(groupSize);
        for (int c8 = ctx.groupIdx() * 8; c8 < n; c8 += ctx.numGroupsX() * 8) {   // uniform: the block's feature passes
            int col = c8 + (tid >> 5), outAt = (row0 + lane) * n + col;
            boolean writes = col < n && lane < ROWS && row0 + lane < m;
            // The epilogue's loads issued now, their latency hidden behind the weights'; used after the dot products.
            float b = writes ? bias.get(col) : 0f, resid = writes && mode == ADD ? y.get(outAt) : 0f;
            float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f, a6 = 0f, a7 = 0f;
            for (int t0 = 0; t0 < k; t0 += 1024) {
                int len = Math.min(1024, k - t0);
                if (!once) stageHalves(ctx, xs, x, row0, rowsHere, k, t0, len, norm, gamma, beta, mean, rstd);
                int words = len >> 2, base = col * kw + (t0 >> 2), scaleBase = col * groups, rb = oneRow ? t0 : 0;
                for (int j = lane; col < n && j < words; j += 256) {
                    // Eight weight words in flight per lane, as in fp16; a word past the row is 0 and multiplies nothing.
                    int word0 = w.get(base + j), word1 = j + 32 < words ? w.get(base + j + 32) : 0, word2 = j + 64 < words ? w.get(base + j + 64) : 0;
                    int word3 = j + 96 < words ? w.get(base + j + 96) : 0, word4 = j + 128 < words ? w.get(base + j + 128) : 0;
                    int word5 = j + 160 < words ? w.get(base + j + 160) : 0, word6 = j + 192 < words ? w.get(base + j + 192) : 0;
                    int word7 = j + 224 < words ? w.get(base + j + 224) : 0;
                    for (int h = 0; h < 8; h++) {
                        int word = pickInt(h, word0, word1, word2, word3, word4, word5, word6, word7), e = ((j + 32 * h) & 255) << 2;
                        float s = sw.get(scaleBase + Math.min(groupOf(t0 + e, groupSize, gShift), groups - 1));   // a zero word past the row: any scale
                        float w0 = s * PrefillGemmKernel.exactFloat((word << 24) >> 24), w1 = s * PrefillGemmKernel.exactFloat((word << 16) >> 24);
                        float w2 = s * PrefillGemmKernel.exactFloat((word << 8) >> 24), w3 = s * PrefillGemmKernel.exactFloat(word >> 24);
                        a0 += w0 * xs[rb + e] + w1 * xs[rb + e + 1] + w2 * xs[rb + e + 2] + w3 * xs[rb + e + 3];
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
                if (!once) ctx.barrier();   // before the next piece is staged over this one
            }
            float sum = laneRowSum(ctx, lane, more, a0, a1, a2, a3, a4, a5, a6, a7);
            if (writes) finish(y, outAt, sum + b, resid, mode);
        }
    }

    /**
     * Weight-only INT4 (W4A16): codes in {@link Int4Words}' order (K/8 ints per row) with scales {@code sw[N, K/groupSize]},
     * activations rounded to FP16; four weight words (32 codes) in flight per lane.
     */
    @Kernel(maxRegisters = REGISTERS)
    public static void int4a16(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                               FloatArray bias, FloatArray y, int m, int n, int k, int groupSize, int mode) {
        prefetchWeights(ctx, w, sw, n, k >> 3, k / groupSize);   // they do not depend on the previous kernel
        if (norm != 0) prefetchNorm(ctx, gamma, beta, k);
        ctx.awaitPreviousKernel();
        float[] xs = ctx.allocateFloatShared(8192);   // 8 rows × 1024 elements of K at a time, or one row of up to 8192
        float[] mean = ctx.allocateFloatShared(8), rstd = ctx.allocateFloatShared(8), red = ctx.allocateFloatShared(32);
        int tid = ctx.localIdx(), lane = tid & 31, row0 = ctx.groupIdy() * ROWS;
        int rowsHere = Math.min(ROWS, m - row0);
        if (norm != 0) rowStats(ctx, red, x, mean, rstd, row0, rowsHere, k, eps, norm);
        // once: the rows staged a single time for every feature pass (one row of up to 8192 elements, or any rows of K ≤ 1024)
        boolean more = rowsHere > 1, oneRow = rowsHere == 1 && k <= 8192, once = oneRow || k <= 1024;
        if (oneRow) stageRowHalves(ctx, xs, x, row0, k, norm, gamma, beta, mean, rstd, 0);
        else if (once) stageHalves(ctx, xs, x, row0, rowsHere, k, 0, k, norm, gamma, beta, mean, rstd);
        int kw = k >> 3, groups = k / groupSize, gShift = groupShift(groupSize);
        for (int c8 = ctx.groupIdx() * 8; c8 < n; c8 += ctx.numGroupsX() * 8) {   // uniform: the block's feature passes
            int col = c8 + (tid >> 5), outAt = (row0 + lane) * n + col;
            boolean writes = col < n && lane < ROWS && row0 + lane < m;
            // The epilogue's loads issued now, their latency hidden behind the weights'; used after the dot products.
            float b = writes ? bias.get(col) : 0f, resid = writes && mode == ADD ? y.get(outAt) : 0f;
            float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f, a6 = 0f, a7 = 0f;
            for (int t0 = 0; t0 < k; t0 += 1024) {
                int len = Math.min(1024, k - t0);
                if (!once) stageHalves(ctx, xs, x, row0, rowsHere, k, t0, len, norm, gamma, beta, mean, rstd);
                int words = len >> 3, base = col * kw + (t0 >> 3), scaleBase = col * groups, rb = oneRow ? t0 : 0;
                for (int j = lane; col < n && j < words; j += 128) {
                    int word0 = w.get(base + j), word1 = j + 32 < words ? w.get(base + j + 32) : 0, word2 = j + 64 < words ? w.get(base + j + 64) : 0;
                    int word3 = j + 96 < words ? w.get(base + j + 96) : 0;
                    for (int h = 0; h < 4; h++) {
                        // Word jj holds codes e + i (low nibbles) and e + 16 + i (high nibbles), i = 0..3, e = 32·(jj >> 2) + 4·(jj & 3).
                        int jj = (j + 32 * h) & 127, word = pickInt(h, word0, word1, word2, word3, 0, 0, 0, 0), e = ((jj >> 2) << 5) + ((jj & 3) << 2);
                        float s = sw.get(scaleBase + Math.min(groupOf(t0 + e, groupSize, gShift), groups - 1));   // a zero word past the row: any scale
                        float w0 = s * PrefillGemmKernel.exactFloat((word << 28) >> 28), w1 = s * PrefillGemmKernel.exactFloat((word << 20) >> 28);
                        float w2 = s * PrefillGemmKernel.exactFloat((word << 12) >> 28), w3 = s * PrefillGemmKernel.exactFloat((word << 4) >> 28);
                        float w4 = s * PrefillGemmKernel.exactFloat((word << 24) >> 28), w5 = s * PrefillGemmKernel.exactFloat((word << 16) >> 28);
                        float w6 = s * PrefillGemmKernel.exactFloat((word << 8) >> 28), w7 = s * PrefillGemmKernel.exactFloat(word >> 28);
                        a0 += dot8(xs, rb + e, w0, w1, w2, w3, w4, w5, w6, w7);
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
                if (!once) ctx.barrier();   // before the next piece is staged over this one
            }
            float sum = laneRowSum(ctx, lane, more, a0, a1, a2, a3, a4, a5, a6, a7);
            if (writes) finish(y, outAt, sum + b, resid, mode);
        }
    }

    /** INT8 weight codes {@code w} (K/4 ints per row) with scales {@code sw[N, K/groupSize]}; W8A8. */
    @Kernel(maxRegisters = REGISTERS)
    public static void int8(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                            FloatArray bias, FloatArray y, int m, int n, int k, int groupSize, int mode) {
        prefetchWeights(ctx, w, sw, n, k >> 2, k / groupSize);   // they do not depend on the previous kernel
        if (norm != 0) prefetchNorm(ctx, gamma, beta, k);
        ctx.awaitPreviousKernel();
        int[] xs = ctx.allocateIntShared(8192);   // 8 rows × 4096 codes of K at a time
        float[] sx = ctx.allocateFloatShared(8);
        float[] mean = ctx.allocateFloatShared(8), rstd = ctx.allocateFloatShared(8), red = ctx.allocateFloatShared(32);
        int tid = ctx.localIdx(), lane = tid & 31, row0 = ctx.groupIdy() * ROWS;
        int rowsHere = Math.min(ROWS, m - row0);   // rows past it hold stale shared memory; their sums are never written
        boolean oneRow = rowsHere == 1 && k <= INT8_ROW_IN_REGISTERS;   // a decode step of batch 1: the row staged once, from registers
        if (oneRow) stageOneRow(ctx, red, sx, xs, x, norm, gamma, beta, eps, row0 * k, k, 0);
        else {
            if (norm != 0) rowStats(ctx, red, x, mean, rstd, row0, rowsHere, k, eps, norm);
            rowScales(ctx, red, x, norm, gamma, beta, mean, rstd, sx, row0, rowsHere, k);
        }
        boolean more = rowsHere > 1, perChunk = groupSize % 16 == 0;   // perChunk: a 16-code chunk lies in one group
        boolean once = k <= 4096;   // once: one staged piece (or the one row in registers) holds all of K, for every pass
        if (!oneRow && once) stageInt8Codes(ctx, xs, x, row0, rowsHere, k, 0, k, norm, gamma, beta, mean, rstd, sx);
        int kw = k >> 2, groups = k / groupSize, gShift = groupShift(groupSize);
        for (int c8 = ctx.groupIdx() * 8; c8 < n; c8 += ctx.numGroupsX() * 8) {   // uniform: the block's column passes
            int col = c8 + (tid >> 5), outAt = (row0 + lane) * n + col;
            boolean writes = col < n && lane < ROWS && row0 + lane < m;
            // The epilogue's loads issued now, their latency hidden behind the weights'; used after the dot products.
            float b = writes ? bias.get(col) : 0f, resid = writes && mode == ADD ? y.get(outAt) : 0f;
            float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f, a6 = 0f, a7 = 0f;
            for (int t0 = 0; t0 < k; t0 += 4096) {
                int len = Math.min(4096, k - t0);
                if (!once) stageInt8Codes(ctx, xs, x, row0, rowsHere, k, t0, len, norm, gamma, beta, mean, rstd, sx);
                int chunks = len >> 4, base = col * kw + (t0 >> 2), scaleBase = col * groups;   // 16-byte chunks: 16 codes
                int[] q = new int[4];
                for (int cb = 0; col < n && cb < chunks; cb += 128) {
                    // Four 16-byte chunks of weights and their scales in flight per lane (a staged piece of 4096 codes is 256
                    // chunks); chunks past the row are 0 and multiply staged zeros.
                    int c0 = cb + lane + 0;
                    int q00 = 0, q01 = 0, q02 = 0, q03 = 0;
                    float t00 = 0f, t01 = 0f, t02 = 0f, t03 = 0f;
                    if (c0 < chunks) {
                        ctx.load4(q, w, base + (c0 << 2));
                        q00 = q[0]; q01 = q[1]; q02 = q[2]; q03 = q[3];
                        int g = scaleBase + groupOf(t0 + (c0 << 4), groupSize, gShift);
                        t00 = sw.get(g);
                        t01 = perChunk ? t00 : sw.get(scaleBase + groupOf(t0 + (c0 << 4) + 4, groupSize, gShift));
                        t02 = perChunk ? t00 : sw.get(scaleBase + groupOf(t0 + (c0 << 4) + 8, groupSize, gShift));
                        t03 = perChunk ? t00 : sw.get(scaleBase + groupOf(t0 + (c0 << 4) + 12, groupSize, gShift));
                    }
                    int c1 = cb + lane + 32;
                    int q10 = 0, q11 = 0, q12 = 0, q13 = 0;
                    float t10 = 0f, t11 = 0f, t12 = 0f, t13 = 0f;
                    if (c1 < chunks) {
                        ctx.load4(q, w, base + (c1 << 2));
                        q10 = q[0]; q11 = q[1]; q12 = q[2]; q13 = q[3];
                        int g = scaleBase + groupOf(t0 + (c1 << 4), groupSize, gShift);
                        t10 = sw.get(g);
                        t11 = perChunk ? t10 : sw.get(scaleBase + groupOf(t0 + (c1 << 4) + 4, groupSize, gShift));
                        t12 = perChunk ? t10 : sw.get(scaleBase + groupOf(t0 + (c1 << 4) + 8, groupSize, gShift));
                        t13 = perChunk ? t10 : sw.get(scaleBase + groupOf(t0 + (c1 << 4) + 12, groupSize, gShift));
                    }
                    int c2 = cb + lane + 64;
                    int q20 = 0, q21 = 0, q22 = 0, q23 = 0;
                    float t20 = 0f, t21 = 0f, t22 = 0f, t23 = 0f;
                    if (c2 < chunks) {
                        ctx.load4(q, w, base + (c2 << 2));
                        q20 = q[0]; q21 = q[1]; q22 = q[2]; q23 = q[3];
                        int g = scaleBase + groupOf(t0 + (c2 << 4), groupSize, gShift);
                        t20 = sw.get(g);
                        t21 = perChunk ? t20 : sw.get(scaleBase + groupOf(t0 + (c2 << 4) + 4, groupSize, gShift));
                        t22 = perChunk ? t20 : sw.get(scaleBase + groupOf(t0 + (c2 << 4) + 8, groupSize, gShift));
                        t23 = perChunk ? t20 : sw.get(scaleBase + groupOf(t0 + (c2 << 4) + 12, groupSize, gShift));
                    }
                    int c3 = cb + lane + 96;
                    int q30 = 0, q31 = 0, q32 = 0, q33 = 0;
                    float t30 = 0f, t31 = 0f, t32 = 0f, t33 = 0f;
                    if (c3 < chunks) {
                        ctx.load4(q, w, base + (c3 << 2));
                        q30 = q[0]; q31 = q[1]; q32 = q[2]; q33 = q[3];
                        int g = scaleBase + groupOf(t0 + (c3 << 4), groupSize, gShift);
                        t30 = sw.get(g);
                        t31 = perChunk ? t30 : sw.get(scaleBase + groupOf(t0 + (c3 << 4) + 4, groupSize, gShift));
                        t32 = perChunk ? t30 : sw.get(scaleBase + groupOf(t0 + (c3 << 4) + 8, groupSize, gShift));
                        t33 = perChunk ? t30 : sw.get(scaleBase + groupOf(t0 + (c3 << 4) + 12, groupSize, gShift));
                    }
                    a0 += int8ChunkDot(xs, 0, c0, q00, q01, q02, q03, t00, t01, t02, t03) + int8ChunkDot(xs, 0, c1, q10, q11, q12, q13, t10, t11, t12, t13) + int8ChunkDot(xs, 0, c2, q20, q21, q22, q23, t20, t21, t22, t23) + int8ChunkDot(xs, 0, c3, q30, q31, q32, q33, t30, t31, t32, t33);
                    if (more) {   // uniform: a decode step of batch 1 (one row) skips the other seven
                        a1 += int8ChunkDot(xs, 1024, c0, q00, q01, q02, q03, t00, t01, t02, t03) + int8ChunkDot(xs, 1024, c1, q10, q11, q12, q13, t10, t11, t12, t13) + int8ChunkDot(xs, 1024, c2, q20, q21, q22, q23, t20, t21, t22, t23) + int8ChunkDot(xs, 1024, c3, q30, q31, q32, q33, t30, t31, t32, t33);
                        a2 += int8ChunkDot(xs, 2048, c0, q00, q01, q02, q03, t00, t01, t02, t03) + int8ChunkDot(xs, 2048, c1, q10, q11, q12, q13, t10, t11, t12, t13) + int8ChunkDot(xs, 2048, c2, q20, q21, q22, q23, t20, t21, t22, t23) + int8ChunkDot(xs, 2048, c3, q30, q31, q32, q33, t30, t31, t32, t33);
                        a3 += int8ChunkDot(xs, 3072, c0, q00, q01, q02, q03, t00, t01, t02, t03) + int8ChunkDot(xs, 3072, c1, q10, q11, q12, q13, t10, t11, t12, t13) + int8ChunkDot(xs, 3072, c2, q20, q21, q22, q23, t20, t21, t22, t23) + int8ChunkDot(xs, 3072, c3, q30, q31, q32, q33, t30, t31, t32, t33);
                        a4 += int8ChunkDot(xs, 4096, c0, q00, q01, q02, q03, t00, t01, t02, t03) + int8ChunkDot(xs, 4096, c1, q10, q11, q12, q13, t10, t11, t12, t13) + int8ChunkDot(xs, 4096, c2, q20, q21, q22, q23, t20, t21, t22, t23) + int8ChunkDot(xs, 4096, c3, q30, q31, q32, q33, t30, t31, t32, t33);
                        a5 += int8ChunkDot(xs, 5120, c0, q00, q01, q02, q03, t00, t01, t02, t03) + int8ChunkDot(xs, 5120, c1, q10, q11, q12, q13, t10, t11, t12, t13) + int8ChunkDot(xs, 5120, c2, q20, q21, q22, q23, t20, t21, t22, t23) + int8ChunkDot(xs, 5120, c3, q30, q31, q32, q33, t30, t31, t32, t33);
                        a6 += int8ChunkDot(xs, 6144, c0, q00, q01, q02, q03, t00, t01, t02, t03) + int8ChunkDot(xs, 6144, c1, q10, q11, q12, q13, t10, t11, t12, t13) + int8ChunkDot(xs, 6144, c2, q20, q21, q22, q23, t20, t21, t22, t23) + int8ChunkDot(xs, 6144, c3, q30, q31, q32, q33, t30, t31, t32, t33);
                        a7 += int8ChunkDot(xs, 7168, c0, q00, q01, q02, q03, t00, t01, t02, t03) + int8ChunkDot(xs, 7168, c1, q10, q11, q12, q13, t10, t11, t12, t13) + int8ChunkDot(xs, 7168, c2, q20, q21, q22, q23, t20, t21, t22, t23) + int8ChunkDot(xs, 7168, c3, q30, q31, q32, q33, t30, t31, t32, t33);
                    }
                }
                if (!once) ctx.barrier();   // before the next piece is staged over this one
            }
            float sum = laneRowSum(ctx, lane, more, a0, a1, a2, a3, a4, a5, a6, a7);
            if (writes) finish(y, outAt, sx[lane] * sum + b, resid, mode);
        }
    }

    /**
     * INT4 weight codes {@code w} in {@link Int4Words}' order (K/8 ints per row) with scales {@code sw[N, K/groupSize]};
     * W4A8. The activation codes are staged per weight word: the four codes of its low nibbles, then the four of its
     * high nibbles.
     */
    @Kernel(maxRegisters = REGISTERS)
    public static void int4(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                            FloatArray bias, FloatArray y, int m, int n, int k, int groupSize, int mode) {
        prefetchWeights(ctx, w, sw, n, k >> 3, k / groupSize);   // they do not depend on the previous kernel
        if (norm != 0) prefetchNorm(ctx, gamma, beta, k);
        ctx.awaitPreviousKernel();
        int[] xs = ctx.allocateIntShared(8192);   // 8 rows × 4096 codes of K at a time (1024 ints per row)
        float[] sx = ctx.allocateFloatShared(8);
        float[] mean = ctx.allocateFloatShared(8), rstd = ctx.allocateFloatShared(8), red = ctx.allocateFloatShared(32);
        int tid = ctx.localIdx(), lane = tid & 31, row0 = ctx.groupIdy() * ROWS;
        int rowsHere = Math.min(ROWS, m - row0);   // rows past it hold stale shared memory; their sums are never written
        if (norm != 0) rowStats(ctx, red, x, mean, rstd, row0, rowsHere, k, eps, norm);
        rowScales(ctx, red, x, norm, gamma, beta, mean, rstd, sx, row0, rowsHere, k);
        boolean more = rowsHere > 1, once = k <= 4096;   // once: one staged piece holds all of K, for every feature pass
        if (once) stageInt4Codes(ctx, xs, x, row0, rowsHere, k, 0, k, norm, gamma, beta, mean, rstd, sx);
        int kw = k >> 3, groups = k / groupSize, gShift = groupShift(groupSize);
        for (int c8 = ctx.groupIdx() * 8; c8 < n; c8 += ctx.numGroupsX() * 8) {   // uniform: the block's feature passes
            int col = c8 + (tid >> 5), outAt = (row0 + lane) * n + col;
            boolean writes = col < n && lane < ROWS && row0 + lane < m;
            // The epilogue's loads issued now, their latency hidden behind the weights'; used after the dot products.
            float b = writes ? bias.get(col) : 0f, resid = writes && mode == ADD ? y.get(outAt) : 0f;
            float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f, a6 = 0f, a7 = 0f;
            for (int t0 = 0; t0 < k; t0 += 4096) {
                int len = Math.min(4096, k - t0);
                if (!once) stageInt4Codes(ctx, xs, x, row0, rowsHere, k, t0, len, norm, gamma, beta, mean, rstd, sx);
                int words = len >> 3, base = col * kw + (t0 >> 3), scaleBase = col * groups;
                for (int j = lane; col < n && j < words; j += 256) {
                    // Eight weight words and their group scales in flight per lane; see fp16.
                    int word0 = w.get(base + j), word1 = j + 32 < words ? w.get(base + j + 32) : 0, word2 = j + 64 < words ? w.get(base + j + 64) : 0;
                    int word3 = j + 96 < words ? w.get(base + j + 96) : 0, word4 = j + 128 < words ? w.get(base + j + 128) : 0;
                    int word5 = j + 160 < words ? w.get(base + j + 160) : 0, word6 = j + 192 < words ? w.get(base + j + 192) : 0;
                    int word7 = j + 224 < words ? w.get(base + j + 224) : 0;
                    float s0 = sw.get(scaleBase + groupOf(t0 + ((j) << 3), groupSize, gShift)), s1 = j + 32 < words ? sw.get(scaleBase + groupOf(t0 + ((j + 32) << 3), groupSize, gShift)) : 0f, s2 = j + 64 < words ? sw.get(scaleBase + groupOf(t0 + ((j + 64) << 3), groupSize, gShift)) : 0f;
                    float s3 = j + 96 < words ? sw.get(scaleBase + groupOf(t0 + ((j + 96) << 3), groupSize, gShift)) : 0f, s4 = j + 128 < words ? sw.get(scaleBase + groupOf(t0 + ((j + 128) << 3), groupSize, gShift)) : 0f, s5 = j + 160 < words ? sw.get(scaleBase + groupOf(t0 + ((j + 160) << 3), groupSize, gShift)) : 0f;
                    float s6 = j + 192 < words ? sw.get(scaleBase + groupOf(t0 + ((j + 192) << 3), groupSize, gShift)) : 0f, s7 = j + 224 < words ? sw.get(scaleBase + groupOf(t0 + ((j + 224) << 3), groupSize, gShift)) : 0f;
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
                if (!once) ctx.barrier();   // before the next piece is staged over this one
            }
            float sum = laneRowSum(ctx, lane, more, a0, a1, a2, a3, a4, a5, a6, a7);
            if (writes) finish(y, outAt, sx[lane] * sum + b, resid, mode);
        }
    }

    /**
     * {@link #int8}'s activation codes for elements {@code t0 … t0 + len − 1} of the block's rows (LayerNorm'd with
     * {@code norm != 0}, quantized with the row scales {@code sx}), four to a word, word {@code j} of a row at
     * {@code (j mod 4)·256 + j/4} (the chunk order of {@link #int8ChunkDot}); codes past the row are 0.
     */
    static void stageInt8Codes(KernelContext ctx, int[] xs, FloatArray x, int row0, int rows, int k, int t0, int len, int norm, FloatArray gamma,
                               FloatArray beta, float[] mean, float[] rstd, float[] sx) {
        for (int i = ctx.localIdx(); i < rows << 10; i += ctx.localSizeX()) {
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
            xs[(r << 10) + ((j & 3) << 8) + (j >> 2)] = word;
        }
        ctx.barrier();
    }

    /**
     * {@link #int4}'s activation codes for elements {@code t0 … t0 + len − 1} of the block's rows (LayerNorm'd with
     * {@code norm != 0}, quantized with the row scales {@code sx}): per weight word of {@link Int4Words}, the four codes of
     * its low nibbles, then the four of its high nibbles; codes past the row are 0.
     */
    static void stageInt4Codes(KernelContext ctx, int[] xs, FloatArray x, int row0, int rows, int k, int t0, int len, int norm, FloatArray gamma,
                               FloatArray beta, float[] mean, float[] rstd, float[] sx) {
        for (int i = ctx.localIdx(); i < rows << 9; i += ctx.localSizeX()) {
            int r = i >> 9, j = i & 511, lo = 0, hi = 0;
            if ((j << 3) < len) {
                int e = t0 + ((j >> 2) << 5) + ((j & 3) << 2), at = (row0 + r) * k + e;
                float s = sx[r];
                // The loads first, all in flight together; then the LayerNorm, if any.
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

    /**
     * One row ({@code row0}, K ≤ 8192) staged whole, LayerNorm'd when {@code norm != 0}, rounded to FP16, the last piece
     * of 1024 padded with zeros: element {@code i} at {@code xs[i]} as {@link #stageHalves} stages a piece, or with
     * {@code chunkOrder != 0} piece {@code p} at {@code xs[1024·p …]} in {@link #stageHalvesByChunk}'s order.
     */
    static void stageRowHalves(KernelContext ctx, float[] xs, FloatArray x, int row0, int k, int norm, FloatArray gamma, FloatArray beta,
                               float[] mean, float[] rstd, int chunkOrder) {
        for (int i = ctx.localIdx(); i < ((k + 1023) & ~1023); i += ctx.localSizeX()) {
            float v = 0f;
            if (i < k) {
                v = x.get(row0 * k + i);
                if (norm != 0) v = normalized(v, i, 0, gamma, beta, mean, rstd);
            }
            int j = i & 1023;
            xs[chunkOrder != 0 ? (i & ~1023) + ((j & 7) << 7) + (j >> 3) : i] = Float.float16ToFloat(Float.floatToFloat16(v));
        }
        ctx.barrier();
    }

    /**
     * {@link #stageHalves} in the order {@link #chunkDot} reads: element {@code j} of a staged piece at
     * {@code (j mod 8)·128 + j/8}, so that the lanes of a warp, each on its own 16-byte chunk of 8 halves, read
     * consecutive words of shared memory (in natural order they would hit 4 banks, 8 lanes each).
     */
    static void stageHalvesByChunk(KernelContext ctx, float[] xs, FloatArray x, int row0, int rows, int k, int t0, int len, int norm,
                                   FloatArray gamma, FloatArray beta, float[] mean, float[] rstd) {
        for (int i = ctx.localIdx(); i < rows << 10; i += ctx.localSizeX()) {
            int r = i >> 10, j = i & 1023;
            float v = 0f;
            if (j < len) {
                v = x.get((row0 + r) * k + t0 + j);
                if (norm != 0) v = normalized(v, t0 + j, r, gamma, beta, mean, rstd);
            }
            xs[(r << 10) + ((j & 7) << 7) + (j >> 3)] = Float.float16ToFloat(Float.floatToFloat16(v));
        }
        ctx.barrier();
    }

    /** One staged row's ({@code rb}: its offset in {@code xs}) dot product with a lane's four chunks of FP16 weights. */
    static float chunkDot(float[] xs, int rb, int lane, int w00, int w01, int w02, int w03, int w10, int w11, int w12, int w13, int w20, int w21,
                          int w22, int w23, int w30, int w31, int w32, int w33) {
        return halvesDot(xs, rb + lane, w00, w01, w02, w03) + halvesDot(xs, rb + lane + 32, w10, w11, w12, w13)
                + halvesDot(xs, rb + lane + 64, w20, w21, w22, w23) + halvesDot(xs, rb + lane + 96, w30, w31, w32, w33);
    }

    /** Chunk {@code c}'s (staged at {@code xs[c + 128·e]}, e = 0…7) dot product with its 4 words of FP16 weights. */
    static float halvesDot(float[] xs, int c, int w0, int w1, int w2, int w3) {
        return Epilogue.lowHalf(w0) * xs[c] + Epilogue.highHalf(w0) * xs[c + 128] + Epilogue.lowHalf(w1) * xs[c + 256] + Epilogue.highHalf(w1) * xs[c + 384]
                + Epilogue.lowHalf(w2) * xs[c + 512] + Epilogue.highHalf(w2) * xs[c + 640] + Epilogue.lowHalf(w3) * xs[c + 768]
                + Epilogue.highHalf(w3) * xs[c + 896];
    }

    /**
     * Batch 1 (one row, K ≤ 4096): the row read once into registers — words {@code tid + 256·i} of four elements each —
     * its LayerNorm (with {@code norm != 0}) and token-wise scale computed from them, and its codes staged in the chunk
     * order of {@link #int8ChunkDot}; {@code sx[0]} gets the scale. The general path reads the row three or four times
     * (statistics, scale, staging), each a round trip to L2 on the critical path of a decode step. With
     * {@code int4Order != 0} the codes go in {@link #int4}'s order instead ({@link #codeWordAt}). Blocks of 256 threads
     * (its three reductions take slots 0–2 of {@code red}, 24 floats: {@link RowKernels#blockSum8}).
     */
    static void stageOneRow(KernelContext ctx, float[] red, float[] sx, int[] xs, FloatArray x, int norm, FloatArray gamma, FloatArray beta,
                            float eps, int at, int k, int int4Order) {
        int tid = ctx.localIdx(), e0 = tid << 2, e1 = e0 + 1024, e2 = e0 + 2048, e3 = e0 + 3072;
        boolean h0 = e0 < k, h1 = e1 < k, h2 = e2 < k, h3 = e3 < k;
        float x00 = h0 ? x.get(at + e0) : 0f, x01 = h0 ? x.get(at + e0 + 1) : 0f, x02 = h0 ? x.get(at + e0 + 2) : 0f, x03 = h0 ? x.get(at + e0 + 3) : 0f;
        float x10 = h1 ? x.get(at + e1) : 0f, x11 = h1 ? x.get(at + e1 + 1) : 0f, x12 = h1 ? x.get(at + e1 + 2) : 0f, x13 = h1 ? x.get(at + e1 + 3) : 0f;
        float x20 = h2 ? x.get(at + e2) : 0f, x21 = h2 ? x.get(at + e2 + 1) : 0f, x22 = h2 ? x.get(at + e2 + 2) : 0f, x23 = h2 ? x.get(at + e2 + 3) : 0f;
        float x30 = h3 ? x.get(at + e3) : 0f, x31 = h3 ? x.get(at + e3 + 1) : 0f, x32 = h3 ? x.get(at + e3 + 2) : 0f, x33 = h3 ? x.get(at + e3 + 3) : 0f;
        if (norm != 0) {
            float mu = 0f;   // RMSNorm: none taken out
            if (norm != RMS_NORM) mu = RowKernels.blockSum8(ctx, red, 0, x00 + x01 + x02 + x03 + x10 + x11 + x12 + x13 + x20 + x21 + x22 + x23 + x30 + x31 + x32 + x33) / k;
            float inv = 1f / KernelMath.sqrt(RowKernels.blockSum8(ctx, red, 1, (h0 ? sq(x00, mu) + sq(x01, mu) + sq(x02, mu) + sq(x03, mu) : 0f) + (h1 ? sq(x10, mu) + sq(x11, mu) + sq(x12, mu) + sq(x13, mu) : 0f) + (h2 ? sq(x20, mu) + sq(x21, mu) + sq(x22, mu) + sq(x23, mu) : 0f) + (h3 ? sq(x30, mu) + sq(x31, mu) + sq(x32, mu) + sq(x33, mu) : 0f)) / k + eps);
            x00 = h0 ? (x00 - mu) * inv * gamma.get(e0 + 0) + beta.get(e0 + 0) : 0f;
            x01 = h0 ? (x01 - mu) * inv * gamma.get(e0 + 1) + beta.get(e0 + 1) : 0f;
            x02 = h0 ? (x02 - mu) * inv * gamma.get(e0 + 2) + beta.get(e0 + 2) : 0f;
            x03 = h0 ? (x03 - mu) * inv * gamma.get(e0 + 3) + beta.get(e0 + 3) : 0f;
            x10 = h1 ? (x10 - mu) * inv * gamma.get(e1 + 0) + beta.get(e1 + 0) : 0f;
            x11 = h1 ? (x11 - mu) * inv * gamma.get(e1 + 1) + beta.get(e1 + 1) : 0f;
            x12 = h1 ? (x12 - mu) * inv * gamma.get(e1 + 2) + beta.get(e1 + 2) : 0f;
            x13 = h1 ? (x13 - mu) * inv * gamma.get(e1 + 3) + beta.get(e1 + 3) : 0f;
            x20 = h2 ? (x20 - mu) * inv * gamma.get(e2 + 0) + beta.get(e2 + 0) : 0f;
            x21 = h2 ? (x21 - mu) * inv * gamma.get(e2 + 1) + beta.get(e2 + 1) : 0f;
            x22 = h2 ? (x22 - mu) * inv * gamma.get(e2 + 2) + beta.get(e2 + 2) : 0f;
            x23 = h2 ? (x23 - mu) * inv * gamma.get(e2 + 3) + beta.get(e2 + 3) : 0f;
            x30 = h3 ? (x30 - mu) * inv * gamma.get(e3 + 0) + beta.get(e3 + 0) : 0f;
            x31 = h3 ? (x31 - mu) * inv * gamma.get(e3 + 1) + beta.get(e3 + 1) : 0f;
            x32 = h3 ? (x32 - mu) * inv * gamma.get(e3 + 2) + beta.get(e3 + 2) : 0f;
            x33 = h3 ? (x33 - mu) * inv * gamma.get(e3 + 3) + beta.get(e3 + 3) : 0f;
        }
        float s = RowKernels.blockMax8(ctx, red, 2, Math.max(Math.max(max4(x00, x01, x02, x03), max4(x10, x11, x12, x13)), Math.max(max4(x20, x21, x22, x23), max4(x30, x31, x32, x33)))) / 127f;
        xs[codeWordAt(tid, int4Order)] = h0 ? RowKernels.packCodes(x00, x01, x02, x03, s) : 0;
        xs[codeWordAt(tid + 256, int4Order)] = h1 ? RowKernels.packCodes(x10, x11, x12, x13, s) : 0;
        xs[codeWordAt(tid + 512, int4Order)] = h2 ? RowKernels.packCodes(x20, x21, x22, x23, s) : 0;
        xs[codeWordAt(tid + 768, int4Order)] = h3 ? RowKernels.packCodes(x30, x31, x32, x33, s) : 0;
        if (tid == 0) sx[0] = s;
        ctx.barrier();
    }

    /**
     * Where a staged row keeps the codes of elements {@code 4g … 4g + 3}: {@link #int8ChunkDot}'s chunk order, word
     * {@code g} at {@code (g mod 4)·256 + g/4}; or, with {@code int4Order != 0}, {@link #int4}'s (per {@link Int4Words}
     * weight word {@code j}, its low-nibble codes at {@code 2j} and its high-nibble ones at {@code 2j + 1}; elements
     * {@code 32a + 4b …} belong to word {@code 4a + b mod 4}, the low nibbles for {@code b < 4}).
     */
    static int codeWordAt(int g, int int4Order) {
        return int4Order != 0 ? ((((g >> 3) << 2) + (g & 3)) << 1) + ((g >> 2) & 1) : ((g & 3) << 8) + ((g >> 2) & 255);
    }

    static float sq(float v, float mu) {
        float d = v - mu;
        return d * d;
    }

    static float max4(float a, float b, float c, float d) {
        return Math.max(Math.max(Math.abs(a), Math.abs(b)), Math.max(Math.abs(c), Math.abs(d)));
    }

    /**
     * One staged row's ({@code rb}: its offset in {@code xs}) dot product with chunk {@code c} of INT8 weights: words
     * {@code q0…q3} (16 codes) with their group scales. The INT8 kernels stage word {@code j} of a piece at
     * {@code (j mod 4)·256 + j/4}, so that the lanes of a warp, each on its own chunk, read consecutive words of shared
     * memory.
     */
    static float int8ChunkDot(int[] xs, int rb, int c, int q0, int q1, int q2, int q3, float s0, float s1, float s2, float s3) {
        int at = rb + (c & 255);
        return s0 * KernelMath.dp4a(q0, xs[at], 0) + s1 * KernelMath.dp4a(q1, xs[at + 256], 0) + s2 * KernelMath.dp4a(q2, xs[at + 512], 0)
                + s3 * KernelMath.dp4a(q3, xs[at + 768], 0);
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
     * passes, biased variance) as {@code DecoderRowKernels.layerNorm} computes them, each row by the whole block; for
     * {@link #RMS_NORM} a mean of 0 and {@code 1/sqrt(mean(x²) + eps)}.
     */
    static void rowStats(KernelContext ctx, float[] red, FloatArray x, float[] mean, float[] rstd, int row0, int rows, int k, float eps, int norm) {
        int tid = ctx.localIdx(), threads = ctx.localSizeX();
        for (int r = 0; r < rows; r++) {
            int at = (row0 + r) * k;
            float mu = 0f;   // RMSNorm: none taken out
            if (norm != RMS_NORM) {   // uniform in the block
                float sum = 0f;
                for (int j = tid; j < k; j += threads) sum += x.get(at + j);
                mu = RowKernels.blockSum(ctx, red, sum) / k;
            }
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

    /**
     * Each row's partial sums added over the warp; lane {@code r < 8} gets row {@code r}'s total (the others row 7's). Without
     * {@code more} (a block of one row) only {@code a0} is summed, into every lane: the other seven hold nothing.
     */
    static float laneRowSum(KernelContext ctx, int lane, boolean more, float a0, float a1, float a2, float a3, float a4, float a5, float a6,
                            float a7) {
        if (!more) return warpSum(ctx, a0);
        return pick(lane, warpSum(ctx, a0), warpSum(ctx, a1), warpSum(ctx, a2), warpSum(ctx, a3), warpSum(ctx, a4), warpSum(ctx, a5),
                warpSum(ctx, a6), warpSum(ctx, a7));
    }

    /** The warp's sum, in every lane: a butterfly, spelled out (the JIT does not unroll loops; a loop costs a compare and branch a step). */
    static float warpSum(KernelContext ctx, float v) {
        v += ctx.shflXor(v, 16);
        v += ctx.shflXor(v, 8);
        v += ctx.shflXor(v, 4);
        v += ctx.shflXor(v, 2);
        return v + ctx.shflXor(v, 1);
    }

    /** The warp's largest value, in every lane (NaN if any lane holds NaN): a butterfly, as {@link #warpSum}. */
    static float warpMax(KernelContext ctx, float v) {
        v = Math.max(v, ctx.shflXor(v, 16));
        v = Math.max(v, ctx.shflXor(v, 8));
        v = Math.max(v, ctx.shflXor(v, 4));
        v = Math.max(v, ctx.shflXor(v, 2));
        return Math.max(v, ctx.shflXor(v, 1));
    }

    static int pickInt(int i, int a0, int a1, int a2, int a3, int a4, int a5, int a6, int a7) {
        return i == 0 ? a0 : i == 1 ? a1 : i == 2 ? a2 : i == 3 ? a3 : i == 4 ? a4 : i == 5 ? a5 : i == 6 ? a6 : a7;
    }

    static float pick(int i, float a0, float a1, float a2, float a3, float a4, float a5, float a6, float a7) {
        return i == 0 ? a0 : i == 1 ? a1 : i == 2 ? a2 : i == 3 ? a3 : i == 4 ? a4 : i == 5 ? a5 : i == 6 ? a6 : a7;
    }

    /** {@link #finish(FloatArray, int, float, int)} with {@code y[at]} already loaded as {@code resid} (used under {@link #ADD}). */
    static void finish(FloatArray y, int at, float v, float resid, int mode) {
        if (mode == GELU_TANH) y.set(at, geluTanh(v));
        else if (mode == ADD) y.set(at, resid + v);
        else y.set(at, v);
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
