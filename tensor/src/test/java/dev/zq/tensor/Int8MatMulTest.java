package dev.zq.tensor;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class Int8MatMulTest {
    @ParameterizedTest
    @CsvSource({"1,1,1", "3,31,5", "2,32,2", "17,100,33", "64,768,70", "5,4099,3"})
    void exactAgainstLongLoop(int m, int k, int n) {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(m * 31L + k * 17L + n);
            Tensor a = Ref.randomInt8(arena, rnd, m, k), bT = Ref.randomInt8(arena, rnd, n, k);
            Tensor out = Tensor.allocate(arena, DType.I32, m, n);
            Int8MatMul.matmulTransposed(a, bT, out);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    long s = 0;
                    for (int p = 0; p < k; p++) s += (long) a.getByte((long) i * k + p) * bT.getByte((long) j * k + p);
                    assertEquals(s, out.getInt((long) i * n + j), "element " + i + "," + j);
                }
        }
    }

    @Test
    void extremeValuesDoNotOverflow() {
        // -128·-128 summed over a long row: 16384·8192 = 2^27, far beyond 16-bit but exact in 32-bit.
        try (Arena arena = Arena.ofConfined()) {
            int k = 8192;
            Tensor a = Tensor.allocate(arena, DType.I8, 2, k), bT = Tensor.allocate(arena, DType.I8, 3, k);
            for (int p = 0; p < k; p++) {
                a.setByte(p, (byte) -128);
                a.setByte(k + p, (byte) 127);
                bT.setByte(p, (byte) -128);
                bT.setByte(k + p, (byte) 127);
                bT.setByte(2L * k + p, (byte) (p % 2 == 0 ? -128 : 127));
            }
            Tensor out = Tensor.allocate(arena, DType.I32, 2, 3);
            Int8MatMul.matmulTransposed(a, bT, out);
            assertEquals(16384 * k, out.getInt(0));
            assertEquals(-128 * 127 * k, out.getInt(1));
            assertEquals(16384 * (k / 2) - 128 * 127 * (k / 2), out.getInt(2));
            assertEquals(127 * 127 * k, out.getInt(4));
        }
    }

    @Test
    void mismatchesThrow() {
        try (Arena arena = Arena.ofConfined()) {
            assertThrows(IllegalArgumentException.class, () -> Int8MatMul.matmulTransposed(Tensor.allocate(arena, DType.I8, 2, 3),
                    Tensor.allocate(arena, DType.I8, 2, 4), Tensor.allocate(arena, DType.I32, 2, 2)));
            assertThrows(IllegalArgumentException.class, () -> Int8MatMul.matmulTransposed(Tensor.allocate(arena, DType.I8, 2, 3),
                    Tensor.allocate(arena, DType.I8, 2, 3), Tensor.allocate(arena, DType.F32, 2, 2)));
        }
    }
}
