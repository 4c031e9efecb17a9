package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;

/**
 * The W16A16 baseline's GEMM: {@code y[m][n] = GeLU?(Σ_k x[m][k]·w[n][k] + b[n])} from FP16 operands on FP16 tensor
 * cores ({@code mma.m16n8k16}, FP32 accumulation), written as FP16. The same tiles, staging and fragment offsets as
 * {@link Int8GemmKernel} (a 32-bit word holds two halves here, four INT8 codes there, and both {@code mma} shapes
 * take 32 bytes of K per step), so the two differ only in the instruction and the epilogue's scales. Operands are
 * row-major halves viewed as ints (K/2 per row).
 */
public final class Fp16GemmKernel {
    private Fp16GemmKernel() {}

    /** Launch {@code (M/64)·(N/64)} blocks of 128 threads; M and N multiples of 64, K of 32. */
    @Kernel
    public static void gemm64(KernelContext ctx, IntArray a, IntArray w, FloatArray bias, IntArray y,
                              int m, int n, int k, int gelu) {
        int[] as = ctx.allocateIntShared(2560);   // 2 buffers × 64 rows × 20 words
        int[] ws = ctx.allocateIntShared(2560);
        ctx.awaitPreviousKernel();
        int tid = ctx.localIdx(), block = ctx.groupIdx();
        int blocksN = n >> 6;
        int bm = (block / blocksN) << 6, bn = (block - (block / blocksN) * blocksN) << 6;
        int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
        int wm = (warp >> 1) << 5, wn = (warp & 1) << 5;   // each warp: 32×32, 2 m-tiles × 4 n-tiles
        int kw = k >> 1;
        float[] c00 = new float[4], c01 = new float[4], c02 = new float[4], c03 = new float[4];
        float[] c10 = new float[4], c11 = new float[4], c12 = new float[4], c13 = new float[4];
        int w0 = (wn + g) * 20 + t, r0 = (wm + g) * 20 + t;
        // Each thread copies 16-byte chunk (tid & 3) of rows (tid >> 2) and (tid >> 2) + 32, of A and of W.
        int chunk = (tid & 3) << 2, row = tid >> 2;
        int srcA = (bm + row) * kw + chunk, srcW = (bn + row) * kw + chunk, dst = row * 20 + chunk;
        Staging.copy64(ctx, as, ws, a, w, dst, srcA, srcW, kw, 0);
        int buf = 0;
        for (int k0 = 0; k0 < kw; k0 += 16) {
            // Start the next slice (in the last step a harmless re-copy of this one into the idle buffer, so that the
            // loop has no branch), then wait for this one.
            Staging.copy64(ctx, as, ws, a, w, (buf ^ 1) * 1280 + dst, srcA, srcW, kw, Math.min(k0 + 16, kw - 16));
            ctx.copyAsyncWait(1);
            ctx.barrier();
            for (int kk = 0; kk < 16; kk += 8) {
                int o = buf * 1280 + kk;
                int b00 = ws[w0 + o], b01 = ws[w0 + 4 + o], b10 = ws[w0 + 160 + o], b11 = ws[w0 + 164 + o];
                int b20 = ws[w0 + 320 + o], b21 = ws[w0 + 324 + o], b30 = ws[w0 + 480 + o], b31 = ws[w0 + 484 + o];
                int ra = r0 + o;
                int a0 = as[ra], a1 = as[ra + 160], a2 = as[ra + 4], a3 = as[ra + 164];
                ctx.mmaF16(c00, a0, a1, a2, a3, b00, b01);
                ctx.mmaF16(c01, a0, a1, a2, a3, b10, b11);
                ctx.mmaF16(c02, a0, a1, a2, a3, b20, b21);
                ctx.mmaF16(c03, a0, a1, a2, a3, b30, b31);
                ra += 320;
                a0 = as[ra];
                a1 = as[ra + 160];
                a2 = as[ra + 4];
                a3 = as[ra + 164];
                ctx.mmaF16(c10, a0, a1, a2, a3, b00, b01);
                ctx.mmaF16(c11, a0, a1, a2, a3, b10, b11);
                ctx.mmaF16(c12, a0, a1, a2, a3, b20, b21);
                ctx.mmaF16(c13, a0, a1, a2, a3, b30, b31);
            }
            ctx.barrier();
            buf ^= 1;
        }
        ctx.copyAsyncWait(0);
        int r = bm + wm + g, c = bn + wn + (t << 1);
        storeAll(c00, c01, c02, c03, c10, c11, c12, c13, bias, y, r, c, n, gelu);
    }

    /** Launch {@code (M/128)·(N/128)} blocks of 256 threads; M and N multiples of 128, K of 32. */
    @Kernel
    public static void gemm128(KernelContext ctx, IntArray a, IntArray w, FloatArray bias, IntArray y,
                               int m, int n, int k, int gelu) {
        int[] as = ctx.allocateIntShared(5120);   // 2 buffers × 128 rows × 20 words
        int[] ws = ctx.allocateIntShared(5120);
        ctx.awaitPreviousKernel();
        int tid = ctx.localIdx(), block = ctx.groupIdx();
        int blocksN = n >> 7;
        int bm = (block / blocksN) << 7, bn = (block - (block / blocksN) * blocksN) << 7;
        int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
        int wm = (warp >> 2) << 6, wn = (warp & 3) << 5;   // each warp: 64×32, 4 m-tiles × 4 n-tiles
        int kw = k >> 1;
        float[] c00 = new float[4], c01 = new float[4], c02 = new float[4], c03 = new float[4];
        float[] c10 = new float[4], c11 = new float[4], c12 = new float[4], c13 = new float[4];
        float[] c20 = new float[4], c21 = new float[4], c22 = new float[4], c23 = new float[4];
        float[] c30 = new float[4], c31 = new float[4], c32 = new float[4], c33 = new float[4];
        int w0 = (wn + g) * 20 + t, r0 = (wm + g) * 20 + t;
        // Each thread copies 16-byte chunk (tid & 3) of rows (tid >> 2) and (tid >> 2) + 64, of A and of W.
        int chunk = (tid & 3) << 2, row = tid >> 2;
        int srcA = (bm + row) * kw + chunk, srcW = (bn + row) * kw + chunk, dst = row * 20 + chunk;
        Staging.copy128(ctx, as, ws, a, w, dst, srcA, srcW, kw, 0);
        int buf = 0;
        for (int k0 = 0; k0 < kw; k0 += 16) {
            Staging.copy128(ctx, as, ws, a, w, (buf ^ 1) * 2560 + dst, srcA, srcW, kw, Math.min(k0 + 16, kw - 16));
            ctx.copyAsyncWait(1);
            ctx.barrier();
            for (int kk = 0; kk < 16; kk += 8) {
                int o = buf * 2560 + kk;
                int b00 = ws[w0 + o], b01 = ws[w0 + 4 + o], b10 = ws[w0 + 160 + o], b11 = ws[w0 + 164 + o];
                int b20 = ws[w0 + 320 + o], b21 = ws[w0 + 324 + o], b30 = ws[w0 + 480 + o], b31 = ws[w0 + 484 + o];
                int ra = r0 + o;
                int a0 = as[ra], a1 = as[ra + 160], a2 = as[ra + 4], a3 = as[ra + 164];
                ctx.mmaF16(c00, a0, a1, a2, a3, b00, b01);
                ctx.mmaF16(c01, a0, a1, a2, a3, b10, b11);
                ctx.mmaF16(c02, a0, a1, a2, a3, b20, b21);
                ctx.mmaF16(c03, a0, a1, a2, a3, b30, b31);
                ra += 320;
                a0 = as[ra];
                a1 = as[ra + 160];
                a2 = as[ra + 4];
                a3 = as[ra + 164];
                ctx.mmaF16(c10, a0, a1, a2, a3, b00, b01);
                ctx.mmaF16(c11, a0, a1, a2, a3, b10, b11);
                ctx.mmaF16(c12, a0, a1, a2, a3, b20, b21);
                ctx.mmaF16(c13, a0, a1, a2, a3, b30, b31);
                ra += 320;
                a0 = as[ra];
                a1 = as[ra + 160];
                a2 = as[ra + 4];
                a3 = as[ra + 164];
                ctx.mmaF16(c20, a0, a1, a2, a3, b00, b01);
                ctx.mmaF16(c21, a0, a1, a2, a3, b10, b11);
                ctx.mmaF16(c22, a0, a1, a2, a3, b20, b21);
                ctx.mmaF16(c23, a0, a1, a2, a3, b30, b31);
                ra += 320;
                a0 = as[ra];
                a1 = as[ra + 160];
                a2 = as[ra + 4];
                a3 = as[ra + 164];
                ctx.mmaF16(c30, a0, a1, a2, a3, b00, b01);
                ctx.mmaF16(c31, a0, a1, a2, a3, b10, b11);
                ctx.mmaF16(c32, a0, a1, a2, a3, b20, b21);
                ctx.mmaF16(c33, a0, a1, a2, a3, b30, b31);
            }
            ctx.barrier();
            buf ^= 1;
        }
        ctx.copyAsyncWait(0);
        int r = bm + wm + g, c = bn + wn + (t << 1);
        store(c00, bias, y, r, c, n, gelu);
        store(c01, bias, y, r, c + 8, n, gelu);
        store(c02, bias, y, r, c + 16, n, gelu);
        store(c03, bias, y, r, c + 24, n, gelu);
        store(c10, bias, y, r + 16, c, n, gelu);
        store(c11, bias, y, r + 16, c + 8, n, gelu);
        store(c12, bias, y, r + 16, c + 16, n, gelu);
        store(c13, bias, y, r + 16, c + 24, n, gelu);
        store(c20, bias, y, r + 32, c, n, gelu);
        store(c21, bias, y, r + 32, c + 8, n, gelu);
        store(c22, bias, y, r + 32, c + 16, n, gelu);
        store(c23, bias, y, r + 32, c + 24, n, gelu);
        store(c30, bias, y, r + 48, c, n, gelu);
        store(c31, bias, y, r + 48, c + 8, n, gelu);
        store(c32, bias, y, r + 48, c + 16, n, gelu);
        store(c33, bias, y, r + 48, c + 24, n, gelu);
    }

    /**
     * The 128×128 tile with 4 warps of 64×64: each 16-byte fragment row is fetched by {@code ldmatrix} (one instruction
     * for a whole A fragment or two B fragments) and feeds 8 (A) or 4 (B) {@code mma}, a third less shared-memory traffic
     * per {@code mma} than {@link #gemm128}'s 64×32 warps. Three 64-byte slices of K are in flight ({@code cp.async}),
     * stored without padding: the 16-byte chunk c of row r sits at chunk {@code c ^ ((r >> 1) & 3)}, so that the 8 rows an
     * {@code ldmatrix} phase reads hit 32 different banks, and three stages fit the 48 KiB of static shared memory.
     * Launch {@code (M/128)·(N/128)} blocks of 128 threads; M and N multiples of 128, K of 32.
     */
    @Kernel
    public static void gemm128w(KernelContext ctx, IntArray a, IntArray w, FloatArray bias, IntArray y,
                                int m, int n, int k, int gelu) {
        int[] as = ctx.allocateIntShared(6144);   // 3 stages × 128 rows × 16 words
        int[] ws = ctx.allocateIntShared(6144);
        ctx.awaitPreviousKernel();
        int tid = ctx.localIdx(), block = ctx.groupIdx();
        int blocksN = n >> 7;
        int bm = (block / blocksN) << 7, bn = (block - (block / blocksN) * blocksN) << 7;
        int warp = tid >> 5, lane = tid & 31;
        int wm = (warp >> 1) << 6, wn = (warp & 1) << 6;   // each warp: 64×64, 4 m-tiles × 8 n-tiles
        int kw = k >> 1, stages = kw >> 4;
        float[] c00 = new float[4], c01 = new float[4], c02 = new float[4], c03 = new float[4], c04 = new float[4], c05 = new float[4], c06 = new float[4], c07 = new float[4];
        float[] c10 = new float[4], c11 = new float[4], c12 = new float[4], c13 = new float[4], c14 = new float[4], c15 = new float[4], c16 = new float[4], c17 = new float[4];
        float[] c20 = new float[4], c21 = new float[4], c22 = new float[4], c23 = new float[4], c24 = new float[4], c25 = new float[4], c26 = new float[4], c27 = new float[4];
        float[] c30 = new float[4], c31 = new float[4], c32 = new float[4], c33 = new float[4], c34 = new float[4], c35 = new float[4], c36 = new float[4], c37 = new float[4];
        int[] a0 = new int[4], a1 = new int[4], a2 = new int[4], a3 = new int[4];
        int[] b0 = new int[4], b1 = new int[4], b2 = new int[4], b3 = new int[4];
        int aRow = Swizzle.aRow(wm, lane), bRow = Swizzle.bRow(wn, lane);
        int aOff0 = Swizzle.aChunk(lane, 0), aOff1 = Swizzle.aChunk(lane, 1), bOff0 = Swizzle.bChunk(lane, 0), bOff1 = Swizzle.bChunk(lane, 1);
        // Copies: chunk (tid & 3) of rows (tid >> 2) + 32i, i = 0..3, of A and of W; all four rows share (r >> 1) & 3.
        int row = tid >> 2, dst = Swizzle.copyTarget(tid);
        int srcA = (bm + row) * kw + ((tid & 3) << 2), srcW = (bn + row) * kw + ((tid & 3) << 2);
        Staging.copy128x16(ctx, as, ws, a, w, dst, srcA, srcW, kw, 0);
        Staging.copy128x16(ctx, as, ws, a, w, 2048 + dst, srcA, srcW, kw, Math.min(16, kw - 16));
        int buf = 0, next = 4096;   // word offsets of the stage being computed and of the one to fill
        for (int s = 0; s < stages; s++) {
            ctx.copyAsyncWait(1);
            ctx.barrier();   // stage s has landed for every thread, and stage s - 1 is no longer read
            Staging.copy128x16(ctx, as, ws, a, w, next + dst, srcA, srcW, kw, Math.min(s + 2, stages - 1) << 4);
            // k32 step 0 of the stage
            ctx.ldmatrix4(a0, as, buf + aRow + 0 + aOff0);
            ctx.ldmatrix4(a1, as, buf + aRow + 256 + aOff0);
            ctx.ldmatrix4(a2, as, buf + aRow + 512 + aOff0);
            ctx.ldmatrix4(a3, as, buf + aRow + 768 + aOff0);
            ctx.ldmatrix4(b0, ws, buf + bRow + 0 + bOff0);
            ctx.ldmatrix4(b1, ws, buf + bRow + 256 + bOff0);
            ctx.ldmatrix4(b2, ws, buf + bRow + 512 + bOff0);
            ctx.ldmatrix4(b3, ws, buf + bRow + 768 + bOff0);
            rowF16(ctx, c00, c01, c02, c03, c04, c05, c06, c07, a0, b0, b1, b2, b3);
            rowF16(ctx, c10, c11, c12, c13, c14, c15, c16, c17, a1, b0, b1, b2, b3);
            rowF16(ctx, c20, c21, c22, c23, c24, c25, c26, c27, a2, b0, b1, b2, b3);
            rowF16(ctx, c30, c31, c32, c33, c34, c35, c36, c37, a3, b0, b1, b2, b3);
            // k32 step 1 of the stage
            ctx.ldmatrix4(a0, as, buf + aRow + 0 + aOff1);
            ctx.ldmatrix4(a1, as, buf + aRow + 256 + aOff1);
            ctx.ldmatrix4(a2, as, buf + aRow + 512 + aOff1);
            ctx.ldmatrix4(a3, as, buf + aRow + 768 + aOff1);
            ctx.ldmatrix4(b0, ws, buf + bRow + 0 + bOff1);
            ctx.ldmatrix4(b1, ws, buf + bRow + 256 + bOff1);
            ctx.ldmatrix4(b2, ws, buf + bRow + 512 + bOff1);
            ctx.ldmatrix4(b3, ws, buf + bRow + 768 + bOff1);
            rowF16(ctx, c00, c01, c02, c03, c04, c05, c06, c07, a0, b0, b1, b2, b3);
            rowF16(ctx, c10, c11, c12, c13, c14, c15, c16, c17, a1, b0, b1, b2, b3);
            rowF16(ctx, c20, c21, c22, c23, c24, c25, c26, c27, a2, b0, b1, b2, b3);
            rowF16(ctx, c30, c31, c32, c33, c34, c35, c36, c37, a3, b0, b1, b2, b3);
            buf = buf == 4096 ? 0 : buf + 2048;
            next = next == 4096 ? 0 : next + 2048;
        }
        ctx.copyAsyncWait(0);
        int g = lane >> 2, t = lane & 3;
        int r = bm + wm + g, c = bn + wn + (t << 1);
        store(c00, bias, y, r + 0, c + 0, n, gelu);
        store(c01, bias, y, r + 0, c + 8, n, gelu);
        store(c02, bias, y, r + 0, c + 16, n, gelu);
        store(c03, bias, y, r + 0, c + 24, n, gelu);
        store(c04, bias, y, r + 0, c + 32, n, gelu);
        store(c05, bias, y, r + 0, c + 40, n, gelu);
        store(c06, bias, y, r + 0, c + 48, n, gelu);
        store(c07, bias, y, r + 0, c + 56, n, gelu);
        store(c10, bias, y, r + 16, c + 0, n, gelu);
        store(c11, bias, y, r + 16, c + 8, n, gelu);
        store(c12, bias, y, r + 16, c + 16, n, gelu);
        store(c13, bias, y, r + 16, c + 24, n, gelu);
        store(c14, bias, y, r + 16, c + 32, n, gelu);
        store(c15, bias, y, r + 16, c + 40, n, gelu);
        store(c16, bias, y, r + 16, c + 48, n, gelu);
        store(c17, bias, y, r + 16, c + 56, n, gelu);
        store(c20, bias, y, r + 32, c + 0, n, gelu);
        store(c21, bias, y, r + 32, c + 8, n, gelu);
        store(c22, bias, y, r + 32, c + 16, n, gelu);
        store(c23, bias, y, r + 32, c + 24, n, gelu);
        store(c24, bias, y, r + 32, c + 32, n, gelu);
        store(c25, bias, y, r + 32, c + 40, n, gelu);
        store(c26, bias, y, r + 32, c + 48, n, gelu);
        store(c27, bias, y, r + 32, c + 56, n, gelu);
        store(c30, bias, y, r + 48, c + 0, n, gelu);
        store(c31, bias, y, r + 48, c + 8, n, gelu);
        store(c32, bias, y, r + 48, c + 16, n, gelu);
        store(c33, bias, y, r + 48, c + 24, n, gelu);
        store(c34, bias, y, r + 48, c + 32, n, gelu);
        store(c35, bias, y, r + 48, c + 40, n, gelu);
        store(c36, bias, y, r + 48, c + 48, n, gelu);
        store(c37, bias, y, r + 48, c + 56, n, gelu);
    }

    /** One m-tile's 8 {@code mma} against the four B fragment pairs of the warp's 64 columns. */
    static void rowF16(KernelContext ctx, float[] c0, float[] c1, float[] c2, float[] c3, float[] c4, float[] c5, float[] c6, float[] c7,
                      int[] a, int[] b0, int[] b1, int[] b2, int[] b3) {
        ctx.mmaF16(c0, a[0], a[1], a[2], a[3], b0[0], b0[1]);
        ctx.mmaF16(c1, a[0], a[1], a[2], a[3], b0[2], b0[3]);
        ctx.mmaF16(c2, a[0], a[1], a[2], a[3], b1[0], b1[1]);
        ctx.mmaF16(c3, a[0], a[1], a[2], a[3], b1[2], b1[3]);
        ctx.mmaF16(c4, a[0], a[1], a[2], a[3], b2[0], b2[1]);
        ctx.mmaF16(c5, a[0], a[1], a[2], a[3], b2[2], b2[3]);
        ctx.mmaF16(c6, a[0], a[1], a[2], a[3], b3[0], b3[1]);
        ctx.mmaF16(c7, a[0], a[1], a[2], a[3], b3[2], b3[3]);
    }

    /**
     * The 64×64 tile of {@link #gemm128w}'s design for small M (few output tiles, so latency matters more than reuse): 4
     * warps of 32×32, {@code ldmatrix} fragments, four 64-byte slices of K in flight in swizzled, unpadded shared memory.
     * Launch {@code (M/64)·(N/64)} blocks of 128 threads; M and N multiples of 64, K of 32.
     */
    @Kernel
    public static void gemm64w(KernelContext ctx, IntArray a, IntArray w, FloatArray bias, IntArray y,
                               int m, int n, int k, int gelu) {
        int[] as = ctx.allocateIntShared(4096);   // 4 stages × 64 rows × 16 words
        int[] ws = ctx.allocateIntShared(4096);
        ctx.awaitPreviousKernel();
        int tid = ctx.localIdx(), block = ctx.groupIdx();
        int blocksN = n >> 6;
        int bm = (block / blocksN) << 6, bn = (block - (block / blocksN) * blocksN) << 6;
        int kw = k >> 1;
        float[] c00 = new float[4], c01 = new float[4], c02 = new float[4], c03 = new float[4];
        float[] c10 = new float[4], c11 = new float[4], c12 = new float[4], c13 = new float[4];
        multiply64(ctx, as, ws, a, w, bm, bn, kw, 0, kw >> 4, c00, c01, c02, c03, c10, c11, c12, c13);
        int warp = tid >> 5, lane = tid & 31, r = bm + ((warp >> 1) << 5) + (lane >> 2), c = bn + ((warp & 1) << 5) + ((lane & 3) << 1);
        storeAll(c00, c01, c02, c03, c10, c11, c12, c13, bias, y, r, c, n, gelu);
    }

    /**
     * {@link #gemm64w} with K split over {@code splits} blocks per output tile, as {@link Int8GemmKernel#gemm64k} splits
     * INT8 products of few output tiles (one sequence's M = 128: the 768-wide projections have 24 tiles of 64×64 for 132
     * SMs, each walking all of K). Each block saves its FP32 sums in {@code partials} (a 64×64 tile per block:
     * {@code (M/64)·(N/64)·splits × 4096} ints, float bits); the last to finish ({@link KernelContext#arriveLast} on
     * {@code arrivals}, one zeroed int per output tile, left zeroed) adds all the parts in slice order — not its own
     * first — so the bits do not depend on which block finishes last, then runs the epilogue. Launch
     * {@code (M/64)·(N/64)·splits} blocks of 128 threads; M and N multiples of 64, K of 32·splits.
     */
    @Kernel
    public static void gemm64k(KernelContext ctx, IntArray a, IntArray w, FloatArray bias, IntArray y, int m, int n, int k, int gelu,
                               int splits, IntArray partials, IntArray arrivals) {
        int[] as = ctx.allocateIntShared(4096);   // 4 stages × 64 rows × 16 words
        int[] ws = ctx.allocateIntShared(4096);
        int split = ctx.groupIdx() % splits, block = ctx.groupIdx() / splits, blocksN = n >> 6;
        int bm = (block / blocksN) << 6, bn = (block - (block / blocksN) * blocksN) << 6;
        int kw = k >> 1, kPer = kw / splits, k0 = split * kPer;   // this block's slice of K, in words
        if (bm == 0) Int8GemmKernel.prefetchWeights(ctx, w, bn, kw, k0, kPer);
        ctx.awaitPreviousKernel();
        float[] c00 = new float[4], c01 = new float[4], c02 = new float[4], c03 = new float[4];
        float[] c10 = new float[4], c11 = new float[4], c12 = new float[4], c13 = new float[4];
        multiply64(ctx, as, ws, a, w, bm, bn, kw, k0, kPer >> 4, c00, c01, c02, c03, c10, c11, c12, c13);
        finishSplit(ctx, c00, c01, c02, c03, c10, c11, c12, c13, bias, y, n, gelu, bm, bn, block, split, splits, partials, arrivals);
    }

    /**
     * The end of {@link #gemm64k} and {@link #gemm64kd}: with K split, this block saves its FP32 sums in {@code partials}
     * and only the last of the tile's blocks to arrive goes on, adding all the parts in slice order; then the epilogue.
     */
    static void finishSplit(KernelContext ctx, float[] c00, float[] c01, float[] c02, float[] c03, float[] c10, float[] c11, float[] c12,
                            float[] c13, FloatArray bias, IntArray y, int n, int gelu, int bm, int bn, int block, int split, int splits,
                            IntArray partials, IntArray arrivals) {
        int tid = ctx.localIdx(), warp = tid >> 5, lane = tid & 31, wm = (warp >> 1) << 5, wn = (warp & 1) << 5, g = lane >> 2, t = (lane & 3) << 1;
        if (splits > 1) {
            // This lane's 32 sums at their places in a 64×64 tile (Int8GemmKernel.savePart's layout), as float bits.
            int at = ((wm + g) << 6) + wn + t;
            savePart(partials, ((block * splits + split) << 12) + at, c00, c01, c02, c03, c10, c11, c12, c13);
            if (!ctx.arriveLast(arrivals, block, splits)) return;
            AttentionKernel.zero(c00); AttentionKernel.zero(c01); AttentionKernel.zero(c02); AttentionKernel.zero(c03);
            AttentionKernel.zero(c10); AttentionKernel.zero(c11); AttentionKernel.zero(c12); AttentionKernel.zero(c13);
            for (int s = 0; s < splits; s++) addPart(partials, ((block * splits + s) << 12) + at, c00, c01, c02, c03, c10, c11, c12, c13);
        }
        storeAll(c00, c01, c02, c03, c10, c11, c12, c13, bias, y, bm + wm + g, bn + wn + t, n, gelu);
    }

    /**
     * {@link #gemm64k} with eight 32-half slices of K in flight instead of four ({@link #multiply64deep}), as
     * {@link Int8GemmKernel#gemm64kd} does for INT8: the same products in the same order, so {@link #gemm64k}'s bits for the
     * same {@code splits} ({@code splits} 1: {@link #gemm64w}'s). 64 KiB of shared memory a block. Launch
     * {@code (M/64)·(N/64)·splits} blocks of 128 threads; M and N multiples of 64, K of 32·splits.
     */
    @Kernel
    public static void gemm64kd(KernelContext ctx, IntArray a, IntArray w, FloatArray bias, IntArray y, int m, int n, int k, int gelu,
                                int splits, IntArray partials, IntArray arrivals) {
        int[] as = ctx.allocateIntShared(8192);   // 8 stages × 64 rows × 16 words
        int[] ws = ctx.allocateIntShared(8192);
        int split = ctx.groupIdx() % splits, block = ctx.groupIdx() / splits, blocksN = n >> 6;
        int bm = (block / blocksN) << 6, bn = (block - (block / blocksN) * blocksN) << 6;
        int kw = k >> 1, kPer = kw / splits, k0 = split * kPer;   // this block's slice of K, in words
        if (bm == 0) Int8GemmKernel.prefetchWeights(ctx, w, bn, kw, k0, kPer);
        ctx.awaitPreviousKernel();
        float[] c00 = new float[4], c01 = new float[4], c02 = new float[4], c03 = new float[4];
        float[] c10 = new float[4], c11 = new float[4], c12 = new float[4], c13 = new float[4];
        multiply64deep(ctx, as, ws, a, w, bm, bn, kw, k0, kPer >> 4, c00, c01, c02, c03, c10, c11, c12, c13);
        finishSplit(ctx, c00, c01, c02, c03, c10, c11, c12, c13, bias, y, n, gelu, bm, bn, block, split, splits, partials, arrivals);
    }

    /**
     * One staged 64-byte slice of K through a warp's 32×32 corner: two k32 steps, each the A fragments of its two m-tiles and
     * the B fragments of its four n-tiles from {@code ldmatrix} (rows from word {@code aAt} and {@code bAt}), then 8 {@code mma}.
     */
    static void slice64(KernelContext ctx, int[] as, int[] ws, int aAt, int bAt, int aOff0, int aOff1, int bOff0, int bOff1,
                        int[] a0, int[] a1, int[] b0, int[] b1, float[] c00, float[] c01, float[] c02, float[] c03, float[] c10, float[] c11,
                        float[] c12, float[] c13) {
        ctx.ldmatrix4(a0, as, aAt + aOff0);
        ctx.ldmatrix4(a1, as, aAt + 256 + aOff0);
        ctx.ldmatrix4(b0, ws, bAt + bOff0);
        ctx.ldmatrix4(b1, ws, bAt + 256 + bOff0);
        quarterF16(ctx, c00, c01, c02, c03, a0, b0, b1);
        quarterF16(ctx, c10, c11, c12, c13, a1, b0, b1);
        ctx.ldmatrix4(a0, as, aAt + aOff1);
        ctx.ldmatrix4(a1, as, aAt + 256 + aOff1);
        ctx.ldmatrix4(b0, ws, bAt + bOff1);
        ctx.ldmatrix4(b1, ws, bAt + 256 + bOff1);
        quarterF16(ctx, c00, c01, c02, c03, a0, b0, b1);
        quarterF16(ctx, c10, c11, c12, c13, a1, b0, b1);
    }

    /** {@link #multiply64} with eight slices in flight, staged as {@link Int8GemmKernel#multiply64deep} stages them. */
    static void multiply64deep(KernelContext ctx, int[] as, int[] ws, IntArray a, IntArray w, int bm, int bn, int kw, int k0, int stages,
                               float[] c00, float[] c01, float[] c02, float[] c03, float[] c10, float[] c11, float[] c12, float[] c13) {
        int tid = ctx.localIdx(), warp = tid >> 5, lane = tid & 31;
        int wm = (warp >> 1) << 5, wn = (warp & 1) << 5;
        int[] a0 = new int[4], a1 = new int[4], b0 = new int[4], b1 = new int[4];
        int aRow = Swizzle.aRow(wm, lane), bRow = Swizzle.bRow(wn, lane);
        int aOff0 = Swizzle.aChunk(lane, 0), aOff1 = Swizzle.aChunk(lane, 1), bOff0 = Swizzle.bChunk(lane, 0), bOff1 = Swizzle.bChunk(lane, 1);
        int row = tid >> 2, dst = Swizzle.copyTarget(tid);
        int srcA = (bm + row) * kw + k0 + ((tid & 3) << 2), srcW = (bn + row) * kw + k0 + ((tid & 3) << 2);
        for (int i = 0; i < 7; i++) {
            if (i < stages) Staging.copy64x16(ctx, as, ws, a, w, (i << 10) + dst, srcA, srcW, kw, i << 4);
            else ctx.copyAsyncCommit();
        }
        int buf = 0, next = 7168;
        for (int s = 0; s < stages; s++) {
            ctx.copyAsyncWait(6);
            ctx.barrier();   // slice s has landed for every thread, and slice s - 1 is no longer read
            if (s + 7 < stages) Staging.copy64x16(ctx, as, ws, a, w, next + dst, srcA, srcW, kw, (s + 7) << 4);
            else ctx.copyAsyncCommit();
            slice64(ctx, as, ws, buf + aRow, buf + bRow, aOff0, aOff1, bOff0, bOff1, a0, a1, b0, b1, c00, c01, c02, c03, c10, c11, c12, c13);
            buf = buf == 7168 ? 0 : buf + 1024;
            next = next == 7168 ? 0 : next + 1024;
        }
        ctx.copyAsyncWait(0);
    }

    /**
     * The main loop of the FP16 64×64 tiles: {@code c += A[bm …, k0 …]·W[bn …, k0 …]ᵀ} over {@code stages} 32-half slices of
     * K from word {@code k0}, each warp a 32×32 corner (2 m-tiles × 4 n-tiles of {@code mma.m16n8k16}); four slices in
     * flight ({@code cp.async}), {@code ldmatrix} fragments from swizzled shared memory ({@link Int8GemmKernel#multiply64}'s
     * staging).
     */
    static void multiply64(KernelContext ctx, int[] as, int[] ws, IntArray a, IntArray w, int bm, int bn, int kw, int k0, int stages,
                           float[] c00, float[] c01, float[] c02, float[] c03, float[] c10, float[] c11, float[] c12, float[] c13) {
        int tid = ctx.localIdx(), warp = tid >> 5, lane = tid & 31;
        int wm = (warp >> 1) << 5, wn = (warp & 1) << 5;   // each warp: 32×32, 2 m-tiles × 4 n-tiles
        int[] a0 = new int[4], a1 = new int[4], b0 = new int[4], b1 = new int[4];
        int aRow = Swizzle.aRow(wm, lane), bRow = Swizzle.bRow(wn, lane);
        int aOff0 = Swizzle.aChunk(lane, 0), aOff1 = Swizzle.aChunk(lane, 1), bOff0 = Swizzle.bChunk(lane, 0), bOff1 = Swizzle.bChunk(lane, 1);
        // Copies: chunk (tid & 3) of rows (tid >> 2) and (tid >> 2) + 32, of A and of W.
        int row = tid >> 2, dst = Swizzle.copyTarget(tid);
        int srcA = (bm + row) * kw + k0 + ((tid & 3) << 2), srcW = (bn + row) * kw + k0 + ((tid & 3) << 2);
        Staging.copy64x16(ctx, as, ws, a, w, dst, srcA, srcW, kw, 0);
        Staging.copy64x16(ctx, as, ws, a, w, 1024 + dst, srcA, srcW, kw, Math.min(1, stages - 1) << 4);
        Staging.copy64x16(ctx, as, ws, a, w, 2048 + dst, srcA, srcW, kw, Math.min(2, stages - 1) << 4);
        int buf = 0, next = 3072;
        for (int s = 0; s < stages; s++) {
            ctx.copyAsyncWait(2);
            ctx.barrier();   // stage s has landed for every thread, and stage s - 1 is no longer read
            Staging.copy64x16(ctx, as, ws, a, w, next + dst, srcA, srcW, kw, Math.min(s + 3, stages - 1) << 4);
            slice64(ctx, as, ws, buf + aRow, buf + bRow, aOff0, aOff1, bOff0, bOff1, a0, a1, b0, b1, c00, c01, c02, c03, c10, c11, c12, c13);
            buf = buf == 3072 ? 0 : buf + 1024;
            next = next == 3072 ? 0 : next + 1024;
        }
        ctx.copyAsyncWait(0);
    }

    /** A lane's 32 FP32 sums, as float bits, into a 64×64 tile of {@code partials} ({@link Int8GemmKernel#savePart}'s layout). */
    static void savePart(IntArray partials, int at, float[] c00, float[] c01, float[] c02, float[] c03, float[] c10, float[] c11, float[] c12,
                         float[] c13) {
        saveTile(partials, at, c00);
        saveTile(partials, at + 8, c01);
        saveTile(partials, at + 16, c02);
        saveTile(partials, at + 24, c03);
        saveTile(partials, at + 1024, c10);
        saveTile(partials, at + 1032, c11);
        saveTile(partials, at + 1040, c12);
        saveTile(partials, at + 1048, c13);
    }

    static void saveTile(IntArray partials, int at, float[] c) {
        partials.set(at, Float.floatToRawIntBits(c[0]));
        partials.set(at + 1, Float.floatToRawIntBits(c[1]));
        partials.set(at + 512, Float.floatToRawIntBits(c[2]));
        partials.set(at + 513, Float.floatToRawIntBits(c[3]));
    }

    /** {@code c += } a block's part of the same 32 sums ({@link #savePart}'s layout). */
    static void addPart(IntArray partials, int at, float[] c00, float[] c01, float[] c02, float[] c03, float[] c10, float[] c11, float[] c12,
                        float[] c13) {
        addTile(partials, at, c00);
        addTile(partials, at + 8, c01);
        addTile(partials, at + 16, c02);
        addTile(partials, at + 24, c03);
        addTile(partials, at + 1024, c10);
        addTile(partials, at + 1032, c11);
        addTile(partials, at + 1040, c12);
        addTile(partials, at + 1048, c13);
    }

    static void addTile(IntArray partials, int at, float[] c) {
        c[0] += Float.intBitsToFloat(partials.get(at));
        c[1] += Float.intBitsToFloat(partials.get(at + 1));
        c[2] += Float.intBitsToFloat(partials.get(at + 512));
        c[3] += Float.intBitsToFloat(partials.get(at + 513));
    }

    /** One m-tile's 4 {@code mma} against the two B fragment pairs of the warp's 32 columns. */
    static void quarterF16(KernelContext ctx, float[] c0, float[] c1, float[] c2, float[] c3, int[] a, int[] b0, int[] b1) {
        ctx.mmaF16(c0, a[0], a[1], a[2], a[3], b0[0], b0[1]);
        ctx.mmaF16(c1, a[0], a[1], a[2], a[3], b0[2], b0[3]);
        ctx.mmaF16(c2, a[0], a[1], a[2], a[3], b1[0], b1[1]);
        ctx.mmaF16(c3, a[0], a[1], a[2], a[3], b1[2], b1[3]);
    }

    /** One 16×8 tile's four outputs of this lane, plus bias, optionally GeLU'd, as two half pairs. */
    /**
     * {@link Int8GemmKernel#gemm128g} for FP16 ({@link KernelContext#wgmmaF16}): the same 128×128 tile, 64-byte-swizzled
     * stages two ahead and epilogue places; a stage's 64 bytes of K are 32 halves, two k16 steps. Launch
     * {@code (M/128)·(N/128)} blocks of 256 threads; M and N multiples of 128, K of 32.
     */
    @Kernel
    public static void gemm128g(KernelContext ctx, IntArray a, IntArray w, FloatArray bias, IntArray y, int m, int n, int k, int gelu) {
        int[] as = ctx.allocateIntShared(6144);   // 3 stages × 128 rows × 16 words
        int[] ws = ctx.allocateIntShared(6144);
        ctx.awaitPreviousKernel();
        int tid = ctx.localIdx(), block = ctx.groupIdx();
        int blocksN = n >> 7;
        int bm = (block / blocksN) << 7, bn = (block - (block / blocksN) * blocksN) << 7;
        int group = tid >> 7;
        int kw = k >> 1, stages = kw >> 4;
        float[] acc = new float[64];
        int row = tid >> 2, chunk = tid & 3;
        int dst = (row << 4) + ((chunk ^ ((row >> 1) & 3)) << 2);
        int srcA = (bm + row) * kw + (chunk << 2), srcW = (bn + row) * kw + (chunk << 2);
        Staging.copySwizzled64(ctx, as, ws, a, w, dst, srcA, srcW, kw, 0);
        Staging.copySwizzled64(ctx, as, ws, a, w, 2048 + dst, srcA, srcW, kw, Math.min(1, stages - 1) << 4);
        int buf = 0, next = 4096;
        int aAt = group << 10;
        for (int s = 0; s < stages; s++) {
            ctx.copyAsyncWait(1);
            ctx.fenceAsyncShared();
            ctx.barrier();
            Staging.copySwizzled64(ctx, as, ws, a, w, next + dst, srcA, srcW, kw, Math.min(s + 2, stages - 1) << 4);
            ctx.wgmmaFence();
            ctx.wgmmaF16(acc, as, buf + aAt, 512, ws, buf, 512, 64);           // halves 0–15 of the stage
            ctx.wgmmaF16(acc, as, buf + aAt + 8, 512, ws, buf + 8, 512, 64);   // halves 16–31
            ctx.wgmmaCommit();
            ctx.wgmmaWait(0);
            buf = buf == 4096 ? 0 : buf + 2048;
            next = next == 4096 ? 0 : next + 2048;
        }
        ctx.copyAsyncWait(0);
        int lane = tid & 31, r = bm + (group << 6) + (((tid >> 5) & 3) << 4) + (lane >> 2), c = bn + ((lane & 3) << 1);
        storeWgmma(acc, bias, y, r, c, n, gelu);
    }

    /**
     * {@link Int8GemmKernel#gemm128s} for FP16: 128-byte stages (64 halves) in the 128-byte swizzle, 96 KiB of dynamic
     * shared memory, four k16 steps a stage. Launch {@code (M/128)·(N/128)} blocks of 256 threads; M and N multiples of
     * 128, K of 64.
     */
    @Kernel
    public static void gemm128s(KernelContext ctx, IntArray a, IntArray w, FloatArray bias, IntArray y, int m, int n, int k, int gelu) {
        int[] as = ctx.allocateIntShared(12288);   // 3 stages × 128 rows × 32 words
        int[] ws = ctx.allocateIntShared(12288);
        float[] ep = ctx.allocateFloatShared(128);   // the tile's 128 biases (see Int8GemmKernel.stageEpilogueWeights)
        int tid = ctx.localIdx(), block = ctx.groupIdx();
        int blocksN = n >> 7;
        int bm = (block / blocksN) << 7, bn = (block - (block / blocksN) * blocksN) << 7;
        if (tid < 128) ep[tid] = bias.get(bn + tid);   // weights: before the wait; the first barrier publishes them
        ctx.awaitPreviousKernel();
        int group = tid >> 7;
        int kw = k >> 1, stages = kw >> 5;
        float[] acc = new float[64];
        int row = tid >> 3, chunk = tid & 7;
        int dst = (row << 5) + ((chunk ^ (row & 7)) << 2);
        int srcA = (bm + row) * kw + (chunk << 2), srcW = (bn + row) * kw + (chunk << 2);
        Staging.copySwizzled128(ctx, as, ws, a, w, dst, srcA, srcW, kw, 0, 0);
        Staging.copySwizzled128(ctx, as, ws, a, w, 4096 + dst, srcA, srcW, kw, Math.min(1, stages - 1) << 5, 0);
        int buf = 0, next = 8192;
        int aAt = group << 11;
        for (int s = 0; s < stages; s++) {
            ctx.copyAsyncWait(1);
            ctx.fenceAsyncShared();
            ctx.barrier();
            Staging.copySwizzled128(ctx, as, ws, a, w, next + dst, srcA, srcW, kw, Math.min(s + 2, stages - 1) << 5, 0);
            ctx.wgmmaFence();
            ctx.wgmmaF16(acc, as, buf + aAt, 1024, ws, buf, 1024, 128);
            ctx.wgmmaF16(acc, as, buf + aAt + 8, 1024, ws, buf + 8, 1024, 128);
            ctx.wgmmaF16(acc, as, buf + aAt + 16, 1024, ws, buf + 16, 1024, 128);
            ctx.wgmmaF16(acc, as, buf + aAt + 24, 1024, ws, buf + 24, 1024, 128);
            ctx.wgmmaCommit();
            ctx.wgmmaWait(0);
            buf = buf == 8192 ? 0 : buf + 4096;
            next = next == 8192 ? 0 : next + 4096;
        }
        ctx.copyAsyncWait(0);
        ctx.barrier();   // every warpgroup's wgmma has read the stages: as[] takes the tile's FP16 outputs
        int lane = tid & 31, lr = (group << 6) + (((tid >> 5) & 3) << 4) + (lane >> 2);
        tileOutputs(acc, ep, as, lr, lane & 3, gelu);
        ctx.barrier();
        Int8GemmKernel.storeTileRows(ctx, as, y, bm, bn, n, 0);
    }

    /**
     * A lane's 64 sums plus their biases from {@code ep}, as FP16 pairs, into the tile {@code out} in
     * {@link Int8GemmKernel#storeTileRows}'s layout (as {@link Int8GemmKernel#tileOutputs} for INT8); t = lane mod 4.
     * The values are {@link #storeBiased}'s.
     */
    static void tileOutputs(float[] acc, float[] ep, int[] out, int lr, int t, int gelu) {
        int at0 = lr << 6, x = (lr & 7) << 2;
        tilePair(acc[0], acc[1], acc[2], acc[3], ep, out, t, at0, x, gelu);
        tilePair(acc[4], acc[5], acc[6], acc[7], ep, out, t + 4, at0, x, gelu);
        tilePair(acc[8], acc[9], acc[10], acc[11], ep, out, t + 8, at0, x, gelu);
        tilePair(acc[12], acc[13], acc[14], acc[15], ep, out, t + 12, at0, x, gelu);
        tilePair(acc[16], acc[17], acc[18], acc[19], ep, out, t + 16, at0, x, gelu);
        tilePair(acc[20], acc[21], acc[22], acc[23], ep, out, t + 20, at0, x, gelu);
        tilePair(acc[24], acc[25], acc[26], acc[27], ep, out, t + 24, at0, x, gelu);
        tilePair(acc[28], acc[29], acc[30], acc[31], ep, out, t + 28, at0, x, gelu);
        tilePair(acc[32], acc[33], acc[34], acc[35], ep, out, t + 32, at0, x, gelu);
        tilePair(acc[36], acc[37], acc[38], acc[39], ep, out, t + 36, at0, x, gelu);
        tilePair(acc[40], acc[41], acc[42], acc[43], ep, out, t + 40, at0, x, gelu);
        tilePair(acc[44], acc[45], acc[46], acc[47], ep, out, t + 44, at0, x, gelu);
        tilePair(acc[48], acc[49], acc[50], acc[51], ep, out, t + 48, at0, x, gelu);
        tilePair(acc[52], acc[53], acc[54], acc[55], ep, out, t + 52, at0, x, gelu);
        tilePair(acc[56], acc[57], acc[58], acc[59], ep, out, t + 56, at0, x, gelu);
        tilePair(acc[60], acc[61], acc[62], acc[63], ep, out, t + 60, at0, x, gelu);
    }

    /** One fragment's two pairs (rows lr, lr + 8; word w = columns 2w, 2w + 1) into the tile, as {@link #storeBiased}. */
    static void tilePair(float c0, float c1, float c2, float c3, float[] ep, int[] out, int w, int at0, int x, int gelu) {
        float b0 = ep[2 * w], b1 = ep[2 * w + 1];
        out[at0 + (w ^ x)] = Epilogue.pair(c0 + b0, c1 + b1, gelu);
        out[at0 + 512 + (w ^ x)] = Epilogue.pair(c2 + b0, c3 + b1, gelu);
    }

    /**
     * A 64×64 tile's lane epilogue (rows r, r + 8, r + 16, r + 24; columns c, c + 8, c + 16, c + 24 and their neighbours): the
     * biases loaded before any store (see {@link Int8GemmKernel#storeAll}), the same sums as {@link #store}.
     */
    static void storeAll(float[] c00, float[] c01, float[] c02, float[] c03, float[] c10, float[] c11, float[] c12, float[] c13,
                         FloatArray bias, IntArray y, int r, int c, int n, int gelu) {
        float b0 = bias.get(c), b1 = bias.get(c + 1), b8 = bias.get(c + 8), b9 = bias.get(c + 9);
        float b16 = bias.get(c + 16), b17 = bias.get(c + 17), b24 = bias.get(c + 24), b25 = bias.get(c + 25);
        int at = (r * n + c) >> 1, rows8 = n << 2;
        storeBiased(c00, y, b0, b1, at, at + rows8, gelu);
        storeBiased(c01, y, b8, b9, at + 4, at + 4 + rows8, gelu);
        storeBiased(c02, y, b16, b17, at + 8, at + 8 + rows8, gelu);
        storeBiased(c03, y, b24, b25, at + 12, at + 12 + rows8, gelu);
        at += rows8 << 1;
        storeBiased(c10, y, b0, b1, at, at + rows8, gelu);
        storeBiased(c11, y, b8, b9, at + 4, at + 4 + rows8, gelu);
        storeBiased(c12, y, b16, b17, at + 8, at + 8 + rows8, gelu);
        storeBiased(c13, y, b24, b25, at + 12, at + 12 + rows8, gelu);
    }

    static void storeBiased(float[] acc, IntArray y, float b0, float b1, int at0, int at8, int gelu) {
        storeBiased(acc[0], acc[1], acc[2], acc[3], y, b0, b1, at0, at8, gelu);
    }

    /**
     * Every FP16 tile's epilogue of one {@code mma} fragment (rows r and r + 8 at words at0 and at8, columns c and c + 1):
     * sum plus bias, GeLU'd or not, as an FP16 pair. One body, so that every tile gives the same bits.
     */
    static void storeBiased(float c0, float c1, float c2, float c3, IntArray y, float b0, float b1, int at0, int at8, int gelu) {
        Epilogue.pairWord(y, at0, c0 + b0, c1 + b1, gelu);
        Epilogue.pairWord(y, at8, c2 + b0, c3 + b1, gelu);
    }

    /** A wgmma accumulator's 64 sums (16 n8 slices of {@link KernelContext#wgmmaF16}'s fragment) through the epilogue. */
    static void storeWgmma(float[] acc, FloatArray bias, IntArray y, int r, int c, int n, int gelu) {
        store(acc[0], acc[1], acc[2], acc[3], bias, y, r, c + 0, n, gelu);
        store(acc[4], acc[5], acc[6], acc[7], bias, y, r, c + 8, n, gelu);
        store(acc[8], acc[9], acc[10], acc[11], bias, y, r, c + 16, n, gelu);
        store(acc[12], acc[13], acc[14], acc[15], bias, y, r, c + 24, n, gelu);
        store(acc[16], acc[17], acc[18], acc[19], bias, y, r, c + 32, n, gelu);
        store(acc[20], acc[21], acc[22], acc[23], bias, y, r, c + 40, n, gelu);
        store(acc[24], acc[25], acc[26], acc[27], bias, y, r, c + 48, n, gelu);
        store(acc[28], acc[29], acc[30], acc[31], bias, y, r, c + 56, n, gelu);
        store(acc[32], acc[33], acc[34], acc[35], bias, y, r, c + 64, n, gelu);
        store(acc[36], acc[37], acc[38], acc[39], bias, y, r, c + 72, n, gelu);
        store(acc[40], acc[41], acc[42], acc[43], bias, y, r, c + 80, n, gelu);
        store(acc[44], acc[45], acc[46], acc[47], bias, y, r, c + 88, n, gelu);
        store(acc[48], acc[49], acc[50], acc[51], bias, y, r, c + 96, n, gelu);
        store(acc[52], acc[53], acc[54], acc[55], bias, y, r, c + 104, n, gelu);
        store(acc[56], acc[57], acc[58], acc[59], bias, y, r, c + 112, n, gelu);
        store(acc[60], acc[61], acc[62], acc[63], bias, y, r, c + 120, n, gelu);
    }

    /** One {@code mma} fragment's four sums (rows r and r + 8, columns c and c + 1) plus bias, GeLU'd or not, as FP16. */
    static void store(float c0, float c1, float c2, float c3, FloatArray bias, IntArray y, int r, int c, int n, int gelu) {
        storeBiased(c0, c1, c2, c3, y, bias.get(c), bias.get(c + 1), (r * n + c) >> 1, ((r + 8) * n + c) >> 1, gelu);
    }

    static void store(float[] acc, FloatArray bias, IntArray y, int r, int c, int n, int gelu) {
        store(acc[0], acc[1], acc[2], acc[3], bias, y, r, c, n, gelu);
    }
}
