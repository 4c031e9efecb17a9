package dev.zq.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/** Numerically stable softmax over the last dimension (the row maximum is subtracted before exp). */
public final class Softmax {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private Softmax() {}

    /** {@code out} may be {@code x}. */
    public static void rows(Tensor x, Tensor out) {
        int n = Checks.rowLength(x, "x");
        Checks.dtype(x, DType.F32, "x");
        Checks.dtype(out, DType.F32, "out");
        Checks.sameNumel(x, out, "softmax");
        int rows = (int) (x.numel() / Math.max(1, n));
        MemorySegment xs = x.segment(), os = out.segment();
        Parallel.forEach(rows, 20L * n, new Tensor[]{x, out}, r -> row(xs, os, 4L * r * n, n));
    }

    /** Softmax of the {@code n} floats at byte offset {@code base} of {@code in}, written at the same offset of {@code out}. */
    static void row(MemorySegment in, MemorySegment out, long base, int n) {
        float max = Float.NEGATIVE_INFINITY;
        int i = 0;
        FloatVector mv = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (int bound = S.loopBound(n); i < bound; i += S.length())
            mv = mv.max(FloatVector.fromMemorySegment(S, in, base + 4L * i, LE));
        max = mv.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) max = Math.max(max, in.get(Tensor.F32, base + 4L * i));
        FloatVector sum = FloatVector.zero(S);
        i = 0;
        for (int bound = S.loopBound(n); i < bound; i += S.length()) {
            FloatVector e = FloatVector.fromMemorySegment(S, in, base + 4L * i, LE).sub(max).lanewise(VectorOperators.EXP);
            e.intoMemorySegment(out, base + 4L * i, LE);
            sum = sum.add(e);
        }
        float total = sum.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float e = (float) Math.exp(in.get(Tensor.F32, base + 4L * i) - max);
            out.set(Tensor.F32, base + 4L * i, e);
            total += e;
        }
        float inv = 1f / total;
        i = 0;
        for (int bound = S.loopBound(n); i < bound; i += S.length())
            FloatVector.fromMemorySegment(S, out, base + 4L * i, LE).mul(inv).intoMemorySegment(out, base + 4L * i, LE);
        for (; i < n; i++) out.set(Tensor.F32, base + 4L * i, out.get(Tensor.F32, base + 4L * i) * inv);
    }
}
