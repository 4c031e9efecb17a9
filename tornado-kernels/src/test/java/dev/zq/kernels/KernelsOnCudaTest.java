package dev.zq.kernels;

import dev.zq.runtime.ByteArray;
import dev.zq.runtime.CpuExecutor;
import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.HalfArray;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.KernelBuffer;
import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.cuda.CudaDevice;
import dev.zq.runtime.cuda.CudaException;
import dev.zq.runtime.cuda.DeviceMemory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every kernel on the GPU against the same kernel on the CPU executor, on the same random inputs:
 * integer and byte outputs bit-exact, float outputs bit-exact too (the JIT emits {@code .rn} operations
 * that ptxas may not contract), except where a kernel uses an approximate instruction. Skipped, with the
 * reason, where there is no CUDA driver (development machines and CI).
 */
class KernelsOnCudaTest {
    static CudaDevice gpu;
    static String why;
    final CpuExecutor cpu = new CpuExecutor();

    @BeforeAll
    static void open() {
        try {
            gpu = CudaDevice.open(0);
            System.out.println("GPU: " + gpu.name());
        } catch (CudaException e) {
            why = e.getMessage();
        }
    }

    @AfterAll
    static void close() throws CudaException {
        if (gpu != null) gpu.close();
    }

    @Test
    void withoutADriverTheErrorSaysSo() {
        Assumptions.assumeTrue(gpu == null, "a GPU is present");
        assertTrue(why.contains("no NVIDIA driver") || why.contains("no CUDA device"), why);
    }

    /** A GPU older than Hopper is refused when it is opened, with its name, its compute capability and what zq needs. */
    @Test
    void aGpuOlderThanHopperIsRefusedWithTheReason() throws CudaException {
        CudaException e = assertThrows(CudaException.class, () -> CudaDevice.requireSupported("NVIDIA A100-SXM4-80GB", 8, 0));
        assertTrue(e.getMessage().contains("NVIDIA A100-SXM4-80GB has compute capability 8.0") && e.getMessage().contains("sm_90"), e.getMessage());
        CudaDevice.requireSupported("NVIDIA H200", 9, 0);
        CudaDevice.requireSupported("a later GPU", 10, 0);
        if (gpu != null) assertTrue(gpu.computeCapability() >= 90, "opened a GPU of compute capability " + gpu.computeCapability());
    }

    /** Runs {@code kernel} on copies of {@code args} on CPU and GPU and compares every buffer afterwards. */
    void same(Method kernel, Grid grid, Object... args) throws Exception {
        assumeDevice();
        DeviceRun device = device(kernel);
        if (device == null) return;
        try (Arena a = Arena.ofShared()) {
            Object[] onCpu = copy(a, args), onGpu = copy(a, args);
            cpu.launch(kernel, grid, onCpu);
            device.run(grid, onGpu);
            for (int i = 0; i < args.length; i++) {
                String what = kernel.getName() + ": buffer argument " + i + " differs between GPU and CPU";
                if (onCpu[i] instanceof FloatArray c) {
                    // Bit-exact, except that a NaN's payload is not specified (the GPU writes 0x7fffffff, Java 0x7fc00000).
                    FloatArray g = (FloatArray) onGpu[i];
                    for (int e = 0; e < c.length(); e++)
                        if (!(Float.isNaN(c.get(e)) && Float.isNaN(g.get(e))))
                            assertEquals(Float.floatToRawIntBits(c.get(e)), Float.floatToRawIntBits(g.get(e)), what + " at " + e + ": " + c.get(e) + " vs " + g.get(e));
                } else if (onCpu[i] instanceof HalfArray c) {
                    HalfArray g = (HalfArray) onGpu[i];
                    for (int e = 0; e < c.length(); e++)
                        if (!(Float.isNaN(c.get(e)) && Float.isNaN(g.get(e))))
                            assertEquals(Float.floatToRawIntBits(c.get(e)), Float.floatToRawIntBits(g.get(e)), what + " at " + e);
                } else if (onCpu[i] instanceof KernelBuffer c) {
                    assertArrayEquals(c.segment().toArray(ValueLayout.JAVA_BYTE), ((KernelBuffer) onGpu[i]).segment().toArray(ValueLayout.JAVA_BYTE), what);
                }
            }
        }
    }

    static Object[] copy(Arena a, Object[] args) {
        Object[] out = args.clone();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case FloatArray f -> { FloatArray c = FloatArray.allocate(a, f.length()); c.segment().copyFrom(f.segment()); out[i] = c; }
                case IntArray f -> { IntArray c = IntArray.allocate(a, f.length()); c.segment().copyFrom(f.segment()); out[i] = c; }
                case ByteArray f -> { ByteArray c = ByteArray.allocate(a, f.length()); c.segment().copyFrom(f.segment()); out[i] = c; }
                case HalfArray f -> { HalfArray c = HalfArray.allocate(a, f.length()); c.segment().copyFrom(f.segment()); out[i] = c; }
                default -> { }
            }
        }
        return out;
    }

    static Method k(Class<?> c, String name) { return KernelCompiler.find(c, name); }

    /** What runs a kernel on the device under test. */
    interface DeviceRun { void run(Grid grid, Object[] args) throws Exception; }

    /**
     * Skips a kernel comparison, with the reason, where this class's device is missing. The kernel comparisons run against
     * the GPU here; {@link KernelsOnPtxInterpreterTest} runs the same ones against the JIT's PTX on the CPU.
     */
    void assumeDevice() { Assumptions.assumeTrue(gpu != null, () -> "no CUDA device: " + why); }

    /** {@code kernel} on the device under test, or null where that device cannot run it (the comparison is then left out). */
    DeviceRun device(Method kernel) throws Exception { return (grid, args) -> gpu.run(kernel, grid, args); }

    /** The greedy heads' (rows, inputs) shapes: the real heads' here; a device that runs kernels slowly may take fewer or smaller ones. */
    int[][] headShapes(int[][] shapes) { return shapes; }

    /** The few-row GEMMs' (rows, inputs, group) shapes, likewise. */
    int[][] fewRowShapes(int[][] shapes) { return shapes; }

    /** The batch-1 wide kernels' (inputs, group) shapes, likewise. */
    int[][] wideShapes(int[][] shapes) { return shapes; }

    /** The batch-1 tensor-core kernels' (inputs, group) shapes, likewise. */
    int[][] mmaShapes(int[][] shapes) { return shapes; }

    /** {@code n} random ints (any bits: INT8 codes four to an int, INT4 eight). */
    static IntArray randomInts(Arena a, Random rnd, int n) {
        IntArray out = IntArray.allocate(a, n);
        for (int i = 0; i < n; i++) out.set(i, rnd.nextInt());
        return out;
    }

    /** {@link #skinnyMmaAgreesWithTheCpu}'s shapes (rows, outputs, K, group size); the PTX interpreter runs smaller ones. */
    int[][] skinnyShapes(int[][] shapes) { return shapes; }

    @Test
    void everyKernelMatchesTheCpuBitForBit() throws Exception {
        Random rnd = new Random(42);
        try (Arena a = Arena.ofShared()) {
            int n = 10_000;
            FloatArray x = KernelsOnCpuTest.randomFloats(a, rnd, n, 3), y = KernelsOnCpuTest.randomFloats(a, rnd, n, 3);
            x.set(5, Float.NaN);
            x.set(6, Float.POSITIVE_INFINITY);
            x.set(7, -0f);
            x.set(8, 1e-40f);   // subnormal: the JIT must not flush it to zero
            same(k(BasicKernels.class, "vectorAdd"), Grid.cover(n, 256), x, y, FloatArray.allocate(a, n), n);
            same(k(BasicKernels.class, "saxpy"), Grid.cover(n, 128), 0.37f, x, y, n);
            IntArray ints = IntArray.allocate(a, n);
            for (int i = 0; i < n; i++) ints.set(i, rnd.nextInt());
            same(k(BasicKernels.class, "load4Scaled"), Grid.of(5, 64), ints, IntArray.allocate(a, n - 8), 8, n - 8);
            HalfArray halves = HalfArray.allocate(a, n);
            for (int i = 0; i < n; i++) halves.segment().setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, i, (short) rnd.nextInt());   // NaNs too
            same(k(BasicKernels.class, "load4Halves"), Grid.of(5, 64), halves, IntArray.allocate(a, n / 2 - 8), 16, n / 2 - 8);
            same(k(BasicKernels.class, "copy"), Grid.of(7, 96), x, FloatArray.allocate(a, n), n);
            FloatArray wide = KernelsOnCpuTest.randomFloats(a, rnd, n, 120);   // exp from underflow to overflow, rsqrt of negatives (NaN)
            for (int i = 0; i < 9; i++) wide.set(i, x.get(i));
            wide.set(9, -104f);
            same(k(BasicKernels.class, "floatMath"), Grid.cover(n, 256), wide, FloatArray.allocate(a, n), FloatArray.allocate(a, n), n);
            same(k(BasicKernels.class, "clampedLeakyRelu"), Grid.cover(n, 256), x, FloatArray.allocate(a, n), 0.01f, 2.5f, n);
            same(k(BasicKernels.class, "hashIndex"), Grid.cover(n, 256), IntArray.allocate(a, n), 987654321, n);
            byte[] hist = new byte[n];
            rnd.nextBytes(hist);
            same(k(BasicKernels.class, "histogram"), Grid.cover(n, 256), ByteArray.of(a, hist), IntArray.allocate(a, 256), n);
            same(k(BasicKernels.class, "toHalf"), Grid.cover(n, 256), x, HalfArray.allocate(a, n), n);
            // prmt on random words and selectors; f16x2 subtraction on random finite halves whose exponents are close
            // enough (within 2^10 of each other: 21 significant bits) that the CPU's difference is exact in float before its
            // one rounding to half.
            IntArray ia = IntArray.allocate(a, n), ib = IntArray.allocate(a, n), isel = IntArray.allocate(a, n);
            for (int i = 0; i < n; i++) {
                ia.set(i, randomHalf(rnd) | randomHalf(rnd) << 16);
                ib.set(i, randomHalf(rnd) | randomHalf(rnd) << 16);
                isel.set(i, rnd.nextInt());
            }
            same(k(BasicKernels.class, "byteAndHalfIntrinsics"), Grid.cover(n, 256), ia, ib, isel, IntArray.allocate(a, n), IntArray.allocate(a, n), n);
            int rows = 300, kk = 1000;
            byte[] m = new byte[rows * kk], v = new byte[kk];
            rnd.nextBytes(m);
            rnd.nextBytes(v);
            same(k(BasicKernels.class, "int8RowDot"), Grid.cover(rows, 64), ByteArray.of(a, m), ByteArray.of(a, v), IntArray.allocate(a, rows), rows, kk);
            FloatArray finite = KernelsOnCpuTest.randomFloats(a, rnd, n, 3);
            same(k(ReductionKernels.class, "blockSum"), Grid.of(Math.ceilDiv(n, 256), 256), finite, FloatArray.allocate(a, Math.ceilDiv(n, 256)), n);
            same(k(ReductionKernels.class, "warpAbsMax"), Grid.of(Math.ceilDiv(n, 256), 256), x, FloatArray.allocate(a, Math.ceilDiv(n, 32) + 8), n);
            int gm = 256, gn = 192, gk = 768;
            byte[] ab = new byte[gm * gk], wb = new byte[gn * gk];
            rnd.nextBytes(ab);
            rnd.nextBytes(wb);
            same(k(Int8MmaKernels.class, "gemmS8"), Grid.of((gm / 16) * (gn / 8) / 4, 128), KernelsOnCpuTest.packed(a, ab),
                    KernelsOnCpuTest.packed(a, wb), IntArray.allocate(a, gm * gn), gm, gn, gk);
            int tm = 128, tn = 192, tk = 256;
            byte[] tab = new byte[tm * tk], twb = new byte[tn * tk];
            rnd.nextBytes(tab);
            rnd.nextBytes(twb);
            same(k(Int8GemmKernel.class, "gemm64"), Grid.of((tm / 64) * (tn / 64), 128), KernelsOnCpuTest.packed(a, tab),
                    KernelsOnCpuTest.packed(a, twb), KernelsOnCpuTest.randomFloats(a, rnd, tm, 0.01), KernelsOnCpuTest.randomFloats(a, rnd, tn, 0.01),
                    KernelsOnCpuTest.randomFloats(a, rnd, tn, 1), IntArray.allocate(a, tm * tn / 2), tm, tn, tk, 0);
            same(k(Int8GemmKernel.class, "gemm128"), Grid.of((tm / 128) * (256 / 128), 256), KernelsOnCpuTest.packed(a, tab),
                    KernelsOnCpuTest.packed(a, Arrays.copyOf(twb, 256 * tk)), KernelsOnCpuTest.randomFloats(a, rnd, tm, 0.01),
                    KernelsOnCpuTest.randomFloats(a, rnd, 256, 0.01), KernelsOnCpuTest.randomFloats(a, rnd, 256, 1), IntArray.allocate(a, tm * 128), tm, 256, tk, 0);
            same(k(Int8GemmKernel.class, "gemm64w"), Grid.of((tm / 64) * (tn / 64), 128), KernelsOnCpuTest.packed(a, tab),
                    KernelsOnCpuTest.packed(a, twb), KernelsOnCpuTest.randomFloats(a, rnd, tm, 0.01), KernelsOnCpuTest.randomFloats(a, rnd, tn, 0.01),
                    KernelsOnCpuTest.randomFloats(a, rnd, tn, 1), IntArray.allocate(a, tm * tn / 2), tm, tn, tk, 0);
            for (int splits : new int[]{2, 4})   // K split over blocks: INT32 parts, so the same bits as unsplit, GeLU'd or not
                for (int gelu = 0; gelu < 2; gelu++)
                    same(k(Int8GemmKernel.class, "gemm64k"), Grid.of((tm / 64) * (tn / 64) * splits, 128), KernelsOnCpuTest.packed(a, tab),
                            KernelsOnCpuTest.packed(a, twb), KernelsOnCpuTest.randomFloats(a, rnd, tm, 0.01), KernelsOnCpuTest.randomFloats(a, rnd, tn, 0.01),
                            KernelsOnCpuTest.randomFloats(a, rnd, tn, 1), IntArray.allocate(a, tm * tn / 2), tm, tn, tk, gelu, splits,
                            IntArray.allocate(a, (tm / 64) * (tn / 64) * splits * 4096), IntArray.allocate(a, (tm / 64) * (tn / 64)));
            int dk = 1024;   // 16 slices of K: gemm64kd's ring of 8 goes round twice (K whole), once (in 2) or not (in 4)
            byte[] dab = new byte[tm * dk], dwb = new byte[tn * dk];
            rnd.nextBytes(dab);
            rnd.nextBytes(dwb);
            for (int splits : new int[]{1, 2, 4})
                same(k(Int8GemmKernel.class, "gemm64kd"), Grid.of((tm / 64) * (tn / 64) * splits, 128), KernelsOnCpuTest.packed(a, dab),
                        KernelsOnCpuTest.packed(a, dwb), KernelsOnCpuTest.randomFloats(a, rnd, tm, 0.01), KernelsOnCpuTest.randomFloats(a, rnd, tn, 0.01),
                        KernelsOnCpuTest.randomFloats(a, rnd, tn, 1), IntArray.allocate(a, tm * tn / 2), tm, tn, dk, splits & 1, splits,
                        IntArray.allocate(a, (tm / 64) * (tn / 64) * splits * 4096), IntArray.allocate(a, (tm / 64) * (tn / 64)));
            for (int splits : new int[]{1, 2})   // gemm64kd writing its outputs' magnitudes (TokenwiseGemmKernel)
                same(k(TokenwiseGemmKernel.class, "gemm64kdm"), Grid.of((tm / 64) * (tn / 64) * splits, 128), KernelsOnCpuTest.packed(a, dab),
                        KernelsOnCpuTest.packed(a, dwb), KernelsOnCpuTest.randomFloats(a, rnd, tm, 0.01), KernelsOnCpuTest.randomFloats(a, rnd, tn, 0.01),
                        KernelsOnCpuTest.randomFloats(a, rnd, tn, 1), IntArray.allocate(a, tm * tn / 2), IntArray.allocate(a, tm * 16), 16, tm, tn, dk,
                        1, splits, IntArray.allocate(a, (tm / 64) * (tn / 64) * splits * 4096), IntArray.allocate(a, (tm / 64) * (tn / 64)));
            for (int[] ks : new int[][]{{768, 1}, {3072, 4}}) {   // bert-base's output and down projections, quantizing FP16 rows in the prologue
                int qk = ks[0], stride = TokenwiseGemmKernel.stride(qk / 32);
                IntArray hx = EncoderKernelsOnCpuTest.halves(a, rnd, new float[tm * qk], 2);
                IntArray mags = EncoderKernelsOnCpuTest.magnitudes(a, hx, tm, qk, 32, stride);
                byte[] qwb = new byte[tn * qk];
                rnd.nextBytes(qwb);
                same(k(TokenwiseGemmKernel.class, "gemm64kdq"), TokenwiseGemmKernel.grid(tm, tn, qk, ks[1]), hx, mags, stride, KernelsOnCpuTest.packed(a, qwb),
                        KernelsOnCpuTest.randomFloats(a, rnd, tn, 0.01), KernelsOnCpuTest.randomFloats(a, rnd, tn, 1), IntArray.allocate(a, tm * tn / 2),
                        tm, tn, qk, 0, ks[1], IntArray.allocate(a, (tm / 64) * (tn / 64) * ks[1] * 4096), IntArray.allocate(a, (tm / 64) * (tn / 64)));
            }
            same(k(Int8GemmKernel.class, "gemm128w"), Grid.of((tm / 128) * (256 / 128), 128), KernelsOnCpuTest.packed(a, tab),
                    KernelsOnCpuTest.packed(a, Arrays.copyOf(twb, 256 * tk)), KernelsOnCpuTest.randomFloats(a, rnd, tm, 0.01),
                    KernelsOnCpuTest.randomFloats(a, rnd, 256, 0.01), KernelsOnCpuTest.randomFloats(a, rnd, 256, 1), IntArray.allocate(a, tm * 128), tm, 256, tk, 0);
            for (String tile : new String[]{"gemm128g", "gemm128s"})
                for (int gelu = 0; gelu < 2; gelu++)   // wgmma: the same integer sums, so the CPU's bits
                    same(k(Int8GemmKernel.class, tile), Grid.of((tm / 128) * (256 / 128), 256), KernelsOnCpuTest.packed(a, tab),
                        KernelsOnCpuTest.packed(a, Arrays.copyOf(twb, 256 * tk)), KernelsOnCpuTest.randomFloats(a, rnd, tm, 0.01),
                        KernelsOnCpuTest.randomFloats(a, rnd, 256, 0.01), KernelsOnCpuTest.randomFloats(a, rnd, 256, 1), IntArray.allocate(a, tm * 128), tm, 256, tk, gelu);
            for (int whole = 0; whole <= 2; whole++)   // 2 tiles: both in halves, one, none
                same(k(Int8GemmKernel.class, "gemm128h"), Grid.of(whole + 2 * (2 - whole), 256), KernelsOnCpuTest.packed(a, tab),
                        KernelsOnCpuTest.packed(a, Arrays.copyOf(twb, 256 * tk)), KernelsOnCpuTest.randomFloats(a, rnd, tm, 0.01),
                        KernelsOnCpuTest.randomFloats(a, rnd, 256, 0.01), KernelsOnCpuTest.randomFloats(a, rnd, 256, 1), IntArray.allocate(a, tm * 128),
                        tm, 256, tk, whole & 1, whole);
            int tokenRows = 37, hidden = 384;
            float[] hv = new float[tokenRows * hidden];
            IntArray xh = EncoderKernelsOnCpuTest.halves(a, rnd, hv, 2), rh = EncoderKernelsOnCpuTest.halves(a, rnd, hv.clone(), 2);
            FloatArray gamma = KernelsOnCpuTest.randomFloats(a, rnd, hidden, 1), beta = KernelsOnCpuTest.randomFloats(a, rnd, hidden, 0.1);
            same(k(RowKernels.class, "residualLayerNorm"), RowKernels.grid(tokenRows, hidden), xh, rh, gamma, beta, IntArray.allocate(a, tokenRows * hidden / 2),
                    IntArray.allocate(a, tokenRows * hidden / 4), FloatArray.allocate(a, tokenRows), tokenRows, hidden, 1e-12f, 1);
            for (int perBlock : new int[]{1, 8})
                same(k(RowKernels.class, "residualLayerNormByWarp"), RowKernels.warpNormGrid(tokenRows, hidden, perBlock), xh, rh, gamma, beta,
                        IntArray.allocate(a, tokenRows * hidden / 2), IntArray.allocate(a, tokenRows * hidden / 4), FloatArray.allocate(a, tokenRows),
                        tokenRows, hidden, 1e-12f, 1, perBlock);
            same(k(RowKernels.class, "quantizeRows"), RowKernels.grid(tokenRows, hidden), xh, IntArray.allocate(a, tokenRows * hidden / 4),
                    FloatArray.allocate(a, tokenRows), tokenRows, hidden);
            for (int perBlock : new int[]{1, 8})
                same(k(RowKernels.class, "quantizeRowsByWarp"), RowKernels.warpGrid(tokenRows, hidden, perBlock), xh,
                        IntArray.allocate(a, tokenRows * hidden / 4), FloatArray.allocate(a, tokenRows), tokenRows, hidden, perBlock);
            IntArray ids = IntArray.allocate(a, tokenRows), types = IntArray.allocate(a, tokenRows);
            for (int r = 0; r < tokenRows; r++) { ids.set(r, rnd.nextInt(100)); types.set(r, r & 1); }
            same(k(RowKernels.class, "embedLayerNorm"), RowKernels.grid(tokenRows, hidden), ids, types, KernelsOnCpuTest.randomFloats(a, rnd, 100 * hidden, 1),
                    KernelsOnCpuTest.randomFloats(a, rnd, 64 * hidden, 0.3), KernelsOnCpuTest.randomFloats(a, rnd, 2 * hidden, 0.1), gamma, beta,
                    IntArray.allocate(a, tokenRows * hidden / 2), IntArray.allocate(a, tokenRows * hidden / 4), FloatArray.allocate(a, tokenRows), tokenRows, 16, hidden, 1e-12f, 1);
            for (int d : new int[]{64, 32}) {   // the exact attention: FP32 sums in the kernel's order, so the same bits
                int aSeq = 100, aHeads = 3;
                float[] av = new float[2 * aSeq * 3 * aHeads * d];
                IntArray aqkv = EncoderKernelsOnCpuTest.halves(a, rnd, av, 1), amask = IntArray.allocate(a, 2 * aSeq);
                for (int i = 0; i < 2 * aSeq; i++) amask.set(i, i % aSeq < 80 || i < aSeq ? 1 : 0);
                for (int causal = 0; causal < 2; causal++)
                    same(k(ExactAttentionKernel.class, "attention"), ExactAttentionKernel.grid(2, aSeq, aHeads), aqkv, amask,
                            IntArray.allocate(a, 2 * aSeq * aHeads * d / 2), aSeq, aHeads, d, (float) (1 / Math.sqrt(d)), causal,
                            IntArray.allocate(a, 2 * aSeq * 16), 16);
            }
            int tokens = 64, dim = 768;
            FloatArray act = KernelsOnCpuTest.randomFloats(a, rnd, tokens * dim, 2);
            same(k(ReductionKernels.class, "tokenwiseQuantize"), Grid.of(tokens, 256), act, ByteArray.allocate(a, tokens * dim), FloatArray.allocate(a, tokens), dim);
        }
    }

    /** A random finite half in ±[1, 2048): sign, 10 mantissa bits, exponent field 15..25. */
    static int randomHalf(Random rnd) {
        return (rnd.nextInt(2) << 15) | ((15 + rnd.nextInt(11)) << 10) | rnd.nextInt(1024);
    }

    @Test
    void graphReplayEqualsSeparateLaunches() throws Exception {
        Assumptions.assumeTrue(gpu != null, () -> "no CUDA device: " + why);
        int n = 4096;
        Method saxpy = k(BasicKernels.class, "saxpy");
        try (Arena a = Arena.ofShared()) {
            FloatArray x = KernelsOnCpuTest.randomFloats(a, new Random(1), n, 1), y = FloatArray.allocate(a, n);
            DeviceMemory dx = gpu.allocate(4L * n), dy = gpu.allocate(4L * n);
            gpu.copyIn(dx, x.segment());
            gpu.copyIn(dy, y.segment());
            try (var graph = gpu.capture(() -> { for (int i = 0; i < 20; i++) gpu.launch(saxpy, Grid.cover(n, 256), 0.5f, dx, dy, n); })) {
                graph.launch();
                graph.launch();
                gpu.synchronize();
            }
            gpu.copyOut(y.segment(), dy);
            float[] expect = new float[n];
            for (int r = 0; r < 40; r++) for (int i = 0; i < n; i++) expect[i] = 0.5f * x.get(i) + expect[i];
            assertArrayEquals(expect, y.toArray());
            gpu.free(dx);
            gpu.free(dy);
        }
    }

    @Test
    void fp16TensorCoresAgreeWithTheCpuToFloatRounding() throws Exception {
        Assumptions.assumeTrue(gpu != null, () -> "no CUDA device: " + why);
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(9);
            int m = 128, n = 64, k = 768;
            float[] av = new float[m * k], wv = new float[n * k];
            IntArray ah = KernelsOnCpuTest.halves(a, rnd, av), wh = KernelsOnCpuTest.halves(a, rnd, wv);
            FloatArray onCpu = FloatArray.allocate(a, m * n), onGpu = FloatArray.allocate(a, m * n);
            Method gemm = k(Int8MmaKernels.class, "gemmF16");
            Grid grid = Grid.of((m / 16) * (n / 8) / 4, 128);
            cpu.launch(gemm, grid, ah, wh, onCpu, m, n, k);
            gpu.run(gemm, grid, ah, wh, onGpu, m, n, k);
            double worst = 0;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double mag = 0;
                    for (int p = 0; p < k; p++) mag += Math.abs((double) av[i * k + p] * wv[j * k + p]);
                    worst = Math.max(worst, Math.abs(onCpu.get(i * n + j) - onGpu.get(i * n + j)) / mag);
                }
            System.out.printf("FP16 mma: worst |GPU − CPU| / Σ|a·b| = %.2e%n", worst);
            assertTrue(worst < 1e-5, "GPU and CPU FP16 GEMM differ by " + worst + " of the magnitude of the sums");
        }
    }

    /**
     * Runs {@code kernel} on CPU and GPU and compares FP16 output {@code out} (an argument index) within {@code tol}·(|cpu| + 1);
     * the worst difference, NaN where the device under test cannot run the kernel.
     */
    double close(Method kernel, Grid grid, int out, double tol, Object... args) throws Exception {
        assumeDevice();
        DeviceRun device = device(kernel);
        if (device == null) return Double.NaN;   // not run on this device
        try (Arena a = Arena.ofShared()) {
            Object[] onCpu = copy(a, args), onGpu = copy(a, args);
            cpu.launch(kernel, grid, onCpu);
            device.run(grid, onGpu);
            IntArray c = (IntArray) onCpu[out], g = (IntArray) onGpu[out];
            double worst = 0;
            for (int i = 0; i < 2 * c.length(); i++) {
                float x = EncoderKernelsOnCpuTest.half(c, i), y = EncoderKernelsOnCpuTest.half(g, i);
                double d = Math.abs(x - y) / (Math.abs(x) + 1);
                worst = Math.max(worst, d);
                assertTrue(d <= tol, kernel.getName() + ": element " + i + " is " + y + " on the GPU, " + x + " on the CPU");
            }
            return worst;
        }
    }

    /**
     * The kernels launched in thread-block clusters on the GPU against the CPU executor, bit for bit: the cluster-of-4
     * reduction, and {@link Int8GemmNormKernel}'s GEMM + residual + LayerNorm + codes at bert-base's and bert-large's
     * widths (clusters of 12 and 16 blocks; the same float operations in the same order on both sides).
     */
    @Test
    void clusterKernelsMatchTheCpuBitForBit() throws Exception {
        Random rnd = new Random(61);
        try (Arena a = Arena.ofShared()) {
            int blocks = 16, len = blocks * 256 - 37;
            same(k(ReductionKernels.class, "clusterSum"), Grid.of(blocks, 256), KernelsOnCpuTest.randomFloats(a, rnd, len, 1),
                    FloatArray.allocate(a, blocks), FloatArray.allocate(a, blocks), len);
            for (int n : new int[]{768, 1024}) {
                int m = 192, kk = 512;
                same(k(Int8GemmNormKernel.class, "gemm64ln" + n / 64), Grid.of((m / 64) * (n / 64), Int8GemmNormKernel.THREADS),
                        KernelsOnCpuTest.randomPacked(a, rnd, m * kk), KernelsOnCpuTest.randomPacked(a, rnd, n * kk), KernelsOnCpuTest.randomFloats(a, rnd, m, 0.001), KernelsOnCpuTest.randomFloats(a, rnd, n, 0.001),
                        KernelsOnCpuTest.randomFloats(a, rnd, n, 0.5), EncoderKernelsOnCpuTest.halves(a, rnd, new float[m * n], 1),
                        KernelsOnCpuTest.randomFloats(a, rnd, n, 1), KernelsOnCpuTest.randomFloats(a, rnd, n, 0.2), IntArray.allocate(a, m * n / 2),
                        IntArray.allocate(a, m * n / 4), FloatArray.allocate(a, m), m, n, kk, 1e-12f);
            }
        }
    }

    @Test
    void encoderKernelsWithTensorCoreSumsOrExponentialsAgreeWithTheCpu() throws Exception {
        assumeDevice();
        Random rnd = new Random(77);
        try (Arena a = Arena.ofShared()) {
            int m = 256, n = 384, kk = 512;
            // INT8 + GeLU: integer sums and KernelMath.exp are exact on both sides, so no tolerance.
            double w1 = close(k(Int8GemmKernel.class, "gemm64"), Grid.of((m / 64) * (n / 64), 128), 5, 0, KernelsOnCpuTest.randomPacked(a, rnd, m * kk),
                    KernelsOnCpuTest.randomPacked(a, rnd, n * kk), KernelsOnCpuTest.randomFloats(a, rnd, m, 0.001), KernelsOnCpuTest.randomFloats(a, rnd, n, 0.001),
                    KernelsOnCpuTest.randomFloats(a, rnd, n, 1), IntArray.allocate(a, m * n / 2), m, n, kk, 1);
            float[] av = new float[m * kk], wv = new float[n * kk];
            IntArray ah = EncoderKernelsOnCpuTest.halves(a, rnd, av, 1), wh = EncoderKernelsOnCpuTest.halves(a, rnd, wv, 0.05);
            double w2 = close(k(Fp16GemmKernel.class, "gemm128"), Grid.of((m / 128) * (n / 128), 256), 3, 2e-3, ah, wh,
                    KernelsOnCpuTest.randomFloats(a, rnd, n, 1), IntArray.allocate(a, m * n / 2), m, n, kk, 1);
            double w5 = close(k(Fp16GemmKernel.class, "gemm128w"), Grid.of((m / 128) * (n / 128), 128), 3, 2e-3, ah, wh,
                    KernelsOnCpuTest.randomFloats(a, rnd, n, 1), IntArray.allocate(a, m * n / 2), m, n, kk, 1);
            System.out.printf("FP16 GEMM 128w + GeLU: worst |GPU − CPU| / (|CPU| + 1) = %.2e%n", w5);
            double w7 = close(k(Fp16GemmKernel.class, "gemm128g"), Grid.of((m / 128) * (n / 128), 256), 3, 2e-3, ah, wh,
                    KernelsOnCpuTest.randomFloats(a, rnd, n, 1), IntArray.allocate(a, m * n / 2), m, n, kk, 1);
            System.out.printf("FP16 GEMM 128g (wgmma) + GeLU: worst |GPU − CPU| / (|CPU| + 1) = %.2e%n", w7);
            double w8 = close(k(Fp16GemmKernel.class, "gemm128s"), Grid.of((m / 128) * (n / 128), 256), 3, 2e-3, ah, wh,
                    KernelsOnCpuTest.randomFloats(a, rnd, n, 1), IntArray.allocate(a, m * n / 2), m, n, kk, 1);
            System.out.printf("FP16 GEMM 128s (wgmma, 128-byte swizzle) + GeLU: worst |GPU − CPU| / (|CPU| + 1) = %.2e%n", w8);
            double w6 = close(k(Fp16GemmKernel.class, "gemm64w"), Grid.of((m / 64) * (n / 64), 128), 3, 2e-3, ah, wh,
                    KernelsOnCpuTest.randomFloats(a, rnd, n, 1), IntArray.allocate(a, m * n / 2), m, n, kk, 1);
            System.out.printf("FP16 GEMM 64w + GeLU: worst |GPU − CPU| / (|CPU| + 1) = %.2e%n", w6);
            int tiles64 = (m / 64) * (n / 64);   // K in 4 slices, the parts added in slice order by the last block of a tile
            double w9 = close(k(Fp16GemmKernel.class, "gemm64k"), Grid.of(tiles64 * 4, 128), 3, 2e-3, ah, wh,
                    KernelsOnCpuTest.randomFloats(a, rnd, n, 1), IntArray.allocate(a, m * n / 2), m, n, kk, 1, 4, IntArray.allocate(a, tiles64 * 4 * 4096),
                    IntArray.allocate(a, tiles64));
            System.out.printf("FP16 GEMM 64k/4 + GeLU: worst |GPU − CPU| / (|CPU| + 1) = %.2e%n", w9);
            for (int splits : new int[]{1, 4}) {   // eight of K's 16 slices in flight
                double wd = close(k(Fp16GemmKernel.class, "gemm64kd"), Grid.of(tiles64 * splits, 128), 3, 2e-3, ah, wh,
                        KernelsOnCpuTest.randomFloats(a, rnd, n, 1), IntArray.allocate(a, m * n / 2), m, n, kk, 1, splits,
                        IntArray.allocate(a, tiles64 * splits * 4096), IntArray.allocate(a, tiles64));
                System.out.printf("FP16 GEMM 64kd/%d + GeLU: worst |GPU − CPU| / (|CPU| + 1) = %.2e%n", splits, wd);
            }
            double w3 = close(k(Fp16GemmKernel.class, "gemm64"), Grid.of((m / 64) * (n / 64), 128), 3, 2e-3, ah, wh,
                    KernelsOnCpuTest.randomFloats(a, rnd, n, 1), IntArray.allocate(a, m * n / 2), m, n, kk, 0);
            int batch = 2, seq = 256, heads = 3;
            for (int d : new int[]{64, 32}) {
                float[] qv = new float[batch * seq * 3 * heads * d];
                IntArray qkv = EncoderKernelsOnCpuTest.halves(a, rnd, qv, 1), mask = IntArray.allocate(a, batch * seq);
                for (int i = 0; i < batch * seq; i++) mask.set(i, i % seq < 200 || i < seq ? 1 : 0);
                for (int causal = 0; causal < 2; causal++) {
                    double w4 = close(k(AttentionKernel.class, "attention" + d), Grid.of((seq / 64) * heads * batch, 128), 2, 3e-3, qkv, mask,
                            IntArray.allocate(a, batch * seq * heads * d / 2), seq, heads, (float) (1 / Math.sqrt(d)), causal,
                            IntArray.allocate(a, batch * seq * 16), 16);
                    System.out.printf("attention%d%s: worst |GPU − CPU| / (|CPU| + 1) = %.2e%n", d, causal == 1 ? " causal" : "", w4);
                }
            }
            System.out.printf("INT8 GEMM + GeLU %.2e, FP16 GEMM 128 + GeLU %.2e, FP16 GEMM 64 %.2e (worst |GPU − CPU| / (|CPU| + 1))%n", w1, w2, w3);
        }
    }

    /**
     * The few-row GEMMs of decoding ({@link GemvKernel} for one row too), every weight format (16-byte weight loads, the one-row register path of INT8 with and
     * without its fused LayerNorm, groups that split a 16-code chunk, K not a whole number of staged pieces, a warp per
     * feature and warps looping over features) on the GPU against the CPU
     * executor: the same sums in the same order per thread and the same exponential, so the same bits (GeLU included).
     */
    @Test
    void fewRowGemmsAgreeWithTheCpu() throws Exception {
        assumeDevice();
        Random rnd = new Random(21);
        try (Arena a = Arena.ofShared()) {
            int n = 37;
            for (int[] shape : fewRowShapes(new int[][]{{1, 768, 64}, {1, 3968, 64}, {1, 1920, 12}, {3, 768, 12}, {5, 5120, 64}, {8, 3072, 3072}})) {
                int m = shape[0], kk = shape[1], gs = shape[2];
                FloatArray x = KernelsOnCpuTest.randomFloats(a, rnd, m * kk, 3), gamma = KernelsOnCpuTest.randomFloats(a, rnd, kk, 1),
                        beta = KernelsOnCpuTest.randomFloats(a, rnd, kk, 0.5), bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.5);
                int[][] w8 = new int[n][kk], w4 = new int[n][kk];
                for (int[] row : w8) for (int c = 0; c < kk; c++) row[c] = rnd.nextInt(256) - 128;
                for (int[] row : w4) for (int c = 0; c < kk; c++) row[c] = rnd.nextInt(16) - 8;
                IntArray q8 = DecoderKernelsOnCpuTest.packWeights(a, w8, 8), h = IntArray.allocate(a, n * kk / 2);
                IntArray q4 = gs % 32 == 0 ? DecoderKernelsOnCpuTest.packWeights(a, w4, 4) : null;   // Int4Words: groups of 32s
                for (int i = 0; i < h.length(); i++)
                    h.set(i, Float.floatToFloat16((float) rnd.nextGaussian() * 0.05f) & 0xFFFF | Float.floatToFloat16((float) rnd.nextGaussian() * 0.05f) << 16);
                FloatArray sw = KernelsOnCpuTest.randomFloats(a, rnd, n * (kk / gs), 0.01);
                for (int norm = 0; norm < 2; norm++)
                    for (int mode : new int[]{SkinnyGemmKernel.STORE, SkinnyGemmKernel.GELU_TANH, SkinnyGemmKernel.ADD}) {
                        FloatArray y = KernelsOnCpuTest.randomFloats(a, rnd, m * n, 1);
                        String what = m + "x" + n + "x" + kk + " g" + gs + " norm " + norm + " mode " + mode;
                        for (Grid grid : List.of(SkinnyGemmKernel.grid(m, n), SkinnyGemmKernel.grid(m, n, 2))) {   // a warp per feature, or looping
                            closeFloats(k(SkinnyGemmKernel.class, "int8"), grid, 8, 0, what + " " + grid, x, norm, gamma, beta, 1e-5f, q8, sw,
                                    bias, y, m, n, kk, gs, mode);
                            if (m == 1 && GemvKernel.fits(8, kk, gs))   // the batch-1 kernels: same bits as the CPU (and as the one-row paths)
                                closeFloats(k(GemvKernel.class, "int8"), grid, 8, 0, what + " " + grid, x, norm, gamma, beta, 1e-5f, q8, sw,
                                        bias, y, n, kk, gs, mode);
                            if (m == 1 && q4 != null && GemvKernel.fits(4, kk, gs))
                                closeFloats(k(GemvKernel.class, "int4"), grid, 8, 0, what + " " + grid, x, norm, gamma, beta, 1e-5f, q4, sw,
                                        bias, y, n, kk, gs, mode);
                            if (m == 1 && GemvKernel.fits(16, kk, gs))
                                closeFloats(k(GemvKernel.class, "fp16"), grid, 7, 0, what + " " + grid, x, norm, gamma, beta, 1e-5f, h,
                                        bias, y, n, kk, mode);
                            closeFloats(k(SkinnyGemmKernel.class, "fp16"), grid, 7, 0, what + " " + grid, x, norm, gamma, beta, 1e-5f, h,
                                    bias, y, m, n, kk, mode);
                            closeFloats(k(SkinnyGemmKernel.class, "int8a16"), grid, 8, 0, what + " " + grid, x, norm, gamma, beta, 1e-5f, q8, sw,
                                    bias, y, m, n, kk, gs, mode);
                            if (q4 == null) continue;
                            closeFloats(k(SkinnyGemmKernel.class, "int4"), grid, 8, 0, what + " " + grid, x, norm, gamma, beta, 1e-5f, q4, sw,
                                    bias, y, m, n, kk, gs, mode);
                            closeFloats(k(SkinnyGemmKernel.class, "int4a16"), grid, 8, 0, what + " " + grid, x, norm, gamma, beta, 1e-5f, q4, sw,
                                    bias, y, m, n, kk, gs, mode);
                        }
                    }
            }
        }
    }

    /**
     * The batch-1 kernels of blocks of 1024 threads ({@link WideGemvKernel}; {@code int8Half} of 512) on the GPU against the CPU executor: rows of
     * one batch to two staged pieces (8192), the LayerNorm, every epilogue, 1 and 2 slices, one and two blocks (passes over
     * the outputs); the same sums in the same order, so the same bits.
     */
    @Test
    void wideGemvAgreesWithTheCpu() throws Exception {
        assumeDevice();
        Random rnd = new Random(29);
        try (Arena a = Arena.ofShared()) {
            int n = 70;
            for (int[] shape : wideShapes(new int[][]{{768, 64}, {2048, 32}, {3072, 128}, {8192, 64}})) {
                int kk = shape[0], gs = shape[1];
                DecoderKernelsOnCpuTest.OneRowWeights r = DecoderKernelsOnCpuTest.OneRowWeights.random(a, rnd, n, kk, gs);
                FloatArray x = KernelsOnCpuTest.randomFloats(a, rnd, kk, 3), gamma = r.gamma(), beta = r.beta(), bias = r.bias(), sw = r.sw();
                IntArray q8 = r.q8(), q4 = r.q4(), h = r.h();
                for (int norm = 0; norm < 2; norm++)
                    for (int mode : new int[]{SkinnyGemmKernel.STORE, SkinnyGemmKernel.GELU_TANH, SkinnyGemmKernel.ADD}) {
                        FloatArray y = KernelsOnCpuTest.randomFloats(a, rnd, n, 1);
                        for (int slices = 1; slices <= 2; slices++)
                            for (int blocks = 1; blocks <= 2; blocks++) {
                                Grid grid = WideGemvKernel.grid(n, slices, blocks);
                                String what = "1x" + n + "x" + kk + " g" + gs + " norm " + norm + " mode " + mode + " slices " + slices + " " + grid;
                                closeFloats(k(WideGemvKernel.class, "int8"), grid, 8, 0, what, x, norm, gamma, beta, 1e-5f, q8, sw, bias, y, n, kk, gs, mode, slices);
                                closeFloats(k(WideGemvKernel.class, "int8Bulk"), grid, 8, 0, what, x, norm, gamma, beta, 1e-5f, q8, sw, bias, y, n, kk, gs, mode, slices);
                                if (kk <= WideGemvKernel.HALF_MAX_K) {
                                    Grid half = WideGemvKernel.grid(n, slices, blocks, WideGemvKernel.HALF_THREADS);
                                    closeFloats(k(WideGemvKernel.class, "int8Half"), half, 8, 0, what + " " + half, x, norm, gamma, beta, 1e-5f, q8, sw, bias, y, n, kk,
                                            gs, mode, slices);
                                }
                                closeFloats(k(WideGemvKernel.class, "int4"), grid, 8, 0, what, x, norm, gamma, beta, 1e-5f, q4, sw, bias, y, n, kk, gs, mode, slices);
                                closeFloats(k(WideGemvKernel.class, "int8a16"), grid, 8, 0, what, x, norm, gamma, beta, 1e-5f, q8, sw, bias, y, n, kk, gs, mode, slices);
                                closeFloats(k(WideGemvKernel.class, "int4a16"), grid, 8, 0, what, x, norm, gamma, beta, 1e-5f, q4, sw, bias, y, n, kk, gs, mode, slices,
                                        y, y, y, 0, y);
                                closeFloats(k(WideGemvKernel.class, "fp16"), grid, 7, 0, what, x, norm, gamma, beta, 1e-5f, h, bias, y, n, kk, mode, slices, y, y, y, 0, y);
                                if (kk <= 1024 && slices == 1) {   // with the attention's 12 parts added to the row (the A16 kernels' parts path is shared)
                                    FloatArray parts = KernelsOnCpuTest.randomFloats(a, rnd, 12 * kk, 2), rowOut = FloatArray.allocate(a, kk);
                                    closeFloats(k(WideGemvKernel.class, "fp16"), grid, 7, 0, what + " with parts", x, norm, gamma, beta, 1e-5f, h, bias, y, n, kk,
                                            mode, slices, bias, parts, gamma, 12, rowOut);
                                    closeFloats(k(WideGemvKernel.class, "int4a16"), grid, 8, 0, what + " with parts", x, norm, gamma, beta, 1e-5f, q4, sw, bias, y, n,
                                            kk, gs, mode, slices, y, parts, gamma, 12, rowOut);
                                }
                            }
                    }
            }
        }
    }

    /**
     * {@link MmaGemvKernel#int8a16} (W8A16 on the tensor cores) on the GPU against the CPU executor, within float rounding
     * (the hardware's order of the {@code mma} additions is its own): a block past a batch (192), GPT-2's and GPT-3 1.3B's
     * rows, two staged pieces (8192), a partial last tile (70 outputs), the LayerNorm, every epilogue, 1, 2, 3 and 6 slices,
     * one block of 1024 threads and two (of 512 where they take the row).
     */
    @Test
    void mmaGemvAgreesWithTheCpu() throws Exception {
        assumeDevice();
        Random rnd = new Random(53);
        try (Arena a = Arena.ofShared()) {
            int n = 70;
            for (int[] shape : mmaShapes(new int[][]{{192, 64}, {768, 64}, {3072, 128}, {8192, 64}})) {
                int kk = shape[0], gs = shape[1];
                DecoderKernelsOnCpuTest.OneRowWeights r = DecoderKernelsOnCpuTest.OneRowWeights.random(a, rnd, n, kk, gs);
                FloatArray x = KernelsOnCpuTest.randomFloats(a, rnd, kk, 3);
                for (int norm = 0; norm < 2; norm++)
                    for (int mode : new int[]{SkinnyGemmKernel.STORE, SkinnyGemmKernel.GELU_TANH, SkinnyGemmKernel.ADD}) {
                        FloatArray y = KernelsOnCpuTest.randomFloats(a, rnd, n, 1);
                        for (int slices : new int[]{1, 2, 3, 6})
                            for (int blocks = 1; blocks <= 2; blocks++) {
                                if (slices > Math.ceilDiv(kk, MmaGemvKernel.BATCH)) continue;
                                Grid grid = MmaGemvKernel.grid(n, slices, blocks, blocks == 2 && kk <= 4096 ? 512 : 1024);
                                String what = "1x" + n + "x" + kk + " g" + gs + " norm " + norm + " mode " + mode + " slices " + slices + " " + grid;
                                closeFloats(k(MmaGemvKernel.class, "int8a16"), grid, 8, 1e-4, what, x, norm, r.gamma(), r.beta(), 1e-5f, r.q8(), r.sw(),
                                        r.bias(), y, n, kk, gs, mode, slices, y, y, y, 0, y);
                                if (MmaGemvKernel.fits4(kk, gs))
                                    closeFloats(k(MmaGemvKernel.class, "int4a16"), grid, 8, 1e-4, what + " INT4", x, norm, r.gamma(), r.beta(), 1e-5f, r.q4(),
                                            r.sw(), r.bias(), y, n, kk, gs, mode, slices, y, y, y, 0, y);
                                if (kk <= 1024 && slices == 1) {   // the attention's 12 parts and a bias added to the row, the sum written out
                                    FloatArray parts = KernelsOnCpuTest.randomFloats(a, rnd, 12 * kk, 2), sum = FloatArray.allocate(a, kk);
                                    FloatArray residual = KernelsOnCpuTest.randomFloats(a, rnd, n, 1);
                                    closeFloats(k(MmaGemvKernel.class, "int8a16"), MmaGemvKernel.grid(n, 1, blocks, 1024), 8, 1e-4, what + " with parts", x, norm,
                                            r.gamma(), r.beta(), 1e-5f, r.q8(), r.sw(), r.bias(), y, n, kk, gs, mode, 1, residual, parts, r.gamma(), 12, sum);
                                    closeFloats(k(MmaGemvKernel.class, "int8a16"), MmaGemvKernel.grid(n, 1, blocks, 1024), 18, 1e-6, what + " the summed row", x,
                                            norm, r.gamma(), r.beta(), 1e-5f, r.q8(), r.sw(), r.bias(), y, n, kk, gs, mode, 1, residual, parts, r.gamma(), 12, sum);
                                }
                            }
                    }
            }
        }
    }

    /**
     * {@link SkinnyMmaKernel} (a batch's decode-step projections on the tensor cores) on the GPU against the CPU executor:
     * INT8 and INT4 the same bits (exact integer sums, one rounding an operation in a fixed order), FP16 within float
     * rounding; 9 and 16 rows, a partial last tile (40 and 70 outputs), every epilogue, at 1.3B's K (2048 and 8192: 8 to
     * 32 warps a tile) and past it (warps that loop), on as many warps as the GPU holds at once and on few (batches of four).
     */
    @Test
    void skinnyMmaAgreesWithTheCpu() throws Exception {
        assumeDevice();
        Random rnd = new Random(61);
        try (Arena a = Arena.ofShared()) {
            for (int[] shape : skinnyShapes(new int[][]{{16, 70, 2048, 64}, {9, 40, 8192, 128}, {13, 40, 16512, 64}})) {
                int m = shape[0], n = shape[1], kk = shape[2], gs = shape[3];
                IntArray codes = randomInts(a, rnd, SkinnyMmaKernel.MAX_ROWS * kk / 4), w8 = randomInts(a, rnd, n * kk / 4);
                IntArray w4 = randomInts(a, rnd, n * kk / 8);
                IntArray halves = EncoderKernelsOnCpuTest.halves(a, rnd, new float[SkinnyMmaKernel.MAX_ROWS * kk], 1);
                IntArray wh = EncoderKernelsOnCpuTest.halves(a, rnd, new float[n * kk], 0.05);
                FloatArray sx = KernelsOnCpuTest.randomFloats(a, rnd, SkinnyMmaKernel.MAX_ROWS, 0.01), sw = KernelsOnCpuTest.randomFloats(a, rnd, n * (kk / gs), 0.01);
                FloatArray bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.5);
                for (int mode : new int[]{SkinnyGemmKernel.STORE, SkinnyGemmKernel.GELU_TANH, SkinnyGemmKernel.ADD})
                    for (int warpsAtOnce : new int[]{4224, 2}) {
                        FloatArray y = KernelsOnCpuTest.randomFloats(a, rnd, m * n, 1);
                        String what = m + "x" + n + "x" + kk + " g" + gs + " mode " + mode + " warps at once " + warpsAtOnce;
                        for (int prefetch : new int[]{0, 1}) {   // the scales and the bias asked into L1 ahead or not: the same bits
                            same(k(SkinnyMmaKernel.class, "int8"), SkinnyMmaKernel.grid(8, n, kk, warpsAtOnce), codes, sx, w8, sw, bias, y, m, n, kk, gs, mode, prefetch);
                            same(k(SkinnyMmaKernel.class, "int4"), SkinnyMmaKernel.grid(4, n, kk, warpsAtOnce), codes, sx, w4, sw, bias, y, m, n, kk, gs, mode, prefetch);
                        }
                        closeFloats(k(SkinnyMmaKernel.class, "fp16"), SkinnyMmaKernel.grid(16, n, kk, warpsAtOnce), 3, 1e-4, what, halves, wh, bias, y, m, n,
                                kk, mode);
                    }
            }
        }
    }

    /**
     * The batch-1 decode step's tail ({@link GreedyHeadKernel}: final LayerNorm, FP16 head, arg-max across blocks through
     * {@code arriveLast}) on the GPU against the CPU executor: the same logits bit for bit, the same token, position and
     * record, at GPT-2's head (50,257 rows of 768: two rows a warp, 132 blocks) and at rows of two batches (2048), on 132
     * and on 7 blocks (many passes), twice each (the arrival count left at 0 for the next launch).
     */
    @Test
    void greedyHeadAgreesWithTheCpu() throws Exception {
        assumeDevice();
        Random rnd = new Random(31);
        try (Arena a = Arena.ofShared()) {
            for (int[] shape : headShapes(new int[][]{{50257, 768}, {5003, 2048}})) {
                int n = shape[0], kk = shape[1], promptLen = 3, maxNew = 8, capacity = promptLen + maxNew;
                DecoderKernelsOnCpuTest.OneRowWeights r = DecoderKernelsOnCpuTest.OneRowWeights.random(a, rnd, n, kk, kk);
                // The next step's row embedded into x (so the second launch reads another row): wte[token] + wpe[position].
                FloatArray wte = KernelsOnCpuTest.randomFloats(a, rnd, n * kk, 1), wpe = KernelsOnCpuTest.randomFloats(a, rnd, capacity * kk, 1);
                for (int blocks : new int[]{132, 7}) {
                    FloatArray x = KernelsOnCpuTest.randomFloats(a, rnd, kk, 3), logits = FloatArray.allocate(a, n), best = FloatArray.allocate(a, blocks);
                    IntArray bestAt = IntArray.allocate(a, blocks), arrivals = IntArray.allocate(a, 1), next = IntArray.allocate(a, 1),
                            gen = IntArray.allocate(a, maxNew), pos = IntArray.allocate(a, 1);
                    pos.set(0, promptLen + 2);
                    Grid grid = GreedyHeadKernel.grid(n, kk, blocks);
                    Object[] args = {x, r.gamma(), r.beta(), 1e-5f, SkinnyGemmKernel.LAYER_NORM, r.h(), r.bias(), logits, n, kk, GreedyHeadKernel.pair(kk), best, bestAt, arrivals,
                            next, gen, pos, promptLen, maxNew, wte, wpe, capacity, 1};
                    Object[] onCpu = copy(a, args), onGpu = copy(a, args);
                    DeviceRun device = device(k(GreedyHeadKernel.class, "fp16"));
                    if (device == null) return;
                    for (int launch = 0; launch < 2; launch++) {
                        cpu.launch(k(GreedyHeadKernel.class, "fp16"), grid, onCpu);
                        device.run(grid, onGpu);
                        sameGreedyState(n + "x" + kk + " " + grid + " launch " + launch, onCpu, onGpu, 7, 13);
                    }
                    assertEquals(promptLen + 4, ((IntArray) onGpu[16]).get(0));
                }
            }
        }
    }

    /** {@link #argmaxAgreesWithTheCpu}'s vocabulary; the PTX interpreter runs a smaller one. */
    int argmaxVocab() { return 50257; }

    /**
     * {@link DecoderRowKernels#argmax} on the GPU against the CPU executor, every buffer bit for bit: 16 rows of GPT's
     * vocabulary on one block a row and split over 3 and 7 blocks ({@link DecoderRowKernels#argmaxParts} at batch 16) through
     * {@code arriveLast}, with ties across blocks, NaNs, and a row of nothing above −∞.
     */
    @Test
    void argmaxAgreesWithTheCpu() throws Exception {
        assumeDevice();
        Random rnd = new Random(37);
        int vocab = argmaxVocab(), batch = 16, maxNew = 4, promptLen = 2;
        try (Arena a = Arena.ofShared()) {
            FloatArray logits = KernelsOnCpuTest.randomFloats(a, rnd, batch * vocab, 4);
            for (int b = 0; b < batch; b++) {
                int row = b * vocab;
                logits.set(row + rnd.nextInt(vocab), Float.NaN);
                if (b % 3 == 0) {   // the largest value twice, far apart: the lower index wins wherever the blocks split
                    logits.set(row + vocab / 5 + b, 9f);
                    logits.set(row + vocab - 1 - b, 9f);
                }
            }
            for (int i = 0; i < vocab; i++) logits.set(5 * vocab + i, i % 2 == 0 ? Float.NaN : Float.NEGATIVE_INFINITY);
            for (int parts : new int[]{1, 3, 7}) {   // 7: argmaxParts at GPT's vocabulary and batch 16
                IntArray next = IntArray.allocate(a, batch), gen = IntArray.allocate(a, batch * maxNew), pos = IntArray.allocate(a, 1);
                FloatArray best = FloatArray.allocate(a, batch * parts);
                IntArray bestAt = IntArray.allocate(a, batch * parts), arrivals = IntArray.allocate(a, batch);
                pos.set(0, promptLen + 1);
                // Every buffer compared: the arrival counts back at 0 on the GPU too (the CPU's would have thrown otherwise).
                same(k(DecoderRowKernels.class, "argmax"), DecoderRowKernels.argmaxGrid(batch, parts), logits, next, gen, pos, vocab, promptLen,
                        maxNew, parts, best, bestAt, arrivals);
            }
        }
    }

    /**
     * A greedy head's outputs the same on both sides, bit for bit: the logits (argument {@code logits}), the row it embedded
     * into {@code x} (argument 0), and the arrival count, next token, recorded tokens and position (arguments
     * {@code counts} … {@code counts + 3}).
     */
    static void sameGreedyState(String what, Object[] onCpu, Object[] onGpu, int logits, int counts) {
        for (int arg : new int[]{logits, 0}) {
            FloatArray c = (FloatArray) onCpu[arg], g = (FloatArray) onGpu[arg];
            for (int i = 0; i < c.length(); i++)
                assertEquals(Float.floatToRawIntBits(c.get(i)), Float.floatToRawIntBits(g.get(i)), what + ": argument " + arg + " [" + i + "] " + g.get(i)
                        + " against " + c.get(i));
        }
        for (int i = counts; i < counts + 4; i++) {
            IntArray ci = (IntArray) onCpu[i], gi = (IntArray) onGpu[i];
            for (int j = 0; j < ci.length(); j++) assertEquals(ci.get(j), gi.get(j), what + ": argument " + i + " [" + j + "]");
        }
    }

    /** {@link GreedyHeadKernel#int8} on the GPU against the CPU executor: the same logits' bits and token, GPT-2's and 1.3B's head shapes. */
    @Test
    void int8GreedyHeadAgreesWithTheCpu() throws Exception {
        assumeDevice();
        Random rnd = new Random(37);
        try (Arena a = Arena.ofShared()) {
            for (int[] shape : headShapes(new int[][]{{50257, 768}, {5003, 2048}, {999, 64}})) {
                int n = shape[0], kk = shape[1], promptLen = 3, maxNew = 8, capacity = promptLen + maxNew;
                DecoderKernelsOnCpuTest.OneRowWeights r = DecoderKernelsOnCpuTest.OneRowWeights.random(a, rnd, n, kk, kk);
                // The next step's row embedded into x (so the second launch reads another row): wte[token] + wpe[position].
                FloatArray wte = KernelsOnCpuTest.randomFloats(a, rnd, n * kk, 1), wpe = KernelsOnCpuTest.randomFloats(a, rnd, capacity * kk, 1);
                for (int blocks : new int[]{132, 7}) {
                    Grid grid = GreedyHeadKernel.int8Grid(n, kk, blocks);
                    FloatArray x = KernelsOnCpuTest.randomFloats(a, rnd, kk, 3), logits = FloatArray.allocate(a, n), best = FloatArray.allocate(a, grid.groupsX());
                    IntArray bestAt = IntArray.allocate(a, grid.groupsX()), arrivals = IntArray.allocate(a, 1), next = IntArray.allocate(a, 1),
                            gen = IntArray.allocate(a, maxNew), pos = IntArray.allocate(a, 1);
                    pos.set(0, promptLen + 2);
                    Object[] args = {x, r.gamma(), r.beta(), 1e-5f, SkinnyGemmKernel.LAYER_NORM, r.q8(), r.sw(), r.bias(), logits, n, kk, GreedyHeadKernel.int8Rows(kk), best, bestAt,
                            arrivals, next, gen, pos, promptLen, maxNew, wte, wpe, capacity, 1};
                    Object[] onCpu = copy(a, args), onGpu = copy(a, args);
                    DeviceRun device = device(k(GreedyHeadKernel.class, "int8"));
                    if (device == null) return;
                    for (int launch = 0; launch < 2; launch++) {
                        cpu.launch(k(GreedyHeadKernel.class, "int8"), grid, onCpu);
                        device.run(grid, onGpu);
                        sameGreedyState(n + "x" + kk + " " + grid + " launch " + launch, onCpu, onGpu, 8, 14);
                    }
                    assertEquals(promptLen + 4, ((IntArray) onGpu[17]).get(0));
                }
            }
        }
    }

    /**
     * A decode step's attention over the FP16 cache ({@code attendStep16}: 16-byte loads of halves, a thread per key) on
     * the GPU against the CPU executor: same bits, for head sizes 64 and 128 and positions around a block's threads; and a
     * LLaMA's ({@code attendStepRotated16}: grouped-query heads, rotary angles).
     */
    @Test
    void attendStepAgreesWithTheCpu() throws Exception {
        assumeDevice();
        Random rnd = new Random(23);
        try (Arena a = Arena.ofShared()) {
            int batch = 2, heads = 3, capacity = 400;
            for (int hd : new int[]{64, 128})
                for (int p : new int[]{0, 77, 256, 399}) {
                    int hidden = heads * hd;
                    FloatArray qkv = KernelsOnCpuTest.randomFloats(a, rnd, batch * 3 * hidden, 2), context = KernelsOnCpuTest.randomFloats(a, rnd, batch * hidden, 1);
                    HalfArray keys = HalfArray.allocate(a, batch * heads * capacity * hd), values = HalfArray.allocate(a, keys.length());
                    for (int i = 0; i < keys.length(); i++) {
                        keys.set(i, (float) rnd.nextGaussian());
                        values.set(i, (float) rnd.nextGaussian());
                    }
                    IntArray pos = IntArray.allocate(a, 1);
                    pos.set(0, p);
                    closeFloats(k(CachedAttentionKernel.class, "attendStep16"), CachedAttentionKernel.attendGrid(batch, heads), 4, 0,
                            "head size " + hd + ", position " + p, qkv, pos, keys, values, context, heads, hd, capacity, (float) (1 / Math.sqrt(hd)),
                            pos, context, context, 0, 1, 1);
                    // A LLaMA's: the 3 query heads on 1 key/value head (the first head's third of the rows), rotated.
                    FloatArray cos = KernelsOnCpuTest.randomFloats(a, rnd, capacity * hd / 2, 1), sin = KernelsOnCpuTest.randomFloats(a, rnd, capacity * hd / 2, 1);
                    closeFloats(k(CachedAttentionKernel.class, "attendStepRotated16"), CachedAttentionKernel.attendGrid(batch, heads), 4, 0,
                            "rotated, 3 heads on 1, head size " + hd + ", position " + p, qkv, pos, keys, values, context, heads, 1, hd, capacity,
                            (float) (1 / Math.sqrt(hd)), pos, context, context, 0, 1, 1, cos, sin);
                    if (batch == 2 && CachedAttentionKernel.fitsOut(hidden, heads, 64)) {   // batch 1 with the out projection's parts
                        DecoderKernelsOnCpuTest.OneRowWeights r = DecoderKernelsOnCpuTest.OneRowWeights.random(a, rnd, hidden, hidden, 64);
                        FloatArray parts = FloatArray.allocate(a, heads * hidden);
                        int splits = CachedAttentionKernel.outSplits(hidden, hd, 64);
                        closeFloats(k(CachedAttentionKernel.class, "attendStep16"), CachedAttentionKernel.attendGrid(1, heads, splits), 11, 1e-6,
                                "out-projection parts, head size " + hd + ", position " + p, qkv, pos, keys, values, context, heads, hd, capacity,
                                (float) (1 / Math.sqrt(hd)), r.q8(), r.sw(), parts, hidden, splits, 64);
                    }
                }
        }
    }

    /** Runs {@code kernel} on CPU and GPU and compares FP32 output {@code out} (an argument index) within {@code tol}·(|cpu| + 1). */
    /**
     * {@link PersistentGemvKernel#int8Chain} and {@code fp16Chain} — projections chained across grid barriers in one launch, the weights through a
     * ring of bulk copies — equals {@link GemvChain#reference} bit for bit: GPT-3 1.3B's four projections of a layer, two
     * layers, on as many blocks as the GPU holds at once; and the CPU test's small chain (a block without rows) on 3.
     */
    /** {@link BasicKernels#mbarrierHandOver} on the GPU: the hand-overs in order, both parities twice over (as on the CPU). */
    @Test
    void mbarriersHandValuesOverInOrder() throws Exception {
        assumeDevice();
        Method kernel = k(BasicKernels.class, "mbarrierHandOver");
        DeviceRun device = device(kernel);
        if (device == null) return;
        try (Arena a = Arena.ofShared()) {
            int rounds = 5, blocks = 4, warps = 32;
            IntArray out = IntArray.allocate(a, blocks * rounds);
            device.run(Grid.of(blocks, 32 * warps), new Object[]{out, rounds});
            for (int b = 0; b < blocks; b++)
                for (int r = 0; r < rounds; r++)
                    assertEquals((warps - 1) * 100 * r + (warps - 1) * warps / 2, out.get(b * rounds + r), "block " + b + ", round " + r);
        }
    }

    @Test
    void persistentChainEqualsItsReference() throws Exception {
        assumeDevice();
        for (boolean halves : new boolean[]{false, true}) persistentChain(halves);
    }

    void persistentChain(boolean halves) throws Exception {
        Method kernel = k(PersistentGemvKernel.class, halves ? "fp16Chain" : "int8Chain");
        DeviceRun device = device(kernel);
        if (device == null) return;
        int[][][] chains = {
                {{6144, 2048, 8192, 2048, 6144, 2048, 8192, 2048}, {2048, 2048, 2048, 8192, 2048, 2048, 2048, 8192}, {-1, 0, 1, 2, 3, 4, 5, 6}},
                {{8192, 2050, 2, 100}, {1024, 8192, 2048, 1024}, {-1, 0, 1, -1}}};
        for (int c = 0; c < chains.length; c++) {
            try (Arena a = Arena.ofShared()) {
                GemvChain chain = new GemvChain(a, chains[c][0], chains[c][1], chains[c][2], 64, halves, 7 + c);
                float[] x = new float[chain.actLength()];
                for (int i = 0; i < x.length; i++) x[i] = chain.act.get(i);
                float[] expect = chain.reference(x);
                int blocks = c == 0 && gpu != null ? gpu.residentBlocks(kernel, PersistentGemvKernel.THREADS) : 3;
                IntArray sync = IntArray.allocate(a, 2);
                for (int launch = 0; launch < 2; launch++) {   // the second launch goes on from the count the first left, and keeps 2 chunks in flight, not SLOTS − 2
                    device.run(new Grid(blocks, 1, PersistentGemvKernel.THREADS, 1), new Object[]{sync, chain.plan, chain.phases, chain.act, chain.w, chain.sw, 64,
                            launch == 0 ? PersistentGemvKernel.SLOTS - 2 : 2});
                    for (int i = 0; i < x.length; i++)
                        assertEquals(Float.floatToRawIntBits(expect[i]), Float.floatToRawIntBits(chain.act.get(i)),
                                kernel.getName() + " chain " + c + " on " + blocks + " blocks, launch " + launch + ": element " + i + " is " + chain.act.get(i) + ", expected " + expect[i]);
                }
            }
        }
    }

    void closeFloats(Method kernel, Grid grid, int out, double tol, String what, Object... args) throws Exception {
        DeviceRun device = device(kernel);
        if (device == null) return;
        try (Arena a = Arena.ofShared()) {
            Object[] onCpu = copy(a, args), onGpu = copy(a, args);
            cpu.launch(kernel, grid, onCpu);
            device.run(grid, onGpu);
            FloatArray c = (FloatArray) onCpu[out], g = (FloatArray) onGpu[out];
            for (int i = 0; i < c.length(); i++) {
                double d = Math.abs(c.get(i) - g.get(i)) / (Math.abs(c.get(i)) + 1);
                assertTrue(d <= tol, kernel.getName() + " " + what + ": element " + i + " is " + g.get(i) + " on the GPU, " + c.get(i) + " on the CPU");
            }
        }
    }

    @Test
    void invalidPtxIsRejectedWithTheDriversLog() {
        Assumptions.assumeTrue(gpu != null, () -> "no CUDA device: " + why);
        String bad = ".version 8.0\n.target sm_90\n.address_size 64\n.visible .entry broken()\n{\n    add.s32 %r1, %r2, 3;\n    ret;\n}\n";
        var e = assertThrows(CudaException.class, () -> gpu.driver().moduleLoadPtx(bad));
        System.out.println("invalid PTX: " + e.getMessage());
        assertTrue(e.getMessage().contains("cuModuleLoadDataEx") && e.getMessage().contains("CUDA_ERROR_INVALID_PTX"), e.getMessage());
        assertTrue(e.getMessage().contains("JIT log"), e.getMessage());
    }

    @Test
    void pinnedAsyncCopiesRoundTrip() throws Exception {
        Assumptions.assumeTrue(gpu != null, () -> "no CUDA device: " + why);
        var d = gpu.driver();
        long bytes = 1 << 20;
        var pinned = d.memAllocHost(bytes);
        try {
            for (long i = 0; i < bytes; i++) pinned.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 31));
            DeviceMemory m = gpu.allocate(bytes);
            d.memcpyHtoDAsync(m.pointer(), pinned, bytes, gpu.stream());
            gpu.synchronize();
            pinned.fill((byte) 0);
            d.memcpyDtoHAsync(pinned, m.pointer(), bytes, gpu.stream());
            gpu.synchronize();
            for (long i = 0; i < bytes; i++) assertEquals((byte) (i * 31), pinned.get(ValueLayout.JAVA_BYTE, i));
            gpu.free(m);
        } finally {
            d.memFreeHost(pinned);
        }
    }

    @Test
    void wrongArgumentsAndHugeAllocationsFailClearly() {
        Assumptions.assumeTrue(gpu != null, () -> "no CUDA device: " + why);
        var e = assertThrows(IllegalArgumentException.class, () -> gpu.launch(k(BasicKernels.class, "vectorAdd"), Grid.of(1, 32), 1, 2, 3, 4));
        assertTrue(e.getMessage().contains("wants FloatArray"), e.getMessage());
        var oom = assertThrows(CudaException.class, () -> gpu.allocate(1L << 50));
        assertTrue(oom.getMessage().contains("CUDA_ERROR_OUT_OF_MEMORY"), oom.getMessage());
    }
}
