package dev.zq.tensor;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The sum of a vector's lanes in one fixed order, the same in every JIT tier: a butterfly — each lane adds the lane half
 * the vector away, then a quarter, …, then its neighbour — and lane 0 of the result. Not {@code reduceLanes(ADD)}: the
 * Vector API leaves a floating-point reduction's order open, and C2's is not the interpreter's, so the same dot product of
 * the same inputs gave other last bits once the JIT had compiled it (from about the 25th call), and a run's results depended
 * on when that happened. Each step is a permutation and a lane-wise IEEE add, so every tier computes the same bits.
 */
public final class Lanes {
    private Lanes() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;
    private static final int FL = F.length(), DL = D.length();
    // The butterfly's steps as constants (C2 keeps a shuffle it can see as a constant in a register; from an array it did not).
    private static final VectorShuffle<Float> F8 = partner(F, 8), F4 = partner(F, 4), F2 = partner(F, 2), F1 = partner(F, 1);
    private static final VectorShuffle<Double> D4 = partner(D, 4), D2 = partner(D, 2), D1 = partner(D, 1);

    /** Lane i to lane i ^ half (the identity where the species has no such lanes; then unused). */
    private static <E> VectorShuffle<E> partner(VectorSpecies<E> species, int half) {
        return VectorShuffle.fromOp(species, lane -> half < species.length() ? lane ^ half : lane);
    }

    /** The lanes' sum in the butterfly's order (vectors of the preferred species; others lane by lane, in lane order). */
    public static float sum(FloatVector v) {
        if (v.species() != F) {
            float t = 0;
            for (int i = 0; i < v.length(); i++) t += v.lane(i);
            return t;
        }
        if (FL >= 16) v = v.add(v.rearrange(F8));
        if (FL >= 8) v = v.add(v.rearrange(F4));
        if (FL >= 4) v = v.add(v.rearrange(F2));
        v = v.add(v.rearrange(F1));
        return v.lane(0);
    }

    /** The lanes' sum in the butterfly's order (vectors of the preferred species; others lane by lane, in lane order). */
    public static double sum(DoubleVector v) {
        if (v.species() != D) {
            double t = 0;
            for (int i = 0; i < v.length(); i++) t += v.lane(i);
            return t;
        }
        if (DL >= 8) v = v.add(v.rearrange(D4));
        if (DL >= 4) v = v.add(v.rearrange(D2));
        v = v.add(v.rearrange(D1));
        return v.lane(0);
    }
}
