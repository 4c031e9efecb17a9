package dev.zq.quant;

import dev.zq.model.DenseLinear;
import dev.zq.model.Linear;

import java.lang.foreign.Arena;

/**
 * Applies a {@link Scheme} to one named projection: the seam a model's {@code withLinears} calls. Weights
 * that a rule matches become integer {@link QuantizedLinear}s; activations that a rule matches get a
 * token-wise or a calibrated static quantizer. A module with quantized activations but FP weights (W16A8)
 * becomes a {@link FakeQuantInputLinear}: there is no integer GEMM for FP weights, so it simulates.
 */
public final class LinearQuantizer {
    private final Scheme scheme;
    private final ActivationCalibrator calibration;
    private final Arena arena;

    /** {@code calibration} may be null when the scheme has no static activation ranges. */
    public LinearQuantizer(Scheme scheme, ActivationCalibrator calibration, Arena arena) {
        this.scheme = scheme;
        this.calibration = calibration;
        this.arena = arena;
    }

    public Linear quantize(String name, Linear linear) {
        if (!(linear instanceof DenseLinear dense)) return linear;   // already quantized, or something else
        ActivationQuantizer acts = scheme.activationRule(name).map(r -> activationQuantizer(name, r)).orElse(null);
        var weightRule = scheme.weightRule(name);
        if (weightRule.isEmpty()) return acts == null ? linear : new FakeQuantInputLinear(dense, acts);
        Scheme.WeightRule r = weightRule.get();
        QuantizedWeight w = new GroupwiseQuantizer(r.bits(), r.granularityFor(dense.inFeatures())).quantize(dense.weight(), arena);
        return new QuantizedLinear(w, dense.bias(), acts);
    }

    private ActivationQuantizer activationQuantizer(String name, Scheme.ActivationRule r) {
        if (r.dynamic()) return new TokenwiseQuantizer();
        if (calibration == null || !calibration.has(name))
            throw new IllegalStateException("scheme " + scheme.name() + " needs static activation ranges, but module " + name + " was not calibrated");
        return new StaticQuantizer(Symmetric.scale(calibration.absMax(name, r.percentile()), r.bits()));
    }

    /** Whether the scheme needs a calibration pass before {@link #quantize}. */
    public static boolean needsCalibration(Scheme scheme) {
        return scheme.activations().map(a -> !a.dynamic()).orElse(false);
    }
}
