package dev.zq.tensor;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;

import static org.junit.jupiter.api.Assertions.*;

class TensorTest {
    @Test
    void dtypeSizes() {
        assertEquals(4, DType.F32.byteSize(1));
        assertEquals(3, DType.I4.byteSize(5));
        assertEquals(2, DType.I4.byteSize(4));
        assertEquals(16, DType.I64.byteSize(2));
        assertThrows(IllegalArgumentException.class, () -> DType.F32.byteSize(-1));
        assertThrows(ArithmeticException.class, () -> DType.F64.byteSize(Long.MAX_VALUE / 4));
    }

    @Test
    void onlyAConfinedArenasTensorIsKeptToItsThread() {
        try (Arena confined = Arena.ofConfined(); Arena shared = Arena.ofShared()) {
            assertFalse(Tensor.allocate(confined, DType.F32, 4).sharedAcrossThreads());
            assertTrue(Tensor.allocate(shared, DType.F32, 4).sharedAcrossThreads());
            assertTrue(Tensor.allocate(Arena.ofAuto(), DType.I4, 4).sharedAcrossThreads());
        }
    }

    @Test
    void int4PackingLowNibbleFirst() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(arena, DType.I4, 5);
            int[] v = {-8, 7, -1, 0, 3};
            for (int i = 0; i < 5; i++) t.setI4(i, v[i]);
            for (int i = 0; i < 5; i++) assertEquals(v[i], t.getI4(i));
            assertEquals((byte) 0x78, t.getByte(0));   // 7 in the high nibble, -8 (0x8) in the low one
            assertThrows(IllegalArgumentException.class, () -> t.setI4(0, 8));
        }
    }

    @Test
    void halfTypesRoundTrip() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor f = Tensor.ofFloats(arena, new float[]{1.5f, -2.25f, 65504f, 1e-3f, 3.14159f}, 5);
            Tensor h = f.to(arena, DType.F16), b = f.to(arena, DType.BF16);
            assertEquals(1.5f, h.getFloat(0));
            assertEquals(65504f, h.getFloat(2));
            assertEquals(-2.25f, b.getFloat(1));
            assertEquals(3.140625f, b.getFloat(4));   // bf16 keeps 8 bits of mantissa, round to nearest even
            assertEquals(Float.floatToFloat16(1e-3f), Float.floatToFloat16(h.getFloat(3)));
            assertTrue(Float.isNaN(Float.intBitsToFloat(Tensor.bf16(Float.NaN) << 16)));
        }
    }

    @Test
    void reshapeSliceAndWrapValidate() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.ofFloats(arena, new float[]{1, 2, 3, 4, 5, 6}, 3, 2);
            assertEquals(Shape.of(2, 3), t.reshape(2, 3).shape());
            assertThrows(IllegalArgumentException.class, () -> t.reshape(4, 2));
            Tensor s = t.slice(1, 3);
            assertArrayEquals(new float[]{3, 4, 5, 6}, s.toFloatArray());
            assertThrows(IndexOutOfBoundsException.class, () -> t.slice(2, 4));
            assertThrows(IllegalArgumentException.class, () -> Tensor.wrap(t.segment(), DType.F32, Shape.of(7)));
            assertThrows(IllegalArgumentException.class, () -> Shape.of(2, -1));
            assertThrows(ArithmeticException.class, () -> Shape.of(1 << 30, 1 << 30, 1 << 30));
        }
    }

    @Test
    void firstNonFiniteFindsNaNAndInfinitiesInEveryFloatType() {
        try (Arena a = Arena.ofConfined()) {
            for (DType d : new DType[]{DType.F32, DType.F16, DType.BF16, DType.F64}) {
                Tensor t = Tensor.allocate(a, d, 2, 3, 4);
                for (int i = 0; i < 24; i++) t.setFloat(i, i == 5 ? 65504f : -i * 0.37f);   // F16's largest finite value too
                assertEquals(-1, t.firstNonFinite(), d + " all finite");
                for (float bad : new float[]{Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
                    t.setFloat(17, bad);
                    t.setFloat(21, Float.NaN);
                    assertEquals(17, t.firstNonFinite(), d + " " + bad);
                    t.setFloat(17, 1f);
                    assertEquals(21, t.firstNonFinite(), d + " " + bad);
                    t.setFloat(21, 2f);
                }
            }
            assertEquals(-1, Tensor.allocate(a, DType.I32, 4).firstNonFinite(), "integers are always finite");
        }
        assertEquals("[1, 1, 1]", Shape.of(2, 3, 4).indexOf(17));
        assertEquals("[0, 0, 0]", Shape.of(2, 3, 4).indexOf(0));
        assertEquals("[5]", Shape.of(6).indexOf(5));
        assertThrows(IndexOutOfBoundsException.class, () -> Shape.of(2, 3).indexOf(6));
    }
}
