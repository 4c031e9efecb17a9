package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;
import dev.zq.runtime.KernelMath;

/**
 * {@code y = x·Wᵀ + b} for one activation row (a decode step at batch 1) in blocks of 1024 threads, one block an SM: the
 * shapes of a GPT-3 1.3B decode step. {@link GemvKernel}'s blocks of 256 threads, four an SM, each stage the row (its
 * LayerNorm, its token-wise quantization: a division a code) for themselves; at K = 2048 that work, done 528 times over,
 * was most of the issue slots of a projection that should be bound by its weights' bytes (Nsight Compute on the H200: the
 * 1.3B qkv projection at 22% of DRAM bandwidth with the schedulers busy 58% of the time). Here each SM stages the row
 * once, with four times the threads, so each thread holds a quarter of what it did (4 elements of every 4096), and rows
 * of up to 8192 inputs fit (the 1.3B down projection, which {@link GemvKernel} leaves to the few-row kernel).
 * <p>
 * The weights stream as <em>batches</em>: a warp's share of a weight row — INT8 2048 codes (4 chunks of 16 a lane),
 * FP16 1024 halves (4 chunks of 8 a lane), INT4 2048 codes (8 words of 8 a lane). A row of several batches may be split
 * over {@code slices} warps (1, 2, 4, …; warp {@code w} of the block takes column {@code w / slices} of the block's pass,
 * batches {@code w mod slices}, {@code + slices}, …), so that a projection with fewer outputs than the GPU has warps
 * (the down projections: 2048 outputs, 4224 warps) still keeps every SM streaming; the slices' sums meet in shared memory
 * and are added in slice order. As {@link GemvKernel}: the first batch of the first column, its scales and the bias are
 * loaded before the wait for the previous kernel; the rest of that column's batches are asked of L2 then too (asking L2
 * for the next pass's column as well, and each pass for the one after it, was measured and not kept: no faster at INT8,
 * slower at FP16, bench/RESULTS.md; and asking L2 for the first batch instead of loading it into registers before the wait
 * was slower still, session 25). The first pass's residual ({@link SkinnyGemmKernel#ADD}) is requested right after
 * the wait, to arrive while the row is staged.
 * <p>
 * The integer products and the epilogues are {@link GemvKernel}'s; the INT8 and INT4 kernels sum a chunk's (16 codes')
 * or a piece's (32 codes') products as integers before one conversion and one scale ({@link #chunkDot},
 * {@link #pieceDot16}), where {@link GemvKernel} scales each word's, so their last bits may differ from its (FP16: the
 * same order, its bits without the LayerNorm and with one slice); the LayerNorm's sums are taken in another order (a
 * block of 32 warps), and split rows add their slices' sums, so there a code may differ too.
 */
public final class WideGemvKernel {
    private WideGemvKernel() {}

    public static final int THREADS = 1024;
    /** The longest row: two pieces of 4096 inputs, four a thread each. */
    public static final int MAX_K = 8192;

    /** Inputs a batch covers: 2048 for INT8 and INT4, 1024 for FP16 (2 KiB, 2 KiB and 1 KiB of a weight row a warp). */
    public static int batchInputs(int bits) { return bits == 16 ? 1024 : 2048; }

    /** Whether the kernel for {@code bits}-bit weights (16, 8, 4) takes rows of {@code k} inputs in groups of {@code groupSize}. */
    public static boolean fits(int bits, int k, int groupSize) {
        if (bits == 16) return k > 0 && k <= MAX_K && k % 8 == 0;
        int chunk = bits == 8 ? 16 : bits == 4 ? 32 : 0;
        return chunk > 0 && k > 0 && k <= MAX_K && k % chunk == 0 && groupSize > 0 && groupSize % chunk == 0 && k % groupSize == 0;
    }

    /**
     * Warps a row is split over: the most (a power of two, at most its batches) for which the outputs times the slices
     * still fit the warps of {@code blocks} blocks — more would add passes, fewer would leave warps idle.
     */
    public static int slices(int bits, int n, int k, int blocks) {
        return slices(bits, n, k, blocks, THREADS);
    }

    /** {@link #slices(int, int, int, int)} for blocks of {@code threads} (1024, or 512 for {@link #int8Half}). */
    public static int slices(int bits, int n, int k, int blocks, int threads) {
        int batches = Math.ceilDiv(k, batchInputs(bits)), s = 1;
        while (s * 2 <= batches && (long) n * s * 2 <= (long) blocks * (threads >> 5)) s *= 2;
        return s;
    }

    /** The launch: at most {@code blocks} blocks (one an SM), enough for every output's slices in one pass if they fit. */
    public static Grid grid(int n, int slices, int blocks) {
        return grid(n, slices, blocks, THREADS);
    }

    /** {@link #grid(int, int, int)} for blocks of {@code threads}: 1024, or 512 for {@link #int8Half}. */
    public static Grid grid(int n, int slices, int blocks, int threads) {
        if (threads != THREADS && threads != HALF_THREADS) throw new IllegalArgumentException("blocks of 1024 or 512 threads, not " + threads);
        int warps = threads >> 5;
        if (blocks <= 0 || slices <= 0 || slices > warps || Integer.bitCount(slices) != 1)
            throw new IllegalArgumentException("blocks must be positive and slices a power of two up to " + warps + ", not " + blocks + " and " + slices);
        return new Grid(Math.min(blocks, Math.ceilDiv(n, warps / slices)), 1, threads, 1);
    }

    /** INT8 codes (K/4 ints a row) with group scales {@code sw[N, K/groupSize]}; the row quantized token-wise (W8A8). */
    @Kernel(maxRegisters = 64)
    public static void int8(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                            FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode, int slices) {
        int8Rows(ctx, x, norm, gamma, beta, eps, w, sw, bias, y, n, k, groupSize, mode, slices, THREADS, false);
    }

    /** {@link #int8} on rows of gates and ups, its input {@code silu(gate)·up} ({@link SkinnyGemmKernel#SWIGLU}: a LLaMA's down projection). */
    @Kernel(maxRegisters = 64)
    public static void int8Gated(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                                 FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode, int slices) {
        int8Rows(ctx, x, norm, gamma, beta, eps, w, sw, bias, y, n, k, groupSize, mode, slices, THREADS, true);
    }

    /**
     * {@link #int8} in blocks of {@value #HALF_THREADS} threads, rows of up to {@value #HALF_MAX_K} inputs: two such blocks fit
     * an SM's registers (64 a thread), so a launch's blocks can start on SMs where the previous launch's still run and have
     * their first batch of weights in flight before the wait — with {@link #int8}'s blocks, which fill the register file,
     * only where that launch has left. Half the warps an SM stream the weights. The same products in the same order within
     * a warp, so with one slice and no LayerNorm {@link #int8}'s bits (the LayerNorm's sums run over 16 warps, not 32).
     * Opt-in ({@code -Dzq.decoder.wideThreads=512}): on the H200 GPT-2's 49 decode steps W8A8+head8 took 11.12 and 11.06
     * ms against {@link #int8}'s 10.04 (bench/RESULTS.md, session 25); GPT-3 1.3B 46.4 against 39.5–39.9, and on 264 blocks
     * (two an SM, {@code -Dzq.decoder.halfBlocks=264}) 39.2–39.4, within the default's spread (session 26).
     */
    @Kernel(maxRegisters = 64)
    public static void int8Half(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                                FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode, int slices) {
        int8Rows(ctx, x, norm, gamma, beta, eps, w, sw, bias, y, n, k, groupSize, mode, slices, HALF_THREADS, false);
    }

    /** Blocks of {@link #int8Half}. */
    public static final int HALF_THREADS = 512;
    /** {@link #int8Half}'s longest row: two pieces of 2048 inputs, four a thread each. */
    public static final int HALF_MAX_K = 4096;

    /** {@link #int8}'s body for blocks of {@code threads} (a constant at each call: 1024 or 512). */
    static void int8Rows(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                         FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode, int slices, int threads, boolean gated) {
        int tid = ctx.localIdx(), lane = tid & 31, chunks = k >> 4, words = k >> 2, gShift = SkinnyGemmKernel.groupShift(groupSize);
        int groups = SkinnyGemmKernel.groupCount(k, groupSize, gShift);
        int batches = (chunks + 127) >> 7, sShift = log2(slices), slice = (tid >> 5) & (slices - 1), perPass = (threads >> 5) >> sShift;
        int first = ctx.groupIdx() * perPass, step = ctx.numGroupsX() * perPass, col = first + ((tid >> 5) >> sShift);
        int[] q = new int[4];
        int q00 = 0, q01 = 0, q02 = 0, q03 = 0, q10 = 0, q11 = 0, q12 = 0, q13 = 0, q20 = 0, q21 = 0, q22 = 0, q23 = 0, q30 = 0, q31 = 0, q32 = 0, q33 = 0;
        float t0 = 0f, t1 = 0f, t2 = 0f, t3 = 0f, b = 0f;
        if (col < n && slice < batches) {   // the first batch, in flight before the wait
            int base = col * words, scaleBase = col * groups, c0 = (slice << 7) + lane, c1 = c0 + 32, c2 = c0 + 64, c3 = c0 + 96;
            if (c0 < chunks) { ctx.load4(q, w, base + (c0 << 2)); q00 = q[0]; q01 = q[1]; q02 = q[2]; q03 = q[3]; t0 = sw.get(scaleBase + SkinnyGemmKernel.groupOf(c0 << 4, groupSize, gShift)); }
            if (c1 < chunks) { ctx.load4(q, w, base + (c1 << 2)); q10 = q[0]; q11 = q[1]; q12 = q[2]; q13 = q[3]; t1 = sw.get(scaleBase + SkinnyGemmKernel.groupOf(c1 << 4, groupSize, gShift)); }
            if (c2 < chunks) { ctx.load4(q, w, base + (c2 << 2)); q20 = q[0]; q21 = q[1]; q22 = q[2]; q23 = q[3]; t2 = sw.get(scaleBase + SkinnyGemmKernel.groupOf(c2 << 4, groupSize, gShift)); }
            if (c3 < chunks) { ctx.load4(q, w, base + (c3 << 2)); q30 = q[0]; q31 = q[1]; q32 = q[2]; q33 = q[3]; t3 = sw.get(scaleBase + SkinnyGemmKernel.groupOf(c3 << 4, groupSize, gShift)); }
        }
        if (col < n) {
            if (slice == 0) b = bias.get(col);
            prefetchBatches(ctx, w, col * words, words, 512, slice + slices, slices, lane);
        }
        float g0 = 0f, g1 = 0f, g2 = 0f, g3 = 0f, e0 = 0f, e1 = 0f, e2 = 0f, e3 = 0f;
        if (SkinnyGemmKernel.normalises(norm) && (tid << 2) < k) { int at = tid << 2; g0 = gamma.get(at); g1 = gamma.get(at + 1); g2 = gamma.get(at + 2); g3 = gamma.get(at + 3); e0 = beta.get(at); e1 = beta.get(at + 1); e2 = beta.get(at + 2); e3 = beta.get(at + 3); }
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();
        // The first pass's residual (the previous kernels' output) requested now, so that it arrives under the staging.
        float resid0 = mode == SkinnyGemmKernel.ADD && col < n && slice == 0 && lane == 0 ? y.get(col) : 0f;
        int[] xs = ctx.allocateIntShared(2048);   // the row's codes: piece p (4096 inputs) at 1024p, in int8ChunkDot's order
        float[] sx = ctx.allocateFloatShared(1), red = ctx.allocateFloatShared(96), part = ctx.allocateFloatShared(64);
        stageCodes(ctx, red, sx, xs, x, norm, gated, gamma, beta, eps, k, 0, threads, g0, g1, g2, g3, e0, e1, e2, e3);
        ctx.traceMark(0);   // traced runs: when the block has staged its row
        float s = sx[0];
        int pass = 0;
        for (int cbase = first; cbase < n; cbase += step) {   // uniform: the block's passes
            col = cbase + ((tid >> 5) >> sShift);
            boolean live = col < n;
            int base = col * words, scaleBase = col * groups;
            float resid = pass == 0 ? resid0 : mode == SkinnyGemmKernel.ADD && live && slice == 0 && lane == 0 ? y.get(col) : 0f;
            if (pass > 0 && live && slice == 0) b = bias.get(col);
            float a = 0f;
            for (int bb = slice; live && bb < batches; bb += slices) {
                if (pass > 0 || bb != slice) {   // the first batch of the first column came before the wait
                    int c0 = (bb << 7) + lane, c1 = c0 + 32, c2 = c0 + 64, c3 = c0 + 96;
                    q00 = 0; q01 = 0; q02 = 0; q03 = 0; q10 = 0; q11 = 0; q12 = 0; q13 = 0; q20 = 0; q21 = 0; q22 = 0; q23 = 0; q30 = 0; q31 = 0; q32 = 0; q33 = 0;
                    t0 = 0f; t1 = 0f; t2 = 0f; t3 = 0f;
                    if (c0 < chunks) { ctx.load4(q, w, base + (c0 << 2)); q00 = q[0]; q01 = q[1]; q02 = q[2]; q03 = q[3]; t0 = sw.get(scaleBase + SkinnyGemmKernel.groupOf(c0 << 4, groupSize, gShift)); }
                    if (c1 < chunks) { ctx.load4(q, w, base + (c1 << 2)); q10 = q[0]; q11 = q[1]; q12 = q[2]; q13 = q[3]; t1 = sw.get(scaleBase + SkinnyGemmKernel.groupOf(c1 << 4, groupSize, gShift)); }
                    if (c2 < chunks) { ctx.load4(q, w, base + (c2 << 2)); q20 = q[0]; q21 = q[1]; q22 = q[2]; q23 = q[3]; t2 = sw.get(scaleBase + SkinnyGemmKernel.groupOf(c2 << 4, groupSize, gShift)); }
                    if (c3 < chunks) { ctx.load4(q, w, base + (c3 << 2)); q30 = q[0]; q31 = q[1]; q32 = q[2]; q33 = q[3]; t3 = sw.get(scaleBase + SkinnyGemmKernel.groupOf(c3 << 4, groupSize, gShift)); }
                }
                int cb = bb << 7, c = cb + lane, rb = (bb >> 1) << 10;   // chunk c's piece of 256 chunks starts at word 1024·(c / 256)
                // Columns of chunks past the row's end (K = 768: the last two of four) skipped, not summed as zeros: with
                // every warp of the SM in this at once after the staging, their shared loads and products were issue slots
                // on the critical path. The same sum in the same order (a zero term added changes no bit but a zero's sign).
                float p = chunkDot(xs, rb, c, q00, q01, q02, q03, t0);
                if (cb + 32 < chunks) p += chunkDot(xs, rb, c + 32, q10, q11, q12, q13, t1);
                if (cb + 64 < chunks) p += chunkDot(xs, rb, c + 64, q20, q21, q22, q23, t2);
                if (cb + 96 < chunks) p += chunkDot(xs, rb, c + 96, q30, q31, q32, q33, t3);
                a += p;
            }
            float sum = sliceSum(ctx, part, pass, slices, slice, SkinnyGemmKernel.warpSum(ctx, a));
            if (live && slice == 0 && lane == 0) SkinnyGemmKernel.finish(y, col, s * sum + b, resid, mode);
            if (pass == 0) ctx.traceMark(4);   // traced runs: the first pass done
            pass++;
        }
    }

    /**
     * {@link #int8} with each warp's first two batches of weights copied into shared memory by Hopper's bulk-copy engine
     * before the wait ({@link KernelContext#bulkCopy}: 2 KiB a batch, one copy by lane 0, an mbarrier each), not loaded
     * into registers: those loads stay off the threads' memory pipeline, which after the wait then serves the row's
     * loads for the staging alone; and both batches — all a block's weights at a 1.3B decode step's shapes — are in
     * flight as the block starts. Later batches as {@link #int8}. The same products in the same order: {@link #int8}'s bits.
     * <p>
     * Measured slower, so opt-in ({@code -Dzq.decoder.bulkWeights=true}): on the H200, 49 decode steps of GPT-3 1.3B
     * W8A8+head8 39.99 → 42.17 ms, GPT-2 10.02 → 10.79 ms (bench/RESULTS.md, session 24; why is not established — its
     * 137 KiB of shared memory a block against int8's 9 KiB is one suspect). Kept as the tested user of the bulk copies.
     */
    @Kernel(maxRegisters = 64)
    public static void int8Bulk(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                                FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode, int slices) {
        int tid = ctx.localIdx(), lane = tid & 31, warp = tid >> 5, chunks = k >> 4, words = k >> 2, gShift = SkinnyGemmKernel.groupShift(groupSize);
        int groups = SkinnyGemmKernel.groupCount(k, groupSize, gShift);
        int batches = (chunks + 127) >> 7, sShift = log2(slices), slice = warp & (slices - 1), perPass = 32 >> sShift;
        int first = ctx.groupIdx() * perPass, step = ctx.numGroupsX() * perPass, col = first + (warp >> sShift);
        int[] rows = ctx.allocateIntShared(BULK_INTS);   // warp w's batches at 1024w (its first) and 1024w + 512 (its second)
        int[] bars = ctx.allocateIntShared(128);         // and their mbarriers at 4w and 4w + 2
        int region = warp << 10, bar = warp << 2;
        // The second batch: the column's next, else the first of the next pass's column.
        int perSlice = (batches - 1 - slice) / slices + 1;
        int aheadCol = perSlice > 1 ? col : col + step, aheadBatch = perSlice > 1 ? slice + slices : slice;
        float t0 = 0f, t1 = 0f, t2 = 0f, t3 = 0f, u0 = 0f, u1 = 0f, u2 = 0f, u3 = 0f, b = 0f;
        if (lane == 0) {
            ctx.mbarrierInit(bars, bar, 1);
            ctx.mbarrierInit(bars, bar + 2, 1);
            if (col < n && slice < batches) ctx.bulkCopy(rows, region, w, col * words + (slice << 9), Math.min(128, chunks - (slice << 7)) << 4, bars, bar);
            if (aheadCol < n && aheadBatch < batches)
                ctx.bulkCopy(rows, region + 512, w, aheadCol * words + (aheadBatch << 9), Math.min(128, chunks - (aheadBatch << 7)) << 4, bars, bar + 2);
        }
        if (col < n) {   // the two batches' group scales, in registers
            int scaleBase = col * groups, c0 = (slice << 7) + lane;
            if (c0 < chunks) t0 = sw.get(scaleBase + SkinnyGemmKernel.groupOf(c0 << 4, groupSize, gShift));
            if (c0 + 32 < chunks) t1 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((c0 + 32) << 4, groupSize, gShift));
            if (c0 + 64 < chunks) t2 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((c0 + 64) << 4, groupSize, gShift));
            if (c0 + 96 < chunks) t3 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((c0 + 96) << 4, groupSize, gShift));
            if (slice == 0) b = bias.get(col);
            prefetchBatches(ctx, w, col * words, words, 512, slice + 2 * slices, slices, lane);
        }
        if (aheadCol < n && aheadBatch < batches) {
            int scaleBase = aheadCol * groups, c0 = (aheadBatch << 7) + lane;
            if (c0 < chunks) u0 = sw.get(scaleBase + SkinnyGemmKernel.groupOf(c0 << 4, groupSize, gShift));
            if (c0 + 32 < chunks) u1 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((c0 + 32) << 4, groupSize, gShift));
            if (c0 + 64 < chunks) u2 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((c0 + 64) << 4, groupSize, gShift));
            if (c0 + 96 < chunks) u3 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((c0 + 96) << 4, groupSize, gShift));
        }
        float g0 = 0f, g1 = 0f, g2 = 0f, g3 = 0f, e0 = 0f, e1 = 0f, e2 = 0f, e3 = 0f;
        if (SkinnyGemmKernel.normalises(norm) && (tid << 2) < k) { int at = tid << 2; g0 = gamma.get(at); g1 = gamma.get(at + 1); g2 = gamma.get(at + 2); g3 = gamma.get(at + 3); e0 = beta.get(at); e1 = beta.get(at + 1); e2 = beta.get(at + 2); e3 = beta.get(at + 3); }
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();
        // The first pass's residual (the previous kernels' output) requested now, so that it arrives under the staging.
        float resid0 = mode == SkinnyGemmKernel.ADD && col < n && slice == 0 && lane == 0 ? y.get(col) : 0f;
        int[] xs = ctx.allocateIntShared(2048);   // the row's codes: piece p (4096 inputs) at 1024p, in int8ChunkDot's order
        float[] sx = ctx.allocateFloatShared(1), red = ctx.allocateFloatShared(96), part = ctx.allocateFloatShared(64);
        stageCodes(ctx, red, sx, xs, x, norm, false, gamma, beta, eps, k, 0, g0, g1, g2, g3, e0, e1, e2, e3);
        ctx.traceMark(0);   // traced runs: when the block has staged its row
        float s = sx[0];
        int[] q = new int[4];
        int pass = 0, unit = 0;
        for (int cbase = first; cbase < n; cbase += step) {   // uniform: the block's passes
            col = cbase + (warp >> sShift);
            boolean live = col < n;
            int base = col * words, scaleBase = col * groups;
            float resid = pass == 0 ? resid0 : mode == SkinnyGemmKernel.ADD && live && slice == 0 && lane == 0 ? y.get(col) : 0f;
            if (pass > 0 && live && slice == 0) b = bias.get(col);
            float a = 0f;
            for (int bb = slice; live && bb < batches; bb += slices) {
                int cb = bb << 7, c0 = cb + lane;
                int q00 = 0, q01 = 0, q02 = 0, q03 = 0, q10 = 0, q11 = 0, q12 = 0, q13 = 0, q20 = 0, q21 = 0, q22 = 0, q23 = 0, q30 = 0, q31 = 0, q32 = 0, q33 = 0;
                if (unit < 2) {   // copied into shared memory before the wait
                    int at = region + (unit << 9) + (lane << 2);
                    ctx.mbarrierWait(bars, bar + (unit << 1), 0);
                    if (c0 < chunks) { ctx.load4(q, rows, at); q00 = q[0]; q01 = q[1]; q02 = q[2]; q03 = q[3]; }
                    if (c0 + 32 < chunks) { ctx.load4(q, rows, at + 128); q10 = q[0]; q11 = q[1]; q12 = q[2]; q13 = q[3]; }
                    if (c0 + 64 < chunks) { ctx.load4(q, rows, at + 256); q20 = q[0]; q21 = q[1]; q22 = q[2]; q23 = q[3]; }
                    if (c0 + 96 < chunks) { ctx.load4(q, rows, at + 384); q30 = q[0]; q31 = q[1]; q32 = q[2]; q33 = q[3]; }
                    if (unit == 1) { t0 = u0; t1 = u1; t2 = u2; t3 = u3; }
                } else {
                    t0 = 0f; t1 = 0f; t2 = 0f; t3 = 0f;
                    if (c0 < chunks) { ctx.load4(q, w, base + (c0 << 2)); q00 = q[0]; q01 = q[1]; q02 = q[2]; q03 = q[3]; t0 = sw.get(scaleBase + SkinnyGemmKernel.groupOf(c0 << 4, groupSize, gShift)); }
                    if (c0 + 32 < chunks) { ctx.load4(q, w, base + ((c0 + 32) << 2)); q10 = q[0]; q11 = q[1]; q12 = q[2]; q13 = q[3]; t1 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((c0 + 32) << 4, groupSize, gShift)); }
                    if (c0 + 64 < chunks) { ctx.load4(q, w, base + ((c0 + 64) << 2)); q20 = q[0]; q21 = q[1]; q22 = q[2]; q23 = q[3]; t2 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((c0 + 64) << 4, groupSize, gShift)); }
                    if (c0 + 96 < chunks) { ctx.load4(q, w, base + ((c0 + 96) << 2)); q30 = q[0]; q31 = q[1]; q32 = q[2]; q33 = q[3]; t3 = sw.get(scaleBase + SkinnyGemmKernel.groupOf((c0 + 96) << 4, groupSize, gShift)); }
                }
                int c = c0, rb = (bb >> 1) << 10;   // chunk c's piece of 256 chunks starts at word 1024·(c / 256)
                float p = chunkDot(xs, rb, c, q00, q01, q02, q03, t0);
                if (cb + 32 < chunks) p += chunkDot(xs, rb, c + 32, q10, q11, q12, q13, t1);
                if (cb + 64 < chunks) p += chunkDot(xs, rb, c + 64, q20, q21, q22, q23, t2);
                if (cb + 96 < chunks) p += chunkDot(xs, rb, c + 96, q30, q31, q32, q33, t3);
                a += p;
                unit++;
            }
            float sum = sliceSum(ctx, part, pass, slices, slice, SkinnyGemmKernel.warpSum(ctx, a));
            if (live && slice == 0 && lane == 0) SkinnyGemmKernel.finish(y, col, s * sum + b, resid, mode);
            if (pass == 0) ctx.traceMark(4);   // traced runs: the first pass done
            pass++;
        }
    }

    /** Ints of {@link #int8Bulk}'s shared memory for weights: two batches of 2 KiB a warp, 128 KiB a block. */
    static final int BULK_INTS = 32768;

    /**
     * INT4 codes in {@link Int4Words}' order (K/8 ints a row) with scales {@code sw[N, K/groupSize]}; W4A8. A batch is 256
     * words of a row (2048 inputs); a lane takes two <em>pieces</em> of it, words {@code 4·lane …} and {@code 128 + 4·lane …}
     * (32 codes each, so in one group: groups are multiples of 32), each with one 16-byte load. A piece's products are
     * summed as integers: each word's nibbles moved to the high half of their bytes (signed bytes of 16·code, no
     * sign extension) and multiplied with the staged codes by {@code dp4a}, then the sum times the piece's scale / 16 —
     * a third of the instructions of a word's own unpacking, conversion and scale (Nsight Compute on the H200, session 33:
     * the 1.3B up projection executed 5.5 million warp instructions against the INT8 qkv's 3.5 million for 1.5× its bytes).
     * The float sums therefore follow {@link SkinnyGemmKernel#int4}'s in another grouping (the integer parts are exact).
     */
    @Kernel(maxRegisters = 64)
    public static void int4(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                            FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode, int slices) {
        int4Rows(ctx, x, norm, gamma, beta, eps, w, sw, bias, y, n, k, groupSize, mode, slices, false);
    }

    /** {@link #int4} on rows of gates and ups, its input {@code silu(gate)·up} ({@link SkinnyGemmKernel#SWIGLU}: a LLaMA's down projection). */
    @Kernel(maxRegisters = 64)
    public static void int4Gated(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                                 FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode, int slices) {
        int4Rows(ctx, x, norm, gamma, beta, eps, w, sw, bias, y, n, k, groupSize, mode, slices, true);
    }

    /** {@link #int4}'s body; {@code gated} (a constant at each entry) as {@link WideGemvKernel#loadRow}'s. */
    static void int4Rows(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                         FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode, int slices, boolean gated) {
        int tid = ctx.localIdx(), lane = tid & 31, words = k >> 3, gShift = SkinnyGemmKernel.groupShift(groupSize);
        int groups = SkinnyGemmKernel.groupCount(k, groupSize, gShift);
        int batches = (words + 255) >> 8, sShift = log2(slices), slice = (tid >> 5) & (slices - 1), perPass = 32 >> sShift;
        int first = ctx.groupIdx() * perPass, step = ctx.numGroupsX() * perPass, col = first + ((tid >> 5) >> sShift);
        int[] q = new int[4];
        int a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;   // the lane's pieces A and B of a batch
        float sa = 0f, sb = 0f, b = 0f;                                      // and their scales / 16
        if (col < n && slice < batches) {   // the first batch, in flight before the wait
            int wb = slice << 8, base = col * words, scaleBase = col * groups, pa = wb + (lane << 2);
            if (pa < words) { ctx.load4(q, w, base + pa); a0 = q[0]; a1 = q[1]; a2 = q[2]; a3 = q[3]; sa = 0.0625f * sw.get(scaleBase + SkinnyGemmKernel.groupOf(pa << 3, groupSize, gShift)); }
            if (pa + 128 < words) { ctx.load4(q, w, base + pa + 128); b0 = q[0]; b1 = q[1]; b2 = q[2]; b3 = q[3]; sb = 0.0625f * sw.get(scaleBase + SkinnyGemmKernel.groupOf((pa + 128) << 3, groupSize, gShift)); }
        }
        if (col < n) {
            if (slice == 0) b = bias.get(col);
            prefetchBatches(ctx, w, col * words, words, 256, slice + slices, slices, lane);
        }
        float g0 = 0f, g1 = 0f, g2 = 0f, g3 = 0f, e0 = 0f, e1 = 0f, e2 = 0f, e3 = 0f;
        if (SkinnyGemmKernel.normalises(norm) && (tid << 2) < k) { int at = tid << 2; g0 = gamma.get(at); g1 = gamma.get(at + 1); g2 = gamma.get(at + 2); g3 = gamma.get(at + 3); e0 = beta.get(at); e1 = beta.get(at + 1); e2 = beta.get(at + 2); e3 = beta.get(at + 3); }
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();
        // The first pass's residual (the previous kernels' output) requested now, so that it arrives under the staging.
        float resid0 = mode == SkinnyGemmKernel.ADD && col < n && slice == 0 && lane == 0 ? y.get(col) : 0f;
        int[] xs = ctx.allocateIntShared(2048);   // the row's codes in the pieces' order ({@link #codeWord}, int4Order 1)
        float[] sx = ctx.allocateFloatShared(1), red = ctx.allocateFloatShared(96), part = ctx.allocateFloatShared(64);
        stageCodes(ctx, red, sx, xs, x, norm, gated, gamma, beta, eps, k, 1, g0, g1, g2, g3, e0, e1, e2, e3);
        ctx.traceMark(0);   // traced runs: when the block has staged its row
        float s = sx[0];
        int pass = 0;
        for (int cbase = first; cbase < n; cbase += step) {   // uniform: the block's passes
            col = cbase + ((tid >> 5) >> sShift);
            boolean live = col < n;
            int base = col * words, scaleBase = col * groups;
            float resid = pass == 0 ? resid0 : mode == SkinnyGemmKernel.ADD && live && slice == 0 && lane == 0 ? y.get(col) : 0f;
            if (pass > 0 && live && slice == 0) b = bias.get(col);
            float a = 0f;
            for (int bb = slice; live && bb < batches; bb += slices) {
                int wb = bb << 8, pa = wb + (lane << 2);
                if (pass > 0 || bb != slice) {   // the first batch of the first column came before the wait
                    a0 = 0; a1 = 0; a2 = 0; a3 = 0; b0 = 0; b1 = 0; b2 = 0; b3 = 0; sa = 0f; sb = 0f;
                    if (pa < words) { ctx.load4(q, w, base + pa); a0 = q[0]; a1 = q[1]; a2 = q[2]; a3 = q[3]; sa = 0.0625f * sw.get(scaleBase + SkinnyGemmKernel.groupOf(pa << 3, groupSize, gShift)); }
                    if (pa + 128 < words) { ctx.load4(q, w, base + pa + 128); b0 = q[0]; b1 = q[1]; b2 = q[2]; b3 = q[3]; sb = 0.0625f * sw.get(scaleBase + SkinnyGemmKernel.groupOf((pa + 128) << 3, groupSize, gShift)); }
                }
                // Lanes past the row's end hold zero words (their staged codes, whatever they are, count nothing); the
                // pieces B of a batch of at most 128 words (K = 768) are skipped by the whole warp.
                int xa = (bb << 9) + (lane << 2);
                a += sa * pieceDot16(ctx, q, xs, xa, a0, a1, a2, a3);
                if (wb + 128 < words) a += sb * pieceDot16(ctx, q, xs, xa + 256, b0, b1, b2, b3);
            }
            float sum = sliceSum(ctx, part, pass, slices, slice, SkinnyGemmKernel.warpSum(ctx, a));
            if (live && slice == 0 && lane == 0) SkinnyGemmKernel.finish(y, col, s * sum + b, resid, mode);
            if (pass == 0) ctx.traceMark(4);   // traced runs: the first pass done
            pass++;
        }
    }

    /**
     * Chunk {@code c} of INT8 weights (words {@code q0 … q3}, 16 codes of one group) times the staged row ({@code rb}: its
     * offset in {@code xs}, the words in {@link SkinnyGemmKernel#int8ChunkDot}'s order): the four {@code dp4a} summed as
     * integers, then one conversion and one product with the group's scale {@code s} — where {@code int8ChunkDot}, whose
     * chunks may hold four groups (the few-row kernels'), converts and scales each word (Nsight Compute on the H200, session
     * 33: the batch-1 projections are bound by instructions issued as much as by bytes). The same integers, so the float
     * sums follow the few-row kernel's in another grouping.
     */
    static float chunkDot(int[] xs, int rb, int c, int q0, int q1, int q2, int q3, float s) {
        int at = rb + (c & 255);
        return s * KernelMath.dp4a(q3, xs[at + 768], KernelMath.dp4a(q2, xs[at + 512], KernelMath.dp4a(q1, xs[at + 256], KernelMath.dp4a(q0, xs[at], 0))));
    }

    /**
     * 16 times a piece's dot product — four {@link Int4Words} words {@code w0 … w3}, 32 codes — with its staged codes: the
     * low- and high-nibble codes of words 0 and 1 at {@code xs[at … at + 3]}, of words 2 and 3 at {@code xs[at + 128 …]}
     * ({@link #codeWord}). A nibble shifted into the high half of its byte is that byte's signed value / 16, so the words
     * need no sign extension; the sum is exact (at most 32 · 16 · 8 · 128 in magnitude).
     */
    static int pieceDot16(KernelContext ctx, int[] q, int[] xs, int at, int w0, int w1, int w2, int w3) {
        ctx.load4(q, xs, at);
        int d = KernelMath.dp4a(w0 & 0xF0F0F0F0, q[1], KernelMath.dp4a((w0 << 4) & 0xF0F0F0F0, q[0], 0));
        d = KernelMath.dp4a(w1 & 0xF0F0F0F0, q[3], KernelMath.dp4a((w1 << 4) & 0xF0F0F0F0, q[2], d));
        ctx.load4(q, xs, at + 128);
        d = KernelMath.dp4a(w2 & 0xF0F0F0F0, q[1], KernelMath.dp4a((w2 << 4) & 0xF0F0F0F0, q[0], d));
        return KernelMath.dp4a(w3 & 0xF0F0F0F0, q[3], KernelMath.dp4a((w3 << 4) & 0xF0F0F0F0, q[2], d));
    }

    /**
     * Weight-only INT8 (W8A16): {@link #int8}'s codes and group scales, {@link #fp16}'s activations — the row (its LayerNorm
     * with {@code norm != 0}) rounded to FP16 as it is staged, no token-wise quantization, so no second block reduction —
     * half the weight bytes of {@link #fp16} in {@link #int8}'s batches (16 codes a 16-byte chunk, 4 chunks a lane). The
     * row is staged as floats in chunk order ({@link #stageHalvesA16}): element {@code t} of chunk {@code c} of a batch at
     * {@code 128·t + c}, so that a warp reading one element of 32 consecutive chunks meets no bank conflict. A chunk's 16
     * codes, each converted exactly to float, times its 16 halves, in order, then times the chunk's group scale; the
     * results follow {@link SkinnyGemmKernel#int8a16}'s within float rounding (another order of the same products).
     */
    @Kernel(maxRegisters = 64)
    public static void int8a16(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                               FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode, int slices) {
        int8a16Rows(ctx, x, norm, gamma, beta, eps, w, sw, bias, y, n, k, groupSize, mode, slices, false);
    }

    /** {@link #int8a16} on rows of gates and ups, its input {@code silu(gate)·up} ({@link SkinnyGemmKernel#SWIGLU}: a LLaMA's down projection). */
    @Kernel(maxRegisters = 64)
    public static void int8a16Gated(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                                    FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode, int slices) {
        int8a16Rows(ctx, x, norm, gamma, beta, eps, w, sw, bias, y, n, k, groupSize, mode, slices, true);
    }

    /** {@link #int8a16}'s body; {@code gated} (a constant at each entry) as {@link WideGemvKernel#loadRow}'s. */
    static void int8a16Rows(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                            FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode, int slices, boolean gated) {
        int tid = ctx.localIdx(), lane = tid & 31, chunks = k >> 4, words = k >> 2, gShift = SkinnyGemmKernel.groupShift(groupSize);
        int groups = SkinnyGemmKernel.groupCount(k, groupSize, gShift);
        int batches = (chunks + 127) >> 7, sShift = log2(slices), slice = (tid >> 5) & (slices - 1), perPass = 32 >> sShift;
        int first = ctx.groupIdx() * perPass, step = ctx.numGroupsX() * perPass, col = first + ((tid >> 5) >> sShift);
        int[] q = new int[4], r = new int[16];   // registers: a batch's 16 code words of this lane
        float[] t = new float[4];                // and its 4 chunks' group scales
        float b = 0f;
        if (col < n && slice < batches) {   // the first batch's codes in flight before the wait, its scales asked of L2 (held in
            int c0 = (slice << 7) + lane;   // registers through the staging, they made ptxas spill)
            if (c0 < chunks) ctx.prefetchL2(sw, col * groups + SkinnyGemmKernel.groupOf(c0 << 4, groupSize, gShift));
            loadBatch(ctx, q, r, w, col * words, c0, chunks);
        }
        if (col < n) {
            if (slice == 0) b = bias.get(col);
            prefetchBatches(ctx, w, col * words, words, 512, slice + slices, slices, lane);
        }
        float g0 = 0f, g1 = 0f, g2 = 0f, g3 = 0f, e0 = 0f, e1 = 0f, e2 = 0f, e3 = 0f;   // γ and β of elements 4·tid …
        if (SkinnyGemmKernel.normalises(norm) && (tid << 2) < k) {
            int e = tid << 2;
            g0 = gamma.get(e); g1 = gamma.get(e + 1); g2 = gamma.get(e + 2); g3 = gamma.get(e + 3);
            e0 = beta.get(e); e1 = beta.get(e + 1); e2 = beta.get(e + 2); e3 = beta.get(e + 3);
        }
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();
        // The first pass's residual (the previous kernels' output) requested now, so that it arrives under the staging.
        float resid0 = mode == SkinnyGemmKernel.ADD && col < n && slice == 0 && lane == 0 ? y.get(col) : 0f;
        float[] xs = ctx.allocateFloatShared(8192);   // the row as halves, batch p (2048 inputs) at 2048p in chunk order
        float[] red = ctx.allocateFloatShared(96), part = ctx.allocateFloatShared(64);
        stageHalvesA16(ctx, red, xs, x, norm, gated, gamma, beta, eps, k, 0, g0, g1, g2, g3, e0, e1, e2, e3);
        int pass = 0;
        for (int cbase = first; cbase < n; cbase += step) {   // uniform: the block's passes
            col = cbase + ((tid >> 5) >> sShift);
            boolean live = col < n;
            int scaleBase = col * groups;
            float resid = pass == 0 ? resid0 : mode == SkinnyGemmKernel.ADD && live && slice == 0 && lane == 0 ? y.get(col) : 0f;
            if (pass > 0 && live && slice == 0) b = bias.get(col);
            float a = 0f;
            for (int bb = slice; live && bb < batches; bb += slices) {
                int cb = bb << 7, c0 = cb + lane, at = (bb << 11) + lane;
                if (pass > 0 || bb != slice) loadBatch(ctx, q, r, w, col * words, c0, chunks);   // the first came before the wait
                t[0] = c0 < chunks ? sw.get(scaleBase + SkinnyGemmKernel.groupOf(c0 << 4, groupSize, gShift)) : 0f;
                t[1] = c0 + 32 < chunks ? sw.get(scaleBase + SkinnyGemmKernel.groupOf((c0 + 32) << 4, groupSize, gShift)) : 0f;
                t[2] = c0 + 64 < chunks ? sw.get(scaleBase + SkinnyGemmKernel.groupOf((c0 + 64) << 4, groupSize, gShift)) : 0f;
                t[3] = c0 + 96 < chunks ? sw.get(scaleBase + SkinnyGemmKernel.groupOf((c0 + 96) << 4, groupSize, gShift)) : 0f;
                // As int8: the columns of chunks past the row's end skipped, not summed as zeros.
                a += t[0] * codesDotHalves(xs, at, r[0], r[1], r[2], r[3]);
                if (cb + 32 < chunks) a += t[1] * codesDotHalves(xs, at + 32, r[4], r[5], r[6], r[7]);
                if (cb + 64 < chunks) a += t[2] * codesDotHalves(xs, at + 64, r[8], r[9], r[10], r[11]);
                if (cb + 96 < chunks) a += t[3] * codesDotHalves(xs, at + 96, r[12], r[13], r[14], r[15]);
            }
            float sum = sliceSum(ctx, part, pass, slices, slice, SkinnyGemmKernel.warpSum(ctx, a));
            if (live && slice == 0 && lane == 0) SkinnyGemmKernel.finish(y, col, sum + b, resid, mode);
            pass++;
        }
    }

    /**
     * A lane's share of a batch of a row of INT8 codes at {@code base} — 16-byte chunks {@code c0}, {@code c0 + 32},
     * {@code c0 + 64}, {@code c0 + 96}, zeros past the row's {@code chunks} — into {@code r[0 … 15]}, the loads in flight together.
     */
    static void loadBatch(KernelContext ctx, int[] q, int[] r, IntArray w, int base, int c0, int chunks) {
        r[0] = 0; r[1] = 0; r[2] = 0; r[3] = 0; r[4] = 0; r[5] = 0; r[6] = 0; r[7] = 0;   // constant indices: registers
        r[8] = 0; r[9] = 0; r[10] = 0; r[11] = 0; r[12] = 0; r[13] = 0; r[14] = 0; r[15] = 0;
        if (c0 < chunks) { ctx.load4(q, w, base + (c0 << 2)); r[0] = q[0]; r[1] = q[1]; r[2] = q[2]; r[3] = q[3]; }
        if (c0 + 32 < chunks) { ctx.load4(q, w, base + ((c0 + 32) << 2)); r[4] = q[0]; r[5] = q[1]; r[6] = q[2]; r[7] = q[3]; }
        if (c0 + 64 < chunks) { ctx.load4(q, w, base + ((c0 + 64) << 2)); r[8] = q[0]; r[9] = q[1]; r[10] = q[2]; r[11] = q[3]; }
        if (c0 + 96 < chunks) { ctx.load4(q, w, base + ((c0 + 96) << 2)); r[12] = q[0]; r[13] = q[1]; r[14] = q[2]; r[15] = q[3]; }
    }

    /** A chunk's 16 codes (four words, low byte first) times its 16 staged halves at {@code at + 128·t}, in order. */
    static float codesDotHalves(float[] xs, int at, int q0, int q1, int q2, int q3) {
        float d = PrefillGemmKernel.exactFloat((q0 << 24) >> 24) * xs[at] + PrefillGemmKernel.exactFloat((q0 << 16) >> 24) * xs[at + 128]
                + PrefillGemmKernel.exactFloat((q0 << 8) >> 24) * xs[at + 256] + PrefillGemmKernel.exactFloat(q0 >> 24) * xs[at + 384];
        d += PrefillGemmKernel.exactFloat((q1 << 24) >> 24) * xs[at + 512] + PrefillGemmKernel.exactFloat((q1 << 16) >> 24) * xs[at + 640]
                + PrefillGemmKernel.exactFloat((q1 << 8) >> 24) * xs[at + 768] + PrefillGemmKernel.exactFloat(q1 >> 24) * xs[at + 896];
        d += PrefillGemmKernel.exactFloat((q2 << 24) >> 24) * xs[at + 1024] + PrefillGemmKernel.exactFloat((q2 << 16) >> 24) * xs[at + 1152]
                + PrefillGemmKernel.exactFloat((q2 << 8) >> 24) * xs[at + 1280] + PrefillGemmKernel.exactFloat(q2 >> 24) * xs[at + 1408];
        return d + PrefillGemmKernel.exactFloat((q3 << 24) >> 24) * xs[at + 1536] + PrefillGemmKernel.exactFloat((q3 << 16) >> 24) * xs[at + 1664]
                + PrefillGemmKernel.exactFloat((q3 << 8) >> 24) * xs[at + 1792] + PrefillGemmKernel.exactFloat(q3 >> 24) * xs[at + 1920];
    }

    /**
     * Weight-only INT4 (the MLP of W4/8A16): {@link #int4}'s words ({@link Int4Words}' order, 8 codes a word, 8 words a
     * lane a batch of 2048 inputs) and group scales, {@link #int8a16}'s FP16 activations — staged for it by
     * {@link #stageHalvesA16}: element {@code u} of word {@code j} of a batch (its low nibbles {@code u = 0…3}, its high
     * ones {@code 4…7}) at {@code 256·u + j}. A word's 8 codes times their halves, in nibble order, then times the word's
     * group scale; the results follow {@link SkinnyGemmKernel#int4a16}'s within float rounding. {@code residual},
     * {@code parts}, {@code partBias}, {@code partCount}, {@code rowOut}: as {@link MmaGemvKernel#int8a16}'s.
     */
    @Kernel(maxRegisters = 64)
    public static void int4a16(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                               FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode, int slices, FloatArray residual, FloatArray parts,
                               FloatArray partBias, int partCount, FloatArray rowOut) {
        int4a16Rows(ctx, x, norm, gamma, beta, eps, w, sw, bias, y, n, k, groupSize, mode, slices, residual, parts, partBias, partCount, rowOut, false);
    }

    /** {@link #int4a16} on rows of gates and ups, its input {@code silu(gate)·up} ({@link SkinnyGemmKernel#SWIGLU}: a LLaMA's down projection). */
    @Kernel(maxRegisters = 64)
    public static void int4a16Gated(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                                    FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode, int slices, FloatArray residual, FloatArray parts,
                                    FloatArray partBias, int partCount, FloatArray rowOut) {
        int4a16Rows(ctx, x, norm, gamma, beta, eps, w, sw, bias, y, n, k, groupSize, mode, slices, residual, parts, partBias, partCount, rowOut, true);
    }

    /** {@link #int4a16}'s body; {@code gated} (a constant at each entry) as {@link WideGemvKernel#loadRow}'s. */
    static void int4a16Rows(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                            FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode, int slices, FloatArray residual, FloatArray parts,
                            FloatArray partBias, int partCount, FloatArray rowOut, boolean gated) {
        int tid = ctx.localIdx(), lane = tid & 31, words = k >> 3, gShift = SkinnyGemmKernel.groupShift(groupSize);
        int groups = SkinnyGemmKernel.groupCount(k, groupSize, gShift);
        int batches = (words + 255) >> 8, sShift = log2(slices), slice = (tid >> 5) & (slices - 1), perPass = 32 >> sShift;
        int first = ctx.groupIdx() * perPass, step = ctx.numGroupsX() * perPass, col = first + ((tid >> 5) >> sShift);
        int[] r = new int[8];       // registers: a batch's 8 words of this lane
        float[] t = new float[8];   // and their group scales
        float b = 0f;
        if (col < n && slice < batches) {   // the first batch's words and scales in flight before the wait
            loadWords(w, sw, r, t, col * words, col * groups, (slice << 8) + lane, words, groupSize, gShift);
        }
        if (col < n) {
            if (slice == 0) b = bias.get(col);
            prefetchBatches(ctx, w, col * words, words, 256, slice + slices, slices, lane);
        }
        float g0 = 0f, g1 = 0f, g2 = 0f, g3 = 0f, e0 = 0f, e1 = 0f, e2 = 0f, e3 = 0f;   // γ and β of elements 4·tid …
        if (SkinnyGemmKernel.normalises(norm) && (tid << 2) < k) {
            int e = tid << 2;
            g0 = gamma.get(e); g1 = gamma.get(e + 1); g2 = gamma.get(e + 2); g3 = gamma.get(e + 3);
            e0 = beta.get(e); e1 = beta.get(e + 1); e2 = beta.get(e + 2); e3 = beta.get(e + 3);
        }
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();
        // The first pass's residual (the previous kernels' output) requested now, so that it arrives under the staging.
        float resid0 = mode == SkinnyGemmKernel.ADD && col < n && slice == 0 && lane == 0 ? residual.get(col) : 0f;
        float[] xs = ctx.allocateFloatShared(8192);   // the row as halves, batch p (2048 inputs) at 2048p in word order
        float[] red = ctx.allocateFloatShared(96), part = ctx.allocateFloatShared(64), summed = ctx.allocateFloatShared(1024);
        if (partCount > 0) {
            sumParts(ctx, summed, x, parts, partBias, partCount, rowOut, k);
            stageSummed(ctx, red, xs, summed, norm, eps, k, 2, g0, g1, g2, g3, e0, e1, e2, e3);
        } else stageHalvesA16(ctx, red, xs, x, norm, gated, gamma, beta, eps, k, 1, g0, g1, g2, g3, e0, e1, e2, e3);
        int pass = 0;
        for (int cbase = first; cbase < n; cbase += step) {   // uniform: the block's passes
            col = cbase + ((tid >> 5) >> sShift);
            boolean live = col < n;
            float resid = pass == 0 ? resid0 : mode == SkinnyGemmKernel.ADD && live && slice == 0 && lane == 0 ? residual.get(col) : 0f;
            if (pass > 0 && live && slice == 0) b = bias.get(col);
            float a = 0f;
            for (int bb = slice; live && bb < batches; bb += slices) {
                int jb = bb << 8, at = (bb << 11) + lane;
                if (pass > 0 || bb != slice) loadWords(w, sw, r, t, col * words, col * groups, jb + lane, words, groupSize, gShift);
                // As int4: the columns of words past the row's end skipped (K = 768: five of eight), not summed as zeros.
                a += t[0] * nibblesDotHalves(xs, at, r[0]);
                if (jb + 32 < words) a += t[1] * nibblesDotHalves(xs, at + 32, r[1]);
                if (jb + 64 < words) a += t[2] * nibblesDotHalves(xs, at + 64, r[2]);
                if (jb + 96 < words) a += t[3] * nibblesDotHalves(xs, at + 96, r[3]);
                if (jb + 128 < words) a += t[4] * nibblesDotHalves(xs, at + 128, r[4]);
                if (jb + 160 < words) a += t[5] * nibblesDotHalves(xs, at + 160, r[5]);
                if (jb + 192 < words) a += t[6] * nibblesDotHalves(xs, at + 192, r[6]);
                if (jb + 224 < words) a += t[7] * nibblesDotHalves(xs, at + 224, r[7]);
            }
            float sum = sliceSum(ctx, part, pass, slices, slice, SkinnyGemmKernel.warpSum(ctx, a));
            if (live && slice == 0 && lane == 0) SkinnyGemmKernel.finish(y, col, sum + b, resid, mode);
            pass++;
        }
    }

    /**
     * A lane's 8 words of a batch of an {@link Int4Words} row at {@code base} — words {@code j, j + 32, …, j + 224}, zeros
     * past the row's {@code words} — into {@code r}, and each word's group scale (a word lies in one group) into {@code t}.
     */
    static void loadWords(IntArray w, FloatArray sw, int[] r, float[] t, int base, int scaleBase, int j, int words, int groupSize, int gShift) {
        r[0] = 0; r[1] = 0; r[2] = 0; r[3] = 0; r[4] = 0; r[5] = 0; r[6] = 0; r[7] = 0;   // constant indices: registers
        t[0] = 0f; t[1] = 0f; t[2] = 0f; t[3] = 0f; t[4] = 0f; t[5] = 0f; t[6] = 0f; t[7] = 0f;
        if (j < words) { r[0] = w.get(base + j); t[0] = sw.get(scaleBase + SkinnyGemmKernel.groupOf(j << 3, groupSize, gShift)); }
        if (j + 32 < words) { r[1] = w.get(base + j + 32); t[1] = sw.get(scaleBase + SkinnyGemmKernel.groupOf((j + 32) << 3, groupSize, gShift)); }
        if (j + 64 < words) { r[2] = w.get(base + j + 64); t[2] = sw.get(scaleBase + SkinnyGemmKernel.groupOf((j + 64) << 3, groupSize, gShift)); }
        if (j + 96 < words) { r[3] = w.get(base + j + 96); t[3] = sw.get(scaleBase + SkinnyGemmKernel.groupOf((j + 96) << 3, groupSize, gShift)); }
        if (j + 128 < words) { r[4] = w.get(base + j + 128); t[4] = sw.get(scaleBase + SkinnyGemmKernel.groupOf((j + 128) << 3, groupSize, gShift)); }
        if (j + 160 < words) { r[5] = w.get(base + j + 160); t[5] = sw.get(scaleBase + SkinnyGemmKernel.groupOf((j + 160) << 3, groupSize, gShift)); }
        if (j + 192 < words) { r[6] = w.get(base + j + 192); t[6] = sw.get(scaleBase + SkinnyGemmKernel.groupOf((j + 192) << 3, groupSize, gShift)); }
        if (j + 224 < words) { r[7] = w.get(base + j + 224); t[7] = sw.get(scaleBase + SkinnyGemmKernel.groupOf((j + 224) << 3, groupSize, gShift)); }
    }

    /** An {@link Int4Words} word's 8 codes (low nibbles of bytes 0–3, then their high nibbles) times their halves at {@code at + 256·u}. */
    static float nibblesDotHalves(float[] xs, int at, int q) {
        float d = PrefillGemmKernel.exactFloat((q << 28) >> 28) * xs[at] + PrefillGemmKernel.exactFloat((q << 20) >> 28) * xs[at + 256]
                + PrefillGemmKernel.exactFloat((q << 12) >> 28) * xs[at + 512] + PrefillGemmKernel.exactFloat((q << 4) >> 28) * xs[at + 768];
        return d + PrefillGemmKernel.exactFloat((q << 24) >> 28) * xs[at + 1024] + PrefillGemmKernel.exactFloat((q << 16) >> 28) * xs[at + 1280]
                + PrefillGemmKernel.exactFloat((q << 8) >> 28) * xs[at + 1536] + PrefillGemmKernel.exactFloat(q >> 28) * xs[at + 1792];
    }

    /**
     * {@link #stageHalves} for the weight-only kernels: the row (LayerNorm'd with {@code norm != 0}) rounded to FP16, zeros
     * up to the end of the last batch of 2048, each element where its code's lane reads it ({@link #halfA16}).
     */
    static void stageHalvesA16(KernelContext ctx, float[] red, float[] xs, FloatArray x, int norm, boolean gated, FloatArray gamma, FloatArray beta, float eps,
                               int k, int int4Order, float g0, float g1, float g2, float g3, float e0, float e1, float e2, float e3) {
        int tid = ctx.localIdx(), a0 = tid << 2, a1 = a0 + 4096, end = (k + 2047) & ~2047, warps = Math.min(32, end >> 7);
        float[] v = new float[8];   // registers: elements 4t … 4t + 3, then 4096 + 4t …
        loadRow(ctx, red, v, x, norm, gated, gamma, beta, eps, k, warps, g0, g1, g2, g3, e0, e1, e2, e3);
        if ((tid >> 5) < warps) {
            if (a0 < end) { halfA16(xs, a0, v[0], int4Order); halfA16(xs, a0 + 1, v[1], int4Order); halfA16(xs, a0 + 2, v[2], int4Order); halfA16(xs, a0 + 3, v[3], int4Order); }
            if (a1 < end) { halfA16(xs, a1, v[4], int4Order); halfA16(xs, a1 + 1, v[5], int4Order); halfA16(xs, a1 + 2, v[6], int4Order); halfA16(xs, a1 + 3, v[7], int4Order); }
        }
        ctx.barrier();
    }

    /**
     * Element {@code i} rounded to FP16 into its place in batch {@code p = i / 2048}: for {@link #int8a16}
     * ({@code int4Order = 0}) element {@code t} of 16-code chunk {@code c} at {@code 2048p + 128·t + c}; for
     * {@link #int4a16} the element that {@link Int4Words} puts in word {@code j} of the batch — in its chunk of 32,
     * {@code 4t + i'} or {@code 16 + 4t + i'}, word {@code 4·chunk + t}, low or high nibble of byte {@code i'} — at
     * {@code 2048p + 256·u + j}, {@code u} = {@code i'} or {@code 4 + i'}.
     */
    static void halfA16(float[] xs, int i, float v, int int4Order) {
        int j = i & 2047, r = j & 31;
        int at = int4Order != 0 ? ((((r >> 4) << 2) + (r & 3)) << 8) + ((j >> 5) << 2) + ((r & 15) >> 2) : ((j & 15) << 7) + (j >> 4);
        xs[(i & ~2047) + at] = Float.float16ToFloat(Float.floatToFloat16(v));
    }

    /**
     * FP16 weights (K/2 ints a row); the row (its LayerNorm with {@code norm != 0}) rounded to FP16 as it is staged; W16A16.
     * {@code residual}, {@code parts}, {@code partBias}, {@code partCount}, {@code rowOut}: as {@link MmaGemvKernel#int8a16}'s.
     */
    @Kernel(maxRegisters = 64)
    public static void fp16(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray bias,
                            FloatArray y, int n, int k, int mode, int slices, FloatArray residual, FloatArray parts, FloatArray partBias, int partCount,
                            FloatArray rowOut) {
        fp16Rows(ctx, x, norm, gamma, beta, eps, w, bias, y, n, k, mode, slices, residual, parts, partBias, partCount, rowOut, false);
    }

    /** {@link #fp16} on rows of gates and ups, its input {@code silu(gate)·up} ({@link SkinnyGemmKernel#SWIGLU}: a LLaMA's down projection). */
    @Kernel(maxRegisters = 64)
    public static void fp16Gated(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray bias,
                                 FloatArray y, int n, int k, int mode, int slices, FloatArray residual, FloatArray parts, FloatArray partBias, int partCount,
                                 FloatArray rowOut) {
        fp16Rows(ctx, x, norm, gamma, beta, eps, w, bias, y, n, k, mode, slices, residual, parts, partBias, partCount, rowOut, true);
    }

    /** {@link #fp16}'s body; {@code gated} (a constant at each entry) as {@link WideGemvKernel#loadRow}'s. */
    static void fp16Rows(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray bias,
                         FloatArray y, int n, int k, int mode, int slices, FloatArray residual, FloatArray parts, FloatArray partBias, int partCount,
                         FloatArray rowOut, boolean gated) {
        int tid = ctx.localIdx(), lane = tid & 31, words = k >> 1, chunks = k >> 3;
        int batches = (k + 1023) >> 10, sShift = log2(slices), slice = (tid >> 5) & (slices - 1), perPass = 32 >> sShift;
        int first = ctx.groupIdx() * perPass, step = ctx.numGroupsX() * perPass, col = first + ((tid >> 5) >> sShift);
        int[] q = new int[4];
        int w00 = 0, w01 = 0, w02 = 0, w03 = 0, w10 = 0, w11 = 0, w12 = 0, w13 = 0, w20 = 0, w21 = 0, w22 = 0, w23 = 0, w30 = 0, w31 = 0, w32 = 0, w33 = 0;
        float b = 0f;
        if (col < n && slice < batches) {
            int base = col * words, c0 = (slice << 7) + lane;   // 16-byte chunks of 8 halves, 128 a batch
            if (c0 < chunks) { ctx.load4(q, w, base + (c0 << 2)); w00 = q[0]; w01 = q[1]; w02 = q[2]; w03 = q[3]; }
            if (c0 + 32 < chunks) { ctx.load4(q, w, base + ((c0 + 32) << 2)); w10 = q[0]; w11 = q[1]; w12 = q[2]; w13 = q[3]; }
            if (c0 + 64 < chunks) { ctx.load4(q, w, base + ((c0 + 64) << 2)); w20 = q[0]; w21 = q[1]; w22 = q[2]; w23 = q[3]; }
            if (c0 + 96 < chunks) { ctx.load4(q, w, base + ((c0 + 96) << 2)); w30 = q[0]; w31 = q[1]; w32 = q[2]; w33 = q[3]; }
        }
        if (col < n) {
            if (slice == 0) b = bias.get(col);
            prefetchBatches(ctx, w, col * words, words, 512, slice + slices, slices, lane);
        }
        float g0 = 0f, g1 = 0f, g2 = 0f, g3 = 0f, e0 = 0f, e1 = 0f, e2 = 0f, e3 = 0f;
        if (SkinnyGemmKernel.normalises(norm) && (tid << 2) < k) { int at = tid << 2; g0 = gamma.get(at); g1 = gamma.get(at + 1); g2 = gamma.get(at + 2); g3 = gamma.get(at + 3); e0 = beta.get(at); e1 = beta.get(at + 1); e2 = beta.get(at + 2); e3 = beta.get(at + 3); }
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();
        // The first pass's residual (the previous kernels' output) requested now, so that it arrives under the staging.
        float resid0 = mode == SkinnyGemmKernel.ADD && col < n && slice == 0 && lane == 0 ? residual.get(col) : 0f;
        float[] xs = ctx.allocateFloatShared(8192);   // the row as halves, batch p (1024 inputs) at 1024p in chunkDot's order
        float[] red = ctx.allocateFloatShared(96), part = ctx.allocateFloatShared(64), summed = ctx.allocateFloatShared(1024);
        if (partCount > 0) {
            sumParts(ctx, summed, x, parts, partBias, partCount, rowOut, k);
            stageSummed(ctx, red, xs, summed, norm, eps, k, 0, g0, g1, g2, g3, e0, e1, e2, e3);
        } else stageHalves(ctx, red, xs, x, norm, gated, gamma, beta, eps, k, g0, g1, g2, g3, e0, e1, e2, e3);
        ctx.traceMark(0);   // traced runs: when the block has staged its row
        int pass = 0;
        for (int cbase = first; cbase < n; cbase += step) {   // uniform: the block's passes
            col = cbase + ((tid >> 5) >> sShift);
            boolean live = col < n;
            int base = col * words;
            float resid = pass == 0 ? resid0 : mode == SkinnyGemmKernel.ADD && live && slice == 0 && lane == 0 ? residual.get(col) : 0f;
            if (pass > 0 && live && slice == 0) b = bias.get(col);
            float a = 0f;
            for (int bb = slice; live && bb < batches; bb += slices) {
                if (pass > 0 || bb != slice) {   // the first batch of the first column came before the wait
                    int c0 = (bb << 7) + lane;
                    w00 = 0; w01 = 0; w02 = 0; w03 = 0; w10 = 0; w11 = 0; w12 = 0; w13 = 0; w20 = 0; w21 = 0; w22 = 0; w23 = 0; w30 = 0; w31 = 0; w32 = 0; w33 = 0;
                    if (c0 < chunks) { ctx.load4(q, w, base + (c0 << 2)); w00 = q[0]; w01 = q[1]; w02 = q[2]; w03 = q[3]; }
                    if (c0 + 32 < chunks) { ctx.load4(q, w, base + ((c0 + 32) << 2)); w10 = q[0]; w11 = q[1]; w12 = q[2]; w13 = q[3]; }
                    if (c0 + 64 < chunks) { ctx.load4(q, w, base + ((c0 + 64) << 2)); w20 = q[0]; w21 = q[1]; w22 = q[2]; w23 = q[3]; }
                    if (c0 + 96 < chunks) { ctx.load4(q, w, base + ((c0 + 96) << 2)); w30 = q[0]; w31 = q[1]; w32 = q[2]; w33 = q[3]; }
                }
                // SkinnyGemmKernel.chunkDot's sum with the columns of chunks past the row's end skipped (K = 768: the last), as int8's.
                int cb = bb << 7, rb = (bb << 10) + lane;
                float p = SkinnyGemmKernel.halvesDot(xs, rb, w00, w01, w02, w03);
                if (cb + 32 < chunks) p += SkinnyGemmKernel.halvesDot(xs, rb + 32, w10, w11, w12, w13);
                if (cb + 64 < chunks) p += SkinnyGemmKernel.halvesDot(xs, rb + 64, w20, w21, w22, w23);
                if (cb + 96 < chunks) p += SkinnyGemmKernel.halvesDot(xs, rb + 96, w30, w31, w32, w33);
                a += p;
            }
            float sum = sliceSum(ctx, part, pass, slices, slice, SkinnyGemmKernel.warpSum(ctx, a));
            if (live && slice == 0 && lane == 0) SkinnyGemmKernel.finish(y, col, sum + b, resid, mode);
            pass++;
        }
    }

    /**
     * The row's codes into {@code xs} (word {@code g}, elements 4g … 4g + 3, at {@link #codeWord}) and its token-wise scale
     * into {@code sx[0]}: thread {@code t} reads elements {@code 4t …} and {@code 4096 + 4t …} once into registers, the
     * LayerNorm (with {@code norm != 0}; γ and β of the first piece already loaded, {@code g*}, {@code e*}; its statistics
     * in one pass, {@link #rowStats}) and the scale from them, over a block of 32 warps.
     */
    static void stageCodes(KernelContext ctx, float[] red, float[] sx, int[] xs, FloatArray x, int norm, boolean gated, FloatArray gamma, FloatArray beta,
                           float eps, int k, int int4Order, float g0, float g1, float g2, float g3, float e0, float e1, float e2, float e3) {
        stageCodes(ctx, red, sx, xs, x, norm, gated, gamma, beta, eps, k, int4Order, THREADS, g0, g1, g2, g3, e0, e1, e2, e3);
    }

    /** {@link #stageCodes} by a block of {@code threads} (1024 or 512): rows of up to 8·threads inputs, in two pieces of 4·threads. */
    static void stageCodes(KernelContext ctx, float[] red, float[] sx, int[] xs, FloatArray x, int norm, boolean gated, FloatArray gamma, FloatArray beta,
                           float eps, int k, int int4Order, int threads, float g0, float g1, float g2, float g3, float e0, float e1, float e2, float e3) {
        stageCodes(ctx, red, sx, xs, x, 0, norm, gated, gamma, beta, eps, k, int4Order, threads, g0, g1, g2, g3, e0, e1, e2, e3);
    }

    /** {@link #stageCodes} of the row that starts at {@code x[base]} ({@link PersistentGemvKernel}: each projection's input in one buffer). */
    static void stageCodes(KernelContext ctx, float[] red, float[] sx, int[] xs, FloatArray x, int base, int norm, boolean gated, FloatArray gamma, FloatArray beta,
                           float eps, int k, int int4Order, int threads, float g0, float g1, float g2, float g3, float e0, float e1, float e2, float e3) {
        // Warps past the row's first piece (128 inputs a warp) hold none of it: they skip the staging but for its barriers
        // (their code words are never read unmultiplied by zero weights).
        int tid = ctx.localIdx(), a0 = tid << 2, a1 = a0 + (threads << 2), warps = Math.min(threads >> 5, (k + 127) >> 7);
        boolean active = (tid >> 5) < warps, h0 = a0 < k, h1 = a1 < k;
        float[] v = new float[8];   // registers: elements 4t … 4t + 3, then 4·threads + 4t …
        loadRow(ctx, red, v, x, base, norm, gated, gamma, beta, eps, k, warps, threads << 2, g0, g1, g2, g3, e0, e1, e2, e3);
        float m = blockMax32(ctx, red, 2, Math.max(SkinnyGemmKernel.max4(v[0], v[1], v[2], v[3]), SkinnyGemmKernel.max4(v[4], v[5], v[6], v[7])), warps);
        ctx.traceMark(3);   // traced runs: the row's largest magnitude
        float s = active ? m / 127f : 0f;
        if (active) {
            xs[codeWord(tid, int4Order)] = h0 ? RowKernels.packCodes(v[0], v[1], v[2], v[3], s) : 0;
            xs[codeWord(tid + threads, int4Order)] = h1 ? RowKernels.packCodes(v[4], v[5], v[6], v[7], s) : 0;
        }
        if (tid == 0) sx[0] = s;
        ctx.barrier();
    }

    /** The most heads' parts a batch-1 kernel adds to its row ({@link #sumParts}). */
    public static final int MAX_PARTS = 16;

    /**
     * Whether a batch-1 kernel ({@link #fp16}, {@link #int4a16}, {@link MmaGemvKernel}) can add {@code partCount}
     * parts to its row of {@code k} inputs in blocks of {@code threads}: a thread an input.
     */
    public static boolean fitsParts(int k, int partCount, int threads) {
        return partCount > 0 && partCount <= MAX_PARTS && k <= threads;
    }

    /**
     * Thread {@code t < k}'s input of the summed row, {@code x[t] + (partBias[t] + parts[t] + parts[k + t] + …)}, into
     * {@code summed[t]} (and {@code sum[t]} in block 0): its up to {@link #MAX_PARTS} loads in flight at once, then added
     * in order. A block barrier ends it.
     */
    static void sumParts(KernelContext ctx, float[] summed, FloatArray x, FloatArray parts, FloatArray partBias, int partCount, FloatArray sum, int k) {
        int t = ctx.localIdx();
        if (t < k) {
            float p1 = 0f, p2 = 0f, p3 = 0f, p4 = 0f, p5 = 0f, p6 = 0f, p7 = 0f, p8 = 0f, p9 = 0f, p10 = 0f, p11 = 0f, p12 = 0f, p13 = 0f, p14 = 0f, p15 = 0f;
            float xv = x.get(t), pb = partBias.get(t), p0 = parts.get(t);
            if (partCount > 1) p1 = parts.get(k + t);
            if (partCount > 2) p2 = parts.get(2 * k + t);
            if (partCount > 3) p3 = parts.get(3 * k + t);
            if (partCount > 4) p4 = parts.get(4 * k + t);
            if (partCount > 5) p5 = parts.get(5 * k + t);
            if (partCount > 6) p6 = parts.get(6 * k + t);
            if (partCount > 7) p7 = parts.get(7 * k + t);
            if (partCount > 8) p8 = parts.get(8 * k + t);
            if (partCount > 9) p9 = parts.get(9 * k + t);
            if (partCount > 10) p10 = parts.get(10 * k + t);
            if (partCount > 11) p11 = parts.get(11 * k + t);
            if (partCount > 12) p12 = parts.get(12 * k + t);
            if (partCount > 13) p13 = parts.get(13 * k + t);
            if (partCount > 14) p14 = parts.get(14 * k + t);
            if (partCount > 15) p15 = parts.get(15 * k + t);
            float s = pb + p0;
            if (partCount > 1) s += p1;
            if (partCount > 2) s += p2;
            if (partCount > 3) s += p3;
            if (partCount > 4) s += p4;
            if (partCount > 5) s += p5;
            if (partCount > 6) s += p6;
            if (partCount > 7) s += p7;
            if (partCount > 8) s += p8;
            if (partCount > 9) s += p9;
            if (partCount > 10) s += p10;
            if (partCount > 11) s += p11;
            if (partCount > 12) s += p12;
            if (partCount > 13) s += p13;
            if (partCount > 14) s += p14;
            if (partCount > 15) s += p15;
            float xe = xv + s;
            summed[t] = xe;
            if (ctx.groupIdx() == 0) sum.set(t, xe);
        }
        ctx.barrier();
    }

    /**
     * {@link #loadRow} of the row in {@code summed} (shared memory, {@code k ≤} the block's threads, so one piece): thread
     * {@code t}'s inputs {@code 4t …} into {@code v[0..3]} (zeros past {@code k}), LayerNorm'd with {@code norm != 0} by
     * {@link #rowStats}' statistics (shifted by the row's first input, one block reduction), γ and β already loaded.
     */
    static void loadSummedRow(KernelContext ctx, float[] red, float[] v, float[] summed, int norm, float eps, int k,
                              float g0, float g1, float g2, float g3, float e0, float e1, float e2, float e3) {
        int tid = ctx.localIdx(), lane = tid & 31, warp = tid >> 5, a0 = tid << 2, warps = Math.min(ctx.localSizeX() >> 5, (k + 127) >> 7);
        boolean active = warp < warps, h0 = a0 < k;
        float x0 = 0f, x1 = 0f, x2 = 0f, x3 = 0f;
        if (active && h0) { x0 = summed[a0]; x1 = summed[a0 + 1]; x2 = summed[a0 + 2]; x3 = summed[a0 + 3]; }
        if (norm != 0) {
            float c = 0f, s1 = 0f, s2 = 0f;
            if (active) {
                if (norm != SkinnyGemmKernel.RMS_NORM) c = summed[0];   // RMSNorm: unshifted
                float d0 = h0 ? x0 - c : 0f, d1 = h0 ? x1 - c : 0f, d2 = h0 ? x2 - c : 0f, d3 = h0 ? x3 - c : 0f;
                s1 = SkinnyGemmKernel.warpSum(ctx, d0 + d1 + d2 + d3);
                s2 = SkinnyGemmKernel.warpSum(ctx, d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3);
                if (lane == 0) { red[warp] = s1; red[32 + warp] = s2; }
            }
            ctx.barrier();
            if (active) {
                s1 = SkinnyGemmKernel.warpSum(ctx, lane < warps ? red[lane] : 0f);
                s2 = SkinnyGemmKernel.warpSum(ctx, lane < warps ? red[32 + lane] : 0f);
                float m1 = norm == SkinnyGemmKernel.RMS_NORM ? 0f : s1 / k, mu = c + m1;   // RMSNorm: mean 0
                float inv = 1f / KernelMath.sqrt(Math.max(s2 / k - m1 * m1, 0f) + eps);
                x0 = h0 ? (x0 - mu) * inv * g0 + e0 : 0f;
                x1 = h0 ? (x1 - mu) * inv * g1 + e1 : 0f;
                x2 = h0 ? (x2 - mu) * inv * g2 + e2 : 0f;
                x3 = h0 ? (x3 - mu) * inv * g3 + e3 : 0f;
            }
        }
        v[0] = x0; v[1] = x1; v[2] = x2; v[3] = x3;
    }

    /**
     * {@link #stageHalves} ({@code layout} 0) or {@link #stageHalvesA16} ({@code 1 + int4Order}) of the row in
     * {@code summed} ({@link #sumParts}), by {@link #loadSummedRow}: the same places, zeros to the last batch's end.
     */
    static void stageSummed(KernelContext ctx, float[] red, float[] xs, float[] summed, int norm, float eps, int k, int layout,
                            float g0, float g1, float g2, float g3, float e0, float e1, float e2, float e3) {
        int tid = ctx.localIdx(), a0 = tid << 2, end = layout == 0 ? (k + 1023) & ~1023 : (k + 2047) & ~2047;
        float[] v = new float[4];   // registers: inputs 4t … 4t + 3
        loadSummedRow(ctx, red, v, summed, norm, eps, k, g0, g1, g2, g3, e0, e1, e2, e3);
        if (a0 < end && layout == 0) { half(xs, a0, v[0]); half(xs, a0 + 1, v[1]); half(xs, a0 + 2, v[2]); half(xs, a0 + 3, v[3]); }
        if (a0 < end && layout != 0) {
            int o = layout - 1;
            halfA16(xs, a0, v[0], o); halfA16(xs, a0 + 1, v[1], o); halfA16(xs, a0 + 2, v[2], o); halfA16(xs, a0 + 3, v[3], o);
        }
        ctx.barrier();
    }

    /**
     * The row (its LayerNorm with {@code norm != 0}) rounded to halves into {@code xs}, batch {@code p} of 1024 inputs at
     * {@code 1024p} with input {@code j} of it at {@code (j mod 8)·128 + j/8} ({@link SkinnyGemmKernel#chunkDot}'s order);
     * inputs past {@code k} up to the batch's end are 0.
     */
    static void stageHalves(KernelContext ctx, float[] red, float[] xs, FloatArray x, int norm, boolean gated, FloatArray gamma, FloatArray beta, float eps, int k,
                            float g0, float g1, float g2, float g3, float e0, float e1, float e2, float e3) {
        // Warps past the last batch's end (128 inputs a warp in the first piece) skip the staging but for its barriers.
        int tid = ctx.localIdx(), a0 = tid << 2, a1 = a0 + 4096, end = (k + 1023) & ~1023, warps = Math.min(32, end >> 7);
        float[] v = new float[8];   // registers: elements 4t … 4t + 3, then 4096 + 4t …
        loadRow(ctx, red, v, x, norm, gated, gamma, beta, eps, k, warps, g0, g1, g2, g3, e0, e1, e2, e3);
        if ((tid >> 5) < warps) {   // zeros up to the end of the last batch
            if (a0 < end) { half(xs, a0, v[0]); half(xs, a0 + 1, v[1]); half(xs, a0 + 2, v[2]); half(xs, a0 + 3, v[3]); }
            if (a1 < end) { half(xs, a1, v[4]); half(xs, a1 + 1, v[5]); half(xs, a1 + 2, v[6]); half(xs, a1 + 3, v[7]); }
        }
        ctx.barrier();
    }

    static void half(float[] xs, int i, float v) {
        xs[halfSlot(i)] = Float.float16ToFloat(Float.floatToFloat16(v));
    }

    /** Where input {@code i} of a row staged as halves goes: element {@code t} of 8-input chunk {@code c} of a batch (1024 inputs) at {@code 128·t + c}. */
    static int halfSlot(int i) {
        int j = i & 1023;
        return (i & ~1023) + ((j & 7) << 7) + (j >> 3);
    }

    /**
     * Where word {@code g} of the row's codes (elements 4g … 4g + 3) goes: INT8, {@link SkinnyGemmKernel#int8ChunkDot}'s
     * order within each piece of 1024 words; INT4 ({@code int4Order != 0}), {@link #pieceDot16}'s: the codes of
     * {@link Int4Words} weight word {@code j} (chunk {@code c = j / 4} of 32 inputs, its word {@code m = j mod 4}; low
     * nibbles 4g … with {@code g mod 8 < 4}, high ones after) in batch {@code c / 64} (512 words), at
     * {@code 128·(2·piece + m / 2) + 4·(c mod 32) + 2·(m mod 2) + nibble} within it, piece {@code (c / 32) mod 2} — so
     * that a lane's four 16-byte reads each meet a warp reading 512 contiguous bytes.
     */
    static int codeWord(int g, int int4Order) {
        if (int4Order == 0) return ((g >> 10) << 10) + ((g & 3) << 8) + ((g >> 2) & 255);
        int c = g >> 3, u = g & 7;
        return ((c >> 6) << 9) + (((((c >> 5) & 1) << 1) + ((u >> 1) & 1)) << 7) + ((c & 31) << 2) + ((u & 1) << 1) + (u >> 2);
    }

    /**
     * A column's sum from its slices' warp sums ({@code v}, in each slice's lanes): with one slice, {@code v}; else the
     * slices past the first leave theirs in {@code part} (half {@code pass mod 2}: the next pass writes the other half, so
     * one barrier a pass will do) and the first slice's lanes add them in slice order. Every warp of the block calls it.
     */
    static float sliceSum(KernelContext ctx, float[] part, int pass, int slices, int slice, float v) {
        if (slices == 1) return v;
        int at = ((pass & 1) << 5) + (ctx.localIdx() >> 5);
        if (slice != 0 && (ctx.localIdx() & 31) == 0) part[at] = v;
        ctx.barrier();
        if (slice == 0) for (int i = 1; i < slices; i++) v += part[at + i];
        return v;
    }

    /**
     * What both stagings start with: thread {@code t}'s elements {@code 4t …} and {@code 4096 + 4t …} of the row into
     * {@code v[0..7]} (a local array: registers; 0 past {@code k} and in the warps past the first {@code warps}, which skip
     * the work but meet the barrier), under the LayerNorm with {@code norm != 0} (γ and β of the first piece already
     * loaded, {@code g*}, {@code e*}; the statistics from {@link #rowStats}), or its RMSNorm; with {@code gated}
     * ({@link SkinnyGemmKernel#SWIGLU}; a constant at every kernel entry, so that ptxas drops the code where it is false)
     * the row is {@code 2k} long and its inputs are {@code silu(x[i])·x[k + i]}.
     */
    static void loadRow(KernelContext ctx, float[] red, float[] v, FloatArray x, int norm, boolean gated, FloatArray gamma, FloatArray beta, float eps, int k,
                        int warps, float g0, float g1, float g2, float g3, float e0, float e1, float e2, float e3) {
        loadRow(ctx, red, v, x, norm, gated, gamma, beta, eps, k, warps, 4096, g0, g1, g2, g3, e0, e1, e2, e3);
    }

    /** {@link #loadRow} with the second piece at {@code second} (four inputs a thread of the block: 4·threads). */
    static void loadRow(KernelContext ctx, float[] red, float[] v, FloatArray x, int norm, boolean gated, FloatArray gamma, FloatArray beta, float eps, int k,
                        int warps, int second, float g0, float g1, float g2, float g3, float e0, float e1, float e2, float e3) {
        loadRow(ctx, red, v, x, 0, norm, gated, gamma, beta, eps, k, warps, second, g0, g1, g2, g3, e0, e1, e2, e3);
    }

    /** {@link #loadRow} of the row that starts at {@code x[base]} (one of several: {@link DecoderRowKernels#quantizeRowsWide}). */
    static void loadRow(KernelContext ctx, float[] red, float[] v, FloatArray x, int base, int norm, boolean gated, FloatArray gamma, FloatArray beta, float eps, int k,
                        int warps, int second, float g0, float g1, float g2, float g3, float e0, float e1, float e2, float e3) {
        int a0 = ctx.localIdx() << 2, a1 = a0 + second;
        boolean active = (ctx.localIdx() >> 5) < warps, h0 = a0 < k, h1 = a1 < k;
        float x00 = 0f, x01 = 0f, x02 = 0f, x03 = 0f, x10 = 0f, x11 = 0f, x12 = 0f, x13 = 0f;
        if (active) {
            if (h0) { x00 = x.get(base + a0); x01 = x.get(base + a0 + 1); x02 = x.get(base + a0 + 2); x03 = x.get(base + a0 + 3); }
            if (h1) { x10 = x.get(base + a1); x11 = x.get(base + a1 + 1); x12 = x.get(base + a1 + 2); x13 = x.get(base + a1 + 3); }
        }
        if (gated && active) {   // x[base …] the gates, x[base + k …] the ups: the input silu(gate)·up
            if (h0) {
                float u0 = x.get(base + k + a0), u1 = x.get(base + k + a0 + 1), u2 = x.get(base + k + a0 + 2), u3 = x.get(base + k + a0 + 3);
                x00 = LlamaRowKernels.gated(x00, u0); x01 = LlamaRowKernels.gated(x01, u1);
                x02 = LlamaRowKernels.gated(x02, u2); x03 = LlamaRowKernels.gated(x03, u3);
            }
            if (h1) {
                float u0 = x.get(base + k + a1), u1 = x.get(base + k + a1 + 1), u2 = x.get(base + k + a1 + 2), u3 = x.get(base + k + a1 + 3);
                x10 = LlamaRowKernels.gated(x10, u0); x11 = LlamaRowKernels.gated(x11, u1);
                x12 = LlamaRowKernels.gated(x12, u2); x13 = LlamaRowKernels.gated(x13, u3);
            }
        }
        if (SkinnyGemmKernel.normalises(norm)) {
            float[] st = new float[3];   // registers: the shift, S₁, S₂
            rowStats(ctx, red, st, x, base, norm, active, h0, h1, x00, x01, x02, x03, x10, x11, x12, x13, warps);
            ctx.traceMark(1);   // traced runs: the row's statistics summed
            if (active) {   // the idle warps only meet the barrier: their divisions (of zeros) took the slow path of IEEE division
                float m1 = norm == SkinnyGemmKernel.RMS_NORM ? 0f : st[1] / k, mu = st[0] + m1;   // RMSNorm: shift 0, mean 0
                float inv = 1f / KernelMath.sqrt(Math.max(st[2] / k - m1 * m1, 0f) + eps);
                x00 = h0 ? (x00 - mu) * inv * g0 + e0 : 0f;
                x01 = h0 ? (x01 - mu) * inv * g1 + e1 : 0f;
                x02 = h0 ? (x02 - mu) * inv * g2 + e2 : 0f;
                x03 = h0 ? (x03 - mu) * inv * g3 + e3 : 0f;
                x10 = h1 ? (x10 - mu) * inv * gamma.get(a1) + beta.get(a1) : 0f;
                x11 = h1 ? (x11 - mu) * inv * gamma.get(a1 + 1) + beta.get(a1 + 1) : 0f;
                x12 = h1 ? (x12 - mu) * inv * gamma.get(a1 + 2) + beta.get(a1 + 2) : 0f;
                x13 = h1 ? (x13 - mu) * inv * gamma.get(a1 + 3) + beta.get(a1 + 3) : 0f;
            }
        }
        v[0] = x00; v[1] = x01; v[2] = x02; v[3] = x03;
        v[4] = x10; v[5] = x11; v[6] = x12; v[7] = x13;
        ctx.traceMark(2);   // traced runs: the row in registers (normalised)
    }

    /**
     * The LayerNorm's statistics in one block reduction (the two-pass form took two, a barrier each): each thread's
     * elements shifted by the row's first, {@code c}, their sum and sum of squares, so that {@code mean = c + S₁/k} and
     * {@code var = S₂/k − (S₁/k)²}. The shift bounds the cancellation: {@code (x₀ − mean)² ≤ k·var}, so the variance is
     * within about {@code (k + 1)·ε} of itself relatively (5·10⁻⁵ at K = 768), where the unshifted form loses everything
     * to a large mean. {@code c}, S₁ and S₂ into {@code st[0..2]} (a local array: registers) in the active warps; slots 0
     * and 1 of {@code red}, one barrier. {@link SkinnyGemmKernel#RMS_NORM} sums unshifted ({@code c = 0}): its callers take
     * the mean as 0 and {@code S₂/k} as the mean square.
     */
    static void rowStats(KernelContext ctx, float[] red, float[] st, FloatArray x, int base, int norm, boolean active, boolean h0, boolean h1,
                         float x00, float x01, float x02, float x03, float x10, float x11, float x12, float x13, int warps) {
        int lane = ctx.localIdx() & 31, warp = ctx.localIdx() >> 5;
        float s1 = 0f, s2 = 0f, c = 0f;
        if (active) {
            if (norm != SkinnyGemmKernel.RMS_NORM) c = x.get(base);   // RMSNorm: no shift, S₂ the sum of squares itself
            float d0 = h0 ? x00 - c : 0f, d1 = h0 ? x01 - c : 0f, d2 = h0 ? x02 - c : 0f, d3 = h0 ? x03 - c : 0f;
            float d4 = h1 ? x10 - c : 0f, d5 = h1 ? x11 - c : 0f, d6 = h1 ? x12 - c : 0f, d7 = h1 ? x13 - c : 0f;
            s1 = SkinnyGemmKernel.warpSum(ctx, d0 + d1 + d2 + d3 + d4 + d5 + d6 + d7);
            s2 = SkinnyGemmKernel.warpSum(ctx, d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3 + d4 * d4 + d5 * d5 + d6 * d6 + d7 * d7);
            if (lane == 0) { red[warp] = s1; red[32 + warp] = s2; }
        }
        ctx.barrier();
        if (active) {
            s1 = SkinnyGemmKernel.warpSum(ctx, lane < warps ? red[lane] : 0f);
            s2 = SkinnyGemmKernel.warpSum(ctx, lane < warps ? red[32 + lane] : 0f);
        }
        st[0] = c;
        st[1] = s1;
        st[2] = s2;
    }

    /**
     * The block's maximum of values ≥ 0 over its first {@code warps} warps, in each of their threads (0 in the others, which
     * only meet the barrier): warp maxima into slot {@code slot} of {@code red}, then taken by every active warp (NaN if
     * any thread holds NaN).
     */
    static float blockMax32(KernelContext ctx, float[] red, int slot, float v, int warps) {
        int at = slot << 5, lane = ctx.localIdx() & 31;
        boolean active = (ctx.localIdx() >> 5) < warps;
        if (active) {
            v = SkinnyGemmKernel.warpMax(ctx, v);
            if (lane == 0) red[at + (ctx.localIdx() >> 5)] = v;
        }
        ctx.barrier();
        return active ? SkinnyGemmKernel.warpMax(ctx, lane < warps ? red[at + lane] : 0f) : 0f;
    }

    /** Asks L2 for batches {@code from}, {@code from + slices}, … of a weight row of {@code words} ints at {@code base}, a 128-byte line a lane. */
    static void prefetchBatches(KernelContext ctx, IntArray w, int base, int words, int batchWords, int from, int slices, int lane) {
        for (int at = from * batchWords + (lane << 5); at < words; at += 32 << 5) {
            int inBatch = (at - from * batchWords) % (slices * batchWords);   // skips the other slices' batches
            if (inBatch < batchWords) ctx.prefetchL2(w, base + at);
        }
    }

    /** log2 of a power of two (slices: 1 … 32), from its float's exponent bits rather than a loop. */
    static int log2(int v) { return (Float.floatToRawIntBits((float) v) >> 23) - 127; }
}
