package dev.zq.quant.gpu;

import dev.zq.kernels.AttentionKernel;
import dev.zq.kernels.GemmTiles;
import dev.zq.kernels.Int4Words;
import dev.zq.kernels.Int8GemmNormKernel;
import dev.zq.kernels.PrefillGemmKernel;
import dev.zq.kernels.ExactAttentionKernel;
import dev.zq.kernels.RowKernels;
import dev.zq.kernels.TokenwiseGemmKernel;
import dev.zq.model.DenseLinear;
import dev.zq.model.Linear;
import dev.zq.model.bert.BertConfig;
import dev.zq.model.bert.BertEncoder;
import dev.zq.model.bert.BertLayer;
import dev.zq.quant.QuantizedLinear;
import dev.zq.quant.QuantizedWeight;
import dev.zq.quant.TokenwiseQuantizer;
import dev.zq.runtime.Device;
import dev.zq.runtime.ExecutionPlan;
import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.KernelBuffer;
import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.TaskGraph;
import dev.zq.runtime.TaskGraph.Transfer;
import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Method;
import java.util.List;

/**
 * A BERT encoder as one {@link TaskGraph} of the project's JIT-compiled kernels, for a fixed batch and (padded)
 * sequence length: on a GPU it is captured once as a CUDA graph and replayed per call; on the CPU the executor runs
 * the same kernels. The precision is the encoder's layers':
 * <ul>
 * <li><b>W16A16</b> (every projection a {@link DenseLinear}): FP16 weights and activations, FP16 tensor-core GEMMs
 * with bias (and GeLU) in their epilogue.</li>
 * <li><b>W8A8</b> (every projection a {@link QuantizedLinear} with INT8 per-row weights and token-wise INT8
 * activations, ZeroQuant's): the INT8 GEMM with dequantization, bias and GeLU fused into its epilogue; LayerNorm
 * fused with the residual add and the token-wise quantization of its output; the attention context and the MLP
 * activation quantized by their own row kernel, because their rows span many blocks of the kernel that writes them
 * (a switch, {@link #QUANTIZE_IN_GEMM}, has the GEMM that reads them quantize them in its prologue instead, from the
 * largest magnitudes that those blocks write beside their outputs: {@link TokenwiseGemmKernel}; slower).</li>
 * <li><b>W8A8 with group-wise weights, and W4/8A8</b> ({@link Precision#W4_8A8}: ZeroQuant's mixed precision, INT4 weights in
 * the MLP, INT8 in the attention), where a projection's weights have a scale a group of inputs: as W8A8, that projection on
 * {@link PrefillGemmKernel#int8Halves} or {@link PrefillGemmKernel#int4Halves} (each group's products summed exactly in INT32
 * and scaled once, the INT4 codes unpacked in registers; K split until the output tiles fill the GPU).</li>
 * </ul>
 * In all, attention runs in FP16 on tensor cores ({@link AttentionKernel}) — or, built with {@code exactAttention}, on
 * CUDA cores in FP32 in an order the CPU executor follows ({@link ExactAttentionKernel}) — and the residual stream is FP16. One
 * layer reads top to bottom in {@link #addLayer}. The q, k and v projections become one GEMM (their weights
 * stacked), whose output the attention kernel reads in place.
 *
 * <p>Shapes: hidden and intermediate sizes multiples of 64, head size 32 or 64; sequences are padded to a multiple
 * of 64 (padding is masked and dropped from the output).
 */
public final class BertTaskGraph implements AutoCloseable {
    /**
     * W16A16: FP16 weights and activations. W8A8: INT8 weights (per row or in groups) and token-wise INT8 activations.
     * W4_8A8 (ZeroQuant's W4/8A8): as W8A8, with INT4 weights in groups in some projections (the scheme's: the MLP's).
     */
    public enum Precision { W16A16, W8A8, W4_8A8 }

    private final BertConfig config;
    private final Precision precision;
    private final boolean exactAttention;
    private final List<String> normInGemm;   // NORM_IN_GEMM, or a test's choice
    private final Weights weights;
    private final boolean ownsWeights;
    private final int batch, seq, paddedSeq, rows;
    private final IntArray ids, types, mask, hidden;
    private final TaskGraph graph;
    private final ExecutionPlan plan;
    private final GemmTiles tiles;
    private final Arena arena;
    // Activations, FP16 rows viewed as ints (two halves each) or INT8 codes (four each), and row scales.
    private final IntArray h1, qkv, context, projected, mlp, hq, h1q, contextQ, mlpQ;
    private final FloatArray hScale, h1Scale, contextScale, mlpScale;
    private final FloatArray noScales;
    private final IntArray noCodes;
    private final IntArray partials, arrivals;   // the split-K GEMMs' parts (GemmTiles.Choice#splits) and counts
    private final FloatArray groupPartials;      // the group-wise GEMMs' parts (PrefillGemmKernel#splitsToFill)
    // Whether every projection has INT8 weights with one scale a row: the fused GEMMs (NORM_IN_GEMM, QUANTIZE_IN_GEMM) need it.
    private final boolean perRowInt8;
    // The token-wise GEMMs (TokenwiseGemmKernel): K's splits for the output, up and down projections (0: not used), and
    // the largest magnitudes of the attention context's and the MLP activation's rows.
    private final int outSplits, upSplits, downSplits, contextStride, mlpStride;
    private final IntArray contextMags, mlpMags;

    private BertTaskGraph(Weights weights, boolean ownsWeights, int batch, int seq, Device device, boolean exactAttention, List<String> normInGemm,
                          String quantizeInGemm) {
        this.weights = weights;
        this.exactAttention = exactAttention;
        this.normInGemm = normInGemm;
        this.ownsWeights = ownsWeights;
        this.config = weights.config;
        this.precision = weights.precision;
        this.batch = batch;
        this.seq = seq;
        this.paddedSeq = Math.ceilDiv(seq, 64) * 64;
        int h = config.hiddenSize(), inter = config.intermediateSize();
        if (batch <= 0 || seq <= 0) throw new IllegalArgumentException("empty batch: " + batch + " x " + seq);
        if (paddedSeq > config.maxPositions())
            throw new IllegalArgumentException(seq + " tokens pad to " + paddedSeq + ", beyond the model's " + config.maxPositions() + " positions");
        if (exactAttention && paddedSeq > ExactAttentionKernel.MAX_SEQ)
            throw new IllegalArgumentException("the exact attention holds " + ExactAttentionKernel.MAX_SEQ + " keys, not " + paddedSeq);
        this.rows = batch * paddedSeq;
        this.arena = Arena.ofShared();
        this.tiles = new GemmTiles(device);
        boolean int8 = precision != Precision.W16A16;   // token-wise INT8 activations
        this.perRowInt8 = int8 && weights.layers.stream().allMatch(l -> java.util.stream.IntStream.range(0, 4).noneMatch(s -> l.projection(s).grouped()));
        ids = IntArray.allocate(arena, rows);
        types = IntArray.allocate(arena, rows);
        mask = IntArray.allocate(arena, rows);
        hidden = IntArray.allocate(arena, rows * h / 2);
        h1 = IntArray.allocate(arena, rows * h / 2);
        qkv = IntArray.allocate(arena, rows * 3 * h / 2);
        context = IntArray.allocate(arena, rows * h / 2);
        projected = IntArray.allocate(arena, rows * h / 2);
        mlp = IntArray.allocate(arena, rows * inter / 2);
        noCodes = IntArray.allocate(arena, 1);
        noScales = FloatArray.allocate(arena, 1);
        hq = int8 ? IntArray.allocate(arena, rows * h / 4) : noCodes;
        h1q = int8 ? IntArray.allocate(arena, rows * h / 4) : noCodes;
        contextQ = int8 ? IntArray.allocate(arena, rows * h / 4) : noCodes;
        mlpQ = int8 ? IntArray.allocate(arena, rows * inter / 4) : noCodes;
        hScale = int8 ? FloatArray.allocate(arena, rows) : noScales;
        h1Scale = int8 ? FloatArray.allocate(arena, rows) : noScales;
        contextScale = int8 ? FloatArray.allocate(arena, rows) : noScales;
        mlpScale = int8 ? FloatArray.allocate(arena, rows) : noScales;
        // The GEMM tiles are chosen before the graph is built: a choice that splits K needs scratch for its parts.
        long partialInts = 1, groupFloats = 1;
        int arrivalInts = 1;
        int[][] shapes = {{3 * h, h}, {h, h}, {inter, h}, {h, inter}};
        for (int p = 0; p < shapes.length; p++) {
            int n = shapes[p][0], k = shapes[p][1], slot = p;
            if (weights.layers.stream().anyMatch(l -> !l.projection(slot).grouped())) {
                GemmTiles.Choice c = tiles.choose(int8 ? GemmTiles.Precision.INT8 : GemmTiles.Precision.FP16, rows, n, k);
                partialInts = Math.max(partialInts, c.partialInts());
                arrivalInts = Math.max(arrivalInts, c.arrivalInts());
            }
            if (weights.layers.stream().anyMatch(l -> l.projection(slot).grouped())) {
                int splits = PrefillGemmKernel.splitsToFill(rows, n, k);
                if (splits > 1) groupFloats = Math.max(groupFloats, 4096L * PrefillGemmKernel.grid(rows, n, splits).groupsX());
                arrivalInts = Math.max(arrivalInts, PrefillGemmKernel.grid(rows, n, 1).groupsX());
            }
        }
        // Where the output and down projections quantize their own inputs (QUANTIZE_IN_GEMM), and the up projection then
        // writes its outputs' magnitudes.
        outSplits = perRowInt8 && !normInGemm("out") ? tokenwiseSplits(quantizeInGemm, h, h) : 0;
        downSplits = perRowInt8 && !normInGemm("down") ? tokenwiseSplits(quantizeInGemm, h, inter) : 0;
        GemmTiles.Choice up = perRowInt8 ? tiles.choose(GemmTiles.Precision.INT8, rows, inter, h) : null;
        upSplits = downSplits == 0 ? 0 : up.kernel().getName().equals("gemm64kd") ? up.splits() : 1;
        for (int[] nks : new int[][]{{h, outSplits}, {inter, upSplits}, {h, downSplits}}) {
            int outTiles = (rows / 64) * (nks[0] / 64);
            if (nks[1] > 1) partialInts = Math.max(partialInts, 4096L * outTiles * nks[1]);
            arrivalInts = Math.max(arrivalInts, outTiles);
        }
        partials = IntArray.allocate(arena, Math.toIntExact(partialInts));
        arrivals = IntArray.allocate(arena, arrivalInts);
        groupPartials = FloatArray.allocate(arena, Math.toIntExact(groupFloats));
        contextStride = TokenwiseGemmKernel.stride(config.numHeads());
        mlpStride = TokenwiseGemmKernel.stride(inter / 32);
        contextMags = IntArray.allocate(arena, rows * contextStride);   // zeroes: the parts past the heads stay 0
        mlpMags = downSplits > 0 ? IntArray.allocate(arena, rows * mlpStride) : noCodes;

        graph = new TaskGraph("bert-" + precision.name().toLowerCase() + "-" + batch + "x" + paddedSeq)
                .transferToDevice(Transfer.EVERY_EXECUTION, ids, types, mask)
                .transferToDevice(Transfer.FIRST_EXECUTION, arrivals)   // zeroes, which every launch leaves as it found them
                .transferToDevice(Transfer.FIRST_EXECUTION, contextMags, mlpMags);   // zeroes in the parts past the row's
        graph.transferToDevice(Transfer.FIRST_EXECUTION, weights.buffers().toArray(KernelBuffer[]::new));
        graph.task(kernel(RowKernels.class, "embedLayerNorm"), RowKernels.grid(rows, h), ids, types, weights.words, weights.positions, weights.typeTable,
                weights.embeddingGamma, weights.embeddingBeta, hidden, hq, hScale, rows, paddedSeq, h, config.layerNormEps(), int8 ? 1 : 0);
        for (LayerWeights layer : weights.layers) addLayer(layer);
        graph.transferToHost(Transfer.EVERY_EXECUTION, hidden);
        plan = device.plan(graph);
    }

    /**
     * The graph for {@code encoder} at {@code batch} sequences of {@code seq} tokens on {@code device}; weights go to
     * the device on the first call. The encoder's weights must outlive the graph.
     */
    public static BertTaskGraph build(BertEncoder encoder, int batch, int seq, Device device) {
        return new BertTaskGraph(Weights.of(encoder), true, batch, seq, device, false, NORM_IN_GEMM, QUANTIZE_IN_GEMM);
    }

    /**
     * As {@link #build(BertEncoder, int, int, Device)}; with {@code exactAttention} the attention runs on CUDA cores in
     * an order the CPU executor follows ({@link ExactAttentionKernel}) instead of on tensor cores, so that a W8A8 graph
     * gives the same bits on the GPU as on the CPU executor (the tensor cores' FP16 sums differ from any CPU's in the
     * last bits, which token-wise INT8 quantization downstream amplifies).
     */
    public static BertTaskGraph build(BertEncoder encoder, int batch, int seq, Device device, boolean exactAttention) {
        return new BertTaskGraph(Weights.of(encoder), true, batch, seq, device, exactAttention, NORM_IN_GEMM, QUANTIZE_IN_GEMM);
    }

    /** A graph over weights prepared once ({@link Weights#of}) and shared with other graphs; closing it leaves them. */
    public static BertTaskGraph build(Weights weights, int batch, int seq, Device device) {
        return new BertTaskGraph(weights, false, batch, seq, device, false, NORM_IN_GEMM, QUANTIZE_IN_GEMM);
    }

    /** As {@link #build(Weights, int, int, Device)}, with the exact attention where {@code exactAttention}. */
    public static BertTaskGraph build(Weights weights, int batch, int seq, Device device, boolean exactAttention) {
        return new BertTaskGraph(weights, false, batch, seq, device, exactAttention, NORM_IN_GEMM, QUANTIZE_IN_GEMM);
    }

    /** As {@link #build(BertEncoder, int, int, Device, boolean)}, with the projections that take their LayerNorm named (tests). */
    static BertTaskGraph build(BertEncoder encoder, int batch, int seq, Device device, boolean exactAttention, List<String> normInGemm) {
        return new BertTaskGraph(Weights.of(encoder), true, batch, seq, device, exactAttention, normInGemm, QUANTIZE_IN_GEMM);
    }

    /** As {@link #build(BertEncoder, int, int, Device, boolean)}, with {@link #QUANTIZE_IN_GEMM}'s choice given (tests). */
    static BertTaskGraph build(BertEncoder encoder, int batch, int seq, Device device, boolean exactAttention, String quantizeInGemm) {
        return new BertTaskGraph(Weights.of(encoder), true, batch, seq, device, exactAttention, NORM_IN_GEMM, quantizeInGemm);
    }

    /** One BERT layer: attention with its residual and LayerNorm, then the MLP with its residual and LayerNorm. */
    private void addLayer(LayerWeights l) {
        int h = config.hiddenSize(), inter = config.intermediateSize(), hd = config.headDim();
        // Self-attention: one GEMM for q, k and v, attention in FP16, the output projection.
        gemm(l.qkv(), hidden, hq, hScale, qkv, 3 * h, h, false);
        if (exactAttention)
            graph.task(kernel(ExactAttentionKernel.class, "attention"), ExactAttentionKernel.grid(batch, paddedSeq, config.numHeads()), qkv, mask, context,
                    paddedSeq, config.numHeads(), hd, (float) (1 / Math.sqrt(hd)), 0, contextMags, contextStride);
        else
            graph.task(kernel(AttentionKernel.class, hd == 64 ? "attention64" : "attention32"),
                    Grid.of((paddedSeq / 64) * config.numHeads() * batch, 128), qkv, mask, context, paddedSeq, config.numHeads(),
                    (float) (1 / Math.sqrt(hd)), 0, contextMags, contextStride);
        projectBack("out", l.out(), context, contextQ, contextScale, contextMags, contextStride, outSplits, h, hidden, l.norm1Gamma(), l.norm1Beta(),
                h1, h1q, h1Scale);
        // MLP: up-projection with bias and GeLU in the epilogue, down-projection, residual and LayerNorm.
        if (upSplits > 0)
            graph.task(kernel(TokenwiseGemmKernel.class, "gemm64kdm"), Grid.of((rows / 64) * (inter / 64) * upSplits, 128), h1q, l.up().weight(),
                    h1Scale, l.up().scales(), l.up().bias(), mlp, mlpMags, mlpStride, rows, inter, h, 1, upSplits, partials, arrivals);
        else gemm(l.up(), h1, h1q, h1Scale, mlp, inter, h, true);
        projectBack("down", l.down(), mlp, mlpQ, mlpScale, mlpMags, mlpStride, downSplits, inter, h1, l.norm2Gamma(), l.norm2Beta(), hidden, hq, hScale);
    }

    /**
     * A projection back to the hidden size and what follows it: {@code out = LayerNorm(x·Wᵀ + b + residual)} as FP16 rows
     * with its token-wise {@code codes} and {@code scales}, from the FP16 rows {@code x} of {@code k} inputs. W8A8 quantizes
     * x into {@code xq} and {@code xScale} first, or (with {@code splits} > 0) the GEMM does from x's magnitudes
     * ({@link TokenwiseGemmKernel}); {@code which} ("out", "down") names it for {@link #NORM_IN_GEMM}.
     */
    private void projectBack(String which, Projection w, IntArray x, IntArray xq, FloatArray xScale, IntArray mags, int stride, int splits, int k,
                             IntArray residual, FloatArray gamma, FloatArray beta, IntArray out, IntArray codes, FloatArray scales) {
        int h = config.hiddenSize();
        boolean int8 = precision != Precision.W16A16;
        if (int8 && !OMIT.contains("quantize") && splits == 0) quantize(x, xq, xScale, k);
        if (normInGemm(which)) {
            gemmNorm(w, xq, xScale, residual, gamma, beta, out, codes, scales, k);
            return;
        }
        if (splits > 0) gemmTokenwise(w, x, mags, stride, projected, h, k, splits);
        else gemm(w, x, xq, xScale, projected, h, k, false);
        if (OMIT.contains("norm")) return;
        if (rows >= WARP_NORM_ROWS && h <= 1024 && h % 8 == 0) {
            graph.task(kernel(RowKernels.class, "residualLayerNormByWarp"), RowKernels.warpNormGrid(rows, h, warpRowsPerBlock()), projected, residual,
                    gamma, beta, out, codes, scales, rows, h, config.layerNormEps(), int8 ? 1 : 0, warpRowsPerBlock());
        } else graph.task(kernel(RowKernels.class, "residualLayerNorm"), RowKernels.grid(rows, h), projected, residual, gamma, beta, out, codes, scales,
                rows, h, config.layerNormEps(), int8 ? 1 : 0);
    }

    /**
     * Where the W8A8 output and down projections take FP16 rows and quantize them token-wise themselves
     * ({@link TokenwiseGemmKernel#gemm64kdq}) instead of after a {@code quantizeRows} launch: {@code -Dzq.bert.quantizeInGemm=}
     * {@code auto} (where the tile picked for the shape is {@code gemm64kd}, the small-batch one whose main loop and
     * splits of K they share), {@code all} (wherever a block's slice of K fits; for tests), or {@code none}, the default.
     * Same bits either way. Measured on an H200 (bench/RESULTS.md, session 30): slower than the separate launches —
     * bert-base s128 batch 1 0.61 → 0.70 ms with {@code auto} — because every block of a row's tiles quantizes the same
     * rows again before its main loop can start; so it stays a switch for measurements.
     */
    static final String QUANTIZE_IN_GEMM = System.getProperty("zq.bert.quantizeInGemm", "none");

    /**
     * The most 64-byte slices of K a block of the token-wise GEMMs takes, K split further where the picked tile's
     * slices are more: {@code -Dzq.bert.tokenwiseSlices=N} (default 16, the most a block holds; a measuring switch).
     */
    static final int TOKENWISE_SLICES = Integer.getInteger("zq.bert.tokenwiseSlices", 16);

    /** K's splits for a token-wise GEMM of {@code n × k} under {@code mode} ({@link #QUANTIZE_IN_GEMM}), 0 where it is not used. */
    private int tokenwiseSplits(String mode, int n, int k) {
        if (!mode.equals("auto") && !mode.equals("all")) {
            if (mode.equals("none")) return 0;
            throw new IllegalArgumentException("zq.bert.quantizeInGemm is auto, all or none, not " + mode);
        }
        GemmTiles.Choice c = tiles.choose(GemmTiles.Precision.INT8, rows, n, k);
        boolean deep = c.kernel().getName().equals("gemm64kd");
        if (!deep && mode.equals("auto")) return 0;
        // At least the picked tile's splits; more where a block's slice of K would take more than TOKENWISE_SLICES slices
        // (each block quantizes all of its slice: more slices a block, more of that work repeated across the row's blocks).
        for (int splits = deep ? c.splits() : 1; splits <= 16; splits++)
            if (k % (64 * splits) == 0 && k / splits <= 64 * Math.min(TOKENWISE_SLICES, TokenwiseGemmKernel.MAX_SLICES)) return splits;
        return 0;
    }

    /** {@code y = x·Wᵀ + b} from the FP16 rows {@code x} and their magnitudes, quantized token-wise inside the GEMM. */
    private void gemmTokenwise(Projection w, IntArray x, IntArray mags, int stride, IntArray y, int n, int k, int splits) {
        graph.task(kernel(TokenwiseGemmKernel.class, "gemm64kdq"), TokenwiseGemmKernel.grid(rows, n, k, splits), x, mags, stride, w.weight(), w.scales(),
                w.bias(), y, rows, n, k, 0, splits, partials, arrivals);
    }

    /**
     * Which W8A8 projections back to the hidden size take their residual add, LayerNorm and token-wise quantization into
     * the GEMM ({@link Int8GemmNormKernel}: a row tile's blocks as one thread-block cluster) instead of a launch of their
     * own: {@code -Dzq.bert.normInGemm=out,down} (the attention's output projection, the MLP's down projection); by
     * default none. Only where a cluster holds a row (hidden size 768 or 1024) and the rows fill whole 64-row tiles.
     * Measured on an H200 (bench/RESULTS.md, session 29): slower than the two launches it replaces — bert-base s128
     * batch 1 0.607–0.615 → 0.618–0.631 ms with the output projection's, 0.75 ms with both (the down projection then
     * loses its split K) — so it stays a switch for measurements.
     */
    static final List<String> NORM_IN_GEMM = List.of(System.getProperty("zq.bert.normInGemm", "none").split(","));

    /** The kernels of one forward pass, by name, in launch order (for tests). */
    List<String> kernelNames() { return graph.tasks().stream().map(t -> t.kernel().getName()).toList(); }

    private boolean normInGemm(String projection) {
        int h = config.hiddenSize();
        return perRowInt8 && normInGemm.contains(projection) && (h == 768 || h == 1024) && rows % 64 == 0
                && !OMIT.contains("norm");
    }

    /**
     * {@code out = LayerNorm(x·Wᵀ + b + residual)} with its token-wise codes and scales, in one cluster launch
     * ({@link Int8GemmNormKernel}) from the codes {@code xq} and scales of x; {@code k} inputs.
     */
    private void gemmNorm(Projection w, IntArray xq, FloatArray xScale, IntArray residual, FloatArray gamma, FloatArray beta, IntArray out,
                          IntArray codes, FloatArray scales, int k) {
        int h = config.hiddenSize();
        graph.task(kernel(Int8GemmNormKernel.class, "gemm64ln" + h / 64), Grid.of((rows / 64) * (h / 64), Int8GemmNormKernel.THREADS), xq, w.weight(), xScale, w.scales(),
                w.bias(), residual, gamma, beta, out, codes, scales, rows, h, k, config.layerNormEps());
    }

    /**
     * For measurement only: {@code -Dzq.bert.omit=quantize,norm} leaves out of every layer the two token-wise
     * quantizations and/or the two residual + LayerNorm launches, so that a bench's time less the full graph's is what
     * those launches cost inside the graph (the outputs are then wrong).
     */
    static final List<String> OMIT = List.of(System.getProperty("zq.bert.omit", "").split(","));

    /**
     * Rows from which the token-wise quantization takes a warp per row ({@link RowKernels#quantizeRowsByWarp}) instead of a
     * block: {@code -Dzq.bert.warpQuantizeRows=N} (default 4096; both give the same codes). H200, bert-base s128, the 24
     * quantizations of a forward pass: at 16,384 rows 1.83 ms against 2.84 ms; at 128 rows 0.30 ms against 0.13 ms even
     * with a warp a block (a lane walks its chunks one after another), and the graph at 1,024 rows 1.37 against 1.30 ms.
     */
    static final int WARP_QUANTIZE_ROWS = Integer.getInteger("zq.bert.warpQuantizeRows", 4096);

    /**
     * Rows from which the residual LayerNorms take a warp per row ({@link RowKernels#residualLayerNormByWarp}, hidden
     * sizes up to 1,024) instead of a block: {@code -Dzq.bert.warpNormRows=N} (default 4096, as the quantization's). H100,
     * session 56, the LayerNorms of a batch-128 pass: bert-base's 24 1.528 → 1.317 ms, bert-large's 48 4.11 → 3.25; at
     * 4,096 rows the whole pass was level within the rounds' spread; fewer rows not measured.
     */
    static final int WARP_NORM_ROWS = Integer.getInteger("zq.bert.warpNormRows", 4096);

    /** Rows a block of the warp-per-row kernels: few rows get a warp a block, so that they spread over the SMs. */
    private int warpRowsPerBlock() {
        return Math.clamp(rows / 1024, 1, 8);
    }

    /** Token-wise INT8 codes and row scales of the FP16 rows {@code x} of {@code n} elements. */
    private void quantize(IntArray x, IntArray codes, FloatArray scales, int n) {
        if (rows >= WARP_QUANTIZE_ROWS)
            graph.task(kernel(RowKernels.class, "quantizeRowsByWarp"), RowKernels.warpGrid(rows, n, warpRowsPerBlock()), x, codes, scales, rows, n,
                    warpRowsPerBlock());
        else graph.task(kernel(RowKernels.class, "quantizeRows"), RowKernels.grid(rows, n), x, codes, scales, rows, n);
    }

    /**
     * Weights of one projection as the kernels read them: FP16 rows ({@code bits} 16), INT8 codes with a scale a row
     * ({@code groupSize} 0), or INT8 or INT4 codes ({@link Int4Words}' order) with a scale a group of {@code groupSize}
     * inputs; bias in FP32.
     */
    private record Projection(IntArray weight, FloatArray scales, FloatArray bias, int bits, int groupSize) {
        /** Group-wise: {@link PrefillGemmKernel}'s, not the per-row tiles'. */
        boolean grouped() { return groupSize > 0; }
    }

    private record LayerWeights(Projection qkv, Projection out, FloatArray norm1Gamma, FloatArray norm1Beta, Projection up,
                                Projection down, FloatArray norm2Gamma, FloatArray norm2Beta) {
        /** The projections in a layer's order: 0 q, k and v, 1 out, 2 up, 3 down. */
        Projection projection(int slot) { return List.of(qkv, out, up, down).get(slot); }
    }

    /**
     * An encoder's weights laid out for the kernels once (q, k and v stacked into one matrix; FP16 rows for W16A16,
     * INT8 codes with row scales for per-row W8A8, INT8 or INT4 codes with group scales for group-wise ones; embeddings
     * and LayerNorm parameters as they are), so that graphs of several shapes can share them. The encoder must outlive them.
     */
    public static final class Weights implements AutoCloseable {
        final BertConfig config;
        final Precision precision;
        final Arena arena = Arena.ofShared();
        final FloatArray words, positions, typeTable, embeddingGamma, embeddingBeta;
        final List<LayerWeights> layers = new java.util.ArrayList<>();

        private Weights(BertEncoder encoder) {
            this.config = encoder.config();
            this.precision = precisionOf(encoder);
            int hd = config.headDim(), h = config.hiddenSize(), inter = config.intermediateSize();
            if (hd != 32 && hd != 64) throw new IllegalArgumentException("the GPU encoder supports head sizes 32 and 64, not " + hd);
            if (h % 64 != 0 || inter % 64 != 0 || inter > 4096)
                throw new IllegalArgumentException("the GPU encoder needs hidden and intermediate sizes that are multiples of 64, at most 4096, not "
                        + h + " and " + inter);
            var emb = encoder.embeddingTensors();
            words = floats(emb.get("embeddings.word_embeddings.weight"));
            positions = floats(emb.get("embeddings.position_embeddings.weight"));
            typeTable = floats(emb.get("embeddings.token_type_embeddings.weight"));
            embeddingGamma = floats(emb.get("embeddings.LayerNorm.weight"));
            embeddingBeta = floats(emb.get("embeddings.LayerNorm.bias"));
            for (BertLayer l : encoder.layers())
                layers.add(new LayerWeights(stack(l.query(), l.key(), l.value()), stack(l.attentionOutput()), floats(l.attentionNorm().gamma()),
                        floats(l.attentionNorm().beta()), stack(l.intermediate()), stack(l.output()), floats(l.outputNorm().gamma()),
                        floats(l.outputNorm().beta())));
        }

        public static Weights of(BertEncoder encoder) { return new Weights(encoder); }

        public Precision precision() { return precision; }

        /** The encoder's layers. */
        public int layers() { return layers.size(); }

        List<KernelBuffer> buffers() {
            List<KernelBuffer> all = new java.util.ArrayList<>(List.of(words, positions, typeTable, embeddingGamma, embeddingBeta));
            for (LayerWeights l : layers) {
                for (Projection p : List.of(l.qkv(), l.out(), l.up(), l.down())) {
                    all.add(p.weight());
                    all.add(p.bias());
                    if (p.scales() != null) all.add(p.scales());
                }
                all.addAll(List.of(l.norm1Gamma(), l.norm1Beta(), l.norm2Gamma(), l.norm2Beta()));
            }
            return all;
        }

        /** The projections' weights stacked by output rows (q, k, v become one matrix), as the device holds them. */
        private Projection stack(Linear... parts) {
            int k = parts[0].inFeatures(), n = 0;
            for (Linear p : parts) {
                if (p.inFeatures() != k) throw new IllegalArgumentException("stacked projections must share their input size");
                if (!sameWeights(p, parts[0]))
                    throw new IllegalArgumentException("the query, key and value projections must be quantized alike: " + describe(parts[0]) + " and " + describe(p));
                n += p.outFeatures();
            }
            FloatArray bias = FloatArray.allocate(arena, n);   // the parts' biases stacked, zeros where a part has none
            int row = 0;
            for (Linear p : parts) {
                Tensor b = p instanceof DenseLinear d ? d.bias() : ((QuantizedLinear) p).bias();
                for (int r = 0; r < p.outFeatures(); r++) bias.set(row + r, b == null ? 0f : b.getFloat(r));
                row += p.outFeatures();
            }
            row = 0;
            if (precision == Precision.W16A16) {
                IntArray weight = IntArray.allocate(arena, n * k / 2);
                for (Linear p : parts) {
                    HalfRows.pack(((DenseLinear) p).weight(), weight, row);
                    row += p.outFeatures();
                }
                return new Projection(weight, null, bias, 16, 0);
            }
            // INT8 with a scale a row goes to the per-row tiles (GemmTiles); INT4, or scales a group, to PrefillGemmKernel.
            QuantizedWeight first = ((QuantizedLinear) parts[0]).weight();
            boolean grouped = first.bits() == 4 || first.groupsPerRow() > 1;
            int groups = first.groupsPerRow();
            IntArray weight = IntArray.allocate(arena, (int) ((long) n * k * first.bits() / 32));
            FloatArray scales = FloatArray.allocate(arena, n * groups);
            for (Linear p : parts) {
                QuantizedWeight w = ((QuantizedLinear) p).weight();
                if (w.bits() == 8) MemorySegment.copy(w.codes().segment(), 0, weight.segment(), (long) row * k, (long) p.outFeatures() * k);
                else Int4Words.pack(w.codes(), weight, row);
                MemorySegment.copy(w.scales().segment(), 0, scales.segment(), 4L * row * groups, 4L * p.outFeatures() * groups);
                row += p.outFeatures();
            }
            return new Projection(weight, scales, bias, first.bits(), grouped ? first.groupSize() : 0);
        }

        /** An FP32 model tensor as a kernel buffer. */
        private static FloatArray floats(Tensor t) {
            if (t.dtype() != DType.F32) throw new IllegalArgumentException("expected an F32 tensor, got " + t);
            return FloatArray.view(t);
        }

        @Override
        public void close() { arena.close(); }
    }

    /** {@code y = x·Wᵀ + b} (GeLU'd when asked) from FP16 rows {@code x}, or from their codes {@code xq} and scales. */
    private void gemm(Projection w, IntArray x, IntArray xq, FloatArray xScale, IntArray y, int n, int k, boolean gelu) {
        if (w.grouped()) {   // K split to about 128 blocks: at a batch of one sequence an output of 768 is 24 tiles
            int splits = PrefillGemmKernel.splitsToFill(rows, n, k);
            graph.task(kernel(PrefillGemmKernel.class, w.bits() == 4 ? "int4Halves" : "int8Halves"), PrefillGemmKernel.grid(rows, n, splits), xq,
                    xScale, w.weight(), w.scales(), w.bias(), y, rows, n, k, w.groupSize(), gelu ? 1 : 0, splits, groupPartials, arrivals);
            return;
        }
        boolean int8 = precision != Precision.W16A16;
        GemmTiles.Choice c = tiles.choose(int8 ? GemmTiles.Precision.INT8 : GemmTiles.Precision.FP16, rows, n, k);
        Object[] common = int8 ? new Object[]{xq, w.weight(), xScale, w.scales(), w.bias(), y, rows, n, k, gelu ? 1 : 0}
                : new Object[]{x, w.weight(), w.bias(), y, rows, n, k, gelu ? 1 : 0};
        graph.task(c.kernel(), c.grid(), GemmTiles.concat(common, c.splitArgs(partials, arrivals)));
    }

    private static Method kernel(Class<?> owner, String name) { return KernelCompiler.find(owner, name); }

    /**
     * W16A16 when every projection is FP32; W8A8 when every one has INT8 weights — a scale a row, or a scale a group of a
     * multiple of 32 inputs — and token-wise INT8 activations; W4_8A8 when some have INT4 weights in such groups instead.
     */
    static Precision precisionOf(BertEncoder encoder) {
        boolean dense = true, quantized = true, int4 = false;
        for (int i = 0; i < encoder.layers().size(); i++) {
            BertLayer l = encoder.layers().get(i);
            List<Linear> all = List.of(l.query(), l.key(), l.value(), l.attentionOutput(), l.intermediate(), l.output());
            for (int j = 0; j < all.size(); j++) {
                Linear lin = all.get(j);
                dense &= lin instanceof DenseLinear;
                boolean ok = lin instanceof QuantizedLinear q && q.activations() instanceof TokenwiseQuantizer
                        && (q.weight().bits() == 8 && q.weight().groupsPerRow() == 1
                            || (q.weight().bits() == 8 || q.weight().bits() == 4) && q.weight().groupSize() % 32 == 0);
                if (!(lin instanceof DenseLinear) && !ok)
                    throw new IllegalArgumentException(BertEncoder.linearNames(i).get(j) + ": the GPU encoder runs FP32 layers as W16A16, and INT8 or"
                            + " INT4 weights (a scale a row, or a scale a group of a multiple of 32 inputs) with token-wise INT8 activations"
                            + " (W8A8, W4/8A8); this one is " + describe(lin));
                quantized &= ok;
                int4 |= ok && ((QuantizedLinear) lin).weight().bits() == 4;
            }
        }
        if (dense) return Precision.W16A16;
        if (quantized) return int4 ? Precision.W4_8A8 : Precision.W8A8;
        throw new IllegalArgumentException("the GPU encoder needs every projection FP32 (W16A16) or every one quantized (W8A8, W4/8A8); this model mixes them");
    }

    /** Whether {@code a} and {@code b} are both FP32, or both quantized to the same bits in groups of the same size. */
    private static boolean sameWeights(Linear a, Linear b) {
        if (a instanceof DenseLinear && b instanceof DenseLinear) return true;
        return a instanceof QuantizedLinear qa && b instanceof QuantizedLinear qb && qa.weight().bits() == qb.weight().bits()
                && qa.weight().groupsPerRow() == qb.weight().groupsPerRow();
    }

    private static String describe(Linear lin) {
        if (lin instanceof QuantizedLinear q)
            return "INT" + q.weight().bits() + " with " + q.weight().groupsPerRow() + " group(s) per row and "
                    + (q.activations() == null ? "FP activations" : q.activations().getClass().getSimpleName());
        return lin.getClass().getSimpleName();
    }

    public Precision precision() { return precision; }
    public ExecutionPlan plan() { return plan; }

    /**
     * Last hidden states {@code [batch, seq, hidden]} (F32, from the FP16 result) for row-major {@code [batch, seq]}
     * inputs, as {@link BertEncoder#forward} takes them.
     */
    public Tensor forward(Arena out, int[] inputIds, int[] typeIds, int[] attentionMask) throws Exception {
        config.checkInputs(batch, seq, inputIds, typeIds, attentionMask);
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < paddedSeq; s++) {
                int r = b * paddedSeq + s, i = b * seq + s;
                boolean real = s < seq;
                ids.set(r, real ? inputIds[i] : 0);
                types.set(r, real ? typeIds[i] : 0);
                mask.set(r, real ? attentionMask[i] : 0);
            }
        plan.execute();
        int h = config.hiddenSize();
        Tensor y = Tensor.allocate(out, DType.F32, batch, seq, h);
        MemorySegment src = hidden.segment();
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < seq; s++)
                for (int c = 0; c < h; c++)
                    y.setFloat(((long) b * seq + s) * h + c,
                            Float.float16ToFloat(src.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, ((long) b * paddedSeq + s) * h + c)));
        return y;
    }

    @Override
    public void close() throws Exception {
        try {
            plan.close();
        } finally {
            arena.close();
            if (ownsWeights) weights.close();
        }
    }
}
