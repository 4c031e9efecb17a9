package dev.zq.kernels;

import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;
import dev.zq.runtime.KernelMath;

/**
 * The encoder's attention ({@link AttentionKernel}'s inputs, output and masking) on CUDA cores in FP32, one block per
 * (query row, head), every sum in an order the kernel itself fixes: the GPU and the CPU executor give the same bits.
 * {@link AttentionKernel}'s tensor-core {@code mma} sums in an order that only the hardware knows, so the CPU executor
 * reproduces it to about 1e-4, and with token-wise INT8 activations downstream (W8A8) such differences flip codes that
 * multiply layer by layer; this kernel is for when the GPU must equal its CPU reference (and for short sequences, where
 * a block per row is cheap). Unlike it, the exponentials stay FP32 in P·V.
 *
 * <p>Scores: a warp per key, each lane a pair of the head's dimensions, then a butterfly sum (the same in every
 * lane); masked keys (mask 0, or past the query when causal) score {@link AttentionKernel#MASKED}, so that a row with
 * no visible key attends uniformly, as there. Softmax over the block; P·V with each thread a (part of the keys,
 * pair of dimensions), the parts summed in order. Sequences up to {@link #MAX_SEQ} keys, head size up to 128.
 */
public final class RowAttentionKernel {
    private RowAttentionKernel() {}

    /** The most keys a sequence may have: the scores of one row live in shared memory. */
    public static final int MAX_SEQ = 1024;

    /** One block of 128 threads per (row of {@code rows = B·S}, head). */
    public static Grid grid(int rows, int heads) { return Grid.of(rows * heads, 128); }

    /**
     * {@code out[r, h·d …]} (FP16 pairs packed in ints, heads side by side) = softmax(q·Kᵀ·scale, masked)·V for every
     * row r and head h, from {@code qkv} [B·S, 3·heads·d] FP16 pairs and the key mask [B·S] (1 = a real token).
     */
    @Kernel
    public static void attention(KernelContext ctx, IntArray qkv, IntArray mask, IntArray out, int seq, int heads, int headDim, float scale,
                                 int causal) {
        ctx.awaitPreviousKernel();
        float[] q = ctx.allocateFloatShared(128);
        float[] scores = ctx.allocateFloatShared(MAX_SEQ);
        float[] red = ctx.allocateFloatShared(128);
        int tid = ctx.localIdx(), warp = tid >> 5, lane = tid & 31, threads = ctx.localSizeX(), warps = threads >> 5;
        int r = ctx.groupIdx() / heads, head = ctx.groupIdx() - r * heads, b = r / seq, i = r - b * seq;
        int hidden = heads * headDim, rowWords = (3 * hidden) >> 1, pairs = headDim >> 1;
        int qWord = r * rowWords + ((head * headDim) >> 1);
        if (tid < pairs) {
            int w = qkv.get(qWord + tid);
            q[2 * tid] = Float.float16ToFloat((short) w);
            q[2 * tid + 1] = Float.float16ToFloat((short) (w >> 16));
        }
        ctx.barrier();
        // Scores: key j of this sequence by warp j mod warps; lane = a pair of dimensions (lanes past the pairs add 0).
        for (int j = warp; j < seq; j += warps) {
            int kWord = (b * seq + j) * rowWords + ((hidden + head * headDim) >> 1);
            float s = 0f;
            for (int p = lane; p < pairs; p += 32) {
                int w = qkv.get(kWord + p);
                s += q[2 * p] * Float.float16ToFloat((short) w);
                s += q[2 * p + 1] * Float.float16ToFloat((short) (w >> 16));
            }
            s = SkinnyGemmKernel.warpSum(ctx, s);
            boolean visible = mask.get(b * seq + j) != 0 && (causal == 0 || j <= i);
            if (lane == 0) scores[j] = visible ? s * scale : AttentionKernel.MASKED;
        }
        ctx.barrier();
        float max = Float.NEGATIVE_INFINITY;
        for (int j = tid; j < seq; j += threads) max = Math.max(max, scores[j]);
        max = RowKernels.blockMax(ctx, red, max);
        float sum = 0f;
        for (int j = tid; j < seq; j += threads) {
            float e = KernelMath.exp(scores[j] - max);
            scores[j] = e;
            sum += e;
        }
        sum = RowKernels.blockSum(ctx, red, sum);   // its barriers also publish the exponentials
        // P·V: thread = (part, pair); part walks every parts-th key; the parts' sums added in order.
        int parts = threads / pairs, part = tid / pairs, p = tid - part * pairs;
        float acc0 = 0f, acc1 = 0f;
        if (part < parts)
            for (int j = part; j < seq; j += parts) {
                int w = qkv.get((b * seq + j) * rowWords + ((2 * hidden + head * headDim) >> 1) + p);
                acc0 += scores[j] * Float.float16ToFloat((short) w);
                acc1 += scores[j] * Float.float16ToFloat((short) (w >> 16));
            }
        red[tid] = acc0;
        ctx.barrier();
        float total0 = 0f;
        if (part == 0) for (int k = 0; k < parts; k++) total0 += red[k * pairs + p];
        ctx.barrier();
        red[tid] = acc1;
        ctx.barrier();
        if (part == 0) {
            float total1 = 0f;
            for (int k = 0; k < parts; k++) total1 += red[k * pairs + p];
            int lo = Float.floatToFloat16(total0 / sum), hi = Float.floatToFloat16(total1 / sum);
            out.set((r * hidden + head * headDim) / 2 + p, (lo & 0xFFFF) | (hi << 16));
        }
    }
}
