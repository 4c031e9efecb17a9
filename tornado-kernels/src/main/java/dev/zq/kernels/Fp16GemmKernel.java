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
        store(c00, bias, y, r, c, n, gelu);
        store(c01, bias, y, r, c + 8, n, gelu);
        store(c02, bias, y, r, c + 16, n, gelu);
        store(c03, bias, y, r, c + 24, n, gelu);
        store(c10, bias, y, r + 16, c, n, gelu);
        store(c11, bias, y, r + 16, c + 8, n, gelu);
        store(c12, bias, y, r + 16, c + 16, n, gelu);
        store(c13, bias, y, r + 16, c + 24, n, gelu);
    }

    /** Launch {@code (M/128)·(N/128)} blocks of 256 threads; M and N multiples of 128, K of 32. */
    @Kernel
    public static void gemm128(KernelContext ctx, IntArray a, IntArray w, FloatArray bias, IntArray y,
                               int m, int n, int k, int gelu) {
        int[] as = ctx.allocateIntShared(5120);   // 2 buffers × 128 rows × 20 words
        int[] ws = ctx.allocateIntShared(5120);
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

    /** One 16×8 tile's four outputs of this lane, plus bias, optionally GeLU'd, as two half pairs. */
    static void store(float[] acc, FloatArray bias, IntArray y, int r, int c, int n, int gelu) {
        float b0 = bias.get(c), b1 = bias.get(c + 1);
        Epilogue.pair(y, r * n + c, acc[0] + b0, acc[1] + b1, gelu);
        Epilogue.pair(y, (r + 8) * n + c, acc[2] + b0, acc[3] + b1, gelu);
    }
}
