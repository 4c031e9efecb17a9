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

    /**
     * Threads of an {@code attend} block: 32 warps, so that a decode step's keys (a warp each) and values (a thread per
     * dimension and every {@code threads / headDim}-th key) are read in one or two rounds of loads rather than a chain
     * of them (with 256 threads, GPT-2's 64-dimensional heads, 82 cached tokens: six dependent rounds of value loads).
     */
    public static final int ATTEND_THREADS = 1024;

    /** One block per (new token, head). */
    public static Grid attendGrid(int rows, int heads) { return Grid.of(rows * heads, ATTEND_THREADS); }

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
    @Kernel(maxRegisters = 64)   // 1024 threads a block must fit the register file: 64 Ki registers
    public static void attend16(KernelContext ctx, FloatArray qkv, IntArray pos, HalfArray keys, HalfArray values, FloatArray context,
                              int seq, int heads, int headDim, int capacity, float scale, int appendOwn) {
        ctx.awaitPreviousKernel();
        float[] q = ctx.allocateFloatShared(128);
        float[] scores = ctx.allocateFloatShared(MAX_POSITIONS);
        float[] red = ctx.allocateFloatShared(ATTEND_THREADS);
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
        // Scores: a warp per key, lanes over the head dimension; four keys per step, their loads in flight together (with
        // 32 warps a decode step of up to 128 cached tokens is one step: one round trip to the cache, not a chain of them).
        int warps = threads >> 5;
        for (int j = warp; j <= p; j += 4 * warps) {
            int j1 = j + warps, j2 = j + 2 * warps, j3 = j + 3 * warps;
            float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
            for (int d = lane; d < headDim; d += 32) {
                float k0 = keys.get(cache + j * headDim + d), k1 = j1 <= p ? keys.get(cache + j1 * headDim + d) : 0f;
                float k2 = j2 <= p ? keys.get(cache + j2 * headDim + d) : 0f, k3 = j3 <= p ? keys.get(cache + j3 * headDim + d) : 0f;
                float qd = q[d];
                s0 += qd * k0;
                s1 += qd * k1;
                s2 += qd * k2;
                s3 += qd * k3;
            }
            s0 = SkinnyGemmKernel.warpSum(ctx, s0);
            s1 = SkinnyGemmKernel.warpSum(ctx, s1);
            s2 = SkinnyGemmKernel.warpSum(ctx, s2);
            s3 = SkinnyGemmKernel.warpSum(ctx, s3);
            if (lane == 0) {
                scores[j] = s0;
                if (j1 <= p) scores[j1] = s1;
                if (j2 <= p) scores[j2] = s2;
                if (j3 <= p) scores[j3] = s3;
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
        for (int j = part; j <= p; j += 8 * parts) {   // eight values in flight per thread
            int j1 = j + parts, j2 = j + 2 * parts, j3 = j + 3 * parts, j4 = j + 4 * parts, j5 = j + 5 * parts, j6 = j + 6 * parts, j7 = j + 7 * parts;
            float v0 = values.get(cache + j * headDim + d);
            float v1 = j1 <= p ? values.get(cache + j1 * headDim + d) : 0f;
            float v2 = j2 <= p ? values.get(cache + j2 * headDim + d) : 0f;
            float v3 = j3 <= p ? values.get(cache + j3 * headDim + d) : 0f;
            float v4 = j4 <= p ? values.get(cache + j4 * headDim + d) : 0f;
            float v5 = j5 <= p ? values.get(cache + j5 * headDim + d) : 0f;
            float v6 = j6 <= p ? values.get(cache + j6 * headDim + d) : 0f;
            float v7 = j7 <= p ? values.get(cache + j7 * headDim + d) : 0f;
            acc += scores[j] * v0;
            if (j1 <= p) acc += scores[j1] * v1;
            if (j2 <= p) acc += scores[j2] * v2;
            if (j3 <= p) acc += scores[j3] * v3;
            if (j4 <= p) acc += scores[j4] * v4;
            if (j5 <= p) acc += scores[j5] * v5;
            if (j6 <= p) acc += scores[j6] * v6;
            if (j7 <= p) acc += scores[j7] * v7;
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
    @Kernel(maxRegisters = 64)   // 1024 threads a block must fit the register file: 64 Ki registers
    public static void attend32(KernelContext ctx, FloatArray qkv, IntArray pos, FloatArray keys, FloatArray values, FloatArray context,
                              int seq, int heads, int headDim, int capacity, float scale, int appendOwn) {
        ctx.awaitPreviousKernel();
        float[] q = ctx.allocateFloatShared(128);
        float[] scores = ctx.allocateFloatShared(MAX_POSITIONS);
        float[] red = ctx.allocateFloatShared(ATTEND_THREADS);
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
        // Scores: a warp per key, lanes over the head dimension; four keys per step, their loads in flight together (with
        // 32 warps a decode step of up to 128 cached tokens is one step: one round trip to the cache, not a chain of them).
        int warps = threads >> 5;
        for (int j = warp; j <= p; j += 4 * warps) {
            int j1 = j + warps, j2 = j + 2 * warps, j3 = j + 3 * warps;
            float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
            for (int d = lane; d < headDim; d += 32) {
                float k0 = keys.get(cache + j * headDim + d), k1 = j1 <= p ? keys.get(cache + j1 * headDim + d) : 0f;
                float k2 = j2 <= p ? keys.get(cache + j2 * headDim + d) : 0f, k3 = j3 <= p ? keys.get(cache + j3 * headDim + d) : 0f;
                float qd = q[d];
                s0 += qd * k0;
                s1 += qd * k1;
                s2 += qd * k2;
                s3 += qd * k3;
            }
            s0 = SkinnyGemmKernel.warpSum(ctx, s0);
            s1 = SkinnyGemmKernel.warpSum(ctx, s1);
            s2 = SkinnyGemmKernel.warpSum(ctx, s2);
            s3 = SkinnyGemmKernel.warpSum(ctx, s3);
            if (lane == 0) {
                scores[j] = s0;
                if (j1 <= p) scores[j1] = s1;
                if (j2 <= p) scores[j2] = s2;
                if (j3 <= p) scores[j3] = s3;
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
        for (int j = part; j <= p; j += 8 * parts) {   // eight values in flight per thread
            int j1 = j + parts, j2 = j + 2 * parts, j3 = j + 3 * parts, j4 = j + 4 * parts, j5 = j + 5 * parts, j6 = j + 6 * parts, j7 = j + 7 * parts;
            float v0 = values.get(cache + j * headDim + d);
            float v1 = j1 <= p ? values.get(cache + j1 * headDim + d) : 0f;
            float v2 = j2 <= p ? values.get(cache + j2 * headDim + d) : 0f;
            float v3 = j3 <= p ? values.get(cache + j3 * headDim + d) : 0f;
            float v4 = j4 <= p ? values.get(cache + j4 * headDim + d) : 0f;
            float v5 = j5 <= p ? values.get(cache + j5 * headDim + d) : 0f;
            float v6 = j6 <= p ? values.get(cache + j6 * headDim + d) : 0f;
            float v7 = j7 <= p ? values.get(cache + j7 * headDim + d) : 0f;
            acc += scores[j] * v0;
            if (j1 <= p) acc += scores[j1] * v1;
            if (j2 <= p) acc += scores[j2] * v2;
            if (j3 <= p) acc += scores[j3] * v3;
            if (j4 <= p) acc += scores[j4] * v4;
            if (j5 <= p) acc += scores[j5] * v5;
            if (j6 <= p) acc += scores[j6] * v6;
            if (j7 <= p) acc += scores[j7] * v7;
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
