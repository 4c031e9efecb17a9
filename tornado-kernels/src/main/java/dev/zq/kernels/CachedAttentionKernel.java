package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.HalfArray;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;
import dev.zq.runtime.KernelMath;

/**
 * Causal attention of a decoder's new tokens over its KV cache. The cache holds keys and values
 * {@code [batch, heads, capacity, headDim]} in FP16 ({@link #append16}, {@link #attend16}: half the memory traffic of
 * long contexts) or FP32 ({@link #append32}, {@link #attend32}); {@code pos[0]} is the number of tokens already cached per sequence (on
 * the device, so that one captured decode step can be replayed for every new token). New tokens come as the FP32
 * rows {@code qkv[batch·seq, 3·hidden]} of the fused projection (q, then k, then v); new token {@code s} of a
 * sequence sits at position {@code pos[0] + s} and sees the keys at positions {@code 0 … pos[0] + s}.
 *
 * <p>{@code append} writes the new keys and values into the cache; {@code attend} computes, per new token and
 * head, {@code softmax(q·Kᵀ·scale)·V} in FP32 (one block; a warp per key for the scores, all threads over the head
 * dimension for the weighted sum). With one new token per sequence (decoding) {@code attend} appends its own key
 * and value first and the separate {@code append} launch is not needed. Positions at or past {@code capacity} (a
 * replay beyond what the cache was built for) read and write nothing. Head sizes are powers of two up to 128;
 * at most 2048 cached positions.
 */
public final class CachedAttentionKernel {
    private CachedAttentionKernel() {}

    /** The most cache positions {@code attend} can hold scores for. */
    public static final int MAX_POSITIONS = 2048;

    public static Grid appendGrid(int rows) { return Grid.of(rows, 256); }

    /** One block per (new token, head). */
    public static Grid attendGrid(int rows, int heads) { return Grid.of(rows * heads, 256); }

    /** Copies the keys and values of the {@code rows = batch·seq} new tokens into the cache. */
    @Kernel
    public static void append16(KernelContext ctx, FloatArray qkv, IntArray pos, HalfArray keys, HalfArray values, int seq, int heads,
                              int headDim, int capacity) {
        ctx.awaitPreviousKernel();
        int r = ctx.groupIdx(), b = r / seq, p = pos.get(0) + r - b * seq, hidden = heads * headDim;
        for (int e = ctx.localIdx(); p < capacity && e < hidden; e += ctx.localSizeX()) {
            int head = e / headDim, at = ((b * heads + head) * capacity + p) * headDim + e - head * headDim;
            keys.set(at, qkv.get(r * 3 * hidden + hidden + e));
            values.set(at, qkv.get(r * 3 * hidden + 2 * hidden + e));
        }
    }

    /** Writes {@code context[row, head·headDim …]} for every new token row and head; see the class comment. */
    @Kernel
    public static void attend16(KernelContext ctx, FloatArray qkv, IntArray pos, HalfArray keys, HalfArray values, FloatArray context,
                              int seq, int heads, int headDim, int capacity, float scale, int appendOwn) {
        ctx.awaitPreviousKernel();
        float[] q = ctx.allocateFloatShared(128);
        float[] scores = ctx.allocateFloatShared(MAX_POSITIONS);
        float[] red = ctx.allocateFloatShared(256);
        int tid = ctx.localIdx(), warp = tid >> 5, lane = tid & 31, threads = ctx.localSizeX();
        int r = ctx.groupIdx() / heads, head = ctx.groupIdx() - r * heads, b = r / seq, p = pos.get(0) + r - b * seq;
        int hidden = heads * headDim, qAt = r * 3 * hidden + head * headDim, cache = (b * heads + head) * capacity * headDim;
        if (p >= capacity) p = -1;   // a replay past the cache: no key is read or written, the context is left as it is
        if (tid < headDim && p >= 0) {
            q[tid] = qkv.get(qAt + tid) * scale;
            if (appendOwn != 0) {
                keys.set(cache + p * headDim + tid, qkv.get(qAt + hidden + tid));
                values.set(cache + p * headDim + tid, qkv.get(qAt + 2 * hidden + tid));
            }
        }
        ctx.barrier();
        // Scores: a warp per key, lanes over the head dimension.
        int warps = threads >> 5;
        for (int j = warp; j <= p; j += 2 * warps) {   // two keys per step, their loads in flight together
            int j1 = j + warps;
            boolean second = j1 <= p;
            float s0 = 0f, s1 = 0f;
            for (int d = lane; d < headDim; d += 32) {
                float k0 = keys.get(cache + j * headDim + d), k1 = second ? keys.get(cache + j1 * headDim + d) : 0f;
                s0 += q[d] * k0;
                s1 += q[d] * k1;
            }
            s0 = SkinnyGemmKernel.warpSum(ctx, s0);
            s1 = SkinnyGemmKernel.warpSum(ctx, s1);
            if (lane == 0) {
                scores[j] = s0;
                if (second) scores[j1] = s1;
            }
        }
        ctx.barrier();
        float max = Float.NEGATIVE_INFINITY;
        for (int j = tid; j <= p; j += threads) max = Math.max(max, scores[j]);
        max = RowKernels.blockMax(ctx, red, max);
        float sum = 0f;
        for (int j = tid; j <= p; j += threads) {
            float e = KernelMath.exp(scores[j] - max);
            scores[j] = e;
            sum += e;
        }
        sum = RowKernels.blockSum(ctx, red, sum);   // its barriers also publish the exponentials
        // Weighted values: thread = (part, d); part walks every (threads / headDim)-th key; parts summed in order.
        int parts = threads / headDim, part = tid / headDim, d = tid - part * headDim;
        float acc = 0f;
        for (int j = part; j <= p; j += 4 * parts) {   // four values in flight per thread
            int j1 = j + parts, j2 = j + 2 * parts, j3 = j + 3 * parts;
            float v0 = values.get(cache + j * headDim + d);
            float v1 = j1 <= p ? values.get(cache + j1 * headDim + d) : 0f;
            float v2 = j2 <= p ? values.get(cache + j2 * headDim + d) : 0f;
            float v3 = j3 <= p ? values.get(cache + j3 * headDim + d) : 0f;
            acc += scores[j] * v0;
            if (j1 <= p) acc += scores[j1] * v1;
            if (j2 <= p) acc += scores[j2] * v2;
            if (j3 <= p) acc += scores[j3] * v3;
        }
        red[tid] = acc;
        ctx.barrier();
        if (part == 0 && p >= 0) {
            float total = 0f;
            for (int i = 0; i < parts; i++) total += red[i * headDim + d];
            context.set(r * hidden + head * headDim + d, total / sum);
        }
    }

    // ---- the same for an FP32 cache: GPU outputs then follow the CPU decoder (whose cache is FP32) to float rounding

    /** {@link #append16} for an FP32 cache. */
    @Kernel
    public static void append32(KernelContext ctx, FloatArray qkv, IntArray pos, FloatArray keys, FloatArray values, int seq, int heads,
                              int headDim, int capacity) {
        ctx.awaitPreviousKernel();
        int r = ctx.groupIdx(), b = r / seq, p = pos.get(0) + r - b * seq, hidden = heads * headDim;
        for (int e = ctx.localIdx(); p < capacity && e < hidden; e += ctx.localSizeX()) {
            int head = e / headDim, at = ((b * heads + head) * capacity + p) * headDim + e - head * headDim;
            keys.set(at, qkv.get(r * 3 * hidden + hidden + e));
            values.set(at, qkv.get(r * 3 * hidden + 2 * hidden + e));
        }
    }

    /** {@link #attend16} for an FP32 cache. */
    @Kernel
    public static void attend32(KernelContext ctx, FloatArray qkv, IntArray pos, FloatArray keys, FloatArray values, FloatArray context,
                              int seq, int heads, int headDim, int capacity, float scale, int appendOwn) {
        ctx.awaitPreviousKernel();
        float[] q = ctx.allocateFloatShared(128);
        float[] scores = ctx.allocateFloatShared(MAX_POSITIONS);
        float[] red = ctx.allocateFloatShared(256);
        int tid = ctx.localIdx(), warp = tid >> 5, lane = tid & 31, threads = ctx.localSizeX();
        int r = ctx.groupIdx() / heads, head = ctx.groupIdx() - r * heads, b = r / seq, p = pos.get(0) + r - b * seq;
        int hidden = heads * headDim, qAt = r * 3 * hidden + head * headDim, cache = (b * heads + head) * capacity * headDim;
        if (p >= capacity) p = -1;   // a replay past the cache: no key is read or written, the context is left as it is
        if (tid < headDim && p >= 0) {
            q[tid] = qkv.get(qAt + tid) * scale;
            if (appendOwn != 0) {
                keys.set(cache + p * headDim + tid, qkv.get(qAt + hidden + tid));
                values.set(cache + p * headDim + tid, qkv.get(qAt + 2 * hidden + tid));
            }
        }
        ctx.barrier();
        // Scores: a warp per key, lanes over the head dimension.
        int warps = threads >> 5;
        for (int j = warp; j <= p; j += 2 * warps) {   // two keys per step, their loads in flight together
            int j1 = j + warps;
            boolean second = j1 <= p;
            float s0 = 0f, s1 = 0f;
            for (int d = lane; d < headDim; d += 32) {
                float k0 = keys.get(cache + j * headDim + d), k1 = second ? keys.get(cache + j1 * headDim + d) : 0f;
                s0 += q[d] * k0;
                s1 += q[d] * k1;
            }
            s0 = SkinnyGemmKernel.warpSum(ctx, s0);
            s1 = SkinnyGemmKernel.warpSum(ctx, s1);
            if (lane == 0) {
                scores[j] = s0;
                if (second) scores[j1] = s1;
            }
        }
        ctx.barrier();
        float max = Float.NEGATIVE_INFINITY;
        for (int j = tid; j <= p; j += threads) max = Math.max(max, scores[j]);
        max = RowKernels.blockMax(ctx, red, max);
        float sum = 0f;
        for (int j = tid; j <= p; j += threads) {
            float e = KernelMath.exp(scores[j] - max);
            scores[j] = e;
            sum += e;
        }
        sum = RowKernels.blockSum(ctx, red, sum);   // its barriers also publish the exponentials
        // Weighted values: thread = (part, d); part walks every (threads / headDim)-th key; parts summed in order.
        int parts = threads / headDim, part = tid / headDim, d = tid - part * headDim;
        float acc = 0f;
        for (int j = part; j <= p; j += 4 * parts) {   // four values in flight per thread
            int j1 = j + parts, j2 = j + 2 * parts, j3 = j + 3 * parts;
            float v0 = values.get(cache + j * headDim + d);
            float v1 = j1 <= p ? values.get(cache + j1 * headDim + d) : 0f;
            float v2 = j2 <= p ? values.get(cache + j2 * headDim + d) : 0f;
            float v3 = j3 <= p ? values.get(cache + j3 * headDim + d) : 0f;
            acc += scores[j] * v0;
            if (j1 <= p) acc += scores[j1] * v1;
            if (j2 <= p) acc += scores[j2] * v2;
            if (j3 <= p) acc += scores[j3] * v3;
        }
        red[tid] = acc;
        ctx.barrier();
        if (part == 0 && p >= 0) {
            float total = 0f;
            for (int i = 0; i < parts; i++) total += red[i * headDim + d];
            context.set(r * hidden + head * headDim + d, total / sum);
        }
    }
}
