package dev.zq.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * A weight matrix {@code W[N, K]} rearranged for {@code out = A · Wᵀ}: panels of {@link #PANEL} output
 * columns, each stored K-major ({@code panel[k][j] = W[p·PANEL + j][k]}, zero-padded past N). The product
 * then becomes outer products — broadcast one A value, multiply a whole vector of W — with no horizontal
 * reductions: a 4-row × 2-panel register tile issues 8 FMAs per 2 loads and 4 broadcasts.
 */
public final class PackedMatrix {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    public static final int PANEL = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private final MemorySegment data;
    private final int n, k, panels;

    private PackedMatrix(MemorySegment data, int n, int k, int panels) {
        this.data = data;
        this.n = n;
        this.k = k;
        this.panels = panels;
    }

    /** Packs {@code bT} (F32 {@code [N, K]}) into memory from {@code arena}. */
    public static PackedMatrix pack(Arena arena, Tensor bT) {
        Checks.dtype(bT, DType.F32, "bT");
        Checks.rank(bT, 2, "bT");
        int n = bT.dim(0), k = bT.dim(1), panels = Math.ceilDiv(n, PANEL);
        MemorySegment d = arena.allocate(4L * panels * k * PANEL, 64);
        MemorySegment src = bT.segment();
        for (int p = 0; p < panels; p++)
            for (int j = 0; j < PANEL && p * PANEL + j < n; j++) {
                long row = (long) (p * PANEL + j) * k;
                for (int kk = 0; kk < k; kk++)
                    d.setAtIndex(Tensor.F32, ((long) p * k + kk) * PANEL + j, src.getAtIndex(Tensor.F32, row + kk));
            }
        return new PackedMatrix(d, n, k, panels);
    }

    public int rows() { return n; }
    public int cols() { return k; }
    public long byteSize() { return data.byteSize(); }

    /** out[M,N] = a[M,K] · Wᵀ (+ bias[N]). */
    public void multiply(Tensor a, Tensor bias, Tensor out) {
        Checks.dtype(a, DType.F32, "a");
        Checks.dtype(out, DType.F32, "out");
        if (a.rank() != 2 || a.dim(1) != k || out.rank() != 2 || out.dim(0) != a.dim(0) || out.dim(1) != n)
            throw new IllegalArgumentException("packed matmul shapes do not fit: a" + a.shape() + " W[" + n + ", " + k + "] out" + out.shape());
        if (bias != null && (bias.dtype() != DType.F32 || bias.numel() != n))
            throw new IllegalArgumentException("bias " + bias + " does not match " + n + " outputs");
        int m = a.dim(0);
        int mBlocks = Math.ceilDiv(m, 4), pairs = Math.ceilDiv(panels, 2);
        MemorySegment as = a.segment(), os = out.segment(), bs = bias == null ? null : bias.segment();
        // Tasks walk panel pairs in the outer loop so a pair (2·PANEL·K floats) stays in cache across row blocks.
        int rowsPerTask = Math.max(4, Math.min(64, 4 * Math.ceilDiv(mBlocks, 8)));
        int rowTasks = Math.ceilDiv(m, rowsPerTask);
        Parallel.forEach(pairs * rowTasks, 2L * k * rowsPerTask * 2 * PANEL, new Tensor[]{a, out, bias}, task -> {
            int pair = task / rowTasks, r0 = (task % rowTasks) * rowsPerTask, r1 = Math.min(m, r0 + rowsPerTask);
            for (int i = r0; i < r1; i += 4) tile(as, os, bs, i, Math.min(4, r1 - i), 2 * pair, m);
        });
    }

    /** Rows {@code i..i+rows-1} × panels {@code p, p+1}: the register tile when full, scalar code at the edges. */
    private void tile(MemorySegment a, MemorySegment o, MemorySegment bias, int i, int rows, int p, int m) {
        if (rows == 4 && p + 1 < panels) full(a, o, bias, i, p);
        else edge(a, o, bias, i, rows, p);
    }

    /** The hot loop: no branches, so C2 keeps all eight accumulators in vector registers. */
    private void full(MemorySegment a, MemorySegment o, MemorySegment bias, int i, int p) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        long a0 = 4L * i * k, a1 = a0 + 4L * k, a2 = a1 + 4L * k, a3 = a2 + 4L * k;
        long b0 = 4L * p * k * PANEL, b1 = b0 + 4L * k * PANEL;
        for (int kk = 0; kk < k; kk++) {
            FloatVector w0 = FloatVector.fromMemorySegment(S, data, b0 + 4L * kk * PANEL, LE);
            FloatVector w1 = FloatVector.fromMemorySegment(S, data, b1 + 4L * kk * PANEL, LE);
            FloatVector x0 = FloatVector.broadcast(S, a.get(Tensor.F32, a0 + 4L * kk));
            FloatVector x1 = FloatVector.broadcast(S, a.get(Tensor.F32, a1 + 4L * kk));
            FloatVector x2 = FloatVector.broadcast(S, a.get(Tensor.F32, a2 + 4L * kk));
            FloatVector x3 = FloatVector.broadcast(S, a.get(Tensor.F32, a3 + 4L * kk));
            c00 = x0.fma(w0, c00); c01 = x0.fma(w1, c01);
            c10 = x1.fma(w0, c10); c11 = x1.fma(w1, c11);
            c20 = x2.fma(w0, c20); c21 = x2.fma(w1, c21);
            c30 = x3.fma(w0, c30); c31 = x3.fma(w1, c31);
        }
        // Through an array, not as arguments: a vector passed to a call C2 does not inline is boxed (Int8PackedMatrix).
        float[] c = new float[8 * PANEL];
        c00.intoArray(c, 0); c01.intoArray(c, PANEL);
        c10.intoArray(c, 2 * PANEL); c11.intoArray(c, 3 * PANEL);
        c20.intoArray(c, 4 * PANEL); c21.intoArray(c, 5 * PANEL);
        c30.intoArray(c, 6 * PANEL); c31.intoArray(c, 7 * PANEL);
        for (int r = 0; r < 4; r++) {
            store(o, bias, i + r, p, c, 2 * r * PANEL);
            store(o, bias, i + r, p + 1, c, (2 * r + 1) * PANEL);
        }
    }

    /** Row {@code row}, panel {@code p} of the output (plus bias) from {@code c[off..off+PANEL)}. */
    private void store(MemorySegment o, MemorySegment bias, int row, int p, float[] c, int off) {
        FloatVector v = FloatVector.fromArray(S, c, off);
        int col = p * PANEL;
        if (col + PANEL <= n) {
            if (bias != null) v = v.add(FloatVector.fromMemorySegment(S, bias, 4L * col, LE));
            v.intoMemorySegment(o, 4L * ((long) row * n + col), LE);
        } else {
            VectorMask<Float> valid = S.indexInRange(col, n);
            if (bias != null) v = v.add(FloatVector.fromMemorySegment(S, bias, 4L * col, LE, valid));
            v.intoMemorySegment(o, 4L * ((long) row * n + col), LE, valid);
        }
    }

    /** Fewer than 4 rows or a last single panel: one row × one panel at a time, still one vector per 16 columns. */
    private void edge(MemorySegment a, MemorySegment o, MemorySegment bias, int i, int rows, int p) {
        float[] sums = new float[PANEL];
        for (int r = i; r < i + rows; r++)
            for (int q = p; q < Math.min(p + 2, panels); q++) {
                FloatVector c = FloatVector.zero(S);
                long a0 = 4L * r * k, b0 = 4L * q * k * PANEL;
                for (int kk = 0; kk < k; kk++)
                    c = FloatVector.broadcast(S, a.get(Tensor.F32, a0 + 4L * kk)).fma(FloatVector.fromMemorySegment(S, data, b0 + 4L * kk * PANEL, LE), c);
                c.intoArray(sums, 0);
                store(o, bias, r, q, sums, 0);
            }
    }
}
