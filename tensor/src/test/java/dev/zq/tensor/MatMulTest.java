package dev.zq.tensor;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class MatMulTest {
    /**
     * F32 against a double-precision loop. Each output is a K-term dot product; float rounding gives a
     * relative error growing like sqrt(K)·2^-24 for random signs, so 1e-5·sqrt(K)-scaled bounds on the
     * norm-wise relative error have a wide margin while still catching a wrong index (error ~1).
     */
    @ParameterizedTest
    @CsvSource({"1,1,1", "7,33,65", "4,16,4", "130,300,257", "1,768,3072", "37,384,1536"})
    void bothLayoutsMatchDoubleLoops(int m, int k, int n) {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(m * 1_000_003L + k * 1009L + n);
            Tensor a = Ref.randn(arena, rnd, 1, m, k);
            Tensor bT = Ref.randn(arena, rnd, 0.5, n, k);
            Tensor bias = Ref.randn(arena, rnd, 1, n);
            Tensor b = Tensor.allocate(arena, DType.F32, k, n);
            for (int i = 0; i < n; i++) for (int j = 0; j < k; j++) b.setFloat((long) j * n + i, bT.getFloat((long) i * k + j));
            double[] ref = new double[m * n];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double s = bias.getFloat(j);
                    for (int p = 0; p < k; p++) s += (double) a.getFloat((long) i * k + p) * bT.getFloat((long) j * k + p);
                    ref[i * n + j] = s;
                }
            Tensor out1 = Tensor.allocate(arena, DType.F32, m, n), out2 = Tensor.allocate(arena, DType.F32, m, n);
            Tensor out3 = Tensor.allocate(arena, DType.F32, m, n);
            MatMul.matmulTransposed(a, bT, bias, out1);
            MatMul.matmul(a, b, bias, out2);
            PackedMatrix.pack(arena, bT).multiply(a, bias, out3);
            double tol = 1e-6 * Math.sqrt(k) + 1e-7;
            assertTrue(Ref.relError(out1, ref) < tol, "matmulTransposed rel error " + Ref.relError(out1, ref));
            assertTrue(Ref.relError(out2, ref) < tol, "matmul rel error " + Ref.relError(out2, ref));
            assertTrue(Ref.relError(out3, ref) < tol, "packed matmul rel error " + Ref.relError(out3, ref));
            for (int i = 0; i < m * n; i++) assertEquals(ref[i], out3.getFloat(i), 1e-5 * Math.sqrt(k) * 2, "packed element " + i);
            // Element-wise too, against the magnitude of the terms summed.
            for (int i = 0; i < m * n; i++) assertEquals(ref[i], out1.getFloat(i), 1e-5 * Math.sqrt(k) * 2, "element " + i);
        }
    }

    @Test
    void noBiasMeansZeroBias() {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(5);
            Tensor a = Ref.randn(arena, rnd, 1, 9, 20), bT = Ref.randn(arena, rnd, 1, 11, 20);
            Tensor zero = Tensor.allocate(arena, DType.F32, 11);
            Tensor o1 = Tensor.allocate(arena, DType.F32, 9, 11), o2 = Tensor.allocate(arena, DType.F32, 9, 11);
            MatMul.matmulTransposed(a, bT, null, o1);
            MatMul.matmulTransposed(a, bT, zero, o2);
            // Not bit-equal: the Vector API may reduce lanes in a different order once C2 compiles the loop.
            assertArrayEquals(o2.toFloatArray(), o1.toFloatArray(), 1e-5f);
        }
    }

    @Test
    void shapeAndTypeMismatchesThrow() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = Tensor.allocate(arena, DType.F32, 3, 4), bT = Tensor.allocate(arena, DType.F32, 5, 6);
            Tensor out = Tensor.allocate(arena, DType.F32, 3, 5);
            var e = assertThrows(IllegalArgumentException.class, () -> MatMul.matmulTransposed(a, bT, null, out));
            assertTrue(e.getMessage().contains("[3, 4]"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> MatMul.matmulTransposed(a, Tensor.allocate(arena, DType.F32, 5, 4), Tensor.allocate(arena, DType.F32, 4), out));
            assertThrows(IllegalArgumentException.class, () -> MatMul.matmul(Tensor.allocate(arena, DType.F16, 3, 4), Tensor.allocate(arena, DType.F32, 4, 5), null, out));
        }
    }

    /**
     * The packed product's 4-row register tiles add each lane's products in input order from zero, as the one-row path
     * does: the same bits whichever path a row takes.
     */
    @ParameterizedTest
    @CsvSource({"16,128,32", "40,300,50", "37,1000,24", "64,257,17", "100,640,40", "21,129,16"})
    void packedRowsGiveTheSameBitsTiledOrAlone(int m, int k, int n) {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(m * 131L + k * 7L + n);
            Tensor a = Ref.randn(arena, rnd, 1.0, m, k), bT = Ref.randn(arena, rnd, 1.0, n, k), bias = Ref.randn(arena, rnd, 1.0, n);
            PackedMatrix p = PackedMatrix.pack(arena, bT);
            Tensor all = Tensor.allocate(arena, DType.F32, m, n), one = Tensor.allocate(arena, DType.F32, 1, n);
            p.multiply(a, bias, all);
            for (int r = 0; r < m; r++) {
                Tensor row = Tensor.allocate(arena, DType.F32, 1, k);
                MemorySegment.copy(a.segment(), 4L * r * k, row.segment(), 0, 4L * k);
                p.multiply(row, bias, one);
                for (int c = 0; c < n; c++)
                    assertEquals(Float.floatToRawIntBits(one.getFloat(c)), Float.floatToRawIntBits(all.getFloat((long) r * n + c)), "row " + r + ", column " + c);
            }
        }
    }
}
