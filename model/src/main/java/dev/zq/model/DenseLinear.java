package dev.zq.model;

import dev.zq.tensor.DType;
import dev.zq.tensor.PackedMatrix;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;

/**
 * The FP32 {@link Linear}: weight in PyTorch's {@code [out, in]} layout (one row per output channel, the
 * layout group-wise quantization slices along), optional bias {@code [out]}. The first forward pass also
 * builds a {@link PackedMatrix} copy of the weight, laid out for the faster outer-product kernel; it is
 * counted in {@link #weightBytes} from then on.
 */
public final class DenseLinear implements Linear {
    private final Tensor weight;
    private final Tensor bias;
    private volatile PackedMatrix packed;

    public DenseLinear(Tensor weight, Tensor bias) {
        if (weight.dtype() != DType.F32 || weight.rank() != 2)
            throw new IllegalArgumentException("weight must be F32 [out, in], got " + weight);
        if (bias != null && (bias.dtype() != DType.F32 || bias.numel() != weight.dim(0)))
            throw new IllegalArgumentException("bias " + bias + " does not match weight " + weight);
        this.weight = weight;
        this.bias = bias;
    }

    /** From a weight stored {@code [in, out]} (ONNX MatMul initializers): transposed once into {@code arena}. */
    public static DenseLinear fromInOut(Arena arena, Tensor weightInOut, Tensor bias) {
        int in = weightInOut.dim(0), out = weightInOut.dim(1);
        Tensor w = Tensor.allocate(arena, DType.F32, out, in);
        Tensor src = weightInOut.dtype() == DType.F32 ? weightInOut : weightInOut.to(arena, DType.F32);
        for (int i = 0; i < in; i++)
            for (int o = 0; o < out; o++)
                w.setFloat((long) o * in + i, src.getFloat((long) i * out + o));
        return new DenseLinear(w, bias);
    }

    public Tensor weight() { return weight; }
    public Tensor bias() { return bias; }
    @Override public int inFeatures() { return weight.dim(1); }
    @Override public int outFeatures() { return weight.dim(0); }
    @Override public long weightBytes() {
        PackedMatrix p = packed;
        return weight.byteSize() + (bias == null ? 0 : bias.byteSize()) + (p == null ? 0 : p.byteSize());
    }

    private PackedMatrix packed() {
        PackedMatrix p = packed;
        if (p == null) {
            synchronized (this) {
                if (packed == null) packed = PackedMatrix.pack(Arena.ofAuto(), weight);
                p = packed;
            }
        }
        return p;
    }

    @Override
    public void forward(Tensor x, Tensor out) {
        int in = inFeatures();
        if (x.dim(-1) != in) throw new IllegalArgumentException("input " + x + " does not end in " + in);
        int rows = (int) (x.numel() / in);
        packed().multiply(x.reshape(rows, in), bias, out.reshape(rows, outFeatures()));
    }
}
