package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;
import dev.zq.runtime.KernelMath;

/**
 * The tail of a batch-1 decode step in one launch: the final LayerNorm of the step's row, the LM head over it (FP16,
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
        pick(ctx, best, at, vals, idxs, bestValues, bestIndices, arrivals, next, generated, pos, promptLen, maxNew, x, wte, wpe, k, capacity, embed);
    }

    /**
     * An INT8 head with one scale a row (group size = K, the per-row W8A8 head of {@code bench}'s {@code +head8}
     * variants): {@code logits = s_x·(t_row·Σ codes_x·codes_w) + b} over the row's LayerNorm quantized token-wise as
     * {@link WideGemvKernel#int8} stages it ({@link WideGemvKernel#stageCodes}), the sums over integers (exact, in any order),
     * then the same greedy choice as {@link #fp16}. Half the bytes of the FP16 head: GPT-2's tied 50,257 × 768 head is 39 MB
     * instead of 77, a third of a decode step's weight bytes.
     * <p>
     * The head streams through shared memory rather than registers: block {@code b} takes the {@code span} rows from
     * {@code b·span} ({@link #int8Span}; 381 of GPT-2's, 292 KB), copied in tiles of {@link #TILE_WORDS} ints by
     * {@code cp.async} into {@link #STAGES} stages, each refilled as soon as every warp has read it. The first
     * {@link #STAGES} tiles (192 KB a block) are asked for before the wait for the previous kernel, and a block's rows'
     * scales and biases are staged too: what a pass of register loads could hold (a warp's 3 rows, 73 KB a block) left
     * each of GPT-2's four passes waiting out a round trip to memory, the head's 39 MB streaming at about 2.5 TB/s. A
     * warp takes a tile's rows {@code warp, warp + 32, …}, a row's 16-code chunks {@code lane, lane + 32, …} (16-byte
     * shared loads, no bank conflicts), so each warp meets its rows in increasing order, as {@link #pick} needs.
     */
    @Kernel(maxRegisters = 64)
    public static void int8(KernelContext ctx, FloatArray x, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw, FloatArray bias,
                            FloatArray logits, int n, int k, int span, FloatArray bestValues, IntArray bestIndices, IntArray arrivals,
                            IntArray next, IntArray generated, IntArray pos, int promptLen, int maxNew, FloatArray wte, FloatArray wpe,
                            int capacity, int embed, int early) {
        int tid = ctx.localIdx(), lane = tid & 31, warp = tid >> 5, words = k >> 2, cpr = k >> 4;
        int rowStart = ctx.groupIdx() * span, rows = Math.min(span, n - rowStart), tileRows = TILE_WORDS / words;
        int tiles = rows <= 0 ? 0 : (rows + tileRows - 1) / tileRows;
        int[] tileBuf = ctx.allocateIntShared(STAGES * TILE_WORDS);
        // The first `early` tiles in flight before the wait (the head is constant), one copy group each, empty ones
        // included; the rest of the first STAGES right after it, so the groups are committed in tile order either way.
        if (early > 0) issueTile(ctx, tileBuf, w, rowStart, rows, tileRows, words, 0);
        if (early > 1) issueTile(ctx, tileBuf, w, rowStart, rows, tileRows, words, 1);
        if (early > 2) issueTile(ctx, tileBuf, w, rowStart, rows, tileRows, words, 2);
        if (early > 3) issueTile(ctx, tileBuf, w, rowStart, rows, tileRows, words, 3);
        // The scales and biases of the block's first STAGED_ROWS rows, constants too, into shared memory.
        float[] rowScales = ctx.allocateFloatShared(STAGED_ROWS), rowBiases = ctx.allocateFloatShared(STAGED_ROWS);
        if (tid < rows && tid < STAGED_ROWS) { rowScales[tid] = sw.get(rowStart + tid); rowBiases[tid] = bias.get(rowStart + tid); }
        float g0 = 0f, g1 = 0f, g2 = 0f, g3 = 0f, e0 = 0f, e1 = 0f, e2 = 0f, e3 = 0f;
        if ((tid << 2) < k) { int e = tid << 2; g0 = gamma.get(e); g1 = gamma.get(e + 1); g2 = gamma.get(e + 2); g3 = gamma.get(e + 3); e0 = beta.get(e); e1 = beta.get(e + 1); e2 = beta.get(e + 2); e3 = beta.get(e + 3); }
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();
        if (early <= 0) issueTile(ctx, tileBuf, w, rowStart, rows, tileRows, words, 0);
        if (early <= 1) issueTile(ctx, tileBuf, w, rowStart, rows, tileRows, words, 1);
        if (early <= 2) issueTile(ctx, tileBuf, w, rowStart, rows, tileRows, words, 2);
        if (early <= 3) issueTile(ctx, tileBuf, w, rowStart, rows, tileRows, words, 3);
        int[] xs = ctx.allocateIntShared(2048);   // the row's codes in WideGemvKernel.int8's order
        float[] sx = ctx.allocateFloatShared(1), red = ctx.allocateFloatShared(96), vals = ctx.allocateFloatShared(32);
        int[] idxs = ctx.allocateIntShared(32);
        WideGemvKernel.stageCodes(ctx, red, sx, xs, x, 1, gamma, beta, eps, k, 0, g0, g1, g2, g3, e0, e1, e2, e3);
        float s = sx[0], best = Float.NEGATIVE_INFINITY;
        int at = -1;
        int[] q = new int[4];
        for (int t = 0; t < tiles; t++) {   // uniform: the block's tiles
            ctx.copyAsyncWait(STAGES - 1);   // this thread's copies of tile t have landed ...
            ctx.barrier();                   // ... and every other thread's
            int base = (t & (STAGES - 1)) * TILE_WORDS, r0 = t * tileRows, tr = Math.min(tileRows, rows - r0);
            for (int r = warp; r < tr; r += 32) {   // uniform in a warp
                int rw = base + r * words, acc = 0;
                for (int c = lane; c < cpr; c += 32) {
                    ctx.load4(q, tileBuf, rw + (c << 2));
                    acc += codeDot(xs, c, q[0], q[1], q[2], q[3]);
                }
                int i = r0 + r, row = rowStart + i;
                float scale = i < STAGED_ROWS ? rowScales[i] : sw.get(row), b = i < STAGED_ROWS ? rowBiases[i] : bias.get(row);
                float l = s * (scale * (float) warpSum(ctx, acc)) + b;   // every lane holds the sum
                if (lane == 0) logits.set(row, l);
                if (l > best) { best = l; at = row; }
            }
            ctx.barrier();   // every warp is done with tile t's stage: refill it
            issueTile(ctx, tileBuf, w, rowStart, rows, tileRows, words, t + STAGES);
        }
        pick(ctx, best, at, vals, idxs, bestValues, bestIndices, arrivals, next, generated, pos, promptLen, maxNew, x, wte, wpe, k, capacity, embed);
    }

    /** {@link #int8}'s stages of shared memory a block streams its rows through. */
    static final int STAGES = 4;
    /** Ints a stage holds: 48 KiB, 64 rows of 768 codes, 24 of 2048. */
    static final int TILE_WORDS = 12288;
    /**
     * Rows of a block whose scale and bias {@link #int8} stages in shared memory before it waits (one a thread): all of a
     * 50,257-row head's on 132 blocks; a longer head's later rows read L2.
     */
    static final int STAGED_ROWS = 1024;

    /**
     * Tile {@code t} of a block's {@code rows} rows from {@code rowStart} (rows {@code t·tileRows} on, at most
     * {@code tileRows}) into stage {@code t mod STAGES} by 16-byte {@code cp.async} copies, committed as one group (an
     * empty one past the last tile, so that every thread has committed as many groups as tiles were asked for).
     */
    static void issueTile(KernelContext ctx, int[] tileBuf, IntArray w, int rowStart, int rows, int tileRows, int words, int t) {
        int r0 = t * tileRows, pieces = Math.min(tileRows, rows - r0) * (words >> 2), base = (t & (STAGES - 1)) * TILE_WORDS, from = (rowStart + r0) * words;
        for (int i = ctx.localIdx(); i < pieces; i += THREADS) ctx.copyAsync16(tileBuf, base + (i << 2), w, from + (i << 2));
        ctx.copyAsyncCommit();
    }

    /** Whether {@link #int8} takes a head of {@code k} INT8 codes a row with one scale a row ({@code groupSize == k}). */
    public static boolean fitsInt8(int k, int groupSize) { return k > 0 && k <= 2048 && k % 16 == 0 && groupSize == k; }

    /** Rows a block of {@link #int8} takes: the head's {@code n} rows shared evenly by at most {@code blocks} blocks. */
    public static int int8Span(int n, int blocks) {
        if (blocks <= 0 || n <= 0) throw new IllegalArgumentException("blocks and rows must be positive, not " + blocks + " and " + n);
        return Math.ceilDiv(n, Math.min(blocks, n));
    }

    /** {@link #int8}'s launch: a block a {@link #int8Span} of rows, at most {@code blocks} blocks (one an SM). */
    public static Grid int8Grid(int n, int blocks) { return new Grid(Math.ceilDiv(n, int8Span(n, blocks)), 1, THREADS, 1); }

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
            if (p < capacity && e < k) embed4(x, wte, wpe, t * k, p * k, e);   // four elements a thread (k a multiple of 8)
            if (p < capacity && e + 4096 < k) embed4(x, wte, wpe, t * k, p * k, e + 4096);
        }
    }

    /** {@code x[e … e+3] = wte[tw + e …] + wpe[pw + e …]}, the eight loads in flight together. */
    static void embed4(FloatArray x, FloatArray wte, FloatArray wpe, int tw, int pw, int e) {
        float w0 = wte.get(tw + e), w1 = wte.get(tw + e + 1), w2 = wte.get(tw + e + 2), w3 = wte.get(tw + e + 3);
        float p0 = wpe.get(pw + e), p1 = wpe.get(pw + e + 1), p2 = wpe.get(pw + e + 2), p3 = wpe.get(pw + e + 3);
        x.set(e, w0 + p0);
        x.set(e + 1, w1 + p1);
        x.set(e + 2, w2 + p2);
        x.set(e + 3, w3 + p3);
    }
}
