package dev.zq.tensor;

/** Argument checks shared by the CPU kernels; messages name the shapes involved. */
final class Checks {
    private Checks() {}

    static void dtype(Tensor t, DType want, String what) {
        if (t.dtype() != want) throw new IllegalArgumentException(what + " must be " + want + ", got " + t);
    }

    static void rank(Tensor t, int rank, String what) {
        if (t.rank() != rank) throw new IllegalArgumentException(what + " must have rank " + rank + ", got " + t);
    }

    static void sameNumel(Tensor a, Tensor b, String what) {
        if (a.numel() != b.numel()) throw new IllegalArgumentException(what + ": " + a + " and " + b + " differ in size");
    }

    /** Row length (last dim) of {@code t}, requiring rank ≥ 1. */
    static int rowLength(Tensor t, String what) {
        if (t.rank() < 1) throw new IllegalArgumentException(what + " must have at least one dimension, got " + t);
        return t.dim(-1);
    }
}
