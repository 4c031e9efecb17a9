package dev.zq.model.decoder;

import dev.zq.model.Linear;

/**
 * One pre-norm decoder block. GPT-2 keeps q, k and v in one fused projection ({@code qkv}, HF's
 * {@code c_attn}) and has no {@code gate}; LLaMA has separate {@code q}, {@code k}, {@code v} and a gated MLP.
 */
public record DecoderLayer(Norm attentionNorm, Linear qkv, Linear q, Linear k, Linear v, Linear output,
                           Norm mlpNorm, Linear gate, Linear up, Linear down) {
    public DecoderLayer {
        if ((qkv == null) == (q == null || k == null || v == null))
            throw new IllegalArgumentException("a layer has either a fused qkv projection or separate q, k and v");
        if (attentionNorm == null || output == null || mlpNorm == null || up == null || down == null)
            throw new IllegalArgumentException("attention norm, output, MLP norm, up and down projections are required");
    }
}
