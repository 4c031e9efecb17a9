package dev.zq.tensor;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class AttentionTest {
    /** Attention in double precision with HF's additive mask semantics. */
    static double[] reference(Tensor q, Tensor k, Tensor v, int[] mask, int heads, boolean causal, int offset) {
        int b = q.dim(0), sq = q.dim(1), hd = q.dim(2), sk = k.dim(1), d = hd / heads;
        double[] out = new double[b * sq * hd];
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < sq; i++) {
                    double[] s = new double[sk];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < sk; j++) {
                        double dot = 0;
                        for (int e = 0; e < d; e++)
                            dot += (double) q.getFloat(((long) bi * sq + i) * hd + h * d + e) * k.getFloat(((long) bi * sk + j) * hd + h * d + e);
                        boolean hidden = (mask != null && mask[bi * sk + j] == 0) || (causal && j > offset + i);
                        s[j] = hidden ? -Float.MAX_VALUE : dot / Math.sqrt(d);
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < sk; j++) sum += s[j] = Math.exp(s[j] - max);
                    for (int e = 0; e < d; e++) {
                        double acc = 0;
                        for (int j = 0; j < sk; j++) acc += s[j] / sum * v.getFloat(((long) bi * sk + j) * hd + h * d + e);
                        out[((bi * sq + i) * hd) + h * d + e] = acc;
                    }
                }
        return out;
    }

    @ParameterizedTest
    @CsvSource({"2,5,5,4,8,false,0", "1,7,7,3,20,true,0", "3,1,9,2,32,true,8", "2,3,10,4,16,true,7", "1,13,13,12,32,false,0"})
    void matchesDoubleReference(int b, int sq, int sk, int heads, int d, boolean causal, int offset) {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(b * 100L + sq * 10L + sk + heads + d);
            Tensor q = Ref.randn(arena, rnd, 1, b, sq, heads * d), k = Ref.randn(arena, rnd, 1, b, sk, heads * d), v = Ref.randn(arena, rnd, 1, b, sk, heads * d);
            int[] mask = new int[b * sk];
            Tensor m = Tensor.allocate(arena, DType.I32, b, sk);
            for (int i = 0; i < mask.length; i++) {
                mask[i] = (i % sk) < sk - (i / sk) ? 1 : 0;   // batch row r pads its last r keys
                m.setInt(i, mask[i]);
            }
            Tensor out = Tensor.allocate(arena, DType.F32, b, sq, heads * d);
            Attention.forward(q, k, v, causal ? null : m, heads, causal, offset, out);
            double[] ref = reference(q, k, v, causal ? null : mask, heads, causal, offset);
            assertTrue(Ref.maxAbsError(out, ref) < 2e-6, "max abs error " + Ref.maxAbsError(out, ref));
        }
    }

    @Test
    void allMaskedRowAveragesValuesInsteadOfNaN() {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(9);
            Tensor q = Ref.randn(arena, rnd, 1, 1, 2, 8), k = Ref.randn(arena, rnd, 1, 1, 3, 8), v = Ref.randn(arena, rnd, 1, 1, 3, 8);
            Tensor m = Tensor.allocate(arena, DType.F32, 1, 3);   // all zeros: everything masked
            Tensor out = Tensor.allocate(arena, DType.F32, 1, 2, 8);
            Attention.forward(q, k, v, m, 2, false, 0, out);
            for (int e = 0; e < 8; e++) {
                double mean = (v.getFloat(e) + v.getFloat(8 + e) + v.getFloat(16 + e)) / 3;
                assertEquals(mean, out.getFloat(e), 1e-6);
                assertFalse(Float.isNaN(out.getFloat(8 + e)));
            }
        }
    }

    @Test
    void causalRowsWhoseVisibleKeysAreAllPaddedMatchHfsMask() {
        // Left padding: row 1 pads its first 3 keys, so its first query (position 2) sees only padded keys and, as
        // under HF's float-minimum mask, weighs all 6 keys alike; the other queries ignore the padding.
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(17);
            int b = 2, sq = 4, sk = 6, heads = 2, d = 32, offset = 2;
            Tensor q = Ref.randn(arena, rnd, 1, b, sq, heads * d), k = Ref.randn(arena, rnd, 1, b, sk, heads * d), v = Ref.randn(arena, rnd, 1, b, sk, heads * d);
            int[] mask = {1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1};
            Tensor m = Tensor.allocate(arena, DType.I32, b, sk);
            for (int i = 0; i < mask.length; i++) m.setInt(i, mask[i]);
            Tensor out = Tensor.allocate(arena, DType.F32, b, sq, heads * d);
            Attention.forward(q, k, v, m, heads, true, offset, out);
            double[] ref = reference(q, k, v, mask, heads, true, offset);
            assertTrue(Ref.maxAbsError(out, ref) < 2e-6, "max abs error " + Ref.maxAbsError(out, ref));
        }
    }

    @Test
    void aDecodeStepNeverReadsCachePositionsPastItsOwn() {
        // A KV cache is allocated for the longest context; the unwritten tail may hold anything.
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(23);
            int heads = 2, d = 64, filled = 11, capacity = 40;
            Tensor q = Ref.randn(arena, rnd, 1, 1, 1, heads * d), k = Ref.randn(arena, rnd, 1, 1, capacity, heads * d), v = Ref.randn(arena, rnd, 1, 1, capacity, heads * d);
            Tensor kShort = Tensor.allocate(arena, DType.F32, 1, filled, heads * d), vShort = Tensor.allocate(arena, DType.F32, 1, filled, heads * d);
            kShort.segment().copyFrom(k.segment().asSlice(0, kShort.segment().byteSize()));
            vShort.segment().copyFrom(v.segment().asSlice(0, vShort.segment().byteSize()));
            for (long i = (long) filled * heads * d; i < k.numel(); i++) {
                k.setFloat(i, Float.NaN);
                v.setFloat(i, Float.POSITIVE_INFINITY);
            }
            Tensor out = Tensor.allocate(arena, DType.F32, 1, 1, heads * d), expected = Tensor.allocate(arena, DType.F32, 1, 1, heads * d);
            Attention.forward(q, k, v, null, heads, true, filled - 1, out);
            Attention.forward(q, kShort, vShort, null, heads, true, filled - 1, expected);
            for (int e = 0; e < heads * d; e++) assertEquals(expected.getFloat(e), out.getFloat(e), 0f, "feature " + e);
            double[] ref = reference(q, kShort, vShort, null, heads, true, filled - 1);
            assertTrue(Ref.maxAbsError(out, ref) < 2e-6, "max abs error " + Ref.maxAbsError(out, ref));
        }
    }

    @Test
    void badShapesThrow() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.allocate(arena, DType.F32, 1, 2, 8), k = Tensor.allocate(arena, DType.F32, 1, 3, 8);
            Tensor out = Tensor.allocate(arena, DType.F32, 1, 2, 8);
            assertThrows(IllegalArgumentException.class, () -> Attention.forward(q, k, k, null, 3, false, 0, out));
            assertThrows(IllegalArgumentException.class, () -> Attention.forward(q, k, Tensor.allocate(arena, DType.F32, 1, 4, 8), null, 2, false, 0, out));
            assertThrows(IllegalArgumentException.class, () -> Attention.forward(q, k, k, null, 2, true, 2, out));
        }
    }
}
