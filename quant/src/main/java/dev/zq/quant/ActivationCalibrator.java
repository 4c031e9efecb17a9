package dev.zq.quant;

import dev.zq.model.Linear;
import dev.zq.tensor.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Collects the range of each {@link Linear}'s input while the FP model runs on calibration data, for the
 * PTQ baseline's static activation scales. {@link #wrap} returns a pass-through layer that records; after
 * the calibration batches, {@link #absMax} gives the clip value: the maximum of {@code |x|}, or a
 * percentile of {@code |x|} over a uniform sample (reservoir of {@value #SAMPLE} values per module, seeded)
 * so memory stays bounded however much data is seen.
 */
public final class ActivationCalibrator {
    static final int SAMPLE = 1 << 20;

    private final Map<String, Stats> stats = new LinkedHashMap<>();
    private final long seed;

    public ActivationCalibrator(long seed) { this.seed = seed; }

    private static final class Stats {
        float max;
        long seen;
        float[] reservoir = new float[1024];
        int size;
        final SplittableRandom rnd;

        Stats(long seed) { rnd = new SplittableRandom(seed); }

        synchronized void add(Tensor x) {
            float[] v = x.toFloatArray();
            for (float f : v) {
                float a = Math.abs(f);
                if (Float.isNaN(a)) continue;
                max = Math.max(max, a);
                seen++;
                if (size < SAMPLE) {
                    if (size == reservoir.length) reservoir = Arrays.copyOf(reservoir, Math.min(SAMPLE, size * 2));
                    reservoir[size++] = a;
                } else {
                    long j = rnd.nextLong(seen);
                    if (j < SAMPLE) reservoir[(int) j] = a;
                }
            }
        }
    }

    /** A layer that records its inputs under {@code name}, then runs {@code inner}. */
    public Linear wrap(String name, Linear inner) {
        Stats s = stats.computeIfAbsent(name, k -> new Stats(seed ^ k.hashCode()));
        return new Linear() {
            @Override public int inFeatures() { return inner.inFeatures(); }
            @Override public int outFeatures() { return inner.outFeatures(); }
            @Override public long weightBytes() { return inner.weightBytes(); }
            @Override public void forward(Tensor x, Tensor out) {
                s.add(x);
                inner.forward(x, out);
            }
        };
    }

    /** Clip value for {@code name}: {@code percentile} 100 is the maximum. */
    public float absMax(String name, double percentile) {
        Stats s = stats.get(name);
        if (s == null || s.seen == 0)
            throw new IllegalStateException("no calibration data reached module " + name + ": run the FP model on calibration inputs first");
        if (percentile >= 100) return s.max;
        float[] sorted = Arrays.copyOf(s.reservoir, s.size);
        Arrays.sort(sorted);
        int idx = (int) Math.min(sorted.length - 1, Math.ceil(percentile / 100.0 * sorted.length) - 1);
        return sorted[Math.max(0, idx)];
    }

    public boolean has(String name) { return stats.containsKey(name) && stats.get(name).seen > 0; }
}
