package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;

/**
 * ZeroQuant's W8A8 GEMM with the dequantization fused into its epilogue:
 * {@code y[m][n] = S_x[m] · S_w[n] · (Σ_k x̄[m][k]·w̄[n][k]) + b[n]}, the integer sum on INT8 tensor cores.
 * A block of 4 warps computes a 64×64 tile of y; every 32-byte step of K stages the block's A and W slices
 * in shared memory (rows padded to 12 words so the fragment reads of a warp hit 32 different banks), then
 * each warp issues 8 {@code mma.m16n8k32} for its 32×32 quarter. Operands as in {@link Int8MmaKernels}:
 * row-major INT8 viewed as ints (K/4 per row). Requires M % 64 == 0, N % 64 == 0, K % 32 == 0.
 */
public final class Int8GemmKernel {
    static final int STRIDE = 12;   // words per staged row: 8 used + 4 padding

    private Int8GemmKernel() {}

    /** Launch {@code (M/64)·(N/64)} blocks of 128 threads. */
    @Kernel
    public static void gemmDequant(KernelContext ctx, IntArray a, IntArray w, FloatArray sx, FloatArray sw, FloatArray bias,
                                   FloatArray y, int m, int n, int k) {
        int[] as = ctx.allocateIntShared(768);
        int[] ws = ctx.allocateIntShared(768);
        int tid = ctx.localIdx(), block = ctx.groupIdx();
        int blocksN = n >> 6;
        int bm = (block / blocksN) << 6, bn = (block - (block / blocksN) * blocksN) << 6;
        int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
        int wm = (warp >> 1) << 5, wn = (warp & 1) << 5;
        int kw = k >> 2;
        // One accumulator array per 16×8 tile, always indexed by constants, so ptxas keeps them in registers.
        int[] c00 = new int[4], c01 = new int[4], c02 = new int[4], c03 = new int[4];
        int[] c10 = new int[4], c11 = new int[4], c12 = new int[4], c13 = new int[4];
        int w0 = (wn + g) * STRIDE, w1 = w0 + 8 * STRIDE, w2 = w0 + 16 * STRIDE, w3 = w0 + 24 * STRIDE;
        int r0 = (wm + g) * STRIDE, r1 = r0 + 16 * STRIDE;
        for (int k0 = 0; k0 < kw; k0 += 8) {
            for (int j = 0; j < 4; j++) {
                int e = tid + (j << 7), row = e >> 3, col = e & 7;
                as[row * STRIDE + col] = a.get((bm + row) * kw + k0 + col);
                ws[row * STRIDE + col] = w.get((bn + row) * kw + k0 + col);
            }
            ctx.barrier();
            int a0 = as[r0 + t], a1 = as[r0 + 8 * STRIDE + t], a2 = as[r0 + 4 + t], a3 = as[r0 + 8 * STRIDE + 4 + t];
            int b00 = ws[w0 + t], b01 = ws[w0 + 4 + t], b10 = ws[w1 + t], b11 = ws[w1 + 4 + t];
            int b20 = ws[w2 + t], b21 = ws[w2 + 4 + t], b30 = ws[w3 + t], b31 = ws[w3 + 4 + t];
            ctx.mmaS8(c00, a0, a1, a2, a3, b00, b01);
            ctx.mmaS8(c01, a0, a1, a2, a3, b10, b11);
            ctx.mmaS8(c02, a0, a1, a2, a3, b20, b21);
            ctx.mmaS8(c03, a0, a1, a2, a3, b30, b31);
            a0 = as[r1 + t];
            a1 = as[r1 + 8 * STRIDE + t];
            a2 = as[r1 + 4 + t];
            a3 = as[r1 + 8 * STRIDE + 4 + t];
            ctx.mmaS8(c10, a0, a1, a2, a3, b00, b01);
            ctx.mmaS8(c11, a0, a1, a2, a3, b10, b11);
            ctx.mmaS8(c12, a0, a1, a2, a3, b20, b21);
            ctx.mmaS8(c13, a0, a1, a2, a3, b30, b31);
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

    /** The fused epilogue of one 16×8 tile: this lane's four outputs, dequantized, plus bias. */
    static void store(int[] acc, FloatArray sx, FloatArray sw, FloatArray bias, FloatArray y, int r, int c, int n) {
        float s0 = sx.get(r), s8 = sx.get(r + 8), w0 = sw.get(c), w1 = sw.get(c + 1), b0 = bias.get(c), b1 = bias.get(c + 1);
        y.set(r * n + c, s0 * w0 * acc[0] + b0);
        y.set(r * n + c + 1, s0 * w1 * acc[1] + b1);
        y.set((r + 8) * n + c, s8 * w0 * acc[2] + b0);
        y.set((r + 8) * n + c + 1, s8 * w1 * acc[3] + b1);
    }
}
