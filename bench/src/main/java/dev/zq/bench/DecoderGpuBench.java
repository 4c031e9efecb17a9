package dev.zq.bench;

import dev.zq.model.decoder.DecoderConfig;
import dev.zq.model.decoder.DecoderModel;
import dev.zq.model.decoder.KvCache;
import dev.zq.quant.DecoderQuantizer;
import dev.zq.quant.Scheme;
import dev.zq.quant.gpu.DecoderTaskGraph;
import dev.zq.runtime.ExecutionPlan;
import dev.zq.runtime.cuda.CudaDevice;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * GPT generation on the GPU ({@link DecoderTaskGraph}): a prompt, then greedy decoding of new tokens, with random
 * weights of GPT-2 small (12×768) and GPT-3 1.3B (24×2048, the GPT-2 architecture at that size) shapes, of TinyLlama
 * 1.1B's LLaMA shapes ({@code llama-1.1b}: 22×2048, 32 query heads on 4 key/value heads, MLP 5632, vocabulary 32000),
 * or the bundled trained {@code sotu-llama} (its real weights). Variants:
 * W16A16 (FP16 weights and activations); W8A8 and W4/8A8 (the built-in ZeroQuant schemes: group-wise INT8, or INT4 MLP
 * and INT8 attention weights, groups of 64, token-wise INT8 activations) with the LM head kept FP16 as the CPU schemes
 * keep it, and the same with an INT8 per-row LM head (the tied 50257-row head is a third of GPT-2 small's weight bytes);
 * the weight-only W8A16 and W4/8A16 (the same weights, FP16 activations; at batch 1 INT8 on {@code MmaGemvKernel}, INT4
 * on {@code WideGemvKernel}, {@code -Dzq.decoder.weightOnlyGemv} picks others), also with the INT8 head ({@code +head8}).
 * The KV cache is FP16.
 *
 * <p>Timing, per variant and batch: one {@code generate} first (JIT, upload, CUDA graph capture); then 5 repeats of
 * [prefill graph replay, {@code new − 1} decode steps back to back as {@code generate} runs them (graphs of several steps,
 * DecoderTaskGraph.replayDecodeMillis)], each between CUDA events;
 * the medians. Prints {@code zq MODEL bBATCH VARIANT PREFILL_MS DECODE_MS} lines for {@code scripts/gpt_table.py}, a
 * per-kernel profile of one decode step at batch 1 (every batch with {@code -Dzq.bench.profileAll=true}), and for every model but GPT-3 1.3B each variant's prefill logits
 * against the CPU decoder of the same model (FP32 cache, relative error); with {@code -Dzq.bench.exact=true} also against
 * the same graph on the CPU executor ({@code # exact} lines: how many logits are the same bits; about a minute of CPU each).
 * Run: {@code java … dev.zq.bench.DecoderGpuBench [gpt2,gpt3-1.3b,llama-1.1b,sotu-llama] [1,16] [PROMPT=32] [NEW=50]}.
 */
public final class DecoderGpuBench {
    public static void main(String[] args) throws Exception {
        List<String> models = List.of((args.length > 0 ? args[0] : "gpt2,gpt3-1.3b").split(","));
        int[] batches = Arrays.stream((args.length > 1 ? args[1] : "1,16").split(",")).mapToInt(Integer::parseInt).toArray();
        int prompt = args.length > 2 ? Integer.parseInt(args[2]) : 32, fresh = args.length > 3 ? Integer.parseInt(args[3]) : 50;
        try (CudaDevice gpu = CudaDevice.open(0)) {
            System.out.println("zq device: " + gpu.name());
            for (String name : models) {
                try (Arena a = Arena.ofShared()) {
                    long t0 = System.nanoTime();
                    DecoderModel fp = model(name, a);
                    // Only the variants asked for are quantized (e.g. -Dzq.bench.variants=W8A8,W16A16): the 1.3B model's five
                    // quantizations took ~100 s of device time per JVM whatever was run.
                    List<String> known = List.of("W16A16", "W8A8", "W8A8+head8", "W4/8A8", "W4/8A8+head8", "W8A16", "W8A16+head8", "W4/8A16", "W4/8A16+head8");
                    String only = System.getProperty("zq.bench.variants");
                    List<String> wanted = only == null ? known : List.of(only.split(","));
                    for (String v : wanted)
                        if (!known.contains(v)) throw new IllegalArgumentException("zq.bench.variants: unknown variant " + v + "; known: " + known);
                    DecoderModel w8 = wanted.contains("W8A8") || wanted.contains("W8A8+head8") ? DecoderQuantizer.quantize(fp, Scheme.builtin("w8a8"), null, a) : null;
                    DecoderModel w816 = wanted.contains("W8A16") || wanted.contains("W8A16+head8") ? DecoderQuantizer.quantize(fp, Scheme.builtin("w8a16"), null, a) : null;
                    DecoderModel w4816 = wanted.contains("W4/8A16") || wanted.contains("W4/8A16+head8") ? DecoderQuantizer.quantize(fp, Scheme.builtin("w4-8a16"), null, a) : null;
                    DecoderModel w48 = wanted.contains("W4/8A8") || wanted.contains("W4/8A8+head8") ? DecoderQuantizer.quantize(fp, Scheme.builtin("w4-8a8"), null, a) : null;
                    Map<String, DecoderModel> variants = new LinkedHashMap<>();
                    for (String v : known) {
                        if (!wanted.contains(v)) continue;
                        variants.put(v, switch (v) {
                            case "W16A16" -> fp;
                            case "W8A8" -> w8;
                            case "W8A8+head8" -> DecoderQuantizer.withInt8Head(w8, a);
                            case "W4/8A8" -> w48;
                            case "W4/8A8+head8" -> DecoderQuantizer.withInt8Head(w48, a);
                            case "W8A16" -> w816;
                            case "W8A16+head8" -> DecoderQuantizer.withInt8Head(w816, a);   // every weight INT8, the head's activations too
                            case "W4/8A16" -> w4816;
                            default -> DecoderQuantizer.withInt8Head(w4816, a);   // W4/8A16+head8
                        });
                    }
                    System.err.printf("%s: random weights and quantization in %.1f s%n", name, (System.nanoTime() - t0) / 1e9);
                    for (var v : variants.entrySet()) {
                        if (!name.equals("gpt3-1.3b")) {
                            double[] e = check(v.getValue(), fp, gpu);
                            System.out.printf("# check %s %s: prefill logits %.2e from the CPU decoder's of the same model; from the FP32"
                                    + " model's: GPU %.2e, CPU %.2e%n", name, v.getKey(), e[0], e[1], e[2]);
                            if (Boolean.getBoolean("zq.bench.exact")) {   // about a minute of CPU per variant
                                long[] same = againstCpuExecutor(v.getValue(), gpu);
                                System.out.printf("# exact %s %s: prefill logits (16 tokens, FP32 cache) on the GPU and on the CPU executor: %d of %d"
                                        + " bit for bit, %d differ (the worst by %.2e relative to the largest logit)%n", name, v.getKey(), same[0],
                                        same[1], same[1] - same[0], Double.longBitsToDouble(same[2]));
                            }
                        }
                        for (int batch : batches) {
                            double[] ms = time(v.getValue(), gpu, batch, prompt, fresh, name + " " + v.getKey());
                            System.out.printf("zq %s b%d %s %.4f %.4f%n", name, batch, v.getKey(), ms[0], ms[1]);
                        }
                    }
                }
            }
        }
    }

    /** The FP32 model {@code name} names: random weights of its shapes, or the bundled sotu-llama's own. */
    static DecoderModel model(String name, Arena a) throws Exception {
        DecoderConfig c = switch (name) {
            case "gpt2" -> DecoderConfig.gpt2Small();
            case "gpt3-1.3b" -> DecoderConfig.gpt2(50257, 2048, 24, 16, 2048);
            case "llama-1.1b" -> new DecoderConfig(DecoderConfig.Family.LLAMA, 32000, 2048, 22, 32, 4, 5632, 2048, 1e-5f, 10000f,
                    DecoderConfig.Activation.SWIGLU, false);
            case "sotu-llama" -> null;
            default -> throw new IllegalArgumentException("unknown model " + name + ": gpt2, gpt3-1.3b, llama-1.1b or sotu-llama");
        };
        if (c != null) return DecoderModel.random(c, 1, a);
        // Its weights stay mapped for the JVM's life: the bench reads them until it exits.
        return dev.zq.model.decoder.LanguageModel.open(dev.zq.model.BundledModels.sotuLlama()).model();
    }

    /** Median prefill ms and median ms of {@code fresh − 1} back-to-back decode steps. */
    static double[] time(DecoderModel model, CudaDevice gpu, int batch, int prompt, int fresh, String what) throws Exception {
        SplittableRandom rnd = new SplittableRandom(batch);
        int[] ids = new int[batch * prompt];
        for (int i = 0; i < ids.length; i++) ids[i] = rnd.nextInt(model.config().vocabSize());
        try (DecoderTaskGraph g = new DecoderTaskGraph(model, batch, prompt, fresh, DecoderTaskGraph.CachePrecision.FP16, false, gpu)) {
            g.generate(ids);
            double[] pre = new double[5], dec = new double[5];
            for (int r = 0; r < pre.length; r++) {
                pre[r] = g.prefillPlan().replayMillis();
                dec[r] = g.replayDecodeMillis(fresh - 1);
            }
            // What a caller waits for, host included: generate() (its decode steps launched back to back, one wait) and
            // the prompt then step() a token at a time (a wait and a copy a token, as streaming does).
            double[] whole = new double[5], stepwise = new double[5];
            for (int r = 0; r < whole.length; r++) {
                long t0 = System.nanoTime();
                g.generate(ids);
                long t1 = System.nanoTime();
                g.prefill(ids);
                for (int i = 1; i < fresh; i++) g.step();
                whole[r] = (t1 - t0) / 1e6;
                stepwise[r] = (System.nanoTime() - t1) / 1e6;
            }
            System.out.printf("# e2e %s b%d: %d new tokens, host wall clock, ms (median of 5): generate() %.3f, prefill + step() a token %.3f%n",
                    what, batch, fresh, RuntimeBench.median(whole), RuntimeBench.median(stepwise));
            if (dev.zq.runtime.internal.PtxTranslator.TRACE) {   // -Dzq.ptx.trace=true: where a decode step's time goes, in the graph
                gpu.takeTrace();
                g.replayDecodeMillis(Math.min(fresh - 1, 4));   // a few steps: 16 records a block, 2M a kernel (PtxTranslator.TRACE_CAPACITY)
                List<GraphTrace.Launch> launches = GraphTrace.launches(gpu.takeTrace());
                System.out.printf("# trace %s b%d (%d launches traced; the timings above include the tracing)%n", what, batch, launches.size());
                System.out.print(GraphTrace.table(launches, GraphTrace.decodeStepEnd(launches), model.config().numLayers()));
            }
            if (batch == 1 || Boolean.getBoolean("zq.bench.profileAll")) {   // other batches on request: their steps are longer lines
                StringBuilder b = new StringBuilder(), each = new StringBuilder();
                g.prefillPlan().replayMillis();
                var tasks = g.decodePlan().profileTaskMillis();
                for (var t : tasks) each.append(String.format(" %s %.1f", t.getKey().substring(t.getKey().indexOf('.') + 1), 1000 * t.getValue()));
                ExecutionPlan.perKernel(tasks).forEach((kernel, t) -> b.append(String.format(" | %s %.4f", kernel, t)));
                System.out.printf("# profile %s b%d, one decode step, kernels launched one by one (queued behind a spinning kernel), ms:%s%n", what, batch, b);
                System.out.printf("# profile-tasks %s b%d, µs, in order:%s%n", what, batch, each);
            }
            return new double[]{RuntimeBench.median(pre), RuntimeBench.median(dec)};
        }
    }

    /**
     * Relative errors of next-token logits after a 16-token prompt: the GPU prefill (FP32 cache) against the CPU decoder
     * of the same model, and each of them against the FP32 model's.
     */
    static double[] check(DecoderModel model, DecoderModel fp, CudaDevice gpu) throws Exception {
        int[] ids = checkPrompt(model);
        int n = ids.length;
        try (Arena a = Arena.ofShared(); DecoderTaskGraph g = new DecoderTaskGraph(model, 1, n, 1, DecoderTaskGraph.CachePrecision.FP32, true, gpu);
             KvCache cache = model.newCache(1, n); KvCache fpCache = fp.newCache(1, n)) {
            g.prefill(ids);
            Tensor got = g.logits(a), want = model.forward(a, cache, 1, n, ids, false), exact = fp.forward(a, fpCache, 1, n, ids, false);
            return new double[]{relative(got, want), relative(got, exact), relative(want, exact)};
        }
    }

    /**
     * The same 16-token prefill graph on the GPU and on the CPU executor (the kernels as plain Java): how many next-token
     * logits are the same bits, of how many, and the worst difference relative to the largest logit (as a double's bits).
     */
    static long[] againstCpuExecutor(DecoderModel model, CudaDevice gpu) throws Exception {
        int[] ids = checkPrompt(model);
        int n = ids.length;
        try (Arena a = Arena.ofShared(); dev.zq.runtime.Device cpu = dev.zq.runtime.Device.cpu();
             DecoderTaskGraph g = new DecoderTaskGraph(model, 1, n, 1, DecoderTaskGraph.CachePrecision.FP32, true, gpu);
             DecoderTaskGraph c = new DecoderTaskGraph(model, 1, n, 1, DecoderTaskGraph.CachePrecision.FP32, true, cpu)) {
            g.prefill(ids);
            c.prefill(ids);
            Tensor got = g.logits(a), want = c.logits(a);
            long same = 0;
            double worst = 0, top = 0;
            for (long i = 0; i < want.numel(); i++) top = Math.max(top, Math.abs(want.getFloat(i)));
            for (long i = 0; i < want.numel(); i++) {
                if (Float.floatToRawIntBits(got.getFloat(i)) == Float.floatToRawIntBits(want.getFloat(i))) same++;
                worst = Math.max(worst, Math.abs(got.getFloat(i) - want.getFloat(i)) / top);
            }
            return new long[]{same, want.numel(), Double.doubleToLongBits(worst)};
        }
    }

    /** The 16 random tokens both checks prefill. */
    static int[] checkPrompt(DecoderModel model) {
        int[] ids = new int[16];
        SplittableRandom rnd = new SplittableRandom(7);
        for (int i = 0; i < ids.length; i++) ids[i] = rnd.nextInt(model.config().vocabSize());
        return ids;
    }

    static double relative(Tensor got, Tensor want) {
        double num = 0, den = 0;
        for (long i = 0; i < want.numel(); i++) {
            double d = got.getFloat(i) - want.getFloat(i);
            num += d * d;
            den += (double) want.getFloat(i) * want.getFloat(i);
        }
        return Math.sqrt(num / den);
    }
}
