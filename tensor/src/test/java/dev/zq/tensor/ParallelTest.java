package dev.zq.tensor;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** What every CPU kernel relies on from {@link Parallel#forEach}: each item once, on more than one core, failures surfaced. */
class ParallelTest {
    private static final Tensor[] NONE = new Tensor[0];

    @Test
    void runsEveryItemExactlyOnce() {
        // Totals below the parallel threshold (the caller's thread) and above it, few items and many.
        for (int n : new int[]{1, 2, 3, 17, 1000, 100_003})
            for (long cost : new long[]{10, 1_000, 5_000_000}) {
                AtomicIntegerArray runs = new AtomicIntegerArray(n);
                Parallel.forEach(n, cost, NONE, runs::incrementAndGet);
                for (int i = 0; i < n; i++) assertEquals(1, runs.get(i), "item " + i + " of " + n + " at cost " + cost);
            }
    }

    @Test
    void usesMoreThanOneThreadWhereThereAreCores() {
        assumeTrue(Runtime.getRuntime().availableProcessors() > 1, "one core");
        Set<Thread> threads = ConcurrentHashMap.newKeySet();
        Parallel.forEach(64, 10_000_000, NONE, i -> {
            threads.add(Thread.currentThread());
            sleep(2);
        });
        assertTrue(threads.size() > 1, "ran on " + threads);
    }

    @Test
    void aFailureIsRethrownAfterEveryThreadStops() {
        IllegalArgumentException boom = new IllegalArgumentException("item 37");
        AtomicInteger running = new AtomicInteger();
        IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class, () -> Parallel.forEach(200, 10_000_000, NONE, i -> {
            running.incrementAndGet();
            try {
                if (i == 37) throw boom;
                sleep(1);
            } finally {
                running.decrementAndGet();
            }
        }));
        // The pool may rethrow a copy of the same type that holds the original as its cause.
        assertTrue(thrown == boom || thrown.getCause() == boom, "rethrown: " + thrown);
        assertEquals(0, running.get(), "an item still running after forEach returned");
    }

    @Test
    void nestedCallsComplete() {
        AtomicIntegerArray runs = new AtomicIntegerArray(16 * 16);
        Parallel.forEach(16, 10_000_000, NONE, i -> Parallel.forEach(16, 10_000_000, NONE, j -> runs.incrementAndGet(16 * i + j)));
        for (int i = 0; i < runs.length(); i++) assertEquals(1, runs.get(i), "item " + i);
    }

    @Test
    void confinedOperandsStayOnTheCallersThread() {
        try (Arena confined = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(confined, DType.F32, 64);
            Set<Thread> threads = ConcurrentHashMap.newKeySet();
            Parallel.forEach(64, 10_000_000, new Tensor[]{t}, i -> {
                threads.add(Thread.currentThread());
                t.setFloat(i, i);
            });
            assertEquals(Set.of(Thread.currentThread()), threads);
            for (int i = 0; i < 64; i++) assertEquals(i, t.getFloat(i));
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
