package dev.zq.bench;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import dev.zq.tensor.DType;
import dev.zq.tensor.PackedMatrix;
import dev.zq.tensor.Tensor;

import java.util.Random;

/**
 * Whether C2 turns Java's short-pair multiply-add ({@code a[2i]·b[2i] + a[2i+1]·b[2i+1]}, its MulAddS2I pattern, which
 * becomes {@code vpmaddwd}/{@code vpdpwssd} on VNNI CPUs) into vector code — the one route from Java to an integer dot
 * product, which the INT8 CPU tiles would need to beat FP32 FMAs (issue #5, item 8). Three loops over 4,096 multiply-adds,
 * 100,000 times each, eight rounds, multiply-adds per ns: the pattern reduced into one {@code int}, the pattern accumulated
 * into an {@code int[]}, and the Vector API's FP32 FMA dot product. Run:
 * {@code java --add-modules jdk.incubator.vector -cp … dev.zq.bench.ShortPairProbe}; the last rounds are the steady state.
 * With the argument {@code gemm}: the pattern as a GEMM against the FP32 kernel ({@link #gemm}).
 */
public final class ShortPairProbe {
    private ShortPairProbe() {}

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    static int pairsIntoOneInt(short[] a, short[] b, int pairs) {
        int s = 0;
        for (int i = 0; i < pairs; i++) s += a[2 * i] * b[2 * i] + a[2 * i + 1] * b[2 * i + 1];
        return s;
    }

    static void pairsIntoArray(short[] a, short[] b, int[] out, int pairs) {
        for (int i = 0; i < pairs; i++) out[i] += a[2 * i] * b[2 * i] + a[2 * i + 1] * b[2 * i + 1];
    }

    static float fmaDot(float[] a, float[] b, int n) {
        FloatVector acc = FloatVector.zero(F), acc2 = FloatVector.zero(F);
        for (int i = 0; i < n; i += 2 * F.length()) {
            acc = FloatVector.fromArray(F, a, i).fma(FloatVector.fromArray(F, b, i), acc);
            acc2 = FloatVector.fromArray(F, a, i + F.length()).fma(FloatVector.fromArray(F, b, i + F.length()), acc2);
        }
        return acc.add(acc2).reduceLanes(VectorOperators.ADD);
    }

    /**
     * A GEMM on the pattern, dot-product form ({@code y[r][c] = Σ_p x[r][2p]·w[c][2p] + x[r][2p+1]·w[c][2p+1]}): the
     * pairs into an {@code int[]} of K/2 partial sums (the vectorized form), then their sum — the outer-product form
     * would need the activation pair broadcast into an array as long as the outputs, rebuilt for every pair.
     */
    static void pairGemm(short[] x, short[] w, int[] y, int m, int n, int k, int[] partial) {
        int pairs = k / 2;
        for (int r = 0; r < m; r++)
            for (int c = 0; c < n; c++) {
                int xo = r * k, wo = c * k;
                for (int p = 0; p < pairs; p++) partial[p] = x[xo + 2 * p] * w[wo + 2 * p] + x[xo + 2 * p + 1] * w[wo + 2 * p + 1];
                int s = 0;
                for (int p = 0; p < pairs; p++) s += partial[p];
                y[r * n + c] = s;
            }
    }

    /** Output columns a pass of {@link #pairGemmOuter}: its broadcast buffer (2·256 shorts) stays in L1 and is reused across the columns. */
    static final int OUTER_COLUMNS = 256;

    /**
     * The GEMM in outer-product form, {@code y[r][c] += x[r][2p]·w[p][c][0] + x[r][2p+1]·w[p][c][1]} with the weights
     * pair-interleaved ({@code w[p][c][2]}): the pattern wants both operands indexed alike, so each activation pair is first
     * broadcast into a buffer of {@code 2·OUTER_COLUMNS} shorts (doubling copies), then reused over every block of columns
     * ({@code n} a multiple of {@link #OUTER_COLUMNS}).
     * Each pair of products still loads and stores its {@code int} accumulator, and C2 vectorizes the pattern only in this
     * one-statement shape (four rows in one loop body, sharing the weight loads, ran at a scalar loop's pace in a scratch try).
     */
    static void pairGemmOuter(short[] x, short[] wPairs, int[] y, int m, int n, int k, short[] broadcast) {
        java.util.Arrays.fill(y, 0, m * n, 0);
        for (int r = 0; r < m; r++)
            for (int p = 0; p < k / 2; p++) {
                broadcast[0] = x[r * k + 2 * p];
                broadcast[1] = x[r * k + 2 * p + 1];
                for (int len = 2; len < broadcast.length; len *= 2) System.arraycopy(broadcast, 0, broadcast, len, Math.min(len, broadcast.length - len));
                for (int c0 = 0; c0 < n; c0 += OUTER_COLUMNS) pairsAcrossColumns(y, r * n + c0, wPairs, 2 * (p * n + c0), broadcast);
            }
    }

    private static void pairsAcrossColumns(int[] y, int yo, short[] w, int wo, short[] b) {
        for (int j = 0; j < OUTER_COLUMNS; j++) y[yo + j] += w[wo + 2 * j] * b[2 * j] + w[wo + 2 * j + 1] * b[2 * j + 1];
    }

    /**
     * {@code gemm}: {@link #pairGemm} and {@link #pairGemmOuter} against {@link PackedMatrix} (FP32, the CPU path's kernel) on one thread (operands in
     * a confined arena), GPT-2's MLP up projection (K 768, N 3072) at 8, 16 and 32 rows, best of 30 after 10, after a first
     * unprinted pass over the three; the integer
     * results checked against the FP32 ones.
     */
    static void gemm() {
        int k = 768, n = 3072, printed = 0;
        Random rnd = new Random(1);
        System.out.println("rows | short pairs (dot form) ms | MAC/ns | short pairs (outer form) ms | MAC/ns | PackedMatrix FP32 ms | MAC/ns");
        for (int m : new int[]{8, 16, 32, 8, 16, 32}) {   // the first three warm the JIT up, unprinted
            boolean print = printed++ >= 3;
            short[] x = new short[m * k], w = new short[n * k];
            for (int i = 0; i < x.length; i++) x[i] = (short) (rnd.nextInt(255) - 127);
            for (int i = 0; i < w.length; i++) w[i] = (short) (rnd.nextInt(255) - 127);
            int[] y = new int[m * n], yOuter = new int[m * n], partial = new int[k / 2];
            short[] wPairs = new short[n * k], broadcast = new short[2 * OUTER_COLUMNS];
            for (int c = 0; c < n; c++)
                for (int kk = 0; kk < k; kk++) wPairs[2 * ((kk / 2) * n + c) + (kk & 1)] = w[c * k + kk];
            try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
                Tensor xt = Tensor.allocate(a, DType.F32, m, k), wt = Tensor.allocate(a, DType.F32, n, k), yt = Tensor.allocate(a, DType.F32, m, n);
                for (int i = 0; i < x.length; i++) xt.setFloat(i, x[i]);
                for (int i = 0; i < w.length; i++) wt.setFloat(i, w[i]);
                PackedMatrix pm = PackedMatrix.pack(a, wt);
                long bestPairs = Long.MAX_VALUE, bestOuter = Long.MAX_VALUE, bestF32 = Long.MAX_VALUE;
                for (int round = 0; round < 40; round++) {
                    long t0 = System.nanoTime();
                    pairGemm(x, w, y, m, n, k, partial);
                    long t1 = System.nanoTime();
                    pairGemmOuter(x, wPairs, yOuter, m, n, k, broadcast);
                    long t2 = System.nanoTime();
                    pm.multiply(xt, null, yt);
                    long t3 = System.nanoTime();
                    if (round >= 10) {
                        bestPairs = Math.min(bestPairs, t1 - t0);
                        bestOuter = Math.min(bestOuter, t2 - t1);
                        bestF32 = Math.min(bestF32, t3 - t2);
                    }
                }
                for (int i = 0; i < m * n; i++)
                    if (yt.getFloat(i) != y[i] || yOuter[i] != y[i])
                        throw new AssertionError("output " + i + ": " + y[i] + ", outer form " + yOuter[i] + " against FP32 " + yt.getFloat(i));
                double macs = (double) m * n * k;
                if (print) System.out.printf("%d | %.3f | %.1f | %.3f | %.1f | %.3f | %.1f%n", m, bestPairs / 1e6, macs / bestPairs,
                        bestOuter / 1e6, macs / bestOuter, bestF32 / 1e6, macs / bestF32);
            }
        }
    }

    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals("gemm")) {
            gemm();
            return;
        }
        int k = 4096, calls = 100_000;
        short[] a = new short[k], b = new short[k];
        float[] fa = new float[k], fb = new float[k];
        int[] out = new int[k / 2];
        Random r = new Random(1);
        for (int i = 0; i < k; i++) {
            a[i] = (short) (r.nextInt(255) - 127);
            b[i] = (short) (r.nextInt(255) - 127);
            fa[i] = a[i];
            fb[i] = b[i];
        }
        long sink = 0;
        System.out.println("round | pairs into one int | pairs into int[] | Vector API FP32 FMA  (multiply-adds per ns)");
        for (int round = 1; round <= 8; round++) {
            long t0 = System.nanoTime();
            for (int c = 0; c < calls; c++) sink += pairsIntoOneInt(a, b, k / 2);
            long t1 = System.nanoTime();
            for (int c = 0; c < calls; c++) pairsIntoArray(a, b, out, k / 2);
            long t2 = System.nanoTime();
            for (int c = 0; c < calls; c++) sink += (long) fmaDot(fa, fb, k);
            long t3 = System.nanoTime();
            double macs = (double) calls * k;
            System.out.printf("%d | %.2f | %.2f | %.2f%n", round, macs / (t1 - t0), macs / (t2 - t1), macs / (t3 - t2));
        }
        System.out.println("(checksum " + (sink + out[5]) + ")");
    }
}
