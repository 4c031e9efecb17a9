package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;
import dev.zq.runtime.KernelMath;

/**
 * The tail of a batch-1 decode step in one launch: the final LayerNorm (or a LLaMA's RMSNorm: {@code norm}, as
 * {@link SkinnyGemmKernel#RMS_NORM}) of the step's row, the LM head over it (FP16,
 * {@link #fp16}, or INT8 with one scale a row, {@link #int8}; the logits written out), the greedy choice of the next token
 * and, with {@code embed}, that token's embedding as the next step's input row — which were four kernels ({@code lastTokenNorm}, the head's
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
 * {@code lastTokenNorm} and {@code argmax} did, the cache position moves on by one and the token is recorded, and the
 * last block writes {@code x = wte[token] + wpe[position]} ({@code DecoderRowKernels.embed}'s sums; H200, GPT-2 batch 1,
 * 49 steps: 0.04–0.07 ms less than the embedding's own launch, bench/RESULTS.md ninth round).
 * <p>
 * {@link #fp16}'s products are {@link WideGemvKernel#fp16}'s in the same order, so the logits are that kernel's bits over
 * the same staged row; {@link #int8}'s sums are integers, scaled once a row.
 */
public final class GreedyHeadKernel {
    private GreedyHeadKernel() {}

    public static final int THREADS = 1024;

    /**
     * The kernels' {@code embed}: no embedding, {@code wte[token] + wpe[position]} (GPT-2), or {@code wte[token]} alone (a
     * LLaMA, whose positions are rotations inside the attention).
     */
    public static final int NO_EMBED = 0, EMBED_WITH_POSITION = 1, EMBED_TOKEN = 2;

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
     * {@code logits = norm(x[0..k))·Wᵀ + b} (LayerNorm, or RMSNorm with {@code norm} {@link SkinnyGemmKernel#RMS_NORM}) over {@code n} FP16 rows of {@code w} (K/2 ints a row), then {@code next[0]}
     * = the arg-max, {@code pos[0] += 1}, and {@code generated[pos[0] − promptLen]} = the arg-max while inside
     * {@code maxNew}. {@code pair} is {@link #pair}{@code (k)}; {@code bestValues} and {@code bestIndices} hold a slot a
     * block, {@code arrivals[0]} starts at 0 (each launch leaves it so).
     */
    @Kernel(maxRegisters = 64)
    public static void fp16(KernelContext ctx, FloatArray x, FloatArray gamma, FloatArray beta, float eps, int norm, IntArray w, FloatArray bias,
                            FloatArray logits, int n, int k, int pair, FloatArray bestValues, IntArray bestIndices, IntArray arrivals,
                            IntArray next, IntArray generated, IntArray pos, int promptLen, int maxNew, FloatArray wte, FloatArray wpe,
                            int capacity, int embed) {
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
        if (norm == SkinnyGemmKernel.RMS_NORM)   // a constant either way, so that the staging's other norms compile away (64 registers, no spills)
            WideGemvKernel.stageHalves(ctx, red, xs, x, SkinnyGemmKernel.RMS_NORM, false, gamma, beta, eps, k, g0, g1, g2, g3, e0, e1, e2, e3);
        else WideGemvKernel.stageHalves(ctx, red, xs, x, SkinnyGemmKernel.LAYER_NORM, false, gamma, beta, eps, k, g0, g1, g2, g3, e0, e1, e2, e3);
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
        pick(ctx, best, at, vals, idxs, bestValues, bestIndices, arrivals, next, generated, pos, promptLen, maxNew, x, wte, wpe, k, capacity, embed);
    }

    /**
     * An INT8 head with one scale a row (group size = K, the per-row W8A8 head of {@code bench}'s {@code +head8}
     * variants): {@code logits = s_x·(t_row·Σ codes_x·codes_w) + b} over the row's LayerNorm quantized token-wise as
     * {@link WideGemvKernel#int8} stages it ({@link WideGemvKernel#stageCodes}), the sums over integers (exact, in any order),
     * then the same greedy choice as {@link #fp16}. Half the bytes of the FP16 head: GPT-2's tied 50,257 × 768 head is 39 MB
     * instead of 77, a third of a decode step's weight bytes.
     * <p>
     * A warp takes {@link #int8Rows}{@code (k)} rows a pass, 6 slots of 16 codes a lane: row {@code r} of the pass in slots
     * {@code r·c … r·c + c − 1} ({@code c} = 32-chunk columns a row: 1, 2 or 4), all loaded before any is summed (8
     * slots, 32 registers of codes, spilled under the 64-register cap). Measured on the H200 and not kept (bench/RESULTS.md,
     * tenth round): the rows' scales and biases staged before the wait (no faster), the head streamed through shared
     * memory by {@code cp.async} in 4 stages of 48 KiB (slower: 26 against 21 µs alone), the head kept in L2 from step to
     * step by an access policy window (0.9 µs faster alone, the step no faster).
     */
    @Kernel(maxRegisters = 64)
    public static void int8(KernelContext ctx, FloatArray x, FloatArray gamma, FloatArray beta, float eps, int norm, IntArray w, FloatArray sw, FloatArray bias,
                            FloatArray logits, int n, int k, int rows, FloatArray bestValues, IntArray bestIndices, IntArray arrivals,
                            IntArray next, IntArray generated, IntArray pos, int promptLen, int maxNew, FloatArray wte, FloatArray wpe,
                            int capacity, int embed) {
        int tid = ctx.localIdx(), lane = tid & 31, warp = tid >> 5, words = k >> 2, cpr = k >> 4;
        int cl = columnShift(k), cm = (1 << cl) - 1, perPass = rows << 5, first = ctx.groupIdx() * perPass, step = ctx.numGroupsX() * perPass;
        int[] q = new int[4];
        int q00 = 0, q01 = 0, q02 = 0, q03 = 0, q10 = 0, q11 = 0, q12 = 0, q13 = 0, q20 = 0, q21 = 0, q22 = 0, q23 = 0, q30 = 0, q31 = 0, q32 = 0, q33 = 0;
        int q40 = 0, q41 = 0, q42 = 0, q43 = 0, q50 = 0, q51 = 0, q52 = 0, q53 = 0;
        // Slot i: row row0 + (i >> cl) of the pass, its chunk lane + 32·(i & cm) (16 codes at int 4·chunk). The first pass's
        // slots in flight before the wait: constants.
        int row0 = first + warp * rows, live = Math.min(rows, n - row0), r0 = row0 * words + (lane << 2);   // live: the warp's rows in the head
        if (slotLive(0, cl, cm, live, lane, cpr)) { ctx.load4(q, w, r0); q00 = q[0]; q01 = q[1]; q02 = q[2]; q03 = q[3]; }
        if (slotLive(1, cl, cm, live, lane, cpr)) { ctx.load4(q, w, r0 + slotOffset(1, cl, cm, words)); q10 = q[0]; q11 = q[1]; q12 = q[2]; q13 = q[3]; }
        if (slotLive(2, cl, cm, live, lane, cpr)) { ctx.load4(q, w, r0 + slotOffset(2, cl, cm, words)); q20 = q[0]; q21 = q[1]; q22 = q[2]; q23 = q[3]; }
        if (slotLive(3, cl, cm, live, lane, cpr)) { ctx.load4(q, w, r0 + slotOffset(3, cl, cm, words)); q30 = q[0]; q31 = q[1]; q32 = q[2]; q33 = q[3]; }
        if (slotLive(4, cl, cm, live, lane, cpr)) { ctx.load4(q, w, r0 + slotOffset(4, cl, cm, words)); q40 = q[0]; q41 = q[1]; q42 = q[2]; q43 = q[3]; }
        if (slotLive(5, cl, cm, live, lane, cpr)) { ctx.load4(q, w, r0 + slotOffset(5, cl, cm, words)); q50 = q[0]; q51 = q[1]; q52 = q[2]; q53 = q[3]; }
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();
        // γ and β after the wait, beside the row's loads (before it, with the code registers, ptxas spilled).
        float g0 = 0f, g1 = 0f, g2 = 0f, g3 = 0f, e0 = 0f, e1 = 0f, e2 = 0f, e3 = 0f;
        if ((tid << 2) < k) { int e = tid << 2; g0 = gamma.get(e); g1 = gamma.get(e + 1); g2 = gamma.get(e + 2); g3 = gamma.get(e + 3); e0 = beta.get(e); e1 = beta.get(e + 1); e2 = beta.get(e + 2); e3 = beta.get(e + 3); }
        int[] xs = ctx.allocateIntShared(2048);   // the row's codes in WideGemvKernel.int8's order
        float[] sx = ctx.allocateFloatShared(1), red = ctx.allocateFloatShared(96), vals = ctx.allocateFloatShared(32);
        int[] idxs = ctx.allocateIntShared(32);
        WideGemvKernel.stageCodes(ctx, red, sx, xs, x, norm, false, gamma, beta, eps, k, 0, g0, g1, g2, g3, e0, e1, e2, e3);
        float s = sx[0], best = Float.NEGATIVE_INFINITY;
        int at = -1, pass = 0;
        for (int rbase = first; rbase < n; rbase += step) {   // uniform: the block's passes
            row0 = rbase + warp * rows;
            live = Math.min(rows, n - row0);
            if (pass > 0) {   // every slot's loads before any sum
                r0 = row0 * words + (lane << 2);
                q00 = 0; q01 = 0; q02 = 0; q03 = 0; q10 = 0; q11 = 0; q12 = 0; q13 = 0; q20 = 0; q21 = 0; q22 = 0; q23 = 0; q30 = 0; q31 = 0; q32 = 0; q33 = 0;
                q40 = 0; q41 = 0; q42 = 0; q43 = 0; q50 = 0; q51 = 0; q52 = 0; q53 = 0;
                if (slotLive(0, cl, cm, live, lane, cpr)) { ctx.load4(q, w, r0); q00 = q[0]; q01 = q[1]; q02 = q[2]; q03 = q[3]; }
                if (slotLive(1, cl, cm, live, lane, cpr)) { ctx.load4(q, w, r0 + slotOffset(1, cl, cm, words)); q10 = q[0]; q11 = q[1]; q12 = q[2]; q13 = q[3]; }
                if (slotLive(2, cl, cm, live, lane, cpr)) { ctx.load4(q, w, r0 + slotOffset(2, cl, cm, words)); q20 = q[0]; q21 = q[1]; q22 = q[2]; q23 = q[3]; }
                if (slotLive(3, cl, cm, live, lane, cpr)) { ctx.load4(q, w, r0 + slotOffset(3, cl, cm, words)); q30 = q[0]; q31 = q[1]; q32 = q[2]; q33 = q[3]; }
                if (slotLive(4, cl, cm, live, lane, cpr)) { ctx.load4(q, w, r0 + slotOffset(4, cl, cm, words)); q40 = q[0]; q41 = q[1]; q42 = q[2]; q43 = q[3]; }
                if (slotLive(5, cl, cm, live, lane, cpr)) { ctx.load4(q, w, r0 + slotOffset(5, cl, cm, words)); q50 = q[0]; q51 = q[1]; q52 = q[2]; q53 = q[3]; }
            }
            if (live > 0) {
                int d0 = codeDot(xs, lane, q00, q01, q02, q03), d1 = codeDot(xs, lane + ((1 & cm) << 5), q10, q11, q12, q13);
                int d2 = codeDot(xs, lane + ((2 & cm) << 5), q20, q21, q22, q23), d3 = codeDot(xs, lane + ((3 & cm) << 5), q30, q31, q32, q33);
                int d4 = codeDot(xs, lane + ((4 & cm) << 5), q40, q41, q42, q43), d5 = codeDot(xs, lane + ((5 & cm) << 5), q50, q51, q52, q53);
                // Row r's sum: its slots r·c … r·c + c − 1 (a dead slot holds zero codes).
                int e01 = d0 + d1, e23 = d2 + d3;
                int a0 = cl == 0 ? d0 : cl == 1 ? e01 : e01 + e23, a1 = cl == 0 ? d1 : e23, a2 = cl == 0 ? d2 : d4 + d5, a3 = cl == 0 ? d3 : 0;
                // The rows' scales and biases, asked for under the warp sums (with the 32 code registers live, ptxas spilled).
                float t0 = sw.get(row0), b0 = bias.get(row0), t1 = 0f, b1 = 0f, t2 = 0f, b2 = 0f, t3 = 0f, b3 = 0f;
                if (live > 1) { t1 = sw.get(row0 + 1); b1 = bias.get(row0 + 1); }
                if (live > 2) { t2 = sw.get(row0 + 2); b2 = bias.get(row0 + 2); }
                if (live > 3) { t3 = sw.get(row0 + 3); b3 = bias.get(row0 + 3); }
                float l0 = s * (t0 * (float) warpSum(ctx, a0)) + b0;   // every lane holds the sums
                if (lane == 0) logits.set(row0, l0);
                if (l0 > best) { best = l0; at = row0; }
                if (live > 1) {
                    float l1 = s * (t1 * (float) warpSum(ctx, a1)) + b1;
                    if (lane == 0) logits.set(row0 + 1, l1);
                    if (l1 > best) { best = l1; at = row0 + 1; }
                }
                if (live > 2) {
                    float l2 = s * (t2 * (float) warpSum(ctx, a2)) + b2;
                    if (lane == 0) logits.set(row0 + 2, l2);
                    if (l2 > best) { best = l2; at = row0 + 2; }
                }
                if (live > 3) {
                    float l3 = s * (t3 * (float) warpSum(ctx, a3)) + b3;
                    if (lane == 0) logits.set(row0 + 3, l3);
                    if (l3 > best) { best = l3; at = row0 + 3; }
                }
            }
            pass++;
        }
        pick(ctx, best, at, vals, idxs, bestValues, bestIndices, arrivals, next, generated, pos, promptLen, maxNew, x, wte, wpe, k, capacity, embed);
    }

    /** Whether {@link #int8} takes a head of {@code k} INT8 codes a row with one scale a row ({@code groupSize == k}). */
    public static boolean fitsInt8(int k, int groupSize) { return k > 0 && k <= 2048 && k % 16 == 0 && groupSize == k; }

    /** Rows a warp takes a pass in {@link #int8}: as many as the 6 slots hold (a row takes 1, 2 or 4), at most 4. */
    public static int int8Rows(int k) { int c = columnShift(k); return c == 0 ? 4 : c == 1 ? 3 : 1; }

    /** {@link #int8}'s launch: at most {@code blocks} blocks (one an SM), fewer where the head fills fewer in one pass. */
    public static Grid int8Grid(int n, int k, int blocks) {
        if (blocks <= 0) throw new IllegalArgumentException("blocks must be positive, not " + blocks);
        return new Grid(Math.min(blocks, Math.ceilDiv(n, int8Rows(k) << 5)), 1, THREADS, 1);
    }

    /** log2 of the slots a row of {@code k} INT8 codes takes: 32 chunks of 16 codes a slot (0, 1, 2 for K ≤ 2048). */
    static int columnShift(int k) {
        int c = (k + 511) >> 9;   // slots a row
        return c <= 1 ? 0 : c <= 2 ? 1 : 2;
    }

    /** Whether slot {@code i} holds codes: its row among the {@code live} ones, its chunk inside a row of {@code cpr}. */
    static boolean slotLive(int i, int cl, int cm, int live, int lane, int cpr) { return (i >> cl) < live && lane + ((i & cm) << 5) < cpr; }

    /** Slot {@code i}'s offset in ints from slot 0's: rows {@code i >> cl} on, chunks {@code 32·(i & cm)} on. */
    static int slotOffset(int i, int cl, int cm, int words) { return (i >> cl) * words + ((i & cm) << 7); }

    /** Chunk {@code c} of a row (16 codes, four words) times the staged codes, as an integer ({@code xs} in WideGemvKernel.int8's order). */
    static int codeDot(int[] xs, int c, int q0, int q1, int q2, int q3) {
        int at = ((c >> 8) << 10) + (c & 255);
        return KernelMath.dp4a(q0, xs[at], KernelMath.dp4a(q1, xs[at + 256], KernelMath.dp4a(q2, xs[at + 512], KernelMath.dp4a(q3, xs[at + 768], 0))));
    }

    static int warpSum(KernelContext ctx, int v) {
        v += ctx.shflXor(v, 16);
        v += ctx.shflXor(v, 8);
        v += ctx.shflXor(v, 4);
        v += ctx.shflXor(v, 2);
        return v + ctx.shflXor(v, 1);
    }

    /**
     * The end of both kernels: each warp's best logit ({@code best} at row {@code at}, the rows it wrote in increasing
     * order) to the block's, through {@code vals}/{@code idxs}, into {@code bestValues/bestIndices[block]}; the last block to
     * arrive picks among the blocks' by {@link DecoderRowKernels#better}, then moves the position on and records the token.
     * With {@code embed != 0} that block also writes the next step's input row, {@code x = wte[token] + wpe[position]}
     * ({@code DecoderRowKernels.embed}'s, skipped at or past {@code capacity}), so that the step needs no embedding launch
     * of its own: every block has read {@code x} (staged it) before it arrived.
     */
    static void pick(KernelContext ctx, float best, int at, float[] vals, int[] idxs, FloatArray bestValues, IntArray bestIndices, IntArray arrivals,
                     IntArray next, IntArray generated, IntArray pos, int promptLen, int maxNew, FloatArray x, FloatArray wte, FloatArray wpe, int k,
                     int capacity, int embed) {
        int lane = ctx.localIdx() & 31, warp = ctx.localIdx() >> 5;
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
        boolean last = ctx.arriveLast(arrivals, 0, ctx.numGroupsX());   // the same in every thread of a block
        if (last && warp == 0) {   // every block's best is written
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
                int token = at < 0 ? 0 : at, p = pos.get(0) + 1, s = p - promptLen;
                next.set(0, token);
                if (s >= 0 && s < maxNew) generated.set(s, at);
                pos.set(0, p);
                idxs[0] = token;   // for the embedding below (the block's picks in idxs are read)
                idxs[1] = p;
            }
        }
        if (last && embed != 0) {   // uniform: the last block's threads
            ctx.barrier();
            int t = idxs[0], p = idxs[1], e = ctx.localIdx() << 2;
            if (p < capacity && e < k) embed4(x, wte, wpe, t * k, p * k, e, embed);   // four elements a thread (k a multiple of 8)
            if (p < capacity && e + 4096 < k) embed4(x, wte, wpe, t * k, p * k, e + 4096, embed);
        }
    }

    /**
     * {@code x[e … e+3] = wte[tw + e …] + wpe[pw + e …]}, the eight loads in flight together; with {@code embed ==}
     * {@link #EMBED_TOKEN} (a LLaMA: no position table) {@code wte[tw + e …]} as it is.
     */
    static void embed4(FloatArray x, FloatArray wte, FloatArray wpe, int tw, int pw, int e, int embed) {
        float w0 = wte.get(tw + e), w1 = wte.get(tw + e + 1), w2 = wte.get(tw + e + 2), w3 = wte.get(tw + e + 3);
        if (embed == EMBED_TOKEN) {
            x.set(e, w0);
            x.set(e + 1, w1);
            x.set(e + 2, w2);
            x.set(e + 3, w3);
            return;
        }
        float p0 = wpe.get(pw + e), p1 = wpe.get(pw + e + 1), p2 = wpe.get(pw + e + 2), p3 = wpe.get(pw + e + 3);
        x.set(e, w0 + p0);
        x.set(e + 1, w1 + p1);
        x.set(e + 2, w2 + p2);
        x.set(e + 3, w3 + p3);
    }
}
