package dev.zq.bench;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Random;

/**
 * Whether C2 turns Java's short-pair multiply-add ({@code a[2i]·b[2i] + a[2i+1]·b[2i+1]}, its MulAddS2I pattern, which
 * becomes {@code vpmaddwd}/{@code vpdpwssd} on VNNI CPUs) into vector code — the one route from Java to an integer dot
 * product, which the INT8 CPU tiles would need to beat FP32 FMAs (issue #5, item 8). Three loops over 4,096 multiply-adds,
 * 100,000 times each, eight rounds, multiply-adds per ns: the pattern reduced into one {@code int}, the pattern accumulated
 * into an {@code int[]}, and the Vector API's FP32 FMA dot product. Run:
 * {@code java --add-modules jdk.incubator.vector -cp … dev.zq.bench.ShortPairProbe}; the last rounds are the steady state.
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

    public static void main(String[] args) {
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
