package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;

/**
 * {@code y = x·Wᵀ + b} on tensor cores for at most {@value #MAX_ROWS} activation rows (a decode step of a batch of 8 to
 * 16), with the <em>weights as the {@code mma}'s A operand</em>: a warp's tile is 16 output features, the rows are the
 * 8 columns of B (two {@code mma}s a step for 9 to 16 rows). {@link PrefillGemmKernel} puts the rows in A, 64 of them a
 * tile: at 16 rows three quarters of its work is padding, and its staging (a barrier each 64 bytes of K) left the 1.3B
 * projections at 8–19% of the H200's DRAM bandwidth (Nsight Compute, session 35: 20–29 µs a projection, 11–16% achieved
 * occupancy, stalls on fixed-latency waits and barriers). Here nothing passes through shared memory on the way in: each
 * lane holds its share of the weights in registers, loaded before the wait for the previous kernel, and reads its rows'
 * codes from global memory (small, and cached) after it. On the H200 a 1.3B decode step at batch 16 took 2.77 → 1.56 ms in
 * W8A8+head8, 3.34 → 2.36 in W16A16, 2.88 → 1.64 in W4/8A8+head8 (bench/RESULTS.md, session 35). Copying each block's
 * rows to shared memory at once instead ({@code cp.async}, K split over blocks) was slower at every projection.
 * <p>
 * The order of K inside a <em>piece</em> (16 bytes of a row a lane: 64 INT8 codes or 32 halves a row across a quad) is
 * ours to choose, as long as A and B agree: lane {@code 4g + t} loads the 16 bytes at {@code 16t} of weight rows
 * {@code g} and {@code g + 8} and of activation rows {@code g} and {@code g + 8}; step {@code s} of the piece takes their
 * words {@code 2s} and {@code 2s + 1} as the fragment registers that the {@code mma} reads as K {@code 4t …} and
 * {@code 16 + 4t …} (INT8; FP16: {@code 2t …} and {@code 8 + 2t …}). Both operands are then the plain row-major codes the
 * other kernels read: no copy of the weights in another order, and 16-byte loads throughout ({@link #int4} keeps
 * {@link Int4Words}' order instead).
 * <p>
 * A warp's unit is a <em>batch</em> of up to {@value #PIECES} pieces of its tile's 16 rows (INT8 256 inputs, FP16 128;
 * 4 KiB of weights), all in flight at once. A tile's batches are split over the block's warps ({@link #slices}, up to
 * {@value #MAX_SLICES}; more batches loop), whose sums meet in shared memory, are added in slice order and finished
 * (the token's scale, the bias, the epilogue) by the whole block, a thread an output — each thread's first output's
 * operands asked for right after the wait. INT8 and INT4 sum each piece (chunk) exactly in INT32 and fold it under its
 * group's scales (groups of multiples of 64; INT4 32): the same bits on the CPU.
 */
public final class SkinnyMmaKernel {
    private SkinnyMmaKernel() {}

    /** The most activation rows: two 8-column B tiles. */
    public static final int MAX_ROWS = 16;
    /** Pieces (16 bytes a lane of each of a tile's rows) of a warp's batch. */
    static final int PIECES = 4;
    /**
     * INT4 pieces of a warp's batch (1 KiB of a tile's weights each): two, so that its words leave registers for the
     * nibbles' unpacking (four spilled 132 bytes a thread at the 64 registers that blocks of 1024 threads allow).
     */
    static final int PIECES4 = 2;
    /** The most warps a tile's batches are split over (a block of 1024 threads). */
    public static final int MAX_SLICES = 32;

    /** Inputs a piece covers: 64 INT8 codes, 128 INT4 codes, 32 halves. */
    static int pieceInputs(int bits) { return bits == 16 ? 32 : bits == 4 ? 128 : 64; }

    /** Whether {@code m} rows of {@code k} inputs ({@code bits} 8 or 4 in groups of {@code groupSize}, or 16) fit. */
    public static boolean fits(int bits, int m, int k, int groupSize) {
        if (m < 1 || m > MAX_ROWS || k <= 0) return false;
        if (bits == 16) return k % 32 == 0;
        if (bits == 4) return k % 128 == 0 && groupSize > 0 && groupSize % 32 == 0 && k % groupSize == 0;
        return bits == 8 && k % 64 == 0 && groupSize > 0 && groupSize % 64 == 0 && k % groupSize == 0;
    }

    /**
     * Warps a tile's K is split over, at most {@value #MAX_SLICES}: a warp's batch is {@value #PIECES} pieces (INT4 {@value #PIECES4}), or fewer
     * where the tiles then still have warps enough for them in {@code warpsAtOnce} (what the GPU holds at once: 32 an SM
     * at 64 registers a thread), so that short rows and narrow outputs spread over more warps, each waiting for fewer bytes.
     * The kernels take their batch size back from the launch ({@code min(4, ⌈pieces / slices⌉)}, INT4 {@code min(2, …)}).
     */
    public static int slices(int bits, int n, int k, int warpsAtOnce) {
        int pieces = k / pieceInputs(bits), tiles = Math.ceilDiv(n, 16), per = bits == 4 ? PIECES4 : PIECES;
        while (per > 1 && Math.ceilDiv(pieces, per / 2) <= MAX_SLICES && (long) tiles * Math.ceilDiv(pieces, per / 2) <= warpsAtOnce) per /= 2;
        return Math.min(MAX_SLICES, Math.ceilDiv(pieces, per));
    }

    /** The launch: a block a tile of 16 features, a warp a slice ({@link #slices}). */
    public static Grid grid(int bits, int n, int k, int warpsAtOnce) {
        return new Grid(Math.ceilDiv(n, 16), 1, 32 * slices(bits, n, k, warpsAtOnce), 1);
    }

    /**
     * {@link #grid}, but with {@code oneWave} fewer slices where its blocks would not all fit the GPU at once (32 warps an
     * SM at 64 registers a thread, {@code warpsAtOnce / 32} SMs) and four or more slices make them fit: each warp then loops
     * over more batches, the later ones loaded after the wait, but no block waits for another to end before it starts
     * loading. GPT-3 1.3B's FP16 qkv and up projections at 16 slices (384 and 512 blocks of 512 threads, two an SM) ran as
     * two waves, their last blocks starting ~8 µs after the staging ended (session 37's trace); here 10 and 8 slices:
     * W16A16 b16 decode 75.2 → 73.1 ms (49 steps), GPT-2's (24 → 16 slices) 17.3 → 16.5 ms (H200, bench/RESULTS.md,
     * session 38). The kernels take their slice count from the launch.
     */
    public static Grid grid(int bits, int n, int k, int warpsAtOnce, boolean oneWave) {
        int tiles = Math.ceilDiv(n, 16), slices = slices(bits, n, k, warpsAtOnce), sms = warpsAtOnce >> 5;
        if (oneWave && sms > 0) {
            int fit = 32 / Math.ceilDiv(tiles, sms);   // the slices that let an SM hold its share of the blocks
            if (fit >= 4 && fit < slices) slices = fit;
        }
        return new Grid(tiles, 1, 32 * slices, 1);
    }

    /**
     * W8A8: INT8 codes {@code w} (K/4 ints a row) with group scales {@code sw[N, K/groupSize]}; the rows' token-wise codes
     * {@code a} (K/4 ints a row) and scales {@code sx} ({@link DecoderRowKernels#quantizeRows}); {@code mode} as
     * {@link SkinnyGemmKernel#finish} ({@link SkinnyGemmKernel#ADD} adds to {@code y}); {@code prefetch != 0}: the
     * warp's first scales and the block's bias asked into L1 before the wait ({@link #prefetchScales}).
     */
    @Kernel(maxRegisters = 64)
    public static void int8(KernelContext ctx, IntArray a, FloatArray sx, IntArray w, FloatArray sw, FloatArray bias, FloatArray y,
                            int m, int n, int k, int groupSize, int mode, int prefetch) {
        int tid = ctx.localIdx(), lane = tid & 31, g = lane >> 2, t = lane & 3, slice = tid >> 5, slices = ctx.localSizeX() >> 5;
        int kw = k >> 2, pieces = k >> 6, per = Math.min(PIECES, (pieces + slices - 1) / slices), batches = (pieces + per - 1) / per;
        int groups = k / groupSize;
        int f0 = (ctx.groupIdx() << 4) + g, f1 = f0 + 8;   // this lane's weight rows
        int[] q = new int[4], r0 = new int[8], r1 = new int[8], r2 = new int[8], r3 = new int[8];   // registers: a piece each, rows f0 then f1
        float[] sc = new float[8];   // the scales of rows f0, f1 in each piece's group
        if (slice < batches) loadBatch(ctx, q, r0, r1, r2, r3, w, f0, f1, n, kw, slice * per, Math.min(pieces, slice * per + per));
        if (prefetch != 0) prefetchScales(ctx, sw, bias, f0, f1, n, slice < batches ? (slice * per << 6) / groupSize : -1, groups);
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();
        // This thread's first output's epilogue operands (row tid / 16 of the tile), asked for now: they arrive under the products.
        int col0 = (ctx.groupIdx() << 4) + (tid & 15);
        boolean live0 = tid < (m << 4) && col0 < n;
        float sx0 = live0 ? sx.get(tid >> 4) : 0f, bias0 = live0 ? bias.get(col0) : 0f;
        float resid0 = live0 && mode == SkinnyGemmKernel.ADD ? y.get((tid >> 4) * n + col0) : 0f;
        int[] x = new int[8], c = new int[4], c2 = new int[4];
        float[] fa = new float[4], fb = new float[4];   // rows 0–7 and 8–15: features f0, f1 × rows 2t, 2t + 1
        boolean two = m > 8;
        for (int bb = slice; bb < batches; bb += slices) {   // uniform in the warp
            int p = bb * per, end = Math.min(pieces, p + per);   // the batch's pieces
            if (bb != slice) loadBatch(ctx, q, r0, r1, r2, r3, w, f0, f1, n, kw, p, end);
            loadScales(sc, sw, f0, f1, n, p, end, groups, groupSize);   // after the wait: 8 registers fewer across it
            piece8(ctx, q, x, c, c2, fa, fb, a, r0, sc[0], sc[1], kw, p, g, t, m, two);
            if (p + 1 < end) piece8(ctx, q, x, c, c2, fa, fb, a, r1, sc[2], sc[3], kw, p + 1, g, t, m, two);
            if (p + 2 < end) piece8(ctx, q, x, c, c2, fa, fb, a, r2, sc[4], sc[5], kw, p + 2, g, t, m, two);
            if (p + 3 < end) piece8(ctx, q, x, c, c2, fa, fb, a, r3, sc[6], sc[7], kw, p + 3, g, t, m, two);
        }
        float[] part = ctx.allocateFloatShared(MAX_SLICES * 256);
        share(part, fa, fb, slice, g, t);
        ctx.barrier();
        finishScaled(ctx, part, sx, bias, y, sx0, bias0, resid0, tid, m, n, mode, slices);
    }

    /**
     * {@link #int8}'s and {@link #int4}'s outputs, a thread each (row {@code o / 16}, feature {@code o mod 16} of the tile):
     * the warps' sums in {@code part} ({@link #share}) added in slice order, times the row's scale, plus the bias, through
     * the epilogue; the thread's first output from the operands it asked for early ({@code sx0}, {@code bias0}, {@code resid0}).
     */
    static void finishScaled(KernelContext ctx, float[] part, FloatArray sx, FloatArray bias, FloatArray y, float sx0, float bias0, float resid0,
                             int tid, int m, int n, int mode, int slices) {
        for (int o = tid; o < 256; o += ctx.localSizeX()) {
            int row = o >> 4, col = (ctx.groupIdx() << 4) + (o & 15);
            if (row < m && col < n) {
                float s = part[o];
                for (int i = 1; i < slices; i++) s += part[(i << 8) + o];
                if (o == tid) SkinnyGemmKernel.finish(y, row * n + col, sx0 * s + bias0, resid0, mode);
                else SkinnyGemmKernel.finish(y, row * n + col, sx.get(row) * s + bias.get(col), mode);
            }
        }
    }

    /**
     * W16A16: FP16 weights {@code w} (K/2 ints a row, {@code HalfRows}' layout); the rows rounded to FP16 {@code a} (K/2
     * ints a row, {@link DecoderRowKernels#NATURAL}); FP32 sums; {@code mode} as {@link #int8}.
     */
    @Kernel(maxRegisters = 64)
    public static void fp16(KernelContext ctx, IntArray a, IntArray w, FloatArray bias, FloatArray y, int m, int n, int k, int mode) {
        int tid = ctx.localIdx(), lane = tid & 31, g = lane >> 2, t = lane & 3, slice = tid >> 5, slices = ctx.localSizeX() >> 5;
        int kw = k >> 1, pieces = k >> 5, per = Math.min(PIECES, (pieces + slices - 1) / slices), batches = (pieces + per - 1) / per;
        int f0 = (ctx.groupIdx() << 4) + g, f1 = f0 + 8;
        int[] q = new int[4], r0 = new int[8], r1 = new int[8], r2 = new int[8], r3 = new int[8];
        if (slice < batches) loadBatch(ctx, q, r0, r1, r2, r3, w, f0, f1, n, kw, slice * per, Math.min(pieces, slice * per + per));
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();
        int col0 = (ctx.groupIdx() << 4) + (tid & 15);   // as int8's: the first output's bias and residual now
        boolean live0 = tid < (m << 4) && col0 < n;
        float bias0 = live0 ? bias.get(col0) : 0f, resid0 = live0 && mode == SkinnyGemmKernel.ADD ? y.get((tid >> 4) * n + col0) : 0f;
        int[] x = new int[8];
        float[] fa = new float[4], fb = new float[4];
        boolean two = m > 8;
        for (int bb = slice; bb < batches; bb += slices) {
            int p = bb * per, end = Math.min(pieces, p + per);   // the batch's pieces
            if (bb != slice) loadBatch(ctx, q, r0, r1, r2, r3, w, f0, f1, n, kw, p, end);
            piece16(ctx, q, x, fa, fb, a, r0, kw, p, g, t, m, two);
            if (p + 1 < end) piece16(ctx, q, x, fa, fb, a, r1, kw, p + 1, g, t, m, two);
            if (p + 2 < end) piece16(ctx, q, x, fa, fb, a, r2, kw, p + 2, g, t, m, two);
            if (p + 3 < end) piece16(ctx, q, x, fa, fb, a, r3, kw, p + 3, g, t, m, two);
        }
        float[] part = ctx.allocateFloatShared(MAX_SLICES * 256);
        share(part, fa, fb, slice, g, t);
        ctx.barrier();
        for (int o = tid; o < 256; o += ctx.localSizeX()) {
            int row = o >> 4, col = (ctx.groupIdx() << 4) + (o & 15);
            if (row < m && col < n) {
                float s = part[o];
                for (int i = 1; i < slices; i++) s += part[(i << 8) + o];
                if (o == tid) SkinnyGemmKernel.finish(y, row * n + col, s + bias0, resid0, mode);
                else SkinnyGemmKernel.finish(y, row * n + col, s + bias.get(col), mode);
            }
        }
    }

    /**
     * W4A8: INT4 codes {@code w} in {@link Int4Words}' order (K/8 ints a row) with group scales {@code sw[N, K/groupSize]}
     * (groups of multiples of 32); the rows' codes in {@link DecoderRowKernels#PIECE4_ORDER} ({@link DecoderRowKernels#quantizeRowsWide}
     * stages them so), their scales, {@code mode} and {@code prefetch} as {@link #int8}. A word of
     * {@link Int4Words} holds exactly lane {@code 4g + t}'s A registers of one 32-code chunk (its low nibbles K
     * {@code 4t …}, its high nibbles {@code 16 + 4t …}), so here the order of K is the rows' own and the loads are a word
     * each (the quad's four read a chunk's 16 bytes together): a lane's 16 bytes of four chunks would span four groups in
     * one {@code mma} at groups of 32, two at groups of 64. A piece is 128 inputs (four chunks: 1 KiB of a tile's weights), a batch
     * {@value #PIECES4} pieces, each chunk summed exactly and folded under its group's scales.
     */
    @Kernel(maxRegisters = 64)
    public static void int4(KernelContext ctx, IntArray a, FloatArray sx, IntArray w, FloatArray sw, FloatArray bias, FloatArray y,
                            int m, int n, int k, int groupSize, int mode, int prefetch) {
        int tid = ctx.localIdx(), lane = tid & 31, g = lane >> 2, t = lane & 3, slice = tid >> 5, slices = ctx.localSizeX() >> 5;
        int kw = k >> 2, kw4 = k >> 3, pieces = k >> 7, per = Math.min(PIECES4, (pieces + slices - 1) / slices), batches = (pieces + per - 1) / per;
        int groups = k / groupSize;
        int f0 = (ctx.groupIdx() << 4) + g, f1 = f0 + 8;
        int[] r0 = new int[8], r1 = new int[8];   // registers: word t of a piece's four chunks, rows f0 then f1
        if (slice < batches) loadBatch4(r0, r1, w, f0, f1, n, kw4, t, slice * per, Math.min(pieces, slice * per + per));
        if (prefetch != 0) prefetchScales(ctx, sw, bias, f0, f1, n, slice < batches ? (slice * per << 7) / groupSize : -1, groups);
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();
        int col0 = (ctx.groupIdx() << 4) + (tid & 15);   // as int8's: the first output's operands now
        boolean live0 = tid < (m << 4) && col0 < n;
        float sx0 = live0 ? sx.get(tid >> 4) : 0f, bias0 = live0 ? bias.get(col0) : 0f;
        float resid0 = live0 && mode == SkinnyGemmKernel.ADD ? y.get((tid >> 4) * n + col0) : 0f;
        int[] c = new int[4], c2 = new int[4], x = new int[4], x2 = new int[4];
        float[] fa = new float[4], fb = new float[4];
        boolean two = m > 8;
        for (int bb = slice; bb < batches; bb += slices) {
            int p = bb * per, end = Math.min(pieces, p + per);
            if (bb != slice) loadBatch4(r0, r1, w, f0, f1, n, kw4, t, p, end);
            piece4(ctx, c, c2, x, x2, fa, fb, a, r0, sw, f0, f1, n, groups, groupSize, kw, p, g, t, m, two);
            if (p + 1 < end) piece4(ctx, c, c2, x, x2, fa, fb, a, r1, sw, f0, f1, n, groups, groupSize, kw, p + 1, g, t, m, two);
        }
        float[] part = ctx.allocateFloatShared(MAX_SLICES * 256);
        share(part, fa, fb, slice, g, t);
        ctx.barrier();
        finishScaled(ctx, part, sx, bias, y, sx0, bias0, resid0, tid, m, n, mode, slices);
    }

    /** Word {@code t} of the four chunks of INT4 pieces {@code p}, {@code p + 1} (those before {@code end}): rows f0 in {@code r[0..3]}, f1 in {@code r[4..7]}; zeros past. */
    static void loadBatch4(int[] r0, int[] r1, IntArray w, int f0, int f1, int n, int kw4, int t, int p, int end) {
        loadPiece4(r0, w, f0, f1, n, kw4, t, p, end);
        loadPiece4(r1, w, f0, f1, n, kw4, t, p + 1, end);
    }

    static void loadPiece4(int[] r, IntArray w, int f0, int f1, int n, int kw4, int t, int p, int end) {
        int at = (p << 4) + t;   // chunk 4p's word t; the piece's next chunks 4 words on
        r[0] = 0; r[1] = 0; r[2] = 0; r[3] = 0; r[4] = 0; r[5] = 0; r[6] = 0; r[7] = 0;
        if (p < end) {
            if (f0 < n) { int i = f0 * kw4 + at; r[0] = w.get(i); r[1] = w.get(i + 4); r[2] = w.get(i + 8); r[3] = w.get(i + 12); }
            if (f1 < n) { int i = f1 * kw4 + at; r[4] = w.get(i); r[5] = w.get(i + 4); r[6] = w.get(i + 8); r[7] = w.get(i + 12); }
        }
    }

    /**
     * INT4 piece {@code p} (words {@code r}): its four chunks, each an {@code mma} for rows 0–7 (and 8–15) folded under its
     * group's scales. The rows' codes are in {@link DecoderRowKernels#PIECE4_ORDER}: a lane's B registers for two chunks
     * are one 16-byte load a row.
     */
    static void piece4(KernelContext ctx, int[] c, int[] c2, int[] x, int[] x2, float[] fa, float[] fb, IntArray a, int[] r, FloatArray sw, int f0,
                       int f1, int n, int groups, int groupSize, int kw, int p, int g, int t, int m, boolean two) {
        int ch = p << 2, at = (p << 5) + (t << 3);
        loadRows4(ctx, x, x2, a, kw, at, g, m, two);
        chunk4(ctx, c, c2, fa, fb, r[0], r[4], x[0], x[1], x2[0], x2[1], sw, f0, f1, n, groups, groupSize, ch, two);
        chunk4(ctx, c, c2, fa, fb, r[1], r[5], x[2], x[3], x2[2], x2[3], sw, f0, f1, n, groups, groupSize, ch + 1, two);
        loadRows4(ctx, x, x2, a, kw, at + 4, g, m, two);
        chunk4(ctx, c, c2, fa, fb, r[2], r[6], x[0], x[1], x2[0], x2[1], sw, f0, f1, n, groups, groupSize, ch + 2, two);
        chunk4(ctx, c, c2, fa, fb, r[3], r[7], x[2], x[3], x2[2], x2[3], sw, f0, f1, n, groups, groupSize, ch + 3, two);
    }

    /** Words {@code at … at + 3} of rows {@code g} (into {@code x}) and {@code g + 8} ({@code x2}, with {@code two}); zeros past {@code m}. */
    static void loadRows4(KernelContext ctx, int[] x, int[] x2, IntArray a, int kw, int at, int g, int m, boolean two) {
        if (g < m) ctx.load4(x, a, g * kw + at);
        else { x[0] = 0; x[1] = 0; x[2] = 0; x[3] = 0; }
        if (two) {
            if (g + 8 < m) ctx.load4(x2, a, (g + 8) * kw + at);
            else { x2[0] = 0; x2[1] = 0; x2[2] = 0; x2[3] = 0; }
        }
    }

    /**
     * Chunk {@code ch} (32 inputs): the A registers from the nibbles of words {@code u} (row f0) and {@code v} (f1), the
     * rows' codes {@code 32ch + 4t …} and {@code 32ch + 16 + 4t …} as B ({@code x0}, {@code x1}; rows 8–15 {@code y0},
     * {@code y1}), the exact sum folded under the chunk's group's scales.
     */
    static void chunk4(KernelContext ctx, int[] c, int[] c2, float[] fa, float[] fb, int u, int v, int x0, int x1, int y0, int y1, FloatArray sw,
                       int f0, int f1, int n, int groups, int groupSize, int ch, boolean two) {
        int ulo = SkinnyGemmKernel.signedNibbles(u & 0x0F0F0F0F), uhi = SkinnyGemmKernel.signedNibbles((u >>> 4) & 0x0F0F0F0F);
        int vlo = SkinnyGemmKernel.signedNibbles(v & 0x0F0F0F0F), vhi = SkinnyGemmKernel.signedNibbles((v >>> 4) & 0x0F0F0F0F);
        int group = (ch << 5) / groupSize;
        float s0 = f0 < n ? sw.get(f0 * groups + group) : 0f, s1 = f1 < n ? sw.get(f1 * groups + group) : 0f;
        c[0] = 0; c[1] = 0; c[2] = 0; c[3] = 0;
        ctx.mmaS8(c, ulo, vlo, uhi, vhi, x0, x1);
        fold(fa, c, s0, s1);
        if (two) {
            c2[0] = 0; c2[1] = 0; c2[2] = 0; c2[3] = 0;
            ctx.mmaS8(c2, ulo, vlo, uhi, vhi, y0, y1);
            fold(fb, c2, s0, s1);
        }
    }

    /** The scales of features {@code f0} ({@code sc[2i]}) and {@code f1} ({@code sc[2i + 1]}) in the groups of pieces {@code p + i} (zeros from {@code end}). */
    static void loadScales(float[] sc, FloatArray sw, int f0, int f1, int n, int p, int end, int groups, int groupSize) {
        sc[0] = 0f; sc[1] = 0f; sc[2] = 0f; sc[3] = 0f; sc[4] = 0f; sc[5] = 0f; sc[6] = 0f; sc[7] = 0f;
        int s0 = f0 * groups, s1 = f1 * groups;
        if (f0 < n) {
            sc[0] = sw.get(s0 + (p << 6) / groupSize);
            if (p + 1 < end) sc[2] = sw.get(s0 + ((p + 1) << 6) / groupSize);
            if (p + 2 < end) sc[4] = sw.get(s0 + ((p + 2) << 6) / groupSize);
            if (p + 3 < end) sc[6] = sw.get(s0 + ((p + 3) << 6) / groupSize);
        }
        if (f1 < n) {
            sc[1] = sw.get(s1 + (p << 6) / groupSize);
            if (p + 1 < end) sc[3] = sw.get(s1 + ((p + 1) << 6) / groupSize);
            if (p + 2 < end) sc[5] = sw.get(s1 + ((p + 2) << 6) / groupSize);
            if (p + 3 < end) sc[7] = sw.get(s1 + ((p + 3) << 6) / groupSize);
        }
    }

    /**
     * The lane's weights of pieces {@code p … p + 3} (those before {@code end}): row {@code f0}'s 16 bytes at
     * {@code 16t} of each in {@code r[0..3]}, row {@code f1}'s in {@code r[4..7]} (zeros past the rows).
     */
    static void loadBatch(KernelContext ctx, int[] q, int[] r0, int[] r1, int[] r2, int[] r3, IntArray w, int f0, int f1, int n, int kw, int p,
                          int end) {
        loadPiece(ctx, q, r0, w, f0, f1, n, kw, p, end);
        loadPiece(ctx, q, r1, w, f0, f1, n, kw, p + 1, end);
        loadPiece(ctx, q, r2, w, f0, f1, n, kw, p + 2, end);
        loadPiece(ctx, q, r3, w, f0, f1, n, kw, p + 3, end);
    }

    /** Piece {@code p}'s 16 bytes at {@code 16t} of rows {@code f0} ({@code r[0..3]}) and {@code f1} ({@code r[4..7]}); zeros past the rows and from piece {@code end}. */
    static void loadPiece(KernelContext ctx, int[] q, int[] r, IntArray w, int f0, int f1, int n, int kw, int p, int end) {
        int at = (p << 4) + ((ctx.localIdx() & 3) << 2);
        r[0] = 0; r[1] = 0; r[2] = 0; r[3] = 0; r[4] = 0; r[5] = 0; r[6] = 0; r[7] = 0;   // constant indices: registers
        if (p < end) {
            if (f0 < n) { ctx.load4(q, w, f0 * kw + at); r[0] = q[0]; r[1] = q[1]; r[2] = q[2]; r[3] = q[3]; }
            if (f1 < n) { ctx.load4(q, w, f1 * kw + at); r[4] = q[0]; r[5] = q[1]; r[6] = q[2]; r[7] = q[3]; }
        }
    }

    /**
     * Asks L1 for the lines of the scales of features {@code f0} (lane {@code t} = 0) and {@code f1} ({@code t} = 1) from
     * group {@code group} on (none where negative), and for the block's bias (thread 0): weights, which no earlier kernel
     * writes, so before the wait. Read after it, they otherwise cost a trip to memory on the products' path (the folds
     * need them) and the epilogue's. On the H200: GPT-2 decode W8A8 1–2% faster at batch 8 and 16, W4/8A8 4%, GPT-3 1.3B
     * within ±0.5% (bench/RESULTS.md, session 39). Asking L1 for the batch's later activation rows after the wait too was
     * slower (1.3B W8A8 batch 16 57.7 → 62–64 ms, same place).
     */
    static void prefetchScales(KernelContext ctx, FloatArray sw, FloatArray bias, int f0, int f1, int n, int group, int groups) {
        int t = ctx.localIdx() & 3;
        if (group >= 0 && t == 0 && f0 < n) ctx.prefetchL1(sw, f0 * groups + group);
        if (group >= 0 && t == 1 && f1 < n) ctx.prefetchL1(sw, f1 * groups + group);
        if (ctx.localIdx() == 0) ctx.prefetchL1(bias, ctx.groupIdx() << 4);
    }

    /**
     * The activation rows' 16 bytes of piece {@code p} at {@code 16t}: row {@code g} into {@code x[0..3]}, row {@code g + 8}
     * into {@code x[4..7]} when {@code two} (zeros past {@code m}).
     */
    static void loadRows(KernelContext ctx, int[] q, int[] x, IntArray a, int kw, int p, int g, int t, int m, boolean two) {
        int at = (p << 4) + (t << 2);
        x[0] = 0; x[1] = 0; x[2] = 0; x[3] = 0; x[4] = 0; x[5] = 0; x[6] = 0; x[7] = 0;
        if (g < m) { ctx.load4(q, a, g * kw + at); x[0] = q[0]; x[1] = q[1]; x[2] = q[2]; x[3] = q[3]; }
        if (two && g + 8 < m) { ctx.load4(q, a, (g + 8) * kw + at); x[4] = q[0]; x[5] = q[1]; x[6] = q[2]; x[7] = q[3]; }
    }

    /**
     * INT8 piece {@code p} (weights {@code r}): its two {@code mma} steps for rows 0–7 (and 8–15 when {@code two}) summed
     * exactly, then folded under the scales {@code s0}, {@code s1} of features {@code f0}, {@code f1} into {@code fa}, {@code fb}.
     */
    static void piece8(KernelContext ctx, int[] q, int[] x, int[] c, int[] c2, float[] fa, float[] fb, IntArray a, int[] r, float s0, float s1,
                       int kw, int p, int g, int t, int m, boolean two) {
        loadRows(ctx, q, x, a, kw, p, g, t, m, two);
        c[0] = 0; c[1] = 0; c[2] = 0; c[3] = 0;
        ctx.mmaS8(c, r[0], r[4], r[1], r[5], x[0], x[1]);
        ctx.mmaS8(c, r[2], r[6], r[3], r[7], x[2], x[3]);
        fold(fa, c, s0, s1);
        if (two) {
            c2[0] = 0; c2[1] = 0; c2[2] = 0; c2[3] = 0;
            ctx.mmaS8(c2, r[0], r[4], r[1], r[5], x[4], x[5]);
            ctx.mmaS8(c2, r[2], r[6], r[3], r[7], x[6], x[7]);
            fold(fb, c2, s0, s1);
        }
    }

    /** An exact sum {@code c} of rows 2t, 2t + 1 (features f0, then f1) into {@code f} under the features' scales {@code s0}, {@code s1}. */
    static void fold(float[] f, int[] c, float s0, float s1) {
        f[0] += s0 * c[0];
        f[1] += s0 * c[1];
        f[2] += s1 * c[2];
        f[3] += s1 * c[3];
    }

    /** FP16 piece {@code p} (weights {@code r}): its two {@code mma} steps into {@code fa} (rows 0–7) and {@code fb} (8–15 when {@code two}). */
    static void piece16(KernelContext ctx, int[] q, int[] x, float[] fa, float[] fb, IntArray a, int[] r, int kw, int p, int g, int t, int m,
                        boolean two) {
        loadRows(ctx, q, x, a, kw, p, g, t, m, two);
        ctx.mmaF16(fa, r[0], r[4], r[1], r[5], x[0], x[1]);
        ctx.mmaF16(fa, r[2], r[6], r[3], r[7], x[2], x[3]);
        if (two) {
            ctx.mmaF16(fb, r[0], r[4], r[1], r[5], x[4], x[5]);
            ctx.mmaF16(fb, r[2], r[6], r[3], r[7], x[6], x[7]);
        }
    }

    /**
     * The warp's sums into its slice of {@code part} (256 floats: row·16 + feature): {@code fa[0], fa[1]} are feature
     * {@code g} at rows {@code 2t}, {@code 2t + 1}, {@code fa[2], fa[3]} feature {@code g + 8}; {@code fb} the same 8 rows on.
     */
    static void share(float[] part, float[] fa, float[] fb, int slice, int g, int t) {
        int at = (slice << 8) + (t << 5) + g;   // row 2t, feature g
        part[at] = fa[0];
        part[at + 16] = fa[1];
        part[at + 8] = fa[2];
        part[at + 24] = fa[3];
        part[at + 128] = fb[0];
        part[at + 144] = fb[1];
        part[at + 136] = fb[2];
        part[at + 152] = fb[3];
    }
}
