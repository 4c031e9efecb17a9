package dev.zq.lkd.autodiff;

import dev.zq.quant.GroupwiseQuantizer;
import dev.zq.quant.WeightGranularity;
import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every op's backward rule against central finite differences in double precision: the loss is
 * Σ op(inputs) ⊙ R for a fixed random R, so every output element carries a different gradient.
 */
class GradientCheckTest {
    static final Random RND = new Random(17);

    static Var rand(int... shape) {
        double[] d = new double[Var.numel(shape)];
        for (int i = 0; i < d.length; i++) d[i] = RND.nextGaussian();
        return Var.param(d, shape);
    }

    static double loss(Var out, double[] r) {
        double s = 0;
        for (int i = 0; i < r.length; i++) s += out.data[i] * r[i];
        return s;
    }

    /** Checks d loss / d input for every element of every input. */
    static void check(String name, Function<Var[], Var> f, Var... inputs) {
        Var out = f.apply(inputs);
        double[] r = new double[out.numel()];
        for (int i = 0; i < r.length; i++) r[i] = RND.nextGaussian();
        for (Var in : inputs) in.zeroGrad();
        Var lin = linearLoss(out, r);
        lin.backward();
        double h = 1e-6;
        for (int k = 0; k < inputs.length; k++) {
            Var in = inputs[k];
            double[] analytic = in.grad().clone();
            for (int i = 0; i < in.numel(); i++) {
                double keep = in.data[i];
                in.data[i] = keep + h;
                double up = loss(f.apply(inputs), r);
                in.data[i] = keep - h;
                double down = loss(f.apply(inputs), r);
                in.data[i] = keep;
                double numeric = (up - down) / (2 * h);
                assertEquals(numeric, analytic[i], 1e-6 * Math.max(1, Math.abs(numeric)),
                        name + ": d/d input " + k + "[" + i + "]");
            }
        }
    }

    /** Σ out ⊙ r as a Var: mul by a constant, reshape to a row, linear with a ones vector. */
    static Var linearLoss(Var out, double[] r) {
        Var prod = Ops.mul(out, Var.constant(r, out.shape));
        Var row = Ops.reshape(prod, 1, prod.numel());
        double[] ones = new double[prod.numel()];
        java.util.Arrays.fill(ones, 1);
        return Ops.reshape(Ops.linear(row, Var.constant(ones, 1, prod.numel()), null), new int[0]);
    }

    @Test void linear() { check("linear", in -> Ops.linear(in[0], in[1], in[2]), rand(2, 3, 5), rand(4, 5), rand(4)); }
    @Test void linearWithoutBias() { check("linear", in -> Ops.linear(in[0], in[1], null), rand(3, 7), rand(2, 7)); }
    @Test void add() { check("add", in -> Ops.add(in[0], in[1]), rand(3, 4), rand(3, 4)); }
    @Test void mul() { check("mul", in -> Ops.mul(in[0], in[1]), rand(3, 4), rand(3, 4)); }
    @Test void reshape() { check("reshape", in -> Ops.mul(Ops.reshape(in[0], 4, 3), in[1]), rand(3, 4), rand(4, 3)); }
    @Test void transpose() { check("transpose", in -> Ops.mul(Ops.transpose(in[0]), in[1]), rand(3, 5), rand(5, 3)); }
    @Test void layerNorm() { check("layerNorm", in -> Ops.layerNorm(in[0], in[1], in[2], 1e-5), rand(2, 3, 6), rand(6), rand(6)); }
    @Test void rmsNorm() { check("rmsNorm", in -> Ops.rmsNorm(in[0], in[1], 1e-5), rand(2, 3, 6), rand(6)); }
    @Test void silu() { check("silu", in -> Ops.silu(in[0]), rand(4, 6)); }
    @Test void rope() { check("rope", in -> Ops.rope(in[0], 2, 10000), rand(2, 5, 8)); }
    @Test void repeatKv() { check("repeatKv", in -> Ops.mul(Ops.repeatKv(in[0], 2, 6), in[1]), rand(2, 3, 8), rand(2, 3, 24)); }

    @Test
    void ropeIsTheTensorModulesRotaryEmbeddingAndKeepsEachPairsLength() {
        Var x = rand(2, 7, 12);
        Var y = Ops.rope(x, 3, 500);
        try (Arena a = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(a, DType.F32, 2, 7, 12);
            for (int i = 0; i < x.numel(); i++) t.setFloat(i, (float) x.data[i]);
            dev.zq.tensor.Rope.apply(t, 3, 0, 500f);
            for (int i = 0; i < x.numel(); i++) assertEquals(t.getFloat(i), y.data[i], 1e-5, "element " + i);
        }
        for (int row = 0; row < 14; row++)
            for (int h = 0; h < 3; h++)
                for (int i = 0; i < 2; i++) {
                    int a = row * 12 + h * 4 + i, b = a + 2;
                    assertEquals(Math.hypot(x.data[a], x.data[b]), Math.hypot(y.data[a], y.data[b]), 1e-12);
                }
        for (int j = 0; j < 12; j++) assertEquals(x.data[j], y.data[j], 0, "position 0 is not rotated");
    }

    @Test void gelu() { check("gelu", in -> Ops.gelu(in[0]), rand(4, 6)); }
    @Test void geluTanh() { check("geluTanh", in -> Ops.geluTanh(in[0]), rand(4, 6)); }
    @Test void narrow() { check("narrow", in -> Ops.mul(Ops.narrow(in[0], 2, 3), in[1]), rand(2, 2, 7), rand(2, 2, 3)); }
    @Test void softmax() { check("softmax", in -> Ops.softmax(in[0]), rand(3, 5)); }
    @Test void mse() { check("mse", in -> Ops.mse(in[0], in[1]), rand(3, 4), rand(3, 4)); }
    @Test void elementWeightedMse() {
        double[] w = new double[24];
        for (int i = 0; i < w.length; i++) w[i] = 0.1 + (i * 7 % 11) / 5.0;
        check("elementWeightedMse", in -> Ops.elementWeightedMse(in[0], in[1], w), rand(2, 3, 4), rand(2, 3, 4));
    }
    @Test void crossEntropy() { check("crossEntropy", in -> Ops.crossEntropy(in[0], new int[]{4, 0, 2, 3, 1, 4}), rand(2, 3, 5)); }
    @Test
    void klDivergence() {
        Var t = rand(2, 3, 5);
        double[] target = new double[t.numel()];
        for (int r = 0; r < 6; r++) {   // a softmax of random numbers a row, one probability 0
            double sum = 0;
            for (int v = 0; v < 5; v++) sum += target[r * 5 + v] = v == r % 5 ? 0 : Math.exp(t.data[r * 5 + v]);
            for (int v = 0; v < 5; v++) target[r * 5 + v] /= sum;
        }
        check("klDivergence", in -> Ops.klDivergence(in[0], target), rand(2, 3, 5));
        Var logits = rand(2, 3, 5);
        double[] own = new double[logits.numel()];
        for (int r = 0; r < 6; r++) {
            double sum = 0;
            for (int v = 0; v < 5; v++) sum += own[r * 5 + v] = Math.exp(logits.data[r * 5 + v]);
            for (int v = 0; v < 5; v++) own[r * 5 + v] /= sum;
        }
        assertEquals(0, Ops.klDivergence(logits, own).item(), 1e-12, "a distribution's divergence from itself");
        assertTrue(Ops.klDivergence(logits, target).item() > 0);
        assertThrows(IllegalArgumentException.class, () -> Ops.klDivergence(logits, new double[5]));
    }

    @Test void rowWeightedMse() { check("rowWeightedMse", in -> Ops.rowWeightedMse(in[0], in[1], new double[]{0.3, 2.0, 1.0, 0.7, 1.5, 0.5}), rand(2, 3, 4), rand(2, 3, 4)); }

    @Test
    void embedding() {
        int[] ids = {2, 0, 2, 4};
        check("embedding", in -> Ops.embedding(in[0], ids), rand(5, 3));
    }

    @Test
    void maskedAttention() {
        int[] mask = {1, 1, 1, 0, 1, 1, 0, 0};   // batch 2, seq 4, padding at the end of each row
        check("attention", in -> AttentionOp.attention(in[0], in[1], in[2], mask, 2), rand(2, 4, 6), rand(2, 4, 6), rand(2, 4, 6));
        check("attention, no mask", in -> AttentionOp.attention(in[0], in[1], in[2], null, 3), rand(1, 3, 6), rand(1, 3, 6), rand(1, 3, 6));
        check("attention, causal", in -> AttentionOp.attention(in[0], in[1], in[2], null, 2, true), rand(2, 5, 4), rand(2, 5, 4), rand(2, 5, 4));
    }

    @Test
    void causalAttentionIgnoresLaterKeys() {
        Var q = rand(1, 4, 4), k = rand(1, 4, 4), v = rand(1, 4, 4);
        Var before = AttentionOp.attention(q, k, v, null, 2, true);
        for (int i = 12; i < 16; i++) { k.data[i] += 3; v.data[i] -= 2; }   // change only the last position's key and value
        Var after = AttentionOp.attention(q, k, v, null, 2, true);
        for (int i = 0; i < 12; i++) assertEquals(before.data[i], after.data[i], 0.0, "position " + i / 4 + " saw a later key");
        assertNotEquals(before.data[12], after.data[12]);
    }

    @Test
    void aWholeBertStyleLayerComposes() {
        int[] mask = {1, 1, 1, 1, 1, 0};
        check("layer", in -> {
            Var x = in[0];
            Var q = Ops.linear(x, in[1], null), k = Ops.linear(x, in[2], null), v = Ops.linear(x, in[3], null);
            Var a = Ops.add(AttentionOp.attention(q, k, v, mask, 2), x);
            Var n = Ops.layerNorm(a, in[4], in[5], 1e-12);
            return Ops.add(Ops.linear(Ops.gelu(Ops.linear(n, in[6], null)), in[7], null), n);
        }, rand(2, 3, 4), rand(4, 4), rand(4, 4), rand(4, 4), rand(4), rand(4), rand(8, 4), rand(4, 8));
    }

    @Test
    void erfIsAccurate() {
        // Reference values of erf from tables (Abramowitz & Stegun 7.1).
        assertEquals(0.5204998778130465, Ops.erf(0.5), 1e-14);
        assertEquals(0.8427007929497149, Ops.erf(1.0), 1e-14);
        assertEquals(0.9953222650189527, Ops.erf(2.0), 1e-13);
        assertEquals(0.9999779095030014, Ops.erf(3.0), 1e-12);
        assertEquals(-0.9999999845827421, Ops.erf(-4.0), 1e-11);
    }

    @Test
    void fakeQuantForwardIsExactlyZqsQuantizerAndBackwardIsStraightThrough() {
        for (int bits : new int[]{8, 4}) {
            Var w = rand(6, 16);
            w.data[5] = 0;
            for (int i = 16; i < 24; i++) w.data[i] = 0;          // an all-zero group of 8
            Var fq = FakeQuant.weights(w, bits, 8);
            try (Arena arena = Arena.ofConfined()) {
                Tensor t = Tensor.allocate(arena, DType.F32, 6, 16);
                for (int i = 0; i < 96; i++) t.setFloat(i, (float) w.data[i]);
                Tensor deq = new GroupwiseQuantizer(bits, WeightGranularity.groups(8)).quantize(t, arena).dequantize(arena);
                for (int i = 0; i < 96; i++) assertEquals(deq.getFloat(i), fq.data[i], 0.0, "INT" + bits + " value " + i);
            }
            Var x = rand(3, 16);
            Var tq = FakeQuant.tokenwise(x, 8);
            for (int r = 0; r < 3; r++) {
                float max = 0;
                for (int i = 0; i < 16; i++) max = Math.max(max, Math.abs((float) x.data[r * 16 + i]));
                for (int i = 0; i < 16; i++) {
                    float s = max / 127f;
                    assertEquals((float) (Math.round((float) x.data[r * 16 + i] / s) * s), tq.data[r * 16 + i], 1e-6 * max);
                }
            }
            double[] r = new double[96];
            for (int i = 0; i < 96; i++) r[i] = i;
            w.zeroGrad();
            linearLoss(fq, r).backward();
            assertArrayEquals(r, w.grad(), 0.0, "straight-through: the gradient passes unchanged");
        }
        Var bad = Var.param(new double[]{1, Double.NaN}, 1, 2);
        assertThrows(IllegalArgumentException.class, () -> FakeQuant.tokenwise(bad, 8));
    }

    @Test
    void clippedFakeQuantEqualsZqsQuantizerOnTheExportedWeightsAndHasLsqGradients() {
        for (int bits : new int[]{8, 4}) {
            Var w = rand(4, 16);
            for (int i = 16; i < 24; i++) w.data[i] = 0;          // an all-zero group
            double[] max = FakeQuant.groupMax(w.data, 8);
            double[] c = max.clone();
            c[0] *= 0.6;                                         // clips
            c[2] *= 1.5;                                         // above the max: no clipping
            c[3] *= 0.9;
            Var clip = Var.param(c, 8);
            Var fq = FakeQuant.weightsClipped(w, clip, bits, 8);
            float[] exported = FakeQuant.clamped(w.data, c, 8);
            try (Arena arena = Arena.ofConfined()) {
                Tensor t = Tensor.allocate(arena, DType.F32, 4, 16);
                for (int i = 0; i < 64; i++) t.setFloat(i, exported[i]);
                Tensor deq = new GroupwiseQuantizer(bits, WeightGranularity.groups(8)).quantize(t, arena).dequantize(arena);
                for (int i = 0; i < 64; i++) assertEquals(deq.getFloat(i), fq.data[i], 0.0, "INT" + bits + " value " + i);
            }
            for (int i = 8; i < 16; i++) assertEquals(FakeQuant.weights(w, bits, 8).data[i], fq.data[i], 0.0, "clip at the max = plain ZeroQuant");
            double[] r = new double[64];
            for (int i = 0; i < 64; i++) r[i] = RND.nextGaussian();
            w.zeroGrad();
            clip.zeroGrad();
            linearLoss(fq, r).backward();
            int Q = (1 << (bits - 1)) - 1;
            for (int g = 0; g < 8; g++) {
                double cg = Math.min(c[g], max[g]), s = cg / Q, expect = 0;
                for (int i = g * 8; i < g * 8 + 8; i++) {
                    boolean inside = Math.abs((float) w.data[i]) <= (float) cg;
                    assertEquals(inside ? r[i] : 0, w.grad()[i], 0.0, "weight " + i);
                    if (c[g] <= max[g] && max[g] > 0) expect += r[i] * (inside ? (fq.data[i] - w.data[i]) / s / Q : Math.signum(w.data[i]));
                }
                assertEquals(expect, clip.grad()[g], 1e-6, "clip " + g);
                if (c[g] > max[g]) assertEquals(0, clip.grad()[g], 0.0, "a clip above the max learns nothing");
            }
            // Clipped values are exactly ±c, so there the estimator is the true derivative: nudge c, watch them move.
            double h = 1e-3 * c[0];
            double[] c2 = c.clone();
            c2[0] += h;
            Var moved = FakeQuant.weightsClipped(w, Var.constant(c2, 8), bits, 8);
            for (int i = 0; i < 8; i++)
                if (Math.abs((float) w.data[i]) > (float) c2[0]) assertEquals(Math.signum(w.data[i]), (moved.data[i] - fq.data[i]) / h, 1e-3, "clipped value " + i);
            assertTrue(clip.grad()[0] != 0, "an active clip gets a gradient");
            assertTrue(clip.grad()[1] != 0, "a clip at the group's max (where training starts) gets its gradient from below");
        }
    }

    @Test
    void adaRoundSoftWeightsAndRegulariser() {
        Var w = rand(3, 16);
        AdaRound a = new AdaRound(w, 4, 8);
        check("adaRound soft", in -> a.quantized(false), a.v);
        check("adaRound regulariser", in -> Ops.reshape(a.regularizer(3.0, 0.7), 1), a.v);
    }

    @Test
    void adaRoundStartsAtRoundToNearestAndExportsExactlyItsCodes() {
        for (int bits : new int[]{8, 4}) {
            Var w = rand(4, 16);
            for (int i = 16; i < 24; i++) w.data[i] = 0;          // an all-zero group
            AdaRound a = new AdaRound(w, bits, 8);
            Var hard = a.quantized(true);
            double[] rtn = FakeQuant.weights(w, bits, 8).data;
            for (int i = 0; i < 64; i++) assertEquals(rtn[i], hard.data[i], 0.0, "INT" + bits + " starts as round-to-nearest, " + i);
            for (int i = 0; i < 64; i++) a.v.data[i] = RND.nextGaussian() * 3;    // any learned rounding
            hard = a.quantized(true);
            int changed = 0;
            for (int i = 0; i < 64; i++) if (hard.data[i] != rtn[i]) changed++;
            assertTrue(changed > 10, "the rounding moved " + changed + " weights");
            float[] exported = a.exported();
            try (Arena arena = Arena.ofConfined()) {
                Tensor t = Tensor.allocate(arena, DType.F32, 4, 16);
                for (int i = 0; i < 64; i++) t.setFloat(i, exported[i]);
                Tensor deq = new GroupwiseQuantizer(bits, WeightGranularity.groups(8)).quantize(t, arena).dequantize(arena);
                for (int i = 0; i < 64; i++) assertEquals(hard.data[i], deq.getFloat(i), 0.0, "zq quantizes the export to the learned code, " + i);
            }
            double[] max = FakeQuant.groupMax(w.data, 8);
            for (int i = 0; i < 64; i++)
                assertTrue(Math.abs(hard.data[i] - w.data[i]) <= 1.0001 * max[i / 8] / ((1 << (bits - 1)) - 1), "only up or down: within a step, " + i);
            AdaRound again = a.restarted(Var.constant(toDouble(exported), 4, 16));
            assertArrayEquals(hard.data, again.quantized(true).data, 0.0, "a restart from the export keeps the codes");
        }
        assertThrows(IllegalArgumentException.class, () -> new AdaRound(Var.param(new double[]{1, Double.NaN}, 1, 2), 4, 2));
    }

    static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }
}
