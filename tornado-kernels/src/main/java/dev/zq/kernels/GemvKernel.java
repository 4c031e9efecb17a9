package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;
import dev.zq.runtime.KernelMath;

/**
 * {@code y = x·Wᵀ + b} for one activation row — a decode step at batch 1: {@link SkinnyGemmKernel}'s one-row paths on
 * their own, with the same staging, the same products in the same order and the same epilogues, so the same bits —
 * {@link #int8} (W8A8) and {@link #int4} (W4A8) quantize the row token-wise with its LayerNorm fused
 * ({@link SkinnyGemmKernel#stageOneRow}), {@link #fp16} (W16A16) rounds it to halves. Two things make them kernels of their
 * own, both seen with Nsight Compute in a GPT-2 decode step on the H200 ({@code scripts/gpu-ncu-decode.sh}):
 * <ul>
 * <li><b>Code size.</b> The few-row INT8 kernel is ~4,600 SASS instructions (eight rows' products, the multi-row
 * staging), of which a one-row warp runs ~900; a quarter of its stall samples were {@code no_instruction}, warps waiting
 * for instructions fetched cold after a jump over code one row never runs. These hold only the path they run.</li>
 * <li><b>Weights first.</b> The first column's weights and scales, and its bias, do not depend on the previous kernel:
 * they are requested before the wait for it, so their memory latency runs under the row's staging (loads, block
 * reductions, quantization) instead of after it. And each releases the next kernel once past its own wait
 * ({@link KernelContext#releaseNextKernel}), so that the next one's blocks get to that point — launch, parameters,
 * weights in flight — while this one computes.</li>
 * </ul>
 * Launch {@link SkinnyGemmKernel#grid(int, int, int)} with {@code m = 1}: blocks of 256 threads, a warp per output feature,
 * looping over the features past the grid. Shapes they take ({@link #fits}; the decoder falls back to the few-row kernels
 * otherwise): INT8 and INT4 rows of at most {@link SkinnyGemmKernel#INT8_ROW_IN_REGISTERS}, INT8 in 16-code chunks with
 * groups of whole chunks (one scale a chunk), INT4 in 32-code words of {@link Int4Words} with groups that are multiples
 * of 32; FP16 rows of at most 8192, a multiple of 8 (16-byte loads).
 */
public final class GemvKernel {
    private GemvKernel() {}

    /**
     * Whether the kernel for {@code bits}-bit weights (16: {@link #fp16}, 8: {@link #int8}, 4: {@link #int4}) takes a row of
     * {@code k} inputs with weight groups of {@code groupSize} (ignored for FP16).
     */
    public static boolean fits(int bits, int k, int groupSize) {
        if (bits == 16) return k > 0 && k <= 8192 && k % 8 == 0;
        int chunk = bits == 8 ? 16 : bits == 4 ? 32 : 0;
        return chunk > 0 && k > 0 && k <= SkinnyGemmKernel.INT8_ROW_IN_REGISTERS && k % chunk == 0 && groupSize > 0 && groupSize % chunk == 0
                && k % groupSize == 0;
    }

    @Kernel(maxRegisters = SkinnyGemmKernel.REGISTERS)
    public static void int8(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                            FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode) {
        int tid = ctx.localIdx(), lane = tid & 31, chunks = k >> 4, groups = k / groupSize, gShift = SkinnyGemmKernel.groupShift(groupSize);
        int first = ctx.groupIdx() * 8, col = first + (tid >> 5);
        int[] q = new int[4];
        // The first column's first four chunks a lane (16 codes each) and their scales, and its bias: constants, in flight
        // before the wait. Chunks past the row are 0 and multiply staged zeros.
        int q00 = 0, q01 = 0, q02 = 0, q03 = 0, q10 = 0, q11 = 0, q12 = 0, q13 = 0, q20 = 0, q21 = 0, q22 = 0, q23 = 0, q30 = 0, q31 = 0, q32 = 0, q33 = 0;
        float t0 = 0f, t1 = 0f, t2 = 0f, t3 = 0f, b = 0f;
        if (col < n) {
            int base = col * (k >> 2), scaleBase = col * groups;
            if (lane < chunks) { ctx.load4(q, w, base + (lane << 2)); q00 = q[0]; q01 = q[1]; q02 = q[2]; q03 = q[3]; t0 = sw.get(scaleBase + SkinnyGemmKernel.groupOf(lane << 4, groupSize, gShift)); }
            if (lane + 32 < chunks) { ctx.load4(q, w, base + ((lane + 32) << 2)); q10 = q[0]; q11 = q[1]; q12 = q[2]; q13 = q[3]; t1 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((lane + 32) << 4, groupSize, gShift)); }
            if (lane + 64 < chunks) { ctx.load4(q, w, base + ((lane + 64) << 2)); q20 = q[0]; q21 = q[1]; q22 = q[2]; q23 = q[3]; t2 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((lane + 64) << 4, groupSize, gShift)); }
            if (lane + 96 < chunks) { ctx.load4(q, w, base + ((lane + 96) << 2)); q30 = q[0]; q31 = q[1]; q32 = q[2]; q33 = q[3]; t3 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((lane + 96) << 4, groupSize, gShift)); }
            b = bias.get(col);
            // Past 128 chunks (K > 2048), the rest of the row and its scales asked of L2, a 128-byte line a lane.
            for (int c = 128 + (lane << 3); c < chunks; c += 256) ctx.prefetchL2(w, base + (c << 2));
            if (chunks > 128 && lane < ((groups + 31) >> 5)) ctx.prefetchL2(sw, scaleBase + (lane << 5));
        }
        if (norm != 0) SkinnyGemmKernel.prefetchNorm(ctx, gamma, beta, k);
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();   // the next kernel's blocks may start on their weights now (see the class comment)
        int[] xs = ctx.allocateIntShared(1024);   // the row's codes, in SkinnyGemmKernel.int8ChunkDot's order
        float[] sx = ctx.allocateFloatShared(1), red = ctx.allocateFloatShared(32);
        SkinnyGemmKernel.stageOneRow(ctx, red, sx, xs, x, norm, gamma, beta, eps, 0, k, 0);
        float s = sx[0];
        for (int c8 = first; c8 < n; c8 += ctx.numGroupsX() * 8) {   // uniform: the block's column passes
            col = c8 + (tid >> 5);
            int base = col * (k >> 2), scaleBase = col * groups;
            float resid = mode == SkinnyGemmKernel.ADD && col < n && lane == 0 ? y.get(col) : 0f;
            if (c8 != first && col < n) b = bias.get(col);
            float a = 0f;
            for (int cb = 0; col < n && cb < chunks; cb += 128) {
                if (c8 != first || cb != 0) {   // the first four chunks of the first column came before the wait
                    int c0 = cb + lane, c1 = c0 + 32, c2 = c0 + 64, c3 = c0 + 96;
                    q00 = 0; q01 = 0; q02 = 0; q03 = 0; q10 = 0; q11 = 0; q12 = 0; q13 = 0; q20 = 0; q21 = 0; q22 = 0; q23 = 0; q30 = 0; q31 = 0; q32 = 0; q33 = 0;
                    t0 = 0f; t1 = 0f; t2 = 0f; t3 = 0f;
                    if (c0 < chunks) { ctx.load4(q, w, base + (c0 << 2)); q00 = q[0]; q01 = q[1]; q02 = q[2]; q03 = q[3]; t0 = sw.get(scaleBase + SkinnyGemmKernel.groupOf(c0 << 4, groupSize, gShift)); }
                    if (c1 < chunks) { ctx.load4(q, w, base + (c1 << 2)); q10 = q[0]; q11 = q[1]; q12 = q[2]; q13 = q[3]; t1 = sw.get(scaleBase + SkinnyGemmKernel.groupOf(c1 << 4, groupSize, gShift)); }
                    if (c2 < chunks) { ctx.load4(q, w, base + (c2 << 2)); q20 = q[0]; q21 = q[1]; q22 = q[2]; q23 = q[3]; t2 = sw.get(scaleBase + SkinnyGemmKernel.groupOf(c2 << 4, groupSize, gShift)); }
                    if (c3 < chunks) { ctx.load4(q, w, base + (c3 << 2)); q30 = q[0]; q31 = q[1]; q32 = q[2]; q33 = q[3]; t3 = sw.get(scaleBase + SkinnyGemmKernel.groupOf(c3 << 4, groupSize, gShift)); }
                }
                a += SkinnyGemmKernel.int8ChunkDot(xs, 0, cb + lane, q00, q01, q02, q03, t0, t0, t0, t0)
                        + SkinnyGemmKernel.int8ChunkDot(xs, 0, cb + lane + 32, q10, q11, q12, q13, t1, t1, t1, t1)
                        + SkinnyGemmKernel.int8ChunkDot(xs, 0, cb + lane + 64, q20, q21, q22, q23, t2, t2, t2, t2)
                        + SkinnyGemmKernel.int8ChunkDot(xs, 0, cb + lane + 96, q30, q31, q32, q33, t3, t3, t3, t3);
            }
            float sum = SkinnyGemmKernel.warpSum(ctx, a);
            if (col < n && lane == 0) SkinnyGemmKernel.finish(y, col, s * sum + b, resid, mode);
        }
    }

    /**
     * INT4 weight codes in {@link Int4Words}' order (K/8 ints a row) with scales {@code sw[N, K/groupSize]}; W4A8. Each lane
     * takes eight words of its column at a time (words {@code j + 32h}), the first eight before the wait.
     */
    @Kernel(maxRegisters = SkinnyGemmKernel.REGISTERS)
    public static void int4(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                            FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode) {
        int tid = ctx.localIdx(), lane = tid & 31, words = k >> 3, groups = k / groupSize, gShift = SkinnyGemmKernel.groupShift(groupSize);
        int first = ctx.groupIdx() * 8, col = first + (tid >> 5);
        int w0 = 0, w1 = 0, w2 = 0, w3 = 0, w4 = 0, w5 = 0, w6 = 0, w7 = 0;
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f, s4 = 0f, s5 = 0f, s6 = 0f, s7 = 0f, b = 0f;
        if (col < n) {
            int base = col * words, scaleBase = col * groups;
            // A word's 32 codes lie in one group (groups of multiples of 32): the group of its first element, 8j.
            if (lane < words) { w0 = w.get(base + lane); s0 = sw.get(scaleBase + SkinnyGemmKernel.groupOf(lane << 3, groupSize, gShift)); }
            if (lane + 32 < words) { w1 = w.get(base + lane + 32); s1 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((lane + 32) << 3, groupSize, gShift)); }
            if (lane + 64 < words) { w2 = w.get(base + lane + 64); s2 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((lane + 64) << 3, groupSize, gShift)); }
            if (lane + 96 < words) { w3 = w.get(base + lane + 96); s3 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((lane + 96) << 3, groupSize, gShift)); }
            if (lane + 128 < words) { w4 = w.get(base + lane + 128); s4 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((lane + 128) << 3, groupSize, gShift)); }
            if (lane + 160 < words) { w5 = w.get(base + lane + 160); s5 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((lane + 160) << 3, groupSize, gShift)); }
            if (lane + 192 < words) { w6 = w.get(base + lane + 192); s6 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((lane + 192) << 3, groupSize, gShift)); }
            if (lane + 224 < words) { w7 = w.get(base + lane + 224); s7 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((lane + 224) << 3, groupSize, gShift)); }
            b = bias.get(col);
            // Past 256 words (K > 2048), the rest of the row and its scales asked of L2, a 128-byte line a lane.
            for (int j = 256 + (lane << 5); j < words; j += 1024) ctx.prefetchL2(w, base + j);
            if (words > 256 && lane < ((groups + 31) >> 5)) ctx.prefetchL2(sw, scaleBase + (lane << 5));
        }
        if (norm != 0) SkinnyGemmKernel.prefetchNorm(ctx, gamma, beta, k);
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();   // the next kernel's blocks may start on their weights now (see the class comment)
        int[] xs = ctx.allocateIntShared(1024);   // the row's codes, per weight word its low-nibble then its high-nibble four
        float[] sx = ctx.allocateFloatShared(1), red = ctx.allocateFloatShared(32);
        SkinnyGemmKernel.stageOneRow(ctx, red, sx, xs, x, norm, gamma, beta, eps, 0, k, 1);
        float s = sx[0];
        for (int c8 = first; c8 < n; c8 += ctx.numGroupsX() * 8) {   // uniform: the block's column passes
            col = c8 + (tid >> 5);
            int base = col * words, scaleBase = col * groups;
            float resid = mode == SkinnyGemmKernel.ADD && col < n && lane == 0 ? y.get(col) : 0f;
            if (c8 != first && col < n) b = bias.get(col);
            float a = 0f;
            for (int j = lane; col < n && j < words; j += 256) {
                if (c8 != first || j != lane) {   // the first eight words of the first column came before the wait
                    w0 = w.get(base + j); s0 = sw.get(scaleBase + SkinnyGemmKernel.groupOf(j << 3, groupSize, gShift));
                    w1 = 0; w2 = 0; w3 = 0; w4 = 0; w5 = 0; w6 = 0; w7 = 0; s1 = 0f; s2 = 0f; s3 = 0f; s4 = 0f; s5 = 0f; s6 = 0f; s7 = 0f;
                    if (j + 32 < words) { w1 = w.get(base + j + 32); s1 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((j + 32) << 3, groupSize, gShift)); }
                    if (j + 64 < words) { w2 = w.get(base + j + 64); s2 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((j + 64) << 3, groupSize, gShift)); }
                    if (j + 96 < words) { w3 = w.get(base + j + 96); s3 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((j + 96) << 3, groupSize, gShift)); }
                    if (j + 128 < words) { w4 = w.get(base + j + 128); s4 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((j + 128) << 3, groupSize, gShift)); }
                    if (j + 160 < words) { w5 = w.get(base + j + 160); s5 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((j + 160) << 3, groupSize, gShift)); }
                    if (j + 192 < words) { w6 = w.get(base + j + 192); s6 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((j + 192) << 3, groupSize, gShift)); }
                    if (j + 224 < words) { w7 = w.get(base + j + 224); s7 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((j + 224) << 3, groupSize, gShift)); }
                }
                // Eight words in SkinnyGemmKernel.int4's order, each summed into a on its own (its h loop, spelled out).
                a += int4WordDot(xs, j, w0, s0);
                a += int4WordDot(xs, j + 32, w1, s1);
                a += int4WordDot(xs, j + 64, w2, s2);
                a += int4WordDot(xs, j + 96, w3, s3);
                a += int4WordDot(xs, j + 128, w4, s4);
                a += int4WordDot(xs, j + 160, w5, s5);
                a += int4WordDot(xs, j + 192, w6, s6);
                a += int4WordDot(xs, j + 224, w7, s7);
            }
            float sum = SkinnyGemmKernel.warpSum(ctx, a);
            if (col < n && lane == 0) SkinnyGemmKernel.finish(y, col, s * sum + b, resid, mode);
        }
    }

    /** Weight word {@code j} (its codes staged at {@code xs[2j]}, {@code xs[2j + 1]}) times the row, under scale {@code s}. */
    static float int4WordDot(int[] xs, int j, int word, float s) {
        int e = (j & 511) << 1;
        int lo = SkinnyGemmKernel.signedNibbles(word & 0x0F0F0F0F), hi = SkinnyGemmKernel.signedNibbles((word >>> 4) & 0x0F0F0F0F);
        return s * KernelMath.dp4a(hi, xs[e + 1], KernelMath.dp4a(lo, xs[e], 0));
    }

    /**
     * FP16 weights (K/2 ints a row); the row (its LayerNorm with {@code norm != 0}) rounded to FP16 as it is staged; W16A16.
     * Each lane takes four 16-byte chunks (32 weights) of a piece of 1024 inputs at a time, the first four before the wait.
     */
    @Kernel(maxRegisters = SkinnyGemmKernel.REGISTERS)
    public static void fp16(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray bias,
                            FloatArray y, int n, int k, int mode) {
        int tid = ctx.localIdx(), lane = tid & 31, kw = k >> 1, first = ctx.groupIdx() * 8, col = first + (tid >> 5);
        int[] q = new int[4];
        int w00 = 0, w01 = 0, w02 = 0, w03 = 0, w10 = 0, w11 = 0, w12 = 0, w13 = 0, w20 = 0, w21 = 0, w22 = 0, w23 = 0, w30 = 0, w31 = 0, w32 = 0, w33 = 0;
        float b = 0f;
        if (col < n) {
            int base = col * kw, chunks = Math.min(1024, k) >> 3;
            if (lane < chunks) { ctx.load4(q, w, base + (lane << 2)); w00 = q[0]; w01 = q[1]; w02 = q[2]; w03 = q[3]; }
            if (lane + 32 < chunks) { ctx.load4(q, w, base + ((lane + 32) << 2)); w10 = q[0]; w11 = q[1]; w12 = q[2]; w13 = q[3]; }
            if (lane + 64 < chunks) { ctx.load4(q, w, base + ((lane + 64) << 2)); w20 = q[0]; w21 = q[1]; w22 = q[2]; w23 = q[3]; }
            if (lane + 96 < chunks) { ctx.load4(q, w, base + ((lane + 96) << 2)); w30 = q[0]; w31 = q[1]; w32 = q[2]; w33 = q[3]; }
            b = bias.get(col);
        }
        if (norm != 0) SkinnyGemmKernel.prefetchNorm(ctx, gamma, beta, k);
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();   // the next kernel's blocks may start on their weights now (see the class comment)
        float[] xs = ctx.allocateFloatShared(8192);   // the row, piece p of 1024 at xs[1024p …] in chunk order
        float[] mean = ctx.allocateFloatShared(1), rstd = ctx.allocateFloatShared(1), red = ctx.allocateFloatShared(32);
        if (norm != 0) SkinnyGemmKernel.rowStats(ctx, red, x, mean, rstd, 0, 1, k, eps, norm);
        SkinnyGemmKernel.stageRowHalves(ctx, xs, x, 0, k, norm, gamma, beta, mean, rstd, 1);
        for (int c8 = first; c8 < n; c8 += ctx.numGroupsX() * 8) {   // uniform: the block's column passes
            col = c8 + (tid >> 5);
            float resid = mode == SkinnyGemmKernel.ADD && col < n && lane == 0 ? y.get(col) : 0f;
            if (c8 != first && col < n) b = bias.get(col);
            float a = 0f;
            for (int t0 = 0; col < n && t0 < k; t0 += 1024) {
                if (c8 != first || t0 != 0) {   // the first piece of the first column came before the wait
                    int chunks = Math.min(1024, k - t0) >> 3, base = col * kw + (t0 >> 1);
                    w00 = 0; w01 = 0; w02 = 0; w03 = 0; w10 = 0; w11 = 0; w12 = 0; w13 = 0; w20 = 0; w21 = 0; w22 = 0; w23 = 0; w30 = 0; w31 = 0; w32 = 0; w33 = 0;
                    if (lane < chunks) { ctx.load4(q, w, base + (lane << 2)); w00 = q[0]; w01 = q[1]; w02 = q[2]; w03 = q[3]; }
                    if (lane + 32 < chunks) { ctx.load4(q, w, base + ((lane + 32) << 2)); w10 = q[0]; w11 = q[1]; w12 = q[2]; w13 = q[3]; }
                    if (lane + 64 < chunks) { ctx.load4(q, w, base + ((lane + 64) << 2)); w20 = q[0]; w21 = q[1]; w22 = q[2]; w23 = q[3]; }
                    if (lane + 96 < chunks) { ctx.load4(q, w, base + ((lane + 96) << 2)); w30 = q[0]; w31 = q[1]; w32 = q[2]; w33 = q[3]; }
                }
                a += SkinnyGemmKernel.chunkDot(xs, t0, lane, w00, w01, w02, w03, w10, w11, w12, w13, w20, w21, w22, w23, w30, w31, w32, w33);
            }
            float sum = SkinnyGemmKernel.warpSum(ctx, a);
            if (col < n && lane == 0) SkinnyGemmKernel.finish(y, col, sum + b, resid, mode);
        }
    }
}
