package dev.zq.model.decoder;

import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.stream.LongStream;

/**
 * {@link DecoderModel#random}'s normal weights: the doubles of {@code new SplittableRandom(seed)} taken two a weight
 * (Box–Muller), in the order the tensors are made — but any of them computed on its own, so a tensor fills on every core.
 * A SplittableRandom's {@code k}-th {@code nextLong()} is {@code mix64(seed + (k + 1)·γ)} (SplitMix64: γ the golden
 * ratio's 64 bits, mix64 Stafford's variant 13) and {@code nextDouble()} its top 53 bits: the same numbers as drawing
 * them one by one ({@code RandomWeightsTest} checks them against the JDK's class). Drawn one by one on one core, GPT-3
 * 1.3B's weights and their quantization took 56 s of a benchmark's JVM on the 16-core device host; 15 s now
 * (bench/RESULTS.md, session 38).
 */
final class RandomWeights {
    private static final long GOLDEN_GAMMA = 0x9e3779b97f4a7c15L;
    /** Weights a parallel task fills. */
    private static final int CHUNK = 1 << 16;

    private final long seed;
    private long drawn;   // doubles taken so far

    RandomWeights(long seed) { this.seed = seed; }

    /** The {@code k}-th (from 0) {@code nextDouble()} of {@code new SplittableRandom(seed)}. */
    static double doubleAt(long seed, long k) {
        return (mix64(seed + (k + 1) * GOLDEN_GAMMA) >>> 11) * 0x1.0p-53;
    }

    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** The next {@code rows × cols} weights, normal with standard deviation {@code std}, FP32. */
    Tensor gaussian(Arena arena, int rows, int cols, double std) {
        Tensor t = Tensor.allocate(arena, DType.F32, rows, cols);
        long n = t.numel(), first = drawn;
        drawn += 2 * n;
        LongStream chunks = LongStream.range(0, (n + CHUNK - 1) / CHUNK);
        (t.sharedAcrossThreads() ? chunks.parallel() : chunks).forEach(c -> {   // a confined arena's memory is its thread's
            for (long i = c * CHUNK, end = Math.min(n, i + CHUNK); i < end; i++) {
                double u = doubleAt(seed, first + 2 * i), w = doubleAt(seed, first + 2 * i + 1);
                t.setFloat(i, (float) (std * (Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * w))));
            }
        });
        return t;
    }
}
