package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;

/**
 * BERT's projection back to the hidden size with everything after it in one kernel: the INT8 GEMM of
 * {@link Int8GemmKernel#gemm64kd} (K whole), then the residual add, LayerNorm and token-wise INT8 quantization that
 * {@link RowKernels#residualLayerNorm} would do in a launch of its own. A LayerNorm needs the whole row, and a row's 768
 * (or 1024) outputs come from 12 (16) blocks: they run as one Hopper thread-block cluster, the row tile's blocks side by
 * side, and each pushes its rows' partial results into the others' shared memory ({@link KernelContext#clusterStore})
 * before a cluster barrier — no global round trip and no launch. Two exchanges: the row sums and sums of squares
 * (mean and variance), then the largest |y| (the row's INT8 scale).
 * <p>
 * The integer sums are {@code gemm64kd}'s; the projection is rounded to FP16 before the residual is added, as the
 * two-launch path stores it. The row statistics are computed otherwise than by {@code residualLayerNorm} (the variance
 * from the mean square in one pass instead of from the deviations in a second; each thread 8 columns in order, a row's
 * 8 threads in order, then the cluster's tiles left to right), so outputs agree with the two launches to float rounding, and a code may differ by one
 * where a value sits at a rounding boundary; the CPU run of this kernel is its bit-exact reference. Slower than the two
 * launches on an H200 at bert-base and bert-large batch 1 (bench/RESULTS.md, session 29): a switch, not the default.
 */
public final class Int8GemmNormKernel {
    private Int8GemmNormKernel() {}

    /**
     * {@code out = LayerNorm(FP16(x·Wᵀ + bias) + residual)} as FP16 rows, and its token-wise INT8 {@code codes} and row
     * {@code scales}, for rows of 768 outputs (bert-base): 12 column tiles of 64, one cluster per 64-row tile. Launch
     * {@code (M/64)·12} blocks of {@value #THREADS} threads; M a multiple of 64, K of 64.
     */
    @Kernel(cluster = 12)
    public static void gemm64ln12(KernelContext ctx, IntArray a, IntArray w, FloatArray sx, FloatArray sw, FloatArray bias, IntArray residual,
                                  FloatArray gamma, FloatArray beta, IntArray out, IntArray codes, FloatArray scales, int m, int n, int k, float eps) {
        gemmNorm(ctx, a, w, sx, sw, bias, residual, gamma, beta, out, codes, scales, n, k, eps, 12);
    }

    /** {@link #gemm64ln12} for rows of 1024 outputs (bert-large): clusters of 16 blocks. */
    @Kernel(cluster = 16)
    public static void gemm64ln16(KernelContext ctx, IntArray a, IntArray w, FloatArray sx, FloatArray sw, FloatArray bias, IntArray residual,
                                  FloatArray gamma, FloatArray beta, IntArray out, IntArray codes, FloatArray scales, int m, int n, int k, float eps) {
        gemmNorm(ctx, a, w, sx, sw, bias, residual, gamma, beta, out, codes, scales, n, k, eps, 16);
    }

    /**
     * Threads a block: the first 128 (four warps) run the GEMM as {@code gemm64kd}; all of them then share the tile's
     * row work, 8 elements a thread. With only the GEMM's 128 a thread had 32 elements to walk one after another, and
     * the row work took twice the GEMM's time (H200: the LayerNorm that a launch of its own spreads over 128 SMs, here
     * on the 24 that the tiles of 128 rows occupy).
     */
    public static final int THREADS = 512;

    /** The body of both entry points; {@code tiles} = n / 64, the cluster's size. */
    static void gemmNorm(KernelContext ctx, IntArray a, IntArray w, FloatArray sx, FloatArray sw, FloatArray bias, IntArray residual,
                         FloatArray gamma, FloatArray beta, IntArray out, IntArray codes, FloatArray scales, int n, int k, float eps, int tiles) {
        int[] as = ctx.allocateIntShared(8192);   // 8 slices × 64 rows × 16 words, as gemm64kd
        int[] ws = ctx.allocateIntShared(8192);
        float[] tile = ctx.allocateFloatShared(4160);   // 64 rows × 65 (a padded row: a warp's 32 rows fall in 32 banks)
        float[] ep = ctx.allocateFloatShared(320);      // this tile's 64 columns of sw, bias, its 64 rows of sx, its columns of γ, β
        int[] res = ctx.allocateIntShared(2304);        // the residual's 64 rows of 32 FP16 pairs, 36 words apart
        float[] parts = ctx.allocateFloatShared(1024);   // each thread's partial results, by segment and row
        // Each block pushes its rows' partial results into every block of the cluster (slot rank·64 + row): a store to
        // another block's shared memory does not wait for its way there, as a load from it would.
        float[] sums = ctx.allocateFloatShared(1024), squares = ctx.allocateFloatShared(1024), maxima = ctx.allocateFloatShared(1024);
        int tid = ctx.localIdx(), block = ctx.groupIdx(), rank = ctx.clusterRank();
        int bm = (block / tiles) << 6, bn = rank << 6, kw = k >> 2, stages = kw >> 4;   // the cluster is the row tile, a block's rank its column tile
        ctx.clusterArriveRelaxed();   // this block has started: its shared memory may be written by the others once all have
        if (bm == 0 && tid < 128) Int8GemmKernel.prefetchWeights(ctx, w, bn, kw, 0, kw);
        // Parameters no kernel writes, asked for before the wait; into shared memory only after the GEMM (a store of a
        // loaded value would wait for the load).
        float p = tid < 64 ? sw.get(bn + tid) : tid < 128 ? bias.get(bn + tid - 64) : tid < 192 ? gamma.get(bn + tid - 128)
                : tid < 256 ? beta.get(bn + tid - 192) : 0f;
        ctx.awaitPreviousKernel();
        // The residual's rows of this tile stream into shared memory under the GEMM (16 bytes a thread): the oldest cp.async
        // group, which the main loop's first wait completes.
        int rr = tid >> 3, chunk = (tid & 7) << 2;
        ctx.copyAsync16(res, rr * 36 + chunk, residual, (((bm + rr) * n + bn) >> 1) + chunk);
        ctx.copyAsyncCommit();
        float px = tid >= 256 && tid < 320 ? sx.get(bm + tid - 256) : 0f;
        int[] c00 = new int[4], c01 = new int[4], c02 = new int[4], c03 = new int[4];
        int[] c10 = new int[4], c11 = new int[4], c12 = new int[4], c13 = new int[4];
        if (tid < 128) Int8GemmKernel.multiply64deep(ctx, as, ws, a, w, bm, bn, kw, 0, stages, c00, c01, c02, c03, c10, c11, c12, c13);
        else {
            for (int s = 0; s < stages; s++) ctx.barrier();   // the GEMM's barriers, one a slice
            ctx.copyAsyncWait(0);
        }
        ctx.traceMark(0);
        if (tid < 256) ep[tid < 128 ? tid : tid + 64] = p;   // sw, bias at 0 …; γ, β at 192 …
        else if (tid < 320) ep[tid - 128] = px;              // sx at 128 …
        ctx.barrier();

        // The four GEMM warps' 32×32 corners, dequantized, biased and rounded to FP16 as the two-launch path stores them.
        int warp = tid >> 5, lane = tid & 31, r = ((warp >> 1) << 5) + (lane >> 2), c = ((warp & 1) << 5) + ((lane & 3) << 1);
        if (tid < 128) stageCorner(tile, c00, c01, c02, c03, c10, c11, c12, c13, ep, r, c, r * 65 + c);
        ctx.barrier();

        // From here a thread owns 8 elements of a row: row `row` of the tile, columns `col` … col + 7 (a warp: 32 rows).
        int row = tid & 63, seg = tid >> 6, col = seg << 3, at = row * 65 + col, gRow = bm + row;
        int[] q = new int[4];
        ctx.load4(q, res, row * 36 + (seg << 2));
        float sum = addEight(tile, at, q[0], q[1], q[2], q[3], 0f);
        parts[tid] = sum;
        parts[512 + tid] = squares8(tile, at, 0f);
        ctx.barrier();
        // A row's sum and sum of squares over its 8 segments in order, pushed to every block of the cluster.
        ctx.clusterWait();   // every block of the cluster has started
        if (tid < 64) {
            float total = rowSum(parts, tid);
            for (int rk = 0; rk < tiles; rk++) ctx.clusterStore(sums, (rank << 6) + row, rk, total);
        } else if (tid < 128) {
            float total = rowSum(parts, tid);
            for (int rk = 0; rk < tiles; rk++) ctx.clusterStore(squares, (rank << 6) + row, rk, total);
        }
        ctx.clusterBarrier();
        ctx.traceMark(1);
        // One pass: the variance as the mean square less the squared mean (the inputs of a LayerNorm are sums of FP16
        // values, far from the float range where that loses precision), so that one exchange gives both.
        float mean = clusterRowTotal(sums, row, tiles) / n;
        float inv = 1f / dev.zq.runtime.KernelMath.sqrt(Math.max(clusterRowTotal(squares, row, tiles) / n - mean * mean, 0f) + eps);
        parts[tid] = normalize8(tile, at, ep, col, mean, inv);
        ctx.barrier();
        if (tid < 64) {
            float max = rowMax(parts, tid);
            for (int rk = 0; rk < tiles; rk++) ctx.clusterStore(maxima, (rank << 6) + row, rk, max);
        }
        // The last access to another block's shared memory: after it, blocks may leave. No global store is issued before
        // it: a cluster barrier's release waits for every memory operation the thread has in flight (a fence over the GPU).
        ctx.clusterBarrier();
        ctx.traceMark(2);
        int[] o = new int[4];
        o[0] = Epilogue.packHalves(tile[at], tile[at + 1]);
        o[1] = Epilogue.packHalves(tile[at + 2], tile[at + 3]);
        o[2] = Epilogue.packHalves(tile[at + 4], tile[at + 5]);
        o[3] = Epilogue.packHalves(tile[at + 6], tile[at + 7]);
        ctx.store4(out, (gRow * n + bn + col) >> 1, o);
        float largest = 0f;
        for (int rk = 0; rk < tiles; rk++) largest = Math.max(largest, maxima[(rk << 6) + row]);
        float scale = largest / 127f;
        if (rank == 0 && seg == 0) scales.set(gRow, scale);
        int word = (gRow * n + bn + col) >> 2;
        codes.set(word, RowKernels.packCodes(tile[at], tile[at + 1], tile[at + 2], tile[at + 3], scale));
        codes.set(word + 1, RowKernels.packCodes(tile[at + 4], tile[at + 5], tile[at + 6], tile[at + 7], scale));
    }

    /**
     * A lane's 32 sums of its warp's corner ({@link Int8GemmKernel#storeAll}'s places: rows r, r + 8, r + 16, r + 24 of the
     * tile, columns c, c + 1, c + 8, … c + 25) as the FP16-rounded {@code sx·sw·sum + bias} (the factors from {@code ep}),
     * into {@code tile} from {@code at} (row r, column c; rows 65 apart).
     */
    static void stageCorner(float[] tile, int[] c00, int[] c01, int[] c02, int[] c03, int[] c10, int[] c11, int[] c12, int[] c13,
                            float[] ep, int r, int c, int at) {
        float s0 = ep[128 + r], s8 = ep[136 + r], s16 = ep[144 + r], s24 = ep[152 + r];
        float w0 = ep[c], w1 = ep[c + 1], w8 = ep[c + 8], w9 = ep[c + 9], w16 = ep[c + 16], w17 = ep[c + 17], w24 = ep[c + 24], w25 = ep[c + 25];
        float b0 = ep[64 + c], b1 = ep[65 + c], b8 = ep[72 + c], b9 = ep[73 + c], b16 = ep[80 + c], b17 = ep[81 + c], b24 = ep[88 + c], b25 = ep[89 + c];
        stageFragment(tile, c00, s0, s8, w0, w1, b0, b1, at);
        stageFragment(tile, c01, s0, s8, w8, w9, b8, b9, at + 8);
        stageFragment(tile, c02, s0, s8, w16, w17, b16, b17, at + 16);
        stageFragment(tile, c03, s0, s8, w24, w25, b24, b25, at + 24);
        stageFragment(tile, c10, s16, s24, w0, w1, b0, b1, at + 1040);
        stageFragment(tile, c11, s16, s24, w8, w9, b8, b9, at + 1048);
        stageFragment(tile, c12, s16, s24, w16, w17, b16, b17, at + 1056);
        stageFragment(tile, c13, s16, s24, w24, w25, b24, b25, at + 1064);
    }

    /** One {@code mma} fragment (rows at and at + 8 rows, two columns) as {@link Int8GemmKernel#storeFactors} rounds it. */
    static void stageFragment(float[] tile, int[] acc, float s0, float s8, float w0, float w1, float b0, float b1, int at) {
        int top = Epilogue.packHalves(s0 * w0 * acc[0] + b0, s0 * w1 * acc[1] + b1);
        int low = Epilogue.packHalves(s8 * w0 * acc[2] + b0, s8 * w1 * acc[3] + b1);
        tile[at] = Epilogue.lowHalf(top);
        tile[at + 1] = Epilogue.highHalf(top);
        tile[at + 520] = Epilogue.lowHalf(low);
        tile[at + 521] = Epilogue.highHalf(low);
    }

    /** {@code sq} plus the squares of the eight values from {@code at}, in order. */
    static float squares8(float[] tile, int at, float sq) {
        float v0 = tile[at], v1 = tile[at + 1], v2 = tile[at + 2], v3 = tile[at + 3], v4 = tile[at + 4], v5 = tile[at + 5], v6 = tile[at + 6], v7 = tile[at + 7];
        return sq + v0 * v0 + v1 * v1 + v2 * v2 + v3 * v3 + v4 * v4 + v5 * v5 + v6 * v6 + v7 * v7;
    }

    static float addEight(float[] tile, int at, int u0, int u1, int u2, int u3, float sum) {
        sum = addPair(tile, at, u0, sum);
        sum = addPair(tile, at + 2, u1, sum);
        sum = addPair(tile, at + 4, u2, sum);
        return addPair(tile, at + 6, u3, sum);
    }

    static float addPair(float[] tile, int at, int u, float sum) {
        float v0 = tile[at] + Epilogue.lowHalf(u), v1 = tile[at + 1] + Epilogue.highHalf(u);
        tile[at] = v0;
        tile[at + 1] = v1;
        return sum + v0 + v1;
    }

    /** The sum over the segments 0 … 7 of row-slot {@code t} (0 … 63 sums, 64 … 127 squares) of {@code parts}, in order. */
    static float rowSum(float[] parts, int t) {
        int at = ((t >> 6) << 9) + (t & 63);
        return parts[at] + parts[at + 64] + parts[at + 128] + parts[at + 192] + parts[at + 256] + parts[at + 320] + parts[at + 384] + parts[at + 448];
    }

    /** The largest of row {@code row}'s 8 segments' values in {@code parts}. */
    static float rowMax(float[] parts, int row) {
        return Math.max(Math.max(Math.max(parts[row], parts[row + 64]), Math.max(parts[row + 128], parts[row + 192])),
                Math.max(Math.max(parts[row + 256], parts[row + 320]), Math.max(parts[row + 384], parts[row + 448])));
    }

    /** The sum over the cluster's tiles, left to right, of row {@code row}'s partial results pushed into {@code parts}. */
    static float clusterRowTotal(float[] parts, int row, int tiles) {
        float total = 0f;
        for (int rk = 0; rk < tiles; rk++) total += parts[(rk << 6) + row];
        return total;
    }

    /** The LayerNorm outputs {@code (v − mean)·inv·γ + β} of the 8 values from {@code at}, in place; returns their largest |y|. */
    static float normalize8(float[] tile, int at, float[] ep, int col, float mean, float inv) {
        int g = 192 + col;   // γ at ep[192 …], β 64 after it
        float y0 = (tile[at] - mean) * inv * ep[g] + ep[g + 64], y1 = (tile[at + 1] - mean) * inv * ep[g + 1] + ep[g + 65];
        float y2 = (tile[at + 2] - mean) * inv * ep[g + 2] + ep[g + 66], y3 = (tile[at + 3] - mean) * inv * ep[g + 3] + ep[g + 67];
        float y4 = (tile[at + 4] - mean) * inv * ep[g + 4] + ep[g + 68], y5 = (tile[at + 5] - mean) * inv * ep[g + 5] + ep[g + 69];
        float y6 = (tile[at + 6] - mean) * inv * ep[g + 6] + ep[g + 70], y7 = (tile[at + 7] - mean) * inv * ep[g + 7] + ep[g + 71];
        tile[at] = y0; tile[at + 1] = y1; tile[at + 2] = y2; tile[at + 3] = y3;
        tile[at + 4] = y4; tile[at + 5] = y5; tile[at + 6] = y6; tile[at + 7] = y7;
        return Math.max(Math.max(Math.max(Math.abs(y0), Math.abs(y1)), Math.max(Math.abs(y2), Math.abs(y3))),
                Math.max(Math.max(Math.abs(y4), Math.abs(y5)), Math.max(Math.abs(y6), Math.abs(y7))));
    }
}
