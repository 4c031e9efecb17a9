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
 * {@code [batch, kvHeads, capacity, headDim]} in FP16 ({@link #append16}, {@link #attend16}: half the memory traffic of
 * long contexts) or FP32 ({@link #append32}, {@link #attend32}); {@code pos[0]} is the number of tokens already cached per sequence (on
 * the device, so that one captured decode step can be replayed for every new token). New tokens come as the FP32
 * rows {@code qkv[batch·seq, (heads + 2·kvHeads)·headDim]} of the fused projection (q, then k, then v); new token {@code s} of a
 * sequence sits at position {@code pos[0] + s} and sees the keys at positions {@code 0 … pos[0] + s}. With grouped-query
 * attention (LLaMA's {@code kvHeads < heads}) query head {@code h} reads key/value head {@code h / (heads / kvHeads)};
 * GPT-2 has {@code kvHeads == heads}, and {@link #attendStep16} takes only that ({@link #attendStepRotated16} the others).
 * With {@code rotate != 0} (LLaMA) the new queries and keys are turned by their positions' rotary angles as they are read
 * ({@link LlamaRowKernels#newFeature}: the host's {@code cos}/{@code sin} tables), so the cache holds rotated keys and no
 * launch of its own rotates them.
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

    /** {@link #attendStep16}'s launch with its out-projection parts split over {@code splits} blocks a head. */
    public static Grid attendGrid(int rows, int heads, int splits) { return Grid.of(rows * heads * splits, 256); }

    /**
     * Blocks a head for {@link #attendStep16}'s out-projection parts over {@code outRows} rows: each of the block's 256
     * threads holds 16 bytes of at most three rows (loaded before the wait) — 16 INT8 codes, or 8 halves where
     * {@code groupSize == 0} (FP16 weights).
     */
    public static int outSplits(int outRows, int headDim, int groupSize) {
        return Math.ceilDiv(outRows, 3 * (256 / (headDim >> (groupSize == 0 ? 3 : 4))));
    }

    /**
     * Whether {@link #attendStep16} takes the out-projection of a {@code hidden}-wide model with {@code heads} heads in
     * INT8 codes grouped by {@code groupSize} (a head's 16-code pieces each in one group) or in FP16 ({@code groupSize == 0}),
     * at most 8 blocks a head. Head sizes 16, 32, 64, 128: a row's threads (a power of two) are neighbouring lanes of one
     * warp, which a butterfly of shuffles sums.
     */
    public static boolean fitsOut(int hidden, int heads, int groupSize) {
        int hd = heads > 0 ? hidden / heads : 0;
        return heads > 0 && hd * heads == hidden && hd >= 16 && hd <= 128 && Integer.bitCount(hd) == 1 && groupSize >= 0 && groupSize % 16 == 0
                && (groupSize == 0 || hidden % groupSize == 0) && outSplits(hidden, hd, groupSize) <= 8;
    }

    /** Copies the keys and values of the {@code rows = batch·seq} new tokens into the cache. */
    @Kernel
    public static void append16(KernelContext ctx, FloatArray qkv, IntArray pos, HalfArray keys, HalfArray values, int seq, int heads,
                              int kvHeads, int headDim, int capacity, FloatArray cos, FloatArray sin, int rotate) {
        ctx.awaitPreviousKernel();
        int r = ctx.groupIdx(), b = r / seq, p = pos.get(0) + r - b * seq, hidden = heads * headDim, kvHidden = kvHeads * headDim;
        int row = r * (hidden + 2 * kvHidden) + hidden;   // the row's keys, then its values
        for (int e = ctx.localIdx(); p < capacity && e < kvHidden; e += ctx.localSizeX()) {
            int head = e / headDim, d = e - head * headDim, at = ((b * kvHeads + head) * capacity + p) * headDim + d;
            keys.set(at, LlamaRowKernels.newFeature(qkv, row + head * headDim, d, headDim, cos, sin, p, rotate));
            values.set(at, qkv.get(row + kvHidden + e));
        }
    }

    /** Writes {@code context[row, head·headDim …]} for every new token row and head; see the class comment. */
    @Kernel
    public static void attend16(KernelContext ctx, FloatArray qkv, IntArray pos, HalfArray keys, HalfArray values, FloatArray context,
                              int seq, int heads, int kvHeads, int headDim, int capacity, float scale, int appendOwn, FloatArray cos,
                              FloatArray sin, int rotate) {
        ctx.awaitPreviousKernel();
        float[] q = ctx.allocateFloatShared(128);
        float[] scores = ctx.allocateFloatShared(MAX_POSITIONS);
        float[] red = ctx.allocateFloatShared(256);
        int tid = ctx.localIdx(), warp = tid >> 5, lane = tid & 31, threads = ctx.localSizeX();
        int r = ctx.groupIdx() / heads, head = ctx.groupIdx() - r * heads, b = r / seq, p = pos.get(0) + r - b * seq;
        int kvHead = head / (heads / kvHeads), hidden = heads * headDim, kvHidden = kvHeads * headDim;
        int qAt = r * (hidden + 2 * kvHidden) + head * headDim, kAt = r * (hidden + 2 * kvHidden) + hidden + kvHead * headDim;
        int cache = (b * kvHeads + kvHead) * capacity * headDim;
        if (p >= capacity) p = -1;   // a replay past the cache: no key is read or written, the context is left as it is
        if (tid < headDim && p >= 0) {
            q[tid] = LlamaRowKernels.newFeature(qkv, qAt, tid, headDim, cos, sin, p, rotate) * scale;
            if (appendOwn != 0) {   // the query heads of a group write the same key and value
                keys.set(cache + p * headDim + tid, LlamaRowKernels.newFeature(qkv, kAt, tid, headDim, cos, sin, p, rotate));
                values.set(cache + p * headDim + tid, qkv.get(kAt + kvHidden + tid));
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

    /**
     * {@link #attend16} for a decode step — one new token per sequence ({@code rows = batch}), which appends its own key
     * and value — laid out for a short chain of dependent steps rather than {@link #attend16}'s warp per key (a step of
     * two keys at a time, each key's 64 dimensions one half a lane, then a warp butterfly): a thread per key for the
     * scores, the key's row in flight at once in 16-byte loads; then a thread per (16-byte chunk of a value row, slice of
     * the keys) for the weighted sum, four value rows in flight a thread, the slices summed through shared memory. What
     * earlier steps cached (and {@code pos}) no kernel before this one writes, so each thread's first key and first four
     * value chunks are loaded before the wait; the appended key and value go to the cache and, as the halves it holds, to
     * shared memory, where the threads that need them read them (the same products in the same order as from the cache,
     * without a round trip to L2 on the way to the softmax). Scores and sums are taken in another order than
     * {@link #attend16}'s (FP32 either way). Head sizes multiples of 8 up to 128, blocks of 256 threads ({@link #attendGrid}).
     * <p>
     * With {@code outRows > 0} (batch 1, a step of a scheme with FP16 activations) the block does not write its head's
     * context but its part of the output projection that follows the attention: {@code outParts[head·outRows + o] =
     * Σ_d ctx[d]·W[o, head·headDim + d]} under W's group scales (INT8 codes {@code wOut}, {@code outRows × hidden}, scales
     * {@code swOut} by {@code outGroupSize}; or FP16 weights, two halves an int, where {@code outGroupSize == 0}),
     * for rows {@code o} of its share — {@code splits} blocks a head ({@link #outSplits}, {@link #fitsOut}), each
     * computing the head's attention for itself, the first writing the cache. The projection's launch is gone: the next
     * kernel adds the heads' parts and the bias to the residual ({@link WideGemvKernel#sumParts}). The
     * codes come before the wait, with the cache's rows.
     * <p>
     * Each head its own key/value head and no rotation (GPT-2); {@link #attendStepRotated16} for a LLaMA's.
     */
    @Kernel
    public static void attendStep16(KernelContext ctx, FloatArray qkv, IntArray pos, HalfArray keys, HalfArray values, FloatArray context,
                                    int heads, int headDim, int capacity, float scale, IntArray wOut, FloatArray swOut, FloatArray outParts,
                                    int outRows, int splits, int outGroupSize) {
        attendStep(ctx, qkv, pos, keys, values, context, heads, 1, headDim, capacity, scale, wOut, swOut, outParts, outRows, splits, outGroupSize,
                qkv, qkv, 0);   // no rotation: its tables unread
    }

    /**
     * {@link #attendStep16} with grouped-query attention as {@link #attend16}'s — {@code kvHeads} key/value heads, each
     * serving {@code heads / kvHeads} query heads and cached once; rows {@code [q | k | v]} of {@code heads + 2·kvHeads}
     * heads — and the new query and key turned by position {@code p}'s rotary angles ({@code cos}, {@code sin}) as they are
     * read ({@link LlamaRowKernels#newFeature}): a LLaMA's decode step. Its own entry, so that {@link #attendStep16} (with
     * both as run-time arguments GPT-2's batch-1 step was 0.4–0.7% slower on the H200, bench/RESULTS.md, session 47) has none of it.
     */
    @Kernel
    public static void attendStepRotated16(KernelContext ctx, FloatArray qkv, IntArray pos, HalfArray keys, HalfArray values, FloatArray context,
                                           int heads, int kvHeads, int headDim, int capacity, float scale, IntArray wOut, FloatArray swOut,
                                           FloatArray outParts, int outRows, int splits, int outGroupSize, FloatArray cos, FloatArray sin) {
        attendStep(ctx, qkv, pos, keys, values, context, heads, heads / kvHeads, headDim, capacity, scale, wOut, swOut, outParts, outRows, splits,
                outGroupSize, cos, sin, 1);
    }

    /** Both entries' body: {@code group} query heads a key/value head, rotated where {@code rotate != 0} (each a constant at one entry). */
    static void attendStep(KernelContext ctx, FloatArray qkv, IntArray pos, HalfArray keys, HalfArray values, FloatArray context, int heads, int group,
                           int headDim, int capacity, float scale, IntArray wOut, FloatArray swOut, FloatArray outParts, int outRows, int splits,
                           int outGroupSize, FloatArray cos, FloatArray sin, int rotate) {
        int tid = ctx.localIdx(), threads = ctx.localSizeX();
        int bh = ctx.groupIdx() / splits, split = ctx.groupIdx() - bh * splits;
        int b = bh / heads, head = bh - b * heads, hidden = heads * headDim, kvHeads = heads / group, kvHead = head / group, kvHidden = kvHeads * headDim;
        int qAt = b * (hidden + 2 * kvHidden) + head * headDim, kAt = b * (hidden + 2 * kvHidden) + hidden + kvHead * headDim;
        int cache = (b * kvHeads + kvHead) * capacity * headDim;
        int p = pos.get(0);
        if (p >= capacity) p = -1;   // a replay past the cache: no key is read or written, the context is left as it is
        int[] c = new int[4];
        int k00 = 0, k01 = 0, k02 = 0, k03 = 0, k10 = 0, k11 = 0, k12 = 0, k13 = 0, k20 = 0, k21 = 0, k22 = 0, k23 = 0, k30 = 0, k31 = 0, k32 = 0, k33 = 0;
        int k40 = 0, k41 = 0, k42 = 0, k43 = 0, k50 = 0, k51 = 0, k52 = 0, k53 = 0, k60 = 0, k61 = 0, k62 = 0, k63 = 0, k70 = 0, k71 = 0, k72 = 0, k73 = 0;
        boolean early = tid < p;   // key tid was cached by an earlier step: its first 64 dimensions now
        if (early) {
            int at = cache + tid * headDim;
            ctx.load4(c, keys, at); k00 = c[0]; k01 = c[1]; k02 = c[2]; k03 = c[3];
            if (8 < headDim) { ctx.load4(c, keys, at + 8); k10 = c[0]; k11 = c[1]; k12 = c[2]; k13 = c[3]; }
            if (16 < headDim) { ctx.load4(c, keys, at + 16); k20 = c[0]; k21 = c[1]; k22 = c[2]; k23 = c[3]; }
            if (24 < headDim) { ctx.load4(c, keys, at + 24); k30 = c[0]; k31 = c[1]; k32 = c[2]; k33 = c[3]; }
            if (32 < headDim) { ctx.load4(c, keys, at + 32); k40 = c[0]; k41 = c[1]; k42 = c[2]; k43 = c[3]; }
            if (40 < headDim) { ctx.load4(c, keys, at + 40); k50 = c[0]; k51 = c[1]; k52 = c[2]; k53 = c[3]; }
            if (48 < headDim) { ctx.load4(c, keys, at + 48); k60 = c[0]; k61 = c[1]; k62 = c[2]; k63 = c[3]; }
            if (56 < headDim) { ctx.load4(c, keys, at + 56); k70 = c[0]; k71 = c[1]; k72 = c[2]; k73 = c[3]; }
        }
        // The weighted sum's thread = (slice, chunk of 8 dimensions); slice walks every (threads / chunks)-th key, four at a
        // time. The first four cached rows' chunks now.
        int chunks = headDim >> 3, slice = tid / chunks, chunk = tid - slice * chunks, nSlices = threads / chunks, vAt = cache + chunk * 8;
        int r1 = slice + nSlices, r2 = r1 + nSlices, r3 = r2 + nSlices;
        int v00 = 0, v01 = 0, v02 = 0, v03 = 0, v10 = 0, v11 = 0, v12 = 0, v13 = 0, v20 = 0, v21 = 0, v22 = 0, v23 = 0, v30 = 0, v31 = 0, v32 = 0, v33 = 0;
        if (slice < p) { ctx.load4(c, values, vAt + slice * headDim); v00 = c[0]; v01 = c[1]; v02 = c[2]; v03 = c[3]; }
        if (r1 < p) { ctx.load4(c, values, vAt + r1 * headDim); v10 = c[0]; v11 = c[1]; v12 = c[2]; v13 = c[3]; }
        if (r2 < p) { ctx.load4(c, values, vAt + r2 * headDim); v20 = c[0]; v21 = c[1]; v22 = c[2]; v23 = c[3]; }
        if (r3 < p) { ctx.load4(c, values, vAt + r3 * headDim); v30 = c[0]; v31 = c[1]; v32 = c[2]; v33 = c[3]; }
        // The out-projection's share (outRows > 0): thread (row, piece) holds codes 16·piece … + 15 of the head's slice
        // of up to three of the block's rows, and their group scales — weights, so before the wait.
        boolean halves = outGroupSize == 0;   // FP16 out weights: 8 halves a thread a row, else 16 INT8 codes
        int tpr = Math.max(1, headDim >> (halves ? 3 : 4)), piece = tid % tpr, span = outRows > 0 ? (outRows + splits - 1) / splits : 0, r0 = split * span;
        int rEnd = Math.min(outRows, r0 + span), ra = r0 + tid / tpr, rb = ra + threads / tpr, rc = rb + threads / tpr;
        int o00 = 0, o01 = 0, o02 = 0, o03 = 0, o10 = 0, o11 = 0, o12 = 0, o13 = 0, o20 = 0, o21 = 0, o22 = 0, o23 = 0;
        float os0 = 0f, os1 = 0f, os2 = 0f;
        if (outRows > 0 && halves) {
            int col = head * headDim + (piece << 3), rowWords = hidden >> 1;
            if (ra < rEnd) { ctx.load4(c, wOut, ra * rowWords + (col >> 1)); o00 = c[0]; o01 = c[1]; o02 = c[2]; o03 = c[3]; }
            if (rb < rEnd) { ctx.load4(c, wOut, rb * rowWords + (col >> 1)); o10 = c[0]; o11 = c[1]; o12 = c[2]; o13 = c[3]; }
            if (rc < rEnd) { ctx.load4(c, wOut, rc * rowWords + (col >> 1)); o20 = c[0]; o21 = c[1]; o22 = c[2]; o23 = c[3]; }
        } else if (outRows > 0) {
            int col = head * headDim + (piece << 4), rowWords = hidden >> 2, gShift = SkinnyGemmKernel.groupShift(outGroupSize);
            int groups = SkinnyGemmKernel.groupCount(hidden, outGroupSize, gShift), g = SkinnyGemmKernel.groupOf(col, outGroupSize, gShift);
            if (ra < rEnd) { ctx.load4(c, wOut, ra * rowWords + (col >> 2)); o00 = c[0]; o01 = c[1]; o02 = c[2]; o03 = c[3]; os0 = swOut.get(ra * groups + g); }
            if (rb < rEnd) { ctx.load4(c, wOut, rb * rowWords + (col >> 2)); o10 = c[0]; o11 = c[1]; o12 = c[2]; o13 = c[3]; os1 = swOut.get(rb * groups + g); }
            if (rc < rEnd) { ctx.load4(c, wOut, rc * rowWords + (col >> 2)); o20 = c[0]; o21 = c[1]; o22 = c[2]; o23 = c[3]; os2 = swOut.get(rc * groups + g); }
        }
        // The other cached value rows asked of L2 (a 128-byte line = 64 halves at a time).
        for (int j = tid + 4 * nSlices; j < p; j += threads)
            for (int d0 = 0; d0 < headDim; d0 += 64) ctx.prefetchL2(values, cache + j * headDim + d0);
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();   // the next kernel (the output projection) may start on its weights now
        float[] q = ctx.allocateFloatShared(128), scores = ctx.allocateFloatShared(MAX_POSITIONS);
        float[] red = ctx.allocateFloatShared(256), slices = ctx.allocateFloatShared(2048);
        int[] freshK = ctx.allocateIntShared(64), freshV = ctx.allocateIntShared(64);   // the appended row, two halves an int
        // The new query and key turned by their rotary angles as they are read (rotate != 0: a LLaMA; zeros past the head:
        // the dot runs 64 at a time).
        if (tid < 128) q[tid] = tid < headDim && p >= 0 ? LlamaRowKernels.newFeature(qkv, qAt, tid, headDim, cos, sin, p, rotate) * scale : 0f;
        if (tid < 64) {
            int e = tid << 1, kw = 0, vw = 0;
            if (e < headDim && p >= 0) {
                float k0 = LlamaRowKernels.newFeature(qkv, kAt, e, headDim, cos, sin, p, rotate);
                float k1 = LlamaRowKernels.newFeature(qkv, kAt, e + 1, headDim, cos, sin, p, rotate);
                float w0 = qkv.get(kAt + kvHidden + e), w1 = qkv.get(kAt + kvHidden + e + 1);
                if (split == 0 && head == kvHead * group) {   // the first block of the key/value head's first query head writes the cache
                    keys.set(cache + p * headDim + e, k0);
                    keys.set(cache + p * headDim + e + 1, k1);
                    values.set(cache + p * headDim + e, w0);
                    values.set(cache + p * headDim + e + 1, w1);
                }
                kw = (Float.floatToFloat16(k0) & 0xFFFF) | (Float.floatToFloat16(k1) << 16);
                vw = (Float.floatToFloat16(w0) & 0xFFFF) | (Float.floatToFloat16(w1) << 16);
            }
            freshK[tid] = kw;   // zeros past the head
            freshV[tid] = vw;
        }
        ctx.barrier();   // publishes the appended key and value to the block
        for (int j = tid; j <= p; j += threads) {
            float sc = 0f;
            for (int d0 = 0; d0 < headDim; d0 += 64) {
                if (j == p) {   // the appended key, as the cache holds it
                    int f = d0 >> 1;
                    k00 = freshK[f]; k01 = freshK[f + 1]; k02 = freshK[f + 2]; k03 = freshK[f + 3]; k10 = freshK[f + 4]; k11 = freshK[f + 5];
                    k12 = freshK[f + 6]; k13 = freshK[f + 7]; k20 = freshK[f + 8]; k21 = freshK[f + 9]; k22 = freshK[f + 10]; k23 = freshK[f + 11];
                    k30 = freshK[f + 12]; k31 = freshK[f + 13]; k32 = freshK[f + 14]; k33 = freshK[f + 15]; k40 = freshK[f + 16]; k41 = freshK[f + 17];
                    k42 = freshK[f + 18]; k43 = freshK[f + 19]; k50 = freshK[f + 20]; k51 = freshK[f + 21]; k52 = freshK[f + 22]; k53 = freshK[f + 23];
                    k60 = freshK[f + 24]; k61 = freshK[f + 25]; k62 = freshK[f + 26]; k63 = freshK[f + 27]; k70 = freshK[f + 28]; k71 = freshK[f + 29];
                    k72 = freshK[f + 30]; k73 = freshK[f + 31];
                } else if (!early || j != tid || d0 != 0) {
                    int at = cache + j * headDim + d0;
                    k00 = 0; k01 = 0; k02 = 0; k03 = 0; k10 = 0; k11 = 0; k12 = 0; k13 = 0; k20 = 0; k21 = 0; k22 = 0; k23 = 0; k30 = 0; k31 = 0; k32 = 0; k33 = 0;
                    k40 = 0; k41 = 0; k42 = 0; k43 = 0; k50 = 0; k51 = 0; k52 = 0; k53 = 0; k60 = 0; k61 = 0; k62 = 0; k63 = 0; k70 = 0; k71 = 0; k72 = 0; k73 = 0;
                    ctx.load4(c, keys, at); k00 = c[0]; k01 = c[1]; k02 = c[2]; k03 = c[3];
                    if (d0 + 8 < headDim) { ctx.load4(c, keys, at + 8); k10 = c[0]; k11 = c[1]; k12 = c[2]; k13 = c[3]; }
                    if (d0 + 16 < headDim) { ctx.load4(c, keys, at + 16); k20 = c[0]; k21 = c[1]; k22 = c[2]; k23 = c[3]; }
                    if (d0 + 24 < headDim) { ctx.load4(c, keys, at + 24); k30 = c[0]; k31 = c[1]; k32 = c[2]; k33 = c[3]; }
                    if (d0 + 32 < headDim) { ctx.load4(c, keys, at + 32); k40 = c[0]; k41 = c[1]; k42 = c[2]; k43 = c[3]; }
                    if (d0 + 40 < headDim) { ctx.load4(c, keys, at + 40); k50 = c[0]; k51 = c[1]; k52 = c[2]; k53 = c[3]; }
                    if (d0 + 48 < headDim) { ctx.load4(c, keys, at + 48); k60 = c[0]; k61 = c[1]; k62 = c[2]; k63 = c[3]; }
                    if (d0 + 56 < headDim) { ctx.load4(c, keys, at + 56); k70 = c[0]; k71 = c[1]; k72 = c[2]; k73 = c[3]; }
                }
                sc = halvesDot8(q, d0, sc, k00, k01, k02, k03);
                sc = halvesDot8(q, d0 + 8, sc, k10, k11, k12, k13);
                sc = halvesDot8(q, d0 + 16, sc, k20, k21, k22, k23);
                sc = halvesDot8(q, d0 + 24, sc, k30, k31, k32, k33);
                sc = halvesDot8(q, d0 + 32, sc, k40, k41, k42, k43);
                sc = halvesDot8(q, d0 + 40, sc, k50, k51, k52, k53);
                sc = halvesDot8(q, d0 + 48, sc, k60, k61, k62, k63);
                sc = halvesDot8(q, d0 + 56, sc, k70, k71, k72, k73);
            }
            scores[j] = sc;
        }
        ctx.barrier();
        float max = Float.NEGATIVE_INFINITY;
        for (int j = tid; j <= p; j += threads) max = Math.max(max, scores[j]);
        max = RowKernels.blockMax8(ctx, red, 0, max);
        float sum = 0f;
        for (int j = tid; j <= p; j += threads) {
            float e = KernelMath.exp(scores[j] - max);
            scores[j] = e;
            sum += e;
        }
        sum = RowKernels.blockSum8(ctx, red, 1, sum);   // its barrier also publishes the exponentials
        float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f, a6 = 0f, a7 = 0f;
        int fc = chunk << 2;   // the chunk's words of the appended row
        for (int j = slice; j <= p; j += 4 * nSlices) {   // four value rows in flight a thread
            int j1 = j + nSlices, j2 = j1 + nSlices, j3 = j2 + nSlices;
            if (j > slice) {   // the first four rows came before the wait
                v10 = 0; v11 = 0; v12 = 0; v13 = 0; v20 = 0; v21 = 0; v22 = 0; v23 = 0; v30 = 0; v31 = 0; v32 = 0; v33 = 0;
                if (j < p) { ctx.load4(c, values, vAt + j * headDim); v00 = c[0]; v01 = c[1]; v02 = c[2]; v03 = c[3]; }
                if (j1 < p) { ctx.load4(c, values, vAt + j1 * headDim); v10 = c[0]; v11 = c[1]; v12 = c[2]; v13 = c[3]; }
                if (j2 < p) { ctx.load4(c, values, vAt + j2 * headDim); v20 = c[0]; v21 = c[1]; v22 = c[2]; v23 = c[3]; }
                if (j3 < p) { ctx.load4(c, values, vAt + j3 * headDim); v30 = c[0]; v31 = c[1]; v32 = c[2]; v33 = c[3]; }
            }
            // The appended row (at most one of the four) from shared memory.
            if (j == p) { v00 = freshV[fc]; v01 = freshV[fc + 1]; v02 = freshV[fc + 2]; v03 = freshV[fc + 3]; }
            if (j1 == p) { v10 = freshV[fc]; v11 = freshV[fc + 1]; v12 = freshV[fc + 2]; v13 = freshV[fc + 3]; }
            if (j2 == p) { v20 = freshV[fc]; v21 = freshV[fc + 1]; v22 = freshV[fc + 2]; v23 = freshV[fc + 3]; }
            if (j3 == p) { v30 = freshV[fc]; v31 = freshV[fc + 1]; v32 = freshV[fc + 2]; v33 = freshV[fc + 3]; }
            float e0 = scores[j], e1 = j1 <= p ? scores[j1] : 0f, e2 = j2 <= p ? scores[j2] : 0f, e3 = j3 <= p ? scores[j3] : 0f;
            a0 += e0 * Epilogue.lowHalf(v00) + e1 * Epilogue.lowHalf(v10) + e2 * Epilogue.lowHalf(v20) + e3 * Epilogue.lowHalf(v30);
            a1 += e0 * Epilogue.highHalf(v00) + e1 * Epilogue.highHalf(v10) + e2 * Epilogue.highHalf(v20) + e3 * Epilogue.highHalf(v30);
            a2 += e0 * Epilogue.lowHalf(v01) + e1 * Epilogue.lowHalf(v11) + e2 * Epilogue.lowHalf(v21) + e3 * Epilogue.lowHalf(v31);
            a3 += e0 * Epilogue.highHalf(v01) + e1 * Epilogue.highHalf(v11) + e2 * Epilogue.highHalf(v21) + e3 * Epilogue.highHalf(v31);
            a4 += e0 * Epilogue.lowHalf(v02) + e1 * Epilogue.lowHalf(v12) + e2 * Epilogue.lowHalf(v22) + e3 * Epilogue.lowHalf(v32);
            a5 += e0 * Epilogue.highHalf(v02) + e1 * Epilogue.highHalf(v12) + e2 * Epilogue.highHalf(v22) + e3 * Epilogue.highHalf(v32);
            a6 += e0 * Epilogue.lowHalf(v03) + e1 * Epilogue.lowHalf(v13) + e2 * Epilogue.lowHalf(v23) + e3 * Epilogue.lowHalf(v33);
            a7 += e0 * Epilogue.highHalf(v03) + e1 * Epilogue.highHalf(v13) + e2 * Epilogue.highHalf(v23) + e3 * Epilogue.highHalf(v33);
        }
        int at = slice * headDim + chunk * 8;
        slices[at] = a0; slices[at + 1] = a1; slices[at + 2] = a2; slices[at + 3] = a3;
        slices[at + 4] = a4; slices[at + 5] = a5; slices[at + 6] = a6; slices[at + 7] = a7;
        ctx.barrier();
        // The slices summed: thread = (part, d), part walks every (threads / headDim)-th slice; then the parts, in order.
        int parts = threads / headDim, part = tid / headDim, d = tid - part * headDim;
        float t = 0f;
        for (int sl = part; sl < nSlices; sl += 4 * parts) {   // four slices' loads at once, added in slice order
            int s1 = sl + parts, s2 = s1 + parts, s3 = s2 + parts;
            float u0 = slices[sl * headDim + d], u1 = s1 < nSlices ? slices[s1 * headDim + d] : 0f;
            float u2 = s2 < nSlices ? slices[s2 * headDim + d] : 0f, u3 = s3 < nSlices ? slices[s3 * headDim + d] : 0f;
            t += u0;
            if (s1 < nSlices) t += u1;
            if (s2 < nSlices) t += u2;
            if (s3 < nSlices) t += u3;
        }
        red[tid] = t;   // red's last readers (blockSum8) are past the barrier above
        ctx.barrier();
        if (outRows == 0) {
            if (part == 0 && p >= 0) {
                float total = 0f;
                for (int i = 0; i < parts; i++) total += red[i * headDim + d];
                context.set(b * hidden + head * headDim + d, total / sum);
            }
            return;
        }
        // The out-projection's parts: the head's context, rounded to FP16 as a W8A16 projection stages its row (zeros past
        // the cache: nothing attended), times the head's slice of the block's rows' codes under their group scales, the
        // row's pieces summed across its threads in a fixed tree; outParts[head·outRows + row], for the next kernels to add.
        float[] ctxH = ctx.allocateFloatShared(128);
        if (part == 0) {
            float total = 0f;
            for (int i = 0; i < parts; i++) total += red[i * headDim + d];
            ctxH[d] = p >= 0 ? Float.float16ToFloat(Float.floatToFloat16(total / sum)) : 0f;
        }
        ctx.barrier();
        float y0, y1, y2;
        if (halves) {
            int pd = piece << 3;
            y0 = halvesDot8(ctxH, pd, 0f, o00, o01, o02, o03);
            y1 = halvesDot8(ctxH, pd, 0f, o10, o11, o12, o13);
            y2 = halvesDot8(ctxH, pd, 0f, o20, o21, o22, o23);
        } else {
            int pd = piece << 4;
            y0 = os0 * codesDot16(ctxH, pd, o00, o01, o02, o03);
            y1 = os1 * codesDot16(ctxH, pd, o10, o11, o12, o13);
            y2 = os2 * codesDot16(ctxH, pd, o20, o21, o22, o23);
        }
        for (int m = 1; m < tpr; m <<= 1) {   // the row's threads are neighbouring lanes
            y0 += ctx.shflXor(y0, m);
            y1 += ctx.shflXor(y1, m);
            y2 += ctx.shflXor(y2, m);
        }
        if (piece == 0) {
            int partAt = (b * heads + head) * outRows;
            if (ra < rEnd) outParts.set(partAt + ra, y0);
            if (rb < rEnd) outParts.set(partAt + rb, y1);
            if (rc < rEnd) outParts.set(partAt + rc, y2);
        }
    }

    /** {@code q[d0 … d0 + 15]} times the sixteen INT8 codes of {@code w0 … w3} (lowest byte first), in order. */
    static float codesDot16(float[] q, int d0, int w0, int w1, int w2, int w3) {
        float acc = codesDot4(q, d0, 0f, w0);
        acc = codesDot4(q, d0 + 4, acc, w1);
        acc = codesDot4(q, d0 + 8, acc, w2);
        return codesDot4(q, d0 + 12, acc, w3);
    }

    static float codesDot4(float[] q, int d0, float acc, int w) {
        acc += q[d0] * PrefillGemmKernel.exactFloat((w << 24) >> 24);
        acc += q[d0 + 1] * PrefillGemmKernel.exactFloat((w << 16) >> 24);
        acc += q[d0 + 2] * PrefillGemmKernel.exactFloat((w << 8) >> 24);
        return acc + q[d0 + 3] * PrefillGemmKernel.exactFloat(w >> 24);
    }

    /** {@code acc} plus {@code q[d0 … d0 + 7]} times eight halves, two to an int (low half first), in order. */
    static float halvesDot8(float[] q, int d0, float acc, int w0, int w1, int w2, int w3) {
        acc += q[d0] * Epilogue.lowHalf(w0);
        acc += q[d0 + 1] * Epilogue.highHalf(w0);
        acc += q[d0 + 2] * Epilogue.lowHalf(w1);
        acc += q[d0 + 3] * Epilogue.highHalf(w1);
        acc += q[d0 + 4] * Epilogue.lowHalf(w2);
        acc += q[d0 + 5] * Epilogue.highHalf(w2);
        acc += q[d0 + 6] * Epilogue.lowHalf(w3);
        return acc + q[d0 + 7] * Epilogue.highHalf(w3);
    }

    // ---- the same for an FP32 cache: GPU outputs then follow the CPU decoder (whose cache is FP32) to float rounding

    /** {@link #append16} for an FP32 cache. */
    @Kernel
    public static void append32(KernelContext ctx, FloatArray qkv, IntArray pos, FloatArray keys, FloatArray values, int seq, int heads,
                              int kvHeads, int headDim, int capacity, FloatArray cos, FloatArray sin, int rotate) {
        ctx.awaitPreviousKernel();
        int r = ctx.groupIdx(), b = r / seq, p = pos.get(0) + r - b * seq, hidden = heads * headDim, kvHidden = kvHeads * headDim;
        int row = r * (hidden + 2 * kvHidden) + hidden;   // the row's keys, then its values
        for (int e = ctx.localIdx(); p < capacity && e < kvHidden; e += ctx.localSizeX()) {
            int head = e / headDim, d = e - head * headDim, at = ((b * kvHeads + head) * capacity + p) * headDim + d;
            keys.set(at, LlamaRowKernels.newFeature(qkv, row + head * headDim, d, headDim, cos, sin, p, rotate));
            values.set(at, qkv.get(row + kvHidden + e));
        }
    }

    /** {@link #attend16} for an FP32 cache. */
    @Kernel
    public static void attend32(KernelContext ctx, FloatArray qkv, IntArray pos, FloatArray keys, FloatArray values, FloatArray context,
                              int seq, int heads, int kvHeads, int headDim, int capacity, float scale, int appendOwn, FloatArray cos,
                              FloatArray sin, int rotate) {
        ctx.awaitPreviousKernel();
        float[] q = ctx.allocateFloatShared(128);
        float[] scores = ctx.allocateFloatShared(MAX_POSITIONS);
        float[] red = ctx.allocateFloatShared(256);
        int tid = ctx.localIdx(), warp = tid >> 5, lane = tid & 31, threads = ctx.localSizeX();
        int r = ctx.groupIdx() / heads, head = ctx.groupIdx() - r * heads, b = r / seq, p = pos.get(0) + r - b * seq;
        int kvHead = head / (heads / kvHeads), hidden = heads * headDim, kvHidden = kvHeads * headDim;
        int qAt = r * (hidden + 2 * kvHidden) + head * headDim, kAt = r * (hidden + 2 * kvHidden) + hidden + kvHead * headDim;
        int cache = (b * kvHeads + kvHead) * capacity * headDim;
        if (p >= capacity) p = -1;   // a replay past the cache: no key is read or written, the context is left as it is
        if (tid < headDim && p >= 0) {
            q[tid] = LlamaRowKernels.newFeature(qkv, qAt, tid, headDim, cos, sin, p, rotate) * scale;
            if (appendOwn != 0) {   // the query heads of a group write the same key and value
                keys.set(cache + p * headDim + tid, LlamaRowKernels.newFeature(qkv, kAt, tid, headDim, cos, sin, p, rotate));
                values.set(cache + p * headDim + tid, qkv.get(kAt + kvHidden + tid));
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
