package dev.zq.lkd.autodiff;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The vectorized attention against the scalar reference it replaced: the same output, probabilities' effects and gradients,
 * bit for bit (an LKD run must repeat itself exactly, and its results must not move with the rewrite). Shapes whose key
 * count and head size are not multiples of a vector's lanes, causal and padded keys, a row whose keys are all padding.
 */
class AttentionOpTest {
    private static final Random RND = new Random(23);

    private static double[] gaussian(int n) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) d[i] = RND.nextGaussian() * 2;
        return d;
    }

    /** Output and the three gradients of Σ attention(q, k, v) ⊙ r, by {@code fast} or by the reference. */
    private static double[][] run(boolean fast, double[] qd, double[] kd, double[] vd, double[] r, int B, int S, int HD, int[] mask, int heads,
                                  boolean causal) {
        Var q = Var.param(qd.clone(), B, S, HD), k = Var.param(kd.clone(), B, S, HD), v = Var.param(vd.clone(), B, S, HD);
        Var out = fast ? AttentionOp.attention(q, k, v, mask, heads, causal) : AttentionOp.reference(q, k, v, mask, heads, causal);
        Ops.mse(out, Var.constant(r, B, S, HD)).backward();
        return new double[][]{out.data, q.grad(), k.grad(), v.grad()};
    }

    private static void same(int B, int S, int heads, int D, int[] mask, boolean causal) {
        int HD = heads * D, n = B * S * HD;
        double[] qd = gaussian(n), kd = gaussian(n), vd = gaussian(n), r = gaussian(n);
        double[][] want = run(false, qd, kd, vd, r, B, S, HD, mask, heads, causal), got = run(true, qd, kd, vd, r, B, S, HD, mask, heads, causal);
        String[] names = {"output", "dq", "dk", "dv"};
        for (int t = 0; t < 4; t++) {
            int tt = t;
            for (int i = 0; i < n; i++)
                assertEquals(Double.doubleToRawLongBits(want[t][i]), Double.doubleToRawLongBits(got[t][i]),
                        () -> "B " + B + " S " + S + " heads " + heads + " D " + D + (causal ? " causal" : "") + ": " + names[tt] + " differs");
            assertTrue(java.util.Arrays.stream(want[t]).anyMatch(x -> x != 0), names[t] + " all zero: the check would be empty");
        }
    }

    @Test
    void causalAttentionGivesTheReferencesBits() {
        same(2, 37, 3, 13, null, true);
        same(1, 70, 2, 64, null, true);
        same(3, 5, 4, 8, null, true);
    }

    @Test
    void paddedAttentionGivesTheReferencesBits() {
        int S = 19;
        int[] mask = new int[2 * S];
        for (int j = 0; j < S; j++) { mask[j] = j < 15 ? 1 : 0; mask[S + j] = j % 3 == 0 ? 0 : 1; }
        same(2, S, 3, 16, mask, false);
        same(2, S, 3, 16, mask, true);
        same(1, 33, 2, 9, null, false);
    }

    @Test
    void aRowWithEveryKeyMaskedGivesTheReferencesBits() {
        int S = 11;
        int[] mask = new int[2 * S];
        for (int j = 0; j < S; j++) { mask[j] = 0; mask[S + j] = j < 4 ? 0 : 1; }   // the first window all padding; the second's first rows see none under the causal mask
        same(2, S, 2, 12, mask, false);
        same(2, S, 2, 12, mask, true);
    }

    @Test
    void inputsThatShareOneVarStillGetTheirGradients() {
        Var x = Var.param(gaussian(2 * 5 * 8), 2, 5, 8);
        Var out = AttentionOp.attention(x, x, x, null, 2, true);
        Var x2 = Var.param(x.data.clone(), 2, 5, 8);
        Var want = AttentionOp.reference(x2, x2, x2, null, 2, true);
        assertArrayEquals(want.data, out.data);
        Ops.mse(out, Var.constant(new double[80], 2, 5, 8)).backward();
        Ops.mse(want, Var.constant(new double[80], 2, 5, 8)).backward();
        assertArrayEquals(x2.grad(), x.grad());
    }
}
