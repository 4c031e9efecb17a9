package dev.zq.model.bert;

import dev.zq.model.Linear;

/** One transformer block of BERT (post-LayerNorm): self-attention then the GeLU MLP, each with a residual. */
public record BertLayer(Linear query, Linear key, Linear value, Linear attentionOutput, Norm attentionNorm,
                        Linear intermediate, Linear output, Norm outputNorm) {
}
