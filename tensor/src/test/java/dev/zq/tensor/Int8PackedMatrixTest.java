package dev.zq.tensor;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The fused INT8 kernel by both of its routes (4 tile rows, as on AVX2: converted 4-row tiles from 16 rows; 8, as on AVX-512:
 * register tiles only; a machine uses one, by its vector width): every row count path (converted tiles, 8/4-row register
 * tiles, single rows), groups shorter and longer than a conversion chunk (128 inputs) and than an exact float chunk
 * (1,024), N a multiple of two panels and not.
 */
class Int8PackedMatrixTest {
    /** Bits of {@code Σ_g (S_x·S_w[n][g])·float(Σ_k x̄·w̄) + b}, groups in order: the INT32 reference's float operations. */
    @ParameterizedTest
    @CsvSource({"4,8,64,768,48", "8,16,64,768,48", "4,37,96,384,40", "8,37,96,384,40", "4,32,256,512,64", "8,40,256,512,64",
            "4,21,2048,4096,32", "8,24,2048,4096,33", "4,70,32,256,32", "8,130,128,256,16", "4,9,4096,4096,17",
            "4,16,64,768,48", "4,35,32,256,40", "8,23,128,384,32", "8,29,64,192,32", "4,27,2048,4096,16",
            "4,8,64,768,48", "8,13,64,384,40", "4,15,128,256,33"})   // 8–15 rows: the 8-row tile on transposed activations with 4-row tiles, on the rows as they are with 8
    void integerCodesGiveTheReferenceBits(int tile, int m, int groupSize, int k, int n) {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(tile * 1_000_003L + m * 7919L + groupSize * 31L + k + n);
            Tensor x = codes(arena, rnd, m, k), w = codes(arena, rnd, n, k);
            for (int i = 0; i < k; i++) { x.setByte(i, (byte) (i % 2 == 0 ? 127 : -127)); w.setByte(i, (byte) (i % 2 == 0 ? 127 : -127)); }
            int groups = k / groupSize;
            Tensor sw = uniform(arena, rnd, n, groups), sx = uniform(arena, rnd, m), bias = uniform(arena, rnd, n);
            Tensor out = Tensor.allocate(arena, DType.F32, m, n);
            Int8PackedMatrix.pack(arena, w, sw, groupSize).multiply(x, sx, bias, out, tile);
            for (int r = 0; r < m; r++)
                for (int c = 0; c < n; c++) {
                    float y = 0f;
                    for (int g = 0; g < groups; g++) {
                        long dot = 0;
                        for (int kk = g * groupSize; kk < (g + 1) * groupSize; kk++) dot += (long) x.getByte((long) r * k + kk) * w.getByte((long) c * k + kk);
                        y += sx.getFloat(r) * sw.getFloat((long) c * groups + g) * (float) dot;
                    }
                    y += bias.getFloat(c);
                    assertEquals(Float.floatToRawIntBits(y), Float.floatToRawIntBits(out.getFloat((long) r * n + c)), "row " + r + ", column " + c);
                }
        }
    }

    /** Weight-only: float activations, float sums per group; both routes give the same bits, close to a double reference. */
    @ParameterizedTest
    @CsvSource({"16,64,768,48", "37,96,384,40", "24,3072,3072,32", "9,256,512,24"})
    void floatActivationsAgreeAcrossTileShapes(int m, int groupSize, int k, int n) {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(m * 7919L + groupSize * 31L + k + n);
            Tensor x = Tensor.allocate(arena, DType.F32, m, k), w = codes(arena, rnd, n, k);
            for (long i = 0; i < x.numel(); i++) x.setFloat(i, (float) rnd.nextGaussian());
            int groups = k / groupSize;
            Tensor sw = uniform(arena, rnd, n, groups);
            Int8PackedMatrix p = Int8PackedMatrix.pack(arena, w, sw, groupSize);
            Tensor four = Tensor.allocate(arena, DType.F32, m, n), eight = Tensor.allocate(arena, DType.F32, m, n);
            p.multiplyFloats(x, null, four, 4);
            p.multiplyFloats(x, null, eight, 8);
            for (int r = 0; r < m; r++)
                for (int c = 0; c < n; c++) {
                    double ref = 0, mag = 0;
                    for (int kk = 0; kk < k; kk++) {
                        double t = (double) x.getFloat((long) r * k + kk) * w.getByte((long) c * k + kk) * sw.getFloat((long) c * groups + kk / groupSize);
                        ref += t;
                        mag += Math.abs(t);
                    }
                    int i = r * n + c;
                    assertEquals(Float.floatToRawIntBits(four.getFloat(i)), Float.floatToRawIntBits(eight.getFloat(i)), "row " + r + ", column " + c);
                    assertEquals(ref, four.getFloat(i), 1e-5 * mag);
                }
        }
    }

    private static Tensor codes(Arena arena, Random rnd, int rows, int cols) {
        Tensor t = Tensor.allocate(arena, DType.I8, rows, cols);
        for (long i = 0; i < t.numel(); i++) t.setByte(i, (byte) (rnd.nextInt(255) - 127));
        return t;
    }

    private static Tensor uniform(Arena arena, Random rnd, int... dims) {
        Tensor t = Tensor.allocate(arena, DType.F32, dims);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, 0.001f + rnd.nextFloat() * 0.01f);
        return t;
    }
}
