package dev.zq.quant;

import dev.zq.tensor.DType;
import dev.zq.tensor.Parallel;
import dev.zq.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Turns F32 activations {@code [rows, k]} into INT8 codes and one scale per row. Two kinds, as in the
 * paper: {@link TokenwiseQuantizer} computes each token row's scale at run time (ZeroQuant), a
 * {@link StaticQuantizer} uses one scale calibrated beforehand for the whole tensor (the PTQ baseline).
 *
 * <p>A row holding NaN or ±Inf gets a NaN scale, so the layer's output for that token is NaN, as the FP32
 * layer's would be: the error stays visible instead of being clamped into plausible numbers.
 */
public sealed interface ActivationQuantizer permits TokenwiseQuantizer, StaticQuantizer {
    int BITS = 8;
    /** 8 float lanes narrowed to 8 byte lanes: a fixed pair of shapes that exists on every platform. */
    VectorSpecies<Float> FLOATS = FloatVector.SPECIES_256;
    VectorSpecies<Byte> BYTES = jdk.incubator.vector.ByteVector.SPECIES_64;

    /** Fills {@code codes} (I8 [rows, k]) and {@code scales} (F32 [rows]) from {@code x} (F32 [rows, k]). */
    void quantize(Tensor x, Tensor codes, Tensor scales);

    /** A row's scale from its values: {@code x} from element {@code from}, {@code k} of them. */
    interface RowScale { float of(Tensor x, long from, int k); }

    /**
     * {@link #quantize}'s loop for either kind: checks the shapes, then each row's scale from {@code scaleOf} into
     * {@code scales} and its codes into {@code codes}, a row a task (on many cores a serial pass here would take as long as
     * the product it feeds).
     */
    static void quantizeRows(Tensor x, Tensor codes, Tensor scales, RowScale scaleOf) {
        checkShapes(x, codes, scales);
        int rows = (int) scales.numel(), k = (int) (x.numel() / rows);
        Parallel.forEach(rows, 3L * k, new Tensor[]{x, codes, scales}, r -> {
            float s = scaleOf.of(x, (long) r * k, k);
            scales.setFloat(r, s);
            quantizeRow(x, (long) r * k, k, s, codes);
        });
    }

    /** Codes of one row under {@code scale}, clamped to [-128, 127]; vectorized, ties to even. */
    static void quantizeRow(Tensor x, long from, int k, float scale, Tensor codes) {
        VectorSpecies<Float> sp = FLOATS;
        var seg = x.segment();
        var out = codes.segment();
        long base = from * 4;
        if (scale == 0f || !Float.isFinite(scale)) {
            out.asSlice(from, k).fill((byte) 0);
            return;
        }
        // Adding then subtracting 1.5·2^23 rounds a float of magnitude < 2^22 to the nearest integer, ties to
        // even — Math.rint for vectors. |x / scale| ≤ 127 for dynamic scales; static ones are clamped after.
        final float magic = 12582912f;
        int i = 0;
        for (int bound = sp.loopBound(k); i < bound; i += sp.length()) {
            FloatVector v = FloatVector.fromMemorySegment(sp, seg, base + 4L * i, java.nio.ByteOrder.LITTLE_ENDIAN);
            FloatVector q = v.div(scale).add(magic).sub(magic).max(-128f).min(127f);
            q.convertShape(VectorOperators.F2B, BYTES, 0).reinterpretAsBytes().intoMemorySegment(out, from + i, java.nio.ByteOrder.LITTLE_ENDIAN);
        }
        for (; i < k; i++) codes.setByte(from + i, (byte) Symmetric.quantize(x.getFloat(from + i), scale, 8));
    }

    static void checkShapes(Tensor x, Tensor codes, Tensor scales) {
        if (x.dtype() != DType.F32 || codes.dtype() != DType.I8 || scales.dtype() != DType.F32
                || codes.numel() != x.numel() || x.numel() % scales.numel() != 0)
            throw new IllegalArgumentException("activation quantizer needs F32 x, I8 codes of the same size and F32 row scales; got "
                    + x + ", " + codes + ", " + scales);
    }
}
