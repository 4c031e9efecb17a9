package dev.zq.quant.gpu;

import dev.zq.kernels.CachedAttentionKernel;
import dev.zq.kernels.DecoderRowKernels;
import dev.zq.kernels.GemvKernel;
import dev.zq.kernels.GreedyHeadKernel;
import dev.zq.kernels.MmaGemvKernel;
import dev.zq.kernels.WideGemvKernel;
import dev.zq.kernels.Int4Words;
import dev.zq.kernels.LlamaRowKernels;
import dev.zq.kernels.PrefillGemmKernel;
import dev.zq.kernels.SkinnyMmaKernel;
import dev.zq.kernels.RowKernels;
import dev.zq.kernels.SkinnyGemmKernel;
import dev.zq.model.DenseLinear;
import dev.zq.model.Linear;
import dev.zq.model.decoder.DecoderConfig;
import dev.zq.model.decoder.DecoderLayer;
import dev.zq.model.decoder.DecoderModel;
import dev.zq.quant.QuantizedLinear;
import dev.zq.quant.QuantizedWeight;
import dev.zq.quant.TokenwiseQuantizer;
import dev.zq.runtime.Device;
import dev.zq.runtime.ExecutionPlan;
import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.HalfArray;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.KernelBuffer;
import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.TaskGraph;
import dev.zq.runtime.TaskGraph.Transfer;
import dev.zq.tensor.DType;
import dev.zq.tensor.Rope;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Greedy generation with a GPT-2- or LLaMA-family decoder as two {@link TaskGraph}s of the project's kernels over one set of
 * device buffers: the <b>prefill</b> runs the {@code batch × promptLength} prompt and fills the KV cache, the
 * <b>decode step</b> runs one new token per sequence. On a GPU each is captured once as a CUDA graph; the decode step
 * is replayed for every new token without the host in the loop, because the cache length lives on the device and
 * the arg-max kernel feeds its token to the next step's embedding. One layer reads top to bottom in {@link #addLayer}
 * (GPT-2) and {@link #addLlamaLayer} (LLaMA: RMSNorm, rotary positions, grouped-query attention, SwiGLU).
 *
 * <p>Each projection runs at the precision the model gives it, so mixed schemes run as they are:
 * a {@link DenseLinear} as FP16 weights with FP16-rounded activations (W16A16); a {@link QuantizedLinear} with 8- or
 * 4-bit group-wise (or per-row) weights and token-wise INT8 activations as W8A8 or W4A8, the activations quantized by
 * the GEMM kernel itself ({@link SkinnyGemmKernel}), or weight-only (no activation quantizer) as W8A16 or W4A16 with
 * FP16-rounded activations (on tensor cores the codes become halves in registers for an FP16 {@code mma}). The LM head too: FP16 when it is the (tied) embedding matrix, or
 * quantized if the model's head is a {@link QuantizedLinear}. The residual stream, LayerNorm and attention are FP32;
 * the KV cache FP16 or FP32 ({@link CachePrecision}). Projections of at least {@link #TENSOR_CORE_ROWS} rows (a prompt, a
 * decode step of a large batch) run on tensor cores ({@link PrefillGemmKernel}, activations quantized or halved by a
 * row kernel first), fewer on the few-row kernel.
 */
public final class DecoderTaskGraph implements AutoCloseable {
    /**
     * The KV cache's element type. FP16 halves the cache traffic of long contexts and batches. FP32 is the CPU
     * decoder's: with token-wise INT8 activations the FP16 cache's rounding flips some activation codes downstream
     * (about 1% on the logits of the test models, against 0.03% with FP32), so FP32 is what comparisons with the CPU
     * decoder use. Against the same graph on the CPU executor either is exact: W8A8 and W4/8A8 give the same bits on
     * both (DecoderTaskGraphTest), because every kernel of their path does (integer sums, correctly rounded float
     * instructions, KernelMath's exponential, split-K parts added in a fixed order).
     */
    public enum CachePrecision { FP16, FP32 }

    /**
     * From this many rows ({@code batch × tokens}) on, a projection runs on the tensor-core {@link PrefillGemmKernel}
     * (when its shape allows: N and K multiples of 64), prompts and the decode steps of batches of 8 or more — up to 16 rows
     * on {@link SkinnyMmaKernel} instead where it takes the shape ({@link #SKINNY_MMA}); below, the few-row kernel. Measured on the H100 (bench/RESULTS.md): at 8 rows the tensor-core kernel is faster at every GPT-2
     * and GPT-3 1.3B projection shape, at 4 rows the few-row kernel wins the narrow ones.
     */
    public static final int TENSOR_CORE_ROWS = 8;

    /**
     * The few-row FP16 and INT8 kernels run on at most this many blocks of 8 features (per 8 rows), their warps looping
     * over the rest ({@link SkinnyGemmKernel#grid(int, int, int)}): on a 132-SM H100/H200, one wave of the 4 blocks an
     * SM holds of either kernel (56 and 64 registers a thread). Measured on the H200 (bench/RESULTS.md), GPT-3 1.3B at
     * batch 1, 50 tokens: W16A16 108.5 ms with a warp per feature, 104.7 / 100.0 / 98.7 ms with 264 / 396 / 528 blocks;
     * W8A8 106.3, 103.7, 99.0, 98.1 ms; GPT-2 small within 1% (its projections fit one wave already) except at 264.
     * {@code -Dzq.decoder.columnBlocks=N} sets another count (e.g. to measure it).
     */
    static final int COLUMN_BLOCKS = Integer.getInteger("zq.decoder.columnBlocks", 528);
    /**
     * Batch-1 projections on {@link WideGemvKernel} (blocks of 1024 threads, one an SM: the row staged once an SM; rows of
     * up to 8192 inputs); {@code -Dzq.decoder.gemv=narrow} puts them on {@link GemvKernel} (blocks of 256, rows of up to
     * 4096 INT8 inputs), {@code false} on {@link SkinnyGemmKernel}, for A/B runs.
     */
    static final String GEMV = System.getProperty("zq.decoder.gemv", "wide");
    /**
     * W8A8's batch-1 projections on {@link WideGemvKernel#int8Bulk} (each warp's first two batches of weights copied into
     * shared memory by the bulk-copy engine before the wait) instead of {@link WideGemvKernel#int8}:
     * {@code -Dzq.decoder.bulkWeights=true}. Off: measured slower on the H200 (1.3B W8A8+head8, 49 steps, 39.99 → 42.17
     * ms; GPT-2 10.02 → 10.79; bench/RESULTS.md, session 24).
     */
    static final boolean BULK_WEIGHTS = Boolean.getBoolean("zq.decoder.bulkWeights");
    /**
     * W8A8's batch-1 projections of up to {@link WideGemvKernel#HALF_MAX_K} inputs on {@link WideGemvKernel#int8Half}
     * (blocks of 512 threads, two of which fit an SM, so that each launch's blocks start beside the previous launch's):
     * {@code -Dzq.decoder.wideThreads=512}; 1024 (the default) keeps {@link WideGemvKernel#int8}. Slower on the H200
     * (49 steps W8A8+head8: GPT-2 11.1 against 10.0 ms, 1.3B 46.4 against 39.5–39.9; on 264 blocks, {@link #HALF_BLOCKS},
     * 1.3B 39.2–39.4, within the default's spread; bench/RESULTS.md, sessions 25 and 26).
     */
    static final int WIDE_THREADS = wideThreads(System.getProperty("zq.decoder.wideThreads", "1024"));

    static int wideThreads(String value) {
        return switch (value.trim()) {
            case "1024" -> WideGemvKernel.THREADS;
            case "512" -> WideGemvKernel.HALF_THREADS;
            default -> throw new IllegalArgumentException("zq.decoder.wideThreads is 1024 or 512, not '" + value + "'");
        };
    }
    /**
     * {@link WideGemvKernel}'s blocks: one an SM of a 132-SM H100/H200; {@code -Dzq.decoder.gemvBlocks=N} sets another count.
     * Fewer SMs, so that the next launch finds the others idle, were slower on the H200 (66 blocks: 1.3B W8A8 39.9 → 43.3
     * ms for 49 steps, FP16 53.3 → 62.7; bench/RESULTS.md, session 25).
     */
    static final int GEMV_BLOCKS = Integer.getInteger("zq.decoder.gemvBlocks", 132);
    /** For measurement: {@link WideGemvKernel#int8Half}'s blocks ({@code -Dzq.decoder.halfBlocks=N}; by default as many as {@link #GEMV_BLOCKS}). */
    static final int HALF_BLOCKS = Integer.getInteger("zq.decoder.halfBlocks", GEMV_BLOCKS);
    /**
     * {@link MmaGemvKernel}'s preferred block size, 512 or 1024 threads ({@code -Dzq.decoder.mmaThreads}): two blocks of
     * 512 fit an SM's registers, one of 1024 does not, but GPT-2 W8A16 ran the same either way on the H200 (10.21, 10.18
     * against 10.21, 10.21 ms for 49 steps).
     */
    static final int MMA_THREADS = Integer.getInteger("zq.decoder.mmaThreads", 1024);
    /** For measurement: at most this many slices a tile in {@link MmaGemvKernel} ({@code -Dzq.decoder.mmaMaxSlices}; by default its own count). */
    static final int MMA_MAX_SLICES = Math.max(1, Integer.getInteger("zq.decoder.mmaMaxSlices", 32));
    /** Decode steps' attention over an FP16 cache on {@code attendStep16}; {@code -Dzq.decoder.attendStep=false}: {@code attend16}. */
    static final boolean ATTEND_STEP = !"false".equals(System.getProperty("zq.decoder.attendStep"));

    /**
     * The tensor-core projections' rows staged ({@code quantizeRows}, {@code halfRows}: their LayerNorm, token-wise codes
     * or halves) by {@link DecoderRowKernels#quantizeRowsWide} / {@link DecoderRowKernels#halfRowsWide}, a block of 1024
     * threads a row held in registers, where there are few rows and the row fits ({@link #wideRows}); {@code
     * -Dzq.decoder.wideRows=false}: the 256-thread kernels that loop over the row. On the H200, 49 decode steps at batch 16
     * took 14% less time at GPT-3 1.3B W8A8+head8 (167.8 → 144.0 ms), 6% at W16A16, 6% at GPT-2; GPT-2's prefill of 512
     * rows 7% more (2.02 → 2.17 ms, W8A8+head8), so prompts of more than 64 rows keep the looping kernels (bench/RESULTS.md,
     * session 34).
     */
    static final boolean WIDE_ROWS = !"false".equals(System.getProperty("zq.decoder.wideRows"));

    /** {@link #WIDE_ROWS}' rule: up to 64 rows (a decode step of a batch, a short prompt) of up to 8192 inputs. */
    static boolean wideRows(int rows, int in) { return WIDE_ROWS && rows <= 64 && DecoderRowKernels.fitsWide(in); }

    /**
     * The tensor-core projections of at most {@value SkinnyMmaKernel#MAX_ROWS} rows (a decode step of a batch of 8 to 16)
     * on {@link SkinnyMmaKernel} (weights in the {@code mma}'s A operand, 16 features a warp) where it takes the shape:
     * W16A16, W8A8 and W4A8; {@code -Dzq.decoder.skinnyMma=false}: {@link PrefillGemmKernel}, its 64-row tiles split over K.
     * On the H200, 49 decode steps of GPT-3 1.3B at batch 16: W16A16 164.3 → 120.0 ms, W8A8+head8 134.8 → 80.3 in one call
     * (the first version; with INT4 and the later changes 115.8, 76.5 and W4/8A8+head8 141.2 → 80.4), GPT-2 about −40%
     * (bench/RESULTS.md, session 35). The weight-only A16 schemes keep {@link PrefillGemmKernel} (not measured here). The LM
     * head of such a step (a vocabulary no multiple of 64, so no PrefillGemmKernel) runs here too, FP16 or INT8: it was
     * {@link SkinnyGemmKernel} on CUDA cores, 702 µs (FP16) and 211 µs (INT8) of a 1.3B step of 2.41 and 1.59 ms at batch 16;
     * 49 steps then went 115.1 → 83.7 ms W16A16, 76.5 → 67.6 W8A8+head8 (H200, one call; bench/RESULTS.md, session 36).
     * W4A8's rows are staged in {@link DecoderRowKernels#PIECE4_ORDER} for it (two 16-byte loads a row a piece instead of
     * eight of 4 bytes): W4/8A8+head8 66.6 → 60.1 ms (same session), so such a projection needs {@link #wideRows}.
     */
    static final boolean SKINNY_MMA = !"false".equals(System.getProperty("zq.decoder.skinnyMma"));
    /**
     * SkinnyMmaKernel launches with no more warps than the GPU holds at once ({@link SkinnyMmaKernel#grid(int, int, int,
     * int, boolean)}; {@code -Dzq.decoder.skinnyOneWave=false}: as many slices as {@link SkinnyMmaKernel#slices} asks).
     * Only FP16 projections change (INT8 and INT4 ones fit already). On the H200, 49 decode steps, W16A16, two rounds
     * each, off against on: GPT-3 1.3B b16 75.0, 75.4 → 73.1, 73.0 ms, b8 66.1, 65.8 → 65.5, 65.8; GPT-2 b16 17.33,
     * 17.22 → 16.52, 16.51, b8 15.26, 15.23 → 14.30, 14.27 (bench/RESULTS.md, session 38).
     */
    static final boolean SKINNY_ONE_WAVE = !"false".equals(System.getProperty("zq.decoder.skinnyOneWave"));

    /**
     * Whether {@link SkinnyMmaKernel}'s INT8 and INT4 kernels ask L1 for their warp's first group scales and their block's
     * bias before the wait for the previous kernel ({@code prefetch.global.L1}), so that the folds and the epilogue after
     * it find them there. {@code -Dzq.decoder.skinnyPrefetch=false} leaves that out (the same results either way).
     */
    static final boolean SKINNY_PREFETCH = !"false".equals(System.getProperty("zq.decoder.skinnyPrefetch"));

    /**
     * {@link #SKINNY_MMA}'s rule for projection {@code p} at {@code rows} rows: its bits, or 0 where it stays on
     * {@link PrefillGemmKernel} (or, without one, as the LM head, on {@link SkinnyGemmKernel}).
     */
    static int skinnyBits(Projection p, int rows) {
        if (!SKINNY_MMA || p.weightOnly()) return 0;
        String name = p.kernel().getName();   // the few-row kernel's variant, named as SkinnyMmaKernel's
        int bits = name.equals("fp16") ? 16 : name.equals("int8") ? 8 : name.equals("int4") ? 4 : 0;
        if (bits == 4 && !wideRows(rows, p.in())) return 0;   // only quantizeRowsWide stages the codes in int4's order
        return bits != 0 && SkinnyMmaKernel.fits(bits, rows, p.in(), p.groupSize()) ? bits : 0;
    }

    /**
     * The wide staging of a {@link SkinnyMmaKernel} projection's rows releases it before its own wait rather than after
     * (its {@code early}) where the projection streams at least this many bytes of weights, FP16 or INT8
     * ({@code -Dzq.decoder.earlyReleaseBytes}; 0: all of them): its blocks then launch while the previous projection
     * finishes and load their weights under the staging. On the H200, 49 decode steps at batch 16, released before
     * against after the wait, two rounds each: GPT-3 1.3B W16A16 80.1, 79.1 → 75.3, 74.4 ms, W8A8+head8 60.6, 60.3 → 57.8,
     * 57.7, but W4/8A8+head8 60.1, 60.1 → 60.5, 60.7 with its INT4 MLP's staging early too (so INT4's never is); GPT-2
     * W16A16 18.07, 18.05 → 16.94, 16.98, but W8A8+head8 17.10, 17.25 → 17.63, 17.66 (bench/RESULTS.md, session 37).
     * GPT-2's INT8 projections stream 0.6–2.4 MB, its FP16 ones 1.2–4.7 MB, GPT-3 1.3B's 4.2 MB and more.
     */
    static final long EARLY_RELEASE_BYTES = Long.getLong("zq.decoder.earlyReleaseBytes", 3L << 20);

    /**
     * {@link #EARLY_RELEASE_BYTES}' rule: 1 where the staging for projection {@code p} on SkinnyMmaKernel's {@code skinny} bits
     * releases it early — FP16 and INT8, but not a LLaMA's INT8 ({@code llama}): on the H200, 49 decode steps of TinyLlama
     * 1.1B's shapes, W8A8+head8, two rounds each, early against after the wait: batch 16 71.97, 71.75 → 66.65, 66.74 ms,
     * batch 8 60.73, 60.92 → 56.72, 56.63; GPT-3 1.3B in the same call the other way, b16 57.72, 57.60 against 60.58, 60.60
     * (bench/RESULTS.md, session 46). The LLaMA's W16A16 keeps it (82.4 against 85.0 ms at batch 16).
     */
    static int earlyRelease(Projection p, int skinny, boolean llama) {
        return (skinny == 16 || skinny == 8 && !llama) && (long) p.out() * p.in() * skinny / 8 >= EARLY_RELEASE_BYTES ? 1 : 0;
    }

    /**
     * A batch-1 decode step ends in {@link GreedyHeadKernel} (final LayerNorm or a LLaMA's RMSNorm, head, arg-max: one launch) where the head
     * is FP16, or INT8 with one scale a row and token-wise INT8 activations, and fits it; {@code -Dzq.decoder.greedyHead=false}: the three kernels, for A/B runs.
     */
    static final boolean GREEDY_HEAD = !"false".equals(System.getProperty("zq.decoder.greedyHead"));
    /**
     * A batch-1 decode step's {@link GreedyHeadKernel} writes the next step's input row (the embedding of the token it
     * chose), so that the step needs no embedding launch; {@code -Dzq.decoder.foldEmbed=false}: the launch, for A/B runs.
     */
    static final boolean FOLD_EMBED = !"false".equals(System.getProperty("zq.decoder.foldEmbed"));
    /**
     * The weight-only schemes (W8A16, W4/8A16: INT8/INT4 weights, FP16 activations) at batch 1: by default
     * ({@code -Dzq.decoder.weightOnlyGemv=mma}) the INT8 projections on {@link MmaGemvKernel#int8a16} (the tensor cores)
     * and the INT4 ones on {@link WideGemvKernel#int4a16} (on {@link MmaGemvKernel#int4a16} where it fits:
     * {@link #MMA_INT4}); {@code wide} (or {@code true}) both on {@link WideGemvKernel}
     * (the CUDA cores) — each with the LayerNorm fused and a half or a quarter of the FP16 kernel's weight bytes;
     * {@code false} the few-row kernels with a LayerNorm launch of their own. On the H200 (GPT-2, batch 1, 49 steps with
     * the INT8 head): few-row 19.4–19.6 ms, wide 11.55, mma 10.2 (bench/RESULTS.md, eleventh round).
     */
    static volatile String weightOnlyGemv = System.getProperty("zq.decoder.weightOnlyGemv", "mma");   // tests set it too
    /**
     * With {@code weightOnlyGemv=mma} the INT4 projections run on {@link MmaGemvKernel#int4a16} (the tensor cores) where
     * each warp has one batch ({@link MmaGemvKernel#oneBatchAWarp}: GPT-2's, not GPT-3 1.3B's MLP, where it lost 1.9 ms),
     * else on {@link WideGemvKernel#int4a16}; {@code -Dzq.decoder.mmaInt4=false} keeps them all on the latter. On the H200
     * (GPT-2 W4/8A16+head8, 49 steps): 10.42–10.49 → 10.16–10.20 ms, outputs checked against the CPU decoder on the GPU
     * (bench/RESULTS.md, thirteenth round).
     */
    static final boolean MMA_INT4 = !"false".equals(System.getProperty("zq.decoder.mmaInt4"));
    /**
     * For measurement only: {@code -Dzq.decoder.repeat=qkv,attend,…} launches the named kernels of every layer (qkv,
     * attend, out, up, down; a LLaMA's also swiglu, and norm with {@link #FUSE_RMS_NORM} off) twice in a decode step, so that a bench's step time less the plain one is what that launch
     * costs inside the graph. The outputs are then wrong where the launch adds to its output (out, down).
     */
    static final List<String> REPEAT = List.of(System.getProperty("zq.decoder.repeat", "").split(","));
    /**
     * For measurement only: {@code -Dzq.decoder.omit=qkv,attend,…} leaves the named launches of every layer out of a decode
     * step, so that the plain step's time less that one is what those launches cost inside the graph (unlike
     * {@link #REPEAT}, no launch finds its weights in L2 from the one before). The outputs are then wrong.
     */
    static final List<String> OMIT = List.of(System.getProperty("zq.decoder.omit", "").split(","));
    /**
     * Decode steps captured in one CUDA graph for runs of steps back to back ({@link #step(int)}, {@link #generate}): a
     * graph launch, and the edge between two graphs (no programmatic launch across it), once every so many steps instead
     * of every step. {@code -Dzq.decoder.stepsPerGraph=1}: one step a graph, for A/B runs. Not with {@code keepLogits}
     * (each step's logits are copied out).
     */
    static final int STEPS_PER_GRAPH = Integer.getInteger("zq.decoder.stepsPerGraph", 8);
    /**
     * A batch-1 decode step's attention output projection inside the attention's launch, where the activations are FP16
     * (W16A16, W8A16, W4/8A16) — {@code attendStep16} with {@code outRows > 0}: each head's blocks write that head's parts
     * of the projection — the heads' parts and its bias added to the residual by the MLP's two launches
     * ({@link WideGemvKernel#sumParts}): one launch a layer less. {@code -Dzq.decoder.outInAttention=false}: the
     * projection's own launch, for A/B runs.
     */
    static final boolean OUT_IN_ATTENTION = !"false".equals(System.getProperty("zq.decoder.outInAttention"));
    /**
     * A LLaMA's RMSNorms inside the projections that read the normalised rows (the q/k/v and gate/up launches), as GPT-2's
     * LayerNorms are ({@link SkinnyGemmKernel#RMS_NORM}); {@code -Dzq.decoder.fuseRmsNorm=false}: a launch of its own
     * ({@link DecoderRowKernels#layerNorm} with {@link SkinnyGemmKernel#RMS_NORM}) before each, for A/B runs.
     */
    static final boolean FUSE_RMS_NORM = !"false".equals(System.getProperty("zq.decoder.fuseRmsNorm"));
    /**
     * A LLaMA's SiLU-gated unit computed where the down projection reads its input ({@link SkinnyGemmKernel#SWIGLU}: the
     * batch-1 kernels and the wide row staging of a batch's step), not by a launch of its own;
     * {@code -Dzq.decoder.fuseSwiglu=false}: {@link LlamaRowKernels#swiglu} first, for A/B runs. Prompts of more than 64 rows and
     * steps of 2–7 rows keep that launch.
     */
    static final boolean FUSE_SWIGLU = !"false".equals(System.getProperty("zq.decoder.fuseSwiglu"));

    private final DecoderConfig config;
    private final int batch, promptLength, maxNewTokens, capacity;
    private final Arena arena = Arena.ofShared();
    private final List<KernelBuffer> weightBuffers = new ArrayList<>();
    private final boolean llama;   // LLaMA's layers (RMSNorm, rotary positions, grouped-query attention, SwiGLU), else GPT-2's
    private final FloatArray wte, wpe, finalGamma, finalBeta;   // wpe and the betas: GPT-2 only (null for LLaMA)
    private final FloatArray ropeCos, ropeSin;   // LLaMA: the rotary angles' cosines and sines, [capacity, headDim / 2]
    private final FloatArray zeroBeta;   // LLaMA: the β of its RMSNorms as the projection kernels read them (zeros)
    private final List<LayerWeights> layers = new ArrayList<>();
    private final Projection head;
    private final IntArray prompt, pos, next, generated;
    private final CachePrecision cachePrecision;
    private final List<KernelBuffer> keys = new ArrayList<>(), values = new ArrayList<>();
    private final FloatArray x, normed, qkv, context, mlp, last, logits;
    private final FloatArray gated;   // LLaMA: silu(gate)·up, the down projection's input (mlp holds gate and up)
    private final FloatArray outParts;   // OUT_IN_ATTENTION: each head's part of the attention's output projection
    private final FloatArray afterAttention;   // and the residual stream after it (x plus the parts and the bias)
    private final IntArray staged;          // a prompt's activations as INT8 codes or FP16 halves for the tensor-core GEMMs
    private final FloatArray stagedScales;  // and their token-wise scales
    private final FloatArray partials;      // split-K slices' parts of the tensor-core residual projections (PrefillGemmKernel.splits)
    private final IntArray arrivals;        // and how many of an output tile's slices are done
    private final FloatArray headBest;      // GreedyHeadKernel and a split argmax: each block's best logit
    private final IntArray headBestAt;      // and its index
    private final IntArray headArrivals;    // and how many blocks (of a row) are done
    private final int argmaxParts;          // the blocks DecoderRowKernels.argmax splits a row of logits over
    private final ExecutionPlan prefill, decode;
    private final ExecutionPlan decodeRun;   // STEPS_PER_GRAPH steps in one graph; null with keepLogits or one step a graph
    private final int runSteps;
    private boolean prefilled;
    private int steps;   // new tokens generated since the last prefill

    /**
     * One projection as the kernels read it: FP16 rows, or INT8/INT4 codes with group scales; bias in FP32. {@code wide}
     * is its tensor-core kernel for prompts, null where the shape does not fit one.
     */
    /** One projection's weights and kernels; {@code weightOnly}: INT weights with FP16 activations (W8A16, W4A16). */
    private record Projection(Method kernel, Method wide, IntArray weight, FloatArray scales, int groupSize, FloatArray bias, int in, int out,
                              boolean weightOnly) {}

    /** A block's weights; LLaMA's: no betas (RMSNorm), {@code qkv} its q, k and v stacked, {@code up} its gate and up stacked. */
    private record LayerWeights(FloatArray norm1Gamma, FloatArray norm1Beta, Projection qkv, Projection out, FloatArray norm2Gamma,
                                FloatArray norm2Beta, Projection up, Projection down) {}

    /**
     * Graphs for {@code batch} prompts of {@code promptLength} tokens each, generating up to {@code maxNewTokens} tokens
     * per sequence, with a KV cache of {@code cache} precision, on {@code device}; with {@code keepLogits} every step
     * copies its logits back for {@link #logits}. The model's weights must outlive the graphs.
     */
    public DecoderTaskGraph(DecoderModel model, int batch, int promptLength, int maxNewTokens, CachePrecision cache, boolean keepLogits,
                            Device device) {
        this.config = model.config();
        this.llama = config.family() == DecoderConfig.Family.LLAMA;
        this.cachePrecision = cache;
        this.batch = batch;
        this.promptLength = promptLength;
        this.maxNewTokens = maxNewTokens;
        this.capacity = promptLength + maxNewTokens;
        int h = config.hiddenSize(), hd = config.headDim(), inter = config.intermediateSize(), vocab = config.vocabSize();
        int qkvWidth = h + 2 * config.kvDim(), upWidth = llama ? 2 * inter : inter;   // LLaMA's up rows: the gate's, then the up's
        checkShapes(batch, promptLength, maxNewTokens);
        wte = floats(model.tokenEmbeddings());
        wpe = llama ? null : floats(model.positionEmbeddings());
        finalGamma = floats(model.finalNorm().weight());
        finalBeta = llama ? null : floats(model.finalNorm().bias());
        for (int i = 0; i < model.layers().size(); i++) {
            DecoderLayer l = model.layers().get(i);
            List<String> names = model.linearNames(i);
            if (llama)
                layers.add(new LayerWeights(floats(l.attentionNorm().weight()), null, projection(names.get(0) + " (with k_proj, v_proj)",
                        List.of(l.q(), l.k(), l.v())), projection(names.get(3), l.output()), floats(l.mlpNorm().weight()), null,
                        projection(names.get(4) + " (with up_proj)", List.of(l.gate(), l.up())), projection(names.get(6), l.down())));
            else
                layers.add(new LayerWeights(floats(l.attentionNorm().weight()), floats(l.attentionNorm().bias()), projection(names.get(0), l.qkv()),
                        projection(names.get(1), l.output()), floats(l.mlpNorm().weight()), floats(l.mlpNorm().bias()),
                        projection(names.get(2), l.up()), projection(names.get(3), l.down())));
        }
        head = projection("lm_head", model.lmHead());
        if (llama) {   // the CPU decoder's own tables (dev.zq.tensor.Rope), so that the rotations equal its
            float[] cos = new float[capacity * hd / 2], sin = new float[capacity * hd / 2];
            Rope.angles(config.ropeTheta(), hd, 0, capacity, cos, sin);
            ropeCos = FloatArray.allocate(arena, cos.length);
            ropeSin = FloatArray.allocate(arena, sin.length);
            MemorySegment.copy(cos, 0, ropeCos.segment(), Tensor.F32, 0, cos.length);
            MemorySegment.copy(sin, 0, ropeSin.segment(), Tensor.F32, 0, sin.length);
            weightBuffers.add(ropeCos);
            weightBuffers.add(ropeSin);
            zeroBeta = FloatArray.allocate(arena, h);   // allocated zeroed
            weightBuffers.add(zeroBeta);
        } else ropeCos = ropeSin = zeroBeta = null;

        int rows = batch * promptLength;
        prompt = IntArray.allocate(arena, rows);
        pos = IntArray.allocate(arena, 1);
        next = IntArray.allocate(arena, batch);
        generated = IntArray.allocate(arena, batch * maxNewTokens);
        int cacheLength = batch * config.numKvHeads() * capacity * hd;
        for (int i = 0; i < config.numLayers(); i++) {
            keys.add(cache == CachePrecision.FP16 ? HalfArray.allocate(arena, cacheLength) : FloatArray.allocate(arena, cacheLength));
            values.add(cache == CachePrecision.FP16 ? HalfArray.allocate(arena, cacheLength) : FloatArray.allocate(arena, cacheLength));
        }
        // Scratch rows sized for the prompt; the decode step uses their first batch rows.
        x = FloatArray.allocate(arena, rows * h);
        normed = FloatArray.allocate(arena, rows * h);
        qkv = FloatArray.allocate(arena, rows * qkvWidth);
        context = FloatArray.allocate(arena, rows * h);
        mlp = FloatArray.allocate(arena, rows * upWidth);
        gated = FloatArray.allocate(arena, llama ? rows * inter : 1);
        outParts = FloatArray.allocate(arena, config.numHeads() * h);
        afterAttention = FloatArray.allocate(arena, h);
        last = FloatArray.allocate(arena, batch * h);
        int padded = PrefillGemmKernel.paddedRows(rows), widest = Math.max(h, inter);
        staged = IntArray.allocate(arena, rows >= TENSOR_CORE_ROWS ? padded * widest / 2 : 1);
        stagedScales = FloatArray.allocate(arena, rows >= TENSOR_CORE_ROWS ? padded : 1);
        int splitBlocks = 1;   // the most blocks of a projection with K split, at the prompt's rows or a decode step's
        int[][] shapes = {{qkvWidth, h, SkinnyGemmKernel.STORE}, {h, h, SkinnyGemmKernel.ADD},
                {upWidth, h, llama ? SkinnyGemmKernel.STORE : SkinnyGemmKernel.GELU_TANH}, {h, inter, SkinnyGemmKernel.ADD}};   // qkv, out, up, down: N, K, epilogue
        for (int r : new int[]{rows, batch})
            if (r >= TENSOR_CORE_ROWS && h % 64 == 0)
                for (int[] s : shapes)
                    if (s[0] % 64 == 0 && s[1] % 64 == 0) {
                        int splits = PrefillGemmKernel.splits(r, s[0], s[1], s[2]);
                        if (splits > 1) splitBlocks = Math.max(splitBlocks, PrefillGemmKernel.grid(r, s[0], splits).groupsX());
                    }
        partials = FloatArray.allocate(arena, splitBlocks > 1 ? splitBlocks * 4096 : 1);
        arrivals = IntArray.allocate(arena, Math.max(1, padded / 64 * Math.max(qkvWidth, upWidth) / 64));   // a count per output tile
        logits = FloatArray.allocate(arena, batch * vocab);
        argmaxParts = DecoderRowKernels.argmaxParts(batch, vocab, GEMV_BLOCKS);
        int argmaxBlocks = DecoderRowKernels.argmaxGrid(batch, argmaxParts).groupsX();
        headBest = FloatArray.allocate(arena, Math.max(GEMV_BLOCKS, argmaxBlocks));
        headBestAt = IntArray.allocate(arena, Math.max(GEMV_BLOCKS, argmaxBlocks));
        headArrivals = IntArray.allocate(arena, batch);

        TaskGraph prefillGraph = steps("prefill", promptLength, prompt)
                .transferToDevice(Transfer.FIRST_EXECUTION, weightBuffers.toArray(KernelBuffer[]::new))
                .transferToDevice(Transfer.FIRST_EXECUTION, arrivals, headArrivals)   // zeroes, which every launch leaves as it found them
                .transferToDevice(Transfer.EVERY_EXECUTION, prompt)
                .transferToHost(Transfer.EVERY_EXECUTION, generated);
        // The decode plan shares the prefill plan's device memory: headArrivals came zeroed with the prefill.
        TaskGraph decodeGraph = steps("decode", 1, next).transferToHost(Transfer.EVERY_EXECUTION, generated);
        if (keepLogits) {
            prefillGraph.transferToHost(Transfer.EVERY_EXECUTION, logits);
            decodeGraph.transferToHost(Transfer.EVERY_EXECUTION, logits);
        }
        prefill = device.plan(prefillGraph);
        decode = device.plan(decodeGraph, prefill);
        runSteps = keepLogits ? 1 : Math.max(1, Math.min(STEPS_PER_GRAPH, maxNewTokens - 1));
        if (runSteps > 1) {
            TaskGraph run = new TaskGraph("gpt-decode-" + batch + "x1-" + runSteps + "-steps");
            for (int i = 0; i < runSteps; i++) addSteps(run, "decode", 1, next);
            decodeRun = device.plan(run.transferToHost(Transfer.EVERY_EXECUTION, generated), prefill);
        } else decodeRun = null;
    }

    private void checkShapes(int batch, int promptLength, int maxNewTokens) {
        int h = config.hiddenSize(), hd = config.headDim();
        if (batch <= 0 || promptLength <= 0 || maxNewTokens <= 0)
            throw new IllegalArgumentException("batch, prompt length and new tokens must be positive: " + batch + ", " + promptLength + ", " + maxNewTokens);
        if (promptLength + maxNewTokens > Math.min(config.maxPositions(), CachedAttentionKernel.MAX_POSITIONS))
            throw new IllegalArgumentException(promptLength + " + " + maxNewTokens + " tokens exceed the " + Math.min(config.maxPositions(),
                    CachedAttentionKernel.MAX_POSITIONS) + " positions the GPU decoder can hold");
        if (Integer.bitCount(hd) != 1 || hd > 128)
            throw new IllegalArgumentException("the GPU decoder needs a head size that is a power of two up to 128, not " + hd);
        if (h % 8 != 0 || h > 4096) throw new IllegalArgumentException("the GPU decoder needs a hidden size that is a multiple of 8, at most 4096, not " + h);
        if ((long) batch * promptLength * config.intermediateSize() > Integer.MAX_VALUE || (long) batch * config.vocabSize() > Integer.MAX_VALUE)
            throw new IllegalArgumentException("batch " + batch + " × " + promptLength + " tokens is too large for 32-bit indices");
    }

    /** The launches for {@code seq} new tokens per sequence, read from {@code tokens}. */
    private TaskGraph steps(String name, int seq, IntArray tokens) {
        TaskGraph g = new TaskGraph("gpt-" + name + "-" + batch + "x" + seq);
        addSteps(g, name, seq, tokens);
        return g;
    }

    /** {@link #steps}' launches appended to {@code g}. */
    private void addSteps(TaskGraph g, String name, int seq, IntArray tokens) {
        int rows = batch * seq, h = config.hiddenSize();
        boolean decodeStep = name.equals("decode"), fold = FOLD_EMBED && batch == 1 && greedyHead() != null;   // the embedding in the head's launch
        if (name.equals("prefill")) g.task(kernel(DecoderRowKernels.class, "resetPosition"), dev.zq.runtime.Grid.of(1, 32), pos);
        if (!(decodeStep && fold)) {
            if (llama) g.task(kernel(LlamaRowKernels.class, "embed"), LlamaRowKernels.grid(rows), tokens, wte, x, h);
            else g.task(kernel(DecoderRowKernels.class, "embed"), dev.zq.runtime.Grid.of(rows, 256), tokens, pos, wte, wpe, x, seq, h, capacity);
        }
        for (int l = 0; l < layers.size(); l++) addLayer(g, l, seq);
        int embedNext = !(decodeStep && fold) ? GreedyHeadKernel.NO_EMBED : llama ? GreedyHeadKernel.EMBED_TOKEN : GreedyHeadKernel.EMBED_WITH_POSITION;
        int norm = llama ? SkinnyGemmKernel.RMS_NORM : SkinnyGemmKernel.LAYER_NORM;
        FloatArray beta = llama ? zeroBeta : finalBeta, positions = llama ? wte : wpe;   // a LLaMA's: zeros; its position table unused
        String greedy = rows == 1 ? greedyHead() : null;
        if ("fp16".equals(greedy))   // a batch-1 decode step: one launch
            g.task(kernel(GreedyHeadKernel.class, "fp16"), GreedyHeadKernel.grid(config.vocabSize(), h, GEMV_BLOCKS), x, finalGamma, beta,
                    config.normEps(), norm, head.weight(), head.bias(), logits, config.vocabSize(), h, GreedyHeadKernel.pair(h), headBest, headBestAt,
                    headArrivals, next, generated, pos, promptLength, maxNewTokens, wte, positions, capacity, embedNext);
        else if ("int8".equals(greedy))
            g.task(kernel(GreedyHeadKernel.class, "int8"), GreedyHeadKernel.int8Grid(config.vocabSize(), h, GEMV_BLOCKS), x, finalGamma, beta,
                    config.normEps(), norm, head.weight(), head.scales(), head.bias(), logits, config.vocabSize(), h, GreedyHeadKernel.int8Rows(h), headBest,
                    headBestAt, headArrivals, next, generated, pos, promptLength, maxNewTokens, wte, positions, capacity, embedNext);
        else {
            if (llama)
                g.task(kernel(DecoderRowKernels.class, "lastTokenNorm"), RowKernels.grid(batch, h), x, SkinnyGemmKernel.RMS_NORM, finalGamma, zeroBeta,
                        last, pos, seq, h, config.normEps());
            else
                g.task(kernel(DecoderRowKernels.class, "lastTokenNorm"), RowKernels.grid(batch, h), x, SkinnyGemmKernel.LAYER_NORM, finalGamma,
                        finalBeta, last, pos, seq, h, config.normEps());
            linear(g, head, last, null, null, logits, batch, SkinnyGemmKernel.STORE);
            g.task(kernel(DecoderRowKernels.class, "argmax"), DecoderRowKernels.argmaxGrid(batch, argmaxParts), logits, next, generated, pos,
                    config.vocabSize(), promptLength, maxNewTokens, argmaxParts, headBest, headBestAt, headArrivals);
        }
        // The decode steps' head writes the next step's input row itself; the prompt's tail makes the first one.
        if (name.equals("prefill") && fold && llama) g.task(kernel(LlamaRowKernels.class, "embed"), LlamaRowKernels.grid(1), next, wte, x, h);
        else if (name.equals("prefill") && fold)
            g.task(kernel(DecoderRowKernels.class, "embed"), dev.zq.runtime.Grid.of(1, 256), next, pos, wte, wpe, x, 1, h, capacity);
    }

    /**
     * The {@link GreedyHeadKernel} that ends a batch-1 step ({@code "fp16"}, {@code "int8"}), or null where the head does not
     * fit one (or {@code -Dzq.decoder.greedyHead=false}): then the final LayerNorm, the head and the arg-max are launched apart.
     */
    private String greedyHead() {
        int h = config.hiddenSize();
        if (!GREEDY_HEAD) return null;
        if (head.scales() == null && GreedyHeadKernel.fits(h)) return "fp16";
        if (head.scales() != null && !head.weightOnly() && gemvBits(head) == 8 && GreedyHeadKernel.fitsInt8(h, head.groupSize())) return "int8";
        return null;
    }

    /** One pre-norm GPT-2 block: attention over the cache with its residual, then the MLP with its residual. */
    private void addLayer(TaskGraph g, int index, int seq) {
        if (llama) {
            addLlamaLayer(g, index, seq);
            return;
        }
        LayerWeights l = layers.get(index);
        int rows = batch * seq, h = config.hiddenSize(), heads = config.numHeads(), hd = config.headDim();
        String bits = cachePrecision == CachePrecision.FP16 ? "16" : "32";
        linear(g, l.qkv(), x, l.norm1Gamma(), l.norm1Beta(), qkv, rows, SkinnyGemmKernel.STORE);   // LayerNorm fused into the GEMM
        repeat(g, "qkv");
        if (seq > 1)
            g.task(kernel(CachedAttentionKernel.class, "append" + bits), CachedAttentionKernel.appendGrid(rows), qkv, pos, keys.get(index),
                    values.get(index), seq, heads, heads, hd, capacity, context, context, 0);   // no rotation: its tables unused
        boolean attendStep = seq == 1 && attendStep(hd);   // a decode step
        boolean outInAttention = attendStep && outInAttention(l, rows);
        if (outInAttention) {   // the out projection's parts from the attention's blocks, its launch gone
            int outGroup = outGroupSize(l.out()), splits = CachedAttentionKernel.outSplits(h, hd, outGroup);
            g.task(kernel(CachedAttentionKernel.class, "attendStep16"), CachedAttentionKernel.attendGrid(rows, heads, splits), qkv, pos,
                    keys.get(index), values.get(index), context, heads, hd, capacity, (float) (1 / Math.sqrt(hd)), l.out().weight(),
                    l.out().scales() != null ? l.out().scales() : l.out().bias(), outParts, h, splits, outGroup);
        } else if (attendStep)
            g.task(kernel(CachedAttentionKernel.class, "attendStep16"), CachedAttentionKernel.attendGrid(rows, heads), qkv, pos,
                    keys.get(index), values.get(index), context, heads, hd, capacity, (float) (1 / Math.sqrt(hd)), pos, l.out().bias(),
                    context, 0, 1, 1);   // no out projection: its arguments unused
        else
            g.task(kernel(CachedAttentionKernel.class, "attend" + bits), CachedAttentionKernel.attendGrid(rows, heads), qkv, pos, keys.get(index),
                    values.get(index), context, seq, heads, heads, hd, capacity, (float) (1 / Math.sqrt(hd)), seq == 1 ? 1 : 0, context, context, 0);
        repeat(g, "attend");
        // The out and down launches reduce their rows for the token-wise scale themselves: handing them the largest
        // magnitude from the kernels that wrote the rows (atomicMax) was slower on the H200 (bench/RESULTS.md, tenth round).
        if (outInAttention) {   // the MLP adds the heads' parts and the bias to the residual, the up launch for its row, the down for its sum
            linear(g, l.up(), x, l.norm2Gamma(), l.norm2Beta(), mlp, rows, SkinnyGemmKernel.GELU_TANH, null, heads, l.out().bias());
            repeat(g, "up");
            linear(g, l.down(), mlp, null, null, x, rows, SkinnyGemmKernel.ADD, afterAttention, 0, null);
            repeat(g, "down");
            return;
        }
        linear(g, l.out(), context, null, null, x, rows, SkinnyGemmKernel.ADD);
        repeat(g, "out");
        linear(g, l.up(), x, l.norm2Gamma(), l.norm2Beta(), mlp, rows, SkinnyGemmKernel.GELU_TANH);
        repeat(g, "up");
        linear(g, l.down(), mlp, null, null, x, rows, SkinnyGemmKernel.ADD);
        repeat(g, "down");
    }

    /**
     * One pre-norm LLaMA block: RMSNorm, the q, k and v projections as one launch, attention over the cache, which turns the
     * new queries and keys by their rotary angles as it reads them (grouped-query: a key/value head serves
     * {@code heads / kvHeads} query heads, and the cache holds each once), the output projection added to the residual; RMSNorm, the gate and up projections as
     * one launch, the SiLU-gated unit, the down projection added to the residual. The projections' kernels are GPT-2's;
     * their RMSNorm is fused into them as GPT-2's LayerNorm is.
     */
    private void addLlamaLayer(TaskGraph g, int index, int seq) {
        LayerWeights l = layers.get(index);
        int rows = batch * seq, h = config.hiddenSize(), heads = config.numHeads(), kvHeads = config.numKvHeads(), hd = config.headDim();
        String bits = cachePrecision == CachePrecision.FP16 ? "16" : "32";
        rmsNormed(g, l.qkv(), l.norm1Gamma(), qkv, rows);
        repeat(g, "qkv");
        // The new queries and keys are rotated as the attention (or, for a prompt, the append) reads them.
        if (seq > 1)
            g.task(kernel(CachedAttentionKernel.class, "append" + bits), CachedAttentionKernel.appendGrid(rows), qkv, pos, keys.get(index),
                    values.get(index), seq, heads, kvHeads, hd, capacity, ropeCos, ropeSin, 1);
        if (seq == 1 && attendStep(hd))   // a decode step
            g.task(kernel(CachedAttentionKernel.class, "attendStepRotated16"), CachedAttentionKernel.attendGrid(rows, heads), qkv, pos, keys.get(index),
                    values.get(index), context, heads, kvHeads, hd, capacity, (float) (1 / Math.sqrt(hd)), pos, l.out().bias(), context, 0, 1, 1,
                    ropeCos, ropeSin);   // no out projection: its arguments unused
        else
            g.task(kernel(CachedAttentionKernel.class, "attend" + bits), CachedAttentionKernel.attendGrid(rows, heads), qkv, pos, keys.get(index),
                    values.get(index), context, seq, heads, kvHeads, hd, capacity, (float) (1 / Math.sqrt(hd)), seq == 1 ? 1 : 0, ropeCos, ropeSin, 1);
        repeat(g, "attend");
        linear(g, l.out(), context, null, null, x, rows, SkinnyGemmKernel.ADD);
        repeat(g, "out");
        rmsNormed(g, l.up(), l.norm2Gamma(), mlp, rows);
        repeat(g, "up");
        linear(g, l.down(), mlp, SkinnyGemmKernel.SWIGLU, null, null, x, rows, SkinnyGemmKernel.ADD, null, 0, null);   // silu(gate)·up read from mlp
        repeat(g, "down");
    }

    /** Whether a decode step's attention runs on {@code attendStep16} ({@link #ATTEND_STEP}: an FP16 cache, heads of a multiple of 8 up to 128). */
    private boolean attendStep(int hd) { return ATTEND_STEP && cachePrecision == CachePrecision.FP16 && hd % 8 == 0 && hd <= 128; }

    /**
     * {@code out = RMSNorm(x)·Wᵀ} for projection {@code p}: the norm inside the kernel that reads the rows ({@link #linear}
     * with {@link SkinnyGemmKernel#RMS_NORM}), or with {@code -Dzq.decoder.fuseRmsNorm=false} a launch of its own first.
     */
    private void rmsNormed(TaskGraph g, Projection p, FloatArray gamma, FloatArray out, int rows) {
        if (FUSE_RMS_NORM) {
            linear(g, p, x, gamma, zeroBeta, out, rows, SkinnyGemmKernel.STORE);
            return;
        }
        g.task(kernel(DecoderRowKernels.class, "layerNorm"), RowKernels.grid(rows, p.in()), x, SkinnyGemmKernel.RMS_NORM, gamma, zeroBeta, normed, p.in(),
                config.normEps());
        repeat(g, "norm");
        linear(g, p, normed, null, null, out, rows, SkinnyGemmKernel.STORE);
    }

    /**
     * Whether {@link #OUT_IN_ATTENTION} applies to layer {@code l} over {@code rows} rows: batch 1, activations in FP16
     * (W16A16, W8A16, W4/8A16), the out projection FP16 or INT8 in groups {@code attendStep16} takes, the up and down
     * projections on batch-1 kernels that add the parts ({@link #addsParts}), the up's row a thread an input, at most
     * {@link WideGemvKernel#MAX_PARTS} heads; not while {@link #REPEAT} repeats the launches it changes.
     */
    private boolean outInAttention(LayerWeights l, int rows) {
        if (!OUT_IN_ATTENTION || rows != 1 || REPEAT.contains("attend") || REPEAT.contains("up") || REPEAT.contains("down")) return false;
        Projection out = l.out();
        boolean int8 = out.weightOnly() && gemvBits(out) == 8, fp16 = out.scales() == null;
        if (!(int8 || fp16) || !CachedAttentionKernel.fitsOut(config.hiddenSize(), config.numHeads(), outGroupSize(out))) return false;
        Method up = gemv(l.up());
        return addsParts(up) && addsParts(gemv(l.down()))
                && WideGemvKernel.fitsParts(l.up().in(), config.numHeads(), up.getDeclaringClass() == MmaGemvKernel.class
                        ? MmaGemvKernel.threads(l.up().in(), MMA_THREADS) : WideGemvKernel.THREADS);
    }

    /** {@code attendStep16}'s {@code outGroupSize} for the out projection {@code out}: its group size, 0 for FP16 weights. */
    private static int outGroupSize(Projection out) { return out.scales() == null ? 0 : out.groupSize(); }

    /** Whether the batch-1 kernel {@code gemv} adds the attention's parts to its row (and takes another residual). */
    private static boolean addsParts(Method gemv) {
        return gemv != null && (gemv.getDeclaringClass() == MmaGemvKernel.class
                || gemv.getDeclaringClass() == WideGemvKernel.class && (gemv.getName().equals("fp16") || gemv.getName().equals("int4a16")));
    }

    /** {@link #REPEAT}: the last launch again, in a decode step's graph, when {@code role} is named; {@link #OMIT}: the last launch taken out. */
    private static void repeat(TaskGraph g, String role) {
        if (g.name().startsWith("gpt-decode") && REPEAT.contains(role)) {
            TaskGraph.Task t = g.tasks().getLast();
            g.task(t.kernel(), t.grid(), t.args());
        }
        if (g.name().startsWith("gpt-decode") && OMIT.contains(role)) g.removeLast();
    }

    /**
     * {@code out = in·Wᵀ + b} (under {@code mode}) for {@code rows} rows; with {@code gamma} non-null, of LayerNorm(in) with
     * that γ and β, normalised inside the kernel that reads the rows — except for the few-row INT8/INT4 kernels (but the
     * INT8 one on a single row, and the batch-1 GEMV kernels, which hold the row in registers and read it once: see
     * SkinnyGemmKernel.stageOneRow and WideGemvKernel.stageCodes), which
     * already make one block-wide pass over their rows for the token-wise scales: two more for the LayerNorm's statistics
     * cost them more than the launch they save (on the H100, 50 tokens at batch 1: GPT-3 1.3B W8A8 146.3 and 146.9 ms
     * fused against 137.9 and 138.0 ms with the separate kernel; GPT-2 W8A8 even, 33.0 against 33.3 ms; measured with
     * {@code dev.zq.bench.DecoderGpuBench gpt2,gpt3-1.3b 1 32 50} in one device call, alternating a build with this branch
     * and one without it, two runs each), so those get a LayerNorm kernel of their own. W16A16 gained from the fusion (GPT-2 0.90 → 0.82 ms a step).
     * The weight-only few-row kernels keep theirs too: fusing it was not faster on the H200 (GPT-2 batch 1, 50 tokens, W8A16
     * 30.46 → 30.98 ms, W4/8A16 29.28 → 29.17, the W16A16 control 22.69 / 22.79; one A/B in one device call, 2026-11-29);
     * the wide weight-only kernels ({@link #weightOnlyGemv}) normalise their row themselves, as the other batch-1 kernels do.
     */
    private void linear(TaskGraph g, Projection p, FloatArray in, FloatArray gamma, FloatArray beta, FloatArray out, int rows, int mode) {
        linear(g, p, in, gamma, beta, out, rows, mode, null, 0, null);
    }

    /**
     * {@link #linear} on a batch-1 kernel that adds {@link #OUT_IN_ATTENTION}'s parts ({@link #addsParts}): {@code residual} (non-null) where
     * {@link SkinnyGemmKernel#ADD} takes its residual; {@code partCount > 0}: the row is {@code in} plus that many parts of
     * {@link #outParts} and {@code partBias}, and {@link #afterAttention} gets it.
     */
    private void linear(TaskGraph g, Projection p, FloatArray in, FloatArray gamma, FloatArray beta, FloatArray out, int rows, int mode,
                        FloatArray residual, int partCount, FloatArray partBias) {
        int norm = gamma == null ? SkinnyGemmKernel.NO_NORM : llama ? SkinnyGemmKernel.RMS_NORM : SkinnyGemmKernel.LAYER_NORM;
        linear(g, p, in, norm, gamma, beta, out, rows, mode, residual, partCount, partBias);
    }

    /**
     * {@link #linear} with the kernels' {@code norm} given: {@link SkinnyGemmKernel#SWIGLU} makes the input
     * {@code silu(gate)·up} of {@code in}'s rows of gates and ups, inside the projection's kernel where it reads its rows
     * through {@code WideGemvKernel.loadRow}, else by {@link LlamaRowKernels#swiglu} first (into {@link #gated}).
     */
    private void linear(TaskGraph g, Projection p, FloatArray in, int norm, FloatArray gamma, FloatArray beta, FloatArray out, int rows, int mode,
                        FloatArray residual, int partCount, FloatArray partBias) {
        if ((residual != null || partCount > 0) && !(rows == 1 && addsParts(gemv(p))))
            throw new IllegalStateException(p + ": its launch does not add the attention's parts");
        // The LM head (a vocabulary no multiple of 64: no PrefillGemmKernel) goes to SkinnyMmaKernel too where it takes it.
        int skinny = rows >= TENSOR_CORE_ROWS ? skinnyBits(p, rows) : 0;
        boolean wide = rows >= TENSOR_CORE_ROWS && (p.wide() != null || skinny != 0);
        // The INT8 few-row kernel normalises a single row (batch-1 decode) itself, from the one read it makes of it.
        Method gemv = rows == 1 ? gemv(p) : null;   // batch 1: the one-row kernels, where they take the shape
        boolean fusedNorm = rows == 1 && (gemv != null || p.in() <= SkinnyGemmKernel.INT8_ROW_IN_REGISTERS && p.kernel().getName().equals("int8"));
        boolean readsByLoadRow = rows == 1 ? gemv != null && gatedEntry(gemv) != null : wide && wideRows(rows, p.in());
        if (norm == SkinnyGemmKernel.SWIGLU && !(FUSE_SWIGLU && readsByLoadRow)) {   // the gated unit a launch of its own
            g.task(kernel(LlamaRowKernels.class, "swiglu"), LlamaRowKernels.swigluGrid(rows, p.in()), in, gated, rows, p.in());
            repeat(g, "swiglu");
            in = gated;
            norm = SkinnyGemmKernel.NO_NORM;
        }
        String gatedSuffix = norm == SkinnyGemmKernel.SWIGLU ? "Gated" : "";   // the kernels' entries that gate their rows
        if (gemv != null && norm == SkinnyGemmKernel.SWIGLU) gemv = gatedEntry(gemv);
        if (SkinnyGemmKernel.normalises(norm) && !wide && p.scales() != null && !fusedNorm) {
            g.task(kernel(DecoderRowKernels.class, "layerNorm"), RowKernels.grid(rows, p.in()), in, norm, gamma, beta, normed, p.in(), config.normEps());
            in = normed;
            norm = SkinnyGemmKernel.NO_NORM;
        }
        if (!SkinnyGemmKernel.normalises(norm)) {   // γ and β unused by the kernels; any buffer of the graph will do
            gamma = p.bias();
            beta = p.bias();
        }
        float eps = config.normEps();
        if (wide) {
            int splits = PrefillGemmKernel.splits(rows, p.out(), p.in(), mode);
            if (p.scales() == null || p.weightOnly()) {   // FP16 activation rows
                boolean wideRows = wideRows(rows, p.in());
                int order = p.weightOnly() ? DecoderRowKernels.MMA_ORDER : DecoderRowKernels.NATURAL;
                if (wideRows)
                    g.task(kernel(DecoderRowKernels.class, "halfRowsWide" + gatedSuffix), DecoderRowKernels.wideRowsGrid(rows), in, norm, gamma, beta, eps, staged,
                            p.in(), order, earlyRelease(p, skinny, llama));
                else
                    g.task(kernel(DecoderRowKernels.class, "halfRows"), DecoderRowKernels.rowsGrid(rows), in, norm, gamma, beta, eps, staged, p.in(),
                            order);
                if (skinny == 16)
                    g.task(kernel(SkinnyMmaKernel.class, "fp16"), SkinnyMmaKernel.grid(16, p.out(), p.in(), 32 * GEMV_BLOCKS, SKINNY_ONE_WAVE), staged, p.weight(), p.bias(), out, rows,
                            p.out(), p.in(), mode);
                else if (p.weightOnly())
                    g.task(p.wide(), PrefillGemmKernel.grid(rows, p.out(), splits), staged, p.weight(), p.scales(), p.bias(), out, rows, p.out(),
                            p.in(), p.groupSize(), mode, splits, partials, arrivals);
                else
                    g.task(p.wide(), PrefillGemmKernel.grid(rows, p.out(), splits), staged, p.weight(), p.bias(), out, rows, p.out(), p.in(), mode,
                            splits, partials, arrivals);
            } else {
                if (wideRows(rows, p.in()))   // SkinnyMmaKernel.int4 reads the codes in its own order
                    g.task(kernel(DecoderRowKernels.class, "quantizeRowsWide" + gatedSuffix), DecoderRowKernels.wideRowsGrid(rows), in, norm, gamma, beta, eps, staged,
                            stagedScales, p.in(), skinny == 4 ? DecoderRowKernels.PIECE4_ORDER : DecoderRowKernels.NATURAL, earlyRelease(p, skinny, llama));
                else
                    g.task(kernel(DecoderRowKernels.class, "quantizeRows"), DecoderRowKernels.rowsGrid(rows), in, norm, gamma, beta, eps, staged,
                            stagedScales, p.in());
                if (skinny != 0)
                    g.task(kernel(SkinnyMmaKernel.class, skinny == 8 ? "int8" : "int4"), SkinnyMmaKernel.grid(skinny, p.out(), p.in(), 32 * GEMV_BLOCKS, SKINNY_ONE_WAVE),
                            staged, stagedScales, p.weight(), p.scales(), p.bias(), out, rows, p.out(), p.in(), p.groupSize(), mode, SKINNY_PREFETCH ? 1 : 0);
                else
                    g.task(p.wide(), PrefillGemmKernel.grid(rows, p.out(), splits), staged, stagedScales, p.weight(), p.scales(), p.bias(), out,
                            rows, p.out(), p.in(), p.groupSize(), mode, splits, partials, arrivals);
            }
        } else {
            Grid grid = SkinnyGemmKernel.grid(rows, p.out(), COLUMN_BLOCKS);   // the warps loop over the features past it
            if (gemv != null && gemv.getDeclaringClass() == MmaGemvKernel.class) {
                int threads = MmaGemvKernel.threads(p.in(), MMA_THREADS);
                int slices = Math.min(MMA_MAX_SLICES, MmaGemvKernel.slices(p.out(), p.in(), GEMV_BLOCKS, threads));
                g.task(gemv, MmaGemvKernel.grid(p.out(), slices, GEMV_BLOCKS, threads), in, norm, gamma, beta, eps, p.weight(), p.scales(), p.bias(), out,
                        p.out(), p.in(), p.groupSize(), mode, slices, residual != null ? residual : out, outParts, partBias != null ? partBias : p.bias(),
                        partCount, afterAttention);
            } else if (gemv != null && gemv.getDeclaringClass() == WideGemvKernel.class) {
                int bits = gemvBits(p), threads = gemv.getName().equals("int8Half") ? WideGemvKernel.HALF_THREADS : WideGemvKernel.THREADS;
                int blocks = threads == WideGemvKernel.HALF_THREADS ? HALF_BLOCKS : GEMV_BLOCKS;
                int slices = WideGemvKernel.slices(bits, p.out(), p.in(), blocks, threads);
                Grid wideGrid = WideGemvKernel.grid(p.out(), slices, blocks, threads);
                FloatArray resid = residual != null ? residual : out, partsBias = partBias != null ? partBias : p.bias();
                if (bits == 16)
                    g.task(gemv, wideGrid, in, norm, gamma, beta, eps, p.weight(), p.bias(), out, p.out(), p.in(), mode, slices, resid, outParts, partsBias,
                            partCount, afterAttention);
                else if (gemv.getName().startsWith("int4a16"))   // and int4a16Gated
                    g.task(gemv, wideGrid, in, norm, gamma, beta, eps, p.weight(), p.scales(), p.bias(), out, p.out(), p.in(), p.groupSize(), mode, slices,
                            resid, outParts, partsBias, partCount, afterAttention);
                else
                    g.task(gemv, wideGrid, in, norm, gamma, beta, eps, p.weight(), p.scales(), p.bias(), out, p.out(), p.in(), p.groupSize(), mode, slices);
            } else if (gemv != null && p.scales() == null)
                g.task(gemv, grid, in, norm, gamma, beta, eps, p.weight(), p.bias(), out, p.out(), p.in(), mode);
            else if (gemv != null)
                g.task(gemv, grid, in, norm, gamma, beta, eps, p.weight(), p.scales(), p.bias(), out, p.out(), p.in(), p.groupSize(), mode);
            else if (p.scales() == null)
                g.task(p.kernel(), grid, in, norm, gamma, beta, eps, p.weight(), p.bias(), out, rows, p.out(), p.in(), mode);
            else
                g.task(p.kernel(), grid, in, norm, gamma, beta, eps, p.weight(), p.scales(), p.bias(), out, rows, p.out(), p.in(), p.groupSize(), mode);
        }
    }

    /**
     * The batch-1 kernel for one row of {@code p} (W16A16, W8A8, W4A8): {@link WideGemvKernel}'s, else {@link GemvKernel}'s
     * where only it takes the shape, or null (the weight-only formats, shapes neither takes, {@code -Dzq.decoder.gemv=false}):
     * then the few-row kernel runs it.
     */
    private Method gemv(Projection p) {
        int bits = gemvBits(p);
        if (bits == 0) return null;
        String name = p.kernel().getName();
        if (p.weightOnly()) {   // W8A16, W4A16: as weightOnlyGemv says
            String on = weightOnlyGemv.equals("true") ? "wide" : weightOnlyGemv;
            if (!List.of("mma", "wide", "false").contains(on))
                throw new IllegalArgumentException("zq.decoder.weightOnlyGemv is mma, wide (true) or false, not " + weightOnlyGemv);
            if (on.equals("mma") && (bits == 8 ? MmaGemvKernel.fits(p.in(), p.groupSize()) : MMA_INT4 && MmaGemvKernel.fits4(p.in(), p.groupSize())
                    && MmaGemvKernel.oneBatchAWarp(p.out(), p.in(), GEMV_BLOCKS, MmaGemvKernel.threads(p.in(), MMA_THREADS))))
                return kernel(MmaGemvKernel.class, name);
            return (on.equals("wide") || on.equals("mma")) && WideGemvKernel.fits(bits, p.in(), p.groupSize()) ? kernel(WideGemvKernel.class, name) : null;
        }
        if (GEMV.equals("wide") && WideGemvKernel.fits(bits, p.in(), p.groupSize()))
            return kernel(WideGemvKernel.class, !name.equals("int8") ? name : BULK_WEIGHTS ? "int8Bulk"
                    : WIDE_THREADS == WideGemvKernel.HALF_THREADS && p.in() <= WideGemvKernel.HALF_MAX_K ? "int8Half" : name);
        return !GEMV.equals("false") && GemvKernel.fits(bits, p.in(), p.groupSize()) ? kernel(GemvKernel.class, name) : null;
    }

    /**
     * The entry of batch-1 kernel {@code gemv} that reads rows of gates and ups ({@link SkinnyGemmKernel#SWIGLU}: its name
     * and {@code Gated}), or null where it has none (GemvKernel's, and the opt-in int8Bulk and int8Half).
     */
    private static Method gatedEntry(Method gemv) {
        Class<?> owner = gemv.getDeclaringClass();
        String name = gemv.getName() + "Gated";
        return Arrays.stream(owner.getDeclaredMethods()).anyMatch(m -> m.getName().equals(name)) ? kernel(owner, name) : null;
    }

    /** The weight bits of {@code p}'s batch-1 kernel (16, 8, 4), from its few-row kernel's name. */
    private static int gemvBits(Projection p) {
        String name = p.kernel().getName();
        return name.equals("fp16") ? 16 : name.startsWith("int8") ? 8 : name.startsWith("int4") ? 4 : 0;
    }

    /** {@code linear}'s weights as the kernels read them; anything the kernels cannot run is refused by name. */
    private Projection projection(String name, Linear linear) { return projection(name, List.of(linear)); }

    /**
     * The projections {@code parts} (of one input) stacked into one, their output features one after another — LLaMA's
     * q, k and v, its gate and up — so that one launch computes them all: they must share a format (all FP32, or the same
     * weight bits, group size and activation quantizer; with token-wise INT8 activations each part quantizes the same input
     * row the same way, so the stacked GEMM gives each part's own result).
     */
    private Projection projection(String name, List<Linear> parts) {
        Linear linear = parts.getFirst();
        int in = linear.inFeatures(), out = 0;
        for (Linear part : parts) {
            if (part.inFeatures() != in || !sameFormat(part, linear))
                throw new IllegalArgumentException(name + ": the GPU decoder runs these projections as one launch, so they need one format; "
                        + describe(linear) + " and " + describe(part) + " differ");
            out += part.outFeatures();
        }
        FloatArray bias = FloatArray.allocate(arena, out);
        weightBuffers.add(bias);
        if (linear instanceof DenseLinear) {
            if (in % 8 != 0) throw new IllegalArgumentException(name + ": FP16 weights on the GPU need an input size that is a multiple of 8 (16-byte loads), not " + in);
            IntArray w = IntArray.allocate(arena, out * in / 2);
            int row = 0;
            for (Linear part : parts) {
                DenseLinear d = (DenseLinear) part;
                if (d.bias() != null) MemorySegment.copy(d.bias().segment(), 0, bias.segment(), 4L * row, 4L * d.outFeatures());
                HalfRows.pack(d.weight(), w, row);
                row += d.outFeatures();
            }
            weightBuffers.add(w);
            Method wide = in % 64 == 0 && out % 64 == 0 ? kernel(PrefillGemmKernel.class, "fp16") : null;
            return new Projection(kernel(SkinnyGemmKernel.class, "fp16"), wide, w, null, in, bias, in, out, false);
        }
        if (linear instanceof QuantizedLinear q && (q.activations() == null || q.activations() instanceof TokenwiseQuantizer)
                && (q.weight().bits() == 8 || q.weight().bits() == 4)) {
            QuantizedWeight qw = q.weight();
            int multiple = qw.bits() == 8 ? 4 : 32;   // INT4: Int4Words' 32-code chunks
            int inMultiple = qw.bits() == 8 && q.activations() != null ? 16 : multiple;   // the W8A8 few-row kernel's 16-byte loads
            if (in % inMultiple != 0 || qw.groupSize() % multiple != 0)
                throw new IllegalArgumentException(name + ": INT" + qw.bits() + " weights on the GPU need an input size that is a multiple of "
                        + inMultiple + " and a group size that is a multiple of " + multiple + ", not " + in + " and " + qw.groupSize());
            IntArray w = IntArray.allocate(arena, (int) ((long) out * in * qw.bits() / 32));
            FloatArray scales = FloatArray.allocate(arena, out * qw.groupsPerRow());
            int row = 0;
            for (Linear part : parts) {
                QuantizedLinear pq = (QuantizedLinear) part;
                QuantizedWeight pw = pq.weight();
                if (pq.bias() != null) MemorySegment.copy(pq.bias().segment(), 0, bias.segment(), 4L * row, 4L * pq.outFeatures());
                if (qw.bits() == 8) MemorySegment.copy(pw.codes().segment(), 0, w.segment(), (long) row * in, (long) pq.outFeatures() * in);
                else Int4Words.pack(pw.codes(), w, row);
                MemorySegment.copy(pw.scales().segment(), 0, scales.segment(), 4L * row * qw.groupsPerRow(), 4L * pq.outFeatures() * qw.groupsPerRow());
                row += pq.outFeatures();
            }
            weightBuffers.add(w);
            weightBuffers.add(scales);
            String bits = qw.bits() == 8 ? "int8" : "int4";
            boolean weightOnly = q.activations() == null;   // W8A16, W4A16: FP16 activations
            String variant = weightOnly ? bits + "a16" : bits;
            Method wide = in % 64 == 0 && out % 64 == 0 && qw.groupSize() % 32 == 0 ? kernel(PrefillGemmKernel.class, variant) : null;
            return new Projection(kernel(SkinnyGemmKernel.class, variant), wide, w, scales, qw.groupSize(), bias, in, out, weightOnly);
        }
        throw new IllegalArgumentException(name + ": the GPU decoder runs FP32 projections as W16A16, and INT8 or INT4 weights with token-wise"
                + " INT8 activations or weight-only (FP16 activations); this one is " + describe(linear));
    }

    /** Whether {@code a} and {@code b} are both FP32, or quantized alike (bits, group size, activation quantizer's kind). */
    private static boolean sameFormat(Linear a, Linear b) {
        if (a instanceof DenseLinear && b instanceof DenseLinear) return true;
        return a instanceof QuantizedLinear qa && b instanceof QuantizedLinear qb && qa.weight().bits() == qb.weight().bits()
                && qa.weight().groupSize() == qb.weight().groupSize()
                && (qa.activations() == null ? qb.activations() == null : qb.activations() != null && qa.activations().getClass() == qb.activations().getClass());
    }

    private static String describe(Linear lin) {
        if (lin instanceof QuantizedLinear q)
            return "INT" + q.weight().bits() + " weights with " + (q.activations() == null ? "FP activations (weight-only)" : q.activations().getClass().getSimpleName());
        return lin.getClass().getSimpleName();
    }

    private FloatArray floats(Tensor t) {
        if (t == null || t.dtype() != DType.F32) throw new IllegalArgumentException("expected an F32 tensor, got " + t);
        FloatArray f = FloatArray.view(t);
        weightBuffers.add(f);
        return f;
    }

    private static Method kernel(Class<?> owner, String name) { return KernelCompiler.find(owner, name); }

    public ExecutionPlan prefillPlan() { return prefill; }
    public ExecutionPlan decodePlan() { return decode; }

    /**
     * Runs the prompts ({@code [batch, promptLength]} row-major) from an empty cache; the first new token of each
     * sequence is then {@code token(b, 0)}.
     */
    public void prefill(int[] tokens) throws Exception {
        if (tokens.length != batch * promptLength)
            throw new IllegalArgumentException(tokens.length + " tokens given for " + batch + " x " + promptLength);
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] < 0 || tokens[i] >= config.vocabSize())
                throw new IllegalArgumentException("token id " + tokens[i] + " at " + i + " outside the vocabulary of " + config.vocabSize());
            prompt.set(i, tokens[i]);
        }
        prefill.execute();
        prefilled = true;
        steps = 1;
    }

    /** One decode step: the last new token of each sequence goes in, the next one comes out. */
    public void step() throws Exception { step(1); }

    /**
     * {@code count} decode steps back to back: the tokens stay on the device between them and the host waits once, at
     * the end (one graph launch after another), instead of once a step as {@link #step()} does for streaming.
     */
    public void step(int count) throws Exception {
        if (!prefilled) throw new IllegalStateException("prefill a prompt before decoding");
        if (count <= 0) throw new IllegalArgumentException("count must be positive, got " + count);
        if (steps + count > maxNewTokens)
            throw new IllegalStateException("the graph was built for " + maxNewTokens + " new tokens; " + steps + " made, " + count + " more asked");
        int runs = decodeRun == null ? 0 : count / runSteps;
        if (runs > 0) decodeRun.execute(runs);
        if (count - runs * runSteps > 0) decode.execute(count - runs * runSteps);
        steps += count;
    }

    /**
     * For benchmarks: the device time of {@code count} decode steps replayed back to back as {@link #step(int)} runs them
     * (graphs of {@link #STEPS_PER_GRAPH} steps, the rest one a graph), in ms; what they compute is discarded (the cache
     * positions move on past what was generated). {@link #step(int)} must have run both kinds first, as
     * {@link #generate} does when its steps are not a multiple of the graph's.
     */
    public double replayDecodeMillis(int count) throws Exception {
        if (count <= 0) throw new IllegalArgumentException("count must be positive, got " + count);
        int runs = decodeRun == null ? 0 : count / runSteps, rest = count - runs * runSteps;
        return (runs > 0 ? decodeRun.replayMillis(runs) : 0) + (rest > 0 ? decode.replayMillis(rest) : 0);
    }

    /** New token {@code i} of sequence {@code b}; a row whose logits were all NaN or −∞ is reported here. */
    public int token(int b, int i) {
        if (i >= steps) throw new IllegalArgumentException("token " + i + " is not generated yet (" + steps + " so far)");
        int t = generated.get(b * maxNewTokens + i);
        if (t < 0) throw new IllegalStateException("sequence " + b + ", new token " + i + ": the logits were all NaN or -inf");
        return t;
    }

    /** The logits {@code [batch, vocab]} of the latest step (only with {@code keepLogits}). */
    public Tensor logits(Arena out) {
        Tensor t = Tensor.allocate(out, DType.F32, batch, config.vocabSize());
        MemorySegment.copy(logits.segment(), 0, t.segment(), 0, t.byteSize());
        return t;
    }

    /** Greedy generation: {@code maxNewTokens} new tokens for each prompt, {@code [batch][maxNewTokens]}; the steps back to back. */
    public int[][] generate(int[] tokens) throws Exception {
        prefill(tokens);
        if (steps < maxNewTokens) step(maxNewTokens - steps);
        int[][] out = new int[batch][maxNewTokens];
        for (int b = 0; b < batch; b++) for (int i = 0; i < maxNewTokens; i++) out[b][i] = token(b, i);
        return out;
    }

    @Override
    public void close() throws Exception {
        try (ExecutionPlan run = decodeRun) {
            decode.close();
        } finally {
            try {
                prefill.close();
            } finally {
                arena.close();
            }
        }
    }
}
