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

    /**
     * Rejects inputs this model cannot encode, with the reason: row-major {@code [batch, seq]} token ids, token type ids
     * and attention mask of the right length, a sequence within the positions, ids within the vocabularies.
     */
    public void checkInputs(int batch, int seq, int[] ids, int[] typeIds, int[] mask) {
        if (batch <= 0 || seq <= 0) throw new IllegalArgumentException("empty batch: " + batch + " x " + seq);
        if (seq > maxPositions())
            throw new IllegalArgumentException("sequence of " + seq + " tokens exceeds the model's " + maxPositions() + " positions");
        int n = batch * seq;
        if (ids.length != n || typeIds.length != n || mask.length != n)
            throw new IllegalArgumentException("inputs must hold batch*seq = " + n + " values (ids " + ids.length
                    + ", type ids " + typeIds.length + ", mask " + mask.length + ")");
        for (int i = 0; i < n; i++) {
            if (ids[i] < 0 || ids[i] >= vocabSize())
                throw new IllegalArgumentException("token id " + ids[i] + " at " + i + " outside vocabulary of " + vocabSize());
            if (typeIds[i] < 0 || typeIds[i] >= typeVocabSize())
                throw new IllegalArgumentException("token type id " + typeIds[i] + " at " + i + " outside [0, " + typeVocabSize() + ")");
        }
    }
}
