package dev.zq.lkd.autodiff;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The blocked matrix products against plain triple loops, over shapes that leave every kind of remainder (rows, vector tails). */
class DMathTest {
    @Test
    void blockedProductsEqualPlainLoops() {
        Random rnd = new Random(5);
        for (int R : new int[]{1, 3, 4, 5, 9})
            for (int K : new int[]{1, 7, 16, 37})
                for (int N : new int[]{1, 2, 5, 8}) {
                    double[] a = random(rnd, R * K), b = random(rnd, N * K), g = random(rnd, R * N);
                    g[0] = 0;   // zero coefficients take the one-row path
                    if (g.length > 5) g[5] = 0;
                    String at = R + "x" + K + "x" + N;

                    double[] c = random(rnd, R * N), ref = c.clone();
                    DMath.mulNT(a, b, c, R, K, N, true);
                    for (int r = 0; r < R; r++) for (int n = 0; n < N; n++) for (int k = 0; k < K; k++) ref[r * N + n] += a[r * K + k] * b[n * K + k];
                    close(ref, c, "mulNT " + at);

                    double[] dx = random(rnd, R * K), refDx = dx.clone();   // dx += g · b
                    DMath.mulNN(g, b, dx, R, N, K);
                    for (int r = 0; r < R; r++) for (int n = 0; n < N; n++) for (int k = 0; k < K; k++) refDx[r * K + k] += g[r * N + n] * b[n * K + k];
                    close(refDx, dx, "mulNN " + at);

                    double[] dw = random(rnd, N * K), refDw = dw.clone();   // dw += gᵀ · a
                    DMath.mulTN(g, a, dw, R, N, K);
                    for (int r = 0; r < R; r++) for (int n = 0; n < N; n++) for (int k = 0; k < K; k++) refDw[n * K + k] += g[r * N + n] * a[r * K + k];
                    close(refDw, dw, "mulTN " + at);
                }
    }

    private static double[] random(Random rnd, int n) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) x[i] = rnd.nextGaussian();
        return x;
    }

    private static void close(double[] expect, double[] actual, String what) {
        for (int i = 0; i < expect.length; i++) assertEquals(expect[i], actual[i], 1e-12 * (1 + Math.abs(expect[i])), what + " element " + i);
    }
}
