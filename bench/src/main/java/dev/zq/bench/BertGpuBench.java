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
 * BERT-base 12×768, BERT-large 24×1024) at sequence 128 and 256 and several batch sizes, W16A16, W8A8 (per-row INT8
 * weights, token-wise INT8 activations) and W4/8A8 (ZeroQuant's {@code w4-8a8}: the MLP's weights INT4 in groups of 64, the
 * attention's INT8 in groups of 64), each one {@link BertTaskGraph} replayed as a CUDA graph; {@code -Dzq.bench.schemes=…}
 * names the quantized schemes (default {@code w8a8-per-row,w4-8a8}; one other than those two is printed under its id). A figure is the median
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
        List<String> schemes = List.of(System.getProperty("zq.bench.schemes", "w8a8-per-row,w4-8a8").split(","));
        java.util.Map<String, java.util.Map<String, Double>> table = new java.util.LinkedHashMap<>();   // "model | s | b" → label → ms
        try (CudaDevice gpu = CudaDevice.open(0)) {
            System.out.println("zq device: " + gpu.name());
            for (String model : models) {
                BertConfig c = model.equals("large") ? new BertConfig(30522, 1024, 24, 16, 4096, 512, 2, 1e-12f)
                        : new BertConfig(30522, 768, 12, 12, 3072, 512, 2, 1e-12f);
                try (Arena a = Arena.ofShared()) {
                    long t0 = System.nanoTime();
                    java.util.Map<String, BertEncoder> encoders = new java.util.LinkedHashMap<>();
                    encoders.put("W16A16", randomBert(a, c, 1));
                    for (String scheme : schemes)
                        encoders.put(label(scheme), BertQuantizer.quantize(encoders.get("W16A16"), Scheme.builtin(scheme), null, a));
                    System.err.printf("bert-%s: random weights and %s quantization in %.1f s%n", model, schemes, (System.nanoTime() - t0) / 1e9);
                    for (var e : encoders.entrySet())
                        try (BertTaskGraph.Weights w = BertTaskGraph.Weights.of(e.getValue())) {
                            String label = e.getKey();
                            for (int seq : seqs)
                                for (int batch : batches) {
                                    double ms = time(w, label, gpu, batch, seq, c.vocabSize(), "bert-" + model, false);
                                    System.out.printf("zq bert-%s s%d b%d %s %.4f%n", model, seq, batch, label, ms);
                                    if (Boolean.getBoolean("zq.bench.exactAttention") && w.precision() != BertTaskGraph.Precision.W16A16)
                                        System.out.printf("# exact-attention bert-%s s%d b%d %s %.4f ms (tensor-core attention %.4f ms)%n", model, seq,
                                                batch, label, time(w, label, gpu, batch, seq, c.vocabSize(), "bert-" + model + "-exact", true), ms);
                                    table.computeIfAbsent("bert-" + model + " | " + seq + " | " + batch, x -> new java.util.LinkedHashMap<>()).put(label, ms);
                                }
                        }
                }
            }
        }
        printTable(table);
    }

    /** How a scheme's figures are labelled: its precision for the two defaults, else its id. */
    static String label(String scheme) {
        return switch (scheme) {
            case "w8a8-per-row" -> "W8A8";
            case "w4-8a8" -> "W4_8A8";
            default -> scheme;
        };
    }

    /** Each quantized precision's ms and its speed-up over W16A16, a row a shape. */
    static void printTable(java.util.Map<String, java.util.Map<String, Double>> table) {
        List<String> labels = table.values().stream().flatMap(m -> m.keySet().stream()).distinct().filter(l -> !l.equals("W16A16")).toList();
        StringBuilder head = new StringBuilder("\n| model | seq | batch | W16A16 ms"), rule = new StringBuilder("|---|---:|---:|---:");
        for (String l : labels) { head.append(" | ").append(l).append(" ms"); rule.append("|---:"); }
        for (String l : labels) { head.append(" | ").append(l).append(" speed-up"); rule.append("|---:"); }
        System.out.println(head.append(" |"));
        System.out.println(rule.append("|"));
        table.forEach((k, v) -> {
            Double w16 = v.get("W16A16");
            StringBuilder row = new StringBuilder("| " + k + " | " + (w16 == null ? "—" : String.format("%.3f", w16)));
            for (String l : labels) row.append(v.get(l) == null ? " | —" : String.format(" | %.3f", v.get(l)));
            for (String l : labels) row.append(v.get(l) == null || w16 == null ? " | —" : String.format(" | %.2f×", w16 / v.get(l)));
            System.out.println(row.append(" |"));
        });
    }

    static double time(BertTaskGraph.Weights w, String label, CudaDevice gpu, int batch, int seq, int vocab, String model, boolean exactAttention) throws Exception {
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
                        label, launches.size());
                System.out.print(GraphTrace.table(launches, "RowKernels.embedLayerNorm", w.layers()));
            }
            if (seq == 128 && (batch == 1 || batch == 128)) {
                StringBuilder b = new StringBuilder();
                g.plan().profileMillis().forEach((kernel, t) -> b.append(String.format(" | %s %.3f", kernel, t)));
                System.out.printf("# profile %s s%d b%d %s, kernels launched one by one, ms:%s%n", model, seq, batch, label, b);
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
