package dev.zq.kernels;

import dev.zq.runtime.Device;
import dev.zq.runtime.Grid;
import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.cuda.CudaDevice;
import dev.zq.runtime.cuda.CudaDriver;
import dev.zq.runtime.cuda.DeviceMemory;
import dev.zq.runtime.internal.SpinKernel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Picks the GEMM tile for a problem shape, as ZeroQuant's backend picked among generated kernels by padding and
 * speed: on a GPU each candidate that fits the shape is timed (median of 5 rounds, a round 10 launches back to back of
 * every candidate in turn, {@link #launchesMillis}, on random scratch operands) and the choice is cached for the shape; on the
 * CPU, where speed does not matter, the larger tile is taken when it fits. One instance per device.
 */
public final class GemmTiles {
    /** Which GEMM: W8A8 ({@link Int8GemmKernel}) or W16A16 ({@link Fp16GemmKernel}). */
    public enum Precision { INT8, FP16 }

    /**
     * A kernel and the grid it needs for the shape; {@code splits > 0} for {@code gemm64k} and {@code gemm64kd} (INT8 and
     * FP16), which take three more arguments ({@link #splitArgs}): the number of slices of K and its scratch buffers; {@code whole ≥ 0} for
     * {@link Int8GemmKernel#gemm128h}, which takes that one more: how many tiles it computes whole, not in halves.
     */
    public record Choice(Method kernel, Grid grid, int splits, int whole) {
        public Choice(Method kernel, Grid grid, int splits) { this(kernel, grid, splits, -1); }

        public String name() {
            return splits > 0 ? kernel.getName() + "/" + splits : whole >= 0 ? kernel.getName() + "@" + whole : kernel.getName();
        }

        /** Ints of partial sums the kernel needs (a 64×64 tile per block), 0 if it does not split K (or "splits" it in one). */
        public long partialInts() { return splits > 1 ? 4096L * grid.groupsX() : 0; }

        /** Zeroed ints of arrival counts the kernel needs (one per output tile), 0 if it does not split K. */
        public int arrivalInts() { return splits > 1 ? grid.groupsX() / splits : 0; }

        /** The arguments after the common ones ({@code …, gelu}): none, the slices of K, partials and arrivals, or whole. */
        public Object[] splitArgs(Object partials, Object arrivals) {
            return splits > 0 ? new Object[]{splits, partials, arrivals} : whole >= 0 ? new Object[]{whole} : new Object[0];
        }
    }

    /**
     * Whether the candidates for few output tiles include {@link Int8GemmKernel#gemm64kd} and {@link Fp16GemmKernel#gemm64kd}
     * (eight slices of K in flight); {@code -Dzq.gemm.deep=false} leaves them out (a measuring switch).
     */
    static final boolean DEEP = Boolean.parseBoolean(System.getProperty("zq.gemm.deep", "true"));

    private final Device device;
    private final Map<String, Choice> chosen = new ConcurrentHashMap<>();

    public GemmTiles(Device device) { this.device = device; }

    /** The fastest tile for {@code y[m, n] = x[m, k] · w[n, k]ᵀ}; shapes must be multiples of 64. */
    public Choice choose(Precision p, int m, int n, int k) {
        if (m <= 0 || n <= 0 || k <= 0 || m % 64 != 0 || n % 64 != 0 || k % 64 != 0)
            throw new IllegalArgumentException("GEMM " + m + "x" + n + "x" + k + ": M, N and K must be positive multiples of 64");
        return chosen.computeIfAbsent(p + " " + m + "x" + n + "x" + k, key -> pick(p, m, n, k));
    }

    /**
     * The candidates that fit the shape, larger tile first (on the CPU the first is taken): the 128×128 tiles on
     * {@code mma.sync} and on {@code wgmma} ({@code gemm128g}; {@code gemm128s} where K holds whole 128-byte stages, and
     * for INT8 there {@link Int8GemmKernel#gemm128h} with every tile whole), then the 64×64 ones; for products with
     * fewer than 128 output tiles of 64×64 also {@code gemm64k} ({@link Int8GemmKernel#gemm64k}, {@link Fp16GemmKernel#gemm64k})
     * with K in 2, 4 or 8 slices, and {@code gemm64kd} ({@link Int8GemmKernel#gemm64kd}, {@link Fp16GemmKernel#gemm64kd}) with K
     * whole or in 2, 4 or 8 slices.
     */
    public static List<Choice> candidates(Precision p, int m, int n, int k) {
        return candidates(p, m, n, k, 0);
    }

    /**
     * {@link #candidates(Precision, int, int, int)}, and where {@code slots} (how many blocks of
     * {@link Int8GemmKernel#gemm128h} the GPU holds at once; 0: unknown) leaves the INT8 128×128 grid's last wave at most
     * half full, {@code gemm128h} with that wave's tiles in halves ({@link #wholeTiles}).
     */
    public static List<Choice> candidates(Precision p, int m, int n, int k, int slots) {
        return candidates(p, m, n, k, slots, true);
    }

    /**
     * {@link #candidates(Precision, int, int, int, int)}, without the tiles on Hopper's warpgroup instruction
     * ({@code gemm128g}, {@code gemm128s}, {@code gemm128h}: PTX for {@code sm_90a}) where {@code wgmma} is false.
     */
    public static List<Choice> candidates(Precision p, int m, int n, int k, int slots, boolean wgmma) {
        Class<?> owner = p == Precision.INT8 ? Int8GemmKernel.class : Fp16GemmKernel.class;
        List<Choice> out = new ArrayList<>();
        if (m % 128 == 0 && n % 128 == 0) {
            out.add(new Choice(KernelCompiler.find(owner, "gemm128w"), Grid.of((m / 128) * (n / 128), 128), 0));
            if (wgmma) out.add(new Choice(KernelCompiler.find(owner, "gemm128g"), Grid.of((m / 128) * (n / 128), 256), 0));
            if (wgmma && k % (p == Precision.INT8 ? 128 : 64) == 0)   // 128-byte stages of K
                out.add(new Choice(KernelCompiler.find(owner, "gemm128s"), Grid.of((m / 128) * (n / 128), 256), 0));
            int tiles = (m / 128) * (n / 128), whole = wholeTiles(tiles, slots);
            if (wgmma && p == Precision.INT8 && k % 128 == 0) {   // every tile whole, and (where it gains) the last wave in halves
                out.add(new Choice(KernelCompiler.find(owner, "gemm128h"), Grid.of(tiles, 256), 0, tiles));
                if (whole >= 0) out.add(new Choice(KernelCompiler.find(owner, "gemm128h"), Grid.of(whole + 2 * (tiles - whole), 256), 0, whole));
            }
            out.add(new Choice(KernelCompiler.find(owner, "gemm128"), Grid.of((m / 128) * (n / 128), 256), 0));
        }
        int tiles = (m / 64) * (n / 64);
        out.add(new Choice(KernelCompiler.find(owner, "gemm64w"), Grid.of(tiles, 128), 0));
        out.add(new Choice(KernelCompiler.find(owner, "gemm64"), Grid.of(tiles, 128), 0));
        if (tiles < 128)   // K in slices of whole stages: 64 INT8 codes, 32 halves
            for (int s = 2; s <= 8; s *= 2)
                if ((k / (p == Precision.INT8 ? 64 : 32)) % s == 0) out.add(new Choice(KernelCompiler.find(owner, "gemm64k"), Grid.of(tiles * s, 128), s));
        if (tiles < 128 && DEEP)   // eight slices of K in flight, unsplit and split
            for (int s = 1; s <= 8; s *= 2)
                if ((k / (p == Precision.INT8 ? 64 : 32)) % s == 0) out.add(new Choice(KernelCompiler.find(owner, "gemm64kd"), Grid.of(tiles * s, 128), s));
        return out;
    }

    /**
     * How many of {@code tiles} a {@link Int8GemmKernel#gemm128h} grid computes whole when {@code slots} blocks run at
     * once, or −1 where halves gain nothing: with r = tiles mod slots, the last r tiles in halves where 0 < r ≤ slots/2
     * (2r halves fill the last wave, which then takes half a tile's time); all of them where tiles ≤ slots/2.
     */
    static int wholeTiles(int tiles, int slots) {
        if (slots <= 0) return -1;
        int r = tiles % slots;
        return r > 0 && 2 * r <= slots ? tiles - r : -1;
    }

    /** How many blocks of {@link Int8GemmKernel#gemm128h} this GPU runs at once (for INT8; 0 on the CPU and for FP16). */
    public int slots(Precision p) {
        return device instanceof CudaDevice gpu && gpu.hasWarpgroupMma() && p == Precision.INT8
                ? device.residentBlocks(KernelCompiler.find(Int8GemmKernel.class, "gemm128h"), 256) : 0;
    }

    private Choice pick(Precision p, int m, int n, int k) {
        List<Choice> all = candidates(p, m, n, k, slots(p), !(device instanceof CudaDevice gpu) || gpu.hasWarpgroupMma());
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
        long partialInts = 0, arrivalInts = 1;
        for (Choice c : all) {
            partialInts = Math.max(partialInts, c.partialInts());
            arrivalInts = Math.max(arrivalInts, c.arrivalInts());
        }
        DeviceMemory partials = gpu.allocate(4L * Math.max(1, partialInts)), arrivals = gpu.allocate(4L * arrivalInts), spun = gpu.allocate(4);
        MemorySegment e0 = d.eventCreate(), e1 = d.eventCreate();
        try {
            // Random operands, as real ones and as GemmBench's: a tensor core's power, and so the clock the GPU keeps,
            // depends on the bits it multiplies. (Timed on zeros, an H200 picked gemm128s at 8192³, 1.16 ms back to back on
            // random codes, over gemm128h's 1.06: bench/RESULTS.md, session 26.) Scales and bias small and finite.
            randomOperand(gpu, a, elem * m * k, p == Precision.FP16);
            randomOperand(gpu, w, elem * n * k, p == Precision.FP16);
            for (DeviceMemory mem : List.of(sx, sw, bias)) d.memsetD8(mem.pointer(), (byte) 0x3c, mem.bytes());
            d.memsetD8(arrivals.pointer(), (byte) 0, arrivals.bytes());
            // Rounds over all candidates, not all rounds of one candidate then the next: whatever drifts during the
            // timing (clocks, another process) then touches every candidate alike. (One run on an H200 picked gemm64w at
            // 2048x3072x768, 29 us back to back, over gemm128h's 19 us when each was timed in a block of its own.)
            Object[] common = p == Precision.INT8 ? new Object[]{a, w, sx, sw, bias, y, m, n, k, 0} : new Object[]{a, w, bias, y, m, n, k, 0};
            List<Object[]> args = new ArrayList<>();
            for (Choice c : all) args.add(concat(common, c.splitArgs(partials, arrivals)));
            double[][] ms = new double[all.size()][5];
            for (int r = -1; r < 5; r++)
                for (int i = 0; i < all.size(); i++) {
                    double t = launchesMillis(gpu, all.get(i).kernel(), all.get(i).grid(), args.get(i), 10, e0, e1, spun);
                    if (r >= 0) ms[i][r] = t;
                }
            Choice best = null;
            double bestMs = Double.MAX_VALUE;
            for (int i = 0; i < all.size(); i++) {
                Arrays.sort(ms[i]);
                if (ms[i][2] < bestMs) {
                    bestMs = ms[i][2];
                    best = all.get(i);
                }
            }
            return best;
        } finally {
            d.eventDestroy(e0);
            d.eventDestroy(e1);
            for (DeviceMemory mem : List.of(a, w, y, sx, sw, bias, partials, arrivals, spun)) gpu.free(mem);
        }
    }

    /**
     * Device milliseconds of one launch of {@code kernel}: {@code launches} launches back to back between two events,
     * enqueued behind a spinning kernel ({@link SpinKernel}) so that the events time the device, not the host's pace of
     * enqueuing (a launch from Java takes 9 µs and more; unspun, bert-base's M = 128 products timed 60-80 µs a launch
     * on an H200, several times what they take in the encoder's graph, and the pick among them was noise).
     */
    public static double launchesMillis(CudaDevice gpu, Method kernel, Grid grid, Object[] args, int launches, MemorySegment e0, MemorySegment e1,
                                        DeviceMemory spun) throws Exception {
        CudaDriver d = gpu.driver();
        gpu.launch(KernelCompiler.find(SpinKernel.class, "spin"), Grid.of(1, 32), spun, 25_000 * (launches + 1));
        d.eventRecord(e0, gpu.stream());
        for (int i = 0; i < launches; i++) gpu.launch(kernel, grid, args);
        d.eventRecord(e1, gpu.stream());
        d.eventSynchronize(e1);
        return d.eventElapsedMillis(e0, e1) / launches;
    }

    /** {@link #randomOperand(MemorySegment, long, boolean)} of {@code bytes} bytes, copied into {@code m}. */
    public static void randomOperand(CudaDevice gpu, DeviceMemory m, long bytes, boolean halves) throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(bytes, 8);
            randomOperand(host, bytes, halves);
            gpu.copyIn(m, host);
        }
    }

    /**
     * The first {@code bytes} bytes of {@code host} (an even count) as uniformly random bytes (INT8 codes), or as random
     * FP16 values in (−1, 1) — random sign and mantissa, exponent at most 14, so never Inf or NaN; the same bits for the
     * same size.
     */
    public static void randomOperand(MemorySegment host, long bytes, boolean halves) {
        if (bytes < 0 || (bytes & 1) != 0 || bytes > host.byteSize())
            throw new IllegalArgumentException("an even byte count within the segment's " + host.byteSize() + ", not " + bytes);
        SplittableRandom rnd = new SplittableRandom(bytes);
        for (long i = 0; i < bytes; i += 2) {
            int v = rnd.nextInt(1 << 16);
            if (halves) v = (v & 0x83FF) | (Math.min((v >> 10) & 0x1F, 14) << 10);
            host.set(ValueLayout.JAVA_SHORT_UNALIGNED, i, (short) v);
        }
    }

    /** {@code head} followed by {@code tail}. */
    public static Object[] concat(Object[] head, Object[] tail) {
        Object[] all = Arrays.copyOf(head, head.length + tail.length);
        System.arraycopy(tail, 0, all, head.length, tail.length);
        return all;
    }
}
