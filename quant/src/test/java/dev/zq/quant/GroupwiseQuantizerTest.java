package dev.zq.quant;

import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class GroupwiseQuantizerTest {
    static Tensor random(Arena arena, Random rnd, int rows, int cols) {
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) v[i] = (float) (rnd.nextGaussian() * (1 + i % 7));
        return Tensor.ofFloats(arena, v, rows, cols);
    }

    @ParameterizedTest
    @CsvSource({"8,GROUPWISE,16", "8,PER_ROW,0", "8,PER_TENSOR,0", "4,GROUPWISE,8", "4,PER_ROW,0", "3,GROUPWISE,32", "2,GROUPWISE,4"})
    void codesAndScalesFollowTheSymmetricFormula(int bits, WeightGranularity.Kind kind, int groupSize) {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(bits * 31L + groupSize);
            int rows = 5, cols = 64;
            Tensor w = random(arena, rnd, rows, cols);
            QuantizedWeight q = new GroupwiseQuantizer(bits, new WeightGranularity(kind, groupSize)).quantize(w, arena);
            int gs = kind == WeightGranularity.Kind.GROUPWISE ? groupSize : cols;
            assertEquals(gs, q.groupSize());
            assertEquals(bits <= 4 ? DType.I4 : DType.I8, q.codes().dtype());
            int qmax = (1 << (bits - 1)) - 1;
            double tensorMax = 0;
            for (int i = 0; i < rows * cols; i++) tensorMax = Math.max(tensorMax, Math.abs(w.getFloat(i)));
            for (int r = 0; r < rows; r++)
                for (int g = 0; g < cols / gs; g++) {
                    double max = 0;
                    for (int c = g * gs; c < (g + 1) * gs; c++) max = Math.max(max, Math.abs(w.getFloat((long) r * cols + c)));
                    if (kind == WeightGranularity.Kind.PER_TENSOR) max = tensorMax;
                    double s = max / qmax;
                    assertEquals(s, q.scale(r, g), s * 1e-6, "scale of row " + r + " group " + g);
                    for (int c = g * gs; c < (g + 1) * gs; c++) {
                        double x = w.getFloat((long) r * cols + c);
                        long expect = Math.max(-qmax - 1, Math.min(qmax, Math.round(Math.rint(x / q.scale(r, g)))));
                        assertEquals(expect, q.code(r, c), "code at " + r + "," + c);
                        // Dequantization error is at most half a step.
                        assertTrue(Math.abs(q.code(r, c) * q.scale(r, g) - x) <= q.scale(r, g) * 0.5 + 1e-6);
                    }
                }
        }
    }

    @Test
    void theLargestValueOfAGroupMapsToTheTopCode() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = Tensor.ofFloats(arena, new float[]{0.5f, -2f, 1f, 0.25f, 3f, -1f, 0f, 0.1f}, 2, 4);
            QuantizedWeight q = new GroupwiseQuantizer(8, WeightGranularity.perRow()).quantize(w, arena);
            assertEquals(-127, q.code(0, 1));
            assertEquals(127, q.code(1, 0));
        }
    }

    @Test
    void allZeroGroupsHaveZeroScaleAndCodes() {
        try (Arena arena = Arena.ofConfined()) {
            float[] v = new float[32];
            for (int i = 16; i < 32; i++) v[i] = i - 20;
            Tensor w = Tensor.ofFloats(arena, v, 2, 16);
            QuantizedWeight q = new GroupwiseQuantizer(4, WeightGranularity.groups(8)).quantize(w, arena);
            assertEquals(0f, q.scale(0, 0));
            assertEquals(0f, q.scale(0, 1));
            for (int c = 0; c < 16; c++) assertEquals(0, q.code(0, c));
            Tensor d = q.dequantize(arena);
            for (int c = 0; c < 16; c++) assertEquals(0f, d.getFloat(c));
            assertTrue(q.scale(1, 1) > 0);
        }
    }

    @Test
    void nonFiniteWeightsAreRejectedWithTheirPosition() {
        try (Arena arena = Arena.ofConfined()) {
            for (float bad : new float[]{Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
                float[] v = new float[12];
                v[7] = bad;
                Tensor w = Tensor.ofFloats(arena, v, 3, 4);
                var e = assertThrows(IllegalArgumentException.class,
                        () -> new GroupwiseQuantizer(8, WeightGranularity.perRow()).quantize(w, arena));
                assertTrue(e.getMessage().contains("[1, 3]"), e.getMessage());
            }
        }
    }

    @Test
    void badGeometryIsRejected() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = random(arena, new Random(1), 3, 10);
            assertThrows(IllegalArgumentException.class, () -> new GroupwiseQuantizer(8, WeightGranularity.groups(4)).quantize(w, arena));
            assertThrows(IllegalArgumentException.class, () -> new GroupwiseQuantizer(9, WeightGranularity.perRow()));
            assertThrows(IllegalArgumentException.class, () -> new GroupwiseQuantizer(1, WeightGranularity.perRow()));
            assertThrows(IllegalArgumentException.class, () -> WeightGranularity.groups(0));
        }
    }

    @Test
    void int4PacksTwoCodesPerByte() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = random(arena, new Random(3), 4, 64);
            QuantizedWeight q4 = new GroupwiseQuantizer(4, WeightGranularity.groups(32)).quantize(w, arena);
            QuantizedWeight q8 = new GroupwiseQuantizer(8, WeightGranularity.groups(32)).quantize(w, arena);
            assertEquals(4 * 64 / 2, q4.codes().byteSize());
            assertEquals(4 * 64, q8.codes().byteSize());
        }
    }

    /**
     * In a shared arena the rows are quantized on several threads: the same codes and scales, byte for byte, as one
     * thread's in a confined arena — INT8 and INT4, per group, per row and per tensor, at an odd row length too (INT4
     * rows then share bytes, so they stay on one thread).
     */
    @Test
    void rowsOnSeveralThreadsGiveOneThreadsCodes() {
        for (int bits : new int[]{8, 4})
            for (WeightGranularity gran : new WeightGranularity[]{WeightGranularity.groups(16), WeightGranularity.perRow(), WeightGranularity.perTensor()})
                for (int cols : new int[]{64, 48, 33}) {
                    if (gran.kind() == WeightGranularity.Kind.GROUPWISE && cols % 16 != 0) continue;
                    try (Arena one = Arena.ofConfined(); Arena many = Arena.ofShared()) {
                        GroupwiseQuantizer q = new GroupwiseQuantizer(bits, gran);
                        QuantizedWeight a = q.quantize(random(one, new Random(cols), 3001, cols), one);
                        QuantizedWeight b = q.quantize(random(many, new Random(cols), 3001, cols), many);
                        String what = bits + " bits " + gran + " cols " + cols;
                        assertArrayEquals(a.codes().segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                                b.codes().segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), what + ": codes");
                        assertArrayEquals(a.scales().toFloatArray(), b.scales().toFloatArray(), what + ": scales");
                    }
                }
    }
}
