package dev.zq.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * GeLU in its two forms: exact {@code x·Φ(x) = 0.5·x·(1 + erf(x/√2))} (PyTorch's default, BERT) and the
 * tanh approximation {@code 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))} (GPT-2's "gelu_new").
 */
public final class Gelu {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final float INV_SQRT2 = (float) (1 / Math.sqrt(2));
    private static final float SQRT_2_OVER_PI = (float) Math.sqrt(2 / Math.PI);

    private Gelu() {}

    /** Exact (erf) GeLU; {@code out} may be {@code x}. */
    public static void erf(Tensor x, Tensor out) {
        map(x, out, false);
    }

    /** tanh-approximated GeLU; {@code out} may be {@code x}. */
    public static void tanh(Tensor x, Tensor out) {
        map(x, out, true);
    }

    private static void map(Tensor x, Tensor out, boolean tanhForm) {
        Checks.dtype(x, DType.F32, "x");
        Checks.dtype(out, DType.F32, "out");
        Checks.sameNumel(x, out, "GeLU");
        long n = x.numel();
        MemorySegment xs = x.segment(), os = out.segment();
        int chunk = 4096;
        int chunks = (int) Math.ceilDiv(n, chunk);
        Parallel.forEach(chunks, 40L * chunk, new Tensor[]{x, out}, c -> {
            long from = (long) c * chunk, to = Math.min(n, from + chunk);
            long i = from;
            for (long bound = from + S.loopBound((int) (to - from)); i < bound; i += S.length()) {
                FloatVector v = FloatVector.fromMemorySegment(S, xs, 4 * i, LE);
                FloatVector inner;
                if (tanhForm) inner = v.mul(v).mul(v).mul(0.044715f).add(v).mul(SQRT_2_OVER_PI).lanewise(VectorOperators.TANH);
                else {
                    // erf(v/√2) as erf() below, written out here: a vector passed to a call C2 does not inline is boxed
                    FloatVector u = v.mul(INV_SQRT2), ax = u.abs();
                    FloatVector t = FloatVector.broadcast(S, 1f).div(ax.mul(P).add(1f));
                    FloatVector poly = t.mul(A5).add(A4).mul(t).add(A3).mul(t).add(A2).mul(t).add(A1).mul(t);
                    FloatVector y = poly.mul(ax.mul(ax).neg().lanewise(VectorOperators.EXP)).neg().add(1f).abs();
                    inner = y.reinterpretAsInts().or(u.reinterpretAsInts().and(0x80000000)).reinterpretAsFloats();   // erf is odd: u's sign
                }
                v.mul(0.5f).mul(inner.add(1f)).intoMemorySegment(os, 4 * i, LE);
            }
            for (; i < to; i++) {
                float v = xs.getAtIndex(Tensor.F32, i);
                float inner = tanhForm ? (float) Math.tanh(SQRT_2_OVER_PI * (v + 0.044715f * v * v * v)) : erf(v * INV_SQRT2);
                os.setAtIndex(Tensor.F32, i, 0.5f * v * (1f + inner));
            }
        });
    }

    // erf by Abramowitz & Stegun 7.1.26 refined: erf(|x|) = 1 − t·P(t)·exp(−x²), t = 1/(1 + p|x|); the five-term
    // form has an absolute error below 1.5e-7, i.e. about one float ulp of erf near 1 — the same accuracy as the
    // float erf that PyTorch and ONNX Runtime use.
    private static final float P = 0.3275911f;
    private static final float A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f;

    /** erf(x), absolute error below 1.5e-7 (odd symmetry exact). */
    public static float erf(float x) {
        double ax = Math.abs(x);
        double t = 1.0 / (1.0 + P * ax);
        double y = 1.0 - ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t * Math.exp(-ax * ax);
        return (float) Math.copySign(y, x);
    }
}
