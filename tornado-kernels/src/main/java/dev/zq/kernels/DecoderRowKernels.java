package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;
import dev.zq.runtime.KernelMath;

/**
 * A GPT decoder's row kernels around its GEMMs, on FP32 rows (the residual stream of a few decoding tokens is small):
 * token + position embeddings, LayerNorm, the final LayerNorm of each sequence's last token, greedy arg-max sampling, and the
 * staging of many rows for the tensor-core GEMMs (token-wise INT8 codes or FP16 halves, of the rows' LayerNorm where a
 * pre-norm block feeds them; with few rows the GEMM normalises its rows itself). The number of cached tokens lives on the
 * device ({@code pos[0]}): {@link #lastTokenNorm} advances it (a batch-1 decode step: {@link GreedyHeadKernel}), so a
 * captured decode step replays for every new token without the host touching anything.
 */
public final class DecoderRowKernels {
    private DecoderRowKernels() {}

    /** Empties the cache ({@code pos[0] = 0}): the first launch of a prefill, so that replaying it starts over. */
    @Kernel
    public static void resetPosition(KernelContext ctx, IntArray pos) {
        ctx.awaitPreviousKernel();
        if (ctx.globalIdx() == 0) pos.set(0, 0);
    }

    /**
     * {@code x[r] = wte[tokens[r]] + wpe[pos[0] + r % seq]} for the {@code batch·seq} new token rows; positions at or past
     * {@code capacity} (a replay beyond what the graph was built for) are skipped rather than read out of bounds.
     */
    @Kernel
    public static void embed(KernelContext ctx, IntArray tokens, IntArray pos, FloatArray wte, FloatArray wpe, FloatArray x, int seq, int n,
                             int capacity) {
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();   // the next kernel (a batch-1 GEMV) may start on its weights now
        int r = ctx.groupIdx(), p = pos.get(0) + r - (r / seq) * seq, t = tokens.get(r), step = ctx.localSizeX();
        // Four elements a thread in flight at once: a loop of one each waited out a DRAM round trip per element (the JIT
        // does not unroll loops).
        if (p < capacity)
            for (int e = ctx.localIdx(); e < n; e += 4 * step) {
                int e1 = e + step, e2 = e1 + step, e3 = e2 + step;
                float v0 = wte.get(t * n + e) + wpe.get(p * n + e);
                float v1 = e1 < n ? wte.get(t * n + e1) + wpe.get(p * n + e1) : 0f;
                float v2 = e2 < n ? wte.get(t * n + e2) + wpe.get(p * n + e2) : 0f;
                float v3 = e3 < n ? wte.get(t * n + e3) + wpe.get(p * n + e3) : 0f;
                x.set(r * n + e, v0);
                if (e1 < n) x.set(r * n + e1, v1);
                if (e2 < n) x.set(r * n + e2, v2);
                if (e3 < n) x.set(r * n + e3, v3);
            }
    }

    /**
     * {@code out[r] = LayerNorm(x[r])} for every row, or its RMSNorm with {@code norm} {@link SkinnyGemmKernel#RMS_NORM} (a
     * LLaMA's; {@code beta} zeros); launch {@link RowKernels#grid}. For the few-row INT8/INT4 GEMMs, which normalising
     * in-kernel made slower (bench/RESULTS.md).
     */
    @Kernel
    public static void layerNorm(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, FloatArray out, int n, float eps) {
        ctx.awaitPreviousKernel();
        float[] red = ctx.allocateFloatShared(32);
        normalizeRow(ctx, red, x, ctx.groupIdx(), norm, gamma, beta, out, ctx.groupIdx(), n, eps);
    }

    /**
     * {@code out[b] = LayerNorm(x[b·seq + seq − 1])} (or RMSNorm, as {@link #layerNorm}) for each of the batch's sequences, a
     * block each (launch {@link RowKernels#grid}{@code (batch, n)}); then {@code pos[0] += seq}: the new tokens are in the cache.
     */
    @Kernel
    public static void lastTokenNorm(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, FloatArray out, IntArray pos,
                                     int seq, int n, float eps) {
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();   // the next kernel (a batch-1 GEMV) may start on its weights now
        float[] red = ctx.allocateFloatShared(32);
        int b = ctx.groupIdx();   // a block a sequence: one block looping over 16 rows took 30 µs of a 1.6 ms step
        normalizeRow(ctx, red, x, b * seq + seq - 1, norm, gamma, beta, out, b, n, eps);
        if (b == 0 && ctx.localIdx() == 0) pos.set(0, pos.get(0) + seq);   // nobody in this launch reads pos
    }

    /** The launch of {@link #quantizeRows} and {@link #halfRows}: one block of 256 threads per row. */
    public static Grid rowsGrid(int rows) { return Grid.of(rows, 256); }

    /**
     * ZeroQuant's token-wise INT8 codes of FP32 rows (with {@code norm != 0}: of their LayerNorm, fused here), for
     * {@link PrefillGemmKernel}: {@code scales[r] = max|v|/127}, codes packed four per int ({@code n} a multiple of 4), as
     * {@link SkinnyGemmKernel} quantizes inside itself.
     */
    @Kernel
    public static void quantizeRows(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray codes,
                                    FloatArray scales, int n) {
        ctx.awaitPreviousKernel();
        float[] red = ctx.allocateFloatShared(32), mean = ctx.allocateFloatShared(1), rstd = ctx.allocateFloatShared(1);
        int r = ctx.groupIdx(), tid = ctx.localIdx(), threads = ctx.localSizeX();
        if (norm != 0) SkinnyGemmKernel.rowStats(ctx, red, x, mean, rstd, r, 1, n, eps, norm);
        float max = 0f;
        for (int e = tid; e < n; e += threads) max = Math.max(max, Math.abs(SkinnyGemmKernel.input(x, r * n + e, e, 0, norm, gamma, beta, mean, rstd)));
        float scale = RowKernels.blockMax(ctx, red, max) / 127f;
        if (tid == 0) scales.set(r, scale);
        for (int j = tid; j < n >> 2; j += threads) {
            int e = j << 2, at = r * n + e;
            codes.set((r * n >> 2) + j, RowKernels.packCodes(SkinnyGemmKernel.input(x, at, e, 0, norm, gamma, beta, mean, rstd),
                    SkinnyGemmKernel.input(x, at + 1, e + 1, 0, norm, gamma, beta, mean, rstd), SkinnyGemmKernel.input(x, at + 2, e + 2, 0, norm, gamma, beta, mean, rstd),
                    SkinnyGemmKernel.input(x, at + 3, e + 3, 0, norm, gamma, beta, mean, rstd), scale));
        }
    }

    /** The launch of {@link #quantizeRowsWide} and {@link #halfRowsWide}: one block of 1024 threads per row. */
    public static Grid wideRowsGrid(int rows) { return Grid.of(rows, WideGemvKernel.THREADS); }

    /** Whether {@link #quantizeRowsWide} and {@link #halfRowsWide} take rows of {@code n}: at most eight elements a thread. */
    public static boolean fitsWide(int n) { return n > 0 && n <= WideGemvKernel.MAX_K && n % 32 == 0; }

    /**
     * {@link #quantizeRows} with the row in registers: a block of 1024 threads a row of up to 8192 elements, each thread
     * holding eight ({@link WideGemvKernel#loadRow}: one read of the row, the LayerNorm's statistics in one block
     * reduction, the largest magnitude in another). {@link #quantizeRows}' blocks of 256 threads read the row three times
     * (statistics, maximum, codes), each a loop of one load at a time: on the H200 a 1.3B decode step at batch 16 spent
     * 10–15 µs a launch there, 96 launches a step (bench/RESULTS.md, session 34). The same codes and scales but where the
     * LayerNorm's sums, taken in another order, round differently. The codes in {@code order}: {@link #NATURAL}, or
     * {@link #PIECE4_ORDER} for {@link SkinnyMmaKernel#int4}; {@code early} as {@link #loadWideRow}'s.
     */
    @Kernel(maxRegisters = 64)
    public static void quantizeRowsWide(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray codes,
                                        FloatArray scales, int n, int order, int early) {
        quantizeRowsWideBody(ctx, x, norm, gamma, beta, eps, codes, scales, n, order, early, false);
    }

    /** {@link #quantizeRowsWide} on rows of gates and ups, its input {@code silu(gate)·up} ({@link SkinnyGemmKernel#SWIGLU}: a LLaMA's down projection). */
    @Kernel(maxRegisters = 64)
    public static void quantizeRowsWideGated(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray codes,
                                             FloatArray scales, int n, int order, int early) {
        quantizeRowsWideBody(ctx, x, norm, gamma, beta, eps, codes, scales, n, order, early, true);
    }

    /** {@link #quantizeRowsWide}'s body; {@code gated} (a constant at each entry) as {@link WideGemvKernel#loadRow}'s. */
    static void quantizeRowsWideBody(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray codes,
                                     FloatArray scales, int n, int order, int early, boolean gated) {
        float[] red = ctx.allocateFloatShared(96);
        float[] v = new float[8];   // registers
        loadWideRow(ctx, red, v, x, norm, gated, gamma, beta, eps, n, early);
        int tid = ctx.localIdx(), r = ctx.groupIdx(), a0 = tid << 2, a1 = a0 + 4096, warps = wideWarps(n);
        boolean active = (tid >> 5) < warps, h0 = a0 < n, h1 = a1 < n;
        float m = WideGemvKernel.blockMax32(ctx, red, 2, Math.max(SkinnyGemmKernel.max4(v[0], v[1], v[2], v[3]), SkinnyGemmKernel.max4(v[4], v[5], v[6], v[7])), warps);
        float scale = m / 127f;
        int row = r * n >> 2;
        if (active && h0) codes.set(row + codeWordTarget(a0 >> 2, order), RowKernels.packCodes(v[0], v[1], v[2], v[3], scale));
        if (active && h1) codes.set(row + codeWordTarget(a1 >> 2, order), RowKernels.packCodes(v[4], v[5], v[6], v[7], scale));
        if (tid == 0) scales.set(r, scale);
    }

    /**
     * {@link #halfRows} with the row in registers, as {@link #quantizeRowsWide}: a block of 1024 threads a row of up to 8192
     * elements, one read of it, the LayerNorm's statistics in one block reduction; {@code early} as {@link #loadWideRow}'s.
     */
    @Kernel(maxRegisters = 64)
    public static void halfRowsWide(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray halves, int n,
                                    int order, int early) {
        halfRowsWideBody(ctx, x, norm, gamma, beta, eps, halves, n, order, early, false);
    }

    /** {@link #halfRowsWide} on rows of gates and ups, its input {@code silu(gate)·up} ({@link SkinnyGemmKernel#SWIGLU}: a LLaMA's down projection). */
    @Kernel(maxRegisters = 64)
    public static void halfRowsWideGated(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray halves, int n,
                                         int order, int early) {
        halfRowsWideBody(ctx, x, norm, gamma, beta, eps, halves, n, order, early, true);
    }

    /** {@link #halfRowsWide}'s body; {@code gated} (a constant at each entry) as {@link WideGemvKernel#loadRow}'s. */
    static void halfRowsWideBody(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray halves, int n,
                                 int order, int early, boolean gated) {
        float[] red = ctx.allocateFloatShared(96);
        float[] v = new float[8];   // registers
        loadWideRow(ctx, red, v, x, norm, gated, gamma, beta, eps, n, early);
        int tid = ctx.localIdx(), r = ctx.groupIdx(), a0 = tid << 2, a1 = a0 + 4096, warps = wideWarps(n);
        boolean active = (tid >> 5) < warps, h0 = a0 < n, h1 = a1 < n;
        int row = r * n >> 1, p0 = a0 >> 1, p1 = a1 >> 1;   // the source pairs 2·tid, 2·tid + 1 of each piece
        if (active && h0) {
            halves.set(row + pairTarget(p0, order), Epilogue.packHalves(v[0], v[1]));
            halves.set(row + pairTarget(p0 + 1, order), Epilogue.packHalves(v[2], v[3]));
        }
        if (active && h1) {
            halves.set(row + pairTarget(p1, order), Epilogue.packHalves(v[4], v[5]));
            halves.set(row + pairTarget(p1 + 1, order), Epilogue.packHalves(v[6], v[7]));
        }
    }

    /**
     * What {@link #quantizeRowsWide} and {@link #halfRowsWide} start with: block row {@code groupIdx}'s elements {@code 4t …}
     * and {@code 4096 + 4t …} into {@code v[0..7]} (LayerNorm'd with {@code norm != 0}; {@link WideGemvKernel#loadRow}),
     * γ and β of the first piece loaded before the wait for the previous kernel.
     * <p>
     * With {@code early != 0} the next kernel is released before the wait, not after it: its blocks launch while the
     * previous projection finishes and load their weights while these rows are staged. The host asks for it where the
     * next kernel is {@link SkinnyMmaKernel} streaming enough weights (DecoderTaskGraph's rule; measurements there).
     */
    static void loadWideRow(KernelContext ctx, float[] red, float[] v, FloatArray x, int norm, boolean gated, FloatArray gamma, FloatArray beta, float eps, int n,
                            int early) {
        int a0 = ctx.localIdx() << 2, warps = wideWarps(n);
        float g0 = 0f, g1 = 0f, g2 = 0f, g3 = 0f, e0 = 0f, e1 = 0f, e2 = 0f, e3 = 0f;
        if (SkinnyGemmKernel.normalises(norm) && (ctx.localIdx() >> 5) < warps && a0 < n) {
            g0 = gamma.get(a0); g1 = gamma.get(a0 + 1); g2 = gamma.get(a0 + 2); g3 = gamma.get(a0 + 3);
            e0 = beta.get(a0); e1 = beta.get(a0 + 1); e2 = beta.get(a0 + 2); e3 = beta.get(a0 + 3);
        }
        if (early != 0) ctx.releaseNextKernel();
        ctx.awaitPreviousKernel();
        if (early == 0) ctx.releaseNextKernel();   // the next kernel may start on its weights now
        int base = ctx.groupIdx() * (gated ? 2 * n : n);   // SWIGLU: rows of a gate and an up each
        WideGemvKernel.loadRow(ctx, red, v, x, base, norm, gated, gamma, beta, eps, n, warps, 4096, g0, g1, g2, g3, e0, e1, e2, e3);
    }

    /** The warps of a 1024-thread block that hold elements of a row of {@code n}: 128 elements a warp in the first piece. */
    static int wideWarps(int n) { return Math.min(32, (n + 127) >> 7); }

    /** Where {@code order} puts source pair {@code q}: itself, or ({@link #MMA_ORDER}) the inverse of {@link #mmaOrderSource}. */
    static int pairTarget(int q, int order) {
        return order == MMA_ORDER ? (q & ~7) | ((q & 1) << 2) | ((q >> 1) & 3) : q;
    }

    /** {@link #halfRows}' order: as the rows are, for {@link PrefillGemmKernel#fp16}. */
    public static final int NATURAL = 0;

    /**
     * {@link #quantizeRowsWide}' order for {@link SkinnyMmaKernel#int4}: within each 128 codes (32 words, four chunks of
     * 32 codes), the word at {@code 8t + 2c + h} holds the chunk {@code c}'s word {@code t + 4h}, so that the two words a
     * lane {@code 4g + t} gives each chunk's {@code mma} (K positions {@code 4t …} and {@code 16 + 4t …}) are, for all four
     * chunks, eight consecutive words: two 16-byte loads instead of eight of 4 bytes. Rows of a multiple of 128 codes.
     */
    public static final int PIECE4_ORDER = 2;

    /** Where {@code order} ({@link #NATURAL} or {@link #PIECE4_ORDER}) puts code word {@code j} of a row. */
    static int codeWordTarget(int j, int order) {
        return order == PIECE4_ORDER ? (j & ~31) | ((j & 3) << 3) | (((j >> 3) & 3) << 1) | ((j >> 2) & 1) : j;
    }

    /**
     * {@link #halfRows}' order for the weight-only tensor-core kernels ({@link PrefillGemmKernel#int8a16},
     * {@link PrefillGemmKernel#int4a16}): within each 32 halves, the pair at {@code 8s + 4u + t} holds elements
     * {@code 16s + 4t + 2u} and {@code + 1}. An {@code mma} sums over K in any order as long as both operands agree; in
     * this one, the four consecutive codes a lane reads from one weight word (INT8: bytes of one word; INT4: the low or
     * the high nibbles of one {@link Int4Words} word) are exactly the four K positions of its B fragment for one step.
     */
    public static final int MMA_ORDER = 1;

    /**
     * FP32 rows (with {@code norm != 0}: their LayerNorm) rounded to FP16, two per int, in {@code order}
     * ({@link #NATURAL} or {@link #MMA_ORDER}; the latter needs {@code n} a multiple of 32, the former even).
     */
    @Kernel
    public static void halfRows(KernelContext ctx, FloatArray x, int norm, FloatArray gamma, FloatArray beta, float eps, IntArray halves, int n,
                                int order) {
        ctx.awaitPreviousKernel();
        float[] red = ctx.allocateFloatShared(32), mean = ctx.allocateFloatShared(1), rstd = ctx.allocateFloatShared(1);
        int r = ctx.groupIdx();
        if (norm != 0) SkinnyGemmKernel.rowStats(ctx, red, x, mean, rstd, r, 1, n, eps, norm);
        for (int j = ctx.localIdx(); j < n >> 1; j += ctx.localSizeX()) {
            int q = order == MMA_ORDER ? mmaOrderSource(j) : j;   // the source pair of output pair j
            int e = q << 1, at = r * n + e;
            halves.set((r * n >> 1) + j, Epilogue.packHalves(SkinnyGemmKernel.input(x, at, e, 0, norm, gamma, beta, mean, rstd),
                    SkinnyGemmKernel.input(x, at + 1, e + 1, 0, norm, gamma, beta, mean, rstd)));
        }
    }

    /** The pair of elements that {@link #MMA_ORDER} puts at pair {@code p}: {@code 8s + 4u + t} takes {@code 8s + 2t + u}. */
    static int mmaOrderSource(int p) {
        return (p & ~7) | ((p & 3) << 1) | ((p >> 2) & 1);
    }

    /** Logits a block of {@link #argmax} reads in one pass: eight a thread of 1024. */
    static final int ARGMAX_PASS = 8 * 1024;

    /**
     * Blocks {@link #argmax} splits a row of {@code vocab} logits over: one a pass's worth of logits ({@value #ARGMAX_PASS}),
     * at most {@code blocks / batch} (the GPU's SMs shared by the rows), at least one. A single block a row read GPT's 50,257
     * logits in seven passes, each waiting out its loads: 10.8 µs of a 1.3B batch-16 step (session 37's trace).
     */
    public static int argmaxParts(int batch, int vocab, int blocks) {
        if (batch <= 0 || vocab <= 0) throw new IllegalArgumentException("argmax over " + batch + " rows of " + vocab + " logits");
        return Math.max(1, Math.min(Math.ceilDiv(vocab, ARGMAX_PASS), blocks / batch));
    }

    /** The launch of {@link #argmax} for {@code batch} rows of logits, each split over {@code parts} blocks. */
    public static Grid argmaxGrid(int batch, int parts) { return Grid.of(batch * parts, 1024); }

    /**
     * Greedy sampling: {@code next[b]} = the index of the largest logit of row {@code b} (the lowest on ties, NaN never
     * chosen), also written to {@code generated[b·maxNew + pos[0] − promptLen]} while that is inside the buffer. A row
     * with no finite-or-infinite number above −∞ records −1 there (the host reports it) and feeds token 0 on.
     * <p>
     * Each row is split over {@code parts} blocks ({@link #argmaxParts}), each taking a contiguous share; with more than
     * one, each block's best goes to {@code bestValues/bestIndices[block]} and the last of the row's blocks to arrive at
     * {@code arrivals[b]} (zeroed; each launch leaves it so) picks among them by {@link #better}, a total order, so the
     * answer is the same whatever the order the blocks finish in.
     */
    @Kernel
    public static void argmax(KernelContext ctx, FloatArray logits, IntArray next, IntArray generated, IntArray pos, int vocab,
                              int promptLen, int maxNew, int parts, FloatArray bestValues, IntArray bestIndices, IntArray arrivals) {
        ctx.awaitPreviousKernel();
        float[] vals = ctx.allocateFloatShared(32);
        int[] idxs = ctx.allocateIntShared(32);
        int g = ctx.groupIdx(), b = g / parts, part = g - b * parts, tid = ctx.localIdx(), lane = tid & 31;
        int span = (vocab + parts - 1) / parts, lo = part * span, hi = Math.min(vocab, lo + span);
        float best = Float.NEGATIVE_INFINITY;
        int at = -1;
        // Eight loads in flight per thread, then the comparisons in index order (a loop of one load each waited for
        // each load: 22 µs for GPT-2's 50,257 logits on the H100).
        int n = ctx.localSizeX(), row = b * vocab;
        for (int j = lo + tid; j < hi; j += 8 * n) {
            float v0 = logits.get(row + j), ninf = Float.NEGATIVE_INFINITY;
            float v1 = j + n < hi ? logits.get(row + j + n) : ninf, v2 = j + 2 * n < hi ? logits.get(row + j + 2 * n) : ninf;
            float v3 = j + 3 * n < hi ? logits.get(row + j + 3 * n) : ninf, v4 = j + 4 * n < hi ? logits.get(row + j + 4 * n) : ninf;
            float v5 = j + 5 * n < hi ? logits.get(row + j + 5 * n) : ninf, v6 = j + 6 * n < hi ? logits.get(row + j + 6 * n) : ninf;
            float v7 = j + 7 * n < hi ? logits.get(row + j + 7 * n) : ninf;
            for (int h = 0; h < 8; h++) {
                float v = SkinnyGemmKernel.pick(h, v0, v1, v2, v3, v4, v5, v6, v7);
                if (v > best) {
                    best = v;
                    at = j + h * n;
                }
            }
        }
        for (int mask = 16; mask > 0; mask >>= 1) {
            float ov = ctx.shflXor(best, mask);
            int oi = ctx.shflXor(at, mask);
            if (better(ov, oi, best, at)) {
                best = ov;
                at = oi;
            }
        }
        if (lane == 0) {
            vals[tid >> 5] = best;
            idxs[tid >> 5] = at;
        }
        ctx.barrier();
        if (tid == 0) {
            for (int w = 1; w < (ctx.localSizeX() >> 5); w++)
                if (better(vals[w], idxs[w], best, at)) {
                    best = vals[w];
                    at = idxs[w];
                }
            if (parts > 1) {
                bestValues.set(g, best);
                bestIndices.set(g, at);
            }
        }
        boolean pick = parts == 1;
        if (parts > 1) {   // the same in every block: every thread reaches arriveLast
            boolean last = ctx.arriveLast(arrivals, b, parts);
            pick = last;   // the same in every thread of the block, so that a block-wide step could be guarded by it
            if (last && tid == 0) {   // every block of the row has written its best
                best = Float.NEGATIVE_INFINITY;
                at = -1;
                for (int q = b * parts; q < b * parts + parts; q++) {
                    float v = bestValues.get(q);
                    int i = bestIndices.get(q);
                    if (better(v, i, best, at)) {
                        best = v;
                        at = i;
                    }
                }
            }
        }
        if (pick && tid == 0) {
            next.set(b, at < 0 ? 0 : at);
            int step = pos.get(0) - promptLen;
            if (step >= 0 && step < maxNew) generated.set(b * maxNew + step, at);
        }
    }

    // ------------------------------------------------------------------ helpers (inlined by the JIT)

    /** Whether candidate (v, i) beats (best, at): a larger value, or the same value at a lower index; −1 never wins. */
    static boolean better(float v, int i, float best, int at) {
        return i >= 0 && (at < 0 || v > best || (v == best && i < at));
    }

    /**
     * LayerNorm (PyTorch's: two passes, biased variance) of row {@code xr} of {@code x} into row {@code or} of {@code out};
     * with {@code norm} {@link SkinnyGemmKernel#RMS_NORM} the mean is taken as 0 (one pass: the RMSNorm).
     */
    static void normalizeRow(KernelContext ctx, float[] red, FloatArray x, int xr, int norm, FloatArray gamma, FloatArray beta, FloatArray out,
                             int or, int n, float eps) {
        int e = ctx.localIdx() << 2;
        boolean active = e < n;
        float v0 = 0f, v1 = 0f, v2 = 0f, v3 = 0f;
        float g0 = 0f, g1 = 0f, g2 = 0f, g3 = 0f, b0 = 0f, b1 = 0f, b2 = 0f, b3 = 0f;   // loaded before any store (RowKernels.normalize)
        if (active) {
            v0 = x.get(xr * n + e);
            v1 = x.get(xr * n + e + 1);
            v2 = x.get(xr * n + e + 2);
            v3 = x.get(xr * n + e + 3);
            g0 = gamma.get(e); g1 = gamma.get(e + 1); g2 = gamma.get(e + 2); g3 = gamma.get(e + 3);
            b0 = beta.get(e); b1 = beta.get(e + 1); b2 = beta.get(e + 2); b3 = beta.get(e + 3);
        }
        float mean = 0f;
        if (norm != SkinnyGemmKernel.RMS_NORM) mean = RowKernels.blockSum(ctx, red, v0 + v1 + v2 + v3) / n;   // uniform in the block
        float d0 = active ? v0 - mean : 0f, d1 = active ? v1 - mean : 0f, d2 = active ? v2 - mean : 0f, d3 = active ? v3 - mean : 0f;
        float inv = 1f / KernelMath.sqrt(RowKernels.blockSum(ctx, red, d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3) / n + eps);
        if (active) {
            out.set(or * n + e, d0 * inv * g0 + b0);
            out.set(or * n + e + 1, d1 * inv * g1 + b1);
            out.set(or * n + e + 2, d2 * inv * g2 + b2);
            out.set(or * n + e + 3, d3 * inv * g3 + b3);
        }
    }
}
