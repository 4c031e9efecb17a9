package dev.zq.cli;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.zq.model.BundledModels;
import dev.zq.model.bert.SentenceEmbedder;
import dev.zq.quant.gpu.GraphSentenceEmbedder;
import dev.zq.runtime.Device;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code zq embed}: sentences in, unit-length sentence embeddings out, as JSON. */
@Command(name = "embed", mixinStandardHelpOptions = true,
        description = "Embed sentences with a BERT sentence encoder (mean pooling + L2 normalisation) and print JSON.")
final class EmbedCommand implements Callable<Integer> {
    @Option(names = "--model", defaultValue = BundledModels.MINILM,
            description = "Model: '${DEFAULT-VALUE}' (bundled), a model.onnx file, or a directory (model.onnx or config.json + model.safetensors, with tokenizer.json). Default: ${DEFAULT-VALUE}")
    String model;

    @Option(names = "--max-length", defaultValue = "" + SentenceEmbedder.DEFAULT_MAX_LENGTH,
            description = "Tokens per sentence, specials included (default ${DEFAULT-VALUE}).")
    int maxLength;

    @Option(names = "--batch", defaultValue = "32", description = "Sentences per forward pass (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--input", description = "Read sentences from this file, one per line ('-' for stdin).")
    String input;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu: the CPU engine (FP32, or the model's quantized layers). "
            + "gpu: the encoder's task graph on the first NVIDIA GPU, W16A16 for an FP32 model, W8A8 for one quantized with "
            + "w8a8-per-row or w8a8, W4/8A8 for w4-8a8. executor: that graph's kernels as plain Java on the CPU (slow: the reference a GPU run must equal). "
            + "Default: ${DEFAULT-VALUE}")
    DeviceChoice device;

    @Option(names = "--exact-attention", description = "With --device gpu|executor: attention on CUDA cores in a fixed order, so that a "
            + "W8A8 model gives the CPU executor's bits on the GPU (slower; the default uses tensor cores).")
    boolean exactAttention;

    @Parameters(arity = "0..*", paramLabel = "SENTENCE", description = "Sentences to embed.")
    List<String> sentences = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        List<String> all = new ArrayList<>(sentences);
        if (input != null) all.addAll(readLines(input));
        if (all.isEmpty()) throw new IllegalArgumentException("no sentences: pass them as arguments or with --input FILE");
        if (batch <= 0) throw new IllegalArgumentException("--batch must be positive, got " + batch);
        if (exactAttention && device == DeviceChoice.cpu) throw new IllegalArgumentException("--exact-attention is for --device gpu or executor");
        try (SentenceEmbedder embedder = SentenceEmbedder.open(BundledModels.resolve(model), maxLength, dev.zq.quant.QuantizedModelFile::openAny)) {
            Progress progress = new Progress(System.err, "embedding", all.size());
            List<float[]> vectors = new ArrayList<>(all.size());
            if (device == DeviceChoice.cpu) {
                for (int from = 0; from < all.size(); from += batch) {
                    List<String> chunk = all.subList(from, Math.min(all.size(), from + batch));
                    for (float[] v : embedder.embed(chunk, batch)) vectors.add(v);
                    progress.update(vectors.size());
                }
            } else {
                int rows = Math.min(batch, all.size());   // the graph's batch: no larger than the input needs
                try (Device d = device.open();
                     GraphSentenceEmbedder graphs = new GraphSentenceEmbedder(embedder.model().encoder(), d, rows, exactAttention)) {
                    for (int from = 0; from < all.size(); from += rows) {
                        List<String> chunk = all.subList(from, Math.min(all.size(), from + rows));
                        for (float[] v : graphs.embed(embedder.tokenizer().encodeBatch(chunk, maxLength, true))) vectors.add(v);
                        progress.update(vectors.size());
                    }
                }
            }
            progress.done();
            write(all, vectors);
        }
        return 0;
    }

    private static List<String> readLines(String input) throws Exception {
        if (input.equals("-")) {
            BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            return r.lines().toList();
        }
        return Files.readAllLines(Path.of(input), StandardCharsets.UTF_8);
    }

    private static void write(List<String> texts, List<float[]> vectors) throws Exception {
        JsonGenerator g = new ObjectMapper().getFactory().createGenerator(System.out, JsonEncoding.UTF8);
        g.writeStartArray();
        for (int i = 0; i < texts.size(); i++) {
            g.writeStartObject();
            g.writeStringField("text", texts.get(i));
            g.writeFieldName("embedding");
            g.writeStartArray();
            for (float x : vectors.get(i)) g.writeNumber(x);
            g.writeEndArray();
            g.writeEndObject();
        }
        g.writeEndArray();
        g.writeRaw('\n');
        g.flush();
    }
}
