package dev.zq.kernels;

import dev.zq.runtime.Device;
import dev.zq.runtime.ExecutionPlan;
import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.TaskGraph;
import dev.zq.runtime.TaskGraph.Transfer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A 21-kernel task graph (20 saxpy steps with a changeable alpha, then an add) executed repeatedly on the
 * best device: on a GPU as one CUDA graph whose alpha is patched between executions, on the CPU directly.
 * Both must give the plain-Java result, bit for bit.
 */
class TaskGraphTest {
    @Test
    void replayWithChangedScalarsEqualsPlainJava() throws Exception {
        List<String> why = new ArrayList<>();
        int n = 3000;
        try (Arena a = Arena.ofShared(); Device device = Device.best(why::add)) {
            System.out.println("task graph on " + device.name() + (why.isEmpty() ? "" : " (" + why.getFirst() + ")"));
            Random rnd = new Random(8);
            FloatArray x = KernelsOnCpuTest.randomFloats(a, rnd, n, 1), y = FloatArray.allocate(a, n), bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 1);
            FloatArray out = FloatArray.allocate(a, n);
            TaskGraph.Scalar<Float> alpha = TaskGraph.floatScalar("alpha", 0.5f);
            TaskGraph g = new TaskGraph("chain")
                    .transferToDevice(Transfer.FIRST_EXECUTION, bias)
                    .transferToDevice(Transfer.EVERY_EXECUTION, x, y);
            for (int i = 0; i < 20; i++) g.task(KernelCompiler.find(BasicKernels.class, "saxpy"), Grid.cover(n, 128), alpha, x, y, n);
            g.task(KernelCompiler.find(BasicKernels.class, "vectorAdd"), Grid.cover(n, 128), y, bias, out, n)
                    .transferToHost(Transfer.EVERY_EXECUTION, out);
            try (ExecutionPlan plan = device.plan(g)) {
                for (float al : new float[]{0.5f, 0.5f, -1.25f, 3f}) {
                    plan.set(alpha, al);
                    for (int i = 0; i < n; i++) { x.set(i, x.get(i) * 0.9f); y.set(i, 0f); }
                    plan.execute();
                    for (int i = 0; i < n; i++) {
                        float yy = 0f;
                        for (int s = 0; s < 20; s++) yy = al * x.get(i) + yy;
                        assertEquals(Float.floatToRawIntBits(yy + bias.get(i)), Float.floatToRawIntBits(out.get(i)), "alpha " + al + " element " + i);
                    }
                }
                // The chain three times over in one execute: y in once (zeros), 60 saxpy steps, out once.
                for (int i = 0; i < n; i++) y.set(i, 0f);
                plan.execute(3);
                for (int i = 0; i < n; i++) {
                    float yy = 0f;
                    for (int s = 0; s < 60; s++) yy = 3f * x.get(i) + yy;
                    assertEquals(Float.floatToRawIntBits(yy + bias.get(i)), Float.floatToRawIntBits(out.get(i)), "three runs, element " + i);
                }
                assertThrows(IllegalArgumentException.class, () -> plan.execute(0));
                assertTrue(plan.replayMillis() > 0);
                var profile = plan.profileMillis();
                assertEquals(java.util.Set.of("BasicKernels.saxpy", "BasicKernels.vectorAdd"), profile.keySet());
                assertTrue(profile.values().stream().allMatch(t -> t > 0), profile.toString());
                var tasks = plan.profileTaskMillis();   // task by task, in order (on CUDA queued behind a spinning kernel)
                assertEquals(21, tasks.size());
                for (int i = 0; i < 21; i++) assertEquals(i < 20 ? "BasicKernels.saxpy" : "BasicKernels.vectorAdd", tasks.get(i).getKey());
                assertTrue(tasks.stream().allMatch(t -> t.getValue() > 0), tasks.toString());
            }
        }
    }

    /**
     * 40 kernels that await their predecessor themselves (on a GPU: programmatic dependent launches, each starting while
     * the previous one ends) ping-pong between two buffers, each reading the other's output at a shifted position, with
     * two ordinary kernels (full dependencies) among them; executed twice. Any kernel that ran ahead of its predecessor's
     * writes would read stale values: the result must be plain Java's, bit for bit.
     */
    @Test
    void programmaticallyLaunchedChainEqualsPlainJava() throws Exception {
        List<String> why = new ArrayList<>();
        int n = 1 << 20;
        var chained = KernelCompiler.find(BasicKernels.class, "shiftedHalfPlusOne");
        assertTrue(new KernelCompiler().awaitsPreviousKernel(chained));
        assertFalse(new KernelCompiler().awaitsPreviousKernel(KernelCompiler.find(BasicKernels.class, "saxpy")));
        try (Arena a = Arena.ofShared(); Device device = Device.best(why::add)) {
            FloatArray x = KernelsOnCpuTest.randomFloats(a, new Random(21), n, 100), y = FloatArray.allocate(a, n);
            float[] expect = new float[n], other = new float[n];
            for (int i = 0; i < n; i++) expect[i] = x.get(i);
            TaskGraph g = new TaskGraph("programmatic chain").transferToDevice(Transfer.EVERY_EXECUTION, x, y);
            FloatArray from = x, to = y;
            for (int s = 0; s < 40; s++) {
                int shift = (s * 7919 + 1) % n;
                g.task(chained, Grid.of(64, 256), from, to, shift, n);
                for (int i = 0; i < n; i++) other[i] = 0.5f * expect[(i + shift) % n] + 1f;
                float[] t = expect; expect = other; other = t;
                if (s == 12 || s == 29) {   // an ordinary kernel in between: to += 0.25 · from
                    g.task(KernelCompiler.find(BasicKernels.class, "saxpy"), Grid.cover(n, 256), 0.25f, from, to, n);
                    for (int i = 0; i < n; i++) expect[i] = 0.25f * other[i] + expect[i];
                }
                FloatArray f = from; from = to; to = f;
            }
            g.transferToHost(Transfer.EVERY_EXECUTION, from);
            float[] input = new float[n];
            for (int i = 0; i < n; i++) input[i] = x.get(i);
            try (ExecutionPlan plan = device.plan(g)) {
                for (int run = 0; run < 2; run++) {
                    for (int i = 0; i < n; i++) { x.set(i, input[i]); y.set(i, 0f); }
                    plan.execute();
                    for (int i = 0; i < n; i++)
                        if (Float.floatToRawIntBits(expect[i]) != Float.floatToRawIntBits(from.get(i)))
                            fail("run " + run + ", element " + i + ": " + from.get(i) + " instead of " + expect[i] + " on " + device.name());
                }
            }
        }
    }

    /**
     * The same kind of chain as one persistent kernel: 41 rounds separated by grid barriers, each reading what other blocks
     * wrote in the round before, launched twice in a graph after an ordinary kernel. Equal to plain Java bit for bit; the
     * barrier leaves its arrival count at zero for the next launch.
     */
    @Test
    void gridBarrierRoundsEqualPlainJava() throws Exception {
        List<String> why = new ArrayList<>();
        int n = 1 << 18, rounds = 41;
        var kernel = KernelCompiler.find(BasicKernels.class, "shiftedHalfPlusOneRounds");
        assertTrue(new KernelCompiler().usesGridBarrier(kernel));
        assertFalse(new KernelCompiler().usesGridBarrier(KernelCompiler.find(BasicKernels.class, "shiftedHalfPlusOne")));
        try (Arena a = Arena.ofShared(); Device device = Device.best(why::add)) {
            int blocks = Math.min(device.residentBlocks(kernel, 128), device instanceof dev.zq.runtime.CpuDevice ? 24 : 1024);
            FloatArray x = KernelsOnCpuTest.randomFloats(a, new Random(22), n, 100), y = FloatArray.allocate(a, n);
            dev.zq.runtime.IntArray sync = dev.zq.runtime.IntArray.allocate(a, 2);
            float[] expect = new float[n], other = new float[n];
            for (int i = 0; i < n; i++) expect[i] = x.get(i);
            for (int launch = 0; launch < 2; launch++) {
                for (int i = 0; i < n; i++) expect[i] = 0.25f * expect[i] + expect[i];   // the saxpy before: x += 0.25 · x
                for (int r = 0; r < rounds; r++) {
                    int shift = (r * 7919 + 1) % n;
                    for (int i = 0; i < n; i++) other[i] = 0.5f * expect[(i + shift) % n] + 1f;
                    float[] t = expect; expect = other; other = t;
                }
            }
            TaskGraph g = new TaskGraph("grid barrier rounds").transferToDevice(Transfer.EVERY_EXECUTION, x, y, sync);
            g.task(KernelCompiler.find(BasicKernels.class, "saxpy"), Grid.cover(n, 256), 0.25f, x, x, n);
            g.task(kernel, Grid.of(blocks, 128), sync, x, y, rounds, n);
            g.task(KernelCompiler.find(BasicKernels.class, "saxpy"), Grid.cover(n, 256), 0.25f, y, y, n);
            g.task(kernel, Grid.of(blocks, 128), sync, y, x, rounds, n);
            g.transferToHost(Transfer.EVERY_EXECUTION, x, sync);
            float[] input = new float[n];
            for (int i = 0; i < n; i++) input[i] = x.get(i);
            try (ExecutionPlan plan = device.plan(g)) {
                for (int run = 0; run < 2; run++) {
                    for (int i = 0; i < n; i++) { x.set(i, input[i]); y.set(i, 0f); }
                    plan.execute();
                    for (int i = 0; i < n; i++)
                        if (Float.floatToRawIntBits(expect[i]) != Float.floatToRawIntBits(x.get(i)))
                            fail("run " + run + ", element " + i + ": " + x.get(i) + " instead of " + expect[i] + " on " + device.name() + " with " + blocks + " blocks");
                    assertEquals(0, sync.get(0), "arrivals left in the barrier");
                }
            }
            System.out.println("grid barrier rounds on " + device.name() + ": " + blocks + " blocks of 128" + (why.isEmpty() ? "" : " (" + why.getFirst() + ")"));
        }
    }

    /**
     * Thread-block clusters ({@code @Kernel(cluster = 4)}): each block reads its three peers' shared memory after a
     * cluster barrier, in a graph of two launches, on the best device; every block of a cluster writes the same total,
     * its blocks' sums in rank order, and its rank. A grid that is not made of whole clusters is refused with the reason.
     */
    @Test
    void clusterBlocksReadEachOthersSharedMemory() throws Exception {
        List<String> why = new ArrayList<>();
        int blocks = 24, n = blocks * 256 - 100;
        var kernel = KernelCompiler.find(ReductionKernels.class, "clusterSum");
        try (Arena a = Arena.ofShared(); Device device = Device.best(why::add)) {
            FloatArray x = KernelsOnCpuTest.randomFloats(a, new Random(31), n, 1), total = FloatArray.allocate(a, blocks), rank = FloatArray.allocate(a, blocks);
            TaskGraph g = new TaskGraph("clusters").transferToDevice(Transfer.EVERY_EXECUTION, x);
            g.task(KernelCompiler.find(BasicKernels.class, "saxpy"), Grid.cover(n, 256), 0.5f, x, x, n);
            g.task(kernel, Grid.of(blocks, 256), x, total, rank, n);
            g.transferToHost(Transfer.EVERY_EXECUTION, total, rank);
            float[] input = new float[n];
            for (int i = 0; i < n; i++) input[i] = 0.5f * x.get(i) + x.get(i);
            try (ExecutionPlan plan = device.plan(g)) {
                plan.execute();
            }
            for (int b = 0; b < blocks; b++) {
                float expect = 0f;
                for (int r = 0; r < 4; r++) {
                    int peer = b / 4 * 4 + r;
                    float[] s = new float[256];
                    for (int t = 0; t < 256; t++) s[t] = peer * 256 + t < n ? input[peer * 256 + t] : 0f;
                    for (int stride = 128; stride > 0; stride >>= 1) for (int t = 0; t < stride; t++) s[t] = s[t] + s[t + stride];
                    expect += s[0];
                }
                assertEquals(Float.floatToRawIntBits(expect), Float.floatToRawIntBits(total.get(b)), "block " + b + " on " + device.name());
                assertEquals(b % 4, rank.get(b), "rank of block " + b);
            }
            TaskGraph partial = new TaskGraph("partial cluster").transferToDevice(Transfer.EVERY_EXECUTION, x);
            partial.task(kernel, Grid.of(6, 256), x, total, rank, n);
            Exception e = assertThrows(Exception.class, () -> { try (ExecutionPlan plan = device.plan(partial)) { plan.execute(); } });
            Throwable t = e;
            while (t.getCause() != null && !String.valueOf(t.getMessage()).contains("clusters of 4")) t = t.getCause();
            assertTrue(String.valueOf(t.getMessage()).contains("clusters of 4"), "the reason names the cluster: " + e);
            System.out.println("clusters of 4 on " + device.name() + (why.isEmpty() ? "" : " (" + why.getFirst() + ")"));
        }
    }

    /** A grid-barrier kernel with more blocks than the device holds at once would wait forever: refused with a reason. */
    @Test
    void gridBarrierKernelLargerThanTheDeviceHoldsIsRefused() throws Exception {
        List<String> why = new ArrayList<>();
        var kernel = KernelCompiler.find(BasicKernels.class, "shiftedHalfPlusOneRounds");
        try (Arena a = Arena.ofShared(); Device device = Device.best(why::add)) {
            int blocks = device.residentBlocks(kernel, 256) + 1;
            FloatArray x = FloatArray.allocate(a, 1024), y = FloatArray.allocate(a, 1024);
            TaskGraph g = new TaskGraph("too large").transferToDevice(Transfer.EVERY_EXECUTION, x, y, dev.zq.runtime.IntArray.allocate(a, 2));
            g.task(kernel, Grid.of(blocks, 256), dev.zq.runtime.IntArray.allocate(a, 2), x, y, 3, 1024);
            Exception e = assertThrows(Exception.class, () -> { try (ExecutionPlan plan = device.plan(g)) { plan.execute(); } });
            Throwable t = e;
            while (t.getCause() != null && !String.valueOf(t.getMessage()).contains("at once")) t = t.getCause();
            assertTrue(String.valueOf(t.getMessage()).contains("at once"), "the reason names the limit: " + e);
        }
    }

    /**
     * Two views of one tensor are one buffer on the device too: what a kernel writes through one view, the next kernel
     * reads through the other (on a GPU they used to get two device copies, and the second kernel read stale data).
     */
    /** A measurement takes a launch back out of a graph (the decoder's {@code -Dzq.decoder.omit}); an empty graph refuses. */
    @Test
    void theLastTaskCanBeTakenBack() {
        try (Arena a = Arena.ofShared()) {
            FloatArray x = FloatArray.allocate(a, 8), y = FloatArray.allocate(a, 8);
            var saxpy = KernelCompiler.find(BasicKernels.class, "saxpy");
            TaskGraph g = new TaskGraph("omit");
            assertThrows(IllegalStateException.class, g::removeLast);
            g.task(saxpy, Grid.cover(8, 8), 2f, x, y, 8);
            g.task(saxpy, Grid.cover(8, 8), 3f, x, y, 8);
            TaskGraph.Task last = g.removeLast();
            assertEquals(3f, last.args()[0]);
            assertEquals(1, g.tasks().size());
        }
    }

    @Test
    void viewsOfOneTensorShareDeviceMemory() throws Exception {
        List<String> why = new ArrayList<>();
        int n = 1000;
        try (Arena a = Arena.ofShared(); Device device = Device.best(why::add)) {
            dev.zq.tensor.Tensor t = dev.zq.tensor.Tensor.allocate(a, dev.zq.tensor.DType.F32, n);
            FloatArray written = FloatArray.view(t), read = FloatArray.view(t);
            FloatArray x = KernelsOnCpuTest.randomFloats(a, new Random(3), n, 1), out = FloatArray.allocate(a, n);
            TaskGraph g = new TaskGraph("views")
                    .transferToDevice(Transfer.EVERY_EXECUTION, x, written)
                    .task(KernelCompiler.find(BasicKernels.class, "saxpy"), Grid.cover(n, 128), 2f, x, written, n)
                    .task(KernelCompiler.find(BasicKernels.class, "vectorAdd"), Grid.cover(n, 128), read, x, out, n)
                    .transferToHost(Transfer.EVERY_EXECUTION, out);
            try (ExecutionPlan plan = device.plan(g)) {
                plan.execute();
                for (int i = 0; i < n; i++) assertEquals((2f * x.get(i) + 0f) + x.get(i), out.get(i), "element " + i);
            }
        }
    }

    @Test
    void argumentsAreCheckedWhenTheGraphIsDeclared() {
        var saxpy = KernelCompiler.find(BasicKernels.class, "saxpy");
        TaskGraph g = new TaskGraph("bad");
        assertThrows(IllegalArgumentException.class, () -> g.task(saxpy, Grid.of(1, 32), 1f, 2, 3, 4));
        assertThrows(IllegalArgumentException.class, () -> g.task(saxpy, Grid.of(1, 32), 1f));
    }
}
