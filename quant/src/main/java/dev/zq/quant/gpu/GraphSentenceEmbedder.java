package dev.zq.quant.gpu;

import dev.zq.model.bert.BertEncoder;
import dev.zq.model.bert.SentenceEmbedder;
import dev.zq.model.tokenizer.Encoding;
import dev.zq.runtime.Device;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Sentence embeddings (mean pooling + L2 normalisation, as {@link SentenceEmbedder}) from the encoder's task graph
 * ({@link BertTaskGraph}) on a device: a CUDA GPU, or the CPU executor that runs the same kernels as Java. An FP32
 * encoder runs as W16A16, a {@code w8a8-per-row} or {@code w8a8} one as W8A8, a {@code w4-8a8} one as W4/8A8
 * ({@link BertTaskGraph.Precision}); others are rejected when this is built. A graph has one
 * shape, so batches are padded to {@code batchSize} sentences (empty rows, masked out) and their length to a multiple of
 * 64 tokens; one graph per length is built on first use and kept, every one over the same device weights.
 */
public final class GraphSentenceEmbedder implements AutoCloseable {
    private final BertEncoder encoder;
    private final Device device;
    private final int batchSize;
    private final boolean exactAttention;
    private final BertTaskGraph.Weights weights;
    private final Map<Integer, BertTaskGraph> graphs = new HashMap<>();

    /**
     * {@code exactAttention}: attention on CUDA cores in a fixed order, so that a W8A8 encoder gives the CPU executor's
     * bits ({@link BertTaskGraph#build(BertTaskGraph.Weights, int, int, Device, boolean)}). The encoder and the device
     * must outlive this embedder.
     */
    public GraphSentenceEmbedder(BertEncoder encoder, Device device, int batchSize, boolean exactAttention) {
        if (batchSize <= 0) throw new IllegalArgumentException("batch size must be positive: " + batchSize);
        this.encoder = encoder;
        this.device = device;
        this.batchSize = batchSize;
        this.exactAttention = exactAttention;
        this.weights = BertTaskGraph.Weights.of(encoder);
    }

    public BertTaskGraph.Precision precision() { return weights.precision(); }

    /** Unit-length mean-pooled embeddings of a padded batch of at most {@code batchSize} encodings of one length. */
    public float[][] embed(List<Encoding> batch) throws Exception {
        if (batch.isEmpty() || batch.size() > batchSize)
            throw new IllegalArgumentException("a batch of 1 to " + batchSize + " encodings, not " + batch.size());
        int len = batch.getFirst().ids().length, seq = Math.ceilDiv(len, 64) * 64;
        int max = encoder.config().maxPositions();
        if (len > max) throw new IllegalArgumentException(len + " tokens exceed the model's " + max + " positions");
        if (seq > max) seq = len;   // the graph pads to 64 itself and will say whether that fits
        int[][] in = SentenceEmbedder.pack(batch, batchSize, seq);
        BertTaskGraph g = graphs.computeIfAbsent(seq, s -> BertTaskGraph.build(weights, batchSize, s, device, exactAttention));
        try (Arena arena = Arena.ofConfined()) {
            Tensor hidden = g.forward(arena, in[0], in[1], in[2]);
            float[][] all = SentenceEmbedder.normalize(SentenceEmbedder.meanPool(hidden, in[2]));
            return java.util.Arrays.copyOf(all, batch.size());
        }
    }

    @Override
    public void close() throws Exception {
        Exception first = null;
        for (BertTaskGraph g : graphs.values())
            try {
                g.close();
            } catch (Exception e) {
                if (first == null) first = e;
            }
        graphs.clear();
        weights.close();
        if (first != null) throw first;
    }
}
