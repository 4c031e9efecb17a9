package dev.zq.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.zq.model.corpus.TextCorpora;
import dev.zq.model.decoder.DecoderModel;
import dev.zq.model.decoder.LanguageModel;
import dev.zq.model.decoder.Perplexity;
import dev.zq.quant.DecoderQuantizer;
import dev.zq.quant.Scheme;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@code zq eval} for decoders: perplexity of the FP32 model and of the model under a scheme on a real
 * text corpus, with HF's sliding window. Static-range schemes are calibrated on the corpus's last
 * {@code 2·window} tokens, which are then left out of the evaluated text.
 */
final class PerplexityEval {
    private PerplexityEval() {}

    static ObjectNode run(Path dir, Scheme scheme, String corpus, int window, int stride, int maxTokens) throws Exception {
        try (LanguageModel lm = LanguageModel.open(dir); Arena arena = Arena.ofShared()) {
            DecoderModel fp = lm.model();
            if (window <= 0) window = Math.min(1024, fp.config().maxPositions());
            if (stride <= 0) stride = Math.max(1, window / 2);
            int[] all = lm.requireTokenizer().encode(TextCorpora.read(corpus));
            int calibrationLength = Math.min(all.length / 4, 2 * window);
            int[] text = Arrays.copyOf(all, all.length - calibrationLength);
            if (maxTokens > 0 && text.length > maxTokens) text = Arrays.copyOf(text, maxTokens);
            List<int[]> calibration = new ArrayList<>();
            for (int from = all.length - calibrationLength; from + 2 <= all.length; from += window)
                calibration.add(Arrays.copyOfRange(all, from, Math.min(all.length, from + window)));

            ObjectNode o = new ObjectMapper().createObjectNode();
            o.put("model", dir.toString()).put("corpus", corpus).put("scheme", scheme.name());
            o.put("window", window).put("stride", stride).put("corpus_tokens", all.length).put("calibration_tokens", calibrationLength);
            Perplexity.Result ref = measure("FP32", fp, text, window, stride);
            long t0 = System.nanoTime();
            DecoderModel q = DecoderQuantizer.quantize(fp, scheme, calibration, arena);
            double quantizeSeconds = (System.nanoTime() - t0) / 1e9;
            Perplexity.Result r = measure(scheme.name(), q, text, window, stride);
            o.put("tokens_scored", r.tokensScored());
            o.putObject("metrics").put("perplexity", r.perplexity()).put("perplexity_fp32", ref.perplexity())
                    .put("mean_nll", r.meanNll()).put("mean_nll_fp32", ref.meanNll());
            o.put("quantize_seconds", quantizeSeconds).put("weights_bytes_in_memory", q.weightBytes())
                    .put("weights_bytes_in_memory_fp32", fp.weightBytes());
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
