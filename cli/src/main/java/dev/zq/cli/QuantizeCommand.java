package dev.zq.cli;

import dev.zq.bench.EmbeddingEvaluation;
import dev.zq.model.BundledModels;
import dev.zq.model.bert.BertEncoder;
import dev.zq.model.bert.BertModel;
import dev.zq.model.bert.SentenceEmbedder;
import dev.zq.model.tokenizer.Encoding;
import dev.zq.model.tokenizer.WordPieceTokenizer;
import dev.zq.quant.BertQuantizer;
import dev.zq.quant.QuantizedModelFile;
import dev.zq.quant.Scheme;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code zq quantize}: applies a scheme to a model and writes the quantized model directory. */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = "Quantize a BERT encoder with a ZeroQuant scheme and write a model directory that zq loads without the original weights.")
final class QuantizeCommand implements Callable<Integer> {
    @Option(names = "--model", defaultValue = BundledModels.MINILM, description = "Model to quantize (default ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--config", required = true,
            description = "Scheme: a JSON file, or a built-in id (w16a16, w8a16, w16a8, w8a8-ptq, w8a8, w4-8a16-ptq, w4-8a16, w4-8a8).")
    String config;

    @Option(names = "--out", required = true, description = "Output directory (replaced atomically if it exists).")
    Path out;

    @Option(names = "--calibration", description = "Text file, one sentence per line, for schemes with static activation ranges (default: zq's calibration sentences).")
    Path calibration;

    @Override
    public Integer call() throws Exception {
        Scheme scheme = Scheme.resolve(config);
        Path path = BundledModels.resolve(model);
        Path dir = BundledModels.directoryOf(path);
        WordPieceTokenizer tok = WordPieceTokenizer.fromJson(dir.resolve("tokenizer.json"));
        List<String> cal = calibration == null ? EmbeddingEvaluation.resource("calibration.txt")
                : Files.readAllLines(calibration).stream().filter(l -> !l.isBlank()).toList();
        List<List<Encoding>> batches = new ArrayList<>();
        for (int i = 0; i < cal.size(); i += 8)
            batches.add(tok.encodeBatch(cal.subList(i, Math.min(cal.size(), i + 8)), SentenceEmbedder.DEFAULT_MAX_LENGTH, true));
        try (BertModel fp = QuantizedModelFile.openAny(path); Arena arena = Arena.ofShared()) {
            long t0 = System.nanoTime();
            BertEncoder q = BertQuantizer.quantize(fp.encoder(), scheme, batches, arena);
            double secs = (System.nanoTime() - t0) / 1e9;
            QuantizedModelFile.write(out, q, scheme.name(), dir.resolve("tokenizer.json"));
            System.err.printf("zq: %s quantized with %s in %.2f s: %s (%,d bytes)%n", model, scheme.name(), secs, out,
                    Files.size(out.resolve("model.safetensors")));
        }
        return 0;
    }
}
