package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;

/**
 * Weight-only W8A16 {@code y = x·Wᵀ + b} for one activation row (a decode step at batch 1) on the tensor cores. On the
 * CUDA cores ({@link WideGemvKernel#int8a16}) each code cost about seven instructions — two shifts, the exact
 * conversion, a shared load of its half, a multiply and an add — and a GPT-2 projection, whose weights stream in under a
 * microsecond, spent longer issuing them than the FP16 kernel did its four (H200: W8A16 11.6 ms for 49 steps against
 * W16A16's 10.2). Here one {@code mma.m16n8k16} takes 8 rows × 16 codes: a lane converts four codes to halves exactly
 * (a byte permute and a half subtraction a pair, {@link PrefillGemmKernel#halvesOfBytes}), and the row's halves come
 * as the A operand, the same in all 16 rows of A, so every row of D is the 8 outputs — about two instructions a code.
 * <p>
 * The order of K inside a step is ours to choose, as long as A and B agree: lane {@code 4g + t} loads 16 bytes of
 * weight row {@code g} of the warp's 8 — codes {@code 16t … 16t + 15} of a block of 64 — and step {@code s} of the block
 * takes its word {@code s}, codes {@code 16t + 4s … + 3}, as the B registers of its fragment columns
 * {@code 2t, 2t + 1, 2t + 8, 2t + 9}. So the weights are the plain row-major codes of {@link WideGemvKernel#int8} and
 * {@link SkinnyGemmKernel#int8a16} (no copy in another order), loaded 16 bytes a lane; the row is staged once a block as
 * packed halves in the order that lets one {@code ldmatrix.x4} give a lane the A registers of two steps
 * ({@link #stagedAt}). A block of 64 lies in one group (groups of multiples of 64): its four steps' FP32 sums fold
 * under the group's scales, as the prefill kernel's do.
 * <p>
 * The schedule is much as {@link WideGemvKernel}'s: blocks of 1024 threads (or 512 for rows of up to 4096 inputs, so
 * that two blocks fit an SM's registers), the row (and its LayerNorm) staged once a block; a warp's unit is a tile of 8 outputs and a <em>batch</em> of 128 inputs (1 KiB of weights), the first one in
 * flight before the wait for the previous kernel, the tile's next batches asked of L2 then; a tile's batches may be split
 * over {@code slices} warps of a block, whose sums meet in shared memory and are added in slice order.
 */
public final class MmaGemvKernel {
    private MmaGemvKernel() {}

    /** The longest row: two staged pieces of 4096 inputs, four a thread each of a block of 1024. */
    public static final int MAX_K = 8192;
    /** Inputs a warp's batch covers: two blocks of 64. */
    public static final int BATCH = 128;
    /** {@code 0x6480} twice: the halves {@code 1024 + 128}, taken from {@code 1024 + (code + 128)} to leave the code. */
    static final int MINUS = 0x64806480;

    /** Whether it takes rows of {@code k} inputs in groups of {@code groupSize}: blocks of 64 inputs in one group. */
    public static boolean fits(int k, int groupSize) {
        return k > 0 && k <= MAX_K && k % 64 == 0 && groupSize > 0 && groupSize % 64 == 0 && k % groupSize == 0;
    }

    /**
     * Whether {@link #int4a16} takes rows of {@code k} INT4 inputs in groups of {@code groupSize}: whole batches of 128
     * inputs, groups of whole 32-code chunks ({@link Int4Words}).
     */
    public static boolean fits4(int k, int groupSize) {
        return k > 0 && k <= MAX_K && k % BATCH == 0 && groupSize > 0 && groupSize % 32 == 0 && k % groupSize == 0;
    }

    /**
     * The block size for rows of {@code k}: {@code preferred} (512 or 1024) where its threads stage the row (8 inputs
     * each), else 1024.
     */
    public static int threads(int k, int preferred) {
        if (preferred != 512 && preferred != 1024) throw new IllegalArgumentException("blocks of 512 or 1024 threads, not " + preferred);
        return k <= 8 * preferred ? preferred : 1024;
    }

    /**
     * Warps a tile's batches are split over: as many as it has batches (up to a block's warps) where the tiles times that
     * fit the warps of {@code blocks} blocks of {@code threads} — then every warp's one batch is in flight before the wait
     * for the previous kernel, and none comes from L2 after it (on the H200 a second batch a warp, from L2, cost more than
     * the split saved) — else as many as fit.
     */
    public static int slices(int n, int k, int blocks, int threads) {
        int batches = Math.ceilDiv(k, BATCH), tiles = Math.ceilDiv(n, 8), warps = threads >> 5;
        for (int s = Math.min(batches, warps); s > 1; s--) if (tiles <= (long) blocks * (warps / s)) return s;
        return 1;
    }

    /**
     * Whether every warp of the launch ({@link #slices}, {@link #grid}) takes at most one batch of a row of {@code k}:
     * where {@link #int4a16} pays. Its batch is 16 bytes a lane, half of {@link #int8a16}'s, so a warp with more batches
     * than the one in flight before the wait streams the rest with half the bytes in flight: on the H200, GPT-2's
     * projections (one batch a warp) ran faster on it than on {@link WideGemvKernel#int4a16}, GPT-3 1.3B's MLP (four a
     * warp) slower (bench/RESULTS.md, twelfth round).
     */
    public static boolean oneBatchAWarp(int n, int k, int blocks, int threads) {
        int batches = Math.ceilDiv(k, BATCH), s = slices(n, k, blocks, threads);
        return s == batches && (long) Math.ceilDiv(n, 8) * s <= (long) blocks * (threads >> 5);
    }

    /**
     * The launch: as few blocks of {@code threads} as hold every tile's slices in one pass, at most {@code blocks}; the
     * tiles are dealt out across them. Few blocks, not a tile an SM: a block of 1024 threads (64 registers each) fills its
     * SM's registers, so the next kernel's blocks start their loads before the wait only on the SMs this one leaves free
     * (GPT-2 W8A16 on the H200, 49 steps: 11.2 ms spread over every SM, 10.2 packed).
     */
    public static Grid grid(int n, int slices, int blocks, int threads) {
        if (blocks <= 0 || slices <= 0 || slices > threads >> 5 || threads != 512 && threads != 1024)
            throw new IllegalArgumentException("blocks must be positive, blocks of 512 or 1024 threads and slices up to their warps, not " + blocks
                    + ", " + threads + " and " + slices);
        return new Grid(Math.min(blocks, Math.ceilDiv(Math.ceilDiv(n, 8), (threads >> 5) / slices)), 1, threads, 1);
    }

    /**
     * INT8 codes (K/4 ints a row) with group scales {@code sw[N, K/groupSize]}; the row (its LayerNorm with
     * {@code norm != 0}) rounded to FP16; {@code mode} as {@link SkinnyGemmKernel#finish}, {@link SkinnyGemmKernel#ADD}
     * adding to {@code residual[col]} (the output {@code y} itself, or another buffer). The results follow
     * {@link SkinnyGemmKernel#int8a16}'s within float rounding: the same exact products, summed in another order.
     * <p>
     * With {@code partCount > 0} ({@link WideGemvKernel#fitsParts}) the row is {@code x + (partBias + parts[0] + … + parts[partCount−1])},
     * each part {@code k} long, added in that order — the attention's out-projection parts ({@link CachedAttentionKernel#attendStep16}
     * with {@code outRows > 0}) and that projection's bias: the residual stream after the attention, which block 0 also
     * writes to {@code rowOut} for the MLP's second projection to add to.
     */
    @Kernel(maxRegisters = 64)
    public static void int8a16(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                               FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode, int slices, FloatArray residual, FloatArray parts,
                               FloatArray partBias, int partCount, FloatArray rowOut) {
        project(ctx, x, norm, gamma, beta, eps, w, sw, bias, y, n, k, groupSize, mode, slices, residual, parts, partBias, partCount, rowOut, 0, false);
    }

    /** {@link #int8a16} on rows of gates and ups, its input {@code silu(gate)·up} ({@link SkinnyGemmKernel#SWIGLU}: a LLaMA's down projection). */
    @Kernel(maxRegisters = 64)
    public static void int8a16Gated(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                                    FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode, int slices, FloatArray residual, FloatArray parts,
                                    FloatArray partBias, int partCount, FloatArray rowOut) {
        project(ctx, x, norm, gamma, beta, eps, w, sw, bias, y, n, k, groupSize, mode, slices, residual, parts, partBias, partCount, rowOut, 0, true);
    }

    /**
     * {@link #int8a16} for INT4 codes in {@link Int4Words}' order (K/8 ints a row; W4A16, the MLP of W4/8A16): a warp's
     * batch is again 8 rows × 128 inputs, four 32-code chunks, lane {@code 4g + t} holding word {@code t} of each (four
     * 4-byte loads: the quad's lanes read a chunk's 16 bytes together), whose low nibbles are the B fragment of the chunk's
     * first {@code mma} step and its high nibbles the second's — so each step's 16 inputs lie in one chunk, one group.
     * A nibble becomes a half as a byte does ({@code code + 8} in the mantissa of {@code 1024 + …}, then
     * {@code 1024 + 8} subtracted); the row is staged in the order that matches ({@link #stagedAt4}).
     */
    @Kernel(maxRegisters = 64)
    public static void int4a16(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                               FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode, int slices, FloatArray residual, FloatArray parts,
                               FloatArray partBias, int partCount, FloatArray rowOut) {
        project(ctx, x, norm, gamma, beta, eps, w, sw, bias, y, n, k, groupSize, mode, slices, residual, parts, partBias, partCount, rowOut, 1, false);
    }

    /** {@link #int4a16} on rows of gates and ups, its input {@code silu(gate)·up} ({@link SkinnyGemmKernel#SWIGLU}: a LLaMA's down projection). */
    @Kernel(maxRegisters = 64)
    public static void int4a16Gated(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                                    FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode, int slices, FloatArray residual, FloatArray parts,
                                    FloatArray partBias, int partCount, FloatArray rowOut) {
        project(ctx, x, norm, gamma, beta, eps, w, sw, bias, y, n, k, groupSize, mode, slices, residual, parts, partBias, partCount, rowOut, 1, true);
    }

    /** Both kernels' body: INT8 codes ({@code int4 = 0}) or INT4 ({@code 1}; a constant at each kernel, folded by ptxas). */
    static void project(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray w, FloatArray sw,
                        FloatArray bias, FloatArray y, int n, int k, int groupSize, int mode, int slices, FloatArray residual, FloatArray parts,
                        FloatArray partBias, int partCount, FloatArray rowOut, int int4, boolean gated) {
        int tid = ctx.localIdx(), lane = tid & 31, t = lane & 3, words = int4 != 0 ? k >> 3 : k >> 2, gShift = SkinnyGemmKernel.groupShift(groupSize);
        int groups = SkinnyGemmKernel.groupCount(k, groupSize, gShift), blocks64 = k >> 6;
        int tiles = (n + 7) >> 3, batches = (k + BATCH - 1) >> 7, wt = (tid >> 5) / slices, slice = (tid >> 5) - wt * slices;
        // Tiles dealt out across the blocks (block b takes b, b + blocks, …, its warps' tiles a pass that far apart).
        // Warps past the last whole tile of slices (warps mod slices of them) have none: their tile is past the last.
        int perPass = (ctx.localSizeX() >> 5) / slices, blocks = ctx.numGroupsX();
        int tile = wt < perPass ? ctx.groupIdx() + blocks * wt : tiles;
        int[] q = new int[4], r = new int[8];   // registers: the lane's 16 bytes of each of the batch's two blocks (INT4: a word of each chunk)
        float[] sc = new float[8];              // and the scales of its two outputs in each (INT4: in each chunk)
        float b0 = 0f, b1 = 0f;
        if (tile < tiles && slice < batches) {
            if (int4 != 0) loadBatch4(r, sc, w, sw, tile, slice, n, words, groups, groupSize, gShift, lane);
            else loadBatch(ctx, q, r, sc, w, sw, tile, slice, n, words, groups, blocks64, groupSize, gShift, lane);
        }
        if (tile < tiles) {
            int c = (tile << 3) + (t << 1);
            if (slice == 0 && lane < 4) { b0 = c < n ? bias.get(c) : 0f; b1 = c + 1 < n ? bias.get(c + 1) : 0f; }
            prefetchBatches(ctx, w, tile, slice + slices, slices, batches, n, words, int4 != 0 ? 4 : 5, lane);
        }
        float g0 = 0f, g1 = 0f, g2 = 0f, g3 = 0f, e0 = 0f, e1 = 0f, e2 = 0f, e3 = 0f;   // γ and β of elements 4·tid …
        if (SkinnyGemmKernel.normalises(norm) && (tid << 2) < k) {
            int e = tid << 2;
            g0 = gamma.get(e); g1 = gamma.get(e + 1); g2 = gamma.get(e + 2); g3 = gamma.get(e + 3);
            e0 = beta.get(e); e1 = beta.get(e + 1); e2 = beta.get(e + 2); e3 = beta.get(e + 3);
        }
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();
        // The first pass's residuals (the previous kernels' output) requested now, so that they arrive under the staging.
        boolean writer = tile < tiles && slice == 0 && lane < 4;
        int c0 = (tile << 3) + (t << 1);
        float resid0 = mode == SkinnyGemmKernel.ADD && writer && c0 < n ? residual.get(c0) : 0f;
        float resid1 = mode == SkinnyGemmKernel.ADD && writer && c0 + 1 < n ? residual.get(c0 + 1) : 0f;
        int[] xs = ctx.allocateIntShared(4096);   // the row (up to 8192 inputs) as packed halves, in stagedAt's order
        float[] red = ctx.allocateFloatShared(96), part = ctx.allocateFloatShared(512), summed = ctx.allocateFloatShared(1024);
        if (partCount > 0) {
            WideGemvKernel.sumParts(ctx, summed, x, parts, partBias, partCount, rowOut, k);
            stageSummedHalves(ctx, red, xs, summed, norm, eps, k, int4, g0, g1, g2, g3, e0, e1, e2, e3);
        } else stageHalves(ctx, red, xs, x, norm, gated, gamma, beta, eps, k, int4, g0, g1, g2, g3, e0, e1, e2, e3);
        int[] frag = new int[4], frag2 = new int[4];
        float[] acc = new float[4], acc2 = new float[4];
        int pass = 0;
        for (int pbase = 0; ctx.groupIdx() + blocks * pbase < tiles; pbase += perPass) {   // uniform: the block's passes
            tile = wt < perPass ? ctx.groupIdx() + blocks * (pbase + wt) : tiles;
            boolean live = tile < tiles;
            writer = live && slice == 0 && lane < 4;
            c0 = (tile << 3) + (t << 1);
            if (pass > 0) {
                resid0 = mode == SkinnyGemmKernel.ADD && writer && c0 < n ? residual.get(c0) : 0f;
                resid1 = mode == SkinnyGemmKernel.ADD && writer && c0 + 1 < n ? residual.get(c0 + 1) : 0f;
                b0 = writer && c0 < n ? bias.get(c0) : 0f;
                b1 = writer && c0 + 1 < n ? bias.get(c0 + 1) : 0f;
            }
            float f0 = 0f, f1 = 0f;
            for (int bb = slice; live && bb < batches; bb += slices) {   // uniform in the warp
                if (int4 != 0) {
                    if (pass > 0 || bb != slice) loadBatch4(r, sc, w, sw, tile, bb, n, words, groups, groupSize, gShift, lane);
                    int at = (bb << 6) + ((lane >> 3) << 2);   // chunk j's two steps at 16j: an ldmatrix4 each
                    chunkPairSums(ctx, xs, frag, frag2, acc, acc2, at, r[0], r[1]);
                    f0 += sc[0] * acc[0];
                    f1 += sc[1] * acc[1];
                    f0 += sc[2] * acc2[0];
                    f1 += sc[3] * acc2[1];
                    chunkPairSums(ctx, xs, frag, frag2, acc, acc2, at + 32, r[2], r[3]);
                    f0 += sc[4] * acc[0];
                    f1 += sc[5] * acc[1];
                    f0 += sc[6] * acc2[0];
                    f1 += sc[7] * acc2[1];
                    continue;
                }
                if (pass > 0 || bb != slice) loadBatch(ctx, q, r, sc, w, sw, tile, bb, n, words, groups, blocks64, groupSize, gShift, lane);
                int kb = bb << 1;
                if (kb + 1 < blocks64) {   // two blocks: their mma chains interleaved, each step's latency under the other's
                    pairSums(ctx, xs, frag, frag2, acc, acc2, kb, lane, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
                    f0 += sc[0] * acc[0];
                    f1 += sc[1] * acc[1];
                    f0 += sc[2] * acc2[0];
                    f1 += sc[3] * acc2[1];
                } else {
                    blockSums(ctx, xs, frag, acc, kb, lane, r[0], r[1], r[2], r[3]);
                    f0 += sc[0] * acc[0];
                    f1 += sc[1] * acc[1];
                }
            }
            if (slices > 1) {   // the slices' sums meet in shared memory (half pass mod 2: one barrier a pass will do)
                int at = ((pass & 1) << 8) + ((tid >> 5) << 3) + (t << 1);
                if (slice != 0 && lane < 4) { part[at] = f0; part[at + 1] = f1; }
                ctx.barrier();
                if (live && slice == 0) for (int i = 1; i < slices; i++) { f0 += part[at + (i << 3)]; f1 += part[at + (i << 3) + 1]; }
            }
            if (writer && c0 < n) SkinnyGemmKernel.finish(y, c0, f0 + b0, resid0, mode);
            if (writer && c0 + 1 < n) SkinnyGemmKernel.finish(y, c0 + 1, f1 + b1, resid1, mode);
            pass++;
        }
    }

    /**
     * Block {@code kb} (64 inputs) of the warp's 8 rows, the lane's codes {@code w0 … w3}: four {@code mma} steps into
     * {@code acc}, from zero; {@code acc[0]}, {@code acc[1]} are then outputs {@code 2t}, {@code 2t + 1} of the tile's 8.
     */
    static void blockSums(KernelContext ctx, int[] xs, int[] frag, float[] acc, int kb, int lane, int w0, int w1, int w2, int w3) {
        acc[0] = 0f; acc[1] = 0f; acc[2] = 0f; acc[3] = 0f;
        int at = (kb << 5) + ((lane >> 3) << 2);   // matrix j of the x4: all 8 rows the 4 words of (step, half) j
        ctx.ldmatrix4(frag, xs, at);
        step(ctx, acc, frag[0], frag[1], w0);
        step(ctx, acc, frag[2], frag[3], w1);
        ctx.ldmatrix4(frag, xs, at + 16);
        step(ctx, acc, frag[0], frag[1], w2);
        step(ctx, acc, frag[2], frag[3], w3);
    }

    /** {@link #blockSums} of blocks {@code kb} (codes {@code u*}) into {@code acc} and {@code kb + 1} ({@code v*}) into {@code acc2}, interleaved. */
    static void pairSums(KernelContext ctx, int[] xs, int[] frag, int[] frag2, float[] acc, float[] acc2, int kb, int lane, int u0, int u1, int u2,
                         int u3, int v0, int v1, int v2, int v3) {
        acc[0] = 0f; acc[1] = 0f; acc[2] = 0f; acc[3] = 0f;
        acc2[0] = 0f; acc2[1] = 0f; acc2[2] = 0f; acc2[3] = 0f;
        int at = (kb << 5) + ((lane >> 3) << 2);
        ctx.ldmatrix4(frag, xs, at);
        ctx.ldmatrix4(frag2, xs, at + 32);
        step(ctx, acc, frag[0], frag[1], u0);
        step(ctx, acc2, frag2[0], frag2[1], v0);
        step(ctx, acc, frag[2], frag[3], u1);
        step(ctx, acc2, frag2[2], frag2[3], v1);
        ctx.ldmatrix4(frag, xs, at + 16);
        ctx.ldmatrix4(frag2, xs, at + 48);
        step(ctx, acc, frag[0], frag[1], u2);
        step(ctx, acc2, frag2[0], frag2[1], v2);
        step(ctx, acc, frag[2], frag[3], u3);
        step(ctx, acc2, frag2[2], frag2[3], v3);
    }

    /**
     * Two INT4 chunks' sums, interleaved: chunk words {@code u} into {@code acc} and {@code v} into {@code acc2}, each two
     * {@code mma} steps (its low nibbles, then its high), the A registers of chunk j's steps from one {@code ldmatrix.x4}
     * at {@code at + 16j}. {@code acc[0]}, {@code acc[1]} are then outputs {@code 2t}, {@code 2t + 1} of the tile's 8.
     */
    static void chunkPairSums(KernelContext ctx, int[] xs, int[] frag, int[] frag2, float[] acc, float[] acc2, int at, int u, int v) {
        acc[0] = 0f; acc[1] = 0f; acc[2] = 0f; acc[3] = 0f;
        acc2[0] = 0f; acc2[1] = 0f; acc2[2] = 0f; acc2[3] = 0f;
        int fu = u ^ 0x88888888, fv = v ^ 0x88888888;   // each nibble now code + 8
        ctx.ldmatrix4(frag, xs, at);
        ctx.ldmatrix4(frag2, xs, at + 16);
        nibbleStep(ctx, acc, frag[0], frag[1], fu & 0x0F0F0F0F);
        nibbleStep(ctx, acc2, frag2[0], frag2[1], fv & 0x0F0F0F0F);
        nibbleStep(ctx, acc, frag[2], frag[3], (fu >>> 4) & 0x0F0F0F0F);
        nibbleStep(ctx, acc2, frag2[2], frag2[3], (fv >>> 4) & 0x0F0F0F0F);
    }

    /** {@link #step} for four INT4 codes, each {@code code + 8} in a byte of {@code u}. */
    static void nibbleStep(KernelContext ctx, float[] acc, int lo, int hi, int u) {
        ctx.mmaF16(acc, lo, lo, hi, hi, PrefillGemmKernel.halvesOfBytes(u, 0x4140, 0x64086408), PrefillGemmKernel.halvesOfBytes(u, 0x4342, 0x64086408));
    }

    /**
     * The lane's share of INT4 batch {@code bb} of tile {@code tile}: word {@code t} of each of the batch's four chunks of
     * row {@code 8·tile + g} (zeros past the rows) into {@code r[0..3]}, and the scales of outputs {@code 8·tile + 2t},
     * {@code + 1} in each chunk's group into {@code sc[2j]}, {@code sc[2j + 1]}.
     */
    static void loadBatch4(int[] r, float[] sc, IntArray w, FloatArray sw, int tile, int bb, int n, int words, int groups, int groupSize, int gShift,
                           int lane) {
        int row = (tile << 3) + (lane >> 2), t = lane & 3, c = (tile << 3) + (t << 1);
        int at = row * words + (bb << 4) + t;
        r[0] = 0; r[1] = 0; r[2] = 0; r[3] = 0;
        sc[0] = 0f; sc[1] = 0f; sc[2] = 0f; sc[3] = 0f; sc[4] = 0f; sc[5] = 0f; sc[6] = 0f; sc[7] = 0f;
        if (row < n) { r[0] = w.get(at); r[1] = w.get(at + 4); r[2] = w.get(at + 8); r[3] = w.get(at + 12); }
        int e = bb << 7, g0 = SkinnyGemmKernel.groupOf(e, groupSize, gShift), g1 = SkinnyGemmKernel.groupOf(e + 32, groupSize, gShift);
        int g2 = SkinnyGemmKernel.groupOf(e + 64, groupSize, gShift), g3 = SkinnyGemmKernel.groupOf(e + 96, groupSize, gShift);
        if (c < n) { int s = c * groups; sc[0] = sw.get(s + g0); sc[2] = sw.get(s + g1); sc[4] = sw.get(s + g2); sc[6] = sw.get(s + g3); }
        if (c + 1 < n) { int s = (c + 1) * groups; sc[1] = sw.get(s + g0); sc[3] = sw.get(s + g1); sc[5] = sw.get(s + g2); sc[7] = sw.get(s + g3); }
    }

    /** One step: A's rows all {@code lo} (columns 2t, 2t+1) and {@code hi} (2t+8, 2t+9); B the four codes of {@code word}. */
    static void step(KernelContext ctx, float[] acc, int lo, int hi, int word) {
        int u = word ^ 0x80808080;   // codes + 128, unsigned, into the mantissas of 1024 + u
        ctx.mmaF16(acc, lo, lo, hi, hi, PrefillGemmKernel.halvesOfBytes(u, 0x4140, MINUS), PrefillGemmKernel.halvesOfBytes(u, 0x4342, MINUS));
    }

    /**
     * The lane's share of batch {@code bb} of tile {@code tile}: row {@code 8·tile + g}'s 16 bytes at {@code 16t} of each
     * of the batch's two blocks of 64 (zeros past the rows and the blocks), and the scales of outputs {@code 8·tile + 2t},
     * {@code + 1} in each block's group.
     */
    static void loadBatch(KernelContext ctx, int[] q, int[] r, float[] sc, IntArray w, FloatArray sw, int tile, int bb, int n, int words, int groups,
                          int blocks64, int groupSize, int gShift, int lane) {
        int row = (tile << 3) + (lane >> 2), t = lane & 3, kb = bb << 1, c = (tile << 3) + (t << 1);
        int at = row * words + (kb << 4) + (t << 2);
        r[0] = 0; r[1] = 0; r[2] = 0; r[3] = 0; r[4] = 0; r[5] = 0; r[6] = 0; r[7] = 0;   // constant indices: registers
        sc[0] = 0f; sc[1] = 0f; sc[2] = 0f; sc[3] = 0f;
        boolean two = kb + 1 < blocks64;
        if (row < n) {
            ctx.load4(q, w, at); r[0] = q[0]; r[1] = q[1]; r[2] = q[2]; r[3] = q[3];
            if (two) { ctx.load4(q, w, at + 16); r[4] = q[0]; r[5] = q[1]; r[6] = q[2]; r[7] = q[3]; }
        }
        int g0 = SkinnyGemmKernel.groupOf(kb << 6, groupSize, gShift), g1 = SkinnyGemmKernel.groupOf((kb + 1) << 6, groupSize, gShift);
        if (c < n) { sc[0] = sw.get(c * groups + g0); if (two) sc[2] = sw.get(c * groups + g1); }
        if (c + 1 < n) { sc[1] = sw.get((c + 1) * groups + g0); if (two) sc[3] = sw.get((c + 1) * groups + g1); }
    }

    /**
     * Asks L2 for batches {@code from}, {@code from + slices}, … of the tile's 8 rows, a row's batch ({@code 1 << batchShift}
     * words: 128 bytes of INT8, 64 of INT4) a lane.
     */
    static void prefetchBatches(KernelContext ctx, IntArray w, int tile, int from, int slices, int batches, int n, int words, int batchShift, int lane) {
        int row = (tile << 3) + (lane & 7);
        if (row < n)
            for (int bb = from + slices * (lane >> 3); bb < batches; bb += slices << 2) ctx.prefetchL2(w, row * words + (bb << batchShift));
    }

    /**
     * The row (LayerNorm'd with {@code norm != 0}) rounded to FP16, two halves an int, pair {@code i} (elements
     * {@code 2i}, {@code 2i + 1}) at {@link #stagedAt}; thread {@code t} of {@code T} holds elements {@code 4t …} and {@code 4T + 4t …}.
     */
    static void stageHalves(KernelContext ctx, float[] red, int[] xs, FloatArray x, int norm, boolean gated, FloatArray gamma, FloatArray beta, float eps, int k,
                            int int4, float g0, float g1, float g2, float g3, float e0, float e1, float e2, float e3) {
        int tid = ctx.localIdx(), second = ctx.localSizeX() << 2, a0 = tid << 2, a1 = a0 + second;
        int warps = Math.min(ctx.localSizeX() >> 5, (k + 127) >> 7);
        float[] v = new float[8];   // registers: elements 4t … 4t + 3, then 4T + 4t …
        WideGemvKernel.loadRow(ctx, red, v, x, norm, gated, gamma, beta, eps, k, warps, second, g0, g1, g2, g3, e0, e1, e2, e3);
        if ((tid >> 5) < warps) {
            int p = tid << 1;
            if (a0 < k) { xs[stagedAt(p, int4)] = Epilogue.packHalves(v[0], v[1]); xs[stagedAt(p + 1, int4)] = Epilogue.packHalves(v[2], v[3]); }
            int p1 = p + (second >> 1);
            if (a1 < k) { xs[stagedAt(p1, int4)] = Epilogue.packHalves(v[4], v[5]); xs[stagedAt(p1 + 1, int4)] = Epilogue.packHalves(v[6], v[7]); }
        }
        ctx.barrier();
    }

    /**
     * {@link #stageHalves} of the row in {@code summed} ({@link WideGemvKernel#sumParts}; {@code k ≤} the block's
     * threads, so only the first piece), LayerNorm'd by {@link WideGemvKernel#loadSummedRow}.
     */
    static void stageSummedHalves(KernelContext ctx, float[] red, int[] xs, float[] summed, int norm, float eps, int k, int int4,
                                  float g0, float g1, float g2, float g3, float e0, float e1, float e2, float e3) {
        int tid = ctx.localIdx();
        float[] v = new float[4];   // registers: inputs 4t … 4t + 3
        WideGemvKernel.loadSummedRow(ctx, red, v, summed, norm, eps, k, g0, g1, g2, g3, e0, e1, e2, e3);
        if ((tid << 2) < k) {
            int p = tid << 1;
            xs[stagedAt(p, int4)] = Epilogue.packHalves(v[0], v[1]);
            xs[stagedAt(p + 1, int4)] = Epilogue.packHalves(v[2], v[3]);
        }
        ctx.barrier();
    }

    /**
     * Where pair {@code i} goes: in its block of 64 inputs (32 pairs) pair {@code q = 8t + 2s + h} — the inputs lane
     * {@code t} needs for step {@code s}, the lower ({@code h = 0}) or upper columns of its fragment — at
     * {@code 4·(2s + h) + t}, so that the four lanes of a (step, half) find theirs in one 16-byte row of an {@code ldmatrix}.
     */
    static int stagedAt(int i) {
        return (i & ~31) + ((i & 7) << 2) + ((i & 31) >> 3);
    }

    /** {@link #stagedAt} for INT8 ({@code int4 = 0}) or {@link #stagedAt4}. */
    static int stagedAt(int i, int int4) { return int4 != 0 ? stagedAt4(i) : stagedAt(i); }

    /**
     * Where pair {@code i} goes for {@link #int4a16}: inputs {@code e = 2i, 2i + 1}, in batch {@code b} (128 inputs) chunk
     * {@code j}, nibble half {@code h} (the chunk's step), lane {@code t}'s four and its A half {@code a} —
     * {@code e = 128b + 32j + 16h + 4t + 2a} — at {@code 64b + 16j + 8h + 4a + t}: chunk j's two steps' four 16-byte rows
     * (low and high A half of each) in one {@code ldmatrix.x4}.
     */
    static int stagedAt4(int i) {
        int e = i << 1;
        return ((e >> 7) << 6) + (((e >> 5) & 3) << 4) + (((e >> 4) & 1) << 3) + (((e >> 1) & 1) << 2) + ((e >> 2) & 3);
    }
}
