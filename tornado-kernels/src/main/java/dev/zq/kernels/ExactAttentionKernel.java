package dev.zq.kernels;

import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;
import dev.zq.runtime.KernelMath;

/**
 * The encoder's attention ({@link AttentionKernel}'s inputs, output and masking) on CUDA cores in FP32, every sum in an
 * order the kernel itself fixes, so that the GPU and the CPU executor give the same bits. {@link AttentionKernel}'s
 * tensor-core {@code mma} sums in an order only the hardware knows, so the CPU executor reproduces it to about 1e-4, and
 * with token-wise INT8 activations downstream (W8A8) such differences flip codes that multiply layer by layer; this
 * kernel is for when the GPU must equal its CPU reference. Unlike there, the exponentials stay FP32 in P·V.
 *
 * <p>A block of 4 warps takes {@link #ROWS} queries of one (sequence, head): their scores against every key are kept in
 * shared memory (hence at most {@link #MAX_SEQ} keys). Keys go by in chunks of 32, loaded 16 bytes a thread at a time (the
 * next chunk's loads in flight while this one is used) and staged as floats: for the scores a
 * lane owns a key and a warp four queries ({@code Math.fma} over the head's dimensions in order); each warp then takes
 * the softmax of its own four rows (lane-strided maximum and sum, then a butterfly); for P·V a thread owns a pair of
 * dimensions of one to four queries and walks the keys in order. Masked keys (mask 0, or past the query when causal)
 * score {@link AttentionKernel#MASKED}, so that a row with no visible key attends uniformly, as there. Head sizes 16, 32
 * and 64.
 */
public final class ExactAttentionKernel {
    private ExactAttentionKernel() {}

    /** The most keys a sequence may have: a block's scores live in shared memory. */
    public static final int MAX_SEQ = 512;

    /** Queries per block. */
    static final int ROWS = 16;

    /** Shared-memory stride of a query's scores: one more than {@link #MAX_SEQ}, so that rows start in different banks. */
    static final int SCORE_ROW = MAX_SEQ + 1;

    /** Blocks of 128 threads: {@code ceil(seq / ROWS)} per (sequence, head). */
    public static Grid grid(int batch, int seq, int heads) { return Grid.of(batch * heads * Math.ceilDiv(seq, ROWS), 128); }

    /**
     * {@code out[r, h·d …]} (FP16 pairs packed in ints, heads side by side) = softmax(q·Kᵀ·scale, masked)·V for every
     * row r of the B sequences of {@code seq} tokens and head h, from {@code qkv} [B·S, 3·heads·d] FP16 pairs and the
     * key mask [B·S] (1 = a real token); and each row's largest FP16 magnitude of head h's outputs at
     * {@code mags[r·stride + h]} ({@link TokenwiseGemmKernel}).
     */
    @Kernel
    public static void attention(KernelContext ctx, IntArray qkv, IntArray mask, IntArray out, int seq, int heads, int headDim, float scale,
                                 int causal, IntArray mags, int stride) {
        float[] qs = ctx.allocateFloatShared(1024);      // ROWS queries × 64
        float[] kv = ctx.allocateFloatShared(2080);      // 32 keys × 65 (K), or 32 keys × d (V, even then odd dimensions)
        float[] scores = ctx.allocateFloatShared(8208);  // ROWS × SCORE_ROW
        float[] sums = ctx.allocateFloatShared(16);
        ctx.awaitPreviousKernel();
        int tid = ctx.localIdx(), warp = tid >> 5, lane = tid & 31;
        int tiles = (seq + ROWS - 1) / ROWS, bh = ctx.groupIdx() / tiles, tile = ctx.groupIdx() - bh * tiles;
        int b = bh / heads, head = bh - b * heads, i0 = tile * ROWS, base = b * seq;
        int hidden = heads * headDim, rowWords = (3 * hidden) >> 1, pairs = headDim >> 1;
        int qOff = (head * headDim) >> 1, kOff = (hidden + head * headDim) >> 1, vOff = (2 * hidden + head * headDim) >> 1;
        // Staging in 16-byte loads: a chunk of 32 keys is 8·pairs loads ("units"), threads take units tid and tid + 128;
        // unit u is words 4·(u mod pairs/4) … of key u / (pairs/4). The next chunk's loads are issued before this
        // chunk's arithmetic, so that they are in flight while it runs.
        int units = pairs << 3, perKey = pairs >> 2, j0 = tid / perKey, j1 = (tid + 128) / perKey;
        int w0 = (tid - j0 * perKey) << 2, w1 = (tid + 128 - j1 * perKey) << 2;
        int[] t = new int[4];
        if (tid < (units >> 1)) {   // the queries: 16 rows, 4·pairs units
            int row = tid / perKey;
            if (i0 + row < seq) ctx.load4(t, qkv, (base + i0 + row) * rowWords + qOff + w0);
            else { t[0] = 0; t[1] = 0; t[2] = 0; t[3] = 0; }
            stagePairs(qs, row * 64 + 2 * w0, 1, 1, t[0], t[1], t[2], t[3]);
        }
        int chunks = (seq + 31) >> 5;
        int a0 = 0, a1 = 0, a2 = 0, a3 = 0, c0 = 0, c1 = 0, c2 = 0, c3 = 0;   // this thread's two staged units
        if (tid < units && j0 < seq) { ctx.load4(t, qkv, (base + j0) * rowWords + kOff + w0); a0 = t[0]; a1 = t[1]; a2 = t[2]; a3 = t[3]; }
        if (tid + 128 < units && j1 < seq) { ctx.load4(t, qkv, (base + j1) * rowWords + kOff + w1); c0 = t[0]; c1 = t[1]; c2 = t[2]; c3 = t[3]; }
        int q0 = warp * 64, s0 = warp * SCORE_ROW;
        int groups = 128 / pairs, g = tid / pairs, p = tid - g * pairs, per = pairs >> 3;
        int e0 = g * SCORE_ROW, e1 = (g + groups) * SCORE_ROW, e2 = (g + 2 * groups) * SCORE_ROW, e3 = (g + 3 * groups) * SCORE_ROW;
        float x0 = 0f, y0 = 0f, x1 = 0f, y1 = 0f, x2 = 0f, y2 = 0f, x3 = 0f, y3 = 0f;
        // Chunks 0 … chunks-1: K and the scores; chunks … 2·chunks-1: V and P·V, the softmax in between.
        for (int ci = 0; ci < 2 * chunks; ci++) {
            boolean keys = ci < chunks;
            int k0 = (keys ? ci : ci - chunks) << 5;
            if (ci == chunks) {
                ctx.barrier();   // every score is written
                softmax(ctx, scores, sums, seq, warp, lane);
            }
            ctx.barrier();   // the last chunk is no longer read (and the queries, or the exponentials, are written)
            if (keys) {
                if (tid < units) stagePairs(kv, j0 * 65 + 2 * w0, 1, 1, a0, a1, a2, a3);
                if (tid + 128 < units) stagePairs(kv, j1 * 65 + 2 * w1, 1, 1, c0, c1, c2, c3);
            } else {
                if (tid < units) stagePairs(kv, j0 * headDim + w0, pairs, 0, a0, a1, a2, a3);
                if (tid + 128 < units) stagePairs(kv, j1 * headDim + w1, pairs, 0, c0, c1, c2, c3);
            }
            ctx.barrier();
            if (ci + 1 < 2 * chunks) {   // the next chunk's loads
                int n0 = ((ci + 1 < chunks ? ci + 1 : ci + 1 - chunks) << 5), off = ci + 1 < chunks ? kOff : vOff;
                a0 = 0; a1 = 0; a2 = 0; a3 = 0; c0 = 0; c1 = 0; c2 = 0; c3 = 0;
                if (tid < units && n0 + j0 < seq) { ctx.load4(t, qkv, (base + n0 + j0) * rowWords + off + w0); a0 = t[0]; a1 = t[1]; a2 = t[2]; a3 = t[3]; }
                if (tid + 128 < units && n0 + j1 < seq) {
                    ctx.load4(t, qkv, (base + n0 + j1) * rowWords + off + w1);
                    c0 = t[0]; c1 = t[1]; c2 = t[2]; c3 = t[3];
                }
            }
            if (keys) {
                // Scores: lane = key of the chunk, warp = queries warp, warp + 4, warp + 8, warp + 12.
                float f0 = 0f, f1 = 0f, f2 = 0f, f3 = 0f;
                for (int d = 0; d < headDim; d += 4) {   // four dimensions a step, each sum still in order of d
                    int kd = lane * 65 + d;
                    float k0d = kv[kd], k1d = kv[kd + 1], k2d = kv[kd + 2], k3d = kv[kd + 3];
                    f0 = dot4(qs, q0 + d, k0d, k1d, k2d, k3d, f0);
                    f1 = dot4(qs, q0 + 256 + d, k0d, k1d, k2d, k3d, f1);
                    f2 = dot4(qs, q0 + 512 + d, k0d, k1d, k2d, k3d, f2);
                    f3 = dot4(qs, q0 + 768 + d, k0d, k1d, k2d, k3d, f3);
                }
                int j = k0 + lane;
                if (j < seq) {
                    boolean real = mask.get(base + j) != 0;
                    int i = i0 + warp;   // this warp's first query's position; causal: key j is visible from queries at ≥ j
                    scores[s0 + j] = real && (causal == 0 || j <= i) ? f0 * scale : AttentionKernel.MASKED;
                    scores[s0 + 4 * SCORE_ROW + j] = real && (causal == 0 || j <= i + 4) ? f1 * scale : AttentionKernel.MASKED;
                    scores[s0 + 8 * SCORE_ROW + j] = real && (causal == 0 || j <= i + 8) ? f2 * scale : AttentionKernel.MASKED;
                    scores[s0 + 12 * SCORE_ROW + j] = real && (causal == 0 || j <= i + 12) ? f3 * scale : AttentionKernel.MASKED;
                } else {   // past the sequence: weight 0 (the softmax leaves them), so that P·V may walk whole chunks
                    scores[s0 + j] = 0f;
                    scores[s0 + 4 * SCORE_ROW + j] = 0f;
                    scores[s0 + 8 * SCORE_ROW + j] = 0f;
                    scores[s0 + 12 * SCORE_ROW + j] = 0f;
                }
            } else {
                // P·V: thread = (group g, pair p); queries g, g + groups, … (pairs / 8 of them: 4 at d = 64, 2 at 32, 1 at 16).
                // Whole chunks, two keys a step: past the sequence the weights are 0 and the values 0, which add nothing.
                for (int j = 0; j < 32; j += 2) {
                    int at = j * headDim + p;
                    float v0 = kv[at], v1 = kv[at + pairs], v2 = kv[at + headDim], v3 = kv[at + headDim + pairs];
                    float u0 = scores[e0 + k0 + j], u1 = scores[e0 + k0 + j + 1];
                    x0 = Math.fma(u1, v2, Math.fma(u0, v0, x0));
                    y0 = Math.fma(u1, v3, Math.fma(u0, v1, y0));
                    if (per > 1) {
                        float o0 = scores[e1 + k0 + j], o1 = scores[e1 + k0 + j + 1];
                        x1 = Math.fma(o1, v2, Math.fma(o0, v0, x1));
                        y1 = Math.fma(o1, v3, Math.fma(o0, v1, y1));
                    }
                    if (per > 2) {
                        float o0 = scores[e2 + k0 + j], o1 = scores[e2 + k0 + j + 1], z0 = scores[e3 + k0 + j], z1 = scores[e3 + k0 + j + 1];
                        x2 = Math.fma(o1, v2, Math.fma(o0, v0, x2));
                        y2 = Math.fma(o1, v3, Math.fma(o0, v1, y2));
                        x3 = Math.fma(z1, v2, Math.fma(z0, v0, x3));
                        y3 = Math.fma(z1, v3, Math.fma(z0, v1, y3));
                    }
                }
            }
        }
        int outRow = hidden >> 1, col = qOff + p;
        int v0 = store(out, x0, y0, sums, g, i0, seq, base, outRow, col), v1 = 0, v2 = 0, v3 = 0;
        if (per > 1) v1 = store(out, x1, y1, sums, g + groups, i0, seq, base, outRow, col);
        if (per > 2) {
            v2 = store(out, x2, y2, sums, g + 2 * groups, i0, seq, base, outRow, col);
            v3 = store(out, x3, y3, sums, g + 3 * groups, i0, seq, base, outRow, col);
        }
        // The head's part of the rows' magnitudes (TokenwiseGemmKernel): a row's pairs are spread over `pairs` lanes.
        magnitude(ctx, mags, v0, g, i0, seq, base, stride, head, p, pairs);
        if (per > 1) magnitude(ctx, mags, v1, g + groups, i0, seq, base, stride, head, p, pairs);
        if (per > 2) {
            magnitude(ctx, mags, v2, g + 2 * groups, i0, seq, base, stride, head, p, pairs);
            magnitude(ctx, mags, v3, g + 3 * groups, i0, seq, base, stride, head, p, pairs);
        }
    }

    /** The largest FP16 magnitude of query r's outputs of this head, over the {@code pairs} lanes that hold them, to {@code mags}. */
    static void magnitude(KernelContext ctx, IntArray mags, int pair, int r, int i0, int seq, int base, int stride, int head, int p, int pairs) {
        int m = Int8GemmKernel.magnitude(pair);
        for (int off = pairs >> 1; off > 0; off >>= 1) m = Math.max(m, ctx.shflXor(m, off));
        if (p == 0 && i0 + r < seq) mags.set((base + i0 + r) * stride + head, m);
    }

    /** {@code acc + q[at]·k0 + q[at+1]·k1 + q[at+2]·k2 + q[at+3]·k3}, one fused multiply-add after another. */
    static float dot4(float[] q, int at, float k0, float k1, float k2, float k3, float acc) {
        return Math.fma(q[at + 3], k3, Math.fma(q[at + 2], k2, Math.fma(q[at + 1], k1, Math.fma(q[at], k0, acc))));
    }

    /**
     * Four FP16 pairs (dimensions 2q … 2q + 7 of a row, packed in ints) as floats into shared memory: with
     * {@code sideBySide} 1 as they are from {@code at} ({@code step} 1); with 0 pair i's even dimension at {@code at + i}
     * and its odd one {@code step} further (V's two planes).
     */
    static void stagePairs(float[] dst, int at, int step, int sideBySide, int u0, int u1, int u2, int u3) {
        int lo = sideBySide == 1 ? 2 : 1;   // distance between consecutive pairs' even dimensions
        dst[at] = Epilogue.lowHalf(u0);
        dst[at + step] = Epilogue.highHalf(u0);
        dst[at + lo] = Epilogue.lowHalf(u1);
        dst[at + lo + step] = Epilogue.highHalf(u1);
        dst[at + 2 * lo] = Epilogue.lowHalf(u2);
        dst[at + 2 * lo + step] = Epilogue.highHalf(u2);
        dst[at + 3 * lo] = Epilogue.lowHalf(u3);
        dst[at + 3 * lo + step] = Epilogue.highHalf(u3);
    }

    /** Each warp its own four rows: the exponentials replace the scores, each row's sum goes to {@code sums}. */
    static void softmax(KernelContext ctx, float[] scores, float[] sums, int seq, int warp, int lane) {
        for (int r = warp; r < ROWS; r += 4) {
            int at = r * SCORE_ROW;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = lane; j < seq; j += 32) max = Math.max(max, scores[at + j]);
            max = SkinnyGemmKernel.warpMax(ctx, max);
            float sum = 0f;
            for (int j = lane; j < seq; j += 32) {
                float e = KernelMath.exp(scores[at + j] - max);
                scores[at + j] = e;
                sum += e;
            }
            sum = SkinnyGemmKernel.warpSum(ctx, sum);
            if (lane == 0) sums[r] = sum;
        }
    }

    /**
     * Query {@code r} of the block's tile (if it is one of the sequence's): its pair of outputs, divided by its sum, as
     * FP16; returns the pair (0 past the sequence).
     */
    static int store(IntArray out, float x, float y, float[] sums, int r, int i0, int seq, int base, int outRow, int col) {
        if (i0 + r >= seq) return 0;
        float sum = sums[r];
        int pair = Epilogue.packHalves(x / sum, y / sum);
        out.set((base + i0 + r) * outRow + col, pair);
        return pair;
    }
}
