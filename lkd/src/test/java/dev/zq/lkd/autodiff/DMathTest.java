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

    /**
     * mulNN and mulTN give, bit for bit, what adding one scaled row of b at a time gives — the order and roundings any
     * faster version must keep (LKD's runs repeat bit for bit): for each output row and each nonzero coefficient in order, a
     * fused multiply-add on the elements before the vector loop's bound and a multiply then an add past it; zero
     * coefficients skipped. Shapes leave every remainder (rows outside four-row blocks, more than 16 rows, vector tails).
     */
    @Test
    void productsGiveTheBitsOfOneRowAtATime() {
        Random rnd = new Random(11);
        int L = jdk.incubator.vector.DoubleVector.SPECIES_PREFERRED.length();
        for (int R : new int[]{1, 4, 6, 8, 13, 37})
            for (int K : new int[]{1, L - 1, L, 2 * L, 3 * L, 3 * L + 1, 5 * L + 3, 64, 704})
                for (int N : new int[]{1, 3, 4, 9, 21}) {
                    if (K <= 0) continue;
                    double[] g = random(rnd, R * N), b = random(rnd, N * K), a = random(rnd, R * K);
                    for (int i = 0; i < g.length; i += 3) g[i] = 0;   // zero coefficients inside the tiles
                    String at = R + "x" + N + "x" + K;

                    double[] dx = random(rnd, R * K), want = dx.clone();   // dx += g · b
                    DMath.mulNN(g, b, dx, R, N, K);
                    for (int r = 0; r < R; r++) for (int n = 0; n < N; n++) oneRow(g[r * N + n], b, n * K, want, r * K, K);
                    same(want, dx, "mulNN " + at);

                    double[] dw = random(rnd, N * K), wantW = dw.clone();   // dw += gᵀ · a
                    DMath.mulTN(g, a, dw, R, N, K);
                    for (int n = 0; n < N; n++) for (int r = 0; r < R; r++) oneRow(g[r * N + n], a, r * K, wantW, n * K, K);
                    same(wantW, dw, "mulTN " + at);
                }
    }

    /** y[yo..] += x·v[vo..] as the one-row loop did it: skipped for x = 0, fused before the vector bound, plain after it. */
    private static void oneRow(double x, double[] v, int vo, double[] y, int yo, int n) {
        if (x == 0) return;
        int bound = jdk.incubator.vector.DoubleVector.SPECIES_PREFERRED.loopBound(n);
        for (int k = 0; k < n; k++) y[yo + k] = k < bound ? Math.fma(v[vo + k], x, y[yo + k]) : y[yo + k] + x * v[vo + k];
    }

    private static void same(double[] expect, double[] actual, String what) {
        for (int i = 0; i < expect.length; i++)
            if (Double.doubleToRawLongBits(expect[i]) != Double.doubleToRawLongBits(actual[i]))
                throw new AssertionError(what + " element " + i + ": " + actual[i] + " against " + expect[i]);
    }

    /**
     * The same product gives the same bits on every call, before and after the JIT compiles it: each vector accumulator's
     * lanes are summed in a fixed order ({@link DMath#sum}). With {@code reduceLanes(ADD)} nearly every call after the first
     * few hundred differed from the first in its last bits (C2's reduction order is not the interpreter's).
     */
    @Test
    void theSameProductGivesTheSameBitsOnEveryCall() {
        Random rnd = new Random(9);
        int R = 24, K = 64, N = 96;
        double[] a = random(rnd, R * K), b = random(rnd, N * K), first = new double[R * N], again = new double[R * N];
        DMath.mulNT(a, b, first, R, K, N, false);
        for (int call = 0; call < 20_000; call++) {
            DMath.mulNT(a, b, again, R, K, N, false);
            for (int i = 0; i < first.length; i++)
                if (Double.doubleToRawLongBits(first[i]) != Double.doubleToRawLongBits(again[i]))
                    throw new AssertionError("call " + call + " element " + i + ": " + again[i] + " against the first call's " + first[i]);
        }
        double[] lanes = {1e16, 1, -1e16, 1, 3, 5, 7, 9};   // a sum whose value depends on the order
        var v = jdk.incubator.vector.DoubleVector.fromArray(jdk.incubator.vector.DoubleVector.SPECIES_PREFERRED, lanes, 0);
        double want = switch (v.length()) {   // pairs, then pairs of pairs
            case 2 -> lanes[0] + lanes[1];
            case 4 -> (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
            case 8 -> ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
            default -> Double.NaN;
        };
        if (v.length() <= 8) assertEquals(want, DMath.sum(v));
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
