package dev.zq.lkd.autodiff;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.stream.IntStream;

/** The three matrix products a linear layer's forward and backward need, over row-major double arrays, multithreaded by output row. */
public final class DMath {
    private static final VectorSpecies<Double> S = DoubleVector.SPECIES_PREFERRED;
    private static final long PARALLEL_WORK = 1 << 16;

    private DMath() {}

    private static void rows(int n, long work, java.util.function.IntConsumer body) {
        if (work < PARALLEL_WORK || n == 1) for (int i = 0; i < n; i++) body.accept(i);
        else IntStream.range(0, n).parallel().forEach(body);
    }

    // Each task takes four rows of the output, so every row of the shared operand is read once per four rows instead of once
    // per row: the products were bound by streaming it from the caches. Every element is still summed in the same order.

    /** c[r][n] (+)= Σ_k a[r][k]·b[n][k]: a [R,K], b [N,K], c [R,N]. */
    static void mulNT(double[] a, double[] b, double[] c, int R, int K, int N, boolean accumulate) {
        rows((R + 3) / 4, (long) R * K * N, blk -> {
            int r0 = 4 * blk;
            if (R - r0 < 4) {
                for (int r = r0; r < R; r++) rowNT(a, b, c, r, K, N, accumulate);
                return;
            }
            int a0 = r0 * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K, bound = S.loopBound(K);
            for (int n = 0; n < N; n++) {
                int bo = n * K, k = 0;
                DoubleVector s0 = DoubleVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
                for (; k < bound; k += S.length()) {
                    DoubleVector bv = DoubleVector.fromArray(S, b, bo + k);
                    s0 = DoubleVector.fromArray(S, a, a0 + k).fma(bv, s0);
                    s1 = DoubleVector.fromArray(S, a, a1 + k).fma(bv, s1);
                    s2 = DoubleVector.fromArray(S, a, a2 + k).fma(bv, s2);
                    s3 = DoubleVector.fromArray(S, a, a3 + k).fma(bv, s3);
                }
                double t0 = sum(s0), t1 = sum(s1), t2 = sum(s2), t3 = sum(s3);
                for (; k < K; k++) {
                    double bk = b[bo + k];
                    t0 += a[a0 + k] * bk;
                    t1 += a[a1 + k] * bk;
                    t2 += a[a2 + k] * bk;
                    t3 += a[a3 + k] * bk;
                }
                int co = r0 * N + n;
                c[co] = accumulate ? c[co] + t0 : t0;
                c[co + N] = accumulate ? c[co + N] + t1 : t1;
                c[co + 2 * N] = accumulate ? c[co + 2 * N] + t2 : t2;
                c[co + 3 * N] = accumulate ? c[co + 3 * N] + t3 : t3;
            }
        });
    }

    private static void rowNT(double[] a, double[] b, double[] c, int r, int K, int N, boolean accumulate) {
        int ao = r * K;
        for (int n = 0; n < N; n++) {
            int bo = n * K;
            DoubleVector acc = DoubleVector.zero(S);
            int k = 0;
            for (int bound = S.loopBound(K); k < bound; k += S.length())
                acc = DoubleVector.fromArray(S, a, ao + k).fma(DoubleVector.fromArray(S, b, bo + k), acc);
            double s = sum(acc);
            for (; k < K; k++) s += a[ao + k] * b[bo + k];
            c[r * N + n] = accumulate ? c[r * N + n] + s : s;
        }
    }

    /**
     * The sum of {@code v}'s lanes in a fixed order (pairs, then pairs of pairs). Not {@code reduceLanes(ADD)}: the Vector API
     * leaves a floating-point reduction's order open, and once C2 compiled the products their sums came out in another
     * order than the interpreter's — the same product of the same inputs differed in its last bits from call to call, so an
     * LKD run did not repeat itself bit for bit.
     */
    static double sum(DoubleVector v) {
        return switch (v.length()) {
            case 2 -> v.lane(0) + v.lane(1);
            case 4 -> (v.lane(0) + v.lane(1)) + (v.lane(2) + v.lane(3));
            case 8 -> ((v.lane(0) + v.lane(1)) + (v.lane(2) + v.lane(3))) + ((v.lane(4) + v.lane(5)) + (v.lane(6) + v.lane(7)));
            default -> {
                double t = 0;
                for (int i = 0; i < v.length(); i++) t += v.lane(i);
                yield t;
            }
        };
    }

    /** c[r][k] += Σ_n a[r][n]·b[n][k]: a [R,N], b [N,K], c [R,K]. */
    static void mulNN(double[] a, double[] b, double[] c, int R, int N, int K) {
        rows((R + 3) / 4, (long) R * K * N, blk -> {
            int r0 = 4 * blk, rn = Math.min(4, R - r0);
            for (int n = 0; n < N; n++) {
                double x0 = a[r0 * N + n], x1 = rn > 1 ? a[(r0 + 1) * N + n] : 0, x2 = rn > 2 ? a[(r0 + 2) * N + n] : 0,
                        x3 = rn > 3 ? a[(r0 + 3) * N + n] : 0;
                fourAxpy(x0, x1, x2, x3, b, n * K, c, r0 * K, K, rn);
            }
        });
    }

    /** c[n][k] += Σ_r a[r][n]·b[r][k]: a [R,N], b [R,K], c [N,K]. */
    static void mulTN(double[] a, double[] b, double[] c, int R, int N, int K) {
        rows((N + 3) / 4, (long) R * K * N, blk -> {
            int n0 = 4 * blk, nn = Math.min(4, N - n0);
            for (int r = 0; r < R; r++) {
                int ao = r * N + n0;
                double x0 = a[ao], x1 = nn > 1 ? a[ao + 1] : 0, x2 = nn > 2 ? a[ao + 2] : 0, x3 = nn > 3 ? a[ao + 3] : 0;
                fourAxpy(x0, x1, x2, x3, b, r * K, c, n0 * K, K, nn);
            }
        });
    }

    /** h [K, K] += xᵀ·x for x [R, K]: the Gram matrix of R input rows, as GPTQ needs it. */
    public static void addGram(double[] x, int R, int K, double[] h) {
        if (x.length != R * K || h.length != K * K) throw new IllegalArgumentException("x [" + R + ", " + K + "] and h [" + K + ", " + K + "]");
        mulTN(x, x, h, R, K, K);
    }

    /**
     * y[yo + i·n ..][k] += x_i·v[vo + k] for the first {@code rows} of four consecutive rows of y (length n each), reading v once;
     * a zero coefficient leaves its row untouched, as the one-row loop it replaces did.
     */
    private static void fourAxpy(double x0, double x1, double x2, double x3, double[] v, int vo, double[] y, int yo, int n, int rows) {
        if (rows < 4 || x0 == 0 || x1 == 0 || x2 == 0 || x3 == 0) {
            if (x0 != 0) axpy(x0, v, vo, y, yo, n);
            if (rows > 1 && x1 != 0) axpy(x1, v, vo, y, yo + n, n);
            if (rows > 2 && x2 != 0) axpy(x2, v, vo, y, yo + 2 * n, n);
            if (rows > 3 && x3 != 0) axpy(x3, v, vo, y, yo + 3 * n, n);
            return;
        }
        DoubleVector v0 = DoubleVector.broadcast(S, x0), v1 = DoubleVector.broadcast(S, x1), v2 = DoubleVector.broadcast(S, x2),
                v3 = DoubleVector.broadcast(S, x3);
        int y1 = yo + n, y2 = y1 + n, y3 = y2 + n, k = 0;
        for (int bound = S.loopBound(n); k < bound; k += S.length()) {
            DoubleVector vv = DoubleVector.fromArray(S, v, vo + k);
            vv.fma(v0, DoubleVector.fromArray(S, y, yo + k)).intoArray(y, yo + k);
            vv.fma(v1, DoubleVector.fromArray(S, y, y1 + k)).intoArray(y, y1 + k);
            vv.fma(v2, DoubleVector.fromArray(S, y, y2 + k)).intoArray(y, y2 + k);
            vv.fma(v3, DoubleVector.fromArray(S, y, y3 + k)).intoArray(y, y3 + k);
        }
        for (; k < n; k++) {
            double vk = v[vo + k];
            y[yo + k] += x0 * vk;
            y[y1 + k] += x1 * vk;
            y[y2 + k] += x2 * vk;
            y[y3 + k] += x3 * vk;
        }
    }

    /** y[yo..yo+n) += x·v[vo..vo+n). */
    static void axpy(double x, double[] v, int vo, double[] y, int yo, int n) {
        DoubleVector xv = DoubleVector.broadcast(S, x);
        int k = 0;
        for (int bound = S.loopBound(n); k < bound; k += S.length())
            DoubleVector.fromArray(S, v, vo + k).fma(xv, DoubleVector.fromArray(S, y, yo + k)).intoArray(y, yo + k);
        for (; k < n; k++) y[yo + k] += x * v[vo + k];
    }
}
