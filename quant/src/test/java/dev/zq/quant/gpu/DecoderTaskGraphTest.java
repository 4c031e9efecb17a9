package dev.zq.quant.gpu;

import dev.zq.model.decoder.DecoderConfig;
import dev.zq.model.decoder.DecoderModel;
import dev.zq.model.decoder.KvCache;
import dev.zq.quant.DecoderQuantizer;
import dev.zq.quant.Scheme;
import dev.zq.runtime.Device;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The GPU decoder's prefill and decode steps against the CPU decoder of the same model (FP32 for W16A16, the same
 * quantized model for W8A8, W4/8A8 and the weight-only W8A16 and W4/8A16): the next-token logits of every step within 1%
 * (relative Frobenius error; W16A16 and the weight-only schemes round activations to FP16) and 0.2% for the quantized models with an FP32 KV cache (the CPU's; the
 * remainder is the FP16 LM head). With an FP16 cache the quantized models are within 3%: the cache's rounding moves
 * some token-wise INT8 activation codes by one, as measured (about 1%) when this test was written. And
 * the greedy tokens the same wherever the CPU's best logit leads its runner-up by more than that error. The CPU
 * decoder is fed the tokens the graph chose, so both see the same sequences. Runs on the best device: the CPU
 * executor in CI, CUDA on a GPU machine.
 */
class DecoderTaskGraphTest {
    static Device device;
    static String where;

    @BeforeAll
    static void open() {
        List<String> why = new ArrayList<>();
        device = Device.best(why::add);
        where = device.name() + (why.isEmpty() ? "" : " (" + why.getFirst() + ")");
    }

    @AfterAll
    static void close() throws Exception { device.close(); }

    static final DecoderConfig TINY = DecoderConfig.gpt2(96, 64, 2, 4, 64);
    static final DecoderConfig WIDER = DecoderConfig.gpt2(96, 128, 2, 4, 64);   // wide enough for split-K prompts
    /** A LLaMA of four query heads sharing two key/value heads, its MLP 192 wide. */
    static final DecoderConfig TINY_LLAMA = new DecoderConfig(DecoderConfig.Family.LLAMA, 96, 64, 2, 4, 2, 192, 64, 1e-5f, 10000f,
            DecoderConfig.Activation.SWIGLU, false);
    /** Eight query heads on two key/value heads, the MLP 512 wide: a prompt's down projection with its K split. */
    static final DecoderConfig WIDER_LLAMA = new DecoderConfig(DecoderConfig.Family.LLAMA, 96, 128, 2, 8, 2, 512, 64, 1e-5f, 10000f,
            DecoderConfig.Activation.SWIGLU, false);

    static double relativeError(Tensor got, Tensor want) {
        double num = 0, den = 0;
        for (long i = 0; i < want.numel(); i++) {
            double d = got.getFloat(i) - want.getFloat(i);
            num += d * d;
            den += (double) want.getFloat(i) * want.getFloat(i);
        }
        return Math.sqrt(num / den);
    }

    /** {@code fp} under a built-in scheme; {@code SCHEME+head8}: with {@link DecoderQuantizer#withInt8Head} too. */
    static DecoderModel quantized(DecoderModel fp, String scheme, Arena arena) throws Exception {
        boolean head8 = scheme.endsWith("+head8");
        String base = head8 ? scheme.substring(0, scheme.length() - "+head8".length()) : scheme;
        DecoderModel m = base.equals("w16a16") ? fp : DecoderQuantizer.quantize(fp, Scheme.resolve(base), null, arena);
        return head8 ? DecoderQuantizer.withInt8Head(m, arena) : m;
    }

    @ParameterizedTest
    @CsvSource({"w16a16, FP32, 0.01, 5, 2", "w8a8, FP32, 0.002, 5, 2", "w4-8a8, FP32, 0.002, 5, 2", "w16a16, FP16, 0.01, 5, 2", "w8a8, FP16, 0.03, 5, 2",
            "w4-8a8, FP16, 0.03, 5, 2", "w16a16, FP32, 0.01, 40, 2", "w8a8, FP32, 0.002, 40, 2", "w4-8a8, FP32, 0.002, 40, 2", "w8a16, FP32, 0.002, 5, 2",
            "w4-8a16, FP32, 0.002, 5, 2", "w8a16, FP32, 0.002, 40, 2", "w4-8a16, FP32, 0.002, 40, 2",
            "w16a16, FP16, 0.01, 5, 1", "w8a8, FP16, 0.03, 5, 1", "w4-8a8, FP32, 0.002, 5, 1", "w8a8+head8, FP32, 0.002, 5, 1",
            "w8a8+head8, FP32, 0.002, 5, 2", "w8a16, FP32, 0.002, 5, 1", "w16a16, FP16, 0.01, 40, 1", "w16a16, FP32, 0.01, 3, 9",
            "w8a8, FP32, 0.002, 3, 9", "w4-8a8, FP32, 0.002, 3, 9", "w8a8+head8, FP16, 0.03, 3, 9"})
    void prefillAndDecodeStepsMatchTheCpuDecoder(String scheme, DecoderTaskGraph.CachePrecision cache, double tolerance, int promptLen, int batch)
            throws Exception {
        matchesTheCpuDecoder(scheme, cache, tolerance, promptLen, batch);
    }

    /**
     * A LLaMA (RMSNorm, rotary positions, grouped-query attention, SwiGLU, an untied head) the same way: its prompts and
     * steps through the same projection kernels at every scheme, batch 1 (the batch-1 kernels), 2 and 9 (SkinnyMmaKernel),
     * prompts of 5 and 40 rows (the tensor-core kernels), an MLP 192 wide and one of 512 (WIDER_LLAMA: K split).
     */
    @ParameterizedTest
    @CsvSource({"tiny, w16a16, FP32, 0.01, 5, 2", "tiny, w8a8, FP32, 0.002, 5, 2", "tiny, w4-8a8, FP32, 0.002, 5, 2", "tiny, w16a16, FP16, 0.01, 5, 1",
            "tiny, w8a8, FP16, 0.03, 5, 1", "tiny, w8a16, FP32, 0.002, 5, 1", "tiny, w4-8a16, FP32, 0.002, 40, 1", "tiny, w8a8+head8, FP32, 0.002, 5, 1",
            "tiny, w4-8a8, FP16, 0.03, 3, 9", "wider, w8a8, FP32, 0.002, 40, 2", "wider, w4-8a8, FP32, 0.002, 40, 1", "wider, w8a16, FP16, 0.03, 5, 2",
            "wider, w8a8+head8, FP32, 0.002, 3, 9", "wider, w16a16, FP16, 0.01, 3, 9"})
    void llamaPrefillAndDecodeStepsMatchTheCpuDecoder(String shape, String scheme, DecoderTaskGraph.CachePrecision cache, double tolerance, int promptLen,
                                                     int batch) throws Exception {
        matchesTheCpuDecoder(shape.equals("tiny") ? TINY_LLAMA : WIDER_LLAMA, scheme, cache, tolerance, promptLen, batch);
    }

    /**
     * The weight-only schemes' batch-1 steps on {@code WideGemvKernel.int8a16}/{@code int4a16}
     * ({@code -Dzq.decoder.weightOnlyGemv=wide}), with the INT8 projections on {@code MmaGemvKernel.int8a16} ({@code mma},
     * the default; with an FP16 cache W8A16's out projection then runs inside the attention's launch,
     * {@code DecoderTaskGraph.OUT_IN_ATTENTION}) and on the few-row kernels ({@code false}).
     */
    @ParameterizedTest
    @CsvSource({"w8a16, FP32, 0.002, 5, 1, wide", "w8a16+head8, FP16, 0.03, 5, 1, wide", "w4-8a16, FP32, 0.002, 5, 1, wide",
            "w8a16, FP32, 0.002, 5, 1, mma", "w8a16+head8, FP16, 0.03, 5, 1, mma", "w8a16, FP16, 0.03, 40, 1, mma", "w4-8a16, FP32, 0.002, 5, 1, mma",
            "w4-8a16, FP16, 0.03, 40, 1, mma", "w4-8a16, FP16, 0.03, 5, 1, wide",
            "w8a16, FP32, 0.002, 5, 1, false", "w4-8a16, FP32, 0.002, 5, 1, false"})
    void weightOnlyBatchOneStepsOnTheBatchOneKernelsMatchTheCpuDecoder(String scheme, DecoderTaskGraph.CachePrecision cache, double tolerance,
                                                                      int promptLen, int batch, String gemv) throws Exception {
        String was = DecoderTaskGraph.weightOnlyGemv;
        DecoderTaskGraph.weightOnlyGemv = gemv;
        try {
            matchesTheCpuDecoder(scheme, cache, tolerance, promptLen, batch);
        } finally {
            DecoderTaskGraph.weightOnlyGemv = was;
        }
    }

    /**
     * A batch-1 decode step with FP16 activations and an FP16 cache (W16A16, W8A16, W4/8A16) launches no out projection:
     * its parts come from the attention's blocks and the MLP's two launches add them (four launches a layer: qkv,
     * attention, up, down) — what the FP16-cache rows of {@link #prefillAndDecodeStepsMatchTheCpuDecoder} and
     * {@link #weightOnlyBatchOneStepsOnTheBatchOneKernelsMatchTheCpuDecoder} check the outputs of. W8A8 keeps the launch
     * (its out projection quantizes the whole context row token-wise).
     */
    @ParameterizedTest
    @CsvSource({"w16a16, 3", "w8a16, 3", "w4-8a16, 3", "w8a8, 4"})
    void fp16ActivationStepsRunTheOutProjectionInsideTheAttention(String scheme, int projections) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(DecoderTaskGraph.OUT_IN_ATTENTION, "-Dzq.decoder.outInAttention=false");
        try (Arena arena = Arena.ofShared()) {
            DecoderModel model = quantized(DecoderModel.random(TINY, 7, arena), scheme, arena);
            try (DecoderTaskGraph g = new DecoderTaskGraph(model, 1, 5, 3, DecoderTaskGraph.CachePrecision.FP16, true, device)) {
                g.prefill(new int[]{1, 2, 3, 4, 5});
                g.step();
                List<String> kernels = g.decodePlan().profileTaskMillis().stream().map(java.util.Map.Entry::getKey).toList();
                assertEquals(projections * TINY.numLayers(), kernels.stream().filter(k -> k.contains("GemvKernel.")).count(), kernels.toString());
                assertEquals(TINY.numLayers(), kernels.stream().filter("CachedAttentionKernel.attendStep16"::equals).count(), kernels.toString());
                // A GPT-2 launches none of a LLaMA's entries, whose gating and rotation would otherwise be run-time branches in its kernels.
                assertEquals(List.of(), kernels.stream().filter(k -> k.endsWith("Gated") || k.endsWith("Rotated16")).toList());
            }
        }
    }

    /**
     * A decode step of 9 rows runs its projections and its LM head on {@link dev.zq.kernels.SkinnyMmaKernel} where the shapes
     * allow it (WIDER: K of 128 and 512, a vocabulary of 96, no multiple of 64), none on the CUDA-core or 64-row kernels: the
     * head left on {@link dev.zq.kernels.SkinnyGemmKernel} had been 29% of a 1.3B batch-16 step (bench/RESULTS.md, session 36).
     */
    @ParameterizedTest
    @CsvSource({"w16a16, 0, 0, 4, fp16", "w8a8, 4, 0, 0, fp16", "w8a8+head8, 4, 0, 0, int8", "w4-8a8+head8, 2, 2, 0, int8"})
    void batchDecodeStepsRunProjectionsAndHeadOnSkinnyMma(String scheme, int int8, int int4, int fp16, String head) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(DecoderTaskGraph.SKINNY_MMA, "-Dzq.decoder.skinnyMma=false");
        int batch = 9, layers = WIDER.numLayers();
        try (Arena arena = Arena.ofShared()) {
            DecoderModel model = quantized(DecoderModel.random(WIDER, 7, arena), scheme, arena);
            try (DecoderTaskGraph g = new DecoderTaskGraph(model, batch, 3, 2, DecoderTaskGraph.CachePrecision.FP16, true, device)) {
                g.prefill(new int[batch * 3]);
                g.step();
                List<String> kernels = g.decodePlan().profileTaskMillis().stream().map(java.util.Map.Entry::getKey).toList();
                java.util.function.Function<String, Long> count = name -> kernels.stream().filter(name::equals).count();
                assertEquals(int8 * layers + (head.equals("int8") ? 1 : 0), count.apply("SkinnyMmaKernel.int8"), kernels.toString());
                assertEquals((long) int4 * layers, count.apply("SkinnyMmaKernel.int4"), kernels.toString());
                assertEquals(fp16 * layers + (head.equals("fp16") ? 1 : 0), count.apply("SkinnyMmaKernel.fp16"), kernels.toString());
                assertEquals(0, kernels.stream().filter(k -> k.startsWith("SkinnyGemmKernel.") || k.startsWith("PrefillGemmKernel.")).count(),
                        kernels.toString());
            }
        }
    }

    static void matchesTheCpuDecoder(String scheme, DecoderTaskGraph.CachePrecision cache, double tolerance, int promptLen, int batch) throws Exception {
        matchesTheCpuDecoder(TINY, scheme, cache, tolerance, promptLen, batch);
    }

    static void matchesTheCpuDecoder(DecoderConfig config, String scheme, DecoderTaskGraph.CachePrecision cache, double tolerance, int promptLen,
                                     int batch) throws Exception {
        // Prompts of 2 × 40 rows run their projections on the tensor-core kernels (two row tiles, the second partial); a batch
        // of 1 decodes on the batch-1 kernels (WideGemvKernel, GreedyHeadKernel); prompts of 10 rows and the steps of a batch
        // of 9 on SkinnyMmaKernel (W16A16, W8A8, W4A8, and the LM head: FP16, or INT8 with +head8).
        int maxNew = 4, vocab = config.vocabSize();
        try (Arena arena = Arena.ofShared()) {
            DecoderModel fp = DecoderModel.random(config, 7, arena);
            DecoderModel model = quantized(fp, scheme, arena);
            Random rnd = new Random(1);
            int[] prompt = new int[batch * promptLen];
            for (int i = 0; i < prompt.length; i++) prompt[i] = rnd.nextInt(vocab);
            try (DecoderTaskGraph g = new DecoderTaskGraph(model, batch, promptLen, maxNew, cache, true, device);
                 KvCache kv = model.newCache(batch, promptLen + maxNew)) {
                g.prefill(prompt);
                Tensor want = model.forward(arena, kv, batch, promptLen, prompt, false);
                for (int step = 0; step < maxNew; step++) {
                    if (step > 0) {
                        g.step();
                        int[] fed = new int[batch];
                        for (int b = 0; b < batch; b++) fed[b] = g.token(b, step - 1);
                        want = model.forward(arena, kv, batch, 1, fed, false);
                    }
                    Tensor got = g.logits(arena);
                    double err = relativeError(got, want);
                    assertTrue(err < tolerance, config.family() + " " + scheme + " with an " + cache + " cache, step " + step + " on " + where + ": logits " + err + " from the CPU decoder's");
                    for (int b = 0; b < batch; b++) {
                        int best = 0, second = -1;
                        for (int v = 1; v < vocab; v++) {
                            float x = want.getFloat((long) b * vocab + v);
                            if (x > want.getFloat((long) b * vocab + best)) { second = best; best = v; }
                            else if (second < 0 || x > want.getFloat((long) b * vocab + second)) second = v;
                        }
                        double gap = want.getFloat((long) b * vocab + best) - want.getFloat((long) b * vocab + second), scale = 0;
                        for (int v = 0; v < vocab; v++) scale = Math.max(scale, Math.abs(want.getFloat((long) b * vocab + v)));
                        if (gap > 2 * err * scale)
                            assertEquals(best, g.token(b, step), scheme + " step " + step + " sequence " + b + " on " + where);
                    }
                }
            }
        }
    }

    /**
     * On a GPU: the quantized decoders (token-wise INT8 activations) give the same bits as the same graph on the CPU
     * executor, every step, with either cache — the prompts of 2 × 40 rows through the tensor-core kernels, the MLP's
     * with K split over blocks (their slices add in a fixed order), the decode steps through the few-row kernels (batch 2), SkinnyMmaKernel (batch 12; prompts of 2 × 5 rows: INT8 and INT4 weights)
     * and the batch-1 kernels (batch 1). Batch 12 takes the INT8 head: an FP16 head of 8 rows or more runs on SkinnyMmaKernel's FP16
     * {@code mma}, whose float sums are the tensor cores' own (checked within rounding by {@link #prefillAndDecodeStepsMatchTheCpuDecoder}). Integer sums are exact, every float operation is one correctly rounded
     * instruction or the CPU's exponential, so nothing may differ; a single flipped activation code would (and in a deep model would multiply). Skipped without a GPU: on
     * the CPU it would compare the executor with itself.
     */
    @ParameterizedTest
    @CsvSource({"w8a8, FP32, 5, 2", "w8a8, FP32, 40, 2", "w4-8a8, FP32, 40, 2", "w8a8, FP16, 40, 2", "w4-8a8, FP16, 5, 2", "w8a8, FP16, 5, 1",
            "w4-8a8, FP32, 5, 1", "w4-8a8+head8, FP16, 5, 1", "w8a8+head8, FP16, 3, 12",
            "w4-8a8+head8, FP32, 3, 12"})
    void quantizedDecodersOnTheGpuEqualTheCpuExecutorBitForBit(String scheme, DecoderTaskGraph.CachePrecision cache, int promptLen, int batch)
            throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(device instanceof dev.zq.runtime.cuda.CudaDevice, () -> "no GPU: " + where);
        sameBitsAsTheCpuExecutor(device, WIDER, scheme, cache, promptLen, batch);
    }

    /** {@link #quantizedDecodersOnTheGpuEqualTheCpuExecutorBitForBit} for a LLaMA (its rotations from the host's tables, its SiLU KernelMath's exponential). */
    @ParameterizedTest
    @CsvSource({"w8a8, FP32, 40, 2", "w4-8a8, FP16, 5, 1", "w8a8+head8, FP16, 3, 12", "w4-8a8+head8, FP32, 5, 2"})
    void quantizedLlamasOnTheGpuEqualTheCpuExecutorBitForBit(String scheme, DecoderTaskGraph.CachePrecision cache, int promptLen, int batch)
            throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(device instanceof dev.zq.runtime.cuda.CudaDevice, () -> "no GPU: " + where);
        sameBitsAsTheCpuExecutor(device, WIDER_LLAMA, scheme, cache, promptLen, batch);
    }

    /**
     * The same graphs with the JIT's PTX run on the CPU ({@link dev.zq.runtime.internal.PtxDevice}), so that CI, which has
     * no GPU, checks the whole decoder's PTX — prefill through the tensor-core kernels (prompts of 2 × 5 rows: SkinnyMmaKernel's
     * INT8 and INT4), decode steps through the few-row and batch-1 kernels — against the CPU executor: the same bits.
     */
    @ParameterizedTest
    @CsvSource({"w8a8, FP16, 5, 2", "w8a8, FP16, 5, 1", "w4-8a8+head8, FP32, 5, 1", "w4-8a8, FP32, 5, 2"})
    void quantizedDecodersThroughTheJitsPtxEqualTheCpuExecutorBitForBit(String scheme, DecoderTaskGraph.CachePrecision cache, int promptLen, int batch)
            throws Exception {
        try (Device ptx = new dev.zq.runtime.internal.PtxDevice()) {
            sameBitsAsTheCpuExecutor(ptx, WIDER, scheme, cache, promptLen, batch);
        }
    }

    /** The LLaMA's kernels (RMSNorm, rotation, grouped-query attention, SwiGLU) through the JIT's PTX on the CPU likewise. */
    @ParameterizedTest
    @CsvSource({"w8a8, FP16, 3, 2", "w4-8a8, FP32, 3, 1", "w8a8, FP16, 2, 9"})
    void aQuantizedLlamaThroughTheJitsPtxEqualsTheCpuExecutorBitForBit(String scheme, DecoderTaskGraph.CachePrecision cache, int promptLen, int batch)
            throws Exception {
        try (Device ptx = new dev.zq.runtime.internal.PtxDevice()) {   // batch 1 and 9: the RMSNorm and SwiGLU inside the projections
            sameBitsAsTheCpuExecutor(ptx, TINY_LLAMA, scheme, cache, promptLen, batch);
        }
    }

    /**
     * A LLaMA's decode step of batch 1 (the batch-1 kernels) or 9 (the wide row staging) launches neither RMSNorm nor the
     * gated unit: both happen where the projections read their rows ({@code SkinnyGemmKernel.RMS_NORM}, {@code SWIGLU}) —
     * and at batch 1 its tail (final RMSNorm, head, arg-max, the next token's embedding) is one GreedyHeadKernel launch —
     * what {@link #llamaPrefillAndDecodeStepsMatchTheCpuDecoder} checks the outputs of; the down projections on the kernels'
     * {@code …Gated} entries, the attention at batch 1 on {@code attendStepRotated16}. A prompt of more than 64 rows keeps
     * the gated unit's launch (its rows are staged by the looping kernels), as does one of 5 (the few-row kernels), and a step of 2 rows its INT8 projections'
     * RMSNorm launches (the few-row INT8 kernel does not normalise several rows itself): {@link #aLlamaStepOfTwoQuantizedRowsLaunchesItsNormsAndGatedUnit}.
     */
    @ParameterizedTest
    @CsvSource({"w16a16, 1", "w8a8, 1", "w4-8a8, 1", "w8a16, 1", "w8a8, 9", "w16a16, 9", "w4-8a8+head8, 9"})
    void llamaDecodeStepsNormaliseAndGateInsideTheProjections(String scheme, int batch) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(DecoderTaskGraph.FUSE_RMS_NORM && DecoderTaskGraph.FUSE_SWIGLU, "fusion switched off");
        try (Arena arena = Arena.ofShared()) {
            DecoderModel model = quantized(DecoderModel.random(TINY_LLAMA, 7, arena), scheme, arena);
            int promptLen = batch == 1 ? 5 : 8;   // 5 rows (the few-row kernels) or 72 (more than 64: the looping staging)
            try (DecoderTaskGraph g = new DecoderTaskGraph(model, batch, promptLen, 3, DecoderTaskGraph.CachePrecision.FP16, true, device)) {
                g.prefill(new int[batch * promptLen]);
                g.step();
                List<String> step = g.decodePlan().profileTaskMillis().stream().map(java.util.Map.Entry::getKey).toList();
                assertEquals(0, step.stream().filter(k -> k.equals("DecoderRowKernels.layerNorm") || k.equals("LlamaRowKernels.swiglu")).count(),
                        step.toString());
                // The down projections read their gates and ups through the kernels' gated entries (a row's staging at batch 9).
                assertEquals(TINY_LLAMA.numLayers(), step.stream().filter(k -> k.endsWith("Gated")).count(), step.toString());
                if (batch == 1)
                    assertEquals(TINY_LLAMA.numLayers(), step.stream().filter("CachedAttentionKernel.attendStepRotated16"::equals).count(), step.toString());
                if (batch == 1 && DecoderTaskGraph.GREEDY_HEAD && DecoderTaskGraph.FOLD_EMBED)   // the final RMSNorm, head, arg-max and next embedding: one launch
                    assertEquals(List.of(), step.stream().filter(k -> k.startsWith("LlamaRowKernels.") || k.startsWith("DecoderRowKernels.")).toList());
                List<String> prompt = g.prefillPlan().profileTaskMillis().stream().map(java.util.Map.Entry::getKey).toList();
                assertEquals(TINY_LLAMA.numLayers(), prompt.stream().filter("LlamaRowKernels.swiglu"::equals).count(), prompt.toString());
            }
        }
    }

    /** {@link #llamaDecodeStepsNormaliseAndGateInsideTheProjections}' other side: a step of 2 rows on the few-row INT8 kernel. */
    @Test
    void aLlamaStepOfTwoQuantizedRowsLaunchesItsNormsAndGatedUnit() throws Exception {
        try (Arena arena = Arena.ofShared()) {
            DecoderModel model = quantized(DecoderModel.random(TINY_LLAMA, 7, arena), "w8a8", arena);
            try (DecoderTaskGraph g = new DecoderTaskGraph(model, 2, 3, 3, DecoderTaskGraph.CachePrecision.FP16, true, device)) {
                g.prefill(new int[6]);
                g.step();
                List<String> step = g.decodePlan().profileTaskMillis().stream().map(java.util.Map.Entry::getKey).toList();
                assertEquals(2 * TINY_LLAMA.numLayers(), step.stream().filter("DecoderRowKernels.layerNorm"::equals).count(), step.toString());
                assertEquals(TINY_LLAMA.numLayers(), step.stream().filter("LlamaRowKernels.swiglu"::equals).count(), step.toString());
            }
        }
    }

    private void sameBitsAsTheCpuExecutor(Device device, DecoderConfig config, String scheme, DecoderTaskGraph.CachePrecision cache, int promptLen,
                                          int batch) throws Exception {
        int maxNew = 4, vocab = config.vocabSize();
        // The MLP's down projection (K = 512) of a 2 × 40-row prompt is split over 2 blocks per output tile.
        assertEquals(2, dev.zq.kernels.PrefillGemmKernel.splits(2 * 40, WIDER.hiddenSize(), WIDER.intermediateSize(), dev.zq.kernels.SkinnyGemmKernel.ADD));
        try (Arena arena = Arena.ofShared(); Device cpu = Device.cpu()) {
            DecoderModel model = quantized(DecoderModel.random(config, 7, arena), scheme, arena);
            Random rnd = new Random(3);
            int[] prompt = new int[batch * promptLen];
            for (int i = 0; i < prompt.length; i++) prompt[i] = rnd.nextInt(vocab);
            try (DecoderTaskGraph onGpu = new DecoderTaskGraph(model, batch, promptLen, maxNew, cache, true, device);
                 DecoderTaskGraph onCpu = new DecoderTaskGraph(model, batch, promptLen, maxNew, cache, true, cpu)) {
                onGpu.prefill(prompt);
                onCpu.prefill(prompt);
                for (int step = 0; step < maxNew; step++) {
                    if (step > 0) {
                        onGpu.step();
                        onCpu.step();
                    }
                    Tensor got = onGpu.logits(arena), want = onCpu.logits(arena);
                    for (long i = 0; i < want.numel(); i++)
                        assertEquals(Float.floatToRawIntBits(want.getFloat(i)), Float.floatToRawIntBits(got.getFloat(i)),
                                scheme + " " + cache + " prompt " + promptLen + " step " + step + ": logit " + i + " is " + got.getFloat(i)
                                        + " on " + device.name() + ", " + want.getFloat(i) + " on the CPU executor");
                    for (int b = 0; b < batch; b++) assertEquals(onCpu.token(b, step), onGpu.token(b, step));
                }
            }
        }
    }

    @Test
    void generateRunsThePrefillAndEveryStepAgain() throws Exception {
        try (Arena arena = Arena.ofShared()) {
            DecoderModel model = DecoderModel.random(TINY, 9, arena);
            int[] prompt = {3, 1, 4, 1, 5, 9};
            int maxNew = 20;   // 19 steps after the prompt: graphs of 8 steps (DecoderTaskGraph.STEPS_PER_GRAPH) twice, then 3 of one
            try (DecoderTaskGraph g = new DecoderTaskGraph(model, 1, prompt.length, maxNew, DecoderTaskGraph.CachePrecision.FP16, false, device)) {
                int[][] first = g.generate(prompt);   // the steps back to back
                assertTrue(g.replayDecodeMillis(11) >= 0);
                int[][] again = g.generate(prompt);   // the cache starts over
                assertArrayEquals(first[0], again[0]);
                assertThrows(IllegalStateException.class, g::step, "no step past the tokens the graph was built for");
                g.prefill(prompt);                    // one step at a time, two, then runs of steps: the same tokens
                g.step();
                g.step(2);
                g.step(9);                            // a graph of 8 steps and one of one
                assertThrows(IllegalStateException.class, () -> g.step(8), "13 new tokens made, the graph holds 20");
                g.step(7);
                for (int i = 0; i < maxNew; i++) assertEquals(first[0][i], g.token(0, i), "token " + i);
                assertThrows(IllegalArgumentException.class, () -> g.step(0));
            }
        }
    }

    @Test
    void refusesWhatItCannotRunWithTheReason() throws Exception {
        try (Arena arena = Arena.ofShared()) {
            DecoderModel fp = DecoderModel.random(TINY, 7, arena);
            var e = assertThrows(IllegalArgumentException.class, () -> new DecoderTaskGraph(fp, 1, 60, 10, DecoderTaskGraph.CachePrecision.FP16, false, device));
            assertTrue(e.getMessage().contains("positions"), e.getMessage());
            DecoderModel ptq = DecoderQuantizer.quantize(fp, Scheme.resolve("w8a8-ptq"), List.of(new int[]{1, 2, 3, 4, 5}), arena);
            e = assertThrows(IllegalArgumentException.class, () -> new DecoderTaskGraph(ptq, 1, 4, 4, DecoderTaskGraph.CachePrecision.FP16, false, device));
            assertTrue(e.getMessage().contains("transformer.h.0.") && e.getMessage().contains("StaticQuantizer"), e.getMessage());
            DecoderConfig llama = new DecoderConfig(DecoderConfig.Family.LLAMA, 96, 64, 1, 4, 4, 128, 64, 1e-5f, 10000f,
                    DecoderConfig.Activation.SWIGLU, false);
            DecoderModel l = DecoderModel.random(llama, 1, arena), l8 = DecoderQuantizer.quantize(l, Scheme.resolve("w8a8"), null, arena);
            DecoderModel mixed = l.withLinears((name, lin) -> name.endsWith(".q_proj") ? l8.layers().getFirst().q() : lin);   // k, v stay FP32
            e = assertThrows(IllegalArgumentException.class, () -> new DecoderTaskGraph(mixed, 1, 4, 4, DecoderTaskGraph.CachePrecision.FP16, false, device));
            assertTrue(e.getMessage().contains("q_proj") && e.getMessage().contains("one format"), e.getMessage());
            try (DecoderTaskGraph g = new DecoderTaskGraph(fp, 1, 3, 2, DecoderTaskGraph.CachePrecision.FP16, false, device)) {
                assertThrows(IllegalStateException.class, g::step, "decoding before a prefill");
                e = assertThrows(IllegalArgumentException.class, () -> g.prefill(new int[]{1, 2, 96}));
                assertTrue(e.getMessage().contains("vocabulary"), e.getMessage());
                assertThrows(IllegalArgumentException.class, () -> g.prefill(new int[]{1, 2}));
            }
        }
    }

    /** {@code -Dzq.decoder.wideThreads}: 1024 or 512 threads a block; anything else is refused by name. */
    @Test
    void wideThreadsTakesTheTwoBlockSizesOnly() {
        assertEquals(1024, DecoderTaskGraph.wideThreads("1024"));
        assertEquals(512, DecoderTaskGraph.wideThreads(" 512 "));
        for (String bad : new String[]{"256", "half", ""}) {
            var e = assertThrows(IllegalArgumentException.class, () -> DecoderTaskGraph.wideThreads(bad));
            assertTrue(e.getMessage().contains("zq.decoder.wideThreads"), e.getMessage());
        }
    }

    /** The 1024-thread staging kernels take few rows (a decode step of a batch, a short prompt) of rows that fit them. */
    @Test
    void wideStagingTakesUpTo64RowsOfUpTo8192Inputs() {
        assertTrue(DecoderTaskGraph.wideRows(16, 2048));       // GPT-3 1.3B at batch 16
        assertTrue(DecoderTaskGraph.wideRows(64, 8192));
        assertFalse(DecoderTaskGraph.wideRows(65, 768));       // a prompt: the 256-thread kernels
        assertFalse(DecoderTaskGraph.wideRows(16, 10240));     // GPT-3 2.7B's MLP rows: nine inputs a thread
    }
}
