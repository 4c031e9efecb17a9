package dev.zq.bench;

import dev.zq.model.DenseLinear;
import dev.zq.model.bert.BertConfig;
import dev.zq.model.bert.BertEncoder;
import dev.zq.model.bert.BertLayer;
import dev.zq.model.bert.Norm;
import dev.zq.quant.BertQuantizer;
import dev.zq.quant.Scheme;
import dev.zq.quant.gpu.BertTaskGraph;
import dev.zq.runtime.cuda.CudaDevice;
import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The paper's Table 6 shape on the GPU: latency of a BERT encoder forward pass (random weights of the real shapes:
 * BERT-base 12×768, BERT-large 24×1024) at sequence 128 and 256 and several batch sizes, W16A16 and W8A8 (per-row INT8
 * weights, token-wise INT8 activations), each one {@link BertTaskGraph} replayed as a CUDA graph. A figure is the median
 * of 20 replays (CUDA events around the graph launch, inputs already on the device) after 3 warm-ups. Prints one line
 * per measurement ({@code zq MODEL sSEQ bBATCH PRECISION MS}) for {@code scripts/bert_table.py}, which sets them beside
 * {@code scripts/bert_peer.py}'s PyTorch figures from the same run, and at sequence 128, batch 1 and 128 a profile (time per
 * kernel, {@link dev.zq.runtime.ExecutionPlan#profileMillis}). With {@code -Dzq.bench.exactAttention=true} each W8A8 figure
 * is followed by a {@code # exact-attention} line: the same graph with {@link dev.zq.kernels.ExactAttentionKernel}.
 * Run: {@code java … dev.zq.bench.BertGpuBench [base,large] [128,256] [1,8,32,128]}.
 */
public final class BertGpuBench {
    public static void main(String[] args) throws Exception {
        List<String> models = List.of((args.length > 0 ? args[0] : "base,large").split(","));
        int[] seqs = ints(args.length > 1 ? args[1] : "128,256"), batches = ints(args.length > 2 ? args[2] : "1,8,32,128");
        java.util.Map<String, double[]> table = new java.util.LinkedHashMap<>();   // "model s b" → {W8A8, W16A16}
        try (CudaDevice gpu = CudaDevice.open(0)) {
            System.out.println("zq device: " + gpu.name());
            for (String model : models) {
                BertConfig c = model.equals("large") ? new BertConfig(30522, 1024, 24, 16, 4096, 512, 2, 1e-12f)
                        : new BertConfig(30522, 768, 12, 12, 3072, 512, 2, 1e-12f);
                try (Arena a = Arena.ofShared()) {
                    long t0 = System.nanoTime();
                    BertEncoder fp = randomBert(a, c, 1);
                    BertEncoder w8 = BertQuantizer.quantize(fp, Scheme.builtin("w8a8-per-row"), null, a);
                    System.err.printf("bert-%s: random weights and W8A8 quantization in %.1f s%n", model, (System.nanoTime() - t0) / 1e9);
                    for (BertEncoder enc : List.of(fp, w8))
                        try (BertTaskGraph.Weights w = BertTaskGraph.Weights.of(enc)) {
                            for (int seq : seqs)
                                for (int batch : batches) {
                                    double ms = time(w, gpu, batch, seq, c.vocabSize(), "bert-" + model, false);
                                    System.out.printf("zq bert-%s s%d b%d %s %.4f%n", model, seq, batch, w.precision(), ms);
                                    if (Boolean.getBoolean("zq.bench.exactAttention") && w.precision() == BertTaskGraph.Precision.W8A8)
                                        System.out.printf("# exact-attention bert-%s s%d b%d W8A8 %.4f ms (tensor-core attention %.4f ms)%n", model, seq,
                                                batch, time(w, gpu, batch, seq, c.vocabSize(), "bert-" + model + "-exact", true), ms);
                                    table.computeIfAbsent("bert-" + model + " | " + seq + " | " + batch, x -> new double[2])
                                            [w.precision() == BertTaskGraph.Precision.W8A8 ? 0 : 1] = ms;
                                }
                        }
                }
            }
        }
        printTable(table);
    }

    static void printTable(java.util.Map<String, double[]> table) {
        System.out.println("\n| model | seq | batch | W8A8 ms | W16A16 ms | W8A8 speed-up |");
        System.out.println("|---|---:|---:|---:|---:|---:|");
        table.forEach((k, v) -> System.out.printf("| %s | %.3f | %.3f | %.2f× |%n", k, v[0], v[1], v[1] / v[0]));
    }

    static double time(BertTaskGraph.Weights w, CudaDevice gpu, int batch, int seq, int vocab, String model, boolean exactAttention) throws Exception {
        SplittableRandom rnd = new SplittableRandom(batch * 1000L + seq);
        int[] ids = new int[batch * seq], types = new int[batch * seq], mask = new int[batch * seq];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = rnd.nextInt(vocab);
            mask[i] = 1;
        }
        try (BertTaskGraph g = BertTaskGraph.build(w, batch, seq, gpu, exactAttention); Arena out = Arena.ofConfined()) {
            g.forward(out, ids, types, mask);   // compiles, uploads the weights, captures the CUDA graph
            double[] ms = new double[20];
            for (int r = -3; r < ms.length; r++) {
                double t = g.plan().replayMillis();
                if (r >= 0) ms[r] = t;
            }
            if (dev.zq.runtime.internal.PtxTranslator.TRACE) {   // -Dzq.ptx.trace=true: where a forward pass's time goes, in the graph
                gpu.takeTrace();
                for (int r = 0; r < 4; r++) g.plan().replayMillis();
                List<GraphTrace.Launch> launches = GraphTrace.launches(gpu.takeTrace());
                System.out.printf("# trace %s s%d b%d %s (%d launches traced; the timings above include the tracing)%n", model, seq, batch,
                        w.precision(), launches.size());
                System.out.print(GraphTrace.table(launches, "RowKernels.embedLayerNorm", w.layers()));
            }
            if (seq == 128 && (batch == 1 || batch == 128)) {
                StringBuilder b = new StringBuilder();
                g.plan().profileMillis().forEach((kernel, t) -> b.append(String.format(" | %s %.3f", kernel, t)));
                System.out.printf("# profile %s s%d b%d %s, kernels launched one by one, ms:%s%n", model, seq, batch, w.precision(), b);
            }
            return RuntimeBench.median(ms);
        }
    }

    /** Random weights of BERT's shapes (uniform, std ≈ 0.02 as BERT's initialisation); values do not change the timing. */
    static BertEncoder randomBert(Arena a, BertConfig c, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int h = c.hiddenSize(), inter = c.intermediateSize();
        List<BertLayer> layers = new ArrayList<>();
        for (int i = 0; i < c.numLayers(); i++)
            layers.add(new BertLayer(linear(a, rnd, h, h), linear(a, rnd, h, h), linear(a, rnd, h, h), linear(a, rnd, h, h), norm(a, h),
                    linear(a, rnd, inter, h), linear(a, rnd, h, inter), norm(a, h)));
        return new BertEncoder(c, uniform(a, rnd, c.vocabSize(), h), uniform(a, rnd, c.maxPositions(), h), uniform(a, rnd, c.typeVocabSize(), h),
                norm(a, h), layers);
    }

    static Tensor uniform(Arena a, SplittableRandom rnd, int... dims) {
        Tensor t = Tensor.allocate(a, DType.F32, dims);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) ((rnd.nextDouble() - 0.5) * 0.07));
        return t;
    }

    static DenseLinear linear(Arena a, SplittableRandom rnd, int out, int in) {
        return new DenseLinear(uniform(a, rnd, out, in), uniform(a, rnd, out));
    }

    static Norm norm(Arena a, int n) {
        Tensor g = Tensor.allocate(a, DType.F32, n), b = Tensor.allocate(a, DType.F32, n);
        for (int i = 0; i < n; i++) g.setFloat(i, 1f);
        return new Norm(g, b);
    }

    static int[] ints(String csv) { return Arrays.stream(csv.split(",")).mapToInt(Integer::parseInt).toArray(); }
}
