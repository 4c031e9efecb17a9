package dev.zq.quant;

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
}
