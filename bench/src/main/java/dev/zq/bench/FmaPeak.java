package dev.zq.bench;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The FP32 FMA ceiling of one core through the Vector API: twelve independent accumulators, registers only, so
 * nothing but the FMA units' throughput bounds it. Both CPU paths' products run on these units — the W8A8 tile too,
 * after converting its weight bytes, since the Vector API reaches no integer dot product (see {@link ShortPairProbe}) —
 * so this is the rate neither can pass, and the scale to read their tiles' multiply-adds/ns against (issue #5, item 8).
 * Five rounds of 50 million iterations (12 FMAs each); the last rounds are the steady state. Run:
 * {@code java --add-modules jdk.incubator.vector -cp … dev.zq.bench.FmaPeak}.
 */
public final class FmaPeak {
    private FmaPeak() {}

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    static float chains(long iterations) {
        FloatVector a0 = FloatVector.broadcast(S, 1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
        FloatVector a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        FloatVector m = FloatVector.broadcast(S, 0.9999f), c = FloatVector.broadcast(S, 1e-4f);
        for (long i = 0; i < iterations; i++) {   // 12 chains: enough in flight to cover the FMA latency on two pipes
            a0 = a0.fma(m, c); a1 = a1.fma(m, c); a2 = a2.fma(m, c); a3 = a3.fma(m, c); a4 = a4.fma(m, c); a5 = a5.fma(m, c);
            a6 = a6.fma(m, c); a7 = a7.fma(m, c); a8 = a8.fma(m, c); a9 = a9.fma(m, c); a10 = a10.fma(m, c); a11 = a11.fma(m, c);
        }
        return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11).reduceLanes(VectorOperators.ADD);
    }

    public static void main(String[] args) {
        long iterations = 50_000_000L;
        float sink = 0;
        System.out.println("round | FP32 multiply-adds per ns, one core (" + S.length() + " lanes a vector)");
        for (int round = 1; round <= 5; round++) {
            long t0 = System.nanoTime();
            sink += chains(iterations);
            System.out.printf("%d | %.1f%n", round, iterations * 12.0 * S.length() / (System.nanoTime() - t0));
        }
        System.out.println("(checksum " + sink + ")");
    }
}
