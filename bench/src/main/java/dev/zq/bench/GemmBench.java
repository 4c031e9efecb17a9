package dev.zq.bench;

import dev.zq.kernels.Fp16GemmKernel;
import dev.zq.kernels.GemmTiles;
import dev.zq.kernels.Int8GemmKernel;
import dev.zq.kernels.PrefillGemmKernel;
import dev.zq.kernels.SkinnyGemmKernel;
import dev.zq.runtime.Grid;
import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.cuda.CudaDevice;
import dev.zq.runtime.cuda.CudaDriver;
import dev.zq.runtime.cuda.DeviceMemory;

import java.lang.foreign.MemorySegment;
import java.lang.reflect.Method;

/**
 * Times the JIT-compiled GEMMs on the GPU: the W8A8 GEMM with its fused epilogue ({@link Int8GemmKernel}: dequantize,
 * bias, FP16 out) and the FP16 GEMM ({@link Fp16GemmKernel}: bias, FP16 out), each tile kernel that fits the shape
 * ({@link GemmTiles#candidates}), and which one {@link GemmTiles} picks; median of 20 event-timed launches after 3 warm-ups, as TOP/s
 * (2·M·N·K operations), on random operands; then the decoder's prompt GEMMs ({@link PrefillGemmKernel}: INT8 and
 * INT4 weights in groups of 64 with token-wise INT8 activations, and FP16; FP32 rows out). {@code scripts/gpu-gemm-bench.sh} runs it beside PyTorch's {@code torch._int_mm} and FP16
 * {@code a@b}. Shapes are arguments {@code MxNxK} (defaults: the table's shapes).
 */
public final class GemmBench {
    /** Median of 20 event-timed launches after 3 warm-ups, ms. */
    static double median(CudaDevice gpu, Method kernel, Grid grid, Object[] args, MemorySegment e0, MemorySegment e1) throws Exception {
        CudaDriver d = gpu.driver();
        double[] ms = new double[20];
        for (int r = -3; r < ms.length; r++) {
            d.eventRecord(e0, gpu.stream());
            gpu.launch(kernel, grid, args);
            d.eventRecord(e1, gpu.stream());
            d.eventSynchronize(e1);
            if (r >= 0) ms[r] = d.eventElapsedMillis(e0, e1);
        }
        return RuntimeBench.median(ms);
    }

    public static void main(String[] args) throws Exception {
        String[] shapes = args.length > 0 ? args : new String[]{"128x768x768", "512x768x768", "2048x3072x768", "2048x768x3072",
                "16384x3072x768", "16384x768x3072", "4096x4096x4096", "8192x8192x8192"};
        try (CudaDevice gpu = CudaDevice.open(0)) {
            CudaDriver d = gpu.driver();
            GemmTiles tiles = new GemmTiles(gpu);
            System.out.println("zq device: " + gpu.name());
            MemorySegment e0 = d.eventCreate(), e1 = d.eventCreate();
            DeviceMemory spun = gpu.allocate(4);   // the spinning kernel's output (GemmTiles.launchesMillis)
            boolean warm = false;
            for (String s : shapes) {
                String[] p = s.split("x");
                int m = Integer.parseInt(p[0]), n = Integer.parseInt(p[1]), k = Integer.parseInt(p[2]);
                int padded = PrefillGemmKernel.paddedRows(m);
                DeviceMemory a = gpu.allocate(2L * padded * k), w = gpu.allocate(2L * n * k), y = gpu.allocate(2L * m * n);
                DeviceMemory sx = gpu.allocate(4L * padded), sw = gpu.allocate(4L * n), b = gpu.allocate(4L * n);
                // Scales and bias small (0x3c3c3c3c is about 0.0115 as a float, 1.06 as a half pair).
                for (DeviceMemory dm : new DeviceMemory[]{sx, sw, b}) d.memsetD8(dm.pointer(), (byte) 0x3c, dm.bytes());
                for (GemmTiles.Precision prec : m % 64 == 0 ? GemmTiles.Precision.values() : new GemmTiles.Precision[0]) {
                    // Random operands, as the PyTorch peer uses (tensor-core throughput depends on the data).
                    boolean halves = prec == GemmTiles.Precision.FP16;
                    GemmTiles.randomOperand(gpu, a, 2L * m * k, halves);
                    GemmTiles.randomOperand(gpu, w, 2L * n * k, halves);
                    Class<?> owner = prec == GemmTiles.Precision.INT8 ? Int8GemmKernel.class : Fp16GemmKernel.class;
                    Object[] kargs = prec == GemmTiles.Precision.INT8 ? new Object[]{a, w, sx, sw, b, y, m, n, k, 0} : new Object[]{a, w, b, y, m, n, k, 0};
                    if (!warm) {
                        // The GPU leaves its idle clocks only under load: spin it up before the first timing.
                        long until = System.nanoTime() + 1_000_000_000L;
                        Method g = KernelCompiler.find(owner, "gemm64");
                        while (System.nanoTime() < until) {
                            gpu.launch(g, Grid.of((m / 64) * (n / 64), 128), kargs);
                            d.streamSynchronize(gpu.stream());
                        }
                        warm = true;
                    }
                    String picked = tiles.choose(prec, m, n, k).name();
                    for (GemmTiles.Choice c : GemmTiles.candidates(prec, m, n, k, tiles.slots(prec), gpu.hasWarpgroupMma())) {
                        // K split over blocks (Int8GemmKernel.gemm64k) needs scratch: parts and zeroed arrival counts.
                        DeviceMemory parts = gpu.allocate(4L * Math.max(1, c.partialInts())), counts = gpu.allocate(4L * Math.max(1, c.arrivalInts()));
                        d.memsetD8(counts.pointer(), (byte) 0, counts.bytes());
                        Object[] cargs = GemmTiles.concat(kargs, c.splitArgs(parts, counts));
                        double med = median(gpu, c.kernel(), c.grid(), cargs, e0, e1);
                        // And as GemmTiles times them: 10 launches back to back behind a spinning kernel (median of 5).
                        double[] b2b = new double[5];
                        for (int r = -1; r < b2b.length; r++) {
                            double t = GemmTiles.launchesMillis(gpu, c.kernel(), c.grid(), cargs, 10, e0, e1, spun);
                            if (r >= 0) b2b[r] = t;
                        }
                        gpu.free(parts);
                        gpu.free(counts);
                        System.out.printf("zq-%s-%s %s %.4f ms %.1f TOP/s%s (back to back %.4f ms)%n", prec.name().toLowerCase(), c.name(), s, med,
                                2.0 * m * n * k / (med * 1e9), picked.equals(c.name()) ? " (picked)" : "", RuntimeBench.median(b2b));
                    }
                }
                // The decoder's prompt GEMMs (PrefillGemmKernel): group-wise weights (groups of 64), FP32 rows out.
                DeviceMemory sg = gpu.allocate(4L * n * (k / 64)), yf = gpu.allocate(4L * m * n);
                // As residual projections (mode ADD), with K split where PrefillGemmKernel.splits says so.
                int splits = PrefillGemmKernel.splits(m, n, k, SkinnyGemmKernel.ADD);
                DeviceMemory arrivals = gpu.allocate(4L * (PrefillGemmKernel.paddedRows(m) / 64) * (n / 64));   // zeroed; launches leave it so
                DeviceMemory partials = gpu.allocate(4L * 4096 * PrefillGemmKernel.grid(m, n, splits).groupsX());
                d.memsetD8(sg.pointer(), (byte) 0x3c, sg.bytes());
                d.memsetD8(arrivals.pointer(), (byte) 0, arrivals.bytes());
                for (String variant : new String[]{"int8", "int4", "fp16", "int8a16", "int4a16"}) {
                    boolean halves = variant.equals("fp16"), weightOnly = variant.endsWith("a16");
                    GemmTiles.randomOperand(gpu, a, 2L * m * k, halves || weightOnly);
                    GemmTiles.randomOperand(gpu, w, 2L * n * k, halves);
                    Object[] kargs = halves ? new Object[]{a, w, b, yf, m, n, k, SkinnyGemmKernel.ADD, splits, partials, arrivals}
                            : weightOnly ? new Object[]{a, w, sg, b, yf, m, n, k, 64, SkinnyGemmKernel.ADD, splits, partials, arrivals}
                            : new Object[]{a, sx, w, sg, b, yf, m, n, k, 64, SkinnyGemmKernel.ADD, splits, partials, arrivals};
                    double med = median(gpu, KernelCompiler.find(PrefillGemmKernel.class, variant), PrefillGemmKernel.grid(m, n, splits), kargs, e0, e1);
                    System.out.printf("zq-prefill-%s%s %s %.4f ms %.1f TOP/s (K in %d)%n", variant, halves ? "" : "-g64", s, med,
                            2.0 * m * n * k / (med * 1e9), splits);
                }
                if (m <= 64) {
                    // The few-row kernels the decode step uses (FP32 rows in, activations quantized or halved inside).
                    DeviceMemory x = gpu.allocate(4L * m * k);
                    d.memsetD8(x.pointer(), (byte) 0x3c, x.bytes());
                    for (String variant : new String[]{"int8", "int4", "fp16", "int8a16", "int4a16"}) {
                        Object[] kargs = variant.equals("fp16") ? new Object[]{x, 0, b, b, 1e-5f, w, b, yf, m, n, k, 0}
                                : new Object[]{x, 0, b, b, 1e-5f, w, sg, b, yf, m, n, k, 64, 0};
                        double med = median(gpu, KernelCompiler.find(SkinnyGemmKernel.class, variant), SkinnyGemmKernel.grid(m, n), kargs, e0, e1);
                        System.out.printf("zq-skinny-%s%s %s %.4f ms %.1f TOP/s%n", variant, variant.equals("fp16") ? "" : "-g64", s, med,
                                2.0 * m * n * k / (med * 1e9));
                    }
                    gpu.free(x);
                }
                for (DeviceMemory dm : new DeviceMemory[]{a, w, y, sx, sw, b, sg, yf, arrivals, partials}) gpu.free(dm);
            }
            d.eventDestroy(e0);
            d.eventDestroy(e1);
            gpu.free(spun);
        }
    }
}
