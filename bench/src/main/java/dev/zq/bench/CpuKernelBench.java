package dev.zq.bench;

import dev.zq.model.DenseLinear;
import dev.zq.quant.GroupwiseQuantizer;
import dev.zq.quant.QuantizedLinear;
import dev.zq.quant.TokenwiseQuantizer;
import dev.zq.quant.WeightGranularity;
import dev.zq.tensor.Attention;
import dev.zq.tensor.DType;
import dev.zq.tensor.MatMul;
import dev.zq.tensor.PackedMatrix;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.function.LongSupplier;

/**
 * CPU kernel figures quoted in RESULTS.md: F32 GEMM throughput of the dot-product tiles and the packed
 * outer-product kernel at MiniLM's projection shapes, one layer's attention (128 tokens, 12 heads), and an
 * FP32 vs W8A8 {@code Linear} at 1024 tokens and at GPT-2 decode shapes (8 and 16 rows; weights hot in cache here, unlike a
 * model's decode step). Each figure is the best of 30 timed calls after the calls
 * before it warmed the JIT up. Run: {@code java -cp … dev.zq.bench.CpuKernelBench}; {@code … CpuKernelBench linear} times the
 * FP32 and W8A8 {@code Linear} only, {@code … CpuKernelBench stream} the same with each call on the next of 24 distinct
 * weights (a model's step: weights from memory).
 */
public final class CpuKernelBench {
    public static void main(String[] args) {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(1);
            System.out.println("| kernel | shape | best ms | GFLOP/s |");
            System.out.println("|---|---|---:|---:|");
            if (args.length > 0 && args[0].equals("linear")) {   // only FP32 against W8A8 Linear, at decode batches and a prompt
                linears(a, rnd, new int[][]{{8, 768, 3072}, {16, 768, 3072}, {32, 768, 3072}, {32, 3072, 768}, {128, 768, 3072}});
                return;
            }
            if (args.length > 0 && args[0].equals("stream")) {   // the same, each call on the next of LAYERS weights, as in a model
                System.out.println("(ms a call: the mean over a sweep of " + LAYERS + " distinct weights, best of " + SWEEPS + " sweeps)");
                streams(a, rnd, new int[][]{{8, 768, 3072}, {16, 768, 3072}, {32, 768, 3072}, {32, 3072, 768}});
                return;
            }
            for (int[] s : new int[][]{{128, 384, 384}, {128, 384, 1536}, {128, 1536, 384}, {1024, 384, 1536}}) {
                int m = s[0], k = s[1], n = s[2];
                Tensor x = random(a, rnd, m, k), w = random(a, rnd, n, k), y = Tensor.allocate(a, DType.F32, m, n);
                PackedMatrix p = PackedMatrix.pack(a, w);
                double flops = 2.0 * m * n * k;
                row("F32 dot-product tiles (MatMul.matmulTransposed)", s, best(() -> time(() -> MatMul.matmulTransposed(x, w, null, y))), flops);
                row("F32 packed outer products (PackedMatrix)", s, best(() -> time(() -> p.multiply(x, null, y))), flops);
            }
            Tensor q = random(a, rnd, 1, 128, 384), kk = random(a, rnd, 1, 128, 384), v = random(a, rnd, 1, 128, 384);
            Tensor o = Tensor.allocate(a, DType.F32, 1, 128, 384);
            row("attention, 12 heads", new int[]{128, 128, 384}, best(() -> time(() -> Attention.forward(q, kk, v, null, 12, false, 0, o))), 4.0 * 128 * 128 * 384);
            // FP32 against W8A8 Linear: a prompt-sized product, and GPT-2's MLP up-projection at decode batches 8 and 16.
            linears(a, rnd, new int[][]{{1024, 384, 1536}, {8, 768, 3072}, {16, 768, 3072}});
        }
    }

    /** FP32 against W8A8 {@code Linear} (per-row and groups of 64) at shapes M×K×N, weights hot in cache. */
    static void linears(Arena a, Random rnd, int[][] shapes) {
        // A first pass over every shape, not printed: the first W8A8 shape timed otherwise ran 2x slow (C2 still compiling).
        for (boolean print : new boolean[]{false, true})
            for (int[] s : shapes) linear(a, rnd, s, print);
    }

    static void linear(Arena a, Random rnd, int[] s, boolean print) {
        int m = s[0], k = s[1], n = s[2];
        Tensor x = random(a, rnd, m, k), w = random(a, rnd, n, k), y = Tensor.allocate(a, DType.F32, m, n);
        DenseLinear fp = new DenseLinear(w, null);
        double flops = 2.0 * m * n * k;
        long fpNanos = best(() -> time(() -> fp.forward(x, y)));
        if (print) row("Linear FP32 (DenseLinear)", s, fpNanos, flops);
        for (WeightGranularity g : new WeightGranularity[]{WeightGranularity.perRow(), WeightGranularity.groups(64)}) {
            QuantizedLinear ql = new QuantizedLinear(new GroupwiseQuantizer(8, g).quantize(w, a), null, new TokenwiseQuantizer());
            long nanos = best(() -> time(() -> ql.forward(x, y)));
            if (print) row("Linear W8A8 (QuantizedLinear, " + g + ")", s, nanos, flops);
        }
    }

    /** Distinct weights a sweep cycles through ({@code -Dzq.bench.layers}, 24: of 768×3072 226 MB in FP32, 57 MB in INT8 — past any cache here). */
    static final int LAYERS = Integer.getInteger("zq.bench.layers", 24);
    static final int SWEEPS = 8;

    static void streams(Arena a, Random rnd, int[][] shapes) {
        for (boolean print : new boolean[]{false, true})   // a first pass unprinted, as in linears
            for (int[] s : shapes) stream(a, rnd, s, print);
    }

    /**
     * FP32 and W8A8 {@code Linear} as a model's decode step meets them: each call on the next of {@link #LAYERS} weight
     * matrices, so that a weight comes from memory, not from a cache that the call before left it in. The time of a call is
     * the mean over a sweep, the best of {@link #SWEEPS} sweeps.
     */
    static void stream(Arena a, Random rnd, int[] s, boolean print) {
        int m = s[0], k = s[1], n = s[2];
        Tensor x = random(a, rnd, m, k), y = Tensor.allocate(a, DType.F32, m, n);
        DenseLinear[] fp = new DenseLinear[LAYERS];
        QuantizedLinear[] perRow = new QuantizedLinear[LAYERS], g64 = new QuantizedLinear[LAYERS];
        for (int l = 0; l < LAYERS; l++) {
            Tensor w = random(a, rnd, n, k);
            fp[l] = new DenseLinear(w, null);
            perRow[l] = new QuantizedLinear(new GroupwiseQuantizer(8, WeightGranularity.perRow()).quantize(w, a), null, new TokenwiseQuantizer());
            g64[l] = new QuantizedLinear(new GroupwiseQuantizer(8, WeightGranularity.groups(64)).quantize(w, a), null, new TokenwiseQuantizer());
        }
        double flops = 2.0 * m * n * k;
        long f = sweeps(() -> { for (DenseLinear l : fp) l.forward(x, y); });
        long r = sweeps(() -> { for (QuantizedLinear l : perRow) l.forward(x, y); });
        long g = sweeps(() -> { for (QuantizedLinear l : g64) l.forward(x, y); });
        if (print) {
            row("Linear FP32 (DenseLinear), streamed", s, f, flops);
            row("Linear W8A8 (QuantizedLinear, per-row), streamed", s, r, flops);
            row("Linear W8A8 (QuantizedLinear, groups of 64), streamed", s, g, flops);
        }
    }

    /**
     * Nanoseconds a call: the best of {@link #SWEEPS} sweeps over the {@link #LAYERS} weights, after unmeasured sweeps for
     * at least 2 s (C2 compiles the large tile methods in the background; until it has, they run without the Vector API's
     * intrinsics, several times slower — seen as bimodal timings with one unmeasured sweep).
     */
    static long sweeps(Runnable sweep) {
        long end = System.nanoTime() + 2_000_000_000L;
        for (int i = 0; i < 2 || System.nanoTime() < end; i++) sweep.run();
        long b = Long.MAX_VALUE;
        for (int i = 0; i < SWEEPS; i++) b = Math.min(b, time(sweep));
        return b / LAYERS;
    }

    static Tensor random(Arena a, Random rnd, int... dims) {
        Tensor t = Tensor.allocate(a, DType.F32, dims);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) rnd.nextGaussian());
        return t;
    }

    static long time(Runnable r) {
        long t0 = System.nanoTime();
        r.run();
        return System.nanoTime() - t0;
    }

    /** Best of 30 after warm-up calls (at least 10 and 1 s, so C2 has compiled the kernel), in nanoseconds. */
    static long best(LongSupplier timed) {
        long end = System.nanoTime() + 1_000_000_000L;
        for (int i = 0; i < 10 || System.nanoTime() < end; i++) timed.getAsLong();
        long b = Long.MAX_VALUE;
        for (int i = 0; i < 30; i++) b = Math.min(b, timed.getAsLong());
        return b;
    }

    static void row(String kernel, int[] s, long nanos, double flops) {
        System.out.printf("| %s | %d×%d×%d | %.2f | %.1f |%n", kernel, s[0], s[1], s[2], nanos / 1e6, flops / nanos);
    }
}
