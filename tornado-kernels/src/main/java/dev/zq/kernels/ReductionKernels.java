package dev.zq.kernels;

import dev.zq.runtime.ByteArray;
import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;

/** Block-level reductions: shared memory with barriers, and warp shuffles. */
public final class ReductionKernels {
    private ReductionKernels() {}

    /** Sum of each block's 256 elements by a tree in shared memory; block b writes partial[b]. */
    @Kernel
    public static void blockSum(KernelContext ctx, FloatArray x, FloatArray partial, int n) {
        float[] s = ctx.allocateFloatShared(256);
        treeSum(ctx, s, x, n);
        if (ctx.localIdx() == 0) partial.set(ctx.groupIdx(), s[0]);
    }

    /**
     * {@link #blockSum} over a thread-block cluster of 4: each block sums its 256 elements, then reads its peers' sums
     * from their shared memory ({@link KernelContext#clusterLoad}) and writes the cluster's total, its blocks' sums
     * added in rank order, to {@code total[b]}; with {@code rankOf[b]} its rank. Launch a multiple of 4 blocks of 256.
     */
    @Kernel(cluster = 4)
    public static void clusterSum(KernelContext ctx, FloatArray x, FloatArray total, FloatArray rankOf, int n) {
        float[] s = ctx.allocateFloatShared(256);
        treeSum(ctx, s, x, n);
        ctx.clusterBarrier();
        if (ctx.localIdx() == 0) {
            float sum = 0f;
            for (int r = 0; r < 4; r++) sum += ctx.clusterLoad(s, 0, r);
            total.set(ctx.groupIdx(), sum);
            rankOf.set(ctx.groupIdx(), ctx.clusterRank());
        }
        ctx.clusterBarrier();   // the peers may still read s
    }

    /** The block's 256 elements of {@code x} (zeros past n) summed by a tree in {@code s}: the sum in s[0], for every thread. */
    static void treeSum(KernelContext ctx, float[] s, FloatArray x, int n) {
        int t = ctx.localIdx(), i = ctx.globalIdx();
        s[t] = i < n ? x.get(i) : 0f;
        ctx.barrier();
        for (int stride = 128; stride > 0; stride >>= 1) {
            if (t < stride) s[t] = s[t] + s[t + stride];
            ctx.barrier();
        }
    }

    /** Maximum of |x| over each warp of 32 by butterfly shuffles; lane 0 writes it. */
    @Kernel
    public static void warpAbsMax(KernelContext ctx, FloatArray x, FloatArray out, int n) {
        int i = ctx.globalIdx();
        float m = i < n ? Math.abs(x.get(i)) : 0f;
        for (int mask = 16; mask > 0; mask >>= 1) m = Math.max(m, ctx.shflXor(m, mask));
        if (ctx.laneId() == 0) out.set(i >> 5, m);
    }

    /**
     * ZeroQuant's token-wise INT8 quantization, one block of 256 threads per row: the row's max |x| by a
     * shared-memory tree, scale = max/127, codes = round-half-even(x/scale) clamped to [-128, 127]. The
     * same arithmetic as {@code dev.zq.quant.TokenwiseQuantizer} (division, not multiplication by 1/scale).
     */
    @Kernel
    public static void tokenwiseQuantize(KernelContext ctx, FloatArray x, ByteArray codes, FloatArray scales, int k) {
        float[] s = ctx.allocateFloatShared(256);
        int t = ctx.localIdx(), row = ctx.groupIdx();
        int base = row * k;
        float m = 0f;
        for (int j = t; j < k; j += 256) m = Math.max(m, Math.abs(x.get(base + j)));
        s[t] = m;
        ctx.barrier();
        for (int stride = 128; stride > 0; stride >>= 1) {
            if (t < stride) s[t] = Math.max(s[t], s[t + stride]);
            ctx.barrier();
        }
        float scale = s[0] / 127f;
        if (t == 0) scales.set(row, scale);
        for (int j = t; j < k; j += 256) {
            int q = 0;
            if (scale != 0f) q = roundHalfEven(x.get(base + j) / scale);
            codes.set(base + j, (byte) Math.max(-128, Math.min(127, q)));
        }
    }

    /** Math.rint for |v| < 2^22, as adding and removing 1.5·2^23 does in float arithmetic. */
    static int roundHalfEven(float v) {
        float magic = 12582912f;
        return (int) ((v + magic) - magic);
    }
}
