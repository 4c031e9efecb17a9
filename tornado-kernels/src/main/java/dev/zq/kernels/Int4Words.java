package dev.zq.kernels;

import dev.zq.runtime.IntArray;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The order in which the GPU kernels read INT4 weights: each row's K codes in 32-code chunks of four words, word
 * {@code t} of chunk {@code c} holding codes {@code 32c + 4t + i} in the low nibble of byte {@code i} and
 * {@code 32c + 16 + 4t + i} in its high nibble ({@code i = 0..3}). Unpacked, a word's low and high nibbles are exactly
 * the two B fragment registers of lane {@code 4g + t} of an {@code mma.m16n8k32.s8} ({@link PrefillGemmKernel#int4}),
 * and the few-row {@link SkinnyGemmKernel#int4} pairs them with activation codes staged in the same order. A word
 * spans 32 codes, so group sizes must be multiples of 32.
 */
public final class Int4Words {
    private Int4Words() {}

    /**
     * Repacks {@code rows × k} INT4 codes stored two per byte in K order (element {@code 2i} in the low nibble of byte
     * {@code i}, as {@code Tensor}'s I4) from {@code natural} into {@code out} ({@code rows·k/8} ints); k a multiple of 32.
     */
    public static void pack(MemorySegment natural, int rows, int k, IntArray out) {
        if (k % 32 != 0) throw new IllegalArgumentException("INT4 rows on the GPU need a multiple of 32 codes, not " + k);
        if (natural.byteSize() < (long) rows * k / 2)
            throw new IllegalArgumentException(natural.byteSize() + " bytes hold fewer than " + rows + " × " + k + " INT4 codes");
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < k / 32; c++)
                for (int t = 0; t < 4; t++) {
                    int word = 0;
                    for (int i = 0; i < 4; i++) {
                        int lo = nibble(natural, (long) r * k + 32 * c + 4 * t + i), hi = nibble(natural, (long) r * k + 32 * c + 16 + 4 * t + i);
                        word |= (lo | hi << 4) << (8 * i);
                    }
                    out.set(r * (k / 8) + 4 * c + t, word);
                }
    }

    /** The 4-bit code of element {@code e} of natural nibble storage. */
    static int nibble(MemorySegment natural, long e) {
        return (natural.get(ValueLayout.JAVA_BYTE, e >> 1) >> ((e & 1) << 2)) & 0xF;
    }
}
