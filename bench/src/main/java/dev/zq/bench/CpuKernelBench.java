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
 * before it warmed the JIT up. Run: {@code java -cp … dev.zq.bench.CpuKernelBench}.
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
