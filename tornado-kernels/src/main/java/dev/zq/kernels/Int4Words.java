package dev.zq.kernels;

import dev.zq.runtime.IntArray;
import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;

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

    /** Repacks the I4 codes {@code [rows, k]} (k a multiple of 32) into {@code out} ({@code rows·k/8} ints). */
    public static void pack(Tensor codes, IntArray out) { pack(codes, out, 0); }

    /** {@link #pack(Tensor, IntArray)} into {@code out} from matrix row {@code firstRow} on (projections stacked in one buffer). */
    public static void pack(Tensor codes, IntArray out, int firstRow) {
        if (codes.dtype() != DType.I4 || codes.rank() != 2) throw new IllegalArgumentException("expected I4 codes [rows, k], got " + codes);
        int rows = codes.dim(0), k = codes.dim(1);
        if (k % 32 != 0) throw new IllegalArgumentException("INT4 rows on the GPU need a multiple of 32 codes, not " + k);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < k / 32; c++)
                for (int t = 0; t < 4; t++) {
                    int word = 0;
                    for (int i = 0; i < 4; i++) {
                        long e = (long) r * k + 32 * c + 4 * t + i;
                        word |= ((codes.getI4(e) & 0xF) | (codes.getI4(e + 16) & 0xF) << 4) << (8 * i);
                    }
                    out.set((firstRow + r) * (k / 8) + 4 * c + t, word);
                }
    }
}
