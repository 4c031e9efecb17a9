package dev.zq.kernels;

import dev.zq.runtime.ByteArray;
import dev.zq.runtime.FloatArray;
import dev.zq.runtime.HalfArray;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;
import dev.zq.runtime.KernelMath;

/** Element-wise kernels: one thread per element, a bounds check for the last block. */
public final class BasicKernels {
    private BasicKernels() {}

    @Kernel
    public static void vectorAdd(KernelContext ctx, FloatArray a, FloatArray b, FloatArray c, int n) {
        int i = ctx.globalIdx();
        if (i < n) c.set(i, a.get(i) + b.get(i));
    }

    /**
     * {@code dst[i] = src[offset + i]·(i mod 4 + 1)} read four ints at a time with one 16-byte load
     * ({@link KernelContext#load4}); {@code offset} must be a multiple of 4, {@code n} of 4.
     */
    @Kernel
    public static void load4Scaled(KernelContext ctx, IntArray src, IntArray dst, int offset, int n) {
        int[] q = new int[4];
        for (int i = ctx.globalIdx() << 2; i < n; i += ctx.globalSizeX() << 2) {
            ctx.load4(q, src, offset + i);
            dst.set(i, q[0]);
            dst.set(i + 1, 2 * q[1]);
            dst.set(i + 2, 3 * q[2]);
            dst.set(i + 3, 4 * q[3]);
        }
    }

    /**
     * {@code dst[i] = } halves {@code src[offset + 2i]} (low 16 bits) and {@code src[offset + 2i + 1]} (high), raw bits,
     * read eight halves at a time with one 16-byte load ({@link KernelContext#load4} of a {@link HalfArray});
     * {@code offset} must be a multiple of 8, {@code n} (ints) of 4.
     */
    @Kernel
    public static void load4Halves(KernelContext ctx, HalfArray src, IntArray dst, int offset, int n) {
        int[] q = new int[4];
        for (int i = ctx.globalIdx() << 2; i < n; i += ctx.globalSizeX() << 2) {
            ctx.load4(q, src, offset + 2 * i);
            dst.set(i, q[0]);
            dst.set(i + 1, q[1]);
            dst.set(i + 2, q[2]);
            dst.set(i + 3, q[3]);
        }
    }

    /** {@code e[i] = KernelMath.exp(x[i])}, {@code r[i] = KernelMath.rsqrt(x[i])}: the float math GPU and CPU must agree on. */
    @Kernel
    public static void floatMath(KernelContext ctx, FloatArray x, FloatArray e, FloatArray r, int n) {
        int i = ctx.globalIdx();
        if (i < n) {
            e.set(i, KernelMath.exp(x.get(i)));
            r.set(i, KernelMath.rsqrt(x.get(i)));
        }
    }

    /** y = alpha·x + y (separate multiply and add, as Java computes it). */
    @Kernel
    public static void saxpy(KernelContext ctx, float alpha, FloatArray x, FloatArray y, int n) {
        int i = ctx.globalIdx();
        if (i < n) y.set(i, alpha * x.get(i) + y.get(i));
    }

    /**
     * {@code out[i] = in[(i + shift) mod n] / 2 + 1}, grid-stride. It awaits its predecessor itself, so a CUDA graph
     * launches it programmatically, overlapping the previous kernel's end: a chain of these reading each other's
     * outputs at shifted positions shows whether the wait really orders them (TaskGraphTest).
     */
    @Kernel
    public static void shiftedHalfPlusOne(KernelContext ctx, FloatArray in, FloatArray out, int shift, int n) {
        ctx.awaitPreviousKernel();
        ctx.releaseNextKernel();
        for (int i = ctx.globalIdx(); i < n; i += ctx.globalSizeX()) out.set(i, 0.5f * in.get((i + shift) % n) + 1f);
    }

    /**
     * Warps 1 … W−1 of each block hand a value each to thread 0 through a pair of mbarriers for {@code rounds} rounds, as
     * the persistent chains' slots do ({@link PersistentGemvKernel#FULL}, {@link PersistentGemvKernel#FREE}): lane 0 of each
     * writes {@code 100·round + warp} into shared memory and arrives at WRITTEN; thread 0 waits for WRITTEN's phase, writes
     * the values' sum to {@code out[block·rounds + round]} and arrives at READ, for which the warps wait before their next
     * round. No block barrier orders them: a wait that returned early, or a phase's parity mistaken, shows in the sums.
     */
    @Kernel
    public static void mbarrierHandOver(KernelContext ctx, IntArray out, int rounds) {
        int tid = ctx.localIdx(), lane = tid & 31, warp = tid >> 5, warps = ctx.localSizeX() >> 5;
        int[] bars = ctx.allocateIntShared(4);   // WRITTEN at 0, READ at 2
        int[] box = ctx.allocateIntShared(32);
        if (tid == 0) {
            ctx.mbarrierInit(bars, 0, warps - 1);
            ctx.mbarrierInit(bars, 2, 1);
        }
        ctx.barrier();   // the inits seen by every thread
        for (int r = 0; r < rounds; r++) {
            if (warp > 0 && lane == 0) {
                if (r > 0) ctx.mbarrierWait(bars, 2, (r - 1) & 1);   // thread 0 has read the round before
                box[warp] = 100 * r + warp;
                ctx.mbarrierArrive(bars, 0);
            } else if (tid == 0) {
                ctx.mbarrierWait(bars, 0, r & 1);
                int sum = 0;
                for (int w = 1; w < warps; w++) sum += box[w];
                out.set(ctx.groupIdx() * rounds + r, sum);
                ctx.mbarrierArrive(bars, 2);
            }
        }
    }

    /**
     * {@code phases} rounds of {@link #shiftedHalfPlusOne} in one launch, ping-ponging between {@code a} and {@code b} with
     * a grid barrier between rounds (round r shifts by {@code (r·7919 + 1) mod n}; odd rounds write {@code b}). Each round
     * reads elements other blocks wrote in the round before, so a barrier that does not order them shows in the result.
     * Against a chain of {@code phases} launches, it measures what a grid barrier costs next to a launch (RuntimeBench).
     */
    @Kernel
    public static void shiftedHalfPlusOneRounds(KernelContext ctx, IntArray sync, FloatArray a, FloatArray b, int phases, int n) {
        ctx.awaitPreviousKernel();
        for (int r = 0; r < phases; r++) {
            int shift = (r * 7919 + 1) % n;
            if ((r & 1) == 0) for (int i = ctx.globalIdx(); i < n; i += ctx.globalSizeX()) b.set(i, 0.5f * a.get((i + shift) % n) + 1f);
            else for (int i = ctx.globalIdx(); i < n; i += ctx.globalSizeX()) a.set(i, 0.5f * b.get((i + shift) % n) + 1f);
            ctx.gridBarrier(sync);
        }
    }

    /** A grid-stride copy: each thread moves every {@code globalSize}-th element (the bandwidth probe). */
    @Kernel
    public static void copy(KernelContext ctx, FloatArray src, FloatArray dst, int n) {
        for (int i = ctx.globalIdx(); i < n; i += ctx.globalSizeX()) dst.set(i, src.get(i));
    }

    /** Leaky-ReLU with a clamp: branches, a helper call that the JIT inlines, int/float conversions. */
    @Kernel
    public static void clampedLeakyRelu(KernelContext ctx, FloatArray x, FloatArray y, float slope, float limit, int n) {
        int i = ctx.globalIdx();
        if (i >= n) return;
        float v = x.get(i);
        v = v < 0 ? v * slope : v;
        y.set(i, clamp(v, -limit, limit));
    }

    static float clamp(float v, float lo, float hi) {
        return Math.max(lo, Math.min(hi, v));
    }

    /** Integer arithmetic and shifts: a hash of the index (checks Java's shift and overflow semantics). */
    @Kernel
    public static void hashIndex(KernelContext ctx, IntArray out, int seed, int n) {
        int i = ctx.globalIdx();
        if (i >= n) return;
        int h = i * 0x9E3779B1 + seed;
        h ^= h >>> 16;
        h *= 0x85EBCA6B;
        h ^= h >> 13;
        h = (h << 3) - (h >>> 29) + (int) ((long) h * 0x2545F491L >>> 32);
        out.set(i, h % 1000 + i / 7);
    }

    /** Histogram of byte values into 256 bins with atomic adds (order-independent, so exact). */
    @Kernel
    public static void histogram(KernelContext ctx, ByteArray data, IntArray bins, int n) {
        int i = ctx.globalIdx();
        if (i < n) ctx.atomicAdd(bins, data.get(i) + 128, 1);
    }

    /** F32 → F16 → F32 round trip through a half-precision buffer. */
    @Kernel
    public static void toHalf(KernelContext ctx, FloatArray x, HalfArray h, int n) {
        int i = ctx.globalIdx();
        if (i < n) h.set(i, x.get(i));
    }

    /** {@code KernelMath}'s bit intrinsics: {@code p[i] = prmt(a[i], b[i], sel[i])}, {@code d[i] = a[i] − b[i]} as two halves each. */
    @Kernel
    public static void byteAndHalfIntrinsics(KernelContext ctx, IntArray a, IntArray b, IntArray sel, IntArray p, IntArray d, int n) {
        int i = ctx.globalIdx();
        if (i < n) {
            p.set(i, KernelMath.bytePermute(a.get(i), b.get(i), sel.get(i)));
            d.set(i, KernelMath.subHalf2(a.get(i), b.get(i)));
        }
    }

    /** INT8 dot product of row {@code row} of a [rows, k] matrix with a vector, one thread per row. */
    @Kernel
    public static void int8RowDot(KernelContext ctx, ByteArray m, ByteArray v, IntArray out, int rows, int k) {
        int row = ctx.globalIdx();
        if (row >= rows) return;
        int acc = 0;
        for (int j = 0; j < k; j++) acc += m.get(row * k + j) * v.get(j);
        out.set(row, acc);
    }
}
