package dev.zq.lkd;

import dev.zq.lkd.autodiff.DMath;
import dev.zq.lkd.autodiff.FakeQuant;
import dev.zq.lkd.autodiff.Var;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** GPTQ's rounding: the factor it reads is H⁻¹'s, it beats rounding to nearest on correlated inputs, and its codes survive export. */
class GptqTest {
    static final int N = 24, K = 64, T = 512, GROUP = 16;

    /** Inputs whose coordinates are strongly correlated (a few shared factors plus noise), as a layer's inputs are. */
    static double[] correlatedInputs(Random r) {
        double[] mix = new double[4 * K];
        for (int i = 0; i < mix.length; i++) mix[i] = r.nextGaussian();
        double[] x = new double[T * K];
        for (int t = 0; t < T; t++) {
            double[] f = {r.nextGaussian(), r.nextGaussian(), r.nextGaussian(), r.nextGaussian()};
            for (int k = 0; k < K; k++) {
                double v = 0.3 * r.nextGaussian();
                for (int j = 0; j < 4; j++) v += f[j] * mix[j * K + k];
                x[t * K + k] = v;
            }
        }
        return x;
    }

    static double[] randomWeights(Random r) {
        double[] w = new double[N * K];
        for (int i = 0; i < w.length; i++) w[i] = 0.1 * r.nextGaussian();
        return w;
    }

    /** Σ_t ‖(W − Ŵ)·x_t‖². */
    static double outputError(double[] w, double[] wq, double[] x) {
        double e = 0;
        for (int t = 0; t < T; t++)
            for (int n = 0; n < N; n++) {
                double d = 0;
                for (int k = 0; k < K; k++) d += (w[n * K + k] - wq[n * K + k]) * x[t * K + k];
                e += d * d;
            }
        return e;
    }

    static double[] gram(double[] x) {
        double[] h = new double[K * K];
        DMath.addGram(x, T, K, h);
        return h;
    }

    @Test
    void theFactorItReadsIsTheInverseGramMatrixs() {
        Random r = new Random(1);
        double[] h = gram(correlatedInputs(r));
        for (int i = 0; i < K; i++) h[i * K + i] += 0.01;
        double[] u = Gptq.inverseUpperFactor(h, K);
        for (int i = 0; i < K; i++) for (int j = 0; j < i; j++) assertEquals(0, u[i * K + j], "U is upper triangular");
        // Uᵀ·U·H = I
        double worst = 0;
        for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++) {
                double s = 0;
                for (int k = 0; k < K; k++) {
                    double hinv = 0;
                    for (int m = 0; m <= Math.min(i, k); m++) hinv += u[m * K + i] * u[m * K + k];
                    s += hinv * h[k * K + j];
                }
                worst = Math.max(worst, Math.abs(s - (i == j ? 1 : 0)));
            }
        assertTrue(worst < 1e-8, "Uᵀ·U·H − I: " + worst);
    }

    @Test
    void itsOutputErrorIsFarBelowRoundingToNearestsAndItsCodesSurviveTheMaxBasedQuantizer() {
        for (int bits : new int[]{4, 8}) {
            Random r = new Random(bits);
            double[] x = correlatedInputs(r), w = randomWeights(r);
            double[] rtn = FakeQuant.weights(Var.constant(w, N, K), bits, GROUP).data;
            double[] latent = w.clone();
            double[] g = Gptq.quantize(latent, N, K, gram(x), bits, GROUP);
            double eRtn = outputError(w, rtn, x), eGptq = outputError(w, g, x);
            assertTrue(eGptq < 0.5 * eRtn, bits + " bits: GPTQ " + eGptq + " against rounding to nearest " + eRtn);
            // zq's quantizer (max-based scales) takes the values left in place to exactly the rounded weights: codes and scales
            double[] again = FakeQuant.weights(Var.constant(latent, N, K), bits, GROUP).data;
            assertArrayEquals(g, again, "the latent weights quantize to GPTQ's");
            double[] twice = FakeQuant.weights(Var.constant(g, N, K), bits, GROUP).data;
            for (int i = 0; i < g.length; i++) assertEquals((float) g[i], (float) twice[i], Math.ulp((float) g[i]), "element " + i);
            int off = 0;
            for (int i = 0; i < g.length; i++) if (latent[i] != g[i]) off++;
            assertTrue(off > g.length / 2, "the latent weights lie between the grid's points, not on them: " + off);
            int Q = (1 << (bits - 1)) - 1;
            for (int grp = 0; grp < g.length / GROUP; grp++) {
                double max = 0;
                for (int i = grp * GROUP; i < (grp + 1) * GROUP; i++) max = Math.max(max, Math.abs(g[i]));
                double scale = max / Q;
                for (int i = grp * GROUP; i < (grp + 1) * GROUP; i++) {
                    double c = g[i] / scale;
                    assertEquals(Math.rint(c), c, 1e-4, "a code at " + i);
                    assertTrue(Math.abs(c) <= Q + 1e-4);
                }
            }
        }
    }

    @Test
    void zeroGroupsDeadInputsAndBadInputAreHandled() {
        Random r = new Random(3);
        double[] x = correlatedInputs(r), w = randomWeights(r);
        for (int t = 0; t < T; t++) x[t * K + 5] = 0;                 // an input that is always 0
        for (int k = 0; k < GROUP; k++) w[2 * K + k] = 0;             // an all-zero group
        double[] g = Gptq.quantize(w.clone(), N, K, gram(x), 4, GROUP);
        for (double v : g) assertTrue(Double.isFinite(v));
        for (int k = 0; k < GROUP; k++) assertEquals(0, g[2 * K + k]);
        assertThrows(IllegalArgumentException.class, () -> Gptq.quantize(w.clone(), N, K, gram(x), 4, 24), "a group that does not divide K");
        double[] nan = w.clone();
        nan[7] = Double.NaN;
        assertThrows(IllegalArgumentException.class, () -> Gptq.quantize(nan, N, K, gram(x), 4, GROUP));
        assertThrows(IllegalArgumentException.class, () -> Gptq.quantize(w.clone(), N, K, new double[K * K], 4, GROUP), "no data");
    }
}
