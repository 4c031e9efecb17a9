package dev.zq.model.bert;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.zq.model.DenseLinear;
import dev.zq.model.Linear;
import dev.zq.model.ModelFormatException;
import dev.zq.model.format.HfConfig;
import dev.zq.model.format.SafeTensors;
import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * BERT in the Hugging Face layout: a directory with {@code config.json} and {@code model.safetensors}
 * (names as HF's {@code BertModel} saves them, with or without the {@code bert.} prefix; F32/F16/BF16).
 */
public final class BertCheckpoint {
    private BertCheckpoint() {}

    /** The hyper-parameters in {@code dir/config.json}. */
    public static BertConfig readConfig(Path dir) throws ModelFormatException {
        HfConfig cfg = HfConfig.read(dir.resolve("config.json"));
        String act = cfg.optString("hidden_act", "gelu");
        if (!act.equals("gelu"))
            throw ModelFormatException.of(dir.resolve("config.json"), "hidden_act '" + act + "' is not supported (only the exact erf 'gelu')");
        try {
            return new BertConfig(cfg.getInt("vocab_size"), cfg.getInt("hidden_size"), cfg.getInt("num_hidden_layers"),
                    cfg.getInt("num_attention_heads"), cfg.getInt("intermediate_size"), cfg.optInt("max_position_embeddings", 512),
                    cfg.optInt("type_vocab_size", 2), cfg.optFloat("layer_norm_eps", 1e-12f));
        } catch (IllegalArgumentException e) {
            throw ModelFormatException.of(cfg.file(), "impossible BERT configuration: " + e.getMessage(), e);
        }
    }

    /** Loads the encoder; F32 weights stay views of {@code weights}, other float types are converted into {@code arena}. */
    public static BertEncoder load(Path dir, SafeTensors weights, Arena arena) throws ModelFormatException {
        BertConfig config = readConfig(dir);
        String prefix = weights.names().contains("bert.embeddings.word_embeddings.weight") ? "bert." : "";
        Loader l = new Loader(weights, arena, prefix);
        List<BertLayer> layers = new ArrayList<>();
        for (int i = 0; i < config.numLayers(); i++) {
            String p = "encoder.layer." + i + ".";
            layers.add(new BertLayer(l.linear(p + "attention.self.query"), l.linear(p + "attention.self.key"),
                    l.linear(p + "attention.self.value"), l.linear(p + "attention.output.dense"),
                    l.norm(p + "attention.output.LayerNorm"), l.linear(p + "intermediate.dense"),
                    l.linear(p + "output.dense"), l.norm(p + "output.LayerNorm")));
        }
        try {
            return new BertEncoder(config, l.tensor("embeddings.word_embeddings.weight"),
                    l.tensor("embeddings.position_embeddings.weight"), l.tensor("embeddings.token_type_embeddings.weight"),
                    l.norm("embeddings.LayerNorm"), layers);
        } catch (IllegalArgumentException e) {
            throw ModelFormatException.of(dir, "weights do not match config.json: " + e.getMessage(), e);
        }
    }

    /** Writes {@code encoder} (all projections must be {@link DenseLinear}) as config.json + model.safetensors. */
    public static void save(BertEncoder encoder, Path dir) throws IOException {
        Files.createDirectories(dir);
        BertConfig c = encoder.config();
        Map<String, Tensor> t = new LinkedHashMap<>();
        t.putAll(encoder.embeddingTensors());
        for (int i = 0; i < encoder.layers().size(); i++) {
            BertLayer layer = encoder.layers().get(i);
            List<String> names = BertEncoder.linearNames(i);
            List<Linear> lins = List.of(layer.query(), layer.key(), layer.value(), layer.attentionOutput(),
                    layer.intermediate(), layer.output());
            for (int k = 0; k < names.size(); k++) {
                if (!(lins.get(k) instanceof DenseLinear d))
                    throw new IllegalArgumentException(names.get(k) + " is " + lins.get(k).getClass().getSimpleName() + ", not an FP32 DenseLinear");
                t.put(names.get(k) + ".weight", d.weight());
                if (d.bias() != null) t.put(names.get(k) + ".bias", d.bias());
            }
            putNorm(t, "encoder.layer." + i + ".attention.output.LayerNorm", layer.attentionNorm());
            putNorm(t, "encoder.layer." + i + ".output.LayerNorm", layer.outputNorm());
        }
        SafeTensors.write(dir.resolve("model.safetensors"), t, Map.of("format", "pt"));

        writeConfig(c, dir);
    }

    /** HF's config.json for {@code c}, written atomically. */
    public static void writeConfig(BertConfig c, Path dir) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode cfg = json.createObjectNode();
        cfg.putArray("architectures").add("BertModel");
        cfg.put("model_type", "bert").put("vocab_size", c.vocabSize()).put("hidden_size", c.hiddenSize())
                .put("num_hidden_layers", c.numLayers()).put("num_attention_heads", c.numHeads())
                .put("intermediate_size", c.intermediateSize()).put("max_position_embeddings", c.maxPositions())
                .put("type_vocab_size", c.typeVocabSize()).put("layer_norm_eps", c.layerNormEps()).put("hidden_act", "gelu");
        Path tmp = Files.createTempFile(dir, "config", ".tmp");
        json.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), cfg);
        Files.move(tmp, dir.resolve("config.json"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private static void putNorm(Map<String, Tensor> t, String name, Norm n) {
        t.put(name + ".weight", n.gamma());
        t.put(name + ".bias", n.beta());
    }

    private record Loader(SafeTensors weights, Arena arena, String prefix) {
        Tensor tensor(String name) throws ModelFormatException {
            Tensor t = weights.get(prefix + name);
            if (!t.dtype().isFloatingPoint())
                throw ModelFormatException.of(weights.file(), prefix + name + " is " + t.dtype() + ", expected a float type");
            ModelFormatException.requireFinite(weights.file(), prefix + name, t);
            return t.dtype() == DType.F32 ? t : t.to(arena, DType.F32);
        }

        Linear linear(String module) throws ModelFormatException {
            Tensor w = tensor(module + ".weight");
            if (w.rank() != 2) throw new ModelFormatException(module + ".weight is " + w.shape() + ", expected [out, in]");
            Tensor b = weights.names().contains(prefix + module + ".bias") ? tensor(module + ".bias") : null;
            try {
                return new DenseLinear(w, b);
            } catch (IllegalArgumentException e) {
                throw new ModelFormatException(module + ": " + e.getMessage(), e);
            }
        }

        Norm norm(String module) throws ModelFormatException {
            return new Norm(tensor(module + ".weight"), tensor(module + ".bias"));
        }
    }
}
