package dev.zq.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.zq.model.corpus.TextCorpora;
import dev.zq.model.decoder.DecoderModel;
import dev.zq.model.decoder.LanguageModel;
import dev.zq.model.decoder.Perplexity;
import dev.zq.lkd.LkdData;
import dev.zq.quant.DecoderQuantizer;
import dev.zq.quant.LinearQuantizer;
import dev.zq.quant.QuantizedDecoderFile;
import dev.zq.quant.Scheme;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@code zq eval} for decoders: perplexity of the FP32 model and of the model under a scheme on a real
 * text corpus, with HF's sliding window; or of a model {@code zq quantize} wrote, beside its FP source. Static-range schemes are calibrated on 16 windows spread over the
 * calibration corpus when one is given, else on the evaluated corpus's last {@code 2·window} tokens, which
 * are then left out of the evaluated text.
 */
final class PerplexityEval {
    private PerplexityEval() {}

    /**
     * An FP directory: FP32 and {@code scheme} (default W8A8 ZeroQuant). A quantized directory ({@code zq quantize}'s output):
     * the model as stored, beside the FP model it was made from when that directory still exists; {@code scheme} must be null.
     */
    static ObjectNode run(Path dir, Scheme scheme, String corpus, String calibrationCorpus, int window, int stride, int maxTokens) throws Exception {
        // 0 asks for the default; a negative count is a mistake, not a request for the default
        if (window < 0 || stride < 0 || maxTokens < 0)
            throw new IllegalArgumentException("--window, --stride and --max-tokens take 0 (the default) or more, got " + window + ", " + stride + ", " + maxTokens);
        boolean stored = QuantizedDecoderFile.isQuantized(dir);
        if (stored && scheme != null)
            throw new IllegalArgumentException(dir + " is already quantized (" + QuantizedDecoderFile.schemeOf(dir) + "); drop --scheme to evaluate it as stored");
        if (stored && calibrationCorpus != null)
            throw new IllegalArgumentException(dir + " is already quantized: its static ranges, if any, were calibrated when it was written; drop --calibration");
        if (scheme == null && !stored) scheme = Scheme.builtin("w8a8");
        Path source = stored ? QuantizedDecoderFile.sourceOf(dir) : dir;
        boolean withReference = source != null && Files.isDirectory(source) && !QuantizedDecoderFile.isQuantized(source);
        try (LanguageModel lm = QuantizedDecoderFile.openAny(dir); Arena arena = Arena.ofShared();
             LanguageModel ref = stored && withReference ? QuantizedDecoderFile.openAny(source) : null) {
            DecoderModel model = lm.model();
            if (window <= 0) window = Math.min(1024, model.config().maxPositions());
            if (stride <= 0) stride = Math.max(1, window / 2);
            int[] all = lm.requireTokenizer().encode(TextCorpora.read(corpus));
            List<int[]> calibration = new ArrayList<>();
            int calibrationLength = 0;
            boolean calibrates = !stored && LinearQuantizer.needsCalibration(scheme);
            if (calibrates && calibrationCorpus != null) {
                int[] cal = lm.requireTokenizer().encode(TextCorpora.read(calibrationCorpus));
                for (int[][] b : LkdData.tokenWindows(cal, 16, 1, Math.min(window, cal.length))) calibration.add(b[0]);
            } else if (calibrates) {
                calibrationLength = Math.min(all.length / 4, 2 * window);
                for (int from = all.length - calibrationLength; from + 2 <= all.length; from += window)
                    calibration.add(Arrays.copyOfRange(all, from, Math.min(all.length, from + window)));
            }
            int[] text = Arrays.copyOf(all, all.length - calibrationLength);
            if (maxTokens > 0 && text.length > maxTokens) text = Arrays.copyOf(text, maxTokens);

            ObjectNode o = new ObjectMapper().createObjectNode();
            String schemeName = stored ? QuantizedDecoderFile.schemeOf(dir) : scheme.name();
            o.put("model", dir.toString()).put("corpus", corpus).put("scheme", schemeName);
            if (stored) o.put("fp_model", withReference ? source.toString() : null);
            o.put("window", window).put("stride", stride).put("corpus_tokens", all.length);
            if (calibrates) o.put("calibration", calibrationCorpus == null ? corpus + " (last " + calibrationLength + " tokens, not scored)" : calibrationCorpus + " (16 windows)");
            DecoderModel fp = stored ? (withReference ? ref.model() : null) : model;
            Perplexity.Result fpResult = fp == null ? null : measure("FP32", fp, text, window, stride);
            DecoderModel q = model;
            double quantizeSeconds = 0;
            if (!stored) {
                long t0 = System.nanoTime();
                q = DecoderQuantizer.quantize(model, scheme, calibration, arena);
                quantizeSeconds = (System.nanoTime() - t0) / 1e9;
            }
            Perplexity.Result r = measure(schemeName, q, text, window, stride);
            o.put("tokens_scored", r.tokensScored());
            ObjectNode metrics = o.putObject("metrics").put("perplexity", r.perplexity()).put("mean_nll", r.meanNll());
            if (fpResult != null) metrics.put("perplexity_fp32", fpResult.perplexity()).put("mean_nll_fp32", fpResult.meanNll());
            if (!stored) o.put("quantize_seconds", quantizeSeconds);
            o.put("weights_bytes_in_memory", q.weightBytes());
            if (fp != null) o.put("weights_bytes_in_memory_fp32", fp.weightBytes());
            return o;
        }
    }

    private static Perplexity.Result measure(String label, DecoderModel m, int[] text, int window, int stride) {
        Progress p = new Progress(System.err, "perplexity " + label + ": tokens", text.length - 1);
        Perplexity.Result r = Perplexity.evaluate(m, text, window, stride, p::update);
        p.done();
        return r;
    }
}
