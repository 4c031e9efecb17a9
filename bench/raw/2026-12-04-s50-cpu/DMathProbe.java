package dev.zq.lkd.autodiff;

import java.util.Random;

/** mulNN and mulTN at sotu-llama's LKD shapes (2048 rows = 8 windows of 256): ms per call, median of rounds. */
public class DMathProbe {
    public static void main(String[] args) {
        int R = 2048, rounds = Integer.parseInt(args.length > 0 ? args[0] : "7");
        int[][] shapes = {{256, 256}, {128, 256}, {704, 256}, {256, 704}};   // {out N, in K}
        Random rnd = new Random(1);
        StringBuilder out = new StringBuilder();
        double totalNN = 0, totalTN = 0;
        for (int[] s : shapes) {
            int N = s[0], K = s[1];
            double[] g = new double[R * N], w = new double[N * K], x = new double[R * K], dx = new double[R * K], dw = new double[N * K];
            for (int i = 0; i < g.length; i++) g[i] = rnd.nextGaussian();
            for (int i = 0; i < w.length; i++) w[i] = rnd.nextGaussian();
            for (int i = 0; i < x.length; i++) x[i] = rnd.nextGaussian();
            double[] nn = new double[rounds], tn = new double[rounds];
            for (int warm = 0; warm < 5; warm++) { DMath.mulNN(g, w, dx, R, N, K); DMath.mulTN(g, x, dw, R, N, K); }
            for (int r = 0; r < rounds; r++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < 5; i++) DMath.mulNN(g, w, dx, R, N, K);
                long t1 = System.nanoTime();
                for (int i = 0; i < 5; i++) DMath.mulTN(g, x, dw, R, N, K);
                long t2 = System.nanoTime();
                nn[r] = (t1 - t0) / 5e6; tn[r] = (t2 - t1) / 5e6;
            }
            java.util.Arrays.sort(nn); java.util.Arrays.sort(tn);
            totalNN += nn[rounds / 2]; totalTN += tn[rounds / 2];
            out.append(String.format("N=%d K=%d: mulNN %.2f ms (%.1f GFLOP/s), mulTN %.2f ms (%.1f GFLOP/s)%n", N, K, nn[rounds / 2],
                    2.0 * R * N * K / nn[rounds / 2] / 1e6, tn[rounds / 2], 2.0 * R * N * K / tn[rounds / 2] / 1e6));
        }
        out.append(String.format("sum of medians: mulNN %.2f ms, mulTN %.2f ms%n", totalNN, totalTN));
        System.out.print(out);
    }
}
