package dev.zq.model.decoder;

/**
 * The hyper-parameters of a decoder-only transformer, in one of two families:
 * GPT-2 (learned positions, LayerNorm with bias, fused q/k/v, tanh-GeLU MLP, tied embeddings) and
 * LLaMA (rotary positions, RMSNorm, separate q/k/v with grouped-query attention, SwiGLU MLP).
 */
public record DecoderConfig(Family family, int vocabSize, int hiddenSize, int numLayers, int numHeads, int numKvHeads,
                            int intermediateSize, int maxPositions, float normEps, float ropeTheta, Activation activation,
                            boolean tiedEmbeddings) {
    public enum Family { GPT2, LLAMA }

    /** The MLP's nonlinearity: GPT-2's {@code gelu_new} (tanh form), exact GeLU, or LLaMA's SiLU-gated unit. */
    public enum Activation { GELU_TANH, GELU, SWIGLU }

    public DecoderConfig {
        if (family == null || activation == null) throw new IllegalArgumentException("family and activation are required");
        if (vocabSize <= 0 || hiddenSize <= 0 || numLayers <= 0 || numHeads <= 0 || intermediateSize <= 0 || maxPositions <= 0)
            throw new IllegalArgumentException("sizes must be positive: vocab " + vocabSize + ", hidden " + hiddenSize + ", layers "
                    + numLayers + ", heads " + numHeads + ", intermediate " + intermediateSize + ", positions " + maxPositions);
        if (hiddenSize % numHeads != 0) throw new IllegalArgumentException("hidden size " + hiddenSize + " is not divisible by " + numHeads + " heads");
        if (numKvHeads <= 0 || numHeads % numKvHeads != 0)
            throw new IllegalArgumentException(numHeads + " heads cannot share " + numKvHeads + " key/value heads");
        if (family == Family.LLAMA && (hiddenSize / numHeads) % 2 != 0) throw new IllegalArgumentException("rotary embeddings need an even head size");
        if (!(normEps > 0) || (family == Family.LLAMA && !(ropeTheta > 0)))
            throw new IllegalArgumentException("norm epsilon and rope theta must be positive");
        if ((family == Family.LLAMA) != (activation == Activation.SWIGLU))
            throw new IllegalArgumentException(family + " with a " + activation + " MLP is not a supported combination");
    }

    public int headDim() { return hiddenSize / numHeads; }
    public int kvDim() { return headDim() * numKvHeads; }

    /** GPT-2 small (124M) shapes. */
    public static DecoderConfig gpt2Small() {
        return gpt2(50257, 768, 12, 12, 1024);
    }

    /** A GPT-2-family model of the given size (intermediate = 4·hidden, ε = 1e-5, tanh GeLU, tied embeddings). */
    public static DecoderConfig gpt2(int vocab, int hidden, int layers, int heads, int positions) {
        return new DecoderConfig(Family.GPT2, vocab, hidden, layers, heads, heads, 4 * hidden, positions, 1e-5f, 0f,
                Activation.GELU_TANH, true);
    }
}
