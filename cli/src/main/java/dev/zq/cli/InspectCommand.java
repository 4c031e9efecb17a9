package dev.zq.cli;

import dev.zq.model.BundledModels;
import dev.zq.model.ModelFormatException;
import dev.zq.model.bert.BertConfig;
import dev.zq.model.bert.BertModel;
import dev.zq.model.decoder.DecoderCheckpoint;
import dev.zq.model.decoder.DecoderConfig;
import dev.zq.model.decoder.LanguageModel;
import dev.zq.model.format.OnnxModel;
import dev.zq.model.format.SafeTensors;
import dev.zq.quant.QuantizedDecoderFile;
import dev.zq.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;

/** {@code zq inspect MODEL}: what a weight file holds — tensors, shapes, dtypes, parameter count. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "List a model's tensors (name, dtype, shape), parameters per dtype, and its architecture if zq knows it.")
final class InspectCommand implements Callable<Integer> {
    @Parameters(paramLabel = "MODEL", description = "A bundled model name (" + BundledModels.MINILM + "), an .onnx or .safetensors file, or a model directory.")
    String model;

    @Option(names = "--tensors", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "List every tensor (default ${DEFAULT-VALUE}).")
    boolean listTensors;

    @Override
    public Integer call() throws Exception {
        Path path = BundledModels.resolve(model);
        PrintStream out = System.out;
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Path file = weightFile(path);
        out.println("file: " + file + " (" + String.format("%,d", Files.size(file)) + " bytes)");
        if (file.toString().endsWith(".onnx")) {
            try (OnnxModel m = OnnxModel.read(file)) {
                out.println("format: ONNX, " + m.nodes().size() + " nodes, inputs " + m.inputs() + ", outputs " + m.outputs());
                tensors.putAll(m.initializers());
                report(out, tensors);
            }
        } else {
            try (SafeTensors st = SafeTensors.open(file)) {
                // Per-tensor quantization metadata (zq.bits.NAME, …) is summarised, not listed.
                var meta = new java.util.TreeMap<String, String>();
                int perTensor = 0;
                for (var e : st.metadata().entrySet()) {
                    if (e.getKey().matches("zq\\.(bits|group|act|dtype|shape)\\..*")) perTensor++;
                    else meta.put(e.getKey(), e.getValue());
                }
                out.println("format: safetensors, metadata " + meta + (perTensor > 0 ? " (+" + perTensor + " per-tensor quantization entries)" : ""));
                for (String n : st.names()) tensors.put(n, st.get(n));
                report(out, tensors);
            }
        }
        describeArchitecture(out, path);
        return 0;
    }

    private void report(PrintStream out, Map<String, Tensor> tensors) {
        Map<String, Long> perType = new TreeMap<>();
        long total = 0;
        for (var e : tensors.entrySet()) {
            Tensor t = e.getValue();
            perType.merge(t.dtype().name(), t.numel(), Long::sum);
            total += t.numel();
            if (listTensors) out.printf("  %-60s %-5s %s%n", e.getKey(), t.dtype(), t.shape());
        }
        out.printf("tensors: %d, parameters: %,d %s%n", tensors.size(), total, perType);
    }

    private static void describeArchitecture(PrintStream out, Path path) {
        if (Files.isDirectory(path) && DecoderCheckpoint.isDecoder(path)) {
            describeDecoder(out, path);
            return;
        }
        try (BertModel bert = dev.zq.quant.QuantizedModelFile.openAny(path)) {
            BertConfig c = bert.encoder().config();
            out.printf("architecture: BERT encoder, %d layers, hidden %d, %d heads (head dim %d), MLP %d, vocab %d, %d positions, eps %s%n",
                    c.numLayers(), c.hiddenSize(), c.numHeads(), c.headDim(), c.intermediateSize(), c.vocabSize(),
                    c.maxPositions(), c.layerNormEps());
            out.printf("encoder parameters: %,d%n", bert.encoder().parameterCount());
        } catch (ModelFormatException | RuntimeException e) {
            out.println("architecture: not recognised as a BERT encoder (" + Zq.describe(e) + ")");
        }
    }

    /** A GPT-2/LLaMA directory, FP or written by {@code zq quantize}: its shapes, its scheme if quantized, and whether it loads. */
    private static void describeDecoder(PrintStream out, Path path) {
        try (LanguageModel lm = QuantizedDecoderFile.openAny(path)) {
            DecoderConfig c = lm.model().config();
            out.printf("architecture: %s decoder, %d layers, hidden %d, %d heads (head dim %d, %d key/value heads), MLP %d (%s), vocab %d, "
                            + "%d positions, eps %s%s%n", c.family() == DecoderConfig.Family.GPT2 ? "GPT-2" : "LLaMA",
                    c.numLayers(), c.hiddenSize(), c.numHeads(), c.headDim(), c.numKvHeads(), c.intermediateSize(), c.activation(), c.vocabSize(),
                    c.maxPositions(), c.normEps(), c.tiedEmbeddings() ? ", tied embeddings" : "");
            String scheme = QuantizedDecoderFile.schemeOf(path);
            out.println("precision: " + (scheme == null ? "FP (as stored)" : "quantized by zq, " + scheme));
            out.printf("weights in memory: %,d bytes%n", lm.model().weightBytes());
        } catch (ModelFormatException | RuntimeException e) {
            out.println("architecture: a decoder directory that does not load (" + Zq.describe(e) + ")");
        }
    }

    private static Path weightFile(Path path) throws ModelFormatException {
        if (!Files.isDirectory(path)) return path;
        for (String n : new String[]{"model.onnx", "model.safetensors"})
            if (Files.isRegularFile(path.resolve(n))) return path.resolve(n);
        throw ModelFormatException.of(path, "directory holds neither model.onnx nor model.safetensors");
    }
}
