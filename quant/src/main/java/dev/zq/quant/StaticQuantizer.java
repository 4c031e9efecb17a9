package dev.zq.quant;

import dev.zq.tensor.Tensor;

/**
 * The PTQ baseline's activation quantizer: one scale for the whole tensor, fixed after calibration
 * ({@link ActivationCalibrator}); values beyond the calibrated range saturate at ±127/−128.
 */
public record StaticQuantizer(float scale) implements ActivationQuantizer {
    public StaticQuantizer {
        if (!(scale > 0) || !Float.isFinite(scale))
            throw new IllegalArgumentException("static activation scale must be positive and finite, got " + scale);
    }

    @Override
    public void quantize(Tensor x, Tensor codes, Tensor scales) {
        // A token holding NaN/Inf keeps that visible in its output (see ActivationQuantizer).
        ActivationQuantizer.quantizeRows(x, codes, scales, (t, from, k) -> Float.isFinite(TokenwiseQuantizer.rowAbsMax(t, from, k)) ? scale : Float.NaN);
    }
}
