package dev.zq.cli;

import dev.zq.bench.EmbeddingEvaluation;
import dev.zq.model.BundledModels;
import dev.zq.model.bert.BertEncoder;
import dev.zq.model.bert.BertModel;
import dev.zq.model.decoder.DecoderCheckpoint;
import dev.zq.model.bert.SentenceEmbedder;
import dev.zq.model.tokenizer.Encoding;
import dev.zq.model.tokenizer.WordPieceTokenizer;
import dev.zq.lkd.BertLkd;
import dev.zq.lkd.Lkd;
import dev.zq.lkd.LkdData;
import dev.zq.model.corpus.TextCorpora;
import dev.zq.quant.BertQuantizer;
import dev.zq.quant.QuantizedModelFile;
import dev.zq.quant.Scheme;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code zq quantize}: applies a scheme to a model and writes the quantized model directory. */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = {"Quantize a model (a BERT encoder, or a GPT-2/LLaMA decoder) with a ZeroQuant scheme and write a model directory that zq loads without the original weights.",
                "--lkd adds layer-by-layer knowledge distillation: each layer, quantized, learns to reproduce the FP layer's output on unlabeled data."})
final class QuantizeCommand implements Callable<Integer> {
    static final int ENCODER_LKD_STEPS = 100;

    @Spec
    CommandSpec spec;

    @Option(names = "--model", defaultValue = BundledModels.MINILM,
            description = "Model to quantize: a bundled one (all-minilm-l6-v2, sotu-gpt, sotu-llama) or a directory (default ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--config", required = true,
            description = "Scheme: a JSON file, or a built-in id (w16a16, w8a16, w16a8, w8a8-ptq, w8a8, w8a8-per-row, w4-8a16-ptq, w4-8a16, w4-8a8).")
    String config;

    @Option(names = "--out", required = true, description = "Output directory: written atomically; an existing one is replaced only if it is empty or a model zq wrote.")
    Path out;

    @Option(names = "--calibration", description = "Data for schemes with static activation ranges. Encoders: a text file, one sentence per line "
            + "(default: zq's calibration sentences). Decoders: a corpus name or text file, 16 windows spread over it "
            + "(default: sotu-train for sotu-gpt and sotu-llama, else moby-dick).")
    String calibration;

    @Option(names = "--lkd", description = "Layer-by-layer knowledge distillation before the final quantization (ZeroQuant-LKD).")
    boolean lkd;

    @Option(names = "--lkd-data", defaultValue = "calibration",
            description = "LKD inputs: 'calibration' (encoders: zq's in-domain sentences; decoders: the --calibration corpus), a corpus name "
                    + "(moby-dick, sotu-train), 'random' (random tokens, no data), or a text file (encoders: one sentence per line) (default ${DEFAULT-VALUE}).")
    String lkdData;

    @Option(names = "--lkd-steps", description = "Adam steps per layer (default " + ENCODER_LKD_STEPS + " for encoders, "
            + DecoderQuantize.LKD_STEPS + " for decoders).")
    Integer lkdSteps;

    @Option(names = "--lkd-windows", description = "Decoders: LKD's windows of up to 256 tokens, in batches of " + DecoderQuantize.LKD_BATCH
            + " (default " + DecoderQuantize.LKD_WINDOWS + ").")
    Integer lkdWindows;

    @Option(names = "--lkd-lr", description = "Peak learning rate (warm-up then cosine decay; default 5e-5 for encoders, "
            + DecoderQuantize.DEFAULT_LR + " for decoders).")
    Double lkdLr;

    @Option(names = "--lkd-paper", description = "Decoders: the paper's LKD exactly — every block learns on the FP path's input, only "
            + "weights and biases train, windows of 128 tokens. Without it, zq's recipe (measured better on sotu-gpt, bench/RESULTS.md): each "
            + "block learns on the already distilled blocks' quantized output, learned clipping thresholds train beside the weights at "
            + DecoderQuantize.THRESHOLD_LR_FACTOR + "× the learning rate, windows of up to 256 tokens.")
    boolean lkdPaper;

    @Option(names = "--lkd-checkpoints", description = "Directory for per-layer checkpoints; a rerun of the same run (model, scheme, data, settings) resumes after the last finished layer, another run's checkpoints are refused (default: OUT.lkd).")
    Path lkdCheckpoints;

    @Override
    public Integer call() throws Exception {
        requireLkdForItsOptions();
        Scheme scheme = Scheme.resolve(config);
        QuantizedModelFile.checkReplaceable(out);   // before the work: a wrong --out is refused, never deleted
        Path path = BundledModels.resolve(model);
        if (Files.isDirectory(path) && DecoderCheckpoint.isDecoder(path)) return DecoderQuantize.run(this, path, scheme);
        if (lkdWindows != null) throw new IllegalArgumentException("--lkd-windows applies to decoders; an encoder's LKD runs on sentences (--lkd-data)");
        if (lkd) return distill(scheme);
        Path dir = BundledModels.directoryOf(path);
        WordPieceTokenizer tok = WordPieceTokenizer.fromJson(dir.resolve("tokenizer.json"));
        List<String> cal = calibration == null ? EmbeddingEvaluation.resource("calibration.txt")
                : Files.readAllLines(Path.of(calibration)).stream().filter(l -> !l.isBlank()).toList();
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

    /** An --lkd-… option without --lkd would be ignored: a user who typed it expected LKD, so it is refused before any work. */
    private void requireLkdForItsOptions() {
        if (lkd || spec == null) return;
        for (String name : List.of("--lkd-data", "--lkd-steps", "--lkd-windows", "--lkd-lr", "--lkd-paper", "--lkd-checkpoints"))
            if (spec.commandLine().getParseResult().hasMatchedOption(name))
                throw new IllegalArgumentException(name + " applies to LKD only: add --lkd, or leave " + name + " out");
    }

    private int distill(Scheme scheme) throws Exception {
        Path path = BundledModels.resolve(model);
        Path dir = BundledModels.directoryOf(path);
        WordPieceTokenizer tok = WordPieceTokenizer.fromJson(dir.resolve("tokenizer.json"));
        int maxLen = 64, batch = 8;
        List<List<Encoding>> data = switch (lkdData) {
            case "calibration" -> LkdData.batches(tok, EmbeddingEvaluation.resource("calibration.txt"), batch, maxLen);
            case "moby-dick" -> LkdData.batches(tok, LkdData.sentencesOf(TextCorpora.read(TextCorpora.MOBY_DICK), 64), batch, maxLen);
            case "random" -> LkdData.randomTokens(tok, 64, batch, maxLen, 1999, 7);
            default -> LkdData.batches(tok, Files.readAllLines(Path.of(lkdData)).stream().filter(l -> !l.isBlank()).toList(), batch, maxLen);
        };
        Path ckpt = checkpoints();
        int steps = lkdSteps != null ? lkdSteps : ENCODER_LKD_STEPS;
        try (BertModel fp = QuantizedModelFile.openAny(path); Arena arena = Arena.ofShared()) {
            long t0 = System.nanoTime();
            Lkd.Listener listener = progress();
            BertEncoder q = BertLkd.distill(fp.encoder(), scheme, data, new Lkd.Options(steps, lkdLr != null ? lkdLr : 5e-5, Math.min(10, steps), 1.0, ckpt),
                    listener, arena);
            QuantizedModelFile.write(out, q, scheme.name() + " + LKD", dir.resolve("tokenizer.json"));
            System.err.printf("zq: %s quantized with %s + LKD (%s) in %.1f s: %s (%,d bytes); checkpoints in %s%n", model, scheme.name(),
                    lkdData, (System.nanoTime() - t0) / 1e9, out, Files.size(out.resolve("model.safetensors")), ckpt);
        }
        return 0;
    }

    Path checkpoints() {
        return lkdCheckpoints != null ? lkdCheckpoints : out.resolveSibling(out.getFileName() + ".lkd");
    }

    /** LKD progress on stderr: a bar per layer, then its loss before and after. */
    static Lkd.Listener progress() {
        Progress[] bar = new Progress[1];
        return new Lkd.Listener() {
            @Override public void step(int layer, int step, int steps, double loss) {
                if (bar[0] == null) bar[0] = new Progress(System.err, "LKD layer " + layer + " steps", steps);
                bar[0].update(step);
            }
            @Override public void layerDone(Lkd.LayerReport r) {
                if (bar[0] != null) bar[0].done();
                bar[0] = null;
                System.err.printf("zq: LKD layer %d: MSE %.3e -> %.3e%s (%.1f s)%n", r.layer(), r.lossBefore(), r.lossAfter(),
                        r.resumed() ? " (from checkpoint)" : "", r.seconds());
            }
        };
    }
}
