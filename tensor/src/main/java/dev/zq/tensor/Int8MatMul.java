package dev.zq.tensor;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Exact INT8×INT8→INT32 matrix products. Bytes are widened to 16-bit lanes, multiplied there (a product of
 * two int8 values always fits in 16 bits: |−128·−128| = 16384), and each product vector is widened again and
 * added into 32-bit accumulators, so nothing can overflow for K < 2^17.
 */
public final class Int8MatMul {
    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_256;     // 32 bytes
    private static final VectorSpecies<Short> SH = ShortVector.SPECIES_512;  // 32 shorts
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_512;   // 16 ints
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final int N_BLOCK = 64, M_BLOCK = 16;

    private Int8MatMul() {}

    /** out[M,N] (I32) = a[M,K] (I8) · bT[N,K] (I8)ᵀ. */
    public static void matmulTransposed(Tensor a, Tensor bT, Tensor out) {
        Checks.dtype(a, DType.I8, "a");
        Checks.dtype(bT, DType.I8, "bT");
        Checks.dtype(out, DType.I32, "out");
        Checks.rank(a, 2, "a");
        Checks.rank(bT, 2, "bT");
        Checks.rank(out, 2, "out");
        int m = a.dim(0), k = a.dim(1), n = bT.dim(0);
        if (bT.dim(1) != k || out.dim(0) != m || out.dim(1) != n)
            throw new IllegalArgumentException("int8 matmul shapes do not fit: a" + a.shape() + " bT" + bT.shape() + " out" + out.shape());
        if (k >= 1 << 17) throw new IllegalArgumentException("K = " + k + " could overflow INT32 accumulators");
        MemorySegment as = a.segment(), bs = bT.segment(), os = out.segment();
        int mBlocks = Math.ceilDiv(m, M_BLOCK), nBlocks = Math.ceilDiv(n, N_BLOCK);
        Parallel.forEach(mBlocks * nBlocks, 2L * k * M_BLOCK * N_BLOCK, new Tensor[]{a, bT, out}, task -> {
            int mb = task % mBlocks, nb = task / mBlocks;
            int m0 = mb * M_BLOCK, m1 = Math.min(m, m0 + M_BLOCK), n0 = nb * N_BLOCK, n1 = Math.min(n, n0 + N_BLOCK);
            for (int i = m0; i < m1; i += 2) {
                for (int j = n0; j < n1; j += 2) {
                    if (i + 1 < m1 && j + 1 < n1) tile2x2(as, bs, os, i, j, k, n);
                    else
                        for (int r = i; r < Math.min(i + 2, m1); r++)
                            for (int c = j; c < Math.min(j + 2, n1); c++)
                                os.setAtIndex(Tensor.I32, (long) r * n + c, dot(as, (long) r * k, bs, (long) c * k, k));
                }
            }
        });
    }

    private static void tile2x2(MemorySegment a, MemorySegment b, MemorySegment o, int i, int j, int k, int n) {
        IntVector c00 = IntVector.zero(I), c01 = c00, c10 = c00, c11 = c00;
        long a0 = (long) i * k, a1 = a0 + k, b0 = (long) j * k, b1 = b0 + k;
        int p = 0;
        for (int bound = B.loopBound(k); p < bound; p += B.length()) {
            ShortVector x0 = widen(a, a0 + p), x1 = widen(a, a1 + p), y0 = widen(b, b0 + p), y1 = widen(b, b1 + p);
            c00 = accumulate(c00, x0.mul(y0));
            c01 = accumulate(c01, x0.mul(y1));
            c10 = accumulate(c10, x1.mul(y0));
            c11 = accumulate(c11, x1.mul(y1));
        }
        int s00 = c00.reduceLanes(VectorOperators.ADD), s01 = c01.reduceLanes(VectorOperators.ADD),
                s10 = c10.reduceLanes(VectorOperators.ADD), s11 = c11.reduceLanes(VectorOperators.ADD);
        for (; p < k; p++) {
            int x0 = a.get(ValueLayout.JAVA_BYTE, a0 + p), x1 = a.get(ValueLayout.JAVA_BYTE, a1 + p);
            int y0 = b.get(ValueLayout.JAVA_BYTE, b0 + p), y1 = b.get(ValueLayout.JAVA_BYTE, b1 + p);
            s00 += x0 * y0; s01 += x0 * y1; s10 += x1 * y0; s11 += x1 * y1;
        }
        o.setAtIndex(Tensor.I32, (long) i * n + j, s00);
        o.setAtIndex(Tensor.I32, (long) i * n + j + 1, s01);
        o.setAtIndex(Tensor.I32, (long) (i + 1) * n + j, s10);
        o.setAtIndex(Tensor.I32, (long) (i + 1) * n + j + 1, s11);
    }

    private static ShortVector widen(MemorySegment s, long offset) {
        return (ShortVector) ByteVector.fromMemorySegment(B, s, offset, LE).convertShape(VectorOperators.B2S, SH, 0);
    }

    private static IntVector accumulate(IntVector acc, ShortVector products) {
        return acc.add(products.convertShape(VectorOperators.S2I, I, 0)).add(products.convertShape(VectorOperators.S2I, I, 1));
    }

    /** Exact dot product of {@code k} int8 values at element offsets {@code ao} and {@code bo}. */
    static int dot(MemorySegment a, long ao, MemorySegment b, long bo, int k) {
        IntVector acc = IntVector.zero(I);
        int p = 0;
        for (int bound = B.loopBound(k); p < bound; p += B.length())
            acc = accumulate(acc, widen(a, ao + p).mul(widen(b, bo + p)));
        int s = acc.reduceLanes(VectorOperators.ADD);
        for (; p < k; p++) s += a.get(ValueLayout.JAVA_BYTE, ao + p) * b.get(ValueLayout.JAVA_BYTE, bo + p);
        return s;
    }
}
