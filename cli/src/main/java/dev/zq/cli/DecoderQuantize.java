package dev.zq.cli;

import dev.zq.lkd.DecoderLkd;
import dev.zq.lkd.Lkd;
import dev.zq.lkd.LkdData;
import dev.zq.model.BundledModels;
import dev.zq.model.corpus.TextCorpora;
import dev.zq.model.decoder.DecoderModel;
import dev.zq.model.decoder.LanguageModel;
import dev.zq.model.tokenizer.ByteLevelBpeTokenizer;
import dev.zq.quant.DecoderQuantizer;
import dev.zq.quant.QuantizedDecoderFile;
import dev.zq.quant.Scheme;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code zq quantize} for decoders: PTQ/ZeroQuant with static ranges calibrated on 16 windows of a corpus,
 * or ZeroQuant-LKD, 400 Adam steps a block on 256 windows of up to 256 tokens (batches of 8) from a corpus or random tokens — zq's
 * recipe (quantized inputs, learned clipping) or, with {@code --lkd-paper}, the paper's (FP inputs, weights only, 128 tokens); writes a
 * {@link QuantizedDecoderFile}.
 */
final class DecoderQuantize {
    static final double DEFAULT_LR = 1e-4;
    /** 400 steps on 256 windows closed 79–80% of ZeroQuant's gap on sotu-llama (W4/8A16), 100 on 64 windows 66–69% (bench/RESULTS.md). */
    static final int LKD_STEPS = 400, LKD_WINDOWS = 256, LKD_BATCH = 8, LKD_SEQ = 256, PAPER_SEQ = 128;
    /** Learned clipping thresholds train at this multiple of the learning rate (zq's recipe; measured in bench/RESULTS.md). */
    static final int THRESHOLD_LR_FACTOR = 30;

    private DecoderQuantize() {}

    static int run(QuantizeCommand o, Path dir, Scheme scheme) throws Exception {
        String calibrationCorpus = o.calibration != null ? o.calibration
                : BundledModels.trainedOnSotu(o.model) ? TextCorpora.SOTU_TRAIN : TextCorpora.MOBY_DICK;
        try (LanguageModel lm = QuantizedDecoderFile.openAny(dir); Arena arena = Arena.ofShared()) {
            if (QuantizedDecoderFile.isQuantized(dir))
                throw new IllegalArgumentException(dir + " is already quantized (" + QuantizedDecoderFile.schemeOf(dir) + "): quantize the FP model");
            DecoderModel fp = lm.model();
            ByteLevelBpeTokenizer tok = lm.requireTokenizer();
            long t0 = System.nanoTime();
            DecoderModel q;
            String name = scheme.name();
            if (o.lkd) {
                int seq = Math.min(o.lkdPaper ? PAPER_SEQ : LKD_SEQ, fp.config().maxPositions());
                int windows = o.lkdWindows != null ? o.lkdWindows : LKD_WINDOWS, steps = o.lkdSteps != null ? o.lkdSteps : LKD_STEPS;
                if (windows < 1) throw new IllegalArgumentException("--lkd-windows must be at least 1, not " + windows);
                List<int[][]> data = switch (o.lkdData) {
                    case "random" -> LkdData.randomWindows(fp.config().vocabSize(), 1, windows, LKD_BATCH, seq, 7);
                    case "calibration" -> LkdData.tokenWindows(tok.encode(TextCorpora.read(calibrationCorpus)), windows, LKD_BATCH, seq);
                    default -> LkdData.tokenWindows(tok.encode(TextCorpora.read(o.lkdData)), windows, LKD_BATCH, seq);
                };
                double lr = o.lkdLr != null ? o.lkdLr : DEFAULT_LR;
                int warmup = Math.min(10, steps);
                Lkd.Options options = o.lkdPaper ? new Lkd.Options(steps, lr, warmup, 1.0, o.checkpoints())
                        : new Lkd.Options(steps, lr, warmup, 1.0, o.checkpoints(), Lkd.Method.WEIGHTS_AND_CLIPPING, true, THRESHOLD_LR_FACTOR);
                q = DecoderLkd.distill(fp, scheme, data, options, QuantizeCommand.progress(), arena);
                name += o.lkdPaper ? " + LKD (paper)" : " + LKD";
            } else {
                int[] cal = tok.encode(TextCorpora.read(calibrationCorpus));
                List<int[]> windows = new ArrayList<>();
                for (int[][] b : LkdData.tokenWindows(cal, 16, 1, Math.min(fp.config().maxPositions(), Math.min(256, cal.length)))) windows.add(b[0]);
                q = DecoderQuantizer.quantize(fp, scheme, windows, arena);
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            QuantizedDecoderFile.write(o.out, q, name, dir);
            System.err.printf("zq: %s quantized with %s in %.1f s: %s (%,d bytes)%s%n", o.model, name, secs, o.out,
                    Files.size(o.out.resolve("model.safetensors")), o.lkd ? "; LKD data " + o.lkdData + ", checkpoints in " + o.checkpoints() : "");
        }
        return 0;
    }
}
