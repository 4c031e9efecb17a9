package dev.zq.kernels;

import dev.zq.runtime.Device;
import dev.zq.runtime.Grid;
import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.cuda.CudaDevice;
import dev.zq.runtime.cuda.CudaDriver;
import dev.zq.runtime.cuda.DeviceMemory;

import java.lang.foreign.MemorySegment;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Picks the GEMM tile for a problem shape, as ZeroQuant's backend picked among generated kernels by padding and
 * speed: on a GPU each candidate that fits the shape is timed once (median of 5 launches after 2 warm-ups, on
 * scratch operands) and the choice is cached for the shape; on the CPU, where speed does not matter, the larger
 * tile is taken when it fits. One instance per device.
 */
public final class GemmTiles {
    /** Which GEMM: W8A8 ({@link Int8GemmKernel}) or W16A16 ({@link Fp16GemmKernel}). */
    public enum Precision { INT8, FP16 }

    /** A kernel and the grid it needs for the shape. */
    public record Choice(Method kernel, Grid grid) {
        public String name() { return kernel.getName(); }
    }

    private final Device device;
    private final Map<String, Choice> chosen = new ConcurrentHashMap<>();

    public GemmTiles(Device device) { this.device = device; }

    /** The fastest tile for {@code y[m, n] = x[m, k] · w[n, k]ᵀ}; shapes must be multiples of 64. */
    public Choice choose(Precision p, int m, int n, int k) {
        if (m <= 0 || n <= 0 || k <= 0 || m % 64 != 0 || n % 64 != 0 || k % 64 != 0)
            throw new IllegalArgumentException("GEMM " + m + "x" + n + "x" + k + ": M, N and K must be positive multiples of 64");
        return chosen.computeIfAbsent(p + " " + m + "x" + n + "x" + k, key -> pick(p, m, n, k));
    }

    /** The candidates that fit the shape, larger tile first (on the CPU the first is taken). */
    public static List<Choice> candidates(Precision p, int m, int n) {
        Class<?> owner = p == Precision.INT8 ? Int8GemmKernel.class : Fp16GemmKernel.class;
        List<Choice> out = new ArrayList<>();
        if (m % 128 == 0 && n % 128 == 0) {
            out.add(new Choice(KernelCompiler.find(owner, "gemm128w"), Grid.of((m / 128) * (n / 128), 128)));
            out.add(new Choice(KernelCompiler.find(owner, "gemm128"), Grid.of((m / 128) * (n / 128), 256)));
        }
        out.add(new Choice(KernelCompiler.find(owner, "gemm64w"), Grid.of((m / 64) * (n / 64), 128)));
        out.add(new Choice(KernelCompiler.find(owner, "gemm64"), Grid.of((m / 64) * (n / 64), 128)));
        return out;
    }

    private Choice pick(Precision p, int m, int n, int k) {
        List<Choice> all = candidates(p, m, n);
        if (!(device instanceof CudaDevice gpu) || all.size() == 1) return all.getFirst();
        try {
            return fastest(gpu, p, all, m, n, k);
        } catch (Exception e) {
            throw new IllegalStateException("timing GEMM tiles for " + m + "x" + n + "x" + k + " failed: " + e.getMessage(), e);
        }
    }

    private static Choice fastest(CudaDevice gpu, Precision p, List<Choice> all, int m, int n, int k) throws Exception {
        CudaDriver d = gpu.driver();
        long elem = p == Precision.INT8 ? 1 : 2;
        DeviceMemory a = gpu.allocate(elem * m * k), w = gpu.allocate(elem * n * k), y = gpu.allocate(2L * m * n);
        DeviceMemory sx = gpu.allocate(4L * m), sw = gpu.allocate(4L * n), bias = gpu.allocate(4L * n);
        MemorySegment e0 = d.eventCreate(), e1 = d.eventCreate();
        try {
            for (DeviceMemory mem : List.of(a, w, sx, sw, bias)) d.memsetD8(mem.pointer(), (byte) 0, mem.bytes());
            Choice best = null;
            double bestMs = Double.MAX_VALUE;
            for (Choice c : all) {
                Object[] args = p == Precision.INT8 ? new Object[]{a, w, sx, sw, bias, y, m, n, k, 0} : new Object[]{a, w, bias, y, m, n, k, 0};
                double[] ms = new double[5];
                for (int r = -2; r < ms.length; r++) {
                    d.eventRecord(e0, gpu.stream());
                    gpu.launch(c.kernel(), c.grid(), args);
                    d.eventRecord(e1, gpu.stream());
                    d.eventSynchronize(e1);
                    if (r >= 0) ms[r] = d.eventElapsedMillis(e0, e1);
                }
                Arrays.sort(ms);
                if (ms[2] < bestMs) {
                    bestMs = ms[2];
                    best = c;
                }
            }
            return best;
        } finally {
            d.eventDestroy(e0);
            d.eventDestroy(e1);
            for (DeviceMemory mem : List.of(a, w, y, sx, sw, bias)) gpu.free(mem);
        }
    }
}
