package dev.zq.quant;

import dev.zq.model.DenseLinear;
import dev.zq.model.Linear;
import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;

/**
 * W16A8: FP weights whose input is rounded to INT8 codes and back (quantize → dequantize), then an FP32
 * product. This simulates INT8 activations; it is not faster, it measures their accuracy cost alone.
 */
public final class FakeQuantInputLinear implements Linear {
    private final DenseLinear inner;
    private final ActivationQuantizer activations;

    public FakeQuantInputLinear(DenseLinear inner, ActivationQuantizer activations) {
        this.inner = inner;
        this.activations = activations;
    }

    public DenseLinear inner() { return inner; }
    public ActivationQuantizer activations() { return activations; }
    @Override public int inFeatures() { return inner.inFeatures(); }
    @Override public int outFeatures() { return inner.outFeatures(); }
    @Override public long weightBytes() { return inner.weightBytes(); }

    @Override
    public void forward(Tensor x, Tensor out) {
        int in = inFeatures(), rows = (int) (x.numel() / in);
        try (Arena arena = Arena.ofShared()) {
            Tensor x2 = x.reshape(rows, in);
            Tensor codes = Tensor.allocate(arena, DType.I8, rows, in), scales = Tensor.allocate(arena, DType.F32, rows);
            activations.quantize(x2, codes, scales);
            Tensor dq = Tensor.allocate(arena, DType.F32, rows, in);
            for (int r = 0; r < rows; r++) {
                float s = scales.getFloat(r);
                for (int k = 0; k < in; k++) dq.setFloat((long) r * in + k, codes.getByte((long) r * in + k) * s);
            }
            inner.forward(dq, out);
        }
    }
}
