package dev.zq.model.decoder;

import dev.zq.tensor.LayerNorm;
import dev.zq.tensor.RmsNorm;
import dev.zq.tensor.Tensor;

/** A normalisation's weights: LayerNorm when it has a bias (GPT-2), RMSNorm when it has none (LLaMA). */
public record Norm(Tensor weight, Tensor bias) {
    public void apply(Tensor x, float eps, Tensor out) {
        if (bias != null) LayerNorm.apply(x, weight, bias, eps, out);
        else RmsNorm.apply(x, weight, eps, out);
    }
}
