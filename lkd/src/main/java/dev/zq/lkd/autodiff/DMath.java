package dev.zq.lkd.autodiff;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.stream.IntStream;

/** The three matrix products a linear layer's forward and backward need, over row-major double arrays, multithreaded by output row. */
final class DMath {
    private static final VectorSpecies<Double> S = DoubleVector.SPECIES_PREFERRED;
    private static final long PARALLEL_WORK = 1 << 16;

    private DMath() {}

    private static void rows(int n, long work, java.util.function.IntConsumer body) {
        if (work < PARALLEL_WORK || n == 1) for (int i = 0; i < n; i++) body.accept(i);
        else IntStream.range(0, n).parallel().forEach(body);
    }

    /** c[r][n] (+)= Σ_k a[r][k]·b[n][k]: a [R,K], b [N,K], c [R,N]. */
    static void mulNT(double[] a, double[] b, double[] c, int R, int K, int N, boolean accumulate) {
        rows(R, (long) R * K * N, r -> {
            int ao = r * K;
            for (int n = 0; n < N; n++) {
                int bo = n * K;
                DoubleVector acc = DoubleVector.zero(S);
                int k = 0;
                for (int bound = S.loopBound(K); k < bound; k += S.length())
                    acc = DoubleVector.fromArray(S, a, ao + k).fma(DoubleVector.fromArray(S, b, bo + k), acc);
                double s = acc.reduceLanes(VectorOperators.ADD);
                for (; k < K; k++) s += a[ao + k] * b[bo + k];
                c[r * N + n] = accumulate ? c[r * N + n] + s : s;
            }
        });
    }

    /** c[r][k] += Σ_n a[r][n]·b[n][k]: a [R,N], b [N,K], c [R,K]. */
    static void mulNN(double[] a, double[] b, double[] c, int R, int N, int K) {
        rows(R, (long) R * K * N, r -> {
            int co = r * K;
            for (int n = 0; n < N; n++) {
                double x = a[r * N + n];
                if (x == 0) continue;
                axpy(x, b, n * K, c, co, K);
            }
        });
    }

    /** c[n][k] += Σ_r a[r][n]·b[r][k]: a [R,N], b [R,K], c [N,K]. */
    static void mulTN(double[] a, double[] b, double[] c, int R, int N, int K) {
        rows(N, (long) R * K * N, n -> {
            int co = n * K;
            for (int r = 0; r < R; r++) {
                double x = a[r * N + n];
                if (x == 0) continue;
                axpy(x, b, r * K, c, co, K);
            }
        });
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
