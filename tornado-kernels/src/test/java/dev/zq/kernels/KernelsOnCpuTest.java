package dev.zq.kernels;

import dev.zq.runtime.ByteArray;
import dev.zq.runtime.CpuExecutor;
import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.HalfArray;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.KernelMath;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The kernels run as plain Java on the CPU executor, checked against straightforward loops. */
class KernelsOnCpuTest {
    final CpuExecutor cpu = new CpuExecutor();

    static FloatArray randomFloats(Arena a, Random rnd, int n, double scale) {
        FloatArray x = FloatArray.allocate(a, n);
        for (int i = 0; i < n; i++) x.set(i, (float) (rnd.nextGaussian() * scale));
        return x;
    }

    /**
     * A kernel thread that fails while the others of its block are still on their way to a barrier: they reach it after
     * the failure broke it, and must be released too (they once waited there forever — a CI run hung on
     * {@code DecoderKernelsOnCpuTest.splitSlicesAddInSliceOrderAndStaleCountsFailClearly}); the launch reports the failure.
     */
    @Test
    @org.junit.jupiter.api.Timeout(60)
    void aFailingThreadReleasesTheOnesThatReachTheBarrierLater() {
        try (Arena a = Arena.ofConfined()) {
            IntArray out = IntArray.allocate(a, 64);
            for (int round = 0; round < 3; round++) assertThreadZeroFailed(() -> cpu.launch(KernelCompiler.find(KernelsOnCpuTest.class, "failsBeforeOthersArrive"), Grid.of(2, 32), out));
        }
    }

    /** That {@code launch} fails, and names thread 0's failure among its causes. */
    static void assertThreadZeroFailed(org.junit.jupiter.api.function.Executable launch) {
        var e = assertThrows(IllegalStateException.class, launch);
        StringBuilder why = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) why.append(t.getMessage()).append(" / ");
        assertTrue(why.toString().contains("thread 0 fails"), why.toString());
    }

    /** Thread 0 of each block fails at once; the others sleep first, then wait at a barrier. CPU only (it sleeps). */
    @dev.zq.runtime.Kernel
    static void failsBeforeOthersArrive(dev.zq.runtime.KernelContext ctx, IntArray out) {
        if (ctx.localIdx() == 0) throw new IllegalStateException("thread 0 fails");
        try {
            Thread.sleep(30);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        ctx.barrier();
        out.set(ctx.groupIdx() * 32 + ctx.localIdx(), 1);
    }

    /**
     * mbarriers on the CPU count arrivals and block their waiters as the GPU's do ({@link BasicKernels#mbarrierHandOver}:
     * five rounds, both parities twice over, on two blocks of 8 warps); and a thread that fails releases the threads
     * waiting for its arrival.
     */
    @Test
    @org.junit.jupiter.api.Timeout(60)
    void mbarriersHandValuesOverInOrder() {
        try (Arena a = Arena.ofShared()) {
            int rounds = 5;
            IntArray out = IntArray.allocate(a, 2 * rounds);
            cpu.launch(KernelCompiler.find(BasicKernels.class, "mbarrierHandOver"), Grid.of(2, 256), out, rounds);
            for (int b = 0; b < 2; b++)
                for (int r = 0; r < rounds; r++) assertEquals(7 * 100 * r + 28, out.get(b * rounds + r), "block " + b + ", round " + r);
            assertThreadZeroFailed(() -> cpu.launch(KernelCompiler.find(KernelsOnCpuTest.class, "failsBeforeItArrives"), Grid.of(1, 64), out));
        }
    }

    /** Thread 0 fails before it arrives at the mbarrier the others wait for. */
    @dev.zq.runtime.Kernel
    static void failsBeforeItArrives(dev.zq.runtime.KernelContext ctx, IntArray out) {
        int[] bars = ctx.allocateIntShared(2);
        if (ctx.localIdx() == 0) ctx.mbarrierInit(bars, 0, 1);
        ctx.barrier();
        if (ctx.localIdx() == 0) throw new IllegalStateException("thread 0 fails");
        ctx.mbarrierWait(bars, 0, 0);
        out.set(ctx.localIdx(), 1);
    }

    @Test
    void elementwise() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(1);
            int n = 1000;
            FloatArray x = randomFloats(a, rnd, n, 2), y = randomFloats(a, rnd, n, 2), c = FloatArray.allocate(a, n);
            cpu.launch(KernelCompiler.find(BasicKernels.class, "vectorAdd"), Grid.cover(n, 128), x, y, c, n);
            for (int i = 0; i < n; i++) assertEquals(x.get(i) + y.get(i), c.get(i));
            float[] y0 = y.toArray();
            cpu.launch(KernelCompiler.find(BasicKernels.class, "saxpy"), Grid.cover(n, 256), 1.5f, x, y, n);
            for (int i = 0; i < n; i++) assertEquals(1.5f * x.get(i) + y0[i], y.get(i));
            FloatArray d = FloatArray.allocate(a, n);
            cpu.launch(KernelCompiler.find(BasicKernels.class, "copy"), Grid.of(3, 64), x, d, n);
            assertArrayEquals(x.toArray(), d.toArray());
            cpu.launch(KernelCompiler.find(BasicKernels.class, "clampedLeakyRelu"), Grid.cover(n, 128), x, d, 0.1f, 1.5f, n);
            for (int i = 0; i < n; i++) {
                float v = x.get(i) < 0 ? x.get(i) * 0.1f : x.get(i);
                assertEquals(Math.max(-1.5f, Math.min(1.5f, v)), d.get(i));
            }
            HalfArray h = HalfArray.allocate(a, n);
            cpu.launch(KernelCompiler.find(BasicKernels.class, "toHalf"), Grid.cover(n, 128), x, h, n);
            for (int i = 0; i < n; i++) assertEquals(Float.float16ToFloat(Float.floatToFloat16(x.get(i))), h.get(i));
        }
    }

    @Test
    void integerKernels() {
        try (Arena a = Arena.ofShared()) {
            int n = 777;
            IntArray out = IntArray.allocate(a, n);
            cpu.launch(KernelCompiler.find(BasicKernels.class, "hashIndex"), Grid.cover(n, 64), out, 12345, n);
            for (int i = 0; i < n; i++) {
                int h = i * 0x9E3779B1 + 12345;
                h ^= h >>> 16;
                h *= 0x85EBCA6B;
                h ^= h >> 13;
                h = (h << 3) - (h >>> 29) + (int) ((long) h * 0x2545F491L >>> 32);
                assertEquals(h % 1000 + i / 7, out.get(i));
            }
            Random rnd = new Random(2);
            byte[] data = new byte[5000];
            rnd.nextBytes(data);
            IntArray bins = IntArray.allocate(a, 256);
            cpu.launch(KernelCompiler.find(BasicKernels.class, "histogram"), Grid.cover(data.length, 128), ByteArray.of(a, data), bins, data.length);
            int[] expect = new int[256];
            for (byte b : data) expect[b + 128]++;
            assertArrayEquals(expect, bins.toArray());
            int rows = 37, k = 129;
            byte[] m = new byte[rows * k], v = new byte[k];
            rnd.nextBytes(m);
            rnd.nextBytes(v);
            IntArray dots = IntArray.allocate(a, rows);
            cpu.launch(KernelCompiler.find(BasicKernels.class, "int8RowDot"), Grid.cover(rows, 32), ByteArray.of(a, m), ByteArray.of(a, v), dots, rows, k);
            for (int r = 0; r < rows; r++) {
                int s = 0;
                for (int j = 0; j < k; j++) s += m[r * k + j] * v[j];
                assertEquals(s, dots.get(r));
            }
        }
    }

    @Test
    void sharedMemoryAndShuffleReductions() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(3);
            int n = 1000, blocks = Math.ceilDiv(n, 256);
            FloatArray x = randomFloats(a, rnd, n, 1), partial = FloatArray.allocate(a, blocks);
            cpu.launch(KernelCompiler.find(ReductionKernels.class, "blockSum"), Grid.of(blocks, 256), x, partial, n);
            for (int b = 0; b < blocks; b++) {
                double s = 0;
                for (int i = b * 256; i < Math.min(n, (b + 1) * 256); i++) s += x.get(i);
                assertEquals(s, partial.get(b), 1e-4);
            }
            FloatArray wm = FloatArray.allocate(a, Math.ceilDiv(n, 32));
            cpu.launch(KernelCompiler.find(ReductionKernels.class, "warpAbsMax"), Grid.of(Math.ceilDiv(n, 128), 128), x, wm, n);
            for (int w = 0; w < Math.ceilDiv(n, 32); w++) {
                float m = 0;
                for (int i = w * 32; i < Math.min(n, (w + 1) * 32); i++) m = Math.max(m, Math.abs(x.get(i)));
                assertEquals(m, wm.get(w));
            }
        }
    }

    @Test
    void tokenwiseQuantizeMatchesTheDefinition() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(4);
            int rows = 5, k = 700;
            FloatArray x = randomFloats(a, rnd, rows * k, 3);
            for (int j = 0; j < k; j++) x.set(2 * k + j, 0f);   // an all-zero token
            ByteArray codes = ByteArray.allocate(a, rows * k);
            FloatArray scales = FloatArray.allocate(a, rows);
            cpu.launch(KernelCompiler.find(ReductionKernels.class, "tokenwiseQuantize"), Grid.of(rows, 256), x, codes, scales, k);
            for (int r = 0; r < rows; r++) {
                float max = 0;
                for (int j = 0; j < k; j++) max = Math.max(max, Math.abs(x.get(r * k + j)));
                assertEquals(max / 127f, scales.get(r));
                for (int j = 0; j < k; j++) {
                    int q = max == 0 ? 0 : (int) Math.rint(x.get(r * k + j) / (max / 127f));
                    assertEquals(Math.max(-128, Math.min(127, q)), codes.get(r * k + j), "row " + r + " col " + j);
                }
            }
        }
    }

    /** {@code count} random INT8 codes (from {@code rnd.nextBytes}) packed four per int, as {@link #packed} packs them. */
    static IntArray randomPacked(Arena a, Random rnd, int count) {
        byte[] bytes = new byte[count];
        rnd.nextBytes(bytes);
        return packed(a, bytes);
    }

    /** A, W as int8 matrices packed four per int (little-endian), as the mma kernel reads them. */
    static IntArray packed(Arena a, byte[] bytes) {
        IntArray out = IntArray.allocate(a, bytes.length / 4);
        out.segment().copyFrom(java.lang.foreign.MemorySegment.ofArray(bytes));
        return out;
    }

    @Test
    void tensorCoreGemmMatchesExactIntegers() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(5);
            int m = 32, n = 24, k = 64;
            byte[] ab = new byte[m * k], wb = new byte[n * k];
            rnd.nextBytes(ab);
            rnd.nextBytes(wb);
            ab[0] = -128; wb[0] = -128;
            IntArray c = IntArray.allocate(a, m * n);
            int warps = (m / 16) * (n / 8);
            cpu.launch(KernelCompiler.find(Int8MmaKernels.class, "gemmS8"), Grid.of(warps / 2, 64), packed(a, ab), packed(a, wb), c, m, n, k);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    int s = 0;
                    for (int p = 0; p < k; p++) s += ab[i * k + p] * wb[j * k + p];
                    assertEquals(s, c.get(i * n + j), "C[" + i + "][" + j + "]");
                }
        }
    }

    /** Random halves packed two per int, and their float values. */
    static IntArray halves(Arena a, Random rnd, float[] values) {
        IntArray out = IntArray.allocate(a, values.length / 2);
        for (int i = 0; i < values.length; i++) values[i] = Float.float16ToFloat(Float.floatToFloat16((float) rnd.nextGaussian()));
        for (int i = 0; i < values.length / 2; i++)
            out.set(i, (Float.floatToFloat16(values[2 * i]) & 0xFFFF) | (Float.floatToFloat16(values[2 * i + 1]) << 16));
        return out;
    }

    @Test
    void fp16TensorCoreGemmMatchesDoubleLoop() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(6);
            int m = 32, n = 16, k = 48;
            float[] av = new float[m * k], wv = new float[n * k];
            IntArray ah = halves(a, rnd, av), wh = halves(a, rnd, wv);
            FloatArray c = FloatArray.allocate(a, m * n);
            cpu.launch(KernelCompiler.find(Int8MmaKernels.class, "gemmF16"), Grid.of(2, 64), ah, wh, c, m, n, k);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double s = 0, mag = 0;
                    for (int p = 0; p < k; p++) { s += (double) av[i * k + p] * wv[j * k + p]; mag += Math.abs((double) av[i * k + p] * wv[j * k + p]); }
                    // Per 16-wide step the sum is rounded to float once: error ≤ (K/16)·2^-24·Σ|a·b|.
                    assertEquals(s, c.get(i * n + j), 1e-6 * mag, "C[" + i + "][" + j + "]");
                }
        }
    }

    @Test
    void sixteenByteLoadsReadFourConsecutiveIntsAndRefuseMisalignedIndices() {
        try (Arena a = Arena.ofShared()) {
            int n = 1000;
            IntArray src = IntArray.allocate(a, n + 8), dst = IntArray.allocate(a, n);
            for (int i = 0; i < src.length(); i++) src.set(i, i * 31 - 7);
            var load4 = KernelCompiler.find(BasicKernels.class, "load4Scaled");
            cpu.launch(load4, Grid.of(3, 32), src, dst, 8, n);
            for (int i = 0; i < n; i++) assertEquals(((i + 8) * 31 - 7) * (i % 4 + 1), dst.get(i), "element " + i);
            var e = assertThrows(RuntimeException.class, () -> cpu.launch(load4, Grid.of(1, 32), src, dst, 6, 8));
            StringBuilder why = new StringBuilder();
            for (Throwable t = e; t != null; t = t.getCause()) why.append(t.getMessage()).append(" / ");
            assertTrue(why.toString().contains("multiple of 4"), why.toString());
        }
    }

    /** The 16-byte load of halves: eight raw half bit patterns (NaN payloads, −0, subnormals kept), low half first. */
    @Test
    void sixteenByteLoadsOfHalvesKeepTheirBitsAndOrder() {
        try (Arena a = Arena.ofShared()) {
            int n = 400;   // ints out, 800 halves
            HalfArray src = HalfArray.allocate(a, 2 * n + 16);
            for (int i = 0; i < src.length(); i++) src.segment().setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, i, (short) (i * 2654435761L >>> 13));
            src.segment().setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, 16, (short) 0x7E01);   // a NaN with a payload
            src.segment().setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, 17, (short) 0x8000);   // −0
            IntArray dst = IntArray.allocate(a, n);
            var load4 = KernelCompiler.find(BasicKernels.class, "load4Halves");
            cpu.launch(load4, Grid.of(3, 32), src, dst, 16, n);
            for (int i = 0; i < n; i++) {
                int lo = src.segment().getAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, 16 + 2 * i) & 0xFFFF;
                int hi = src.segment().getAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, 17 + 2 * i) & 0xFFFF;
                assertEquals(lo | hi << 16, dst.get(i), "int " + i);
            }
            assertEquals(0x80007E01, dst.get(0));
            var e = assertThrows(RuntimeException.class, () -> cpu.launch(load4, Grid.of(1, 32), src, dst, 4, 8));
            StringBuilder why = new StringBuilder();
            for (Throwable t = e; t != null; t = t.getCause()) why.append(t.getMessage()).append(" / ");
            assertTrue(why.toString().contains("multiple of 8"), why.toString());
        }
    }

    /**
     * KernelMath.exp is float arithmetic (the GPU compiles the same body): within 2 ulps of Math.exp over the whole range
     * it is finite on, exact at 0, 0 and +∞ beyond it, NaN for NaN; rsqrt within 1.5 ulps of 1/√x.
     */
    @Test
    void kernelExpAndRsqrtAreAccurate() {
        Random rnd = new Random(5);
        for (int i = 0; i < 2_000_000; i++) {
            float x = i < 1_000_000 ? (float) (rnd.nextDouble() * 190 - 104) : (float) rnd.nextGaussian() * 4;
            double want = Math.exp(x);
            float got = KernelMath.exp(x);
            if (want < Float.MIN_NORMAL) assertTrue(Math.abs(got - want) <= Float.MIN_VALUE, "exp(" + x + ") = " + got + ", not " + want);
            else if (want > Float.MAX_VALUE) assertEquals(Float.POSITIVE_INFINITY, got, "exp(" + x + ")");
            else assertTrue(Math.abs(got - want) <= 2 * Math.ulp((float) want), "exp(" + x + ") = " + got + ", not " + want);
            float y = Math.abs(x) + 1e-30f;
            float rs = KernelMath.rsqrt(y);
            assertTrue(Math.abs(rs - 1 / Math.sqrt(y)) <= 1.5 * Math.ulp(rs), "rsqrt(" + y + ") = " + rs);   // two roundings
        }
        assertEquals(1f, KernelMath.exp(0f));
        assertEquals(1f, KernelMath.exp(-0f));
        assertEquals(0f, KernelMath.exp(Float.NEGATIVE_INFINITY));
        assertEquals(0f, KernelMath.exp(-1000f));
        assertEquals(Float.POSITIVE_INFINITY, KernelMath.exp(Float.POSITIVE_INFINITY));
        assertEquals(Float.POSITIVE_INFINITY, KernelMath.exp(88.73f));
        assertEquals((float) Math.exp(88.72f), KernelMath.exp(88.72f), Math.ulp((float) Math.exp(88.72f)) * 2);
        assertTrue(Float.isNaN(KernelMath.exp(Float.NaN)));
        assertEquals((float) Math.E, KernelMath.exp(1f), Math.ulp((float) Math.E));
    }

    @Test
    void badLaunchesAreRejected() {
        var m = KernelCompiler.find(BasicKernels.class, "vectorAdd");
        assertThrows(IllegalArgumentException.class, () -> cpu.launch(m, Grid.of(1, 1), 1, 2));
        assertThrows(IllegalArgumentException.class, () -> Grid.of(1, 2048));
        assertThrows(IllegalArgumentException.class, () -> KernelCompiler.find(BasicKernels.class, "clamp"));
    }
}
