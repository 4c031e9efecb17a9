package dev.zq.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/** Element-wise F32 arithmetic; every output may alias an input. */
public final class Elementwise {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private Elementwise() {}

    /** out = a + b (same sizes). */
    public static void add(Tensor a, Tensor b, Tensor out) {
        binary(a, b, out, "add", false);
    }

    /** out = a · b (same sizes). */
    public static void mul(Tensor a, Tensor b, Tensor out) {
        binary(a, b, out, "mul", true);
    }

    /** out[..., j] = x[..., j] + row[j]. */
    public static void addRowVector(Tensor x, Tensor row, Tensor out) {
        int n = Checks.rowLength(x, "x");
        Checks.dtype(x, DType.F32, "x");
        Checks.dtype(row, DType.F32, "row");
        Checks.dtype(out, DType.F32, "out");
        Checks.sameNumel(x, out, "addRowVector");
        if (row.numel() != n) throw new IllegalArgumentException("row " + row + " does not match rows of " + x);
        long rows = x.numel() / Math.max(1, n);
        for (long r = 0; r < rows; r++)
            for (int j = 0; j < n; j++)
                out.segment().setAtIndex(Tensor.F32, r * n + j, x.segment().getAtIndex(Tensor.F32, r * n + j) + row.segment().getAtIndex(Tensor.F32, j));
    }

    /** out = s · x. */
    public static void scale(Tensor x, float s, Tensor out) {
        check(x, out, "scale");
        MemorySegment xs = x.segment(), os = out.segment();
        long n = x.numel(), i = 0;
        for (long bound = S.loopBound(n); i < bound; i += S.length())
            FloatVector.fromMemorySegment(S, xs, 4 * i, LE).mul(s).intoMemorySegment(os, 4 * i, LE);
        for (; i < n; i++) os.setAtIndex(Tensor.F32, i, xs.getAtIndex(Tensor.F32, i) * s);
    }

    /** out = x · sigmoid(x) (SiLU / swish, LLaMA's MLP). */
    public static void silu(Tensor x, Tensor out) {
        check(x, out, "silu");
        MemorySegment xs = x.segment(), os = out.segment();
        long n = x.numel(), i = 0;
        for (long bound = S.loopBound(n); i < bound; i += S.length()) {
            FloatVector v = FloatVector.fromMemorySegment(S, xs, 4 * i, LE);
            v.div(v.neg().lanewise(VectorOperators.EXP).add(1f)).intoMemorySegment(os, 4 * i, LE);
        }
        for (; i < n; i++) {
            float v = xs.getAtIndex(Tensor.F32, i);
            os.setAtIndex(Tensor.F32, i, (float) (v / (1 + Math.exp(-v))));
        }
    }

    private static void binary(Tensor a, Tensor b, Tensor out, String op, boolean multiply) {
        check(a, out, op);
        Checks.dtype(b, DType.F32, "b");
        if (!a.shape().equals(b.shape()) && a.numel() != b.numel())
            throw new IllegalArgumentException(op + ": shapes " + a.shape() + " and " + b.shape() + " differ");
        MemorySegment as = a.segment(), bs = b.segment(), os = out.segment();
        long n = a.numel(), i = 0;
        for (long bound = S.loopBound(n); i < bound; i += S.length()) {
            FloatVector x = FloatVector.fromMemorySegment(S, as, 4 * i, LE), y = FloatVector.fromMemorySegment(S, bs, 4 * i, LE);
            (multiply ? x.mul(y) : x.add(y)).intoMemorySegment(os, 4 * i, LE);
        }
        for (; i < n; i++) {
            float x = as.getAtIndex(Tensor.F32, i), y = bs.getAtIndex(Tensor.F32, i);
            os.setAtIndex(Tensor.F32, i, multiply ? x * y : x + y);
        }
    }

    private static void check(Tensor x, Tensor out, String op) {
        Checks.dtype(x, DType.F32, "x");
        Checks.dtype(out, DType.F32, "out");
        Checks.sameNumel(x, out, op);
    }
}
