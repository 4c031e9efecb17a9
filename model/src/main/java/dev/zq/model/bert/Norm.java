package dev.zq.model.bert;

import dev.zq.tensor.Tensor;

/** A LayerNorm's scale and shift. */
public record Norm(Tensor gamma, Tensor beta) {
}
