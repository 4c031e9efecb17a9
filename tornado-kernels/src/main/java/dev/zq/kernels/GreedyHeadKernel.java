package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;

/**
 * The tail of a batch-1 decode step in one launch: the final LayerNorm of the step's row, the FP16 LM head over it (the
 * logits written out) and the greedy choice of the next token, which were three kernels ({@code lastTokenNorm}, the head's
 * {@link WideGemvKernel#fp16}, {@code argmax}: a single block reading 50,257 logits back, 13 µs of GPT-2's step on its own).
 * <p>
 * Blocks of 1024 threads, one an SM, as {@link WideGemvKernel}: each stages the normalised row once as halves
 * ({@link WideGemvKernel#stageHalves}) and its warps stream weight rows. Where a row is short (K ≤ 768: GPT-2's) a warp
 * takes <em>two</em> rows a pass, both rows' loads issued before either is summed, so that twice the bytes are in
 * flight: GPT-2's 77 MB head is 12 passes of one row a warp, each waiting out a DRAM round trip (asking L2 for the
 * next pass's rows at the start of each pass as well was slower on the H200: GPT-2 W8A8, 49 steps 12.06 → 12.17 ms).
 * Each warp keeps the best logit of the rows it wrote (rows in increasing order, the first of equal values kept), the block's best goes to
 * {@code bestValues/bestIndices[block]}, and the last block to arrive ({@link KernelContext#arriveLast}) picks among the
 * blocks' — by {@link DecoderRowKernels#better}, a total order, so the answer is {@code argmax}'s whatever the order: the
 * lowest index of the largest logit, NaN never chosen, −1 when no logit is above −∞ (token 0 is fed on). Then, as
 * {@code lastTokenNorm} and {@code argmax} did, the cache position moves on by one and the token is recorded.
 * <p>
 * The products are {@link WideGemvKernel#fp16}'s in the same order, so the logits are that kernel's bits over the same
 * staged row.
 */
public final class GreedyHeadKernel {
    private GreedyHeadKernel() {}

    public static final int THREADS = 1024;

    /** Whether the kernel takes a head of rows of {@code k} inputs (FP16 weights, 16-byte loads; two pieces of 4096 staged). */
    public static boolean fits(int k) { return k > 0 && k <= WideGemvKernel.MAX_K && k % 8 == 0; }

    /**
     * 1 where a warp takes two rows a pass, else 0: rows of at most 768 inputs, the second row's 3 chunks a lane fitting
     * the 64 registers beside the first's 4 (with 4 chunks ptxas spills).
     */
    public static int pair(int k) { return k <= 768 ? 1 : 0; }

    /** The launch: at most {@code blocks} blocks (one an SM), fewer where the vocabulary fills fewer in one pass. */
    public static Grid grid(int n, int k, int blocks) {
        if (blocks <= 0) throw new IllegalArgumentException("blocks must be positive, not " + blocks);
        return new Grid(Math.min(blocks, Math.ceilDiv(n, 32 << pair(k))), 1, THREADS, 1);
    }

    /**
     * {@code logits = LayerNorm(x[0..k))·Wᵀ + b} over {@code n} FP16 rows of {@code w} (K/2 ints a row), then {@code next[0]}
     * = the arg-max, {@code pos[0] += 1}, and {@code generated[pos[0] − promptLen]} = the arg-max while inside
     * {@code maxNew}. {@code pair} is {@link #pair}{@code (k)}; {@code bestValues} and {@code bestIndices} hold a slot a
     * block, {@code arrivals[0]} starts at 0 (each launch leaves it so).
     */
    @Kernel(maxRegisters = 64)
    public static void fp16(KernelContext ctx, FloatArray x, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray bias,
                            FloatArray logits, int n, int k, int pair, FloatArray bestValues, IntArray bestIndices, IntArray arrivals,
                            IntArray next, IntArray generated, IntArray pos, int promptLen, int maxNew) {
        int tid = ctx.localIdx(), lane = tid & 31, warp = tid >> 5, words = k >> 1, chunks = k >> 3, batches = (k + 1023) >> 10;
        int perPass = 32 << pair, first = ctx.groupIdx() * perPass, step = ctx.numGroupsX() * perPass;
        int colA = first + warp, colB = colA + 32;
        int[] q = new int[4];
        int w00 = 0, w01 = 0, w02 = 0, w03 = 0, w10 = 0, w11 = 0, w12 = 0, w13 = 0, w20 = 0, w21 = 0, w22 = 0, w23 = 0, w30 = 0, w31 = 0, w32 = 0, w33 = 0;
        int v00 = 0, v01 = 0, v02 = 0, v03 = 0, v10 = 0, v11 = 0, v12 = 0, v13 = 0, v20 = 0, v21 = 0, v22 = 0, v23 = 0;
        float bA = 0f, bB = 0f;
        // The first pass's weights (the first batch of row A, and all of row B) in flight before the wait: constants.
        if (colA < n) {
            int base = colA * words;
            if (lane < chunks) { ctx.load4(q, w, base + (lane << 2)); w00 = q[0]; w01 = q[1]; w02 = q[2]; w03 = q[3]; }
            if (lane + 32 < chunks) { ctx.load4(q, w, base + ((lane + 32) << 2)); w10 = q[0]; w11 = q[1]; w12 = q[2]; w13 = q[3]; }
            if (lane + 64 < chunks) { ctx.load4(q, w, base + ((lane + 64) << 2)); w20 = q[0]; w21 = q[1]; w22 = q[2]; w23 = q[3]; }
            if (lane + 96 < chunks) { ctx.load4(q, w, base + ((lane + 96) << 2)); w30 = q[0]; w31 = q[1]; w32 = q[2]; w33 = q[3]; }
            bA = bias.get(colA);
            WideGemvKernel.prefetchBatches(ctx, w, base, words, 512, 1, 1, lane);
        }
        if (pair != 0 && colB < n) {
            int base = colB * words;
            if (lane < chunks) { ctx.load4(q, w, base + (lane << 2)); v00 = q[0]; v01 = q[1]; v02 = q[2]; v03 = q[3]; }
            if (lane + 32 < chunks) { ctx.load4(q, w, base + ((lane + 32) << 2)); v10 = q[0]; v11 = q[1]; v12 = q[2]; v13 = q[3]; }
            if (lane + 64 < chunks) { ctx.load4(q, w, base + ((lane + 64) << 2)); v20 = q[0]; v21 = q[1]; v22 = q[2]; v23 = q[3]; }
            bB = bias.get(colB);
        }
        float g0 = 0f, g1 = 0f, g2 = 0f, g3 = 0f, e0 = 0f, e1 = 0f, e2 = 0f, e3 = 0f;
        if ((tid << 2) < k) { int at = tid << 2; g0 = gamma.get(at); g1 = gamma.get(at + 1); g2 = gamma.get(at + 2); g3 = gamma.get(at + 3); e0 = beta.get(at); e1 = beta.get(at + 1); e2 = beta.get(at + 2); e3 = beta.get(at + 3); }
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();
        float[] xs = ctx.allocateFloatShared(8192);   // the normalised row as halves, WideGemvKernel.stageHalves' order
        float[] red = ctx.allocateFloatShared(96), vals = ctx.allocateFloatShared(32);
        int[] idxs = ctx.allocateIntShared(32);
        WideGemvKernel.stageHalves(ctx, red, xs, x, 1, gamma, beta, eps, k, g0, g1, g2, g3, e0, e1, e2, e3);
        float best = Float.NEGATIVE_INFINITY;
        int at = -1, pass = 0;
        for (int cbase = first; cbase < n; cbase += step) {   // uniform: the block's passes
            colA = cbase + warp;
            colB = colA + 32;
            boolean liveA = colA < n, liveB = pair != 0 && colB < n;
            if (pass > 0 && liveB) {   // both rows' loads before either sum (row B is one batch)
                int base = colB * words;
                v00 = 0; v01 = 0; v02 = 0; v03 = 0; v10 = 0; v11 = 0; v12 = 0; v13 = 0; v20 = 0; v21 = 0; v22 = 0; v23 = 0;
                if (lane < chunks) { ctx.load4(q, w, base + (lane << 2)); v00 = q[0]; v01 = q[1]; v02 = q[2]; v03 = q[3]; }
                if (lane + 32 < chunks) { ctx.load4(q, w, base + ((lane + 32) << 2)); v10 = q[0]; v11 = q[1]; v12 = q[2]; v13 = q[3]; }
                if (lane + 64 < chunks) { ctx.load4(q, w, base + ((lane + 64) << 2)); v20 = q[0]; v21 = q[1]; v22 = q[2]; v23 = q[3]; }
                bB = bias.get(colB);
            }
            if (pass > 0 && liveA) bA = bias.get(colA);
            float a = 0f;
            for (int bb = 0; liveA && bb < batches; bb++) {
                if (pass > 0 || bb > 0) {   // the first batch of the first row came before the wait
                    int base = colA * words, c0 = (bb << 7) + lane;
                    w00 = 0; w01 = 0; w02 = 0; w03 = 0; w10 = 0; w11 = 0; w12 = 0; w13 = 0; w20 = 0; w21 = 0; w22 = 0; w23 = 0; w30 = 0; w31 = 0; w32 = 0; w33 = 0;
                    if (c0 < chunks) { ctx.load4(q, w, base + (c0 << 2)); w00 = q[0]; w01 = q[1]; w02 = q[2]; w03 = q[3]; }
                    if (c0 + 32 < chunks) { ctx.load4(q, w, base + ((c0 + 32) << 2)); w10 = q[0]; w11 = q[1]; w12 = q[2]; w13 = q[3]; }
                    if (c0 + 64 < chunks) { ctx.load4(q, w, base + ((c0 + 64) << 2)); w20 = q[0]; w21 = q[1]; w22 = q[2]; w23 = q[3]; }
                    if (c0 + 96 < chunks) { ctx.load4(q, w, base + ((c0 + 96) << 2)); w30 = q[0]; w31 = q[1]; w32 = q[2]; w33 = q[3]; }
                }
                a += SkinnyGemmKernel.chunkDot(xs, bb << 10, lane, w00, w01, w02, w03, w10, w11, w12, w13, w20, w21, w22, w23, w30, w31, w32, w33);
            }
            float logitA = SkinnyGemmKernel.warpSum(ctx, a) + bA;   // every lane holds the sums
            if (liveA) {
                if (lane == 0) logits.set(colA, logitA);
                if (logitA > best) { best = logitA; at = colA; }
            }
            if (liveB) {
                float logitB = SkinnyGemmKernel.warpSum(ctx, SkinnyGemmKernel.chunkDot(xs, 0, lane, v00, v01, v02, v03, v10, v11, v12, v13, v20, v21,
                        v22, v23, 0, 0, 0, 0)) + bB;
                if (lane == 0) logits.set(colB, logitB);
                if (logitB > best) { best = logitB; at = colB; }
            }
            pass++;
        }
        // The block's best: the warps' through shared memory, picked by the first warp.
        if (lane == 0) { vals[warp] = best; idxs[warp] = at; }
        ctx.barrier();
        if (warp == 0) {
            best = vals[lane];
            at = idxs[lane];
            for (int mask = 16; mask > 0; mask >>= 1) {
                float ov = ctx.shflXor(best, mask);
                int oi = ctx.shflXor(at, mask);
                if (DecoderRowKernels.better(ov, oi, best, at)) { best = ov; at = oi; }
            }
            if (lane == 0) { bestValues.set(ctx.groupIdx(), best); bestIndices.set(ctx.groupIdx(), at); }
        }
        if (ctx.arriveLast(arrivals, 0, ctx.numGroupsX()) && warp == 0) {   // the last block: every block's best is written
            best = Float.NEGATIVE_INFINITY;
            at = -1;
            int groups = ctx.numGroupsX();
            for (int b = lane; b < groups; b += 128) {   // four blocks' a lane in flight at once (the JIT does not unroll loops)
                int b1 = b + 32, b2 = b + 64, b3 = b + 96;
                float v0 = bestValues.get(b), v1 = b1 < groups ? bestValues.get(b1) : 0f, v2 = b2 < groups ? bestValues.get(b2) : 0f,
                        v3 = b3 < groups ? bestValues.get(b3) : 0f;
                int i0 = bestIndices.get(b), i1 = b1 < groups ? bestIndices.get(b1) : -1, i2 = b2 < groups ? bestIndices.get(b2) : -1,
                        i3 = b3 < groups ? bestIndices.get(b3) : -1;
                if (DecoderRowKernels.better(v0, i0, best, at)) { best = v0; at = i0; }
                if (DecoderRowKernels.better(v1, i1, best, at)) { best = v1; at = i1; }
                if (DecoderRowKernels.better(v2, i2, best, at)) { best = v2; at = i2; }
                if (DecoderRowKernels.better(v3, i3, best, at)) { best = v3; at = i3; }
            }
            for (int mask = 16; mask > 0; mask >>= 1) {
                float ov = ctx.shflXor(best, mask);
                int oi = ctx.shflXor(at, mask);
                if (DecoderRowKernels.better(ov, oi, best, at)) { best = ov; at = oi; }
            }
            if (lane == 0) {
                next.set(0, at < 0 ? 0 : at);
                int p = pos.get(0) + 1, s = p - promptLen;
                if (s >= 0 && s < maxNew) generated.set(s, at);
                pos.set(0, p);
            }
        }
    }
}
