package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;
import dev.zq.runtime.KernelMath;

/**
 * {@code y = x·Wᵀ + b} on tensor cores for many activation rows (a prompt: batch × prompt length), over the decoder's
 * FP32 rows and with its epilogues ({@link SkinnyGemmKernel#STORE}, {@link SkinnyGemmKernel#GELU_TANH},
 * {@link SkinnyGemmKernel#ADD}). The few-row {@link SkinnyGemmKernel} reads every weight once per 8 rows; here a
 * 64×64 tile of the output reuses each staged weight 64 times. Three weight formats, the skinny kernel's:
 * <ul>
 * <li>{@link #int8}: group-wise INT8 weights, token-wise INT8 activation codes {@code a} with row scales {@code sx}
 * ({@link DecoderRowKernels#quantizeRows}): W8A8 on {@code mma.m16n8k32.s8}.</li>
 * <li>{@link #int4}: group-wise INT4 weights in {@link Int4Words}' order, unpacked in registers to the {@code mma}'s
 * B fragments: W4A8 on the same instruction.</li>
 * <li>{@link #fp16}: FP16 weights, activations rounded to FP16 ({@link DecoderRowKernels#halfRows}): W16A16 on
 * {@code mma.m16n8k16.f16}, FP32 accumulation.</li>
 * </ul>
 * Group-wise scales vary along K, so the integer kernels cannot scale once at the end as the per-row
 * {@link Int8GemmKernel} does: each 16×8 tile sums one group exactly in INT32, then folds it into an FP32 accumulator
 * under the group's weight scale ({@code f += S_w[n][g]·acc; acc = 0}; {@link #fold}); the token's scale, the bias and the
 * epilogue come last. The group size must be a multiple of 32 (one {@code mma} step) and divide K. The integer kernels
 * also write FP16 rows ({@link #int8Halves}, {@link #int4Halves}: a BERT encoder's group-wise projections, its exact GeLU).
 *
 * <p>The tile is {@link Int8GemmKernel#gemm64w}'s: 4 warps of 32×32, four 64-byte slices of K in flight
 * ({@code cp.async}) in swizzled shared memory, {@code ldmatrix} fragments; optionally K split over blocks
 * ({@link #splits}). Launch {@link #grid}; N and K multiples of 64 (K/splits too); the activation operand has {@link #paddedRows}{@code (m)} rows (rows past {@code m} are read, never stored).
 */
public final class PrefillGemmKernel {
    private PrefillGemmKernel() {}

    /** Rows of the activation operand for {@code m} rows of output: a whole number of 64-row tiles. */
    public static int paddedRows(int m) { return Math.ceilDiv(m, 64) * 64; }

    /** The launch for {@code m} rows and {@code n} output features, K in {@code splits} slices. */
    public static Grid grid(int m, int n, int splits) { return Grid.of((paddedRows(m) / 64) * (n / 64) * splits, 128); }

    /**
     * How many slices of K to spread an {@code m × n × k} product over: few output tiles (a few rows, a narrow output)
     * leave most of the GPU idle while each block walks a long K, so K is split, each slice a multiple of 64 and at least
     * {@link #MIN_SLICE} long. Each block stores its part in {@code partials} (a 64×64 tile per block: {@link #grid}'s
     * blocks × 4096 floats), and the last of an output tile's blocks to finish, counted in {@code arrivals} (one zeroed int
     * per output tile, left zeroed), adds them in slice order and applies the epilogue ({@link #addSlices}): the same bits
     * on every run and on the CPU.
     * <ul>
     * <li>One row of tiles ({@code m ≤ 64}: a decode step of a batch, a short prompt), every epilogue, until about
     * {@link #FEW_ROW_BLOCKS} blocks (about two an SM) or 16 slices: one row of tiles is 32–128 blocks at GPT-3 1.3B's
     * shapes, each walking the whole K alone. On the H200, 49 decode steps of 1.3B at batch 16 took 5% (W8A8+head8) to 7%
     * (W16A16) less time than with the accumulating epilogue alone split (to 128 blocks); 512 blocks were slower than that
     * (the last block's sum of up to 16 slices' parts ends every launch; bench/RESULTS.md, session 34).</li>
     * <li>More rows: only the accumulating epilogue ({@link SkinnyGemmKernel#ADD}, the residual projections), until about
     * 128 blocks.</li>
     * </ul>
     */
    public static int splits(int m, int n, int k, int mode) { return splits(m, n, k, mode, FEW_ROW_BLOCKS); }

    /** {@link #splits} aiming at {@code fewRowBlocks} blocks for one row of tiles (0: as for more rows). */
    static int splits(int m, int n, int k, int mode, int fewRowBlocks) {
        int tiles = (paddedRows(m) / 64) * (n / 64), s = 1;
        boolean fewRows = paddedRows(m) == 64 && fewRowBlocks > 0;
        if (mode != SkinnyGemmKernel.ADD && !fewRows) return 1;
        int blocks = fewRows ? fewRowBlocks : 128, most = fewRows ? 16 : 8;
        while (s < most && tiles * s < blocks && k % (128 * s) == 0 && k / (2 * s) >= MIN_SLICE) s *= 2;
        return s;
    }

    /**
     * {@link #splits} for an epilogue that is not split otherwise (an encoder's: every output tile at once): K in slices until
     * about 128 blocks, as {@link #splits} does for the accumulating one at more than one row of tiles.
     */
    public static int splitsToFill(int m, int n, int k) { return splits(m, n, k, SkinnyGemmKernel.ADD, 0); }

    /**
     * The blocks {@link #splits} aims at for one row of output tiles; {@code -Dzq.prefill.fewRowBlocks=N} sets another,
     * 0 splits such products as larger ones (only the accumulating epilogue, to about 128 blocks).
     */
    static final int FEW_ROW_BLOCKS = Integer.getInteger("zq.prefill.fewRowBlocks", 256);

    /** The shortest slice of K {@link #splits} makes; {@code -Dzq.prefill.minSlice=N} sets another (e.g. to measure it). */
    static final int MIN_SLICE = Integer.getInteger("zq.prefill.minSlice", 256);

    /** INT8 codes {@code w} (K/4 ints per row) with scales {@code sw[N, K/groupSize]}; codes {@code a} (K/4 ints per row). */
    @Kernel
    public static void int8(KernelContext ctx, IntArray a, FloatArray sx, IntArray w, FloatArray sw, FloatArray bias, FloatArray y,
                            int m, int n, int k, int groupSize, int mode, int splits, FloatArray partials, IntArray arrivals) {
        int8Tile(ctx, a, sx, w, sw, bias, y, arrivals, m, n, k, groupSize, mode, splits, partials, arrivals, false);   // no FP16 output: arrivals stands in
    }

    /**
     * {@link #int8} writing FP16 rows {@code y} (two halves an int; {@link #storeOutputs}), GeLU'd ({@link Epilogue#gelu},
     * BERT's exact one) where {@code gelu} is 1: a BERT encoder's group-wise W8A8 projections.
     */
    @Kernel
    public static void int8Halves(KernelContext ctx, IntArray a, FloatArray sx, IntArray w, FloatArray sw, FloatArray bias, IntArray y,
                                  int m, int n, int k, int groupSize, int gelu, int splits, FloatArray partials, IntArray arrivals) {
        int8Tile(ctx, a, sx, w, sw, bias, partials, y, m, n, k, groupSize, gelu, splits, partials, arrivals, true);   // no FP32 output: partials stands in
    }

    /**
     * {@link #int8}'s and {@link #int8Halves}' body: the output to {@code y} (FP32, epilogue {@code mode}) or, where
     * {@code halves} (a constant at each entry), to {@code yh} as FP16 pairs ({@code mode} then 1 for GeLU, 0 not).
     */
    static void int8Tile(KernelContext ctx, IntArray a, FloatArray sx, IntArray w, FloatArray sw, FloatArray bias, FloatArray y, IntArray yh,
                         int m, int n, int k, int groupSize, int mode, int splits, FloatArray partials, IntArray arrivals, boolean halves) {
        ctx.awaitPreviousKernel();
        int[] as = ctx.allocateIntShared(4096);   // 4 stages × 64 rows × 16 words
        int[] ws = ctx.allocateIntShared(4096);
        int tid = ctx.localIdx(), split = ctx.groupIdx() % splits, block = ctx.groupIdx() / splits;
        int blocksN = n >> 6, kPer = k / splits, k0 = split * kPer;   // this block's output tile and slice of K
        int bm = (block / blocksN) << 6, bn = (block - (block / blocksN) * blocksN) << 6;
        int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
        int wm = (warp >> 1) << 5, wn = (warp & 1) << 5;   // each warp: 32×32, 2 m-tiles × 4 n-tiles
        int kw = k >> 2, stages = kPer >> 6, groups = k / groupSize;
        int[] c00 = new int[4], c01 = new int[4], c02 = new int[4], c03 = new int[4];
        int[] c10 = new int[4], c11 = new int[4], c12 = new int[4], c13 = new int[4];
        float[] f00 = new float[4], f01 = new float[4], f02 = new float[4], f03 = new float[4];
        float[] f10 = new float[4], f11 = new float[4], f12 = new float[4], f13 = new float[4];
        int[] a0 = new int[4], a1 = new int[4], b0 = new int[4], b1 = new int[4];
        int aRow = Swizzle.aRow(wm, lane), bRow = Swizzle.bRow(wn, lane);
        int aOff0 = Swizzle.aChunk(lane, 0), aOff1 = Swizzle.aChunk(lane, 1), bOff0 = Swizzle.bChunk(lane, 0), bOff1 = Swizzle.bChunk(lane, 1);
        // Copies: chunk (tid & 3) of rows (tid >> 2) and (tid >> 2) + 32, of A and of W.
        int row = tid >> 2, dst = Swizzle.copyTarget(tid);
        int srcA = (bm + row) * kw + (k0 >> 2) + ((tid & 3) << 2), srcW = (bn + row) * kw + (k0 >> 2) + ((tid & 3) << 2);
        int scales = (bn + wn + (t << 1)) * groups;   // this lane's first column's scales; column c + 8j is 8j·groups further
        boolean small = groupSize <= 128;            // a group's sum then stays below 2^22 in magnitude: see exactFloat
        // The group being summed, the mma steps (32 of K) left in it, and its scales for this lane's 8 columns: counted,
        // not divided, in the loop, and fetched once per group.
        int perGroup = groupSize >> 5, group = k0 / groupSize, left = perGroup - ((k0 - group * groupSize) >> 5);
        float[] gs = new float[8];
        loadScales(sw, scales + group, groups, gs);
        boolean rows0 = bm + row < m, rows1 = bm + row + 32 < m, tile0 = bm + wm < m, tile1 = bm + wm + 16 < m;
        stage16(ctx, as, ws, a, w, dst, srcA, srcW, kw, 0, rows0, rows1);
        stage16(ctx, as, ws, a, w, 1024 + dst, srcA, srcW, kw, Math.min(1, stages - 1) << 4, rows0, rows1);
        stage16(ctx, as, ws, a, w, 2048 + dst, srcA, srcW, kw, Math.min(2, stages - 1) << 4, rows0, rows1);
        int buf = 0, next = 3072;
        for (int s = 0; s < stages; s++) {
            ctx.copyAsyncWait(2);
            ctx.barrier();   // stage s has landed for every thread, and stage s - 1 is no longer read
            stage16(ctx, as, ws, a, w, next + dst, srcA, srcW, kw, Math.min(s + 3, stages - 1) << 4, rows0, rows1);
            for (int step = 0; step < 2; step++) {
                int aOff = step == 0 ? aOff0 : aOff1, bOff = step == 0 ? bOff0 : bOff1;
                if (tile0) {   // m-tiles wholly past the last row skip their work (a few decoding rows fill one)
                    ctx.ldmatrix4(a0, as, buf + aRow + aOff);
                    ctx.ldmatrix4(b0, ws, buf + bRow + bOff);
                    ctx.ldmatrix4(b1, ws, buf + bRow + 256 + bOff);
                    Int8GemmKernel.quarterS8(ctx, c00, c01, c02, c03, a0, b0, b1);
                    if (tile1) {
                        ctx.ldmatrix4(a1, as, buf + aRow + 256 + aOff);
                        Int8GemmKernel.quarterS8(ctx, c10, c11, c12, c13, a1, b0, b1);
                    }
                }
                left -= 1;
                if (left == 0) {   // the group ends with this step: fold it, fetch the next group's scales
                    if (tile0) foldQuarter(c00, c01, c02, c03, f00, f01, f02, f03, gs, small);
                    if (tile1) foldQuarter(c10, c11, c12, c13, f10, f11, f12, f13, gs, small);
                    group += 1;
                    left = perGroup;
                    if (group < groups) loadScales(sw, scales + group, groups, gs);
                }
            }
            buf = buf == 3072 ? 0 : buf + 1024;
            next = next == 3072 ? 0 : next + 1024;
        }
        ctx.copyAsyncWait(0);
        // A slice of K may end inside a group: fold its partial sums too.
        if (left != perGroup && tile0) foldQuarter(c00, c01, c02, c03, f00, f01, f02, f03, gs, small);
        if (left != perGroup && tile1) foldQuarter(c10, c11, c12, c13, f10, f11, f12, f13, gs, small);
        storeOutputs(ctx, f00, f01, f02, f03, f10, f11, f12, f13, sx, bias, y, yh, bm + wm + g, bn + wn + (t << 1), m, n, mode, split, splits, partials,
                arrivals, block, halves);
    }

    /**
     * INT4 codes {@code w} in {@link Int4Words}' order (K/8 ints per row) with scales {@code sw[N, K/groupSize]}; codes
     * {@code a} (K/4 ints per row). Each lane reads one weight word per n-tile and {@code mma} step and unpacks its low
     * and high nibbles into the two B fragment registers.
     */
    @Kernel
    public static void int4(KernelContext ctx, IntArray a, FloatArray sx, IntArray w, FloatArray sw, FloatArray bias, FloatArray y,
                            int m, int n, int k, int groupSize, int mode, int splits, FloatArray partials, IntArray arrivals) {
        int4Tile(ctx, a, sx, w, sw, bias, y, arrivals, m, n, k, groupSize, mode, splits, partials, arrivals, false);   // no FP16 output: arrivals stands in
    }

    /** {@link #int4} writing FP16 rows, GeLU'd where {@code gelu} is 1, as {@link #int8Halves}: a BERT encoder's W4A8 projections. */
    @Kernel
    public static void int4Halves(KernelContext ctx, IntArray a, FloatArray sx, IntArray w, FloatArray sw, FloatArray bias, IntArray y,
                                  int m, int n, int k, int groupSize, int gelu, int splits, FloatArray partials, IntArray arrivals) {
        int4Tile(ctx, a, sx, w, sw, bias, partials, y, m, n, k, groupSize, gelu, splits, partials, arrivals, true);   // no FP32 output: partials stands in
    }

    /** {@link #int4}'s and {@link #int4Halves}' body, as {@link #int8Tile}'s. */
    static void int4Tile(KernelContext ctx, IntArray a, FloatArray sx, IntArray w, FloatArray sw, FloatArray bias, FloatArray y, IntArray yh,
                         int m, int n, int k, int groupSize, int mode, int splits, FloatArray partials, IntArray arrivals, boolean halves) {
        ctx.awaitPreviousKernel();
        int[] as = ctx.allocateIntShared(4096);   // 4 stages × 64 rows × 16 words
        int[] ws = ctx.allocateIntShared(2048);   // 4 stages × 64 rows × 8 words
        int tid = ctx.localIdx(), split = ctx.groupIdx() % splits, block = ctx.groupIdx() / splits;
        int blocksN = n >> 6, kPer = k / splits, k0 = split * kPer;   // this block's output tile and slice of K
        int bm = (block / blocksN) << 6, bn = (block - (block / blocksN) * blocksN) << 6;
        int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
        int wm = (warp >> 1) << 5, wn = (warp & 1) << 5;
        int kw = k >> 2, kw4 = k >> 3, stages = kPer >> 6, groups = k / groupSize;
        int[] c00 = new int[4], c01 = new int[4], c02 = new int[4], c03 = new int[4];
        int[] c10 = new int[4], c11 = new int[4], c12 = new int[4], c13 = new int[4];
        float[] f00 = new float[4], f01 = new float[4], f02 = new float[4], f03 = new float[4];
        float[] f10 = new float[4], f11 = new float[4], f12 = new float[4], f13 = new float[4];
        int[] a0 = new int[4], a1 = new int[4];
        int aRow = Swizzle.aRow(wm, lane), aOff0 = Swizzle.aChunk(lane, 0), aOff1 = Swizzle.aChunk(lane, 1);
        // W rows are 8 words (two 16-byte chunks) a stage; chunk c of row r sits at c ^ ((r >> 2) & 1), so that the 8 rows
        // × 4 words a warp reads in one step hit 32 banks. This lane reads word (step, t) of rows wn + 8j + g.
        int wRow = (wn + g) << 3, wsw = (g >> 2) & 1;
        int wOff0 = (wsw << 2) + t, wOff1 = ((1 ^ wsw) << 2) + t;
        // Copies: A as in int8; W chunk (tid & 1) of row (tid >> 1).
        int row = tid >> 2, dst = Swizzle.copyTarget(tid);
        int srcA = (bm + row) * kw + (k0 >> 2) + ((tid & 3) << 2);
        int wr = tid >> 1, dstW = (wr << 3) + (((tid & 1) ^ ((wr >> 2) & 1)) << 2), srcW = (bn + wr) * kw4 + (k0 >> 3) + ((tid & 1) << 2);
        int scales = (bn + wn + (t << 1)) * groups;
        boolean small = groupSize <= 128;
        int perGroup = groupSize >> 5, group = k0 / groupSize, left = perGroup - ((k0 - group * groupSize) >> 5);
        float[] gs = new float[8];
        loadScales(sw, scales + group, groups, gs);
        boolean rows0 = bm + row < m, rows1 = bm + row + 32 < m, tile0 = bm + wm < m, tile1 = bm + wm + 16 < m;
        stage4(ctx, as, ws, a, w, dst, dstW, srcA, srcW, kw, 0, rows0, rows1);
        stage4(ctx, as, ws, a, w, 1024 + dst, 512 + dstW, srcA, srcW, kw, Math.min(1, stages - 1), rows0, rows1);
        stage4(ctx, as, ws, a, w, 2048 + dst, 1024 + dstW, srcA, srcW, kw, Math.min(2, stages - 1), rows0, rows1);
        int buf = 0, next = 3;   // stage slots 0..3: A at slot·1024 words, W at slot·512
        for (int s = 0; s < stages; s++) {
            ctx.copyAsyncWait(2);
            ctx.barrier();
            stage4(ctx, as, ws, a, w, (next << 10) + dst, (next << 9) + dstW, srcA, srcW, kw, Math.min(s + 3, stages - 1), rows0, rows1);
            for (int step = 0; step < 2; step++) {
                int aOff = step == 0 ? aOff0 : aOff1, at = (buf << 9) + wRow + (step == 0 ? wOff0 : wOff1);
                if (tile0) {
                    ctx.ldmatrix4(a0, as, (buf << 10) + aRow + aOff);
                    int w0 = ws[at], w1 = ws[at + 64], w2 = ws[at + 128], w3 = ws[at + 192];
                    int lo0 = SkinnyGemmKernel.signedNibbles(w0 & 0x0F0F0F0F), hi0 = SkinnyGemmKernel.signedNibbles((w0 >>> 4) & 0x0F0F0F0F);
                    int lo1 = SkinnyGemmKernel.signedNibbles(w1 & 0x0F0F0F0F), hi1 = SkinnyGemmKernel.signedNibbles((w1 >>> 4) & 0x0F0F0F0F);
                    int lo2 = SkinnyGemmKernel.signedNibbles(w2 & 0x0F0F0F0F), hi2 = SkinnyGemmKernel.signedNibbles((w2 >>> 4) & 0x0F0F0F0F);
                    int lo3 = SkinnyGemmKernel.signedNibbles(w3 & 0x0F0F0F0F), hi3 = SkinnyGemmKernel.signedNibbles((w3 >>> 4) & 0x0F0F0F0F);
                    ctx.mmaS8(c00, a0[0], a0[1], a0[2], a0[3], lo0, hi0);
                    ctx.mmaS8(c01, a0[0], a0[1], a0[2], a0[3], lo1, hi1);
                    ctx.mmaS8(c02, a0[0], a0[1], a0[2], a0[3], lo2, hi2);
                    ctx.mmaS8(c03, a0[0], a0[1], a0[2], a0[3], lo3, hi3);
                    if (tile1) {
                        ctx.ldmatrix4(a1, as, (buf << 10) + aRow + 256 + aOff);
                        ctx.mmaS8(c10, a1[0], a1[1], a1[2], a1[3], lo0, hi0);
                        ctx.mmaS8(c11, a1[0], a1[1], a1[2], a1[3], lo1, hi1);
                        ctx.mmaS8(c12, a1[0], a1[1], a1[2], a1[3], lo2, hi2);
                        ctx.mmaS8(c13, a1[0], a1[1], a1[2], a1[3], lo3, hi3);
                    }
                }
                left -= 1;
                if (left == 0) {   // the group ends with this step: fold it, fetch the next group's scales
                    if (tile0) foldQuarter(c00, c01, c02, c03, f00, f01, f02, f03, gs, small);
                    if (tile1) foldQuarter(c10, c11, c12, c13, f10, f11, f12, f13, gs, small);
                    group += 1;
                    left = perGroup;
                    if (group < groups) loadScales(sw, scales + group, groups, gs);
                }
            }
            buf = buf == 3 ? 0 : buf + 1;
            next = next == 3 ? 0 : next + 1;
        }
        ctx.copyAsyncWait(0);
        // A slice of K may end inside a group: fold its partial sums too.
        if (left != perGroup && tile0) foldQuarter(c00, c01, c02, c03, f00, f01, f02, f03, gs, small);
        if (left != perGroup && tile1) foldQuarter(c10, c11, c12, c13, f10, f11, f12, f13, gs, small);
        storeOutputs(ctx, f00, f01, f02, f03, f10, f11, f12, f13, sx, bias, y, yh, bm + wm + g, bn + wn + (t << 1), m, n, mode, split, splits, partials,
                arrivals, block, halves);
    }

    /** FP16 weights {@code w} (K/2 ints per row, {@code HalfRows}' layout), FP16 activation rows {@code a} (K/2 ints per row). */
    @Kernel
    public static void fp16(KernelContext ctx, IntArray a, IntArray w, FloatArray bias, FloatArray y, int m, int n, int k, int mode, int splits, FloatArray partials, IntArray arrivals) {
        ctx.awaitPreviousKernel();
        int[] as = ctx.allocateIntShared(4096);   // 4 stages × 64 rows × 16 words
        int[] ws = ctx.allocateIntShared(4096);
        int tid = ctx.localIdx(), split = ctx.groupIdx() % splits, block = ctx.groupIdx() / splits;
        int blocksN = n >> 6, kPer = k / splits, k0 = split * kPer;   // this block's output tile and slice of K
        int bm = (block / blocksN) << 6, bn = (block - (block / blocksN) * blocksN) << 6;
        int warp = tid >> 5, lane = tid & 31;
        int wm = (warp >> 1) << 5, wn = (warp & 1) << 5;
        int kw = k >> 1, stages = kPer >> 5;
        float[] c00 = new float[4], c01 = new float[4], c02 = new float[4], c03 = new float[4];
        float[] c10 = new float[4], c11 = new float[4], c12 = new float[4], c13 = new float[4];
        int[] a0 = new int[4], a1 = new int[4], b0 = new int[4], b1 = new int[4];
        int aRow = Swizzle.aRow(wm, lane), bRow = Swizzle.bRow(wn, lane);
        int aOff0 = Swizzle.aChunk(lane, 0), aOff1 = Swizzle.aChunk(lane, 1), bOff0 = Swizzle.bChunk(lane, 0), bOff1 = Swizzle.bChunk(lane, 1);
        int row = tid >> 2, dst = Swizzle.copyTarget(tid);
        int srcA = (bm + row) * kw + (k0 >> 1) + ((tid & 3) << 2), srcW = (bn + row) * kw + (k0 >> 1) + ((tid & 3) << 2);
        boolean rows0 = bm + row < m, rows1 = bm + row + 32 < m, tile0 = bm + wm < m, tile1 = bm + wm + 16 < m;
        stage16(ctx, as, ws, a, w, dst, srcA, srcW, kw, 0, rows0, rows1);
        stage16(ctx, as, ws, a, w, 1024 + dst, srcA, srcW, kw, Math.min(1, stages - 1) << 4, rows0, rows1);
        stage16(ctx, as, ws, a, w, 2048 + dst, srcA, srcW, kw, Math.min(2, stages - 1) << 4, rows0, rows1);
        int buf = 0, next = 3072;
        for (int s = 0; s < stages; s++) {
            ctx.copyAsyncWait(2);
            ctx.barrier();
            stage16(ctx, as, ws, a, w, next + dst, srcA, srcW, kw, Math.min(s + 3, stages - 1) << 4, rows0, rows1);
            for (int step = 0; step < 2; step++) {
                int aOff = step == 0 ? aOff0 : aOff1, bOff = step == 0 ? bOff0 : bOff1;
                if (tile0) {
                    ctx.ldmatrix4(a0, as, buf + aRow + aOff);
                    ctx.ldmatrix4(b0, ws, buf + bRow + bOff);
                    ctx.ldmatrix4(b1, ws, buf + bRow + 256 + bOff);
                    Fp16GemmKernel.quarterF16(ctx, c00, c01, c02, c03, a0, b0, b1);
                    if (tile1) {
                        ctx.ldmatrix4(a1, as, buf + aRow + 256 + aOff);
                        Fp16GemmKernel.quarterF16(ctx, c10, c11, c12, c13, a1, b0, b1);
                    }
                }
            }
            buf = buf == 3072 ? 0 : buf + 1024;
            next = next == 3072 ? 0 : next + 1024;
        }
        ctx.copyAsyncWait(0);
        int g = lane >> 2, t = lane & 3, r = bm + wm + g, c = bn + wn + (t << 1);
        storeHalfQuarters(ctx, c00, c01, c02, c03, c10, c11, c12, c13, bias, y, r, c, m, n, mode, split, splits, partials,
                (block * splits + split) << 12);
        if (splits > 1 && ctx.arriveLast(arrivals, block, splits)) addSlices(partials, y, arrivals, block, splits, r, c, m, n, mode, false);
    }

    /**
     * Weight-only W8A16: INT8 codes {@code w} (K/4 ints per row, as {@link #int8}) with scales {@code sw[N, K/groupSize]},
     * FP16 activation rows {@code a} in {@link DecoderRowKernels#MMA_ORDER} (K/2 ints per row). The codes become halves in
     * registers, exactly ({@link #halvesOfBytes}), and go through {@code mma.m16n8k16.f16}; each group's FP32 sums fold
     * under its scales as in {@link #int8}. The activation order lets one weight word give a lane both B registers of a step.
     */
    @Kernel
    public static void int8a16(KernelContext ctx, IntArray a, IntArray w, FloatArray sw, FloatArray bias, FloatArray y,
                               int m, int n, int k, int groupSize, int mode, int splits, FloatArray partials, IntArray arrivals) {
        ctx.awaitPreviousKernel();
        int[] as = ctx.allocateIntShared(4096);   // 4 stages × 64 rows × 16 words (32 halves)
        int[] ws = ctx.allocateIntShared(2048);   // 4 stages × 64 rows × 8 words (32 codes)
        int tid = ctx.localIdx(), split = ctx.groupIdx() % splits, block = ctx.groupIdx() / splits;
        int blocksN = n >> 6, kPer = k / splits, k0 = split * kPer;
        int bm = (block / blocksN) << 6, bn = (block - (block / blocksN) * blocksN) << 6;
        int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
        int wm = (warp >> 1) << 5, wn = (warp & 1) << 5;
        int kh = k >> 1, kw = k >> 2, stages = kPer >> 5, groups = k / groupSize;
        float[] c00 = new float[4], c01 = new float[4], c02 = new float[4], c03 = new float[4];
        float[] c10 = new float[4], c11 = new float[4], c12 = new float[4], c13 = new float[4];
        float[] f00 = new float[4], f01 = new float[4], f02 = new float[4], f03 = new float[4];
        float[] f10 = new float[4], f11 = new float[4], f12 = new float[4], f13 = new float[4];
        int[] a0 = new int[4], a1 = new int[4];
        int aRow = Swizzle.aRow(wm, lane), aOff0 = Swizzle.aChunk(lane, 0), aOff1 = Swizzle.aChunk(lane, 1);
        // W rows of 8 words a stage, swizzled as in int4; this lane reads word 4·step + t of rows wn + 8j + g.
        int wRow = (wn + g) << 3, wsw = (g >> 2) & 1;
        int wOff0 = (wsw << 2) + t, wOff1 = ((1 ^ wsw) << 2) + t;
        int row = tid >> 2, dst = Swizzle.copyTarget(tid);
        int srcA = (bm + row) * kh + (k0 >> 1) + ((tid & 3) << 2);
        int wr = tid >> 1, dstW = (wr << 3) + (((tid & 1) ^ ((wr >> 2) & 1)) << 2), srcW = (bn + wr) * kw + (k0 >> 2) + ((tid & 1) << 2);
        int scales = (bn + wn + (t << 1)) * groups;
        int perGroup = groupSize >> 4, group = k0 / groupSize, left = perGroup - ((k0 - group * groupSize) >> 4);   // in mma steps of 16
        float[] gs = new float[8];
        loadScales(sw, scales + group, groups, gs);
        boolean rows0 = bm + row < m, rows1 = bm + row + 32 < m, tile0 = bm + wm < m, tile1 = bm + wm + 16 < m;
        stage4(ctx, as, ws, a, w, dst, dstW, srcA, srcW, kh, 0, rows0, rows1);
        stage4(ctx, as, ws, a, w, 1024 + dst, 512 + dstW, srcA, srcW, kh, Math.min(1, stages - 1), rows0, rows1);
        stage4(ctx, as, ws, a, w, 2048 + dst, 1024 + dstW, srcA, srcW, kh, Math.min(2, stages - 1), rows0, rows1);
        int buf = 0, next = 3;
        for (int s = 0; s < stages; s++) {
            ctx.copyAsyncWait(2);
            ctx.barrier();
            stage4(ctx, as, ws, a, w, (next << 10) + dst, (next << 9) + dstW, srcA, srcW, kh, Math.min(s + 3, stages - 1), rows0, rows1);
            for (int step = 0; step < 2; step++) {
                int aOff = step == 0 ? aOff0 : aOff1, at = (buf << 9) + wRow + (step == 0 ? wOff0 : wOff1);
                if (tile0) {
                    ctx.ldmatrix4(a0, as, (buf << 10) + aRow + aOff);
                    int u0 = ws[at] ^ 0x80808080, u1 = ws[at + 64] ^ 0x80808080, u2 = ws[at + 128] ^ 0x80808080, u3 = ws[at + 192] ^ 0x80808080;
                    int b00 = halvesOfBytes(u0, 0x4140, 0x64806480), b01 = halvesOfBytes(u0, 0x4342, 0x64806480);
                    int b10 = halvesOfBytes(u1, 0x4140, 0x64806480), b11 = halvesOfBytes(u1, 0x4342, 0x64806480);
                    int b20 = halvesOfBytes(u2, 0x4140, 0x64806480), b21 = halvesOfBytes(u2, 0x4342, 0x64806480);
                    int b30 = halvesOfBytes(u3, 0x4140, 0x64806480), b31 = halvesOfBytes(u3, 0x4342, 0x64806480);
                    mmaQuarter(ctx, c00, c01, c02, c03, a0, b00, b01, b10, b11, b20, b21, b30, b31);
                    if (tile1) {
                        ctx.ldmatrix4(a1, as, (buf << 10) + aRow + 256 + aOff);
                        mmaQuarter(ctx, c10, c11, c12, c13, a1, b00, b01, b10, b11, b20, b21, b30, b31);
                    }
                }
                left -= 1;
                if (left == 0) {
                    if (tile0) foldHalfQuarter(c00, c01, c02, c03, f00, f01, f02, f03, gs);
                    if (tile1) foldHalfQuarter(c10, c11, c12, c13, f10, f11, f12, f13, gs);
                    group += 1;
                    left = perGroup;
                    if (group < groups) loadScales(sw, scales + group, groups, gs);
                }
            }
            buf = buf == 3 ? 0 : buf + 1;
            next = next == 3 ? 0 : next + 1;
        }
        ctx.copyAsyncWait(0);
        if (left != perGroup && tile0) foldHalfQuarter(c00, c01, c02, c03, f00, f01, f02, f03, gs);
        if (left != perGroup && tile1) foldHalfQuarter(c10, c11, c12, c13, f10, f11, f12, f13, gs);
        storeHalfQuarters(ctx, f00, f01, f02, f03, f10, f11, f12, f13, bias, y, bm + wm + g, bn + wn + (t << 1), m, n, mode, split, splits, partials,
                (block * splits + split) << 12);
        if (splits > 1 && ctx.arriveLast(arrivals, block, splits)) addSlices(partials, y, arrivals, block, splits, bm + wm + g, bn + wn + (t << 1), m, n, mode, false);
    }

    /**
     * Weight-only W4A16: INT4 codes {@code w} in {@link Int4Words}' order (K/8 ints per row) with scales
     * {@code sw[N, K/groupSize]}, FP16 activation rows in {@link DecoderRowKernels#MMA_ORDER}. One weight word per lane,
     * n-tile and 32 of K holds both {@code mma} steps' B fragments: the low nibbles the first step's, the high the second's.
     */
    @Kernel
    public static void int4a16(KernelContext ctx, IntArray a, IntArray w, FloatArray sw, FloatArray bias, FloatArray y,
                               int m, int n, int k, int groupSize, int mode, int splits, FloatArray partials, IntArray arrivals) {
        ctx.awaitPreviousKernel();
        int[] as = ctx.allocateIntShared(4096);   // 4 stages × 64 rows × 16 words (32 halves)
        int[] ws = ctx.allocateIntShared(1024);   // 4 stages × 64 rows × 4 words (32 codes)
        int tid = ctx.localIdx(), split = ctx.groupIdx() % splits, block = ctx.groupIdx() / splits;
        int blocksN = n >> 6, kPer = k / splits, k0 = split * kPer;
        int bm = (block / blocksN) << 6, bn = (block - (block / blocksN) * blocksN) << 6;
        int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
        int wm = (warp >> 1) << 5, wn = (warp & 1) << 5;
        int kh = k >> 1, kw4 = k >> 3, stages = kPer >> 5, groups = k / groupSize;
        float[] c00 = new float[4], c01 = new float[4], c02 = new float[4], c03 = new float[4];
        float[] c10 = new float[4], c11 = new float[4], c12 = new float[4], c13 = new float[4];
        float[] f00 = new float[4], f01 = new float[4], f02 = new float[4], f03 = new float[4];
        float[] f10 = new float[4], f11 = new float[4], f12 = new float[4], f13 = new float[4];
        int[] a0 = new int[4], a1 = new int[4];
        int aRow = Swizzle.aRow(wm, lane), aOff0 = Swizzle.aChunk(lane, 0), aOff1 = Swizzle.aChunk(lane, 1);
        // W rows of 4 words (one 16-byte chunk) a stage: the 8 rows × 4 words a warp reads hit 32 banks unswizzled.
        int wAt = ((wn + g) << 2) + t;
        int row = tid >> 2, dst = Swizzle.copyTarget(tid);
        int srcA = (bm + row) * kh + (k0 >> 1) + ((tid & 3) << 2);
        boolean copiesW = tid < 64;   // one chunk for each of the 64 rows
        int dstW = (tid & 63) << 2, srcW = (bn + (tid & 63)) * kw4 + (k0 >> 3);
        int scales = (bn + wn + (t << 1)) * groups;
        int perGroup = groupSize >> 4, group = k0 / groupSize, left = perGroup - ((k0 - group * groupSize) >> 4);
        float[] gs = new float[8];
        loadScales(sw, scales + group, groups, gs);
        boolean rows0 = bm + row < m, rows1 = bm + row + 32 < m, tile0 = bm + wm < m, tile1 = bm + wm + 16 < m;
        stageA16(ctx, as, ws, a, w, dst, dstW, srcA, srcW, kh, 0, rows0, rows1, copiesW);
        stageA16(ctx, as, ws, a, w, 1024 + dst, 256 + dstW, srcA, srcW, kh, Math.min(1, stages - 1), rows0, rows1, copiesW);
        stageA16(ctx, as, ws, a, w, 2048 + dst, 512 + dstW, srcA, srcW, kh, Math.min(2, stages - 1), rows0, rows1, copiesW);
        int buf = 0, next = 3;
        for (int s = 0; s < stages; s++) {
            ctx.copyAsyncWait(2);
            ctx.barrier();
            stageA16(ctx, as, ws, a, w, (next << 10) + dst, (next << 8) + dstW, srcA, srcW, kh, Math.min(s + 3, stages - 1), rows0, rows1, copiesW);
            int at = (buf << 8) + wAt;
            int u0 = 0, u1 = 0, u2 = 0, u3 = 0;
            if (tile0) {   // loaded once for both steps: sign bits flipped, each nibble now code + 8
                u0 = ws[at] ^ 0x88888888;
                u1 = ws[at + 32] ^ 0x88888888;
                u2 = ws[at + 64] ^ 0x88888888;
                u3 = ws[at + 96] ^ 0x88888888;
            }
            for (int step = 0; step < 2; step++) {
                int aOff = step == 0 ? aOff0 : aOff1, shift = step << 2;
                if (tile0) {
                    ctx.ldmatrix4(a0, as, (buf << 10) + aRow + aOff);
                    int v0 = (u0 >>> shift) & 0x0F0F0F0F, v1 = (u1 >>> shift) & 0x0F0F0F0F, v2 = (u2 >>> shift) & 0x0F0F0F0F, v3 = (u3 >>> shift) & 0x0F0F0F0F;
                    int b00 = halvesOfBytes(v0, 0x4140, 0x64086408), b01 = halvesOfBytes(v0, 0x4342, 0x64086408);
                    int b10 = halvesOfBytes(v1, 0x4140, 0x64086408), b11 = halvesOfBytes(v1, 0x4342, 0x64086408);
                    int b20 = halvesOfBytes(v2, 0x4140, 0x64086408), b21 = halvesOfBytes(v2, 0x4342, 0x64086408);
                    int b30 = halvesOfBytes(v3, 0x4140, 0x64086408), b31 = halvesOfBytes(v3, 0x4342, 0x64086408);
                    mmaQuarter(ctx, c00, c01, c02, c03, a0, b00, b01, b10, b11, b20, b21, b30, b31);
                    if (tile1) {
                        ctx.ldmatrix4(a1, as, (buf << 10) + aRow + 256 + aOff);
                        mmaQuarter(ctx, c10, c11, c12, c13, a1, b00, b01, b10, b11, b20, b21, b30, b31);
                    }
                }
                left -= 1;
                if (left == 0) {
                    if (tile0) foldHalfQuarter(c00, c01, c02, c03, f00, f01, f02, f03, gs);
                    if (tile1) foldHalfQuarter(c10, c11, c12, c13, f10, f11, f12, f13, gs);
                    group += 1;
                    left = perGroup;
                    if (group < groups) loadScales(sw, scales + group, groups, gs);
                }
            }
            buf = buf == 3 ? 0 : buf + 1;
            next = next == 3 ? 0 : next + 1;
        }
        ctx.copyAsyncWait(0);
        if (left != perGroup && tile0) foldHalfQuarter(c00, c01, c02, c03, f00, f01, f02, f03, gs);
        if (left != perGroup && tile1) foldHalfQuarter(c10, c11, c12, c13, f10, f11, f12, f13, gs);
        storeHalfQuarters(ctx, f00, f01, f02, f03, f10, f11, f12, f13, bias, y, bm + wm + g, bn + wn + (t << 1), m, n, mode, split, splits, partials,
                (block * splits + split) << 12);
        if (splits > 1 && ctx.arriveLast(arrivals, block, splits)) addSlices(partials, y, arrivals, block, splits, bm + wm + g, bn + wn + (t << 1), m, n, mode, false);
    }

    // ------------------------------------------------------------------ helpers (inlined by the JIT)

    /**
     * One 64-byte slice of K ({@code k0}: its first word) of A and W, 64 rows each, two rows per thread 32 apart, as
     * {@code Staging.copy64x16} does; A rows past the last one ({@code rows0}, {@code rows1} false) are not copied: their
     * outputs are never stored, and a few decoding rows leave most of the tile empty.
     */
    static void stage16(KernelContext ctx, int[] as, int[] ws, IntArray a, IntArray w, int dst, int srcA, int srcW, int kw, int k0,
                        boolean rows0, boolean rows1) {
        if (rows0) ctx.copyAsync16(as, dst, a, srcA + k0);
        if (rows1) ctx.copyAsync16(as, dst + 512, a, srcA + 32 * kw + k0);
        ctx.copyAsync16(ws, dst, w, srcW + k0);
        ctx.copyAsync16(ws, dst + 512, w, srcW + 32 * kw + k0);
        ctx.copyAsyncCommit();
    }

    /** One 64-byte slice of K of A (as {@link #stage16}) and the matching 32 bytes of INT4 W (one chunk per thread). */
    static void stage4(KernelContext ctx, int[] as, int[] ws, IntArray a, IntArray w, int dstA, int dstW, int srcA, int srcW, int kw, int stage,
                       boolean rows0, boolean rows1) {
        if (rows0) ctx.copyAsync16(as, dstA, a, srcA + (stage << 4));
        if (rows1) ctx.copyAsync16(as, dstA + 512, a, srcA + 32 * kw + (stage << 4));
        ctx.copyAsync16(ws, dstW, w, srcW + (stage << 3));
        ctx.copyAsyncCommit();
    }

    /** One stage of the weight-only INT4 kernel: 64 bytes of K of A (as {@link #stage4}) and one 16-byte W chunk per row. */
    static void stageA16(KernelContext ctx, int[] as, int[] ws, IntArray a, IntArray w, int dstA, int dstW, int srcA, int srcW, int kw, int stage,
                         boolean rows0, boolean rows1, boolean copiesW) {
        if (rows0) ctx.copyAsync16(as, dstA, a, srcA + (stage << 4));
        if (rows1) ctx.copyAsync16(as, dstA + 512, a, srcA + 32 * kw + (stage << 4));
        if (copiesW) ctx.copyAsync16(ws, dstW, w, srcW + (stage << 2));
        ctx.copyAsyncCommit();
    }

    /**
     * Two codes as a pair of halves, exactly: {@code u}'s bytes hold {@code code + bias} (0..255); {@code selector} puts two
     * of them into the low mantissa bytes of halves whose high byte is {@code 0x64} — the halves {@code 1024 + byte} — and
     * {@code minus} ({@code 1024 + bias} twice) is subtracted, leaving the codes. Two integer and one half2 operation for
     * two weights, against a conversion and a scaling each in FP32.
     */
    static int halvesOfBytes(int u, int selector, int minus) {
        return KernelMath.subHalf2(KernelMath.bytePermute(u, 0x64646464, selector), minus);
    }

    /** One m-tile's four FP16 {@code mma}s against the warp's four n-tiles ({@code bj0}, {@code bj1}: n-tile j's B fragment). */
    static void mmaQuarter(KernelContext ctx, float[] c0, float[] c1, float[] c2, float[] c3, int[] a, int b00, int b01, int b10, int b11,
                           int b20, int b21, int b30, int b31) {
        ctx.mmaF16(c0, a[0], a[1], a[2], a[3], b00, b01);
        ctx.mmaF16(c1, a[0], a[1], a[2], a[3], b10, b11);
        ctx.mmaF16(c2, a[0], a[1], a[2], a[3], b20, b21);
        ctx.mmaF16(c3, a[0], a[1], a[2], a[3], b30, b31);
    }

    /** {@link #foldQuarter} for the weight-only kernels' FP32 group sums. */
    static void foldHalfQuarter(float[] c0, float[] c1, float[] c2, float[] c3, float[] f0, float[] f1, float[] f2, float[] f3, float[] gs) {
        foldFloat(c0, f0, gs[0], gs[1]);
        foldFloat(c1, f1, gs[2], gs[3]);
        foldFloat(c2, f2, gs[4], gs[5]);
        foldFloat(c3, f3, gs[6], gs[7]);
    }

    static void foldFloat(float[] c, float[] f, float s0, float s1) {
        f[0] += s0 * c[0];
        f[1] += s1 * c[1];
        f[2] += s0 * c[2];
        f[3] += s1 * c[3];
        c[0] = 0f;
        c[1] = 0f;
        c[2] = 0f;
        c[3] = 0f;
    }

    static void storeHalfQuarters(KernelContext ctx, float[] f00, float[] f01, float[] f02, float[] f03, float[] f10, float[] f11, float[] f12,
                                  float[] f13, FloatArray bias, FloatArray y, int r, int c, int m, int n, int mode, int split, int splits,
                                  FloatArray partials, int slice) {
        storeTile(ctx, f00, 1f, 1f, bias, y, r, c, m, n, mode, split, splits, partials, slice);
        storeTile(ctx, f01, 1f, 1f, bias, y, r, c + 8, m, n, mode, split, splits, partials, slice);
        storeTile(ctx, f02, 1f, 1f, bias, y, r, c + 16, m, n, mode, split, splits, partials, slice);
        storeTile(ctx, f03, 1f, 1f, bias, y, r, c + 24, m, n, mode, split, splits, partials, slice);
        storeTile(ctx, f10, 1f, 1f, bias, y, r + 16, c, m, n, mode, split, splits, partials, slice);
        storeTile(ctx, f11, 1f, 1f, bias, y, r + 16, c + 8, m, n, mode, split, splits, partials, slice);
        storeTile(ctx, f12, 1f, 1f, bias, y, r + 16, c + 16, m, n, mode, split, splits, partials, slice);
        storeTile(ctx, f13, 1f, 1f, bias, y, r + 16, c + 24, m, n, mode, split, splits, partials, slice);
    }

    /**
     * The integer kernels' end: the tile's outputs stored (or, with K split, its part, and the last block of the output tile
     * adds the parts), to {@code y} as FP32 under the epilogue {@code mode} or, where {@code halves}, to {@code yh} as FP16
     * pairs — each lane holds columns {@code c, c + 1} of its rows, one int of halves — GeLU'd where {@code mode} is 1.
     */
    static void storeOutputs(KernelContext ctx, float[] f00, float[] f01, float[] f02, float[] f03, float[] f10, float[] f11, float[] f12,
                             float[] f13, FloatArray sx, FloatArray bias, FloatArray y, IntArray yh, int r, int c, int m, int n, int mode, int split,
                             int splits, FloatArray partials, IntArray arrivals, int block, boolean halves) {
        int slice = (block * splits + split) << 12;
        if (halves && splits == 1) {
            float s0 = sx.get(r), s8 = sx.get(r + 8), s16 = sx.get(r + 16), s24 = sx.get(r + 24);
            storeTileHalves(f00, s0, s8, bias, yh, r, c, m, n, mode);
            storeTileHalves(f01, s0, s8, bias, yh, r, c + 8, m, n, mode);
            storeTileHalves(f02, s0, s8, bias, yh, r, c + 16, m, n, mode);
            storeTileHalves(f03, s0, s8, bias, yh, r, c + 24, m, n, mode);
            storeTileHalves(f10, s16, s24, bias, yh, r + 16, c, m, n, mode);
            storeTileHalves(f11, s16, s24, bias, yh, r + 16, c + 8, m, n, mode);
            storeTileHalves(f12, s16, s24, bias, yh, r + 16, c + 16, m, n, mode);
            storeTileHalves(f13, s16, s24, bias, yh, r + 16, c + 24, m, n, mode);
            return;
        }
        storeQuarters(ctx, f00, f01, f02, f03, f10, f11, f12, f13, sx, bias, y, r, c, m, n, mode, split, splits, partials, slice);
        if (splits > 1 && ctx.arriveLast(arrivals, block, splits)) {
            addSlices(partials, y, yh, block, splits, r, c, m, n, mode, halves);
        }
    }

    /**
     * {@link #storeTile} without split K, to FP16 pairs: {@code f} scaled by the rows' {@code s0}, {@code s8} and biased in
     * place, then {@link #pairRows}.
     */
    static void storeTileHalves(float[] f, float s0, float s8, FloatArray bias, IntArray yh, int r, int c, int m, int n, int gelu) {
        float b0 = bias.get(c), b1 = bias.get(c + 1);
        f[0] = s0 * f[0] + b0;
        f[1] = s0 * f[1] + b1;
        f[2] = s8 * f[2] + b0;
        f[3] = s8 * f[3] + b1;
        pairRows(yh, f, r, c, m, n, gelu);
    }

    /** {@link #finishRows} to FP16 pairs: {@code t} at rows r and r + 8, columns c and c + 1. */
    static void pairRows(IntArray yh, float[] t, int r, int c, int m, int n, int gelu) {
        if (r < m) Epilogue.pairWord(yh, (r * n + c) >> 1, t[0], t[1], gelu);
        if (r + 8 < m) Epilogue.pairWord(yh, ((r + 8) * n + c) >> 1, t[2], t[3], gelu);
    }

    /** The weight scales of one group for this lane's 8 columns ({@code 2t, 2t + 1} of each n-tile), from index {@code at}. */
    static void loadScales(FloatArray sw, int at, int groups, float[] gs) {
        gs[0] = sw.get(at);
        gs[1] = sw.get(at + groups);
        gs[2] = sw.get(at + 8 * groups);
        gs[3] = sw.get(at + 9 * groups);
        gs[4] = sw.get(at + 16 * groups);
        gs[5] = sw.get(at + 17 * groups);
        gs[6] = sw.get(at + 24 * groups);
        gs[7] = sw.get(at + 25 * groups);
    }

    /** Folds one m-tile's 4 tiles (its 16 rows × the warp's 32 columns) under one group's scales. */
    static void foldQuarter(int[] c0, int[] c1, int[] c2, int[] c3, float[] f0, float[] f1, float[] f2, float[] f3, float[] gs, boolean small) {
        fold(c0, f0, gs[0], gs[1], small);
        fold(c1, f1, gs[2], gs[3], small);
        fold(c2, f2, gs[4], gs[5], small);
        fold(c3, f3, gs[6], gs[7], small);
    }

    /**
     * {@code f += s·c} for a 16×8 tile's four values of this lane (columns {@code 2t} and {@code 2t + 1}); the sums restart
     * at 0. {@code small}: the sums are below 2^22 in magnitude and convert with {@link #exactFloat} (an integer and a
     * float add, full rate) instead of {@code cvt.rn.f32.s32}, which runs at a quarter of the rate and would cost more
     * than the group's {@code mma}.
     */
    static void fold(int[] c, float[] f, float s0, float s1, boolean small) {
        if (small) {
            f[0] += s0 * exactFloat(c[0]);
            f[1] += s1 * exactFloat(c[1]);
            f[2] += s0 * exactFloat(c[2]);
            f[3] += s1 * exactFloat(c[3]);
        } else {
            f[0] += s0 * c[0];
            f[1] += s1 * c[1];
            f[2] += s0 * c[2];
            f[3] += s1 * c[3];
        }
        c[0] = 0;
        c[1] = 0;
        c[2] = 0;
        c[3] = 0;
    }

    /**
     * {@code (float) c} for {@code |c| < 2^22}, exactly: {@code c + 0x4B400000} is the bit pattern of {@code 1.5·2^23 + c}
     * (the integer lands in the mantissa), from which {@code 1.5·2^23} is subtracted exactly.
     */
    static float exactFloat(int c) {
        return Float.intBitsToFloat(c + 0x4B400000) - 12582912f;
    }

    static void storeQuarters(KernelContext ctx, float[] f00, float[] f01, float[] f02, float[] f03, float[] f10, float[] f11, float[] f12,
                              float[] f13, FloatArray sx, FloatArray bias, FloatArray y, int r, int c, int m, int n, int mode, int split,
                              int splits, FloatArray partials, int slice) {
        float s0 = sx.get(r), s8 = sx.get(r + 8), s16 = sx.get(r + 16), s24 = sx.get(r + 24);
        storeTile(ctx, f00, s0, s8, bias, y, r, c, m, n, mode, split, splits, partials, slice);
        storeTile(ctx, f01, s0, s8, bias, y, r, c + 8, m, n, mode, split, splits, partials, slice);
        storeTile(ctx, f02, s0, s8, bias, y, r, c + 16, m, n, mode, split, splits, partials, slice);
        storeTile(ctx, f03, s0, s8, bias, y, r, c + 24, m, n, mode, split, splits, partials, slice);
        storeTile(ctx, f10, s16, s24, bias, y, r + 16, c, m, n, mode, split, splits, partials, slice);
        storeTile(ctx, f11, s16, s24, bias, y, r + 16, c + 8, m, n, mode, split, splits, partials, slice);
        storeTile(ctx, f12, s16, s24, bias, y, r + 16, c + 16, m, n, mode, split, splits, partials, slice);
        storeTile(ctx, f13, s16, s24, bias, y, r + 16, c + 24, m, n, mode, split, splits, partials, slice);
    }

    /**
     * This lane's four outputs of a 16×8 tile: rows {@code r} (scale {@code s0}) and {@code r + 8} ({@code s8}), rows past m
     * skipped. With K split over several blocks ({@link #splits}) each block stores its slice's part, the bias coming with
     * the first slice, in its own 64×64 tile of {@code partials} (from {@code slice}); the last block of the output tile to
     * finish adds them up and applies the epilogue ({@link #addSlices}).
     */
    static void storeTile(KernelContext ctx, float[] f, float s0, float s8, FloatArray bias, FloatArray y, int r, int c, int m, int n,
                          int mode, int split, int splits, FloatArray partials, int slice) {
        float b0 = split == 0 ? bias.get(c) : 0f, b1 = split == 0 ? bias.get(c + 1) : 0f;
        if (splits > 1) {
            int at = slice + ((r & 63) << 6) + (c & 63);
            if (r < m) {
                partials.set(at, s0 * f[0] + b0);
                partials.set(at + 1, s0 * f[1] + b1);
            }
            if (r + 8 < m) {
                partials.set(at + 512, s8 * f[2] + b0);
                partials.set(at + 513, s8 * f[3] + b1);
            }
            return;
        }
        if (r < m) {
            SkinnyGemmKernel.finish(y, r * n + c, s0 * f[0] + b0, mode);
            SkinnyGemmKernel.finish(y, r * n + c + 1, s0 * f[1] + b1, mode);
        }
        if (r + 8 < m) {
            SkinnyGemmKernel.finish(y, (r + 8) * n + c, s8 * f[2] + b0, mode);
            SkinnyGemmKernel.finish(y, (r + 8) * n + c + 1, s8 * f[3] + b1, mode);
        }
    }

    /**
     * Split K, in the last block of output tile {@code block} to finish its slice ({@link KernelContext#arriveLast}):
     * {@code t = p_0 + p_1 + … + p_{splits−1}} for this lane's 32 outputs (rows r, r+8, r+16, r+24; columns c + 8j and
     * c + 8j + 1), then the epilogue {@code mode} on it ({@link SkinnyGemmKernel#finish}: {@code y = t}, {@code y = gelu(t)}
     * or {@code y += t}) — or, where {@code halves}, {@code t} (GeLU'd where {@code mode} is 1) as FP16 pairs into {@code yh}; the
     * slices' parts added in slice order, 32 loads in flight per slice. Atomic adds would cost less but
     * add in whatever order the blocks finish, so the sums' rounding would vary from run to run (and from the CPU's),
     * and a token-wise quantizer downstream would turn that into flipped codes.
     */
    static void addSlices(FloatArray partials, FloatArray y, IntArray yh, int block, int splits, int r, int c, int m, int n, int mode,
                          boolean halves) {
        float[] t0 = new float[4], t1 = new float[4], t2 = new float[4], t3 = new float[4];
        float[] t4 = new float[4], t5 = new float[4], t6 = new float[4], t7 = new float[4];
        int at = ((block * splits) << 12) + ((r & 63) << 6) + (c & 63);
        for (int s = 0; s < splits; s++) {
            int from = at + (s << 12);
            addPart(partials, from, t0);
            addPart(partials, from + 8, t1);
            addPart(partials, from + 16, t2);
            addPart(partials, from + 24, t3);
            addPart(partials, from + 1024, t4);
            addPart(partials, from + 1032, t5);
            addPart(partials, from + 1040, t6);
            addPart(partials, from + 1048, t7);
        }
        endRows(y, yh, t0, r, c, m, n, mode, halves);
        endRows(y, yh, t1, r, c + 8, m, n, mode, halves);
        endRows(y, yh, t2, r, c + 16, m, n, mode, halves);
        endRows(y, yh, t3, r, c + 24, m, n, mode, halves);
        endRows(y, yh, t4, r + 16, c, m, n, mode, halves);
        endRows(y, yh, t5, r + 16, c + 8, m, n, mode, halves);
        endRows(y, yh, t6, r + 16, c + 16, m, n, mode, halves);
        endRows(y, yh, t7, r + 16, c + 24, m, n, mode, halves);
    }

    /** {@code t += } one slice's four values of a 16×8 tile for this lane (as {@link #storeTile} stored them). */
    static void addPart(FloatArray partials, int at, float[] t) {
        t[0] += partials.get(at);
        t[1] += partials.get(at + 1);
        t[2] += partials.get(at + 512);
        t[3] += partials.get(at + 513);
    }

    /** {@link #finishRows}, or where {@code halves} {@link #pairRows}. */
    static void endRows(FloatArray y, IntArray yh, float[] t, int r, int c, int m, int n, int mode, boolean halves) {
        if (halves) pairRows(yh, t, r, c, m, n, mode);
        else finishRows(y, t, r, c, m, n, mode);
    }

    /**
     * The epilogue {@code mode} on {@code t} at rows {@code r} (t[0], t[1]) and {@code r + 8} (t[2], t[3]), columns c and
     * c + 1 ({@link SkinnyGemmKernel#finish}); rows past m skipped.
     */
    static void finishRows(FloatArray y, float[] t, int r, int c, int m, int n, int mode) {
        if (r < m) {
            SkinnyGemmKernel.finish(y, r * n + c, t[0], mode);
            SkinnyGemmKernel.finish(y, r * n + c + 1, t[1], mode);
        }
        if (r + 8 < m) {
            SkinnyGemmKernel.finish(y, (r + 8) * n + c, t[2], mode);
            SkinnyGemmKernel.finish(y, (r + 8) * n + c + 1, t[3], mode);
        }
    }
}
