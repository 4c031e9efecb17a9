package dev.zq.tensor;

import java.util.function.IntConsumer;
import java.util.stream.IntStream;

/** Splits independent work items over the common fork-join pool once there is enough work to pay for it. */
public final class Parallel {
    private Parallel() {}

    /** Never started: asks a segment whether a thread other than its owner may touch it. */
    private static final Thread OTHER = Thread.ofPlatform().unstarted(() -> { });

    /**
     * Runs {@code body} for every index in {@code [0, n)}. {@code costPerItem} is a rough count of
     * floating-point operations per item; below ~100k operations in total it runs on the caller's thread.
     * It also stays on the caller's thread when an operand lives in a confined arena, which other threads
     * may not touch: allocate from a shared or automatic arena to use every core.
     */
    public static void forEach(int n, long costPerItem, Tensor[] operands, IntConsumer body) {
        if (n <= 0) return;
        boolean shareable = true;
        for (Tensor t : operands) if (t != null && !t.segment().isAccessibleBy(OTHER)) shareable = false;
        if (!shareable || n == 1 || (long) n * costPerItem < 100_000 || Runtime.getRuntime().availableProcessors() == 1) {
            for (int i = 0; i < n; i++) body.accept(i);
        } else {
            IntStream.range(0, n).parallel().forEach(body);
        }
    }
}
