package dev.zq.quant;

import dev.zq.model.Linear;
import dev.zq.tensor.DType;
import dev.zq.tensor.Int8PackedMatrix;
import dev.zq.tensor.Int8MatMul;
import dev.zq.tensor.Scratch;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A {@link Linear} with integer weights.
 * <ul>
 * <li>With an {@link ActivationQuantizer} (W8A8, W4A8): real integer arithmetic. Activations become INT8
 * codes with one scale per token, and per weight group {@code g}
 * {@code y[m][n] += S_x[m] · S_w[n][g] · Σ_{k∈g} x̄[m][k]·w̄[n][k]}, the inner sum an exact INT8×INT8→INT32
 * GEMM; with one group per row this is the paper's {@code diag(S_x)·(X̄·W̄ᵀ)·diag(S_w)}. Bias is added after
 * dequantization.</li>
 * <li>Without one (W8A16, W4A16): weight-only quantization; the same kernel multiplies the FP32 activations
 * by the integer weights, {@code y[m][n] = Σ_g S_w[n][g] · Σ_{k∈g} x[m][k]·w̄[n][k] + b[n]} in float.</li>
 * </ul>
 */
public final class QuantizedLinear implements Linear {
    private final QuantizedWeight weight;
    private final Tensor bias;
    private final ActivationQuantizer activations;
    private volatile Int8PackedMatrix packed;   // INT8 codes re-laid out for the fused kernel, built on first use

    public QuantizedLinear(QuantizedWeight weight, Tensor bias, ActivationQuantizer activations) {
        if (bias != null && (bias.dtype() != DType.F32 || bias.numel() != weight.rows()))
            throw new IllegalArgumentException("bias " + bias + " does not match " + weight.rows() + " outputs");
        this.weight = weight;
        this.bias = bias;
        this.activations = activations;
    }

    public QuantizedWeight weight() { return weight; }
    public Tensor bias() { return bias; }
    /** The activation quantizer, or null for weight-only (A16) layers. */
    public ActivationQuantizer activations() { return activations; }
    @Override public int inFeatures() { return weight.cols(); }
    @Override public int outFeatures() { return weight.rows(); }
    /** Weights, scales and bias; once the fused INT8 kernel has run, also its packed copy of the codes. */
    @Override public long weightBytes() {
        Int8PackedMatrix p = packed;
        return weight.byteSize() + (bias == null ? 0 : bias.byteSize()) + (p == null ? 0 : p.byteSize());
    }

    @Override
    public void forward(Tensor x, Tensor out) {
        int in = inFeatures(), outF = outFeatures();
        if (x.dtype() != DType.F32 || x.dim(-1) != in)
            throw new IllegalArgumentException("input " + x + " is not F32 [..., " + in + "]");
        int rows = (int) (x.numel() / in);
        Tensor x2 = x.reshape(rows, in), y = out.reshape(rows, outF);
        if (activations == null) {
            kernel().multiplyFloats(x2, bias, y);
            return;
        }
        try (Scratch scratch = Scratch.open()) {
            Tensor codes = scratch.tensor(DType.I8, rows, in), sx = scratch.tensor(DType.F32, rows);
            activations.quantize(x2, codes, sx);
            integerForward(codes, sx, y);
        }
    }

    /**
     * {@code y = Σ_g diag(S_x)·(X̄_g·W̄_gᵀ)·diag(S_w[:, g]) + b} from already quantized activations, on the fused kernel
     * ({@link Int8PackedMatrix}: exact integer sums on FP32 FMAs, weights streamed as bytes). INT4 weights are unpacked to one
     * code a byte when the kernel's copy is made (twice their packed size in memory, counted by {@link #weightBytes()}): the
     * sums are as exact, so the result is the same bits as {@link #referenceIntegerForward}'s.
     */
    public void integerForward(Tensor codes, Tensor sx, Tensor y) {
        kernel().multiply(codes, sx, bias, y);
    }

    /** The kernel's copy of the weights, made on first use. */
    private Int8PackedMatrix kernel() {
        Int8PackedMatrix p = packed;
        if (p == null) {
            synchronized (this) {
                if (packed == null) packed = pack();
                p = packed;
            }
        }
        return p;
    }

    private Int8PackedMatrix pack() {
        if (weight.codes().dtype() == DType.I8) return Int8PackedMatrix.pack(Arena.ofAuto(), weight.codes(), weight.scales(), weight.groupSize());
        try (Arena unpacked = Arena.ofConfined()) {
            return Int8PackedMatrix.pack(Arena.ofAuto(), codeBytes(unpacked, 0, weight.cols()), weight.scales(), weight.groupSize());
        }
    }

    /** The INT32-GEMM formulation, per group: the reference the fused kernel is tested against. */
    public void referenceIntegerForward(Arena arena, Tensor codes, Tensor sx, Tensor y) {
        int rows = codes.dim(0), in = inFeatures(), outF = outFeatures(), gs = weight.groupSize(), groups = weight.groupsPerRow();
        Tensor acc = Tensor.allocate(arena, DType.I32, rows, outF);
        float[] yv = new float[rows * outF];
        for (int g = 0; g < groups; g++) {
            Tensor xg = groups == 1 ? codes : columns(arena, codes, g * gs, gs);
            Int8MatMul.matmulTransposed(xg, weightGroup(arena, g), acc);
            for (int m = 0; m < rows; m++) {
                float s = sx.getFloat(m);
                for (int n = 0; n < outF; n++)
                    yv[m * outF + n] += s * weight.scale(n, g) * acc.getInt((long) m * outF + n);
            }
        }
        for (int m = 0; m < rows; m++)
            for (int n = 0; n < outF; n++)
                y.setFloat((long) m * outF + n, yv[m * outF + n] + (bias == null ? 0f : bias.getFloat(n)));
    }

    /** Weight codes of group {@code g} as a contiguous I8 [out, groupSize] matrix (I4 unpacked here). */
    private Tensor weightGroup(Arena arena, int g) {
        if (weight.groupsPerRow() == 1 && weight.codes().dtype() == DType.I8) return weight.codes();
        return codeBytes(arena, g * weight.groupSize(), weight.groupSize());
    }

    /** Weight codes of input columns {@code [from, from + width)}, one byte each (I4 unpacked), as I8 [out, width]. */
    private Tensor codeBytes(Arena arena, int from, int width) {
        int outF = outFeatures();
        Tensor t = Tensor.allocate(arena, DType.I8, outF, width);
        for (int n = 0; n < outF; n++)
            for (int k = 0; k < width; k++) t.setByte((long) n * width + k, (byte) weight.code(n, from + k));
        return t;
    }

    /** Columns {@code [from, from + width)} of an I8 matrix, copied contiguous. */
    private static Tensor columns(Arena arena, Tensor m, int from, int width) {
        int rows = m.dim(0), cols = m.dim(1);
        Tensor t = Tensor.allocate(arena, DType.I8, rows, width);
        for (int r = 0; r < rows; r++)
            MemorySegment.copy(m.segment(), (long) r * cols + from, t.segment(), (long) r * width, width);
        return t;
    }
}
