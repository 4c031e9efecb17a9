package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;

/**
 * ZeroQuant's W8A8 GEMM with the dequantization fused into its epilogue:
 * {@code y[m][n] = GeLU?(S_x[m] · S_w[n] · (Σ_k x̄[m][k]·w̄[n][k]) + b[n])} written as FP16, the integer sum on INT8
 * tensor cores ({@code mma.m16n8k32}). Operands: row-major INT8 matrices viewed as ints (K/4 per row), the
 * activation codes {@code a = X̄[M, K]} with one scale per token, the weight codes {@code w = W̄[N, K]} (a Linear's
 * layout) with one scale per output row. {@code y} is FP16 [M, N] viewed as ints (two halves each).
 *
 * <p>Both tiles stage 64 bytes of K per step with asynchronous copies ({@code cp.async.cg}, 16 bytes per thread and
 * instruction) into two shared-memory buffers: while the warps multiply one slice, the next one is on its way. Rows
 * are padded to 20 words, so the 8 rows that a fragment read touches start at banks 0, 20, 8, 28, 16, 4, 24, 12.
 * {@link #gemm64} (64×64 per block of 4 warps) fills the GPU when M·N is small; {@link #gemm128} (128×128 per block
 * of 8 warps, each fragment read feeding twice as many {@code mma}) is faster when there are enough tiles;
 * {@link #gemm128g} does the 128×128 tile with Hopper's warpgroup instruction {@code wgmma}, which reads both operands
 * from shared memory. {@code GemmTiles} picks one per shape.
 */
public final class Int8GemmKernel {
    private Int8GemmKernel() {}

    /** Launch {@code (M/64)·(N/64)} blocks of 128 threads; M, N and K multiples of 64. */
    @Kernel
    public static void gemm64(KernelContext ctx, IntArray a, IntArray w, FloatArray sx, FloatArray sw, FloatArray bias, IntArray y,
                              int m, int n, int k, int gelu) {
        int[] as = ctx.allocateIntShared(2560);   // 2 buffers × 64 rows × 20 words
        int[] ws = ctx.allocateIntShared(2560);
        ctx.awaitPreviousKernel();
        int tid = ctx.localIdx(), block = ctx.groupIdx();
        int blocksN = n >> 6;
        int bm = (block / blocksN) << 6, bn = (block - (block / blocksN) * blocksN) << 6;
        int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
        int wm = (warp >> 1) << 5, wn = (warp & 1) << 5;   // each warp: 32×32, 2 m-tiles × 4 n-tiles
        int kw = k >> 2;
        int[] c00 = new int[4], c01 = new int[4], c02 = new int[4], c03 = new int[4];
        int[] c10 = new int[4], c11 = new int[4], c12 = new int[4], c13 = new int[4];
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
                ctx.mmaS8(c00, a0, a1, a2, a3, b00, b01);
                ctx.mmaS8(c01, a0, a1, a2, a3, b10, b11);
                ctx.mmaS8(c02, a0, a1, a2, a3, b20, b21);
                ctx.mmaS8(c03, a0, a1, a2, a3, b30, b31);
                ra += 320;
                a0 = as[ra];
                a1 = as[ra + 160];
                a2 = as[ra + 4];
                a3 = as[ra + 164];
                ctx.mmaS8(c10, a0, a1, a2, a3, b00, b01);
                ctx.mmaS8(c11, a0, a1, a2, a3, b10, b11);
                ctx.mmaS8(c12, a0, a1, a2, a3, b20, b21);
                ctx.mmaS8(c13, a0, a1, a2, a3, b30, b31);
            }
            ctx.barrier();
            buf ^= 1;
        }
        ctx.copyAsyncWait(0);
        int r = bm + wm + g, c = bn + wn + (t << 1);
        store(c00, sx, sw, bias, y, r, c, n, gelu);
        store(c01, sx, sw, bias, y, r, c + 8, n, gelu);
        store(c02, sx, sw, bias, y, r, c + 16, n, gelu);
        store(c03, sx, sw, bias, y, r, c + 24, n, gelu);
        store(c10, sx, sw, bias, y, r + 16, c, n, gelu);
        store(c11, sx, sw, bias, y, r + 16, c + 8, n, gelu);
        store(c12, sx, sw, bias, y, r + 16, c + 16, n, gelu);
        store(c13, sx, sw, bias, y, r + 16, c + 24, n, gelu);
    }

    /** Launch {@code (M/128)·(N/128)} blocks of 256 threads; M and N multiples of 128, K of 64. */
    @Kernel
    public static void gemm128(KernelContext ctx, IntArray a, IntArray w, FloatArray sx, FloatArray sw, FloatArray bias, IntArray y,
                               int m, int n, int k, int gelu) {
        int[] as = ctx.allocateIntShared(5120);   // 2 buffers × 128 rows × 20 words
        int[] ws = ctx.allocateIntShared(5120);
        ctx.awaitPreviousKernel();
        int tid = ctx.localIdx(), block = ctx.groupIdx();
        int blocksN = n >> 7;
        int bm = (block / blocksN) << 7, bn = (block - (block / blocksN) * blocksN) << 7;
        int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
        int wm = (warp >> 2) << 6, wn = (warp & 3) << 5;   // each warp: 64×32, 4 m-tiles × 4 n-tiles
        int kw = k >> 2;
        int[] c00 = new int[4], c01 = new int[4], c02 = new int[4], c03 = new int[4];
        int[] c10 = new int[4], c11 = new int[4], c12 = new int[4], c13 = new int[4];
        int[] c20 = new int[4], c21 = new int[4], c22 = new int[4], c23 = new int[4];
        int[] c30 = new int[4], c31 = new int[4], c32 = new int[4], c33 = new int[4];
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
                ctx.mmaS8(c00, a0, a1, a2, a3, b00, b01);
                ctx.mmaS8(c01, a0, a1, a2, a3, b10, b11);
                ctx.mmaS8(c02, a0, a1, a2, a3, b20, b21);
                ctx.mmaS8(c03, a0, a1, a2, a3, b30, b31);
                ra += 320;
                a0 = as[ra];
                a1 = as[ra + 160];
                a2 = as[ra + 4];
                a3 = as[ra + 164];
                ctx.mmaS8(c10, a0, a1, a2, a3, b00, b01);
                ctx.mmaS8(c11, a0, a1, a2, a3, b10, b11);
                ctx.mmaS8(c12, a0, a1, a2, a3, b20, b21);
                ctx.mmaS8(c13, a0, a1, a2, a3, b30, b31);
                ra += 320;
                a0 = as[ra];
                a1 = as[ra + 160];
                a2 = as[ra + 4];
                a3 = as[ra + 164];
                ctx.mmaS8(c20, a0, a1, a2, a3, b00, b01);
                ctx.mmaS8(c21, a0, a1, a2, a3, b10, b11);
                ctx.mmaS8(c22, a0, a1, a2, a3, b20, b21);
                ctx.mmaS8(c23, a0, a1, a2, a3, b30, b31);
                ra += 320;
                a0 = as[ra];
                a1 = as[ra + 160];
                a2 = as[ra + 4];
                a3 = as[ra + 164];
                ctx.mmaS8(c30, a0, a1, a2, a3, b00, b01);
                ctx.mmaS8(c31, a0, a1, a2, a3, b10, b11);
                ctx.mmaS8(c32, a0, a1, a2, a3, b20, b21);
                ctx.mmaS8(c33, a0, a1, a2, a3, b30, b31);
            }
            ctx.barrier();
            buf ^= 1;
        }
        ctx.copyAsyncWait(0);
        int r = bm + wm + g, c = bn + wn + (t << 1);
        store(c00, sx, sw, bias, y, r, c, n, gelu);
        store(c01, sx, sw, bias, y, r, c + 8, n, gelu);
        store(c02, sx, sw, bias, y, r, c + 16, n, gelu);
        store(c03, sx, sw, bias, y, r, c + 24, n, gelu);
        store(c10, sx, sw, bias, y, r + 16, c, n, gelu);
        store(c11, sx, sw, bias, y, r + 16, c + 8, n, gelu);
        store(c12, sx, sw, bias, y, r + 16, c + 16, n, gelu);
        store(c13, sx, sw, bias, y, r + 16, c + 24, n, gelu);
        store(c20, sx, sw, bias, y, r + 32, c, n, gelu);
        store(c21, sx, sw, bias, y, r + 32, c + 8, n, gelu);
        store(c22, sx, sw, bias, y, r + 32, c + 16, n, gelu);
        store(c23, sx, sw, bias, y, r + 32, c + 24, n, gelu);
        store(c30, sx, sw, bias, y, r + 48, c, n, gelu);
        store(c31, sx, sw, bias, y, r + 48, c + 8, n, gelu);
        store(c32, sx, sw, bias, y, r + 48, c + 16, n, gelu);
        store(c33, sx, sw, bias, y, r + 48, c + 24, n, gelu);
    }

    /**
     * The 128×128 tile with 4 warps of 64×64: each 16-byte fragment row is fetched by {@code ldmatrix} (one instruction
     * for a whole A fragment or two B fragments) and feeds 8 (A) or 4 (B) {@code mma}, a third less shared-memory traffic
     * per {@code mma} than {@link #gemm128}'s 64×32 warps. Three 64-byte slices of K are in flight ({@code cp.async}),
     * stored without padding: the 16-byte chunk c of row r sits at chunk {@code c ^ ((r >> 1) & 3)}, so that the 8 rows an
     * {@code ldmatrix} phase reads hit 32 different banks, and three stages fit the 48 KiB of static shared memory.
     * Launch {@code (M/128)·(N/128)} blocks of 128 threads; M and N multiples of 128, K of 64.
     */
    @Kernel
    public static void gemm128w(KernelContext ctx, IntArray a, IntArray w, FloatArray sx, FloatArray sw, FloatArray bias, IntArray y,
                                int m, int n, int k, int gelu) {
        int[] as = ctx.allocateIntShared(6144);   // 3 stages × 128 rows × 16 words
        int[] ws = ctx.allocateIntShared(6144);
        ctx.awaitPreviousKernel();
        int tid = ctx.localIdx(), block = ctx.groupIdx();
        int blocksN = n >> 7;
        int bm = (block / blocksN) << 7, bn = (block - (block / blocksN) * blocksN) << 7;
        int warp = tid >> 5, lane = tid & 31;
        int wm = (warp >> 1) << 6, wn = (warp & 1) << 6;   // each warp: 64×64, 4 m-tiles × 8 n-tiles
        int kw = k >> 2, stages = kw >> 4;
        int[] c00 = new int[4], c01 = new int[4], c02 = new int[4], c03 = new int[4], c04 = new int[4], c05 = new int[4], c06 = new int[4], c07 = new int[4];
        int[] c10 = new int[4], c11 = new int[4], c12 = new int[4], c13 = new int[4], c14 = new int[4], c15 = new int[4], c16 = new int[4], c17 = new int[4];
        int[] c20 = new int[4], c21 = new int[4], c22 = new int[4], c23 = new int[4], c24 = new int[4], c25 = new int[4], c26 = new int[4], c27 = new int[4];
        int[] c30 = new int[4], c31 = new int[4], c32 = new int[4], c33 = new int[4], c34 = new int[4], c35 = new int[4], c36 = new int[4], c37 = new int[4];
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
            rowS8(ctx, c00, c01, c02, c03, c04, c05, c06, c07, a0, b0, b1, b2, b3);
            rowS8(ctx, c10, c11, c12, c13, c14, c15, c16, c17, a1, b0, b1, b2, b3);
            rowS8(ctx, c20, c21, c22, c23, c24, c25, c26, c27, a2, b0, b1, b2, b3);
            rowS8(ctx, c30, c31, c32, c33, c34, c35, c36, c37, a3, b0, b1, b2, b3);
            // k32 step 1 of the stage
            ctx.ldmatrix4(a0, as, buf + aRow + 0 + aOff1);
            ctx.ldmatrix4(a1, as, buf + aRow + 256 + aOff1);
            ctx.ldmatrix4(a2, as, buf + aRow + 512 + aOff1);
            ctx.ldmatrix4(a3, as, buf + aRow + 768 + aOff1);
            ctx.ldmatrix4(b0, ws, buf + bRow + 0 + bOff1);
            ctx.ldmatrix4(b1, ws, buf + bRow + 256 + bOff1);
            ctx.ldmatrix4(b2, ws, buf + bRow + 512 + bOff1);
            ctx.ldmatrix4(b3, ws, buf + bRow + 768 + bOff1);
            rowS8(ctx, c00, c01, c02, c03, c04, c05, c06, c07, a0, b0, b1, b2, b3);
            rowS8(ctx, c10, c11, c12, c13, c14, c15, c16, c17, a1, b0, b1, b2, b3);
            rowS8(ctx, c20, c21, c22, c23, c24, c25, c26, c27, a2, b0, b1, b2, b3);
            rowS8(ctx, c30, c31, c32, c33, c34, c35, c36, c37, a3, b0, b1, b2, b3);
            buf = buf == 4096 ? 0 : buf + 2048;
            next = next == 4096 ? 0 : next + 2048;
        }
        ctx.copyAsyncWait(0);
        int g = lane >> 2, t = lane & 3;
        int r = bm + wm + g, c = bn + wn + (t << 1);
        store(c00, sx, sw, bias, y, r + 0, c + 0, n, gelu);
        store(c01, sx, sw, bias, y, r + 0, c + 8, n, gelu);
        store(c02, sx, sw, bias, y, r + 0, c + 16, n, gelu);
        store(c03, sx, sw, bias, y, r + 0, c + 24, n, gelu);
        store(c04, sx, sw, bias, y, r + 0, c + 32, n, gelu);
        store(c05, sx, sw, bias, y, r + 0, c + 40, n, gelu);
        store(c06, sx, sw, bias, y, r + 0, c + 48, n, gelu);
        store(c07, sx, sw, bias, y, r + 0, c + 56, n, gelu);
        store(c10, sx, sw, bias, y, r + 16, c + 0, n, gelu);
        store(c11, sx, sw, bias, y, r + 16, c + 8, n, gelu);
        store(c12, sx, sw, bias, y, r + 16, c + 16, n, gelu);
        store(c13, sx, sw, bias, y, r + 16, c + 24, n, gelu);
        store(c14, sx, sw, bias, y, r + 16, c + 32, n, gelu);
        store(c15, sx, sw, bias, y, r + 16, c + 40, n, gelu);
        store(c16, sx, sw, bias, y, r + 16, c + 48, n, gelu);
        store(c17, sx, sw, bias, y, r + 16, c + 56, n, gelu);
        store(c20, sx, sw, bias, y, r + 32, c + 0, n, gelu);
        store(c21, sx, sw, bias, y, r + 32, c + 8, n, gelu);
        store(c22, sx, sw, bias, y, r + 32, c + 16, n, gelu);
        store(c23, sx, sw, bias, y, r + 32, c + 24, n, gelu);
        store(c24, sx, sw, bias, y, r + 32, c + 32, n, gelu);
        store(c25, sx, sw, bias, y, r + 32, c + 40, n, gelu);
        store(c26, sx, sw, bias, y, r + 32, c + 48, n, gelu);
        store(c27, sx, sw, bias, y, r + 32, c + 56, n, gelu);
        store(c30, sx, sw, bias, y, r + 48, c + 0, n, gelu);
        store(c31, sx, sw, bias, y, r + 48, c + 8, n, gelu);
        store(c32, sx, sw, bias, y, r + 48, c + 16, n, gelu);
        store(c33, sx, sw, bias, y, r + 48, c + 24, n, gelu);
        store(c34, sx, sw, bias, y, r + 48, c + 32, n, gelu);
        store(c35, sx, sw, bias, y, r + 48, c + 40, n, gelu);
        store(c36, sx, sw, bias, y, r + 48, c + 48, n, gelu);
        store(c37, sx, sw, bias, y, r + 48, c + 56, n, gelu);
    }

    /**
     * The 128×128 tile on Hopper's warpgroup tensor-core instruction ({@code wgmma}, {@link KernelContext#wgmmaS8}):
     * two warpgroups, each 64 rows × 128 columns, whose operands the tensor cores read straight from shared memory —
     * no fragment loads into registers, 128 columns per instruction instead of {@code mma}'s 8. Three stages of 64 bytes
     * of K (16 KiB: A and W as 64-byte rows with wgmma's 64-byte swizzle, the 16-byte chunk c of row r at chunk
     * {@code c XOR (r/2 mod 4)}, so that the rows the tensor cores read together sit in different banks), each filled
     * two steps ahead by {@code cp.async}. A step: the landed copies fenced for the tensor cores' asynchronous reads, a
     * barrier, the copy two steps ahead issued, two {@code wgmma} k32 steps, and a wait for them before the next step's
     * barrier lets their stage be refilled. Launch {@code (M/128)·(N/128)} blocks of 256 threads; M and N multiples of
     * 128, K of 64.
     *
     * <p>Tried on the H200 and not kept (same-run GemmBench, 8192³, back to back): the unswizzled layout with 32-byte
     * stages four ahead and one wgmma group left running, 2.71 ms; the same with the 32-byte swizzle, 2.21 ms; this
     * kernel's layout with copies one step ahead and one wgmma group left running, 1.76 ms; this kernel 1.22 ms
     * ({@link #gemm128w}: 1.41 ms).
     */
    @Kernel
    public static void gemm128g(KernelContext ctx, IntArray a, IntArray w, FloatArray sx, FloatArray sw, FloatArray bias, IntArray y,
                                int m, int n, int k, int gelu) {
        int[] as = ctx.allocateIntShared(6144);   // 3 stages × 128 rows × 16 words
        int[] ws = ctx.allocateIntShared(6144);
        ctx.awaitPreviousKernel();
        int tid = ctx.localIdx(), block = ctx.groupIdx();
        int blocksN = n >> 7;
        int bm = (block / blocksN) << 7, bn = (block - (block / blocksN) * blocksN) << 7;
        int group = tid >> 7;   // the warpgroup: rows 64·group … 64·group + 63 of the tile
        int kw = k >> 2, stages = kw >> 4;
        int[] acc = new int[64];
        // Copies: chunk (tid & 3) of rows (tid >> 2) and (tid >> 2) + 64 of A and of W, at their swizzled places.
        int row = tid >> 2, chunk = tid & 3;
        int dst = (row << 4) + ((chunk ^ ((row >> 1) & 3)) << 2);
        int srcA = (bm + row) * kw + (chunk << 2), srcW = (bn + row) * kw + (chunk << 2);
        Staging.copySwizzled64(ctx, as, ws, a, w, dst, srcA, srcW, kw, 0);
        Staging.copySwizzled64(ctx, as, ws, a, w, 2048 + dst, srcA, srcW, kw, Math.min(1, stages - 1) << 4);
        int buf = 0, next = 4096;   // word offsets of the stage being computed and of the one to fill
        int aAt = group << 10;      // the warpgroup's 64 rows
        for (int s = 0; s < stages; s++) {
            ctx.copyAsyncWait(1);
            ctx.fenceAsyncShared();   // this thread's landed copies, visible to the tensor cores
            ctx.barrier();            // every thread's copies of stage s, and stage s − 1 no longer read
            Staging.copySwizzled64(ctx, as, ws, a, w, next + dst, srcA, srcW, kw, Math.min(s + 2, stages - 1) << 4);
            ctx.wgmmaFence();
            ctx.wgmmaS8(acc, as, buf + aAt, 512, ws, buf, 512, 64);           // K bytes 0–31 of the stage
            ctx.wgmmaS8(acc, as, buf + aAt + 8, 512, ws, buf + 8, 512, 64);   // K bytes 32–63
            ctx.wgmmaCommit();
            ctx.wgmmaWait(0);
            buf = buf == 4096 ? 0 : buf + 2048;
            next = next == 4096 ? 0 : next + 2048;
        }
        ctx.copyAsyncWait(0);
        int lane = tid & 31, r = bm + (group << 6) + (((tid >> 5) & 3) << 4) + (lane >> 2), c = bn + ((lane & 3) << 1);
        storeWgmma(acc, sx, sw, bias, y, r, c, n, gelu);
    }

    /**
     * {@link #gemm128g} with 128-byte stages in wgmma's 128-byte swizzle (the layout cuBLAS's Hopper kernels use): three
     * stages of 32 KiB, 96 KiB of dynamic shared memory (two blocks an SM), four k32 steps a stage — half the barriers and
     * fences per multiply-add. Chunk c of row r at chunk {@code c XOR (r mod 8)}. On the H200 it is 8–14% faster than
     * {@link #gemm128g} at M ≥ 2048 (GemmBench, back to back: 8192³ 1.052 against 1.222 ms; a fourth 64-byte stage gave
     * {@code gemm128g} nothing, 1.215 ms, and a 128×256 tile, one block an SM, lost: 1.377 ms). Launch
     * {@code (M/128)·(N/128)} blocks of 256 threads; M and N multiples of 128, K of 128.
     */
    @Kernel
    public static void gemm128s(KernelContext ctx, IntArray a, IntArray w, FloatArray sx, FloatArray sw, FloatArray bias, IntArray y,
                                int m, int n, int k, int gelu) {
        int[] as = ctx.allocateIntShared(12288);   // 3 stages × 128 rows × 32 words
        int[] ws = ctx.allocateIntShared(12288);
        float[] ep = ctx.allocateFloatShared(384);   // the epilogue's sw, bias and sx of the tile's columns and rows
        int tid = ctx.localIdx(), block = ctx.groupIdx();
        int blocksN = n >> 7;
        int bm = (block / blocksN) << 7, bn = (block - (block / blocksN) * blocksN) << 7;
        stageEpilogueWeights(ctx, ep, sw, bias, bn);
        ctx.awaitPreviousKernel();
        stageEpilogueRows(ctx, ep, sx, bm);   // the mainloop's first barrier makes all three visible
        int[] acc = new int[64];
        multiply128s(ctx, as, ws, a, w, acc, bm, bn, k >> 2, 0);
        int lane = tid & 31, lr = ((tid >> 7) << 6) + (((tid >> 5) & 3) << 4) + (lane >> 2), lc = (lane & 3) << 1;
        storeWgmmaStaged(acc, ep, y, lr, lc, bm + lr, bn + lc, n, gelu);
    }

    /**
     * The main loop of {@link #gemm128s} and {@link #gemm128h}: {@code acc += A[bm …]·W[bn …]ᵀ} over K ({@code kw} words)
     * in 128-byte stages, three in flight, for 128 columns of W, or 64 where {@code narrow} is 1 (wgmma m64n64, half the
     * weight rows staged). Ends with every copy landed; the caller's barrier then frees the stage buffers.
     */
    static void multiply128s(KernelContext ctx, int[] as, int[] ws, IntArray a, IntArray w, int[] acc, int bm, int bn, int kw, int narrow) {
        int tid = ctx.localIdx(), stages = kw >> 5, aAt = (tid >> 7) << 11;   // aAt: the warpgroup's 64 rows of A
        int row = tid >> 3, chunk = tid & 7;   // rows row + 32i
        int dst = (row << 5) + ((chunk ^ (row & 7)) << 2);
        int srcA = (bm + row) * kw + (chunk << 2), srcW = (bn + row) * kw + (chunk << 2);
        Staging.copySwizzled128(ctx, as, ws, a, w, dst, srcA, srcW, kw, 0, narrow);
        Staging.copySwizzled128(ctx, as, ws, a, w, 4096 + dst, srcA, srcW, kw, Math.min(1, stages - 1) << 5, narrow);
        int buf = 0, next = 8192;
        for (int s = 0; s < stages; s++) {
            ctx.copyAsyncWait(1);
            ctx.fenceAsyncShared();
            ctx.barrier();
            Staging.copySwizzled128(ctx, as, ws, a, w, next + dst, srcA, srcW, kw, Math.min(s + 2, stages - 1) << 5, narrow);
            if (narrow == 0) {   // fence to commit inside each branch: ptxas fences a branch's wgmma anew otherwise
                ctx.wgmmaFence();
                ctx.wgmmaS8(acc, as, buf + aAt, 1024, ws, buf, 1024, 128);
                ctx.wgmmaS8(acc, as, buf + aAt + 8, 1024, ws, buf + 8, 1024, 128);
                ctx.wgmmaS8(acc, as, buf + aAt + 16, 1024, ws, buf + 16, 1024, 128);
                ctx.wgmmaS8(acc, as, buf + aAt + 24, 1024, ws, buf + 24, 1024, 128);
                ctx.wgmmaCommit();
            } else {
                ctx.wgmmaFence();
                ctx.wgmmaS8n64(acc, as, buf + aAt, 1024, ws, buf, 1024, 128);
                ctx.wgmmaS8n64(acc, as, buf + aAt + 8, 1024, ws, buf + 8, 1024, 128);
                ctx.wgmmaS8n64(acc, as, buf + aAt + 16, 1024, ws, buf + 16, 1024, 128);
                ctx.wgmmaS8n64(acc, as, buf + aAt + 24, 1024, ws, buf + 24, 1024, 128);
                ctx.wgmmaCommit();
            }
            ctx.wgmmaWait(0);
            buf = buf == 8192 ? 0 : buf + 4096;
            next = next == 8192 ? 0 : next + 4096;
        }
        ctx.copyAsyncWait(0);
    }

    /**
     * {@link #gemm128s} with the grid's last, partial wave spread over twice as many blocks: the first {@code whole}
     * 128×128 tiles (in row-major tile order) as {@link #gemm128s} computes them, each later tile as two 128×64 halves
     * (blocks {@code whole + 2i} and {@code + 2i + 1}; {@code wgmma} m64n64, half the weight rows staged). A grid whose tiles
     * overfill its resident blocks by r ≤ half of them then takes one and a half tile times for its last two waves,
     * not two: on the H200 (264 resident blocks) gemm128s's 2048×3072×768 (384 tiles) took 25.3 µs against 15.8 µs
     * for 1408×3072×768 (264 tiles) and 28.9 µs for 2816×3072×768 (528). And its epilogue writes the tile's FP16
     * outputs into the (then idle) stage buffers first, and from there a row's 16-byte pieces to global memory, a warp's
     * adjacent ({@link #tileOutputs}): a quarter of {@link #gemm128s}'s store instructions, each filling whole sectors,
     * where gemm128s's 4-byte stores of a fragment's pairs spread over 8 rows. With every tile whole, back to back on the
     * H200: 1408×3072×768 16.1 → 13.3 µs, 16384×3072×768 149.2 → 131.0, 16384×768×3072 83.9 → 78.7 (bench/RESULTS.md,
     * GEMM sixth round). The same products in the same order: the bits of {@link #gemm128s}. Launch
     * {@code whole + 2·(tiles − whole)} blocks of 256 threads; M and N multiples of 128, K of 128.
     */
    @Kernel
    public static void gemm128h(KernelContext ctx, IntArray a, IntArray w, FloatArray sx, FloatArray sw, FloatArray bias, IntArray y,
                                int m, int n, int k, int gelu, int whole) {
        int[] as = ctx.allocateIntShared(12288);   // 3 stages × 128 rows × 32 words (a narrow block's W uses half)
        int[] ws = ctx.allocateIntShared(12288);
        float[] ep = ctx.allocateFloatShared(384);
        int tid = ctx.localIdx(), block = ctx.groupIdx();
        int blocksN = n >> 7, narrow = block < whole ? 0 : 1;
        int tile = narrow == 0 ? block : whole + ((block - whole) >> 1);
        int bm = (tile / blocksN) << 7, bn = ((tile - (tile / blocksN) * blocksN) << 7) + (narrow * ((block - whole) & 1) << 6);
        stageEpilogueWeights(ctx, ep, sw, bias, bn, 128 >> narrow);
        if (bm == 0) prefetchWeightRows(ctx, w, bn, k >> 2, 0, k >> 2, 128 >> narrow, 256);
        ctx.awaitPreviousKernel();
        stageEpilogueRows(ctx, ep, sx, bm);
        int[] acc = new int[64];
        multiply128s(ctx, as, ws, a, w, acc, bm, bn, k >> 2, narrow);
        ctx.barrier();   // every warpgroup's wgmma has read the stages: as[] takes the tile's FP16 outputs
        int lane = tid & 31, lr = ((tid >> 7) << 6) + (((tid >> 5) & 3) << 4) + (lane >> 2);
        tileOutputs(acc, ep, as, lr, lane & 3, gelu, narrow);
        ctx.barrier();
        storeTileRows(ctx, as, y, bm, bn, n, narrow);
    }

    /**
     * After a barrier that follows the tile's writes: the 128 rows of a tile of FP16 pairs in {@code tile} (64 words a
     * row, 32 used where {@code narrow} is 1; word w of row r at {@code 64r + (w XOR 4·(r mod 8))}) out to
     * {@code y} at (bm, bn) in 16-byte pieces, a warp's adjacent: a quarter of the stores of the pairs, whole sectors.
     * All 256 threads of the block call it.
     */
    static void storeTileRows(KernelContext ctx, int[] tile, IntArray y, int bm, int bn, int n, int narrow) {
        int tid = ctx.localIdx(), shift = 4 - narrow, piece = tid & ((1 << shift) - 1);   // 16 or 8 pieces a row
        int[] v = new int[4];
        for (int i = 0; i < (8 >> narrow); i++) {
            int r = (tid >> shift) + (i << (8 - shift));
            ctx.load4(v, tile, (r << 6) + ((piece ^ (r & 7)) << 2));
            ctx.store4(y, (((bm + r) * n + bn) >> 1) + (piece << 2), v);
        }
    }

    /**
     * A lane's FP16 outputs of its {@link #gemm128h} accumulators into the tile {@code out} (128 rows of 64 words, the word
     * of columns 2w, 2w + 1 of row r at {@code 64r + (w XOR 4·(r mod 8))}, so that a warp's stores and a quarter-warp's
     * 16-byte loads of a row fall in distinct banks): all 128 columns, or the first 64 where {@code narrow} is 1; t = lane
     * mod 4. The values are {@link #storeFactors}'s.
     */
    static void tileOutputs(int[] acc, float[] ep, int[] out, int lr, int t, int gelu, int narrow) {
        float s0 = ep[256 + lr], s8 = ep[264 + lr];
        int at0 = lr << 6, at8 = at0 + 512, x = (lr & 7) << 2;
        tilePair(acc[0], acc[1], acc[2], acc[3], ep, out, s0, s8, t, at0, at8, x, gelu);
        tilePair(acc[4], acc[5], acc[6], acc[7], ep, out, s0, s8, t + 4, at0, at8, x, gelu);
        tilePair(acc[8], acc[9], acc[10], acc[11], ep, out, s0, s8, t + 8, at0, at8, x, gelu);
        tilePair(acc[12], acc[13], acc[14], acc[15], ep, out, s0, s8, t + 12, at0, at8, x, gelu);
        tilePair(acc[16], acc[17], acc[18], acc[19], ep, out, s0, s8, t + 16, at0, at8, x, gelu);
        tilePair(acc[20], acc[21], acc[22], acc[23], ep, out, s0, s8, t + 20, at0, at8, x, gelu);
        tilePair(acc[24], acc[25], acc[26], acc[27], ep, out, s0, s8, t + 24, at0, at8, x, gelu);
        tilePair(acc[28], acc[29], acc[30], acc[31], ep, out, s0, s8, t + 28, at0, at8, x, gelu);
        if (narrow == 0) {
            tilePair(acc[32], acc[33], acc[34], acc[35], ep, out, s0, s8, t + 32, at0, at8, x, gelu);
            tilePair(acc[36], acc[37], acc[38], acc[39], ep, out, s0, s8, t + 36, at0, at8, x, gelu);
            tilePair(acc[40], acc[41], acc[42], acc[43], ep, out, s0, s8, t + 40, at0, at8, x, gelu);
            tilePair(acc[44], acc[45], acc[46], acc[47], ep, out, s0, s8, t + 44, at0, at8, x, gelu);
            tilePair(acc[48], acc[49], acc[50], acc[51], ep, out, s0, s8, t + 48, at0, at8, x, gelu);
            tilePair(acc[52], acc[53], acc[54], acc[55], ep, out, s0, s8, t + 52, at0, at8, x, gelu);
            tilePair(acc[56], acc[57], acc[58], acc[59], ep, out, s0, s8, t + 56, at0, at8, x, gelu);
            tilePair(acc[60], acc[61], acc[62], acc[63], ep, out, s0, s8, t + 60, at0, at8, x, gelu);
        }
    }

    /** One fragment's two pairs (rows lr, lr + 8; word w = columns 2w, 2w + 1) into the tile, as {@link #storeFactors}. */
    static void tilePair(int c0, int c1, int c2, int c3, float[] ep, int[] out, float s0, float s8, int w, int at0, int at8, int x, int gelu) {
        float w0 = ep[2 * w], w1 = ep[2 * w + 1], b0 = ep[128 + 2 * w], b1 = ep[129 + 2 * w];
        out[at0 + (w ^ x)] = Epilogue.pair(s0 * w0 * c0 + b0, s0 * w1 * c1 + b1, gelu);
        out[at8 + (w ^ x)] = Epilogue.pair(s8 * w0 * c2 + b0, s8 * w1 * c3 + b1, gelu);
    }

    /** The first {@code cols} (128 or 64) columns' factors of {@link #stageEpilogueWeights}. */
    static void stageEpilogueWeights(KernelContext ctx, float[] ep, FloatArray sw, FloatArray bias, int bn, int cols) {
        int t = ctx.localIdx();
        if (t < cols) {
            ep[t] = sw.get(bn + t);
            ep[128 + t] = bias.get(bn + t);
        }
    }

    /**
     * The epilogue's per-column factors of a 128-column tile into shared memory: {@code ep[0, 128)} = sw, {@code [128, 256)}
     * = bias. Weights, which no kernel of a graph writes: staged before the wait for the previous kernel. Loaded from global
     * memory in the epilogue, they cost more than the whole K = 768 mainloop (Nsight Compute, 16384×3072×768 on the H200:
     * 64% of the stall samples on the epilogue's multiplies, waiting for those loads — each load stays behind the previous
     * FP16 store, which might alias it).
     */
    static void stageEpilogueWeights(KernelContext ctx, float[] ep, FloatArray sw, FloatArray bias, int bn) {
        stageEpilogueWeights(ctx, ep, sw, bias, bn, 128);
    }

    /** The tile's 128 token scales into {@code ep[256, 384)} (written by the previous kernel: after the wait for it). */
    static void stageEpilogueRows(KernelContext ctx, float[] ep, FloatArray sx, int bm) {
        int t = ctx.localIdx();
        if (t < 128) ep[256 + t] = sx.get(bm + t);
    }

    /**
     * {@link #storeWgmma} with the factors from {@code ep} ({@link #stageEpilogueWeights}); tile-local row lr and column lc.
     * The row factors and the two rows' word addresses once, then four factors and two stores a column pair: a third of
     * the instructions of a {@link #store} per pair, which loads and addresses everything anew.
     */
    static void storeWgmmaStaged(int[] acc, float[] ep, IntArray y, int lr, int lc, int r, int c, int n, int gelu) {
        float s0 = ep[256 + lr], s8 = ep[264 + lr];
        int at0 = (r * n + c) >> 1, at8 = at0 + (n << 2);   // words of (r, c) and (r + 8, c)
        storeStaged(acc[0], acc[1], acc[2], acc[3], ep, y, s0, s8, lc, at0, at8, gelu);
        storeStaged(acc[4], acc[5], acc[6], acc[7], ep, y, s0, s8, lc + 8, at0 + 4, at8 + 4, gelu);
        storeStaged(acc[8], acc[9], acc[10], acc[11], ep, y, s0, s8, lc + 16, at0 + 8, at8 + 8, gelu);
        storeStaged(acc[12], acc[13], acc[14], acc[15], ep, y, s0, s8, lc + 24, at0 + 12, at8 + 12, gelu);
        storeStaged(acc[16], acc[17], acc[18], acc[19], ep, y, s0, s8, lc + 32, at0 + 16, at8 + 16, gelu);
        storeStaged(acc[20], acc[21], acc[22], acc[23], ep, y, s0, s8, lc + 40, at0 + 20, at8 + 20, gelu);
        storeStaged(acc[24], acc[25], acc[26], acc[27], ep, y, s0, s8, lc + 48, at0 + 24, at8 + 24, gelu);
        storeStaged(acc[28], acc[29], acc[30], acc[31], ep, y, s0, s8, lc + 56, at0 + 28, at8 + 28, gelu);
        storeStaged(acc[32], acc[33], acc[34], acc[35], ep, y, s0, s8, lc + 64, at0 + 32, at8 + 32, gelu);
        storeStaged(acc[36], acc[37], acc[38], acc[39], ep, y, s0, s8, lc + 72, at0 + 36, at8 + 36, gelu);
        storeStaged(acc[40], acc[41], acc[42], acc[43], ep, y, s0, s8, lc + 80, at0 + 40, at8 + 40, gelu);
        storeStaged(acc[44], acc[45], acc[46], acc[47], ep, y, s0, s8, lc + 88, at0 + 44, at8 + 44, gelu);
        storeStaged(acc[48], acc[49], acc[50], acc[51], ep, y, s0, s8, lc + 96, at0 + 48, at8 + 48, gelu);
        storeStaged(acc[52], acc[53], acc[54], acc[55], ep, y, s0, s8, lc + 104, at0 + 52, at8 + 52, gelu);
        storeStaged(acc[56], acc[57], acc[58], acc[59], ep, y, s0, s8, lc + 112, at0 + 56, at8 + 56, gelu);
        storeStaged(acc[60], acc[61], acc[62], acc[63], ep, y, s0, s8, lc + 120, at0 + 60, at8 + 60, gelu);
    }

    /** {@link #storeFactors} with sw and bias from {@code ep}. */
    static void storeStaged(int c0, int c1, int c2, int c3, float[] ep, IntArray y, float s0, float s8, int lc, int at0, int at8, int gelu) {
        storeFactors(c0, c1, c2, c3, y, s0, s8, ep[lc], ep[lc + 1], ep[128 + lc], ep[129 + lc], at0, at8, gelu);
    }

    /** One m-tile's 8 {@code mma} against the four B fragment pairs of the warp's 64 columns. */
    static void rowS8(KernelContext ctx, int[] c0, int[] c1, int[] c2, int[] c3, int[] c4, int[] c5, int[] c6, int[] c7,
                      int[] a, int[] b0, int[] b1, int[] b2, int[] b3) {
        ctx.mmaS8(c0, a[0], a[1], a[2], a[3], b0[0], b0[1]);
        ctx.mmaS8(c1, a[0], a[1], a[2], a[3], b0[2], b0[3]);
        ctx.mmaS8(c2, a[0], a[1], a[2], a[3], b1[0], b1[1]);
        ctx.mmaS8(c3, a[0], a[1], a[2], a[3], b1[2], b1[3]);
        ctx.mmaS8(c4, a[0], a[1], a[2], a[3], b2[0], b2[1]);
        ctx.mmaS8(c5, a[0], a[1], a[2], a[3], b2[2], b2[3]);
        ctx.mmaS8(c6, a[0], a[1], a[2], a[3], b3[0], b3[1]);
        ctx.mmaS8(c7, a[0], a[1], a[2], a[3], b3[2], b3[3]);
    }

    /**
     * The 64×64 tile of {@link #gemm128w}'s design for small M (few output tiles, so latency matters more than reuse): 4
     * warps of 32×32, {@code ldmatrix} fragments, four 64-byte slices of K in flight in swizzled, unpadded shared memory.
     * Launch {@code (M/64)·(N/64)} blocks of 128 threads; M and N multiples of 64, K of 64.
     */
    @Kernel
    public static void gemm64w(KernelContext ctx, IntArray a, IntArray w, FloatArray sx, FloatArray sw, FloatArray bias, IntArray y,
                               int m, int n, int k, int gelu) {
        int[] as = ctx.allocateIntShared(4096);   // 4 stages × 64 rows × 16 words
        int[] ws = ctx.allocateIntShared(4096);
        int tid = ctx.localIdx(), block = ctx.groupIdx(), blocksN = n >> 6, kw = k >> 2;
        int bm = (block / blocksN) << 6, bn = (block - (block / blocksN) * blocksN) << 6;
        if (bm == 0) prefetchWeights(ctx, w, bn, kw, 0, kw);
        ctx.awaitPreviousKernel();
        int[] c00 = new int[4], c01 = new int[4], c02 = new int[4], c03 = new int[4];
        int[] c10 = new int[4], c11 = new int[4], c12 = new int[4], c13 = new int[4];
        multiply64(ctx, as, ws, a, w, bm, bn, kw, 0, kw >> 4, c00, c01, c02, c03, c10, c11, c12, c13);
        int warp = tid >> 5, lane = tid & 31, r = bm + ((warp >> 1) << 5) + (lane >> 2), c = bn + ((warp & 1) << 5) + ((lane & 3) << 1);
        storeAll(c00, c01, c02, c03, c10, c11, c12, c13, sx, sw, bias, y, r, c, n, gelu);
    }

    /**
     * {@link #gemm64w} with K split over {@code splits} blocks per output tile, for products with few output tiles (a
     * batch of one sequence: M = 128 gives the 768-wide projections 24 tiles on 132 SMs, each walking all of K). Each
     * block sums its slice of K; all but the last to finish store their INT32 sums in {@code partials} (a 64×64 tile per
     * block: {@code (M/64)·(N/64)·splits × 4096} ints), and the last one ({@link KernelContext#arriveLast} on
     * {@code arrivals}, one zeroed int per output tile, left zeroed) adds them to its own and runs the epilogue. Integer
     * sums do not depend on their order: the outputs have {@link #gemm64w}'s bits for every split. Launch
     * {@code (M/64)·(N/64)·splits} blocks of 128 threads; M and N multiples of 64, K of 64·splits.
     */
    @Kernel
    public static void gemm64k(KernelContext ctx, IntArray a, IntArray w, FloatArray sx, FloatArray sw, FloatArray bias, IntArray y,
                               int m, int n, int k, int gelu, int splits, IntArray partials, IntArray arrivals) {
        int[] as = ctx.allocateIntShared(4096);   // 4 stages × 64 rows × 16 words
        int[] ws = ctx.allocateIntShared(4096);
        int split = ctx.groupIdx() % splits, block = ctx.groupIdx() / splits, blocksN = n >> 6;
        int bm = (block / blocksN) << 6, bn = (block - (block / blocksN) * blocksN) << 6;
        int kw = k >> 2, kPer = kw / splits, k0 = split * kPer;   // this block's slice of K, in words
        if (bm == 0) prefetchWeights(ctx, w, bn, kw, k0, kPer);
        ctx.awaitPreviousKernel();
        int[] c00 = new int[4], c01 = new int[4], c02 = new int[4], c03 = new int[4];
        int[] c10 = new int[4], c11 = new int[4], c12 = new int[4], c13 = new int[4];
        multiply64(ctx, as, ws, a, w, bm, bn, kw, k0, kPer >> 4, c00, c01, c02, c03, c10, c11, c12, c13);
        finishSplit(ctx, c00, c01, c02, c03, c10, c11, c12, c13, sx, sw, bias, y, n, gelu, bm, bn, block, split, splits, partials, arrivals);
    }

    /**
     * The end of {@link #gemm64k} and {@link #gemm64kd}: with K split, this block saves its INT32 sums in {@code partials}
     * and only the last of the tile's blocks to arrive goes on, adding the others' parts to its own; then the epilogue.
     */
    static void finishSplit(KernelContext ctx, int[] c00, int[] c01, int[] c02, int[] c03, int[] c10, int[] c11, int[] c12, int[] c13,
                            FloatArray sx, FloatArray sw, FloatArray bias, IntArray y, int n, int gelu, int bm, int bn, int block, int split,
                            int splits, IntArray partials, IntArray arrivals) {
        int tid = ctx.localIdx(), warp = tid >> 5, lane = tid & 31, wm = (warp >> 1) << 5, wn = (warp & 1) << 5, g = lane >> 2, t = (lane & 3) << 1;
        if (!gatherSplit(ctx, c00, c01, c02, c03, c10, c11, c12, c13, block, split, splits, partials, arrivals, true)) return;
        storeAll(c00, c01, c02, c03, c10, c11, c12, c13, sx, sw, bias, y, bm + wm + g, bn + wn + t, n, gelu);
    }

    /**
     * With K split ({@code splits > 1}): saves this block's INT32 sums in {@code partials}; the last of the tile's blocks
     * to arrive adds the others' parts to its own and returns true (the others false). Unsplit: true. Every thread of
     * the block calls it; those of the GEMM's four warps pass {@code gemm} true (in blocks of more threads the others
     * hold no sums).
     */
    static boolean gatherSplit(KernelContext ctx, int[] c00, int[] c01, int[] c02, int[] c03, int[] c10, int[] c11, int[] c12, int[] c13,
                               int block, int split, int splits, IntArray partials, IntArray arrivals, boolean gemm) {
        if (splits == 1) return true;
        int tid = ctx.localIdx(), warp = tid >> 5, lane = tid & 31, wm = (warp >> 1) << 5, wn = (warp & 1) << 5, g = lane >> 2, t = (lane & 3) << 1;
        // This lane's 32 sums at their places in a 64×64 tile: rows wm + g (+8, +16, +24), columns wn + t (+1, +8j).
        int at = ((wm + g) << 6) + wn + t, mine = (block * splits + split) << 12;
        if (gemm) savePart(partials, mine + at, c00, c01, c02, c03, c10, c11, c12, c13);
        if (!ctx.arriveLast(arrivals, block, splits)) return false;
        if (gemm)
            for (int s = 0; s < splits; s++)
                if (s != split) addPart(partials, ((block * splits + s) << 12) + at, c00, c01, c02, c03, c10, c11, c12, c13);
        return true;
    }

    /**
     * {@link #gemm64k} with eight 64-byte slices of K in flight instead of four ({@link #multiply64deep}): for the products
     * of few output tiles (a batch of one sequence), where a block walks K with little else on its SM to hide the wait
     * for each slice, twice the bytes in flight halve the round trips on its critical path. 64 KiB of shared memory a
     * block. The same sums, so the same bits as {@link #gemm64w} for every split ({@code splits} 1: unsplit). Launch
     * {@code (M/64)·(N/64)·splits} blocks of 128 threads; M and N multiples of 64, K of 64·splits.
     */
    @Kernel
    public static void gemm64kd(KernelContext ctx, IntArray a, IntArray w, FloatArray sx, FloatArray sw, FloatArray bias, IntArray y,
                                int m, int n, int k, int gelu, int splits, IntArray partials, IntArray arrivals) {
        int[] as = ctx.allocateIntShared(8192);   // 8 stages × 64 rows × 16 words
        int[] ws = ctx.allocateIntShared(8192);
        int split = ctx.groupIdx() % splits, block = ctx.groupIdx() / splits, blocksN = n >> 6;
        int bm = (block / blocksN) << 6, bn = (block - (block / blocksN) * blocksN) << 6;
        int kw = k >> 2, kPer = kw / splits, k0 = split * kPer;   // this block's slice of K, in words
        if (bm == 0) prefetchWeights(ctx, w, bn, kw, k0, kPer);
        ctx.awaitPreviousKernel();
        int[] c00 = new int[4], c01 = new int[4], c02 = new int[4], c03 = new int[4];
        int[] c10 = new int[4], c11 = new int[4], c12 = new int[4], c13 = new int[4];
        multiply64deep(ctx, as, ws, a, w, bm, bn, kw, k0, kPer >> 4, c00, c01, c02, c03, c10, c11, c12, c13);
        finishSplit(ctx, c00, c01, c02, c03, c10, c11, c12, c13, sx, sw, bias, y, n, gelu, bm, bn, block, split, splits, partials, arrivals);
    }

    /**
     * Before waiting for the previous kernel: asks L2 for the weight rows of this block's 64 output features, words
     * {@code k0 … k0 + words} of each (a 128-byte line per request), which no kernel of the graph writes, so that they
     * stream in while the previous kernel finishes. Only the first row of blocks asks (the others read the same
     * weights): at large M every block asking cost 10% (bert-base b128, H200).
     */
    static void prefetchWeights(KernelContext ctx, IntArray w, int bn, int kw, int k0, int words) {
        prefetchWeightRows(ctx, w, bn, kw, k0, words, 64, 128);
    }

    /** {@link #prefetchWeights} for {@code rows} weight rows from {@code bn}, in blocks of {@code threads} threads. */
    static void prefetchWeightRows(KernelContext ctx, IntArray w, int bn, int kw, int k0, int words, int rows, int threads) {
        int lines = words >> 5;
        for (int l = ctx.localIdx(); l < rows * lines; l += threads) {
            int row = l / lines;
            ctx.prefetchL2(w, (bn + row) * kw + k0 + ((l - row * lines) << 5));
        }
    }

    /**
     * The main loop of the 64×64 tiles: {@code c += A[bm …, k0 …]·W[bn …, k0 …]ᵀ} over {@code stages} 64-byte slices of K
     * from word {@code k0}, each warp a 32×32 corner (2 m-tiles × 4 n-tiles of {@code mma.m16n8k32}); four slices in
     * flight ({@code cp.async}), {@code ldmatrix} fragments from swizzled shared memory.
     */
    static void multiply64(KernelContext ctx, int[] as, int[] ws, IntArray a, IntArray w, int bm, int bn, int kw, int k0, int stages,
                           int[] c00, int[] c01, int[] c02, int[] c03, int[] c10, int[] c11, int[] c12, int[] c13) {
        int tid = ctx.localIdx(), warp = tid >> 5, lane = tid & 31;
        int wm = (warp >> 1) << 5, wn = (warp & 1) << 5;
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

    /**
     * One staged 64-byte slice of K through a warp's 32×32 corner: two k32 steps, each the A fragments of its two m-tiles and
     * the B fragments of its four n-tiles from {@code ldmatrix} (rows from word {@code aAt} and {@code bAt}), then 8 {@code mma}.
     */
    static void slice64(KernelContext ctx, int[] as, int[] ws, int aAt, int bAt, int aOff0, int aOff1, int bOff0, int bOff1,
                        int[] a0, int[] a1, int[] b0, int[] b1, int[] c00, int[] c01, int[] c02, int[] c03, int[] c10, int[] c11,
                        int[] c12, int[] c13) {
        ctx.ldmatrix4(a0, as, aAt + aOff0);
        ctx.ldmatrix4(a1, as, aAt + 256 + aOff0);
        ctx.ldmatrix4(b0, ws, bAt + bOff0);
        ctx.ldmatrix4(b1, ws, bAt + 256 + bOff0);
        quarterS8(ctx, c00, c01, c02, c03, a0, b0, b1);
        quarterS8(ctx, c10, c11, c12, c13, a1, b0, b1);
        ctx.ldmatrix4(a0, as, aAt + aOff1);
        ctx.ldmatrix4(a1, as, aAt + 256 + aOff1);
        ctx.ldmatrix4(b0, ws, bAt + bOff1);
        ctx.ldmatrix4(b1, ws, bAt + 256 + bOff1);
        quarterS8(ctx, c00, c01, c02, c03, a0, b0, b1);
        quarterS8(ctx, c10, c11, c12, c13, a1, b0, b1);
    }

    /**
     * {@link #multiply64} with eight slices in flight (a ring of 8 slots of 1024 words in {@code as} and {@code ws}). Slices
     * past the last are not copied (an empty group is committed in their place, which keeps the count that each wait
     * expects): with few slices, the last one is not fetched again and again as {@link #multiply64} does.
     */
    static void multiply64deep(KernelContext ctx, int[] as, int[] ws, IntArray a, IntArray w, int bm, int bn, int kw, int k0, int stages,
                               int[] c00, int[] c01, int[] c02, int[] c03, int[] c10, int[] c11, int[] c12, int[] c13) {
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

    /** The epilogue of a warp's 32×32 corner: rows r, r + 16 (and + 8 within each tile), columns c, c + 8, c + 16, c + 24. */
    static void storeAll(int[] c00, int[] c01, int[] c02, int[] c03, int[] c10, int[] c11, int[] c12, int[] c13, FloatArray sx, FloatArray sw,
                         FloatArray bias, IntArray y, int r, int c, int n, int gelu) {
        storeRows(c00, c01, c02, c03, c10, c11, c12, c13, sx.get(r), sx.get(r + 8), sx.get(r + 16), sx.get(r + 24), sw, bias, y, r, c, n, gelu,
                new int[4]);
    }

    /**
     * {@link #storeAll} with the four rows' activation scales given (rows r, r + 8, r + 16, r + 24); returns in
     * {@code mag} the largest FP16 magnitude (bits of |y|, {@link #magnitude}) this lane wrote in each of the four rows.
     */
    static void storeRows(int[] c00, int[] c01, int[] c02, int[] c03, int[] c10, int[] c11, int[] c12, int[] c13, float s0, float s8,
                          float s16, float s24, FloatArray sw, FloatArray bias, IntArray y, int r, int c, int n, int gelu, int[] mag) {
        // Every factor first, then the stores: a load placed after a store waits for it (the store might alias it), and
        // eight store-then-load round trips were on the critical path of the small products (batch-1 BERT's M = 128).
        float w0 = sw.get(c), w1 = sw.get(c + 1), w8 = sw.get(c + 8), w9 = sw.get(c + 9);
        float w16 = sw.get(c + 16), w17 = sw.get(c + 17), w24 = sw.get(c + 24), w25 = sw.get(c + 25);
        float b0 = bias.get(c), b1 = bias.get(c + 1), b8 = bias.get(c + 8), b9 = bias.get(c + 9);
        float b16 = bias.get(c + 16), b17 = bias.get(c + 17), b24 = bias.get(c + 24), b25 = bias.get(c + 25);
        int at = (r * n + c) >> 1, rows8 = n << 2;   // words of (r, c) and 8 rows on
        int m0 = storeFactors(c00, y, s0, s8, w0, w1, b0, b1, at, at + rows8, gelu);
        int m1 = storeFactors(c01, y, s0, s8, w8, w9, b8, b9, at + 4, at + 4 + rows8, gelu);
        int m2 = storeFactors(c02, y, s0, s8, w16, w17, b16, b17, at + 8, at + 8 + rows8, gelu);
        int m3 = storeFactors(c03, y, s0, s8, w24, w25, b24, b25, at + 12, at + 12 + rows8, gelu);
        at += rows8 << 1;
        int m4 = storeFactors(c10, y, s16, s24, w0, w1, b0, b1, at, at + rows8, gelu);
        int m5 = storeFactors(c11, y, s16, s24, w8, w9, b8, b9, at + 4, at + 4 + rows8, gelu);
        int m6 = storeFactors(c12, y, s16, s24, w16, w17, b16, b17, at + 8, at + 8 + rows8, gelu);
        int m7 = storeFactors(c13, y, s16, s24, w24, w25, b24, b25, at + 12, at + 12 + rows8, gelu);
        mag[0] = Math.max(Math.max(m0 & 0xFFFF, m1 & 0xFFFF), Math.max(m2 & 0xFFFF, m3 & 0xFFFF));
        mag[1] = Math.max(Math.max(m0 >> 16, m1 >> 16), Math.max(m2 >> 16, m3 >> 16));
        mag[2] = Math.max(Math.max(m4 & 0xFFFF, m5 & 0xFFFF), Math.max(m6 & 0xFFFF, m7 & 0xFFFF));
        mag[3] = Math.max(Math.max(m4 >> 16, m5 >> 16), Math.max(m6 >> 16, m7 >> 16));
    }

    static int storeFactors(int[] acc, IntArray y, float s0, float s8, float w0, float w1, float b0, float b1, int at0, int at8, int gelu) {
        return storeFactors(acc[0], acc[1], acc[2], acc[3], y, s0, s8, w0, w1, b0, b1, at0, at8, gelu);
    }

    /**
     * Every INT8 tile's epilogue of one {@code mma} fragment (rows r and r + 8 at words at0 and at8, columns c and c + 1):
     * {@code sx·sw·sum + bias}, GeLU'd or not, as an FP16 pair. One body, so that every tile gives the same bits. Returns
     * the larger FP16 magnitude of each row's pair, row r's in the low 16 bits (for the row maxima of token-wise codes).
     */
    static int storeFactors(int c0, int c1, int c2, int c3, IntArray y, float s0, float s8, float w0, float w1, float b0, float b1,
                            int at0, int at8, int gelu) {
        int p0 = Epilogue.pair(s0 * w0 * c0 + b0, s0 * w1 * c1 + b1, gelu), p8 = Epilogue.pair(s8 * w0 * c2 + b0, s8 * w1 * c3 + b1, gelu);
        y.set(at0, p0);
        y.set(at8, p8);
        return magnitude(p0) | (magnitude(p8) << 16);
    }

    /**
     * The larger magnitude of an FP16 pair, as the bits of |h| (0 to 0x7FFF): for FP16, as for FP32, those bits order as
     * the magnitudes do, infinity above every finite value and NaN above infinity, so an integer maximum of them is
     * {@code Math.max} of the magnitudes, NaN included.
     */
    static int magnitude(int pair) { return Math.max(pair & 0x7FFF, (pair >> 16) & 0x7FFF); }

    /** A lane's 32 sums into a 64×64 tile of {@code partials} from {@code at} (its first sum's place), as {@link #addPart} reads them. */
    static void savePart(IntArray partials, int at, int[] c00, int[] c01, int[] c02, int[] c03, int[] c10, int[] c11, int[] c12, int[] c13) {
        saveTile(partials, at, c00);
        saveTile(partials, at + 8, c01);
        saveTile(partials, at + 16, c02);
        saveTile(partials, at + 24, c03);
        saveTile(partials, at + 1024, c10);
        saveTile(partials, at + 1032, c11);
        saveTile(partials, at + 1040, c12);
        saveTile(partials, at + 1048, c13);
    }

    static void saveTile(IntArray partials, int at, int[] c) {
        partials.set(at, c[0]);
        partials.set(at + 1, c[1]);
        partials.set(at + 512, c[2]);
        partials.set(at + 513, c[3]);
    }

    /** {@code c += } another block's part of the same 32 sums ({@link #savePart}'s layout). */
    static void addPart(IntArray partials, int at, int[] c00, int[] c01, int[] c02, int[] c03, int[] c10, int[] c11, int[] c12, int[] c13) {
        addTile(partials, at, c00);
        addTile(partials, at + 8, c01);
        addTile(partials, at + 16, c02);
        addTile(partials, at + 24, c03);
        addTile(partials, at + 1024, c10);
        addTile(partials, at + 1032, c11);
        addTile(partials, at + 1040, c12);
        addTile(partials, at + 1048, c13);
    }

    static void addTile(IntArray partials, int at, int[] c) {
        c[0] += partials.get(at);
        c[1] += partials.get(at + 1);
        c[2] += partials.get(at + 512);
        c[3] += partials.get(at + 513);
    }

    /** One m-tile's 4 {@code mma} against the two B fragment pairs of the warp's 32 columns. */
    static void quarterS8(KernelContext ctx, int[] c0, int[] c1, int[] c2, int[] c3, int[] a, int[] b0, int[] b1) {
        ctx.mmaS8(c0, a[0], a[1], a[2], a[3], b0[0], b0[1]);
        ctx.mmaS8(c1, a[0], a[1], a[2], a[3], b0[2], b0[3]);
        ctx.mmaS8(c2, a[0], a[1], a[2], a[3], b1[0], b1[1]);
        ctx.mmaS8(c3, a[0], a[1], a[2], a[3], b1[2], b1[3]);
    }

    /**
     * The fused epilogue of one 16×8 tile: this lane's four outputs dequantized ({@code (S_x·S_w)·acc}, the same
     * float operations as the CPU's integer path), plus bias, optionally GeLU'd, written as two half pairs.
     */
    /** A wgmma accumulator's 64 sums (16 n8 slices of {@link KernelContext#wgmmaS8}'s fragment) through the epilogue. */
    static void storeWgmma(int[] acc, FloatArray sx, FloatArray sw, FloatArray bias, IntArray y, int r, int c, int n, int gelu) {
        store(acc[0], acc[1], acc[2], acc[3], sx, sw, bias, y, r, c + 0, n, gelu);
        store(acc[4], acc[5], acc[6], acc[7], sx, sw, bias, y, r, c + 8, n, gelu);
        store(acc[8], acc[9], acc[10], acc[11], sx, sw, bias, y, r, c + 16, n, gelu);
        store(acc[12], acc[13], acc[14], acc[15], sx, sw, bias, y, r, c + 24, n, gelu);
        store(acc[16], acc[17], acc[18], acc[19], sx, sw, bias, y, r, c + 32, n, gelu);
        store(acc[20], acc[21], acc[22], acc[23], sx, sw, bias, y, r, c + 40, n, gelu);
        store(acc[24], acc[25], acc[26], acc[27], sx, sw, bias, y, r, c + 48, n, gelu);
        store(acc[28], acc[29], acc[30], acc[31], sx, sw, bias, y, r, c + 56, n, gelu);
        store(acc[32], acc[33], acc[34], acc[35], sx, sw, bias, y, r, c + 64, n, gelu);
        store(acc[36], acc[37], acc[38], acc[39], sx, sw, bias, y, r, c + 72, n, gelu);
        store(acc[40], acc[41], acc[42], acc[43], sx, sw, bias, y, r, c + 80, n, gelu);
        store(acc[44], acc[45], acc[46], acc[47], sx, sw, bias, y, r, c + 88, n, gelu);
        store(acc[48], acc[49], acc[50], acc[51], sx, sw, bias, y, r, c + 96, n, gelu);
        store(acc[52], acc[53], acc[54], acc[55], sx, sw, bias, y, r, c + 104, n, gelu);
        store(acc[56], acc[57], acc[58], acc[59], sx, sw, bias, y, r, c + 112, n, gelu);
        store(acc[60], acc[61], acc[62], acc[63], sx, sw, bias, y, r, c + 120, n, gelu);
    }

    /** One {@code mma} fragment's four sums (rows r and r + 8, columns c and c + 1) dequantized, plus bias, GeLU'd or not, as FP16. */
    static void store(int c0, int c1, int c2, int c3, FloatArray sx, FloatArray sw, FloatArray bias, IntArray y, int r, int c, int n, int gelu) {
        float s0 = sx.get(r), s8 = sx.get(r + 8), w0 = sw.get(c), w1 = sw.get(c + 1), b0 = bias.get(c), b1 = bias.get(c + 1);
        storeFactors(c0, c1, c2, c3, y, s0, s8, w0, w1, b0, b1, (r * n + c) >> 1, ((r + 8) * n + c) >> 1, gelu);
    }

    static void store(int[] acc, FloatArray sx, FloatArray sw, FloatArray bias, IntArray y, int r, int c, int n, int gelu) {
        store(acc[0], acc[1], acc[2], acc[3], sx, sw, bias, y, r, c, n, gelu);
    }
}
