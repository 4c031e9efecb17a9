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
            int r0 = 4 * blk;
            if (R - r0 >= 4) tile4(a, r0 * N, N, 1, N, b, c, r0 * K, K);
            else for (int r = r0; r < R; r++)
                for (int n = 0; n < N; n++) if (a[r * N + n] != 0) axpy(a[r * N + n], b, n * K, c, r * K, K);
        });
    }

    /** c[n][k] += Σ_r a[r][n]·b[r][k]: a [R,N], b [R,K], c [N,K]. */
    static void mulTN(double[] a, double[] b, double[] c, int R, int N, int K) {
        // b is a layer's whole input here (R = 2,048 rows): a task takes T_GROUP rows of c and walks b in slabs of J_BLOCK
        // rows, each slab serving all its four-row tiles from L2 — b comes from memory once per group, not once per tile.
        rows((N + T_GROUP - 1) / T_GROUP, (long) R * K * N, grp -> {
            int g0 = T_GROUP * grp, g1 = Math.min(N, g0 + T_GROUP);
            for (int j0 = 0; j0 < R; j0 += J_BLOCK) {
                int jn = Math.min(J_BLOCK, R - j0), n = g0;
                for (; n + 4 <= g1; n += 4) tile4(a, j0 * N + n, 1, N, jn, b, j0 * K, c, n * K, K);
                for (; n < g1; n++)
                    for (int r = j0; r < j0 + jn; r++) if (a[r * N + n] != 0) axpy(a[r * N + n], b, r * K, c, n * K, K);
            }
        });
    }

    private static final int T_GROUP = 8;

    /**
     * Four rows of c (at {@code co}, {@code co + K}, …) += Σ_j x(i, j)·b[j][·] over j = 0 … J−1 in order, where
     * x(i, j) = a[xo + i·is + j·js]: mulNN's and mulTN's shared kernel. The rows' columns are held in registers, two vectors
     * a row, while j runs, so each step loads two vectors of b and four coefficients for eight multiply-adds; the one-row
     * loop this replaces loaded and stored its row of c at every j (bound by stores). Every element still gets the same
     * operations in the same order — a fused multiply-add per nonzero coefficient, in order of j, a plain multiply then
     * add past the vector loop's bound — and a zero coefficient leaves its row untouched: the same bits as
     * {@link #axpy} applied for every j in turn.
     */
    private static void tile4(double[] a, int xo, int is, int js, int J, double[] b, double[] c, int co, int K) {
        // In slabs of J_BLOCK rows of b, as mulTN: a step of k walks down a column of b, whose rows then stay in cache while k
        // crosses them. The sums keep their order.
        for (int j0 = 0; j0 < J; j0 += J_BLOCK) tile4(a, xo + j0 * js, is, js, Math.min(J_BLOCK, J - j0), b, j0 * K, c, co, K);
    }

    private static final int J_BLOCK = 16;

    private static void tile4(double[] a, int xo, int is, int js, int J, double[] b, int bo0, double[] c, int co, int K) {
        int L = S.length(), bound = S.loopBound(K), c1 = co + K, c2 = c1 + K, c3 = c2 + K, k = 0;
        for (; k + 2 * L <= bound; k += 2 * L) {
            int h = k + L;
            DoubleVector p0 = DoubleVector.fromArray(S, c, co + k), q0 = DoubleVector.fromArray(S, c, co + h);
            DoubleVector p1 = DoubleVector.fromArray(S, c, c1 + k), q1 = DoubleVector.fromArray(S, c, c1 + h);
            DoubleVector p2 = DoubleVector.fromArray(S, c, c2 + k), q2 = DoubleVector.fromArray(S, c, c2 + h);
            DoubleVector p3 = DoubleVector.fromArray(S, c, c3 + k), q3 = DoubleVector.fromArray(S, c, c3 + h);
            for (int j = 0, x = xo, bo = bo0; j < J; j++, x += js, bo += K) {
                DoubleVector u = DoubleVector.fromArray(S, b, bo + k), w = DoubleVector.fromArray(S, b, bo + h);
                double x0 = a[x], x1 = a[x + is], x2 = a[x + 2 * is], x3 = a[x + 3 * is];
                if (x0 != 0) {
                    DoubleVector v = DoubleVector.broadcast(S, x0);
                    p0 = u.fma(v, p0);
                    q0 = w.fma(v, q0);
                }
                if (x1 != 0) {
                    DoubleVector v = DoubleVector.broadcast(S, x1);
                    p1 = u.fma(v, p1);
                    q1 = w.fma(v, q1);
                }
                if (x2 != 0) {
                    DoubleVector v = DoubleVector.broadcast(S, x2);
                    p2 = u.fma(v, p2);
                    q2 = w.fma(v, q2);
                }
                if (x3 != 0) {
                    DoubleVector v = DoubleVector.broadcast(S, x3);
                    p3 = u.fma(v, p3);
                    q3 = w.fma(v, q3);
                }
            }
            p0.intoArray(c, co + k);
            q0.intoArray(c, co + h);
            p1.intoArray(c, c1 + k);
            q1.intoArray(c, c1 + h);
            p2.intoArray(c, c2 + k);
            q2.intoArray(c, c2 + h);
            p3.intoArray(c, c3 + k);
            q3.intoArray(c, c3 + h);
        }
        for (; k < bound; k += L) {   // one vector left before the bound
            DoubleVector p0 = DoubleVector.fromArray(S, c, co + k), p1 = DoubleVector.fromArray(S, c, c1 + k);
            DoubleVector p2 = DoubleVector.fromArray(S, c, c2 + k), p3 = DoubleVector.fromArray(S, c, c3 + k);
            for (int j = 0, x = xo, bo = bo0; j < J; j++, x += js, bo += K) {
                DoubleVector u = DoubleVector.fromArray(S, b, bo + k);
                double x0 = a[x], x1 = a[x + is], x2 = a[x + 2 * is], x3 = a[x + 3 * is];
                if (x0 != 0) p0 = u.fma(DoubleVector.broadcast(S, x0), p0);
                if (x1 != 0) p1 = u.fma(DoubleVector.broadcast(S, x1), p1);
                if (x2 != 0) p2 = u.fma(DoubleVector.broadcast(S, x2), p2);
                if (x3 != 0) p3 = u.fma(DoubleVector.broadcast(S, x3), p3);
            }
            p0.intoArray(c, co + k);
            p1.intoArray(c, c1 + k);
            p2.intoArray(c, c2 + k);
            p3.intoArray(c, c3 + k);
        }
        for (; k < K; k++) {   // the tail: a multiply, then an add, as axpy's
            double t0 = c[co + k], t1 = c[c1 + k], t2 = c[c2 + k], t3 = c[c3 + k];
            for (int j = 0, x = xo, bo = bo0; j < J; j++, x += js, bo += K) {
                double bk = b[bo + k], x0 = a[x], x1 = a[x + is], x2 = a[x + 2 * is], x3 = a[x + 3 * is];
                if (x0 != 0) t0 += x0 * bk;
                if (x1 != 0) t1 += x1 * bk;
                if (x2 != 0) t2 += x2 * bk;
                if (x3 != 0) t3 += x3 * bk;
            }
            c[co + k] = t0;
            c[c1 + k] = t1;
            c[c2 + k] = t2;
            c[c3 + k] = t3;
        }
    }

    /** h [K, K] += xᵀ·x for x [R, K]: the Gram matrix of R input rows, as GPTQ needs it. */
    public static void addGram(double[] x, int R, int K, double[] h) {
        if (x.length != R * K || h.length != K * K) throw new IllegalArgumentException("x [" + R + ", " + K + "] and h [" + K + ", " + K + "]");
        mulTN(x, x, h, R, K, K);
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
