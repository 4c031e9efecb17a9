package dev.zq.kernels;

import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;
import dev.zq.runtime.KernelMath;

/**
 * Multi-head scaled-dot-product attention in FP16 on tensor cores, as ZeroQuant keeps it (only the projections are
 * INT8). The input is the fused projection's output {@code qkv} [B·S, 3H] (FP16 viewed as ints, two halves each: Q
 * in columns [0, H), K in [H, 2H), V in [2H, 3H), head h at {@code h·D} in each); the output {@code ctx} [B·S, H]
 * holds the heads side by side, as the next projection wants them.
 *
 * <p>A block of 4 warps takes 64 queries of one (sequence, head); each warp owns 16 of them. Keys go by in chunks of
 * 64 (FlashAttention's online softmax, so that S is not limited by shared memory): K is staged as it is, V transposed
 * (d-major, so that the {@code mma} B fragments are whole words), the key mask beside them. Per chunk a warp computes
 * its 16×64 scores with {@code mma.m16n8k16} (FP32 accumulation), scales and masks them, updates its running row
 * maximum and sum, rescales its output accumulators, and multiplies the exponentials — rounded to FP16, laid out by
 * the score accumulators exactly as the next {@code mma}'s A fragments — with V. Masked keys (mask 0, or beyond the
 * query in causal mode) score {@code -1e30}: as the CPU's {@code -Float.MAX_VALUE}, they get weight 0 next to any
 * visible key, and a row with no visible key attends uniformly. S must be a multiple of 64.
 *
 * <p>Each block also writes the largest FP16 magnitude of its head's outputs of each of its rows to {@code mags[r·stride + h]}
 * ({@code stride} ints a row, at least the number of heads), from which the next GEMM takes the rows' token-wise scales
 * ({@link TokenwiseGemmKernel}).
 */
public final class AttentionKernel {
    static final float MASKED = -1e30f;

    private AttentionKernel() {}

    /** Head size 64 (BERT-base/large, GPT-2). Launch {@code (S/64)·heads·B} blocks of 128 threads. */
    @Kernel
    public static void attention64(KernelContext ctx, IntArray qkv, IntArray mask, IntArray out, int seq, int heads, float scale, int causal,
                                   IntArray mags, int stride) {
        int[] qs = ctx.allocateIntShared(2304);   // 64 query rows × 36 words (32 used)
        int[] ks = ctx.allocateIntShared(4608);   // two chunks × 64 key rows × 36 words
        int[] vs = ctx.allocateIntShared(4608);   // two chunks × 64 value rows × 36 words
        int[] ms = ctx.allocateIntShared(128);    // two chunks' key mask
        ctx.awaitPreviousKernel();
        attend(ctx, qkv, mask, out, seq, heads, scale, causal, qs, ks, vs, ms, 64, 36, mags, stride);
    }

    /** Head size 32 (MiniLM). Launch {@code (S/64)·heads·B} blocks of 128 threads. */
    @Kernel
    public static void attention32(KernelContext ctx, IntArray qkv, IntArray mask, IntArray out, int seq, int heads, float scale, int causal,
                                   IntArray mags, int stride) {
        int[] qs = ctx.allocateIntShared(1280);   // 64 query rows × 20 words (16 used)
        int[] ks = ctx.allocateIntShared(2560);   // two chunks × 64 key rows × 20 words
        int[] vs = ctx.allocateIntShared(2560);   // two chunks × 64 value rows × 20 words
        int[] ms = ctx.allocateIntShared(128);
        ctx.awaitPreviousKernel();
        attend(ctx, qkv, mask, out, seq, heads, scale, causal, qs, ks, vs, ms, 32, 20, mags, stride);
    }

    /**
     * The body of both kernels: {@code d} is the head size (32 or 64), {@code stride} the staged row length in words.
     * Chunks of 64 keys go through two buffers: K, V and the mask of chunk c + 1 are in flight ({@code cp.async}) while
     * chunk c is computed, and V stays row-major ({@code ldmatrix.trans} gives its B fragments).
     */
    static void attend(KernelContext ctx, IntArray qkv, IntArray mask, IntArray out, int seq, int heads, float scale, int causal,
                       int[] qs, int[] ks, int[] vs, int[] ms, int d, int stride, IntArray mags, int magStride) {
        int tid = ctx.localIdx(), warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
        int qBlocks = seq >> 6, block = ctx.groupIdx();
        int q0 = (block % qBlocks) << 6, h = (block / qBlocks) % heads, b = block / (qBlocks * heads);
        int hidden = heads * d, rowWords = (3 * hidden) >> 1, dw = d >> 1;
        int seqRow0 = b * seq;
        int keyEnd = causal != 0 ? Math.min(seq, q0 + 64) : seq;
        // Q for the block's 64 queries, staged once (16-byte chunks; d/8 of them per row), with the first chunk of keys;
        // the second chunk in a group of its own.
        int chunksPerRow = d >> 3;
        for (int c = tid; c < 64 * chunksPerRow; c += 128) {
            int r = c / chunksPerRow, w = (c - r * chunksPerRow) << 2;
            ctx.copyAsync16(qs, r * stride + w, qkv, (seqRow0 + q0 + r) * rowWords + ((h * d) >> 1) + w);
        }
        stageKeys(ctx, qkv, mask, ks, vs, ms, 0, seqRow0, 0, rowWords, hidden + h * d, chunksPerRow, stride);
        ctx.copyAsyncCommit();
        if (keyEnd > 64) stageKeys(ctx, qkv, mask, ks, vs, ms, 1, seqRow0, 64, rowWords, hidden + h * d, chunksPerRow, stride);
        ctx.copyAsyncCommit();
        float[] s0 = new float[4], s1 = new float[4], s2 = new float[4], s3 = new float[4];
        float[] s4 = new float[4], s5 = new float[4], s6 = new float[4], s7 = new float[4];
        float[] o0 = new float[4], o1 = new float[4], o2 = new float[4], o3 = new float[4];
        float[] o4 = new float[4], o5 = new float[4], o6 = new float[4], o7 = new float[4];
        float m0 = MASKED, m1 = MASKED, l0 = 0f, l1 = 0f;   // running max and (lane-partial) sum of rows g and g + 8
        int qRow = warp << 4;                                // this warp's first query within the block
        int query0 = q0 + qRow + g, query1 = query0 + 8;
        // ldmatrix.trans rows of V: lane l names key (l mod 8) + 8·((l / 8) mod 2) of a 16-key step, columns 8·(l / 16) on.
        int vRow = ((lane & 7) + (((lane >> 3) & 1) << 3)) * stride + ((lane >> 4) << 2);
        int[] v01 = new int[4], v23 = new int[4], v45 = new int[4], v67 = new int[4];
        for (int k0 = 0, chunk = 0; k0 < keyEnd; k0 += 64, chunk++) {
            int buf = chunk & 1, kb = buf * 64 * stride, mb = buf << 6;
            ctx.copyAsyncWait(1);   // every group but the newest: this chunk's
            ctx.barrier();
            zero(s0); zero(s1); zero(s2); zero(s3); zero(s4); zero(s5); zero(s6); zero(s7);
            for (int kc = 0; kc < dw; kc += 8) {   // 16 halves of d per step
                int ra = (qRow + g) * stride + kc + t;
                int a0 = qs[ra], a1 = qs[ra + 8 * stride], a2 = qs[ra + 4], a3 = qs[ra + 8 * stride + 4];
                int rb = kb + g * stride + kc + t;
                ctx.mmaF16(s0, a0, a1, a2, a3, ks[rb], ks[rb + 4]);
                ctx.mmaF16(s1, a0, a1, a2, a3, ks[rb + 8 * stride], ks[rb + 8 * stride + 4]);
                ctx.mmaF16(s2, a0, a1, a2, a3, ks[rb + 16 * stride], ks[rb + 16 * stride + 4]);
                ctx.mmaF16(s3, a0, a1, a2, a3, ks[rb + 24 * stride], ks[rb + 24 * stride + 4]);
                ctx.mmaF16(s4, a0, a1, a2, a3, ks[rb + 32 * stride], ks[rb + 32 * stride + 4]);
                ctx.mmaF16(s5, a0, a1, a2, a3, ks[rb + 40 * stride], ks[rb + 40 * stride + 4]);
                ctx.mmaF16(s6, a0, a1, a2, a3, ks[rb + 48 * stride], ks[rb + 48 * stride + 4]);
                ctx.mmaF16(s7, a0, a1, a2, a3, ks[rb + 56 * stride], ks[rb + 56 * stride + 4]);
            }
            // Scale and mask; this lane holds columns 8j + 2t and 8j + 2t + 1 of rows g (s[0], s[1]) and g + 8 (s[2], s[3]).
            int key = k0 + 2 * t;
            visible(s0, ms, mb + 2 * t, key, query0, query1, scale, causal);
            visible(s1, ms, mb + 8 + 2 * t, key + 8, query0, query1, scale, causal);
            visible(s2, ms, mb + 16 + 2 * t, key + 16, query0, query1, scale, causal);
            visible(s3, ms, mb + 24 + 2 * t, key + 24, query0, query1, scale, causal);
            visible(s4, ms, mb + 32 + 2 * t, key + 32, query0, query1, scale, causal);
            visible(s5, ms, mb + 40 + 2 * t, key + 40, query0, query1, scale, causal);
            visible(s6, ms, mb + 48 + 2 * t, key + 48, query0, query1, scale, causal);
            visible(s7, ms, mb + 56 + 2 * t, key + 56, query0, query1, scale, causal);
            float c0 = Math.max(Math.max(Math.max(max01(s0), max01(s1)), Math.max(max01(s2), max01(s3))),
                    Math.max(Math.max(max01(s4), max01(s5)), Math.max(max01(s6), max01(s7))));
            float c1 = Math.max(Math.max(Math.max(max23(s0), max23(s1)), Math.max(max23(s2), max23(s3))),
                    Math.max(Math.max(max23(s4), max23(s5)), Math.max(max23(s6), max23(s7))));
            c0 = Math.max(c0, ctx.shflXor(c0, 1));
            c0 = Math.max(c0, ctx.shflXor(c0, 2));
            c1 = Math.max(c1, ctx.shflXor(c1, 1));
            c1 = Math.max(c1, ctx.shflXor(c1, 2));
            float n0 = Math.max(m0, c0), n1 = Math.max(m1, c1);
            float f0 = KernelMath.exp(m0 - n0), f1 = KernelMath.exp(m1 - n1);
            m0 = n0;
            m1 = n1;
            l0 = l0 * f0 + expAndSum01(s0, n0) + expAndSum01(s1, n0) + expAndSum01(s2, n0) + expAndSum01(s3, n0)
                    + expAndSum01(s4, n0) + expAndSum01(s5, n0) + expAndSum01(s6, n0) + expAndSum01(s7, n0);
            l1 = l1 * f1 + expAndSum23(s0, n1) + expAndSum23(s1, n1) + expAndSum23(s2, n1) + expAndSum23(s3, n1)
                    + expAndSum23(s4, n1) + expAndSum23(s5, n1) + expAndSum23(s6, n1) + expAndSum23(s7, n1);
            rescale(o0, f0, f1); rescale(o1, f0, f1); rescale(o2, f0, f1); rescale(o3, f0, f1);
            rescale(o4, f0, f1); rescale(o5, f0, f1); rescale(o6, f0, f1); rescale(o7, f0, f1);
            // P·V over the chunk's 64 keys, 16 at a time: score tiles (2i, 2i + 1) are the A fragments of step i.
            int rv = kb + vRow;
            weigh(ctx, s0, s1, vs, rv, d, v01, v23, v45, v67, o0, o1, o2, o3, o4, o5, o6, o7);
            weigh(ctx, s2, s3, vs, rv + 16 * stride, d, v01, v23, v45, v67, o0, o1, o2, o3, o4, o5, o6, o7);
            weigh(ctx, s4, s5, vs, rv + 32 * stride, d, v01, v23, v45, v67, o0, o1, o2, o3, o4, o5, o6, o7);
            weigh(ctx, s6, s7, vs, rv + 48 * stride, d, v01, v23, v45, v67, o0, o1, o2, o3, o4, o5, o6, o7);
            ctx.barrier();   // this chunk's buffers are no longer read: the chunk after next goes into them
            if (k0 + 128 < keyEnd) stageKeys(ctx, qkv, mask, ks, vs, ms, buf, seqRow0, k0 + 128, rowWords, hidden + h * d, chunksPerRow, stride);
            ctx.copyAsyncCommit();
        }
        l0 += ctx.shflXor(l0, 1);
        l0 += ctx.shflXor(l0, 2);
        l1 += ctx.shflXor(l1, 1);
        l1 += ctx.shflXor(l1, 2);
        float i0 = 1f / l0, i1 = 1f / l1;
        int outRow0 = (seqRow0 + query0) * (hidden >> 1) + ((h * d) >> 1) + t, outRow1 = outRow0 + 8 * (hidden >> 1);
        int w0 = write(out, outRow0, outRow1, o0, i0, i1), w1 = write(out, outRow0 + 4, outRow1 + 4, o1, i0, i1);
        int w2 = write(out, outRow0 + 8, outRow1 + 8, o2, i0, i1), w3 = write(out, outRow0 + 12, outRow1 + 12, o3, i0, i1);
        int w4 = 0, w5 = 0, w6 = 0, w7 = 0;
        if (d == 64) {
            w4 = write(out, outRow0 + 16, outRow1 + 16, o4, i0, i1);
            w5 = write(out, outRow0 + 20, outRow1 + 20, o5, i0, i1);
            w6 = write(out, outRow0 + 24, outRow1 + 24, o6, i0, i1);
            w7 = write(out, outRow0 + 28, outRow1 + 28, o7, i0, i1);
        }
        // The head's part of the rows' magnitudes for the next GEMM's token-wise codes (TokenwiseGemmKernel): a row's d
        // outputs are spread over a quad of lanes.
        int ma = Math.max(Math.max(Math.max(w0 & 0xFFFF, w1 & 0xFFFF), Math.max(w2 & 0xFFFF, w3 & 0xFFFF)),
                Math.max(Math.max(w4 & 0xFFFF, w5 & 0xFFFF), Math.max(w6 & 0xFFFF, w7 & 0xFFFF)));
        int mb = Math.max(Math.max(Math.max(w0 >> 16, w1 >> 16), Math.max(w2 >> 16, w3 >> 16)), Math.max(Math.max(w4 >> 16, w5 >> 16), Math.max(w6 >> 16, w7 >> 16)));
        ma = TokenwiseGemmKernel.quadMax(ctx, ma);
        mb = TokenwiseGemmKernel.quadMax(ctx, mb);
        if (t == 0) {
            mags.set((seqRow0 + query0) * magStride + h, ma);
            mags.set((seqRow0 + query1) * magStride + h, mb);
        }
    }

    static void zero(float[] s) {
        s[0] = 0f;
        s[1] = 0f;
        s[2] = 0f;
        s[3] = 0f;
    }

    /** Scales a score tile and masks what the queries may not see (columns {@code col}, {@code col + 1} of the chunk). */
    static void visible(float[] s, int[] ms, int col, int key, int query0, int query1, float scale, int causal) {
        boolean hide0 = ms[col] == 0, hide1 = ms[col + 1] == 0;
        s[0] = hide0 || (causal != 0 && key > query0) ? MASKED : s[0] * scale;
        s[1] = hide1 || (causal != 0 && key + 1 > query0) ? MASKED : s[1] * scale;
        s[2] = hide0 || (causal != 0 && key > query1) ? MASKED : s[2] * scale;
        s[3] = hide1 || (causal != 0 && key + 1 > query1) ? MASKED : s[3] * scale;
    }

    static float max01(float[] s) { return Math.max(s[0], s[1]); }

    static float max23(float[] s) { return Math.max(s[2], s[3]); }

    /** Replaces row g's two scores by e^(s − max) and returns their sum. */
    static float expAndSum01(float[] s, float max) {
        s[0] = KernelMath.exp(s[0] - max);
        s[1] = KernelMath.exp(s[1] - max);
        return s[0] + s[1];
    }

    static float expAndSum23(float[] s, float max) {
        s[2] = KernelMath.exp(s[2] - max);
        s[3] = KernelMath.exp(s[3] - max);
        return s[2] + s[3];
    }

    static void rescale(float[] o, float f0, float f1) {
        o[0] = o[0] * f0;
        o[1] = o[1] * f0;
        o[2] = o[2] * f1;
        o[3] = o[3] * f1;
    }

    /**
     * Chunk {@code k0}'s 64 keys into buffer {@code buf}: their K and V rows (columns {@code kCol} and {@code kCol + hidden}
     * of {@code qkv}, in halves) and their mask, as 16-byte async copies, uncommitted.
     */
    static void stageKeys(KernelContext ctx, IntArray qkv, IntArray mask, int[] ks, int[] vs, int[] ms, int buf, int seqRow0, int k0,
                          int rowWords, int kCol, int chunksPerRow, int stride) {
        int tid = ctx.localIdx(), hiddenWords = (rowWords / 3), base = buf * 64 * stride;
        for (int c = tid; c < 64 * chunksPerRow; c += 128) {
            int r = c / chunksPerRow, w = (c - r * chunksPerRow) << 2;
            int src = (seqRow0 + k0 + r) * rowWords + (kCol >> 1) + w;
            ctx.copyAsync16(ks, base + r * stride + w, qkv, src);
            ctx.copyAsync16(vs, base + r * stride + w, qkv, src + hiddenWords);
        }
        if (tid < 16) ctx.copyAsync16(ms, (buf << 6) + (tid << 2), mask, seqRow0 + k0 + (tid << 2));
    }

    /**
     * Adds P·V for 16 keys: {@code pa}, {@code pb} are the score tiles of keys 0–7 and 8–15 (exponentials), which
     * are the A fragment (rows g, g + 8; halves 2t, 2t + 1 and 8 + 2t, 9 + 2t); the B fragments come from the
     * row-major V by {@code ldmatrix.trans} ({@code rv}: this lane's row address of the step), two n-tiles a load.
     */
    static void weigh(KernelContext ctx, float[] pa, float[] pb, int[] vs, int rv, int d, int[] v01, int[] v23, int[] v45, int[] v67,
                      float[] o0, float[] o1, float[] o2, float[] o3, float[] o4, float[] o5, float[] o6, float[] o7) {
        int a0 = Epilogue.packHalves(pa[0], pa[1]), a1 = Epilogue.packHalves(pa[2], pa[3]);
        int a2 = Epilogue.packHalves(pb[0], pb[1]), a3 = Epilogue.packHalves(pb[2], pb[3]);
        ctx.ldmatrix4t(v01, vs, rv);
        ctx.ldmatrix4t(v23, vs, rv + 8);
        ctx.mmaF16(o0, a0, a1, a2, a3, v01[0], v01[1]);
        ctx.mmaF16(o1, a0, a1, a2, a3, v01[2], v01[3]);
        ctx.mmaF16(o2, a0, a1, a2, a3, v23[0], v23[1]);
        ctx.mmaF16(o3, a0, a1, a2, a3, v23[2], v23[3]);
        if (d == 64) {
            ctx.ldmatrix4t(v45, vs, rv + 16);
            ctx.ldmatrix4t(v67, vs, rv + 24);
            ctx.mmaF16(o4, a0, a1, a2, a3, v45[0], v45[1]);
            ctx.mmaF16(o5, a0, a1, a2, a3, v45[2], v45[3]);
            ctx.mmaF16(o6, a0, a1, a2, a3, v67[0], v67[1]);
            ctx.mmaF16(o7, a0, a1, a2, a3, v67[2], v67[3]);
        }
    }

    /**
     * One output tile: rows g (words at {@code w0}) and g + 8 ({@code w1}), divided by the row sums; returns each row's
     * larger FP16 magnitude ({@link Int8GemmKernel#magnitude}), row g's in the low 16 bits.
     */
    static int write(IntArray out, int w0, int w1, float[] o, float i0, float i1) {
        int p0 = Epilogue.packHalves(o[0] * i0, o[1] * i0), p1 = Epilogue.packHalves(o[2] * i1, o[3] * i1);
        out.set(w0, p0);
        out.set(w1, p1);
        return Int8GemmKernel.magnitude(p0) | (Int8GemmKernel.magnitude(p1) << 16);
    }
}
