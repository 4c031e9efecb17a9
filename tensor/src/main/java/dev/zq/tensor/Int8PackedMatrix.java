package dev.zq.tensor;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Group-wise INT8 weights packed for ZeroQuant's fused W8A8 product on the CPU,
 * {@code y[m][n] = Σ_g (S_x[m]·S_w[n][g]) · Σ_{k∈g} x̄[m][k]·w̄[n][k] + b[n]}.
 * <p>Layout as {@link PackedMatrix}, but one byte per weight: panels of {@code PANEL} output columns, K-major
 * ({@code [panel][k][column]}), so one load brings a weight for {@code PANEL} columns; the group scales are
 * packed the same way ({@code [panel][group][column]}). The Vector API has no INT8 dot-product instruction, so
 * the integer sums run on FP32 FMAs: activation codes are converted to float once per call, and tiles of outer products
 * (rows × 2 panels) accumulate. With AVX-512 (32 vector registers) an 8-row tile converts each weight vector in registers
 * as it goes, at any row count. With AVX2 (16), where that tile spills, a task of 16 rows or more first converts a chunk of
 * the panel pair's weights into a small float buffer (L1) and runs 4-row tiles over it, so a weight is converted once per
 * task rather than once per tile (measured faster on an AVX2 Zen 3; on an AVX-512 Zen EPYC the same buffered tiles, at 4
 * or 8 rows, measured 1.1–4× slower than the 8-row register tile, so they are not used there). That is exact: a product of two codes in
 * [-127, 127] is at most 16,129 in magnitude and a lane sums at most 1,024 of them before it is moved into an
 * int, so every partial sum is an integer below 2^24, where floats are exact. The dequantization then applies the
 * same float operations as the INT32 reference ({@code y += (S_x·S_w)·sum}, groups in order, bias last), so
 * results equal it bit for bit; and the weights stream as bytes, a quarter of FP32's memory traffic. Weight-only
 * quantization ({@link #multiplyFloats}) runs the same tiles on FP32 activations, with float sums.
 */
public final class Int8PackedMatrix {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> IS = VectorSpecies.of(int.class, S.vectorShape());
    private static final VectorSpecies<Byte> BS = VectorSpecies.of(byte.class, VectorShape.forBitSize(S.length() * 8));
    public static final int PANEL = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final int EXACT_CHUNK = 1024;
    /**
     * Rows of the tile: 8 rows × 2 panels is 16 accumulators, which fit AVX-512's 32 vector registers but not AVX2's 16; at 4
     * the kernel takes the buffered (converted) route from 16 rows. (6 rows, 12 accumulators, measured no faster than 4 on an
     * AVX2 Zen 3 in this kernel, and was dropped.) {@code -Dzq.int8.tileRows=4|8} overrides it (a measuring switch).
     */
    private static final int TILE = Integer.getInteger("zq.int8.tileRows", S.vectorBitSize() >= 512 ? 8 : 4);
    /** Inputs whose weights {@link #converted} turns into floats at a time: 2 panels × 128 floats, 8–16 KB, stays in L1. Divides EXACT_CHUNK. */
    private static final int KC = 128;

    private final MemorySegment codes, scales;
    private final int n, k, groupSize, groups, panels;

    private Int8PackedMatrix(MemorySegment codes, MemorySegment scales, int n, int k, int groupSize, int panels) {
        this.codes = codes;
        this.scales = scales;
        this.n = n;
        this.k = k;
        this.groupSize = groupSize;
        this.groups = k / groupSize;
        this.panels = panels;
    }

    /** Packs codes I8 [N, K] with scales F32 [N, K/groupSize] into memory from {@code arena}. */
    public static Int8PackedMatrix pack(Arena arena, Tensor codes, Tensor scales, int groupSize) {
        Checks.dtype(codes, DType.I8, "codes");
        Checks.dtype(scales, DType.F32, "scales");
        Checks.rank(codes, 2, "codes");
        int n = codes.dim(0), k = codes.dim(1);
        if (groupSize <= 0 || k % groupSize != 0) throw new IllegalArgumentException("group size " + groupSize + " does not divide K = " + k);
        int groups = k / groupSize, panels = Math.ceilDiv(n, PANEL);
        if (scales.numel() != (long) n * groups) throw new IllegalArgumentException("scales " + scales.shape() + " for " + n + " x " + groups + " groups");
        MemorySegment c = arena.allocate((long) panels * k * PANEL, 64), s = arena.allocate(4L * panels * groups * PANEL, 64);
        for (int p = 0; p < panels; p++)
            for (int j = 0; j < PANEL && p * PANEL + j < n; j++) {
                int col = p * PANEL + j;
                for (int kk = 0; kk < k; kk++) c.set(java.lang.foreign.ValueLayout.JAVA_BYTE, ((long) p * k + kk) * PANEL + j, codes.getByte((long) col * k + kk));
                for (int g = 0; g < groups; g++) s.setAtIndex(Tensor.F32, ((long) p * groups + g) * PANEL + j, scales.getFloat((long) col * groups + g));
            }
        return new Int8PackedMatrix(c, s, n, k, groupSize, panels);
    }

    public int rows() { return n; }
    public int cols() { return k; }
    public long byteSize() { return codes.byteSize() + scales.byteSize(); }

    /** out F32 [M, N] = the fused product of activation codes x I8 [M, K] (scales sx F32 [M]) with these weights, plus bias. */
    public void multiply(Tensor x, Tensor sx, Tensor bias, Tensor out) {
        multiply(x, sx, bias, out, TILE);
    }

    /** {@link #multiply} as a machine of {@code tile} (4 or 8) tile rows runs it: tests run both routes on any machine. */
    void multiply(Tensor x, Tensor sx, Tensor bias, Tensor out, int tile) {
        if (tile != 4 && tile != 8) throw new IllegalArgumentException("tile rows " + tile);
        Checks.dtype(x, DType.I8, "x");
        Checks.dtype(sx, DType.F32, "sx");
        check(x, sx.numel(), bias, out);
        try (Scratch scratch = Scratch.open()) {
            Tensor xf = scratch.tensor(DType.F32, x.dim(0), k);      // activation codes as floats, once, a row a task
            Parallel.forEach(x.dim(0), 2L * k, new Tensor[]{x, xf}, r -> {
                long i = (long) r * k, end = i + k;
                for (long bound = i + BS.loopBound(k); i < bound; i += PANEL)
                    ByteVector.fromMemorySegment(BS, x.segment(), i, LE).convertShape(VectorOperators.B2F, S, 0).intoMemorySegment(xf.segment(), 4 * i, LE);
                for (; i < end; i++) xf.setFloat(i, x.getByte(i));
            });
            product(scratch, xf, sx, true, bias, out, tile);
        }
    }

    /**
     * Weight-only quantization (W8A16, W4A16): out F32 [M, N] = x F32 [M, K] times these weights, plus bias, as
     * {@code Σ_g S_w[n][g] · Σ_{k∈g} x[m][k]·w̄[n][k]} — the same tiles with every row scale 1 and float sums (not exact
     * integers here, so no int stage), instead of dequantizing the whole matrix every call.
     */
    public void multiplyFloats(Tensor x, Tensor bias, Tensor out) {
        multiplyFloats(x, bias, out, TILE);
    }

    /** {@link #multiplyFloats} as a machine of {@code tile} (4 or 8) tile rows runs it. */
    void multiplyFloats(Tensor x, Tensor bias, Tensor out, int tile) {
        if (tile != 4 && tile != 8) throw new IllegalArgumentException("tile rows " + tile);
        Checks.dtype(x, DType.F32, "x");
        check(x, x.rank() == 2 ? x.dim(0) : -1, bias, out);
        try (Scratch scratch = Scratch.open()) {
            Tensor ones = scratch.tensor(DType.F32, x.dim(0));
            for (int r = 0; r < x.dim(0); r++) ones.setFloat(r, 1f);
            product(scratch, x, ones, false, bias, out, tile);
        }
    }

    private void check(Tensor x, long scales, Tensor bias, Tensor out) {
        Checks.dtype(out, DType.F32, "out");
        if (x.rank() != 2 || x.dim(1) != k || scales != x.dim(0) || out.rank() != 2 || out.dim(0) != x.dim(0) || out.dim(1) != n)
            throw new IllegalArgumentException("shapes do not fit: x" + x.shape() + " W[" + n + ", " + k + "] " + scales + " row scales, out" + out.shape());
        if (bias != null && (bias.dtype() != DType.F32 || bias.numel() != n)) throw new IllegalArgumentException("bias " + bias + " for " + n + " outputs");
    }

    /**
     * The tiles over activations xf F32 [M, K] with row scales sx. {@code integral}: xf holds integer codes, and the sums
     * must be exact (chunks of at most {@link #EXACT_CHUNK}, added up as ints); otherwise float sums over whole groups.
     */
    private void product(Scratch scratch, Tensor xf, Tensor sx, boolean integral, Tensor bias, Tensor out, int tile) {
        int m = xf.dim(0);
        boolean direct = n == panels * PANEL;
        // Results in whole panels: [M][panels·PANEL] floats (out itself when N is a multiple of PANEL).
        Tensor y = direct ? out : scratch.tensor(DType.F32, m, panels * PANEL);
        boolean shortGroups = groupSize <= EXACT_CHUNK || !integral;   // float sums over a whole group
        // A task walks rows r0..r1 down one panel pair (below 16 rows: one task a pair, all rows). With 4-row tiles (AVX2)
        // and 16 rows or more it converts the pair's weight bytes to floats once per chunk of inputs and runs every row
        // tile over them (converted): the conversion then costs once per task instead of once per tile.
        int panelPairs = Math.ceilDiv(panels, 2);
        int rowsPerTask = m < 16 ? Math.max(1, m) : Parallel.rowsPerTask(m, panelPairs);
        int rowBlocks = Math.ceilDiv(m, rowsPerTask);
        // Below 16 rows (a decode step's batch) the 8-row tile's activations are transposed once for every task: [K][M]
        // floats, so that its 8 broadcasts an input read 8 neighbours of one array instead of 8 segment rows K apart.
        // Only with 4-row tiles (AVX2); with the 8-row tiles of AVX-512 see TRANSPOSED_ROWS.
        MemorySegment xt = shortGroups && TRANSPOSED_ROWS && m >= 8 && tile == 4 && m < 16 ? transposed(xf, scratch.tensor(DType.F32, k, m)) : null;
        Parallel.forEach(rowBlocks * panelPairs, 2L * Math.min(m, rowsPerTask) * k * 2 * PANEL, new Tensor[]{xf, sx, y, bias, out}, task -> {
            int rb = task % rowBlocks, pp = task / rowBlocks;
            int r0 = rb * rowsPerTask, r1 = Math.min(m, r0 + rowsPerTask), p0 = pp * 2;
            MemorySegment xs = xf.segment(), ys = y.segment();
            // Each task zeroes, and at the end finishes (bias, and the copy out when N is not whole panels), its own rows ×
            // panels: on many cores these passes over the output would otherwise be serial work as long as the product.
            long stride = 4L * panels * PANEL, c0 = 4L * p0 * PANEL, width = 4L * PANEL * Math.min(2, panels - p0);
            for (int r = r0; r < r1; r++) ys.asSlice(r * stride + c0, width).fill((byte) 0);
            if (p0 + 2 <= panels) {
                int r = r0;
                // Below 16 rows the 8-row register tile does better even on AVX2, where it spills (measured).
                if (tile == 4 && r1 - r0 >= 16) r += converted(xs, sx, ys, r0, r1, p0, integral);
                if (shortGroups) {
                    if (xt != null) for (; r + 8 <= r1; r += 8) tile8x2t(xt, m, sx, ys, r, p0);
                    for (; r + 8 <= r1; r += 8) tile8x2(xs, sx, ys, r, p0);
                    for (; r + 4 <= r1; r += 4) tile4x2f(xs, sx, ys, r, p0);
                } else {
                    for (; r + 4 <= r1; r += 4) tile4x2(xs, sx, ys, r, p0);
                }
                for (; r < r1; r++) { tile1x1(xs, sx, ys, r, p0, integral); tile1x1(xs, sx, ys, r, p0 + 1, integral); }
            } else {
                for (int r = r0; r < r1; r++)
                    for (int p = p0; p < Math.min(panels, p0 + 2); p++) tile1x1(xs, sx, ys, r, p, integral);
            }
            finish(y, bias, out, r0, r1, p0 * PANEL, Math.min(n, (p0 + 2) * PANEL));
        });
    }

    /**
     * Rows {@code r0..r1}, columns {@code c0..c1} of the result: the bias added (out F32 [M, N] is y itself when N is a
     * multiple of PANEL), or copied from y (stride panels·PANEL) with the bias.
     */
    private void finish(Tensor y, Tensor bias, Tensor out, int r0, int r1, int c0, int c1) {
        if (y == out) {
            if (bias == null) return;
            for (int r = r0; r < r1; r++)
                for (int c = c0; c < c1; c += PANEL) {
                    long o = 4L * ((long) r * n + c);
                    FloatVector.fromMemorySegment(S, out.segment(), o, LE).add(FloatVector.fromMemorySegment(S, bias.segment(), 4L * c, LE))
                            .intoMemorySegment(out.segment(), o, LE);
                }
        } else {
            int stride = panels * PANEL;
            for (int r = r0; r < r1; r++)
                for (int c = c0; c < c1; c++)
                    out.setFloat((long) r * n + c, y.getFloat((long) r * stride + c) + (bias == null ? 0f : bias.getFloat(c)));
        }
    }

    private FloatVector w(int panel, int kk) {
        return (FloatVector) ByteVector.fromMemorySegment(BS, codes, ((long) panel * k + kk) * PANEL, LE).convertShape(VectorOperators.B2F, S, 0);
    }

    private FloatVector scale(int panel, int g) {
        return FloatVector.fromMemorySegment(S, scales, 4L * ((long) panel * groups + g) * PANEL, LE);
    }

    /**
     * {@code y[r][p·PANEL..] += (S_x[r]·S_w[p][g]) · sum} for {@code rows} rows × panels {@code p0, p0 + 1}, the
     * reference's operation order, with the tile's sums parked in {@code sums} ({@code [row][panel][PANEL]}).
     * The tiles park their accumulators instead of scaling them in place because C2 stops inlining in a method
     * that large (NodeCountInliningCutoff): a non-inlined call taking vectors boxes every one of them, which made
     * the 8-row tile 3× slower than FP32. A call that takes only an array and ints costs nothing of the kind.
     */
    private void dequantize(MemorySegment y, float[] sums, int off, Tensor sx, int r0, int rows, int p0, int g) {
        long stride = 4L * panels * PANEL, y0 = r0 * stride + 4L * p0 * PANEL;
        FloatVector sw0 = scale(p0, g), sw1 = scale(p0 + 1, g);
        for (int r = 0; r < rows; r++) {
            float sxr = sx.getFloat(r0 + r);
            long o = y0 + r * stride;
            FloatVector.fromMemorySegment(S, y, o, LE).add(sw0.mul(sxr).mul(FloatVector.fromArray(S, sums, off + 2 * r * PANEL)))
                    .intoMemorySegment(y, o, LE);
            FloatVector.fromMemorySegment(S, y, o + 4L * PANEL, LE).add(sw1.mul(sxr).mul(FloatVector.fromArray(S, sums, off + (2 * r + 1) * PANEL)))
                    .intoMemorySegment(y, o + 4L * PANEL, LE);
        }
    }

    /**
     * Rows {@code r0..r1} × panels {@code p0, p0 + 1}, the weight bytes converted to floats once per chunk of inputs into
     * {@code wb} and every row tile run over them; returns how many rows it did. Groups of at most {@link #KC} inputs: chunks
     * of whole groups, each tile dequantizing a group as it ends; all the rows. Longer groups: whole tiles of 4 rows
     * (the caller does the rest), chunks of {@code KC} inputs, the tiles' sums
     * parked in {@code acc} between chunks, which keeps each lane's additions in the same order as one pass over the group,
     * so the results are the register tiles' to the bit; integer codes in groups longer than {@link #EXACT_CHUNK} move their
     * float sums into ints every {@code EXACT_CHUNK} inputs, where they are still exact.
     */
    private int converted(MemorySegment xs, Tensor sx, MemorySegment y, int r0, int r1, int p0, boolean integral) {
        float[] wb = new float[KC * 2 * PANEL];   // a chunk is at most KC inputs (whole groups of ≤ KC, or KC of a longer one)
        if (groupSize <= KC) {
            // Whole groups per chunk: each tile sums a group in registers and dequantizes it straight into y. Tiles of
            // 4 rows, then single rows: every row of the task.
            int step = groupSize * (KC / groupSize);
            for (int c0 = 0; c0 < k; c0 += step) {
                int c1 = Math.min(k, c0 + step);
                convert(wb, p0, c0, c1);
                int r = r0;
                for (; r + 4 <= r1; r += 4) groups4x2(xs, wb, sx, y, r, p0, c0, c1);
                for (; r < r1; r++) groups1x2(xs, wb, sx, y, r, p0, c0, c1);
            }
            return r1 - r0;
        }
        int tiles = (r1 - r0) / 4;
        int len = 8 * PANEL;
        float[] acc = new float[tiles * len];
        int[] exact = integral && groupSize > EXACT_CHUNK ? new int[acc.length] : null;
        float[] sums = exact == null ? acc : new float[acc.length];
        for (int g = 0; g < groups; g++) {
            int g0 = g * groupSize, g1 = g0 + groupSize;
            Arrays.fill(acc, 0f);
            if (exact != null) Arrays.fill(exact, 0);
            for (int c0 = g0; c0 < g1; c0 += KC) {
                int c1 = Math.min(g1, c0 + KC);
                convert(wb, p0, c0, c1);
                for (int t = 0; t < tiles; t++) run4x2(xs, wb, acc, t * len, r0 + 4 * t, c0, c1);
                if (exact != null && ((c1 - g0) % EXACT_CHUNK == 0 || c1 == g1)) {
                    for (int i = 0; i < acc.length; i += PANEL)
                        IntVector.fromArray(IS, exact, i).add(FloatVector.fromArray(S, acc, i).convert(VectorOperators.F2I, 0)).intoArray(exact, i);
                    Arrays.fill(acc, 0f);
                }
            }
            if (exact != null)
                for (int i = 0; i < acc.length; i += PANEL) asFloat(IntVector.fromArray(IS, exact, i)).intoArray(sums, i);
            for (int t = 0; t < tiles; t++) dequantize(y, sums, t * len, sx, r0 + 4 * t, 4, p0, g);
        }
        return tiles * 4;
    }

    /** wb = the weights of panels p0, p0 + 1 for inputs c0..c1 as floats, {@code [input][panel][PANEL]}. */
    private void convert(float[] wb, int p0, int c0, int c1) {
        for (int kk = c0; kk < c1; kk++) {
            w(p0, kk).intoArray(wb, (kk - c0) * 2 * PANEL);
            w(p0 + 1, kk).intoArray(wb, (kk - c0) * 2 * PANEL + PANEL);
        }
    }

    /**
     * Rows {@code r..r+3} × panels {@code p0, p0 + 1} over the whole groups in inputs {@code c0..c1} (converted weights in wb):
     * each group summed in registers, then {@code y += (S_x·S_w)·sum} as {@link #dequantize} does, so the same bits.
     */
    private void groups4x2(MemorySegment xs, float[] wb, Tensor sx, MemorySegment y, int r, int p0, int c0, int c1) {
        long x0 = 4L * r * k, x1 = x0 + 4L * k, x2 = x1 + 4L * k, x3 = x2 + 4L * k;
        long stride = 4L * panels * PANEL, y0 = r * stride + 4L * p0 * PANEL, nextPanel = 4L * groups * PANEL;
        float s0 = sx.getFloat(r), s1 = sx.getFloat(r + 1), s2 = sx.getFloat(r + 2), s3 = sx.getFloat(r + 3);
        for (int g0 = c0; g0 < c1; g0 += groupSize) {
            FloatVector a00 = FloatVector.zero(S), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            for (int kk = g0, end = g0 + groupSize; kk < end; kk++) {
                int wo = (kk - c0) * 2 * PANEL;
                FloatVector w0 = FloatVector.fromArray(S, wb, wo), w1 = FloatVector.fromArray(S, wb, wo + PANEL);
                long o = 4L * kk;
                FloatVector b = FloatVector.broadcast(S, xs.get(Tensor.F32, x0 + o));
                a00 = b.fma(w0, a00); a01 = b.fma(w1, a01);
                b = FloatVector.broadcast(S, xs.get(Tensor.F32, x1 + o));
                a10 = b.fma(w0, a10); a11 = b.fma(w1, a11);
                b = FloatVector.broadcast(S, xs.get(Tensor.F32, x2 + o));
                a20 = b.fma(w0, a20); a21 = b.fma(w1, a21);
                b = FloatVector.broadcast(S, xs.get(Tensor.F32, x3 + o));
                a30 = b.fma(w0, a30); a31 = b.fma(w1, a31);
            }
            long so = 4L * ((long) p0 * groups + g0 / groupSize) * PANEL;
            FloatVector sw0 = FloatVector.fromMemorySegment(S, scales, so, LE), sw1 = FloatVector.fromMemorySegment(S, scales, so + nextPanel, LE);
            long o = y0, o1 = y0 + 4L * PANEL;
            FloatVector.fromMemorySegment(S, y, o, LE).add(sw0.mul(s0).mul(a00)).intoMemorySegment(y, o, LE);
            FloatVector.fromMemorySegment(S, y, o1, LE).add(sw1.mul(s0).mul(a01)).intoMemorySegment(y, o1, LE);
            o += stride; o1 += stride;
            FloatVector.fromMemorySegment(S, y, o, LE).add(sw0.mul(s1).mul(a10)).intoMemorySegment(y, o, LE);
            FloatVector.fromMemorySegment(S, y, o1, LE).add(sw1.mul(s1).mul(a11)).intoMemorySegment(y, o1, LE);
            o += stride; o1 += stride;
            FloatVector.fromMemorySegment(S, y, o, LE).add(sw0.mul(s2).mul(a20)).intoMemorySegment(y, o, LE);
            FloatVector.fromMemorySegment(S, y, o1, LE).add(sw1.mul(s2).mul(a21)).intoMemorySegment(y, o1, LE);
            o += stride; o1 += stride;
            FloatVector.fromMemorySegment(S, y, o, LE).add(sw0.mul(s3).mul(a30)).intoMemorySegment(y, o, LE);
            FloatVector.fromMemorySegment(S, y, o1, LE).add(sw1.mul(s3).mul(a31)).intoMemorySegment(y, o1, LE);
        }
    }

    /** {@link #groups4x2} for one row: the rows a task has left over after its larger tiles. */
    private void groups1x2(MemorySegment xs, float[] wb, Tensor sx, MemorySegment y, int r, int p0, int c0, int c1) {
        long x0 = 4L * r * k;
        long stride = 4L * panels * PANEL, y0 = r * stride + 4L * p0 * PANEL, nextPanel = 4L * groups * PANEL;
        for (int g0 = c0; g0 < c1; g0 += groupSize) {
            FloatVector a00 = FloatVector.zero(S), a01 = a00;
            for (int kk = g0, end = g0 + groupSize; kk < end; kk++) {
                int wo = (kk - c0) * 2 * PANEL;
                FloatVector w0 = FloatVector.fromArray(S, wb, wo), w1 = FloatVector.fromArray(S, wb, wo + PANEL);
                long o = x0 + 4L * kk;
                FloatVector b = FloatVector.broadcast(S, xs.get(Tensor.F32, o));
                a00 = b.fma(w0, a00); a01 = b.fma(w1, a01);
            }
            long so = 4L * ((long) p0 * groups + g0 / groupSize) * PANEL;
            FloatVector sw0 = FloatVector.fromMemorySegment(S, scales, so, LE), sw1 = FloatVector.fromMemorySegment(S, scales, so + nextPanel, LE);
            long o = y0, o1 = y0 + 4L * PANEL;
            float s = sx.getFloat(r);
            FloatVector.fromMemorySegment(S, y, o, LE).add(sw0.mul(s).mul(a00)).intoMemorySegment(y, o, LE);
            FloatVector.fromMemorySegment(S, y, o1, LE).add(sw1.mul(s).mul(a01)).intoMemorySegment(y, o1, LE);
        }
    }

    /** {@code acc[off..]} (4 rows × 2 panels) += rows {@code r..r+3} of x times the converted weights of inputs {@code c0..c1}. */
    private void run4x2(MemorySegment xs, float[] wb, float[] acc, int off, int r, int c0, int c1) {
        long x0 = 4L * r * k, x1 = x0 + 4L * k, x2 = x1 + 4L * k, x3 = x2 + 4L * k;
        FloatVector a00 = FloatVector.fromArray(S, acc, off), a01 = FloatVector.fromArray(S, acc, off + PANEL);
        FloatVector a10 = FloatVector.fromArray(S, acc, off + 2 * PANEL), a11 = FloatVector.fromArray(S, acc, off + 3 * PANEL);
        FloatVector a20 = FloatVector.fromArray(S, acc, off + 4 * PANEL), a21 = FloatVector.fromArray(S, acc, off + 5 * PANEL);
        FloatVector a30 = FloatVector.fromArray(S, acc, off + 6 * PANEL), a31 = FloatVector.fromArray(S, acc, off + 7 * PANEL);
        for (int kk = c0; kk < c1; kk++) {
            int wo = (kk - c0) * 2 * PANEL;
            FloatVector w0 = FloatVector.fromArray(S, wb, wo), w1 = FloatVector.fromArray(S, wb, wo + PANEL);
            long o = 4L * kk;
            FloatVector b = FloatVector.broadcast(S, xs.get(Tensor.F32, x0 + o));
            a00 = b.fma(w0, a00); a01 = b.fma(w1, a01);
            b = FloatVector.broadcast(S, xs.get(Tensor.F32, x1 + o));
            a10 = b.fma(w0, a10); a11 = b.fma(w1, a11);
            b = FloatVector.broadcast(S, xs.get(Tensor.F32, x2 + o));
            a20 = b.fma(w0, a20); a21 = b.fma(w1, a21);
            b = FloatVector.broadcast(S, xs.get(Tensor.F32, x3 + o));
            a30 = b.fma(w0, a30); a31 = b.fma(w1, a31);
        }
        a00.intoArray(acc, off); a01.intoArray(acc, off + PANEL);
        a10.intoArray(acc, off + 2 * PANEL); a11.intoArray(acc, off + 3 * PANEL);
        a20.intoArray(acc, off + 4 * PANEL); a21.intoArray(acc, off + 5 * PANEL);
        a30.intoArray(acc, off + 6 * PANEL); a31.intoArray(acc, off + 7 * PANEL);
    }

    /**
     * 8 rows × 2 panels, one float sum per group: exact for integer codes in groups of at most 1,024 inputs, so no int
     * stage; for weight-only (float activations) at any group size.
     */
    private void tile8x2(MemorySegment xs, Tensor sx, MemorySegment y, int r0, int p0) {
        long xr = 4L * k, x0 = 4L * r0 * k;
        float[] sums = new float[16 * PANEL];
        for (int g = 0; g < groups; g++) {
            FloatVector a00 = FloatVector.zero(S), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            FloatVector a40 = a00, a41 = a00, a50 = a00, a51 = a00, a60 = a00, a61 = a00, a70 = a00, a71 = a00;
            for (int kk = g * groupSize, end = kk + groupSize; kk < end; kk++) {
                FloatVector w0 = w(p0, kk), w1 = w(p0 + 1, kk);
                long o = x0 + 4L * kk;
                FloatVector b = FloatVector.broadcast(S, xs.get(Tensor.F32, o));
                a00 = b.fma(w0, a00); a01 = b.fma(w1, a01);
                b = FloatVector.broadcast(S, xs.get(Tensor.F32, o + xr));
                a10 = b.fma(w0, a10); a11 = b.fma(w1, a11);
                b = FloatVector.broadcast(S, xs.get(Tensor.F32, o + 2 * xr));
                a20 = b.fma(w0, a20); a21 = b.fma(w1, a21);
                b = FloatVector.broadcast(S, xs.get(Tensor.F32, o + 3 * xr));
                a30 = b.fma(w0, a30); a31 = b.fma(w1, a31);
                b = FloatVector.broadcast(S, xs.get(Tensor.F32, o + 4 * xr));
                a40 = b.fma(w0, a40); a41 = b.fma(w1, a41);
                b = FloatVector.broadcast(S, xs.get(Tensor.F32, o + 5 * xr));
                a50 = b.fma(w0, a50); a51 = b.fma(w1, a51);
                b = FloatVector.broadcast(S, xs.get(Tensor.F32, o + 6 * xr));
                a60 = b.fma(w0, a60); a61 = b.fma(w1, a61);
                b = FloatVector.broadcast(S, xs.get(Tensor.F32, o + 7 * xr));
                a70 = b.fma(w0, a70); a71 = b.fma(w1, a71);
            }
            a00.intoArray(sums, 0); a01.intoArray(sums, PANEL);
            a10.intoArray(sums, 2 * PANEL); a11.intoArray(sums, 3 * PANEL);
            a20.intoArray(sums, 4 * PANEL); a21.intoArray(sums, 5 * PANEL);
            a30.intoArray(sums, 6 * PANEL); a31.intoArray(sums, 7 * PANEL);
            a40.intoArray(sums, 8 * PANEL); a41.intoArray(sums, 9 * PANEL);
            a50.intoArray(sums, 10 * PANEL); a51.intoArray(sums, 11 * PANEL);
            a60.intoArray(sums, 12 * PANEL); a61.intoArray(sums, 13 * PANEL);
            a70.intoArray(sums, 14 * PANEL); a71.intoArray(sums, 15 * PANEL);
            dequantize(y, sums, 0, sx, r0, 8, p0, g);
        }
    }

    /**
     * Whether the 8-row tile reads transposed activations below 16 rows ({@link #tile8x2t}); {@code
     * -Dzq.int8.transposedRows=false} keeps it on the rows as they are ({@link #tile8x2}), for A/B runs. On the AVX2 Zen 3
     * VM, GPT-2 decode at batch 8, W8A8 (groups of 64), four alternating JMH runs each: 85.6, 76.0, 69.7, 71.9 → 74.2,
     * 61.9, 63.0, 62.7 ms (bench/RESULTS.md, CPU decoder, seventh round). Not taken with 8-row tiles (AVX-512): the
     * decode JVMs that used it there ran 4–10× slow in most runs (eighth round), because the tile handed its 16
     * accumulators to a helper that C2 had not inlined, which boxes each of them (ninth round; the tiles now store them
     * to an array themselves, VectorArgumentsTest), and with that fixed it was no faster there (ninth round).
     */
    static final boolean TRANSPOSED_ROWS = !"false".equals(System.getProperty("zq.int8.transposedRows"));

    /** x F32 [M, K] as a [K][M] array. */
    private static MemorySegment transposed(Tensor x, Tensor into) {
        int m = x.dim(0), k = x.dim(1);
        MemorySegment xs = x.segment(), t = into.segment();
        for (int r = 0; r < m; r++)
            for (int kk = 0; kk < k; kk++) t.setAtIndex(Tensor.F32, (long) kk * m + r, xs.getAtIndex(Tensor.F32, (long) r * k + kk));
        return t;
    }

    /**
     * {@link #tile8x2} over the transposed activations {@code xt} ([K][M]). A copy of its body rather than one method taking
     * the activations' strides: the runtime stride made the rows-as-they-are path 4–10% slower (bench/RESULTS.md, CPU
     * decoder, tenth round).
     */
    private void tile8x2t(MemorySegment xt, int m, Tensor sx, MemorySegment y, int r0, int p0) {
        float[] sums = new float[16 * PANEL];
        for (int g = 0; g < groups; g++) {
            FloatVector a00 = FloatVector.zero(S), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            FloatVector a40 = a00, a41 = a00, a50 = a00, a51 = a00, a60 = a00, a61 = a00, a70 = a00, a71 = a00;
            for (int kk = g * groupSize, end = kk + groupSize; kk < end; kk++) {
                FloatVector w0 = w(p0, kk), w1 = w(p0 + 1, kk);
                long o = 4L * (kk * m + r0);
                FloatVector b = FloatVector.broadcast(S, xt.get(Tensor.F32, o));
                a00 = b.fma(w0, a00); a01 = b.fma(w1, a01);
                b = FloatVector.broadcast(S, xt.get(Tensor.F32, o + 4));
                a10 = b.fma(w0, a10); a11 = b.fma(w1, a11);
                b = FloatVector.broadcast(S, xt.get(Tensor.F32, o + 8));
                a20 = b.fma(w0, a20); a21 = b.fma(w1, a21);
                b = FloatVector.broadcast(S, xt.get(Tensor.F32, o + 12));
                a30 = b.fma(w0, a30); a31 = b.fma(w1, a31);
                b = FloatVector.broadcast(S, xt.get(Tensor.F32, o + 16));
                a40 = b.fma(w0, a40); a41 = b.fma(w1, a41);
                b = FloatVector.broadcast(S, xt.get(Tensor.F32, o + 20));
                a50 = b.fma(w0, a50); a51 = b.fma(w1, a51);
                b = FloatVector.broadcast(S, xt.get(Tensor.F32, o + 24));
                a60 = b.fma(w0, a60); a61 = b.fma(w1, a61);
                b = FloatVector.broadcast(S, xt.get(Tensor.F32, o + 28));
                a70 = b.fma(w0, a70); a71 = b.fma(w1, a71);
            }
            a00.intoArray(sums, 0); a01.intoArray(sums, PANEL);
            a10.intoArray(sums, 2 * PANEL); a11.intoArray(sums, 3 * PANEL);
            a20.intoArray(sums, 4 * PANEL); a21.intoArray(sums, 5 * PANEL);
            a30.intoArray(sums, 6 * PANEL); a31.intoArray(sums, 7 * PANEL);
            a40.intoArray(sums, 8 * PANEL); a41.intoArray(sums, 9 * PANEL);
            a50.intoArray(sums, 10 * PANEL); a51.intoArray(sums, 11 * PANEL);
            a60.intoArray(sums, 12 * PANEL); a61.intoArray(sums, 13 * PANEL);
            a70.intoArray(sums, 14 * PANEL); a71.intoArray(sums, 15 * PANEL);
            dequantize(y, sums, 0, sx, r0, 8, p0, g);
        }
    }

    /** 4 rows × 2 panels, one float sum per group, as {@link #tile8x2}. */
    private void tile4x2f(MemorySegment xs, Tensor sx, MemorySegment y, int r0, int p0) {
        long xr = 4L * k, x0 = 4L * r0 * k;
        float[] sums = new float[8 * PANEL];
        for (int g = 0; g < groups; g++) {
            FloatVector a00 = FloatVector.zero(S), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            for (int kk = g * groupSize, end = kk + groupSize; kk < end; kk++) {
                FloatVector w0 = w(p0, kk), w1 = w(p0 + 1, kk);
                long o = x0 + 4L * kk;
                FloatVector b = FloatVector.broadcast(S, xs.get(Tensor.F32, o));
                a00 = b.fma(w0, a00); a01 = b.fma(w1, a01);
                b = FloatVector.broadcast(S, xs.get(Tensor.F32, o + xr));
                a10 = b.fma(w0, a10); a11 = b.fma(w1, a11);
                b = FloatVector.broadcast(S, xs.get(Tensor.F32, o + 2 * xr));
                a20 = b.fma(w0, a20); a21 = b.fma(w1, a21);
                b = FloatVector.broadcast(S, xs.get(Tensor.F32, o + 3 * xr));
                a30 = b.fma(w0, a30); a31 = b.fma(w1, a31);
            }
            a00.intoArray(sums, 0); a01.intoArray(sums, PANEL);
            a10.intoArray(sums, 2 * PANEL); a11.intoArray(sums, 3 * PANEL);
            a20.intoArray(sums, 4 * PANEL); a21.intoArray(sums, 5 * PANEL);
            a30.intoArray(sums, 6 * PANEL); a31.intoArray(sums, 7 * PANEL);
            dequantize(y, sums, 0, sx, r0, 4, p0, g);
        }
    }

    /** 4 rows × 2 panels for longer groups: float sums over chunks of 1,024 inputs, added up as ints. */
    private void tile4x2(MemorySegment xs, Tensor sx, MemorySegment y, int r0, int p0) {
        long x0 = 4L * r0 * k, x1 = x0 + 4L * k, x2 = x1 + 4L * k, x3 = x2 + 4L * k;
        float[] sums = new float[8 * PANEL];
        for (int g = 0; g < groups; g++) {
            IntVector i00 = IntVector.zero(IS), i01 = i00, i10 = i00, i11 = i00, i20 = i00, i21 = i00, i30 = i00, i31 = i00;
            for (int c0 = g * groupSize, end = c0 + groupSize; c0 < end; c0 += EXACT_CHUNK) {
                FloatVector a00 = FloatVector.zero(S), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
                for (int kk = c0, stop = Math.min(end, c0 + EXACT_CHUNK); kk < stop; kk++) {
                    FloatVector w0 = w(p0, kk), w1 = w(p0 + 1, kk);
                    long o = 4L * kk;
                    FloatVector b = FloatVector.broadcast(S, xs.get(Tensor.F32, x0 + o));
                    a00 = b.fma(w0, a00); a01 = b.fma(w1, a01);
                    b = FloatVector.broadcast(S, xs.get(Tensor.F32, x1 + o));
                    a10 = b.fma(w0, a10); a11 = b.fma(w1, a11);
                    b = FloatVector.broadcast(S, xs.get(Tensor.F32, x2 + o));
                    a20 = b.fma(w0, a20); a21 = b.fma(w1, a21);
                    b = FloatVector.broadcast(S, xs.get(Tensor.F32, x3 + o));
                    a30 = b.fma(w0, a30); a31 = b.fma(w1, a31);
                }
                i00 = i00.add(a00.convert(VectorOperators.F2I, 0)); i01 = i01.add(a01.convert(VectorOperators.F2I, 0));
                i10 = i10.add(a10.convert(VectorOperators.F2I, 0)); i11 = i11.add(a11.convert(VectorOperators.F2I, 0));
                i20 = i20.add(a20.convert(VectorOperators.F2I, 0)); i21 = i21.add(a21.convert(VectorOperators.F2I, 0));
                i30 = i30.add(a30.convert(VectorOperators.F2I, 0)); i31 = i31.add(a31.convert(VectorOperators.F2I, 0));
            }
            asFloat(i00).intoArray(sums, 0); asFloat(i01).intoArray(sums, PANEL);
            asFloat(i10).intoArray(sums, 2 * PANEL); asFloat(i11).intoArray(sums, 3 * PANEL);
            asFloat(i20).intoArray(sums, 4 * PANEL); asFloat(i21).intoArray(sums, 5 * PANEL);
            asFloat(i30).intoArray(sums, 6 * PANEL); asFloat(i31).intoArray(sums, 7 * PANEL);
            dequantize(y, sums, 0, sx, r0, 4, p0, g);
        }
    }

    /** One row × one panel; {@code integral}: exact sums (chunks added up as ints), else one float sum per group. */
    private void tile1x1(MemorySegment xs, Tensor sx, MemorySegment y, int r, int p, boolean integral) {
        long x0 = 4L * r * k, y0 = 4L * ((long) r * panels * PANEL + (long) p * PANEL);
        float s = sx.getFloat(r);
        int chunk = integral ? EXACT_CHUNK : groupSize;
        for (int g = 0; g < groups; g++) {
            IntVector acc = IntVector.zero(IS);
            FloatVector sum = FloatVector.zero(S);
            for (int c0 = g * groupSize, end = c0 + groupSize; c0 < end; c0 += chunk) {
                FloatVector a = FloatVector.zero(S);
                for (int kk = c0, stop = Math.min(end, c0 + chunk); kk < stop; kk++)
                    a = FloatVector.broadcast(S, xs.get(Tensor.F32, x0 + 4L * kk)).fma(w(p, kk), a);
                if (integral) acc = acc.add(a.convert(VectorOperators.F2I, 0));
                else sum = a;
            }
            if (integral) sum = asFloat(acc);
            FloatVector.fromMemorySegment(S, y, y0, LE).add(scale(p, g).mul(s).mul(sum)).intoMemorySegment(y, y0, LE);
        }
    }

    private static FloatVector asFloat(IntVector v) { return (FloatVector) v.convert(VectorOperators.I2F, 0); }
}
