package dev.zq.quant;

import dev.zq.model.DenseLinear;
import dev.zq.model.decoder.DecoderModel;
import dev.zq.model.decoder.KvCache;

import java.lang.foreign.Arena;
import java.util.List;

/**
 * Applies a {@link Scheme} to a decoder's block projections (the LM head and embeddings stay FP32, as in
 * ZeroQuant). Static activation ranges (the PTQ baseline) are calibrated first by running the FP model on
 * {@code calibration} token windows while every projection records its input.
 */
public final class DecoderQuantizer {
    private DecoderQuantizer() {}

    public static DecoderModel quantize(DecoderModel fp, Scheme scheme, List<int[]> calibration, Arena arena) {
        ActivationCalibrator cal = null;
        if (LinearQuantizer.needsCalibration(scheme)) {
            if (calibration == null || calibration.isEmpty())
                throw new IllegalArgumentException("scheme " + scheme.name() + " has static activation ranges: calibration data is required");
            ActivationCalibrator c = new ActivationCalibrator(1234);
            DecoderModel recording = fp.withLinears(c::wrap);
            for (int[] window : calibration)
                try (Arena a = Arena.ofShared(); KvCache cache = recording.newCache(1, window.length)) {
                    recording.forward(a, cache, 1, window.length, window, false);
                }
            cal = c;
        }
        LinearQuantizer q = new LinearQuantizer(scheme, cal, arena);
        return fp.withLinears(q::quantize);
    }

    /**
     * {@code m} with its LM head (FP, e.g. GPT-2's tied token embeddings) quantized to INT8 with one scale a row and the
     * final hidden state quantized token-wise (W8A8): half the bytes of an FP16 head, which at GPT-2 small is a third of
     * a decode step's weight bytes. Not part of any {@link Scheme} (ZeroQuant keeps the head in FP): an opt-in for speed.
     */
    public static DecoderModel withInt8Head(DecoderModel m, Arena arena) {
        if (!(m.lmHead() instanceof DenseLinear d))
            throw new IllegalArgumentException("the LM head is already " + m.lmHead().getClass().getSimpleName() + ", not an FP head");
        QuantizedLinear head = new QuantizedLinear(new GroupwiseQuantizer(8, WeightGranularity.perRow()).quantize(d.weight(), arena), d.bias(),
                new TokenwiseQuantizer());
        return new DecoderModel(m.config(), m.tokenEmbeddings(), m.positionEmbeddings(), m.layers(), m.finalNorm(), head);
    }
}
