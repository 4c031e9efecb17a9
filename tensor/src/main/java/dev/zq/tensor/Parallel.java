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

    /**
     * Rows a task takes in a product tiled by rows and column blocks when a task reuses one column block's weights for all
     * its rows: up to 64 (a multiple of 4, the narrower row tile), halved while there would be fewer than four tasks a
     * core, down to 16 ({@code columnTasks}: how many column blocks, each a task per row block).
     */
    public static int rowsPerTask(int m, int columnTasks) {
        int rows = Math.min(64, 4 * Math.ceilDiv(m, 4)), cores = Runtime.getRuntime().availableProcessors();
        while (rows >= 32 && (long) Math.ceilDiv(m, rows) * columnTasks < 4L * cores) rows = 4 * Math.ceilDiv(rows / 2, 4);
        return rows;
    }
}
