package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;
import dev.zq.runtime.KernelMath;

/**
 * ZeroQuant's token-wise INT8 quantization between two kernels without a launch of its own. A row's scale is its
 * largest |x| over all its columns, and several blocks of the kernel that writes the row hold parts of it; so each of
 * those blocks also writes the largest FP16 magnitude of its part of each row ({@link Int8GemmKernel#magnitude}: bits
 * whose integer maximum is exact and order-free) into a small table of <em>magnitudes</em>, and the next GEMM
 * ({@link #gemm64kdq}) reads its rows' parts, takes their maximum and quantizes its FP16 rows itself, into shared
 * memory, before its main loop — in place of {@link RowKernels#quantizeRows} between the two.
 *
 * <p>The table holds {@code stride} ints per row (a multiple of 16, parts beyond the row's left 0). Writers: the
 * attention kernels ({@link AttentionKernel}, {@link ExactAttentionKernel}: part = head) and {@link #gemm64kdm} (part =
 * 32 output columns). Codes and scales are {@code quantizeRows}'s bit for bit (the scale {@code max|x| / 127}, the
 * codes {@link RowKernels#packCodes}), so a GEMM from the FP16 rows and their magnitudes gives the bits of
 * {@code quantizeRows} followed by {@link Int8GemmKernel#gemm64kd}.
 *
 * <p>Slower than the launch it removes on an H200 (bench/RESULTS.md, session 30: bert-base s128 batch 1 0.61 → 0.70 ms):
 * every block of a row's tiles quantizes the same rows again, 64 rows of its whole slice of K, before its main loop
 * starts. The BERT graph uses it only under {@code -Dzq.bert.quantizeInGemm}.
 */
public final class TokenwiseGemmKernel {
    private TokenwiseGemmKernel() {}

    /** The most 64-byte slices of K a {@link #gemm64kdq} block holds as codes: 1024 inputs of its slice of K. */
    public static final int MAX_SLICES = 16;

    /** Ints per row of a magnitude table for {@code parts} parts: a multiple of 16, so that a quarter of it is whole 16-byte loads. */
    public static int stride(int parts) { return Math.ceilDiv(parts, 16) * 16; }

    /**
     * The launch of {@link #gemm64kdq} for {@code y[m, n] = x[m, k]·Wᵀ} with K in {@code splits}: refused where a block's
     * slice of K exceeds {@link #MAX_SLICES} slices, or the shape does not tile.
     */
    public static Grid grid(int m, int n, int k, int splits) {
        if (m % 64 != 0 || n % 64 != 0 || splits < 1 || k % (64 * splits) != 0)
            throw new IllegalArgumentException("gemm64kdq tiles M and N by 64 and K by 64 a split; got " + m + "×" + n + "×" + k + " in " + splits);
        if (k / splits > 64 * MAX_SLICES)
            throw new IllegalArgumentException("gemm64kdq holds " + 64 * MAX_SLICES + " inputs of K a block, not " + k / splits + " (split K more)");
        return Grid.of((m / 64) * (n / 64) * splits, THREADS);
    }

    /**
     * {@link Int8GemmKernel#gemm64kd} that also writes the magnitudes of its FP16 outputs: {@code mags[r·stride + c/32]} =
     * the largest FP16 magnitude among outputs {@code c … c + 31} of row r (after bias and GeLU, as stored), for the
     * next GEMM's token-wise codes. Same outputs as {@code gemm64kd}; launch as it.
     */
    @Kernel
    public static void gemm64kdm(KernelContext ctx, IntArray a, IntArray w, FloatArray sx, FloatArray sw, FloatArray bias, IntArray y,
                                 IntArray mags, int stride, int m, int n, int k, int gelu, int splits, IntArray partials, IntArray arrivals) {
        int[] as = ctx.allocateIntShared(8192);   // 8 stages × 64 rows × 16 words
        int[] ws = ctx.allocateIntShared(8192);
        int tid = ctx.localIdx(), split = ctx.groupIdx() % splits, block = ctx.groupIdx() / splits, blocksN = n >> 6;
        int bm = (block / blocksN) << 6, bn = (block - (block / blocksN) * blocksN) << 6;
        int kw = k >> 2, kPer = kw / splits, k0 = split * kPer;
        if (bm == 0) Int8GemmKernel.prefetchWeights(ctx, w, bn, kw, k0, kPer);
        ctx.awaitPreviousKernel();
        int[] c00 = new int[4], c01 = new int[4], c02 = new int[4], c03 = new int[4];
        int[] c10 = new int[4], c11 = new int[4], c12 = new int[4], c13 = new int[4];
        Int8GemmKernel.multiply64deep(ctx, as, ws, a, w, bm, bn, kw, k0, kPer >> 4, c00, c01, c02, c03, c10, c11, c12, c13);
        if (!Int8GemmKernel.gatherSplit(ctx, c00, c01, c02, c03, c10, c11, c12, c13, block, split, splits, partials, arrivals, true)) return;
        int warp = tid >> 5, lane = tid & 31, wm = (warp >> 1) << 5, wn = (warp & 1) << 5;
        int r = bm + wm + (lane >> 2), c = bn + wn + ((lane & 3) << 1);
        int[] mag = new int[4];
        Int8GemmKernel.storeRows(c00, c01, c02, c03, c10, c11, c12, c13, sx.get(r), sx.get(r + 8), sx.get(r + 16), sx.get(r + 24), sw, bias, y,
                r, c, n, gelu, mag);
        // A row's 32 columns of this warp are spread over a quad of lanes.
        int m0 = quadMax(ctx, mag[0]), m8 = quadMax(ctx, mag[1]), m16 = quadMax(ctx, mag[2]), m24 = quadMax(ctx, mag[3]);
        if ((lane & 3) == 0) {
            int at = r * stride + ((bn + wn) >> 5);
            mags.set(at, m0);
            mags.set(at + 8 * stride, m8);
            mags.set(at + 16 * stride, m16);
            mags.set(at + 24 * stride, m24);
        }
    }

    /** Threads a {@link #gemm64kdq} block: its first 128 (four warps) run the GEMM, all of them quantize its rows. */
    public static final int THREADS = 512;

    /**
     * {@code y = sx·sw·(codes(x)·Wᵀ) + bias} (GeLU'd when {@code gelu != 0}) as FP16, from the FP16 rows {@code x} [M, K]
     * and their magnitude table {@code mags} ({@code stride} ints a row): each block reads its 64 rows' parts, takes each
     * row's scale, and writes the codes of its slice of K into shared memory (all of it stays there: up to
     * {@link #MAX_SLICES} slices), its {@value #THREADS} threads a quarter of the slices each, while the first seven slices
     * of its weights are in flight; then {@code gemm64kd}'s main loop on the first four warps, with only the weights
     * streaming, and its epilogue (K split as {@code gemm64kd} splits it). Launch {@link #grid}.
     */
    @Kernel(maxRegisters = 128)
    public static void gemm64kdq(KernelContext ctx, IntArray x, IntArray mags, int stride, IntArray w, FloatArray sw, FloatArray bias, IntArray y,
                                 int m, int n, int k, int gelu, int splits, IntArray partials, IntArray arrivals) {
        int[] as = ctx.allocateIntShared(16384);   // MAX_SLICES slices × 64 rows × 16 words of codes
        int[] ws = ctx.allocateIntShared(8192);    // a ring of 8 slices of the weights
        float[] scales = ctx.allocateFloatShared(64);
        int tid = ctx.localIdx(), t = tid & 127, split = ctx.groupIdx() % splits, block = ctx.groupIdx() / splits, blocksN = n >> 6;
        int bm = (block / blocksN) << 6, bn = (block - (block / blocksN) * blocksN) << 6;
        int kw = k >> 2, kPer = kw / splits, k0 = split * kPer, slices = kPer >> 4;
        boolean gemm = tid < 128;
        if (bm == 0 && gemm) Int8GemmKernel.prefetchWeights(ctx, w, bn, kw, k0, kPer);
        ctx.awaitPreviousKernel();
        int row = t >> 2, dst = Swizzle.copyTarget(t), srcW = (bn + row) * kw + k0 + ((t & 3) << 2);
        if (gemm)
            for (int i = 0; i < 7; i++) {
                if (i < slices) copyWeights(ctx, ws, w, (i << 10) + dst, srcW, kw, i << 4);
                else ctx.copyAsyncCommit();
            }
        quantizeTile(ctx, as, scales, x, mags, stride, bm, row, k, k0, slices, dst, tid >> 7);
        int warp = tid >> 5, lane = tid & 31, wm = ((warp & 3) >> 1) << 5, wn = (warp & 1) << 5;
        int[] c00 = new int[4], c01 = new int[4], c02 = new int[4], c03 = new int[4];
        int[] c10 = new int[4], c11 = new int[4], c12 = new int[4], c13 = new int[4];
        if (gemm) {
            int[] a0 = new int[4], a1 = new int[4], b0 = new int[4], b1 = new int[4];
            int aRow = Swizzle.aRow(wm, lane), bRow = Swizzle.bRow(wn, lane);
            int aOff0 = Swizzle.aChunk(lane, 0), aOff1 = Swizzle.aChunk(lane, 1), bOff0 = Swizzle.bChunk(lane, 0), bOff1 = Swizzle.bChunk(lane, 1);
            for (int s = 0; s < slices; s++) {
                ctx.copyAsyncWait(6);
                ctx.barrier();   // the weights' slice s has landed for every thread (the codes and scales are written), slot s - 1 is free
                if (s + 7 < slices) copyWeights(ctx, ws, w, (((s + 7) & 7) << 10) + dst, srcW, kw, (s + 7) << 4);
                else ctx.copyAsyncCommit();
                Int8GemmKernel.slice64(ctx, as, ws, (s << 10) + aRow, ((s & 7) << 10) + bRow, aOff0, aOff1, bOff0, bOff1, a0, a1, b0, b1,
                        c00, c01, c02, c03, c10, c11, c12, c13);
            }
            ctx.copyAsyncWait(0);
        } else
            for (int s = 0; s < slices; s++) ctx.barrier();   // the GEMM's barriers, one a slice
        if (!Int8GemmKernel.gatherSplit(ctx, c00, c01, c02, c03, c10, c11, c12, c13, block, split, splits, partials, arrivals, gemm)) return;
        if (!gemm) return;
        int lr = wm + (lane >> 2);
        Int8GemmKernel.storeRows(c00, c01, c02, c03, c10, c11, c12, c13, scales[lr], scales[lr + 8], scales[lr + 16], scales[lr + 24], sw, bias, y,
                bm + lr, bn + wn + ((lane & 3) << 1), n, gelu, new int[4]);
    }

    /** One 64-byte slice of K of the block's 64 weight rows (two rows a thread, 32 apart), as one {@code cp.async} group. */
    static void copyWeights(KernelContext ctx, int[] ws, IntArray w, int dst, int srcW, int kw, int k0) {
        ctx.copyAsync16(ws, dst, w, srcW + k0);
        ctx.copyAsync16(ws, dst + 512, w, srcW + 32 * kw + k0);
        ctx.copyAsyncCommit();
    }

    /**
     * The prologue of {@link #gemm64kdq}: this thread's two rows ({@code bm + row}, 32 rows on) and 16-input chunk
     * ({@code tid & 3}) of slices {@code group}, {@code group + 4}, … (a quarter of them), read as FP16 and written as
     * codes where {@code gemm64kd}'s copies would put them; the rows' scales into {@code scales}. All of a thread's
     * loads (up to four slices) go out before the magnitudes are read, so that both are in flight together.
     */
    static void quantizeTile(KernelContext ctx, int[] as, float[] scales, IntArray x, IntArray mags, int stride, int bm, int row, int k,
                             int k0, int slices, int dst, int group) {
        int q = ctx.localIdx() & 3;
        int at = ((bm + row) * k + (k0 << 2) + (q << 4)) >> 1, far = k << 4;   // x's word of this thread's first chunk; 32 rows on
        int[] p0 = new int[4], p1 = new int[4], p2 = new int[4], p3 = new int[4];
        int[] q0 = new int[4], q1 = new int[4], q2 = new int[4], q3 = new int[4];
        int[] r0 = new int[4], r1 = new int[4], r2 = new int[4], r3 = new int[4];
        int[] u0 = new int[4], u1 = new int[4], u2 = new int[4], u3 = new int[4];
        loadSlices(ctx, x, at, far, group, slices, p0, p1, p2, p3, q0, q1, q2, q3, r0, r1, r2, r3, u0, u1, u2, u3);
        // Each row's parts: a quarter of them a thread, the quad's maximum the row's.
        int quarter = stride >> 2;
        int both = partsMax(ctx, mags, (bm + row) * stride + q * quarter, (bm + row + 32) * stride + q * quarter, quarter >> 2);
        int ma = quadMax(ctx, both & 0xFFFF), mb = quadMax(ctx, both >> 16);
        float sa = Float.float16ToFloat((short) ma) / 127f, sb = Float.float16ToFloat((short) mb) / 127f;
        if (q == 0 && group == 0) {
            scales[row] = sa;
            scales[row + 32] = sb;
        }
        // The codes divide by the scale through its reciprocal (Markstein's correction: the quotient of the division, see
        // code), branch-free; a zero or non-finite scale gives codes 0 through the mask (RowKernels.packCodes's rule).
        float ra = 1f / sa, rb = 1f / sb;
        int maskA = sa == 0f || !(sa - sa == 0f) ? 0 : -1, maskB = sb == 0f || !(sb - sb == 0f) ? 0 : -1;
        codeSlices(as, dst, group, slices, p0, p1, p2, p3, q0, q1, q2, q3, r0, r1, r2, r3, u0, u1, u2, u3, sa, sb, ra, rb, maskA, maskB);
    }

    /**
     * The largest magnitudes among {@code loads} 16-byte loads from word {@code atA} and as many from {@code atB}, in the
     * low and the high 16 bits; eight loads in flight at a time.
     */
    static int partsMax(KernelContext ctx, IntArray mags, int atA, int atB, int loads) {
        int[] t0 = new int[4], t1 = new int[4], t2 = new int[4], t3 = new int[4], t4 = new int[4], t5 = new int[4], t6 = new int[4], t7 = new int[4];
        int ma = 0, mb = 0;
        for (int i = 0; i < loads; i += 4) {
            int left = loads - i, a = atA + (i << 2), b = atB + (i << 2);
            ctx.load4(t0, mags, a);
            ctx.load4(t4, mags, b);
            if (left > 1) { ctx.load4(t1, mags, a + 4); ctx.load4(t5, mags, b + 4); }
            if (left > 2) { ctx.load4(t2, mags, a + 8); ctx.load4(t6, mags, b + 8); }
            if (left > 3) { ctx.load4(t3, mags, a + 12); ctx.load4(t7, mags, b + 12); }
            ma = Math.max(ma, max4(t0));
            mb = Math.max(mb, max4(t4));
            if (left > 1) { ma = Math.max(ma, max4(t1)); mb = Math.max(mb, max4(t5)); }
            if (left > 2) { ma = Math.max(ma, max4(t2)); mb = Math.max(mb, max4(t6)); }
            if (left > 3) { ma = Math.max(ma, max4(t3)); mb = Math.max(mb, max4(t7)); }
        }
        return ma | (mb << 16);
    }

    static int max4(int[] t) { return Math.max(Math.max(t[0], t[1]), Math.max(t[2], t[3])); }

    /** The maximum over the four lanes of a quad (which share a row). */
    static int quadMax(KernelContext ctx, int v) {
        v = Math.max(v, ctx.shflXor(v, 1));
        return Math.max(v, ctx.shflXor(v, 2));
    }

    /** Slices {@code s}, {@code s + 4}, {@code s + 8}, {@code s + 12} (those below {@code slices}): two 16-byte loads of each of the thread's two rows. */
    static void loadSlices(KernelContext ctx, IntArray x, int at, int far, int s, int slices, int[] p0, int[] p1, int[] p2, int[] p3,
                           int[] q0, int[] q1, int[] q2, int[] q3, int[] r0, int[] r1, int[] r2, int[] r3, int[] u0, int[] u1, int[] u2, int[] u3) {
        int w = at + (s << 5);   // a slice is 64 halves, 32 words, of a row
        if (s < slices) loadChunks(ctx, x, w, far, p0, p1, p2, p3);
        if (s + 4 < slices) loadChunks(ctx, x, w + 128, far, q0, q1, q2, q3);
        if (s + 8 < slices) loadChunks(ctx, x, w + 256, far, r0, r1, r2, r3);
        if (s + 12 < slices) loadChunks(ctx, x, w + 384, far, u0, u1, u2, u3);
    }

    static void loadChunks(KernelContext ctx, IntArray x, int w, int far, int[] a0, int[] a1, int[] b0, int[] b1) {
        ctx.load4(a0, x, w);
        ctx.load4(a1, x, w + 4);
        ctx.load4(b0, x, w + far);
        ctx.load4(b1, x, w + far + 4);
    }

    static void codeSlices(int[] as, int dst, int s, int slices, int[] p0, int[] p1, int[] p2, int[] p3, int[] q0, int[] q1, int[] q2, int[] q3,
                           int[] r0, int[] r1, int[] r2, int[] r3, int[] u0, int[] u1, int[] u2, int[] u3, float sa, float sb, float ra, float rb,
                           int maskA, int maskB) {
        int to = (s << 10) + dst;   // a slice's codes are 1024 words: 64 rows of 16
        if (s < slices) codeChunks(as, to, p0, p1, p2, p3, sa, sb, ra, rb, maskA, maskB);
        if (s + 4 < slices) codeChunks(as, to + 4096, q0, q1, q2, q3, sa, sb, ra, rb, maskA, maskB);
        if (s + 8 < slices) codeChunks(as, to + 8192, r0, r1, r2, r3, sa, sb, ra, rb, maskA, maskB);
        if (s + 12 < slices) codeChunks(as, to + 12288, u0, u1, u2, u3, sa, sb, ra, rb, maskA, maskB);
    }

    /**
     * Sixteen FP16 inputs of each row ({@code a0, a1} under scale {@code sa}, reciprocal {@code ra} and mask {@code maskA};
     * {@code b0, b1} under {@code sb}, {@code rb}, {@code maskB}) as four words of codes each.
     */
    static void codeChunks(int[] as, int to, int[] a0, int[] a1, int[] b0, int[] b1, float sa, float sb, float ra, float rb, int maskA, int maskB) {
        as[to] = codes(a0[0], a0[1], sa, ra) & maskA;
        as[to + 1] = codes(a0[2], a0[3], sa, ra) & maskA;
        as[to + 2] = codes(a1[0], a1[1], sa, ra) & maskA;
        as[to + 3] = codes(a1[2], a1[3], sa, ra) & maskA;
        as[to + 512] = codes(b0[0], b0[1], sb, rb) & maskB;
        as[to + 513] = codes(b0[2], b0[3], sb, rb) & maskB;
        as[to + 514] = codes(b1[0], b1[1], sb, rb) & maskB;
        as[to + 515] = codes(b1[2], b1[3], sb, rb) & maskB;
    }

    /** Four FP16 inputs (two pairs) as one word of codes under scale {@code d} of reciprocal {@code r} (a finite, non-zero scale). */
    static int codes(int u, int v, float d, float r) {
        return (code(Epilogue.lowHalf(u), d, r) & 0xFF) | ((code(Epilogue.highHalf(u), d, r) & 0xFF) << 8)
                | ((code(Epilogue.lowHalf(v), d, r) & 0xFF) << 16) | (code(Epilogue.highHalf(v), d, r) << 24);
    }

    /**
     * {@code rint(x / d)} clamped to [-128, 127], as {@link RowKernels#packCodes} computes it, without a division: with
     * {@code r} = 1/d correctly rounded, {@code q = x·r} and {@code q + (x − q·d)·r} (two FMAs) is the correctly rounded
     * quotient x/d (Markstein's theorem; checked for every FP16 x with |x| ≤ m against every FP16 maximum m, d = m/127:
     * the same quotient but for x = −0, whose code is 0 either way). A division compiles to a branch to its slow path,
     * which kept the GPU from overlapping one code's steps with the next's (the prologue took 45 µs a block, H200).
     */
    static int code(float x, float d, float r) {
        float q = x * r;
        q = Math.fma(Math.fma(-q, d, x), r, q);
        return (int) Math.max(-128f, Math.min(127f, KernelMath.rint(q)));
    }
}
