package dev.zq.model.bert;

import dev.zq.model.Linear;
import dev.zq.tensor.Attention;
import dev.zq.tensor.DType;
import dev.zq.tensor.Elementwise;
import dev.zq.tensor.Gelu;
import dev.zq.tensor.LayerNorm;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.BiFunction;

/**
 * A BERT encoder (HF {@code BertModel} without the pooler), readable top to bottom in {@link #forward}.
 * The weights live in memory owned by whoever loaded them; the encoder itself allocates only per call.
 */
public final class BertEncoder {
    private final BertConfig config;
    private final Tensor wordEmbeddings;      // [vocab, hidden]
    private final Tensor positionEmbeddings;  // [maxPositions, hidden]
    private final Tensor typeEmbeddings;      // [typeVocab, hidden]
    private final Norm embeddingNorm;
    private final List<BertLayer> layers;

    public BertEncoder(BertConfig config, Tensor wordEmbeddings, Tensor positionEmbeddings, Tensor typeEmbeddings,
                       Norm embeddingNorm, List<BertLayer> layers) {
        this.config = Objects.requireNonNull(config);
        this.wordEmbeddings = checkShape("word embeddings", wordEmbeddings, config.vocabSize(), config.hiddenSize());
        this.positionEmbeddings = checkShape("position embeddings", positionEmbeddings, config.maxPositions(), config.hiddenSize());
        this.typeEmbeddings = checkShape("token type embeddings", typeEmbeddings, config.typeVocabSize(), config.hiddenSize());
        this.embeddingNorm = embeddingNorm;
        if (layers.size() != config.numLayers())
            throw new IllegalArgumentException(layers.size() + " layers given, config says " + config.numLayers());
        this.layers = List.copyOf(layers);
    }

    private static Tensor checkShape(String what, Tensor t, int rows, int cols) {
        if (t.dtype() != DType.F32 || t.rank() != 2 || t.dim(0) != rows || t.dim(1) != cols)
            throw new IllegalArgumentException(what + " must be F32 [" + rows + ", " + cols + "], got " + t);
        return t;
    }

    public BertConfig config() { return config; }
    public List<BertLayer> layers() { return layers; }

    /**
     * Last hidden states {@code [batch, seq, hidden]} allocated in {@code arena}. {@code ids}, {@code typeIds}
     * and {@code mask} are row-major {@code [batch, seq]}; mask 0 marks padding (never attended to).
     */
    public Tensor forward(Arena arena, int batch, int seq, int[] ids, int[] typeIds, int[] mask) {
        int hidden = config.hiddenSize(), rows = batch * seq;
        config.checkInputs(batch, seq, ids, typeIds, mask);
        float eps = config.layerNormEps();

        // Embeddings: word + position + token type, then LayerNorm.
        Tensor x = Tensor.allocate(arena, DType.F32, batch, seq, hidden);
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < seq; s++) {
                int r = b * seq + s;
                long dst = (long) r * hidden;
                long w = (long) ids[r] * hidden, p = (long) s * hidden, t = (long) typeIds[r] * hidden;
                for (int h = 0; h < hidden; h++)
                    x.setFloat(dst + h, wordEmbeddings.getFloat(w + h) + positionEmbeddings.getFloat(p + h)
                            + typeEmbeddings.getFloat(t + h));
            }
        LayerNorm.apply(x, embeddingNorm.gamma(), embeddingNorm.beta(), eps, x);

        Tensor keyMask = Tensor.allocate(arena, DType.I32, batch, seq);
        for (int i = 0; i < rows; i++) keyMask.setInt(i, mask[i]);

        // Scratch reused by every layer.
        Tensor q = Tensor.allocate(arena, DType.F32, batch, seq, hidden);
        Tensor k = Tensor.allocate(arena, DType.F32, batch, seq, hidden);
        Tensor v = Tensor.allocate(arena, DType.F32, batch, seq, hidden);
        Tensor context = Tensor.allocate(arena, DType.F32, batch, seq, hidden);
        Tensor projected = Tensor.allocate(arena, DType.F32, batch, seq, hidden);
        Tensor mlp = Tensor.allocate(arena, DType.F32, batch, seq, config.intermediateSize());

        for (BertLayer layer : layers) {
            // Self-attention with a residual connection, then LayerNorm (BERT is post-norm).
            layer.query().forward(x, q);
            layer.key().forward(x, k);
            layer.value().forward(x, v);
            Attention.forward(q, k, v, keyMask, config.numHeads(), false, 0, context);
            layer.attentionOutput().forward(context, projected);
            Elementwise.add(projected, x, x);
            LayerNorm.apply(x, layer.attentionNorm().gamma(), layer.attentionNorm().beta(), eps, x);

            // Feed-forward: up-projection, exact (erf) GeLU, down-projection, residual, LayerNorm.
            layer.intermediate().forward(x, mlp);
            Gelu.erf(mlp, mlp);
            layer.output().forward(mlp, projected);
            Elementwise.add(projected, x, x);
            LayerNorm.apply(x, layer.outputNorm().gamma(), layer.outputNorm().beta(), eps, x);
        }
        return x;
    }

    /** Names of the projections, as HF names the modules ({@code encoder.layer.3.attention.self.query}). */
    public static List<String> linearNames(int layer) {
        String p = "encoder.layer." + layer + ".";
        return List.of(p + "attention.self.query", p + "attention.self.key", p + "attention.self.value",
                p + "attention.output.dense", p + "intermediate.dense", p + "output.dense");
    }

    /**
     * The same encoder with every projection replaced by {@code replace.apply(name, linear)} — how a
     * quantization scheme swaps FP32 layers for quantized ones.
     */
    public BertEncoder withLinears(BiFunction<String, Linear, Linear> replace) {
        List<BertLayer> out = new ArrayList<>(layers.size());
        for (int i = 0; i < layers.size(); i++) {
            BertLayer l = layers.get(i);
            List<String> n = linearNames(i);
            out.add(new BertLayer(replace.apply(n.get(0), l.query()), replace.apply(n.get(1), l.key()),
                    replace.apply(n.get(2), l.value()), replace.apply(n.get(3), l.attentionOutput()), l.attentionNorm(),
                    replace.apply(n.get(4), l.intermediate()), replace.apply(n.get(5), l.output()), l.outputNorm()));
        }
        return new BertEncoder(config, wordEmbeddings, positionEmbeddings, typeEmbeddings, embeddingNorm, out);
    }

    /** Parameters in the encoder (embeddings, projections, norms). */
    public long parameterCount() {
        long n = wordEmbeddings.numel() + positionEmbeddings.numel() + typeEmbeddings.numel() + 2L * config.hiddenSize();
        for (BertLayer l : layers) {
            for (Linear lin : List.of(l.query(), l.key(), l.value(), l.attentionOutput(), l.intermediate(), l.output()))
                n += (long) lin.inFeatures() * lin.outFeatures() + lin.outFeatures();
            n += 4L * config.hiddenSize();
        }
        return n;
    }

    /** The embedding tensors under their HF names. */
    public java.util.Map<String, Tensor> embeddingTensors() {
        java.util.Map<String, Tensor> m = new java.util.LinkedHashMap<>();
        m.put("embeddings.word_embeddings.weight", wordEmbeddings);
        m.put("embeddings.position_embeddings.weight", positionEmbeddings);
        m.put("embeddings.token_type_embeddings.weight", typeEmbeddings);
        m.put("embeddings.LayerNorm.weight", embeddingNorm.gamma());
        m.put("embeddings.LayerNorm.bias", embeddingNorm.beta());
        return m;
    }
}
