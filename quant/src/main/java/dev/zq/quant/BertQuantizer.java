package dev.zq.quant;

import dev.zq.model.bert.BertEncoder;
import dev.zq.model.tokenizer.Encoding;

import java.lang.foreign.Arena;
import java.util.List;

/**
 * Applies a {@link Scheme} to a BERT encoder: calibrates static activation ranges first when the scheme
 * has them (the PTQ baseline: the FP encoder runs on the calibration batches while every projection records
 * its input), then replaces every projection through {@link LinearQuantizer}. Quantized weights and scales
 * are allocated in {@code arena}.
 */
public final class BertQuantizer {
    private BertQuantizer() {}

    public static BertEncoder quantize(BertEncoder fp, Scheme scheme, List<List<Encoding>> calibration, Arena arena) {
        ActivationCalibrator cal = null;
        if (LinearQuantizer.needsCalibration(scheme)) {
            if (calibration == null || calibration.isEmpty())
                throw new IllegalArgumentException("scheme " + scheme.name() + " has static activation ranges: calibration data is required");
            ActivationCalibrator c = new ActivationCalibrator(1234);
            BertEncoder recording = fp.withLinears(c::wrap);
            for (List<Encoding> batch : calibration) run(recording, batch);
            cal = c;
        }
        LinearQuantizer q = new LinearQuantizer(scheme, cal, arena);
        return fp.withLinears(q::quantize);
    }

    private static void run(BertEncoder encoder, List<Encoding> batch) {
        int b = batch.size(), seq = batch.getFirst().length();
        int[] ids = new int[b * seq], types = new int[b * seq], mask = new int[b * seq];
        for (int i = 0; i < b; i++) {
            System.arraycopy(batch.get(i).ids(), 0, ids, i * seq, seq);
            System.arraycopy(batch.get(i).typeIds(), 0, types, i * seq, seq);
            System.arraycopy(batch.get(i).attentionMask(), 0, mask, i * seq, seq);
        }
        try (Arena a = Arena.ofShared()) {
            encoder.forward(a, b, seq, ids, types, mask);
        }
    }
}
