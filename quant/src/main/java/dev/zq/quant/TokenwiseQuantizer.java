package dev.zq.quant;

import dev.zq.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.nio.ByteOrder;

/**
 * ZeroQuant's token-wise dynamic INT8 activations: every row (token) gets its own scale
 * {@code max|x_row| / 127}, computed when the activation is produced, so one outlier token does not
 * crush the resolution of all the others.
 */
public record TokenwiseQuantizer() implements ActivationQuantizer {
    @Override
    public void quantize(Tensor x, Tensor codes, Tensor scales) {
        ActivationQuantizer.quantizeRows(x, codes, scales, (t, from, k) -> Symmetric.scale(rowAbsMax(t, from, k), BITS));
    }

    /** max |x| over a row; NaN if the row holds a NaN, +Inf if it holds an infinity. */
    static float rowAbsMax(Tensor x, long from, int k) {
        VectorSpecies<Float> sp = FloatVector.SPECIES_PREFERRED;
        FloatVector m = FloatVector.zero(sp);
        boolean nan = false;
        int i = 0;
        for (int bound = sp.loopBound(k); i < bound; i += sp.length()) {
            FloatVector v = FloatVector.fromMemorySegment(sp, x.segment(), 4 * (from + i), ByteOrder.LITTLE_ENDIAN);
            nan |= v.test(VectorOperators.IS_NAN).anyTrue();
            m = m.max(v.abs());
        }
        float max = m.reduceLanes(VectorOperators.MAX);
        for (; i < k; i++) {
            float v = x.getFloat(from + i);
            nan |= Float.isNaN(v);
            max = Math.max(max, Math.abs(v));
        }
        return nan ? Float.NaN : max;
    }
}
