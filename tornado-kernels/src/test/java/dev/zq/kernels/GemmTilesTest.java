package dev.zq.kernels;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.*;

/** The picker's scratch operands: random, as real operands are, and never Inf or NaN where they are halves. */
class GemmTilesTest {
    @Test
    void randomHalvesAreFiniteBelowOneAndSpreadOverSignsAndExponents() {
        try (Arena a = Arena.ofConfined()) {
            int n = 1 << 16;
            MemorySegment host = a.allocate(2L * n, 8);
            GemmTiles.randomOperand(host, 2L * n, true);
            int negative = 0, zeroExponent = 0;
            boolean[] exponents = new boolean[15];
            for (int i = 0; i < n; i++) {
                short h = host.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i);
                float v = Float.float16ToFloat(h);
                assertTrue(Float.isFinite(v) && Math.abs(v) < 1f, "half " + i + " = " + v);
                int e = (h >> 10) & 0x1F;
                exponents[e] = true;
                if (h < 0) negative++;
                if (e == 0) zeroExponent++;
            }
            for (int e = 0; e < exponents.length; e++) assertTrue(exponents[e], "no half with exponent " + e);
            assertTrue(Math.abs(negative - n / 2) < n / 20, negative + " negative of " + n);
            // Exponents 14 and above fold to 14 (17 of 32 raw values), the rest uniform: exponent 0 about 1/32 of them.
            assertTrue(Math.abs(zeroExponent - n / 32) < n / 100, zeroExponent + " with exponent 0 of " + n);
        }
    }

    @Test
    void randomCodesCoverEveryByteAndRepeatForTheSameSize() {
        try (Arena a = Arena.ofConfined()) {
            int n = 1 << 16;
            MemorySegment one = a.allocate(n, 8), two = a.allocate(n, 8);
            GemmTiles.randomOperand(one, n, false);
            GemmTiles.randomOperand(two, n, false);
            assertEquals(-1L, one.mismatch(two), "the same size gives the same bytes");
            int[] seen = new int[256];
            for (int i = 0; i < n; i++) seen[one.get(ValueLayout.JAVA_BYTE, i) & 0xFF]++;
            for (int b = 0; b < 256; b++) assertTrue(seen[b] > n / 512, "byte " + b + " seen " + seen[b] + " times");
        }
    }

    @Test
    void anOddOrOversizedByteCountIsRefused() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(16, 8);
            assertThrows(IllegalArgumentException.class, () -> GemmTiles.randomOperand(host, 15, false));
            assertThrows(IllegalArgumentException.class, () -> GemmTiles.randomOperand(host, 18, true));
        }
    }
}
