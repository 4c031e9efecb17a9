package dev.zq.quant;

import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class ActivationQuantizerTest {
    @Test
    void tokenwiseGivesEachRowItsOwnScale() {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(11);
            int rows = 6, k = 45;   // k not a multiple of the vector width: exercises the tail
            float[] v = new float[rows * k];
            for (int i = 0; i < v.length; i++) v[i] = (float) (rnd.nextGaussian() * Math.pow(10, i / k - 2));
            Tensor x = Tensor.ofFloats(arena, v, rows, k);
            Tensor codes = Tensor.allocate(arena, DType.I8, rows, k), scales = Tensor.allocate(arena, DType.F32, rows);
            new TokenwiseQuantizer().quantize(x, codes, scales);
            for (int r = 0; r < rows; r++) {
                double max = 0;
                for (int c = 0; c < k; c++) max = Math.max(max, Math.abs(v[r * k + c]));
                assertEquals((float) (max / 127), scales.getFloat(r), 1e-6 * max);
                for (int c = 0; c < k; c++) {
                    int expect = (int) Math.max(-128, Math.min(127, Math.rint(v[r * k + c] / scales.getFloat(r))));
                    assertEquals(expect, codes.getByte((long) r * k + c), "row " + r + " col " + c);
                }
            }
        }
    }

    @Test
    void roundingIsToNearestEven() {
        try (Arena arena = Arena.ofConfined()) {
            // Scale 1 (max 127): 0.5 → 0, 1.5 → 2, 2.5 → 2, -0.5 → 0, -1.5 → -2 — for vector and tail lanes alike.
            float[] v = new float[16];
            float[] in = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 127f, 3.5f, -2.5f};
            for (int i = 0; i < 16; i++) v[i] = in[i % 8];
            Tensor x = Tensor.ofFloats(arena, v, 1, 16);
            Tensor codes = Tensor.allocate(arena, DType.I8, 1, 16), scales = Tensor.allocate(arena, DType.F32, 1);
            new TokenwiseQuantizer().quantize(x, codes, scales);
            int[] want = {0, 2, 2, 0, -2, 127, 4, -2};
            for (int i = 0; i < 16; i++) assertEquals(want[i % 8], codes.getByte(i), "element " + i);
        }
    }

    @Test
    void zeroRowsAndNonFiniteRows() {
        try (Arena arena = Arena.ofConfined()) {
            float[] v = new float[3 * 20];
            for (int i = 20; i < 40; i++) v[i] = i;
            v[45] = Float.NaN;
            Tensor x = Tensor.ofFloats(arena, v, 3, 20);
            Tensor codes = Tensor.allocate(arena, DType.I8, 3, 20), scales = Tensor.allocate(arena, DType.F32, 3);
            new TokenwiseQuantizer().quantize(x, codes, scales);
            assertEquals(0f, scales.getFloat(0));
            for (int i = 0; i < 20; i++) assertEquals(0, codes.getByte(i));
            assertTrue(scales.getFloat(1) > 0);
            assertTrue(Float.isNaN(scales.getFloat(2)), "a NaN row must stay visible as a NaN scale");
            v[45] = Float.POSITIVE_INFINITY;
            Tensor x2 = Tensor.ofFloats(arena, v, 3, 20);
            new StaticQuantizer(0.5f).quantize(x2, codes, scales);
            assertTrue(Float.isNaN(scales.getFloat(2)));
            assertEquals(0.5f, scales.getFloat(1));
        }
    }

    @Test
    void staticScaleSaturatesOutliers() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Tensor.ofFloats(arena, new float[]{1000f, -1000f, 0.3f, 0.1f}, 2, 2);
            Tensor codes = Tensor.allocate(arena, DType.I8, 2, 2), scales = Tensor.allocate(arena, DType.F32, 2);
            new StaticQuantizer(0.01f).quantize(x, codes, scales);
            assertEquals(127, codes.getByte(0));
            assertEquals(-128, codes.getByte(1));
            assertEquals(30, codes.getByte(2));
            assertEquals(10, codes.getByte(3));
            assertThrows(IllegalArgumentException.class, () -> new StaticQuantizer(0f));
            assertThrows(IllegalArgumentException.class, () -> new StaticQuantizer(Float.NaN));
        }
    }
}
