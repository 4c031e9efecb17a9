package dev.zq.quant;

import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.stream.IntStream;

/**
 * Quantizes a weight matrix {@code [out, in]} symmetrically with one scale per group of inputs of each
 * output row (ZeroQuant §4.1), per row, or per tensor (the PTQ baseline). Weights must be finite: a NaN or
 * infinity would poison a whole group's scale, so it is rejected with its position.
 */
public final class GroupwiseQuantizer {
    private final int bits;
    private final WeightGranularity granularity;

    public GroupwiseQuantizer(int bits, WeightGranularity granularity) {
        Symmetric.checkBits(bits);
        this.bits = bits;
        this.granularity = granularity;
    }

    public int bits() { return bits; }
    public WeightGranularity granularity() { return granularity; }

    public QuantizedWeight quantize(Tensor weight, Arena arena) {
        if (weight.rank() != 2 || !weight.dtype().isFloatingPoint())
            throw new IllegalArgumentException("weight must be a float matrix [out, in], got " + weight);
        int rows = weight.dim(0), cols = weight.dim(1);
        int gs = granularity.groupSizeFor(cols), groups = cols / gs;
        float[] w = weight.toFloatArray();
        for (int i = 0; i < w.length; i++)
            if (!Float.isFinite(w[i]))
                throw new IllegalArgumentException("weight holds " + w[i] + " at [" + i / cols + ", " + i % cols + "]: cannot quantize a non-finite value");

        Tensor scales = Tensor.allocate(arena, DType.F32, rows, groups);
        Tensor codes = Tensor.allocate(arena, QuantizedWeight.storageType(bits), rows, cols);
        float tensorScale = granularity.kind() == WeightGranularity.Kind.PER_TENSOR ? Symmetric.scale(absMax(w, 0, w.length), bits) : Float.NaN;
        // Rows are independent: on several threads where the arena allows it and no byte of INT4 codes straddles two rows.
        boolean split = codes.sharedAcrossThreads() && scales.sharedAcrossThreads() && (codes.dtype() != DType.I4 || cols % 2 == 0);
        IntStream each = IntStream.range(0, rows);
        (split ? each.parallel() : each).forEach(r -> {
            for (int g = 0; g < groups; g++) {
                int from = r * cols + g * gs;
                float s = Float.isNaN(tensorScale) ? Symmetric.scale(absMax(w, from, from + gs), bits) : tensorScale;
                scales.setFloat((long) r * groups + g, s);
                for (int i = from; i < from + gs; i++) {
                    int q = Symmetric.quantize(w[i], s, bits);
                    if (codes.dtype() == DType.I4) codes.setI4(i, q);
                    else codes.setByte(i, (byte) q);
                }
            }
        });
        return new QuantizedWeight(bits, rows, cols, gs, codes, scales);
    }

    static float absMax(float[] v, int from, int to) {
        float m = 0;
        for (int i = from; i < to; i++) m = Math.max(m, Math.abs(v[i]));
        return m;
    }
}
