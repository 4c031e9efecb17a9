package dev.zq.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * F32 matrix products on the CPU, vectorized with the Vector API and split over cores.
 * {@link #matmulTransposed} (rows of both operands contiguous along K) is the workhorse: a 4×4 register
 * tile of dot products, every loaded vector used four times.
 */
public final class MatMul {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Rows of the weight matrix one task streams: 64 rows of K floats stay in L2 while A's rows pass. */
    private static final int N_BLOCK = 64;
    private static final int M_BLOCK = 16;

    private MatMul() {}

    /** out[M,N] = a[M,K]·b[K,N] (+ bias[N] if bias != null). */
    public static void matmul(Tensor a, Tensor b, Tensor bias, Tensor out) {
        check(a, b, bias, out, b.rank() == 2 ? b.dim(0) : -1, b.rank() == 2 ? b.dim(1) : -1, "b[K,N]");
        int m = a.dim(0), k = a.dim(1), n = b.dim(1);
        MemorySegment as = a.segment(), bs = b.segment(), os = out.segment();
        int nBlocks = Math.ceilDiv(n, 256);
        Parallel.forEach(m * nBlocks, 2L * k * Math.min(n, 256), new Tensor[]{a, b, bias, out}, task -> {
            int row = task / nBlocks, n0 = (task % nBlocks) * 256, n1 = Math.min(n, n0 + 256);
            long o = (long) row * n;
            initRow(os, o, n0, n1, bias);
            // out[row, n0:n1] += a[row, kk] * b[kk, n0:n1]: an axpy per k, vectorized along N.
            for (int kk = 0; kk < k; kk++) {
                float av = as.getAtIndex(Tensor.F32, (long) row * k + kk);
                if (av == 0f) continue;
                long brow = (long) kk * n;
                int j = n0;
                for (int bound = n0 + S.loopBound(n1 - n0); j < bound; j += S.length()) {
                    FloatVector acc = FloatVector.fromMemorySegment(S, os, 4 * (o + j), LE);
                    FloatVector bv = FloatVector.fromMemorySegment(S, bs, 4 * (brow + j), LE);
                    bv.fma(FloatVector.broadcast(S, av), acc).intoMemorySegment(os, 4 * (o + j), LE);
                }
                for (; j < n1; j++)
                    os.setAtIndex(Tensor.F32, o + j, Math.fma(av, bs.getAtIndex(Tensor.F32, brow + j), os.getAtIndex(Tensor.F32, o + j)));
            }
        });
    }

    private static void initRow(MemorySegment os, long o, int n0, int n1, Tensor bias) {
        for (int j = n0; j < n1; j++) os.setAtIndex(Tensor.F32, o + j, bias == null ? 0f : bias.segment().getAtIndex(Tensor.F32, j));
    }

    /** out[M,N] = a[M,K]·bT[N,K]ᵀ (+ bias[N]); bT is a PyTorch Linear weight [out,in]. */
    public static void matmulTransposed(Tensor a, Tensor bT, Tensor bias, Tensor out) {
        check(a, bT, bias, out, bT.rank() == 2 ? bT.dim(1) : -1, bT.rank() == 2 ? bT.dim(0) : -1, "bT[N,K]");
        int m = a.dim(0), k = a.dim(1), n = bT.dim(0);
        int mBlocks = Math.ceilDiv(m, M_BLOCK), nBlocks = Math.ceilDiv(n, N_BLOCK);
        MemorySegment as = a.segment(), bs = bT.segment(), os = out.segment();
        MemorySegment biasSeg = bias == null ? null : bias.segment();
        Parallel.forEach(mBlocks * nBlocks, 2L * k * M_BLOCK * N_BLOCK, new Tensor[]{a, bT, bias, out}, task -> {
            int mb = task % mBlocks, nb = task / mBlocks;
            int m0 = mb * M_BLOCK, m1 = Math.min(m, m0 + M_BLOCK), n0 = nb * N_BLOCK, n1 = Math.min(n, n0 + N_BLOCK);
            for (int i = m0; i < m1; i += 4) {
                int mi = Math.min(4, m1 - i);
                for (int j = n0; j < n1; j += 4) {
                    int nj = Math.min(4, n1 - j);
                    if (mi == 4 && nj == 4) tile4x4(as, bs, os, biasSeg, i, j, k, n);
                    else for (int r = 0; r < mi; r++) for (int c = 0; c < nj; c++) single(as, bs, os, biasSeg, i + r, j + c, k, n);
                }
            }
        });
    }

    /** out[i..i+3][j..j+3]: sixteen dot products sharing the loads of four A rows and four B rows. */
    private static void tile4x4(MemorySegment a, MemorySegment b, MemorySegment o, MemorySegment bias, int i, int j, int k, int n) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00,
                c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
        long a0 = 4L * i * k, a1 = a0 + 4L * k, a2 = a1 + 4L * k, a3 = a2 + 4L * k;
        long b0 = 4L * j * k, b1 = b0 + 4L * k, b2 = b1 + 4L * k, b3 = b2 + 4L * k;
        int p = 0;
        for (int bound = S.loopBound(k); p < bound; p += S.length()) {
            long off = 4L * p;
            FloatVector x0 = FloatVector.fromMemorySegment(S, a, a0 + off, LE), x1 = FloatVector.fromMemorySegment(S, a, a1 + off, LE);
            FloatVector x2 = FloatVector.fromMemorySegment(S, a, a2 + off, LE), x3 = FloatVector.fromMemorySegment(S, a, a3 + off, LE);
            FloatVector y = FloatVector.fromMemorySegment(S, b, b0 + off, LE);
            c00 = x0.fma(y, c00); c10 = x1.fma(y, c10); c20 = x2.fma(y, c20); c30 = x3.fma(y, c30);
            y = FloatVector.fromMemorySegment(S, b, b1 + off, LE);
            c01 = x0.fma(y, c01); c11 = x1.fma(y, c11); c21 = x2.fma(y, c21); c31 = x3.fma(y, c31);
            y = FloatVector.fromMemorySegment(S, b, b2 + off, LE);
            c02 = x0.fma(y, c02); c12 = x1.fma(y, c12); c22 = x2.fma(y, c22); c32 = x3.fma(y, c32);
            y = FloatVector.fromMemorySegment(S, b, b3 + off, LE);
            c03 = x0.fma(y, c03); c13 = x1.fma(y, c13); c23 = x2.fma(y, c23); c33 = x3.fma(y, c33);
        }
        float[][] c = {
                {c00.reduceLanes(VectorOperators.ADD), c01.reduceLanes(VectorOperators.ADD), c02.reduceLanes(VectorOperators.ADD), c03.reduceLanes(VectorOperators.ADD)},
                {c10.reduceLanes(VectorOperators.ADD), c11.reduceLanes(VectorOperators.ADD), c12.reduceLanes(VectorOperators.ADD), c13.reduceLanes(VectorOperators.ADD)},
                {c20.reduceLanes(VectorOperators.ADD), c21.reduceLanes(VectorOperators.ADD), c22.reduceLanes(VectorOperators.ADD), c23.reduceLanes(VectorOperators.ADD)},
                {c30.reduceLanes(VectorOperators.ADD), c31.reduceLanes(VectorOperators.ADD), c32.reduceLanes(VectorOperators.ADD), c33.reduceLanes(VectorOperators.ADD)}};
        for (; p < k; p++) {
            for (int r = 0; r < 4; r++) {
                float x = a.getAtIndex(Tensor.F32, (long) (i + r) * k + p);
                for (int s = 0; s < 4; s++) c[r][s] = Math.fma(x, b.getAtIndex(Tensor.F32, (long) (j + s) * k + p), c[r][s]);
            }
        }
        for (int r = 0; r < 4; r++)
            for (int s = 0; s < 4; s++)
                o.setAtIndex(Tensor.F32, (long) (i + r) * n + j + s, c[r][s] + (bias == null ? 0f : bias.getAtIndex(Tensor.F32, j + s)));
    }

    private static void single(MemorySegment a, MemorySegment b, MemorySegment o, MemorySegment bias, int i, int j, int k, int n) {
        o.setAtIndex(Tensor.F32, (long) i * n + j, dot(a, 4L * i * k, b, 4L * j * k, k) + (bias == null ? 0f : bias.getAtIndex(Tensor.F32, j)));
    }

    /** Dot product of {@code k} floats at byte offsets {@code ao} and {@code bo}. */
    static float dot(MemorySegment a, long ao, MemorySegment b, long bo, int k) {
        FloatVector acc = FloatVector.zero(S);
        int p = 0;
        for (int bound = S.loopBound(k); p < bound; p += S.length())
            acc = FloatVector.fromMemorySegment(S, a, ao + 4L * p, LE).fma(FloatVector.fromMemorySegment(S, b, bo + 4L * p, LE), acc);
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; p < k; p++) s = Math.fma(a.get(Tensor.F32, ao + 4L * p), b.get(Tensor.F32, bo + 4L * p), s);
        return s;
    }

    private static void check(Tensor a, Tensor b, Tensor bias, Tensor out, int bk, int bn, String bName) {
        Checks.dtype(a, DType.F32, "a");
        Checks.dtype(b, DType.F32, bName);
        Checks.dtype(out, DType.F32, "out");
        Checks.rank(a, 2, "a");
        Checks.rank(b, 2, bName);
        Checks.rank(out, 2, "out");
        if (a.dim(1) != bk || out.dim(0) != a.dim(0) || out.dim(1) != bn)
            throw new IllegalArgumentException("matmul shapes do not fit: a" + a.shape() + " " + bName + b.shape() + " out" + out.shape());
        if (bias != null && (bias.dtype() != DType.F32 || bias.numel() != bn))
            throw new IllegalArgumentException("bias " + bias + " does not match " + bn + " outputs");
    }
}
