package dev.zq.lkd.autodiff;

import org.junit.jupiter.api.Test;
import java.util.Random;

class DetScratchTest {
    @Test
    void scratch() {
        Random r = new Random(1);
        int R = 24, K = 64, N = 96;
        double[] a = new double[R * K], b = new double[N * K];
        for (int i = 0; i < a.length; i++) a[i] = r.nextGaussian();
        for (int i = 0; i < b.length; i++) b[i] = r.nextGaussian();
        double[] first = new double[R * N];
        DMath.mulNT(a, b, first, R, K, N, false);
        int diffs = 0;
        for (int it = 0; it < 20000; it++) {
            double[] c = new double[R * N];
            DMath.mulNT(a, b, c, R, K, N, false);
            for (int i = 0; i < c.length; i++) if (c[i] != first[i]) { diffs++; break; }
        }
        System.out.println("mulNT runs differing from the first: " + diffs);
        double[] t = new double[2000];
        for (int i = 0; i < t.length; i++) t[i] = r.nextGaussian();
        double[] t1 = new double[t.length];
        for (int i = 0; i < t.length; i++) t1[i] = Math.tanh(t[i]) + Math.exp(t[i]);
        int td = 0;
        for (int it = 0; it < 20000; it++) {
            for (int i = 0; i < t.length; i++) if (Math.tanh(t[i]) + Math.exp(t[i]) != t1[i]) { td++; break; }
        }
        System.out.println("tanh/exp runs differing from the first: " + td);
    }
}
