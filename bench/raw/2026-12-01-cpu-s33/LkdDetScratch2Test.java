package dev.zq.lkd.autodiff;

import org.junit.jupiter.api.Test;
import java.util.Arrays;
import java.util.Random;

class DetScratch2Test {
    @Test
    void time() {
        Random r = new Random(1);
        for (int[] sh : new int[][]{{2048, 256, 768}, {2048, 1024, 256}}) {
            int R = sh[0], K = sh[1], N = sh[2];
            double[] a = new double[R * K], b = new double[N * K], c = new double[R * N];
            for (int i = 0; i < a.length; i++) a[i] = r.nextGaussian();
            for (int i = 0; i < b.length; i++) b[i] = r.nextGaussian();
            long[] t = new long[30];
            for (int it = 0; it < 40; it++) {
                long t0 = System.nanoTime();
                DMath.mulNT(a, b, c, R, K, N, false);
                if (it >= 10) t[it - 10] = System.nanoTime() - t0;
            }
            Arrays.sort(t);
            System.out.printf("mulNT %dx%dx%d median %.2f ms%n", R, K, N, t[15] / 1e6);
        }
    }
}
