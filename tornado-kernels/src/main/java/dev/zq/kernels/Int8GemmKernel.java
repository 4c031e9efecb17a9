package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;

/**
 * ZeroQuant's W8A8 GEMM with the dequantization fused into its epilogue:
 * {@code y[m][n] = S_x[m] · S_w[n] · (Σ_k x̄[m][k]·w̄[n][k]) + b[n]}, the integer sum on INT8 tensor cores.
 * A block of 4 warps computes a 64×64 tile of y. Every 128-byte step of K stages the block's A and W slices
 * in shared memory (64 rows × 32 words, padded to 36 words so that a warp's fragment reads hit 32 different
 * banks and a warp's staging writes one contiguous 128-byte row), then each warp issues 4 × 8
 * {@code mma.m16n8k32} for its 32×32 quarter between two barriers. Operands as in {@link Int8MmaKernels}:
 * row-major INT8 viewed as ints (K/4 per row). Requires M % 64 == 0, N % 64 == 0, K % 128 == 0.
 */
public final class Int8GemmKernel {
    static final int STRIDE = 36;   // words per staged row: 32 used + 4 padding
    static final int BK = 32;       // words of K per stage (128 INT8 values)

    private Int8GemmKernel() {}

    /** Launch {@code (M/64)·(N/64)} blocks of 128 threads. */
    @Kernel
    public static void gemmDequant(KernelContext ctx, IntArray a, IntArray w, FloatArray sx, FloatArray sw, FloatArray bias,
                                   FloatArray y, int m, int n, int k) {
        int[] as = ctx.allocateIntShared(2304);
        int[] ws = ctx.allocateIntShared(2304);
        int tid = ctx.localIdx(), block = ctx.groupIdx();
        int blocksN = n >> 6;
        int bm = (block / blocksN) << 6, bn = (block - (block / blocksN) * blocksN) << 6;
        int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
        int wm = (warp >> 1) << 5, wn = (warp & 1) << 5;
        int kw = k >> 2;
        // One accumulator array per 16×8 tile, always indexed by constants, so ptxas keeps them in registers.
        int[] c00 = new int[4], c01 = new int[4], c02 = new int[4], c03 = new int[4];
        int[] c10 = new int[4], c11 = new int[4], c12 = new int[4], c13 = new int[4];
        int w0 = (wn + g) * STRIDE + t, w1 = w0 + 8 * STRIDE, w2 = w0 + 16 * STRIDE, w3 = w0 + 24 * STRIDE;
        int r0 = (wm + g) * STRIDE + t, r1 = r0 + 16 * STRIDE;
        // This thread stages word (tid & 31) of rows (tid >> 5) + 4j: a warp copies one whole 128-byte row.
        int col = tid & 31, row0 = tid >> 5;
        int srcA = (bm + row0) * kw + col, srcW = (bn + row0) * kw + col, dst = row0 * STRIDE + col;
        for (int k0 = 0; k0 < kw; k0 += BK) {
            for (int j = 0; j < 16; j++) {
                as[dst + j * 4 * STRIDE] = a.get(srcA + j * 4 * kw + k0);
                ws[dst + j * 4 * STRIDE] = w.get(srcW + j * 4 * kw + k0);
            }
            ctx.barrier();
            for (int kk = 0; kk < BK; kk += 8) {
                int a0 = as[r0 + kk], a1 = as[r0 + 8 * STRIDE + kk], a2 = as[r0 + 4 + kk], a3 = as[r0 + 8 * STRIDE + 4 + kk];
                int b00 = ws[w0 + kk], b01 = ws[w0 + 4 + kk], b10 = ws[w1 + kk], b11 = ws[w1 + 4 + kk];
                int b20 = ws[w2 + kk], b21 = ws[w2 + 4 + kk], b30 = ws[w3 + kk], b31 = ws[w3 + 4 + kk];
                ctx.mmaS8(c00, a0, a1, a2, a3, b00, b01);
                ctx.mmaS8(c01, a0, a1, a2, a3, b10, b11);
                ctx.mmaS8(c02, a0, a1, a2, a3, b20, b21);
                ctx.mmaS8(c03, a0, a1, a2, a3, b30, b31);
                a0 = as[r1 + kk];
                a1 = as[r1 + 8 * STRIDE + kk];
                a2 = as[r1 + 4 + kk];
                a3 = as[r1 + 8 * STRIDE + 4 + kk];
                ctx.mmaS8(c10, a0, a1, a2, a3, b00, b01);
                ctx.mmaS8(c11, a0, a1, a2, a3, b10, b11);
                ctx.mmaS8(c12, a0, a1, a2, a3, b20, b21);
                ctx.mmaS8(c13, a0, a1, a2, a3, b30, b31);
            }
            ctx.barrier();
        }
        int r = bm + wm + g, c = bn + wn + (t << 1);
        store(c00, sx, sw, bias, y, r, c, n);
        store(c01, sx, sw, bias, y, r, c + 8, n);
        store(c02, sx, sw, bias, y, r, c + 16, n);
        store(c03, sx, sw, bias, y, r, c + 24, n);
        store(c10, sx, sw, bias, y, r + 16, c, n);
        store(c11, sx, sw, bias, y, r + 16, c + 8, n);
        store(c12, sx, sw, bias, y, r + 16, c + 16, n);
        store(c13, sx, sw, bias, y, r + 16, c + 24, n);
    }

    /**
     * The same product for large problems: a 128×128 tile per block of 8 warps (256 threads), each warp owning
     * a 64×32 piece (16 {@code mma} tiles, so every fragment read from shared memory feeds twice as many
     * {@code mma}s as in {@link #gemmDequant}), staged by asynchronous copies ({@code cp.async}, 16 bytes per
     * thread and instruction) into two shared-memory buffers: while the warps multiply one 64-byte slice of K,
     * the next one is on its way. Launch {@code (M/128)·(N/128)} blocks of 256 threads; M % 128 == 0,
     * N % 128 == 0, K % 128 == 0.
     */
    @Kernel
    public static void gemmDequantAsync(KernelContext ctx, IntArray a, IntArray w, FloatArray sx, FloatArray sw, FloatArray bias,
                                        FloatArray y, int m, int n, int k) {
        int[] as = ctx.allocateIntShared(5120);   // 2 buffers × 128 rows × 20 words (16 used + 4 padding)
        int[] ws = ctx.allocateIntShared(5120);
        int tid = ctx.localIdx(), block = ctx.groupIdx();
        int blocksN = n >> 7;
        int bm = (block / blocksN) << 7, bn = (block - (block / blocksN) * blocksN) << 7;
        int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
        int wm = (warp >> 2) << 6, wn = (warp & 3) << 5;
        int kw = k >> 2;
        int[] c00 = new int[4], c01 = new int[4], c02 = new int[4], c03 = new int[4];
        int[] c10 = new int[4], c11 = new int[4], c12 = new int[4], c13 = new int[4];
        int[] c20 = new int[4], c21 = new int[4], c22 = new int[4], c23 = new int[4];
        int[] c30 = new int[4], c31 = new int[4], c32 = new int[4], c33 = new int[4];
        // Rows of 20 words: the 8 rows a fragment read touches start at banks 0, 20, 8, 28, 16, 4, 24, 12.
        int w0 = (wn + g) * 20 + t, w1 = w0 + 160, w2 = w0 + 320, w3 = w0 + 480;
        int r0 = (wm + g) * 20 + t;
        // Each thread copies 16-byte chunks (tid & 3) of rows (tid >> 2) and (tid >> 2) + 64, of A and of W.
        int chunk = (tid & 3) << 2, row = tid >> 2;
        int srcA = (bm + row) * kw + chunk, srcW = (bn + row) * kw + chunk, dst = row * 20 + chunk;
        ctx.copyAsync16(as, dst, a, srcA);
        ctx.copyAsync16(as, dst + 1280, a, srcA + 64 * kw);
        ctx.copyAsync16(ws, dst, w, srcW);
        ctx.copyAsync16(ws, dst + 1280, w, srcW + 64 * kw);
        ctx.copyAsyncCommit();
        int buf = 0;
        for (int k0 = 0; k0 < kw; k0 += 16) {
            // Start the next slice (in the last step, a harmless re-copy of this one into the idle buffer, so
            // that the loop has no branch: ptxas then keeps the accumulators in registers), then wait for this one.
            int next = (buf ^ 1) * 2560 + dst, kn = Math.min(k0 + 16, kw - 16);
            ctx.copyAsync16(as, next, a, srcA + kn);
            ctx.copyAsync16(as, next + 1280, a, srcA + 64 * kw + kn);
            ctx.copyAsync16(ws, next, w, srcW + kn);
            ctx.copyAsync16(ws, next + 1280, w, srcW + 64 * kw + kn);
            ctx.copyAsyncCommit();
            ctx.copyAsyncWait(1);
            ctx.barrier();
            int base = buf * 2560;
            for (int kk = 0; kk < 16; kk += 8) {
                int o = base + kk;
                int b00 = ws[w0 + o], b01 = ws[w0 + 4 + o], b10 = ws[w1 + o], b11 = ws[w1 + 4 + o];
                int b20 = ws[w2 + o], b21 = ws[w2 + 4 + o], b30 = ws[w3 + o], b31 = ws[w3 + 4 + o];
                int ra0 = r0 + o;
                int a00 = as[ra0], a01 = as[ra0 + 160], a02 = as[ra0 + 4], a03 = as[ra0 + 164];
                ctx.mmaS8(c00, a00, a01, a02, a03, b00, b01);
                ctx.mmaS8(c01, a00, a01, a02, a03, b10, b11);
                ctx.mmaS8(c02, a00, a01, a02, a03, b20, b21);
                ctx.mmaS8(c03, a00, a01, a02, a03, b30, b31);
                int ra1 = r0 + 320 + o;
                int a10 = as[ra1], a11 = as[ra1 + 160], a12 = as[ra1 + 4], a13 = as[ra1 + 164];
                ctx.mmaS8(c10, a10, a11, a12, a13, b00, b01);
                ctx.mmaS8(c11, a10, a11, a12, a13, b10, b11);
                ctx.mmaS8(c12, a10, a11, a12, a13, b20, b21);
                ctx.mmaS8(c13, a10, a11, a12, a13, b30, b31);
                int ra2 = r0 + 640 + o;
                int a20 = as[ra2], a21 = as[ra2 + 160], a22 = as[ra2 + 4], a23 = as[ra2 + 164];
                ctx.mmaS8(c20, a20, a21, a22, a23, b00, b01);
                ctx.mmaS8(c21, a20, a21, a22, a23, b10, b11);
                ctx.mmaS8(c22, a20, a21, a22, a23, b20, b21);
                ctx.mmaS8(c23, a20, a21, a22, a23, b30, b31);
                int ra3 = r0 + 960 + o;
                int a30 = as[ra3], a31 = as[ra3 + 160], a32 = as[ra3 + 4], a33 = as[ra3 + 164];
                ctx.mmaS8(c30, a30, a31, a32, a33, b00, b01);
                ctx.mmaS8(c31, a30, a31, a32, a33, b10, b11);
                ctx.mmaS8(c32, a30, a31, a32, a33, b20, b21);
                ctx.mmaS8(c33, a30, a31, a32, a33, b30, b31);
            }
            ctx.barrier();
            buf ^= 1;
        }
        int r = bm + wm + g, c = bn + wn + (t << 1);
        store(c00, sx, sw, bias, y, r, c, n);
        store(c01, sx, sw, bias, y, r, c + 8, n);
        store(c02, sx, sw, bias, y, r, c + 16, n);
        store(c03, sx, sw, bias, y, r, c + 24, n);
        store(c10, sx, sw, bias, y, r + 16, c, n);
        store(c11, sx, sw, bias, y, r + 16, c + 8, n);
        store(c12, sx, sw, bias, y, r + 16, c + 16, n);
        store(c13, sx, sw, bias, y, r + 16, c + 24, n);
        store(c20, sx, sw, bias, y, r + 32, c, n);
        store(c21, sx, sw, bias, y, r + 32, c + 8, n);
        store(c22, sx, sw, bias, y, r + 32, c + 16, n);
        store(c23, sx, sw, bias, y, r + 32, c + 24, n);
        store(c30, sx, sw, bias, y, r + 48, c, n);
        store(c31, sx, sw, bias, y, r + 48, c + 8, n);
        store(c32, sx, sw, bias, y, r + 48, c + 16, n);
        store(c33, sx, sw, bias, y, r + 48, c + 24, n);
    }

    /** The fused epilogue of one 16×8 tile: this lane's four outputs, dequantized, plus bias. */
    static void store(int[] acc, FloatArray sx, FloatArray sw, FloatArray bias, FloatArray y, int r, int c, int n) {
        float s0 = sx.get(r), s8 = sx.get(r + 8), w0 = sw.get(c), w1 = sw.get(c + 1), b0 = bias.get(c), b1 = bias.get(c + 1);
        y.set(r * n + c, s0 * w0 * acc[0] + b0);
        y.set(r * n + c + 1, s0 * w1 * acc[1] + b1);
        y.set((r + 8) * n + c, s8 * w0 * acc[2] + b0);
        y.set((r + 8) * n + c + 1, s8 * w1 * acc[3] + b1);
    }
}
