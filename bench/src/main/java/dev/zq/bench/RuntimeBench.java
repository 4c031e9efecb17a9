package dev.zq.bench;

import dev.zq.kernels.BasicKernels;
import dev.zq.runtime.Grid;
import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.cuda.CudaDevice;
import dev.zq.runtime.cuda.CudaDriver;
import dev.zq.runtime.cuda.CudaGraph;
import dev.zq.runtime.cuda.DeviceMemory;

import java.lang.foreign.MemorySegment;
import java.lang.reflect.Method;
import java.util.Arrays;

/**
 * GPU runtime measurements (issue: launch cost from Java, graph replay vs separate launches for a
 * 20-kernel chain, a JIT-compiled copy kernel's bandwidth vs cuMemcpyDtoD). Prints a Markdown table;
 * every figure is the median of repeated runs in this one process.
 * Run: {@code java -cp … dev.zq.bench.RuntimeBench}
 */
public final class RuntimeBench {
    public static void main(String[] args) throws Exception {
        try (CudaDevice gpu = CudaDevice.open(0)) {
            CudaDriver d = gpu.driver();
            Method saxpy = KernelCompiler.find(BasicKernels.class, "saxpy");
            Method copy = KernelCompiler.find(BasicKernels.class, "copy");
            System.out.println("device: " + gpu.name());
            System.out.println();
            System.out.println("| measurement | value |");
            System.out.println("|---|---:|");

            // 1. Launch cost: enqueue 2000 tiny kernels, then wait; per launch = elapsed / 2000.
            int n = 4096;
            DeviceMemory x = gpu.allocate(4L * n), y = gpu.allocate(4L * n);
            d.memsetD8(x.pointer(), (byte) 0, 4L * n);
            d.memsetD8(y.pointer(), (byte) 0, 4L * n);
            Grid small = Grid.cover(n, 256);
            for (int i = 0; i < 2000; i++) gpu.launch(saxpy, small, 1f, x, y, n);
            gpu.synchronize();
            double[] perLaunch = new double[15];
            for (int r = 0; r < perLaunch.length; r++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < 2000; i++) gpu.launch(saxpy, small, 1f, x, y, n);
                gpu.synchronize();
                perLaunch[r] = (System.nanoTime() - t0) / 2000.0 / 1000.0;
            }
            System.out.printf("| kernel launch from Java (cuLaunchKernel via FFM, saxpy n=4096), µs per launch | %.2f |%n", median(perLaunch));

            // 2. A 20-kernel chain: separate launches vs one CUDA graph replay, wall time to completion.
            double[] separate = new double[200], graphed = new double[200];
            try (CudaGraph g = gpu.capture(() -> { for (int i = 0; i < 20; i++) gpu.launch(saxpy, small, 1f, x, y, n); })) {
                for (int w = 0; w < 50; w++) { g.launch(); gpu.synchronize(); }
                for (int r = 0; r < separate.length; r++) {
                    long t0 = System.nanoTime();
                    for (int i = 0; i < 20; i++) gpu.launch(saxpy, small, 1f, x, y, n);
                    gpu.synchronize();
                    long t1 = System.nanoTime();
                    g.launch();
                    gpu.synchronize();
                    long t2 = System.nanoTime();
                    separate[r] = (t1 - t0) / 1000.0;
                    graphed[r] = (t2 - t1) / 1000.0;
                }
            }
            System.out.printf("| 20-kernel chain, separate launches + sync, µs | %.1f |%n", median(separate));
            System.out.printf("| 20-kernel chain, CUDA graph replay + sync, µs | %.1f |%n", median(graphed));
            System.out.printf("| graph speed-up | %.2f× |%n", median(separate) / median(graphed));

            // 3. Bandwidth: the JIT-compiled grid-stride copy kernel vs the driver's device-to-device copy.
            long elems = 64L << 20;   // 256 MiB
            DeviceMemory src = gpu.allocate(4 * elems), dst = gpu.allocate(4 * elems);
            d.memsetD8(src.pointer(), (byte) 1, 4 * elems);
            MemorySegment e0 = d.eventCreate(), e1 = d.eventCreate();
            int sms = 132;
            for (int blocksPerSm : new int[]{4, 8, 16}) {
                Grid g = Grid.of(sms * blocksPerSm, 256);
                double[] ms = new double[20];
                for (int r = -3; r < ms.length; r++) {
                    d.eventRecord(e0, gpu.stream());
                    gpu.launch(copy, g, src, dst, (int) elems);
                    d.eventRecord(e1, gpu.stream());
                    d.eventSynchronize(e1);
                    if (r >= 0) ms[r] = d.eventElapsedMillis(e0, e1);
                }
                System.out.printf("| copy kernel (zq JIT, %d blocks × 256 threads), 256 MiB, GB/s (read+write) | %.0f |%n",
                        g.groupsX(), 2.0 * 4 * elems / (median(ms) * 1e6));
            }
            double[] ms = new double[20];
            for (int r = -3; r < ms.length; r++) {
                d.eventRecord(e0, gpu.stream());
                d.memcpyDtoDAsync(dst.pointer(), src.pointer(), 4 * elems, gpu.stream());
                d.eventRecord(e1, gpu.stream());
                d.eventSynchronize(e1);
                if (r >= 0) ms[r] = d.eventElapsedMillis(e0, e1);
            }
            System.out.printf("| cuMemcpyDtoD, 256 MiB, GB/s (read+write) | %.0f |%n", 2.0 * 4 * elems / (median(ms) * 1e6));
            d.eventDestroy(e0);
            d.eventDestroy(e1);

            // 4. Dependent rounds over 1 Mi floats, each reading what other blocks wrote in the round before: one launch
            // per round in a CUDA graph (programmatic edges) against one persistent launch with a grid barrier per round.
            rounds(gpu, 1 << 20);
            rounds(gpu, 1 << 13);
        }
    }

    static void rounds(CudaDevice gpu, int n) throws Exception {
        Method one = KernelCompiler.find(BasicKernels.class, "shiftedHalfPlusOne"), persistent = KernelCompiler.find(BasicKernels.class, "shiftedHalfPlusOneRounds");
        int rounds = 64;
        String size = n >= 1 << 20 ? (n >> 20) + " Mi" : (n >> 10) + " Ki";
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofShared()) {
            dev.zq.runtime.FloatArray x = dev.zq.runtime.FloatArray.allocate(a, n), y = dev.zq.runtime.FloatArray.allocate(a, n);
            dev.zq.runtime.IntArray sync = dev.zq.runtime.IntArray.allocate(a, 2);
            dev.zq.runtime.TaskGraph chain = new dev.zq.runtime.TaskGraph("rounds as launches").transferToDevice(dev.zq.runtime.TaskGraph.Transfer.FIRST_EXECUTION, x, y);
            for (int r = 0; r < rounds; r++)
                chain.task(one, Grid.of(132, 256), r % 2 == 0 ? x : y, r % 2 == 0 ? y : x, (r * 7919 + 1) % n, n);
            try (var plan = gpu.plan(chain)) {
                plan.execute();
                double[] us = new double[15];
                for (int i = 0; i < us.length; i++) us[i] = plan.replayMillis(20) * 1000 / 20 / rounds;
                System.out.printf("| %d dependent rounds (%s floats, 132 × 256 threads) as %d kernels in a CUDA graph, µs a round | %.2f |%n", rounds, size, rounds, median(us));
            }
            for (int blocksPerSm : new int[]{1, 2, 4}) {
                int blocks = Math.min(132 * blocksPerSm, gpu.residentBlocks(persistent, 256));
                dev.zq.runtime.TaskGraph one1 = new dev.zq.runtime.TaskGraph("rounds in one kernel")
                        .transferToDevice(dev.zq.runtime.TaskGraph.Transfer.FIRST_EXECUTION, x, y, sync);
                one1.task(persistent, Grid.of(blocks, 256), sync, x, y, rounds, n);
                try (var plan = gpu.plan(one1)) {
                    plan.execute();
                    double[] us = new double[15];
                    for (int i = 0; i < us.length; i++) us[i] = plan.replayMillis(20) * 1000 / 20 / rounds;
                    System.out.printf("| the same rounds (%s floats) in one kernel with a grid barrier each (%d blocks × 256 threads), µs a round | %.2f |%n", size, blocks, median(us));
                }
            }
        }
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
