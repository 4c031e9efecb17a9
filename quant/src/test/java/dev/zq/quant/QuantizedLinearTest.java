package dev.zq.quant;

import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class QuantizedLinearTest {
    /**
     * Integer path: the output must equal the exact value of {@code Σ_g S_x·S_w[n][g]·Σ_k x̄·w̄ + b}
     * computed here with long integer sums and double products; the only difference allowed is float
     * rounding of the per-group products and the sum over groups, ≤ 1e-5 relative to the output's scale.
     * The fake-quant simulation (dequantize x and W, multiply in double) is the same number, so the same bound
     * holds against it.
     */
    @ParameterizedTest
    @CsvSource({"8,48,1", "8,16,3", "4,32,5", "4,8,17", "8,96,8", "4,96,2"})
    void integerForwardEqualsExactReference(int bits, int groupSize, int rows) {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(bits * 1000L + groupSize + rows);
            int in = 96, out = 40;
            Tensor w = GroupwiseQuantizerTest.random(arena, rnd, out, in);
            Tensor bias = GroupwiseQuantizerTest.random(arena, rnd, 1, out).reshape(out);
            Tensor x = GroupwiseQuantizerTest.random(arena, rnd, rows, in);
            QuantizedWeight qw = new GroupwiseQuantizer(bits, WeightGranularity.groups(groupSize)).quantize(w, arena);
            QuantizedLinear lin = new QuantizedLinear(qw, bias, new TokenwiseQuantizer());
            Tensor y = Tensor.allocate(arena, DType.F32, rows, out);
            lin.forward(x, y);

            Tensor codes = Tensor.allocate(arena, DType.I8, rows, in), sx = Tensor.allocate(arena, DType.F32, rows);
            new TokenwiseQuantizer().quantize(x, codes, sx);
            double worst = 0, scaleOfOutput = 0;
            for (int m = 0; m < rows; m++)
                for (int n = 0; n < out; n++) {
                    double exact = bias.getFloat(n);
                    for (int g = 0; g < in / groupSize; g++) {
                        long dot = 0;
                        for (int k = g * groupSize; k < (g + 1) * groupSize; k++)
                            dot += (long) codes.getByte((long) m * in + k) * qw.code(n, k);
                        exact += (double) sx.getFloat(m) * qw.scale(n, g) * dot;
                    }
                    worst = Math.max(worst, Math.abs(exact - y.getFloat((long) m * out + n)));
                    scaleOfOutput = Math.max(scaleOfOutput, Math.abs(exact));
                }
            assertTrue(worst <= 1e-5 * scaleOfOutput, "max deviation " + worst + " vs output scale " + scaleOfOutput);
        }
    }

    /** Weight-only runs the fused kernel on float activations: every row count (tiles of 8, 4 and 1), groups up to a 3072-wide row. */
    @ParameterizedTest
    @CsvSource({"8,32,7,64", "4,16,7,64", "8,64,16,768", "4,64,1,128", "8,3072,13,3072", "4,1536,12,3072",
            "8,64,32,768", "4,128,37,256", "8,3072,40,3072"})
    void weightOnlyEqualsMatmulWithDequantizedWeights(int bits, int groupSize, int rows, int in) {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(bits + groupSize + rows);
            int out = rows % 2 == 0 ? 32 : 24;
            Tensor w = GroupwiseQuantizerTest.random(arena, rnd, out, in);
            Tensor x = GroupwiseQuantizerTest.random(arena, rnd, rows, in);
            QuantizedWeight qw = new GroupwiseQuantizer(bits, WeightGranularity.groups(groupSize)).quantize(w, arena);
            Tensor y = Tensor.allocate(arena, DType.F32, rows, out);
            new QuantizedLinear(qw, null, null).forward(x, y);
            Tensor dq = qw.dequantize(arena);
            for (int m = 0; m < rows; m++)
                for (int n = 0; n < out; n++) {
                    double ref = 0, mag = 0;
                    for (int k = 0; k < in; k++) {
                        ref += (double) x.getFloat((long) m * in + k) * dq.getFloat((long) n * in + k);
                        mag += Math.abs((double) x.getFloat((long) m * in + k) * dq.getFloat((long) n * in + k));
                    }
                    assertEquals(ref, y.getFloat((long) m * out + n), 1e-5 * mag);
                }
        }
    }

    /** The fused kernel (FP32 FMAs on codes; INT4 weights unpacked to bytes) must give the INT32-GEMM reference path's bits exactly. */
    @ParameterizedTest
    @CsvSource({"8,1,16,96", "8,3,32,96", "8,4,48,96", "8,8,96,96", "8,13,64,128", "8,16,64,128", "8,5,3072,3072", "8,9,1536,3072",
            "8,12,3072,3072", "4,1,16,96", "4,4,48,96", "4,8,64,128", "4,13,64,128", "4,9,1536,3072",
            // enough rows for the converted tiles (weights turned into floats once per chunk), with rows left over
            "8,16,64,768", "8,32,96,192", "8,37,768,768", "8,40,3072,3072", "8,21,2048,4096", "4,32,64,256", "4,27,1536,3072"})
    void fusedKernelEqualsTheReferenceBitForBit(int bits, int rows, int groupSize, int in) {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(bits * 7L + rows * 31L + groupSize + in);
            int out = rows % 2 == 0 ? 32 : 24;   // a multiple of the panel width, and not
            Tensor w = GroupwiseQuantizerTest.random(arena, rnd, out, in);
            for (int n = 0; n < out; n++) w.setFloat((long) n * in + rnd.nextInt(in), 50f);   // push codes to their extremes
            Tensor bias = GroupwiseQuantizerTest.random(arena, rnd, 1, out).reshape(out);
            Tensor x = GroupwiseQuantizerTest.random(arena, rnd, rows, in);
            QuantizedWeight qw = new GroupwiseQuantizer(bits, WeightGranularity.groups(groupSize)).quantize(w, arena);
            QuantizedLinear lin = new QuantizedLinear(qw, bias, new TokenwiseQuantizer());
            Tensor codes = Tensor.allocate(arena, DType.I8, rows, in), sx = Tensor.allocate(arena, DType.F32, rows);
            new TokenwiseQuantizer().quantize(x, codes, sx);
            for (int i = 0; i < in; i++) codes.setByte(i, (byte) (i % 2 == 0 ? 127 : -127));   // worst-case magnitudes in row 0
            Tensor fused = Tensor.allocate(arena, DType.F32, rows, out), ref = Tensor.allocate(arena, DType.F32, rows, out);
            lin.integerForward(codes, sx, fused);
            lin.referenceIntegerForward(arena, codes, sx, ref);
            for (int i = 0; i < rows * out; i++)
                assertEquals(Float.floatToRawIntBits(ref.getFloat(i)), Float.floatToRawIntBits(fused.getFloat(i)), "output " + i);
        }
    }
}
