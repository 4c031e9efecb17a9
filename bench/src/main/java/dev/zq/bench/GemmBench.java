package dev.zq.bench;

import dev.zq.kernels.Int8GemmKernel;
import dev.zq.runtime.Grid;
import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.cuda.CudaDevice;
import dev.zq.runtime.cuda.CudaDriver;
import dev.zq.runtime.cuda.DeviceMemory;

import java.lang.foreign.MemorySegment;
import java.lang.reflect.Method;

/**
 * Times the JIT-compiled W8A8 GEMMs with fused dequantization ({@link Int8GemmKernel}: the 64×64 tile and the
 * 128×128 tile with async copies) on the GPU: median of 20 event-timed launches after 3 warm-ups per shape and kernel, reported as TOP/s (2·M·N·K integer operations).
 * {@code scripts/gpu-gemm-bench.sh} runs it beside PyTorch's {@code torch._int_mm} and FP16 {@code a@b}.
 * Shapes are given as arguments {@code MxNxK} (defaults: the table's shapes).
 */
public final class GemmBench {
    public static void main(String[] args) throws Exception {
        String[] shapes = args.length > 0 ? args : new String[]{"512x768x768", "2048x3072x768", "2048x768x3072", "4096x4096x4096", "8192x8192x8192"};
        try (CudaDevice gpu = CudaDevice.open(0)) {
            CudaDriver d = gpu.driver();
            Method gemm64 = KernelCompiler.find(Int8GemmKernel.class, "gemmDequant"),
                    gemmAsync = KernelCompiler.find(Int8GemmKernel.class, "gemmDequantAsync");
            System.out.println("zq device: " + gpu.name());
            MemorySegment e0 = d.eventCreate(), e1 = d.eventCreate();
            for (String s : shapes) {
                String[] p = s.split("x");
                int m = Integer.parseInt(p[0]), n = Integer.parseInt(p[1]), k = Integer.parseInt(p[2]);
                DeviceMemory a = gpu.allocate((long) m * k), w = gpu.allocate((long) n * k), y = gpu.allocate(4L * m * n);
                DeviceMemory sx = gpu.allocate(4L * m), sw = gpu.allocate(4L * n), b = gpu.allocate(4L * n);
                for (DeviceMemory dm : new DeviceMemory[]{a, w, sx, sw, b}) d.memsetD8(dm.pointer(), (byte) 1, dm.bytes());
                if (s.equals(shapes[0])) {
                    // The GPU leaves its idle clocks only under load: spin it up before the first timing.
                    long until = System.nanoTime() + 1_000_000_000L;
                    while (System.nanoTime() < until) {
                        gpu.launch(gemm64, Grid.of((m / 64) * (n / 64), 128), a, w, sx, sw, b, y, m, n, k);
                        d.streamSynchronize(gpu.stream());
                    }
                }
                for (int tile : new int[]{64, 128}) {
                    if (m % tile != 0 || n % tile != 0) continue;
                    Method gemm = tile == 64 ? gemm64 : gemmAsync;
                    Grid grid = Grid.of((m / tile) * (n / tile), tile == 64 ? 128 : 256);
                    double[] ms = new double[20];
                    for (int r = -3; r < ms.length; r++) {
                        d.eventRecord(e0, gpu.stream());
                        gpu.launch(gemm, grid, a, w, sx, sw, b, y, m, n, k);
                        d.eventRecord(e1, gpu.stream());
                        d.eventSynchronize(e1);
                        if (r >= 0) ms[r] = d.eventElapsedMillis(e0, e1);
                    }
                    double med = RuntimeBench.median(ms);
                    System.out.printf("zq-int8-dequant-%s %s %.4f ms %.1f TOP/s%n", tile == 64 ? "64" : "128-async", s, med, 2.0 * m * n * k / (med * 1e9));
                }
                for (DeviceMemory dm : new DeviceMemory[]{a, w, y, sx, sw, b}) gpu.free(dm);
            }
            d.eventDestroy(e0);
            d.eventDestroy(e1);
        }
    }
}
