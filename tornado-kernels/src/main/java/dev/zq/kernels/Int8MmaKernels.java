package dev.zq.kernels;

import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;

/**
 * INT8 (and FP16) tensor-core matrix multiplication in Java, one warp per 16×8 output tile: the first, plain step
 * towards the tiled GEMM with a fused dequantization epilogue (no shared-memory staging yet, operands read
 * straight from global memory through the caches).
 *
 * <p>Operands are INT8 matrices whose bytes are read four at a time: {@code a} is {@code A[M, K]} and
 * {@code w} is {@code W[N, K]} (a Linear weight, one row per output), both row-major, viewed as int arrays
 * of {@code K/4} words per row. Requires M % 16 == 0, N % 8 == 0, K % 32 == 0.
 */
public final class Int8MmaKernels {
    private Int8MmaKernels() {}

    /** {@code c[M, N] = A · Wᵀ} in exact INT32. Launch {@code (M/16)·(N/8)} warps. */
    @Kernel
    public static void gemmS8(KernelContext ctx, IntArray a, IntArray w, IntArray c, int m, int n, int k) {
        int warp = ctx.globalIdx() >> 5;
        int tilesN = n >> 3;
        int tm = warp / tilesN, tn = warp - tm * tilesN;
        if (tm * 16 >= m) return;   // the whole warp leaves together
        int lane = ctx.laneId();
        int g = lane >> 2, t = lane & 3;
        int kw = k >> 2;
        int rowA = tm * 16 + g, rowW = tn * 8 + g;
        int[] acc = new int[4];
        for (int k0 = 0; k0 < kw; k0 += 8) {   // 32 bytes of K per step
            int a0 = a.get(rowA * kw + k0 + t);
            int a1 = a.get((rowA + 8) * kw + k0 + t);
            int a2 = a.get(rowA * kw + k0 + 4 + t);
            int a3 = a.get((rowA + 8) * kw + k0 + 4 + t);
            int b0 = w.get(rowW * kw + k0 + t);
            int b1 = w.get(rowW * kw + k0 + 4 + t);
            ctx.mmaS8(acc, a0, a1, a2, a3, b0, b1);
        }
        int col = tn * 8 + 2 * t;
        c.set(rowA * n + col, acc[0]);
        c.set(rowA * n + col + 1, acc[1]);
        c.set((rowA + 8) * n + col, acc[2]);
        c.set((rowA + 8) * n + col + 1, acc[3]);
    }

    /**
     * {@code c[M, N] = A · Wᵀ} from FP16 operands with FP32 accumulation (m16n8k16 tensor-core steps); A and W
     * are row-major halves viewed as int arrays of K/2 words per row. Requires M % 16, N % 8, K % 16 == 0.
     */
    @Kernel
    public static void gemmF16(KernelContext ctx, IntArray a, IntArray w, dev.zq.runtime.FloatArray c, int m, int n, int k) {
        int warp = ctx.globalIdx() >> 5;
        int tilesN = n >> 3;
        int tm = warp / tilesN, tn = warp - tm * tilesN;
        if (tm * 16 >= m) return;
        int lane = ctx.laneId();
        int g = lane >> 2, t = lane & 3;
        int kw = k >> 1;
        int rowA = tm * 16 + g, rowW = tn * 8 + g;
        float[] acc = new float[4];
        for (int k0 = 0; k0 < kw; k0 += 8) {   // 16 halves of K per step
            int a0 = a.get(rowA * kw + k0 + t);
            int a1 = a.get((rowA + 8) * kw + k0 + t);
            int a2 = a.get(rowA * kw + k0 + 4 + t);
            int a3 = a.get((rowA + 8) * kw + k0 + 4 + t);
            int b0 = w.get(rowW * kw + k0 + t);
            int b1 = w.get(rowW * kw + k0 + 4 + t);
            ctx.mmaF16(acc, a0, a1, a2, a3, b0, b1);
        }
        int col = tn * 8 + 2 * t;
        c.set(rowA * n + col, acc[0]);
        c.set(rowA * n + col + 1, acc[1]);
        c.set((rowA + 8) * n + col, acc[2]);
        c.set((rowA + 8) * n + col + 1, acc[3]);
    }
}
