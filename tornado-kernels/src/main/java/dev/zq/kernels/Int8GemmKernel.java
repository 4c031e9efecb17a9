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
        int[] acc = new int[32];
        for (int k0 = 0; k0 < kw; k0 += 8) {
            for (int j = 0; j < 4; j++) {
                int e = tid + (j << 7), row = e >> 3, col = e & 7;
                as[row * STRIDE + col] = a.get((bm + row) * kw + k0 + col);
                ws[row * STRIDE + col] = w.get((bn + row) * kw + k0 + col);
            }
            ctx.barrier();
            for (int mi = 0; mi < 2; mi++) {
                int r0 = (wm + (mi << 4) + g) * STRIDE;
                int a0 = as[r0 + t], a1 = as[r0 + 8 * STRIDE + t], a2 = as[r0 + 4 + t], a3 = as[r0 + 8 * STRIDE + 4 + t];
                for (int ni = 0; ni < 4; ni++) {
                    int c0 = (wn + (ni << 3) + g) * STRIDE;
                    ctx.mmaS8(acc, ((mi << 2) + ni) << 2, a0, a1, a2, a3, ws[c0 + t], ws[c0 + 4 + t]);
                }
            }
            ctx.barrier();
        }
        for (int mi = 0; mi < 2; mi++)
            for (int ni = 0; ni < 4; ni++) {
                int i = ((mi << 2) + ni) << 2;
                int r = bm + wm + (mi << 4) + g, c = bn + wn + (ni << 3) + (t << 1);
                float s0 = sx.get(r), s8 = sx.get(r + 8), w0 = sw.get(c), w1 = sw.get(c + 1), b0 = bias.get(c), b1 = bias.get(c + 1);
                y.set(r * n + c, s0 * w0 * acc[i] + b0);
                y.set(r * n + c + 1, s0 * w1 * acc[i + 1] + b1);
                y.set((r + 8) * n + c, s8 * w0 * acc[i + 2] + b0);
                y.set((r + 8) * n + c + 1, s8 * w1 * acc[i + 3] + b1);
            }
    }
}
