package dev.zq.model.bert;

/** Hyper-parameters of a BERT encoder, as HF's {@code BertConfig} names them. */
public record BertConfig(int vocabSize, int hiddenSize, int numLayers, int numHeads, int intermediateSize,
                         int maxPositions, int typeVocabSize, float layerNormEps) {
    public BertConfig {
        if (hiddenSize <= 0 || numLayers <= 0 || numHeads <= 0 || intermediateSize <= 0 || vocabSize <= 0
                || maxPositions <= 0 || typeVocabSize <= 0)
            throw new IllegalArgumentException("non-positive size in " + this);
        if (hiddenSize % numHeads != 0)
            throw new IllegalArgumentException("hidden size " + hiddenSize + " is not a multiple of " + numHeads + " heads");
        if (!(layerNormEps > 0)) throw new IllegalArgumentException("layer_norm_eps must be > 0, got " + layerNormEps);
    }

    public int headDim() { return hiddenSize / numHeads; }
}
