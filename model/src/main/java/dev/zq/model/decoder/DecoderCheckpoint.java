package dev.zq.model.decoder;

import dev.zq.model.DenseLinear;
import dev.zq.model.Linear;
import dev.zq.model.ModelFormatException;
import dev.zq.model.format.HfConfig;
import dev.zq.model.format.SafeTensors;
import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Decoders in the Hugging Face layout: {@code config.json} + {@code model.safetensors} as
 * {@code GPT2LMHeadModel} (or {@code GPT2Model}, names without {@code transformer.}) and
 * {@code LlamaForCausalLM} save them. GPT-2 stores its projections as {@code Conv1D} ({@code [in, out]});
 * they are transposed once into {@code arena}. F16/BF16 weights are widened to F32.
 */
public final class DecoderCheckpoint {
    private DecoderCheckpoint() {}

    public static DecoderConfig readConfig(Path dir) throws ModelFormatException {
        HfConfig cfg = HfConfig.read(dir.resolve("config.json"));
        String type = cfg.modelType();
        try {
            return switch (type) {
                case "gpt2" -> {
                    int hidden = cfg.getInt("n_embd");
                    String act = cfg.optString("activation_function", "gelu_new");
                    DecoderConfig.Activation a = switch (act) {
                        case "gelu_new", "gelu_pytorch_tanh" -> DecoderConfig.Activation.GELU_TANH;
                        case "gelu" -> DecoderConfig.Activation.GELU;
                        default -> throw ModelFormatException.of(cfg.file(), "activation_function '" + act + "' is not supported");
                    };
                    if (cfg.optBoolean("scale_attn_by_inverse_layer_idx", false) || cfg.optBoolean("reorder_and_upcast_attn", false))
                        throw ModelFormatException.of(cfg.file(), "scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported");
                    int heads = cfg.getInt("n_head");
                    yield new DecoderConfig(DecoderConfig.Family.GPT2, cfg.getInt("vocab_size"), hidden, cfg.getInt("n_layer"), heads, heads,
                            cfg.optInt("n_inner", 4 * hidden), cfg.optInt("n_positions", 1024), cfg.optFloat("layer_norm_epsilon", 1e-5f),
                            0f, a, cfg.optBoolean("tie_word_embeddings", true));
                }
                case "llama" -> {
                    String act = cfg.optString("hidden_act", "silu");
                    if (!act.equals("silu")) throw ModelFormatException.of(cfg.file(), "hidden_act '" + act + "' is not supported (LLaMA uses silu)");
                    HfConfig rope = cfg.section("rope_parameters");
                    HfConfig scaling = cfg.section("rope_scaling");
                    if ((rope != null && !rope.optString("rope_type", "default").equals("default"))
                            || (scaling != null && !scaling.optString("rope_type", scaling.optString("type", "default")).equals("default")))
                        throw ModelFormatException.of(cfg.file(), "scaled rotary embeddings are not supported");
                    float theta = rope != null ? rope.optFloat("rope_theta", 10000f) : cfg.optFloat("rope_theta", 10000f);
                    int hidden = cfg.getInt("hidden_size"), heads = cfg.getInt("num_attention_heads");
                    if (cfg.has("head_dim") && cfg.getInt("head_dim") != hidden / heads)
                        throw ModelFormatException.of(cfg.file(), "head_dim " + cfg.getInt("head_dim") + " != hidden_size / heads is not supported");
                    yield new DecoderConfig(DecoderConfig.Family.LLAMA, cfg.getInt("vocab_size"), hidden, cfg.getInt("num_hidden_layers"),
                            heads, cfg.optInt("num_key_value_heads", heads), cfg.getInt("intermediate_size"),
                            cfg.optInt("max_position_embeddings", 2048), cfg.optFloat("rms_norm_eps", 1e-6f), theta,
                            DecoderConfig.Activation.SWIGLU, cfg.optBoolean("tie_word_embeddings", false));
                }
                default -> throw ModelFormatException.of(cfg.file(), "model_type '" + type + "' is not a supported decoder (gpt2, llama)");
            };
        } catch (IllegalArgumentException e) {
            throw ModelFormatException.of(cfg.file(), "impossible decoder configuration: " + e.getMessage(), e);
        }
    }

    /** Is {@code dir} a decoder checkpoint (by its config's model_type)? */
    public static boolean isDecoder(Path dir) {
        try {
            String t = HfConfig.read(dir.resolve("config.json")).modelType();
            return t.equals("gpt2") || t.equals("llama");
        } catch (ModelFormatException e) {
            return false;
        }
    }

    /** Reads block projection {@code name} (HF's module name, e.g. {@code transformer.h.0.attn.c_attn}) from a file. */
    @FunctionalInterface
    public interface ProjectionReader {
        Linear read(SafeTensors weights, String name) throws ModelFormatException;
    }

    /** Puts block projection {@code name}'s tensors and metadata (a quantized format's own layout). */
    @FunctionalInterface
    public interface ProjectionWriter {
        void write(java.util.Map<String, Tensor> tensors, java.util.Map<String, String> metadata, String name, Linear linear);
    }

    public static DecoderModel load(Path dir, SafeTensors weights, Arena arena) throws ModelFormatException {
        return load(dir, weights, arena, null);
    }

    /** Loads a decoder; {@code projections} null reads HF's FP projections, else it reads each block projection. */
    public static DecoderModel load(Path dir, SafeTensors weights, Arena arena, ProjectionReader projections) throws ModelFormatException {
        DecoderConfig c = readConfig(dir);
        try {
            return c.family() == DecoderConfig.Family.GPT2 ? loadGpt2(c, weights, arena, projections) : loadLlama(c, weights, arena, projections);
        } catch (IllegalArgumentException e) {
            throw ModelFormatException.of(weights.file(), "weights do not match config.json: " + e.getMessage(), e);
        }
    }

    private static DecoderModel loadGpt2(DecoderConfig c, SafeTensors w, Arena arena, ProjectionReader pr) throws ModelFormatException {
        Loader l = new Loader(w, arena, w.names().contains("transformer.wte.weight") ? "transformer." : "");
        ProjectionReader r = pr != null ? pr : (st, name) -> l.conv1d(name.substring("transformer.".length()));
        List<DecoderLayer> layers = new ArrayList<>();
        for (int i = 0; i < c.numLayers(); i++) {
            String p = "h." + i + ".", full = "transformer." + p;
            layers.add(new DecoderLayer(l.norm(p + "ln_1", true), r.read(w, full + "attn.c_attn"), null, null, null, r.read(w, full + "attn.c_proj"),
                    l.norm(p + "ln_2", true), null, r.read(w, full + "mlp.c_fc"), r.read(w, full + "mlp.c_proj")));
        }
        Tensor wte = l.tensor("wte.weight");
        Linear head = c.tiedEmbeddings() || !w.names().contains("lm_head.weight") ? new DenseLinear(wte, null)
                : new DenseLinear(new Loader(w, arena, "").tensor("lm_head.weight"), null);
        return new DecoderModel(c, wte, l.tensor("wpe.weight"), layers, l.norm("ln_f", true), head);
    }

    private static DecoderModel loadLlama(DecoderConfig c, SafeTensors w, Arena arena, ProjectionReader pr) throws ModelFormatException {
        Loader l = new Loader(w, arena, "model.");
        ProjectionReader r = pr != null ? pr : (st, name) -> l.linear(name.substring("model.".length()));
        List<DecoderLayer> layers = new ArrayList<>();
        for (int i = 0; i < c.numLayers(); i++) {
            String p = "layers." + i + ".", full = "model." + p;
            layers.add(new DecoderLayer(l.norm(p + "input_layernorm", false), null, r.read(w, full + "self_attn.q_proj"),
                    r.read(w, full + "self_attn.k_proj"), r.read(w, full + "self_attn.v_proj"), r.read(w, full + "self_attn.o_proj"),
                    l.norm(p + "post_attention_layernorm", false), r.read(w, full + "mlp.gate_proj"), r.read(w, full + "mlp.up_proj"),
                    r.read(w, full + "mlp.down_proj")));
        }
        Tensor embed = l.tensor("embed_tokens.weight");
        Linear head = c.tiedEmbeddings() ? new DenseLinear(embed, null) : new DenseLinear(new Loader(w, arena, "").tensor("lm_head.weight"), null);
        return new DecoderModel(c, embed, null, layers, l.norm("norm", false), head);
    }

    /**
     * Writes {@code m} (all projections FP32 {@link DenseLinear}s) as HF would save it: config.json and
     * model.safetensors, GPT-2 projections transposed back to Conv1D's {@code [in, out]}.
     */
    public static void save(DecoderModel m, Path dir) throws java.io.IOException {
        save(m, dir, null, java.util.Map.of("format", "pt"));
    }

    /** As {@link #save(DecoderModel, Path)}, with block projections written by {@code projections} when it is not null. */
    public static void save(DecoderModel m, Path dir, ProjectionWriter projections, java.util.Map<String, String> metadata) throws java.io.IOException {
        java.nio.file.Files.createDirectories(dir);
        java.util.Map<String, String> meta = new java.util.LinkedHashMap<>(metadata);
        DecoderConfig c = m.config();
        boolean gpt2 = c.family() == DecoderConfig.Family.GPT2;
        java.util.Map<String, Tensor> t = new java.util.LinkedHashMap<>();
        try (Arena scratch = Arena.ofConfined()) {
            String root = gpt2 ? "transformer." : "model.";
            t.put(root + (gpt2 ? "wte.weight" : "embed_tokens.weight"), exact16(scratch, m.tokenEmbeddings()));
            if (gpt2) t.put("transformer.wpe.weight", exact16(scratch, m.positionEmbeddings()));
            for (int i = 0; i < c.numLayers(); i++) {
                DecoderLayer l = m.layers().get(i);
                List<String> names = m.linearNames(i);
                Linear[] lins = gpt2 ? new Linear[]{l.qkv(), l.output(), l.up(), l.down()}
                        : new Linear[]{l.q(), l.k(), l.v(), l.output(), l.gate(), l.up(), l.down()};
                for (int k = 0; k < lins.length; k++) {
                    if (projections != null) {
                        projections.write(t, meta, names.get(k), lins[k]);
                        continue;
                    }
                    if (!(lins[k] instanceof DenseLinear d))
                        throw new IllegalArgumentException(names.get(k) + " is " + lins[k].getClass().getSimpleName() + ", not an FP32 DenseLinear");
                    t.put(names.get(k) + ".weight", exact16(scratch, gpt2 ? transpose(scratch, d.weight()) : d.weight()));
                    if (d.bias() != null) t.put(names.get(k) + ".bias", exact16(scratch, d.bias()));
                }
                putNorm(scratch, t, gpt2 ? "transformer.h." + i + ".ln_1" : "model.layers." + i + ".input_layernorm", l.attentionNorm());
                putNorm(scratch, t, gpt2 ? "transformer.h." + i + ".ln_2" : "model.layers." + i + ".post_attention_layernorm", l.mlpNorm());
            }
            putNorm(scratch, t, gpt2 ? "transformer.ln_f" : "model.norm", m.finalNorm());
            if (!c.tiedEmbeddings()) {
                if (!(m.lmHead() instanceof DenseLinear d)) throw new IllegalArgumentException("the LM head is not an FP32 DenseLinear");
                t.put("lm_head.weight", exact16(scratch, d.weight()));
            }
            SafeTensors.write(dir.resolve("model.safetensors"), t, meta);
        }
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        var cfg = json.createObjectNode();
        if (gpt2) {
            cfg.putArray("architectures").add("GPT2LMHeadModel");
            cfg.put("model_type", "gpt2").put("vocab_size", c.vocabSize()).put("n_embd", c.hiddenSize()).put("n_layer", c.numLayers())
                    .put("n_head", c.numHeads()).put("n_inner", c.intermediateSize()).put("n_positions", c.maxPositions())
                    .put("layer_norm_epsilon", c.normEps()).put("tie_word_embeddings", c.tiedEmbeddings())
                    .put("activation_function", c.activation() == DecoderConfig.Activation.GELU ? "gelu" : "gelu_new");
        } else {
            cfg.putArray("architectures").add("LlamaForCausalLM");
            cfg.put("model_type", "llama").put("vocab_size", c.vocabSize()).put("hidden_size", c.hiddenSize())
                    .put("num_hidden_layers", c.numLayers()).put("num_attention_heads", c.numHeads()).put("num_key_value_heads", c.numKvHeads())
                    .put("intermediate_size", c.intermediateSize()).put("max_position_embeddings", c.maxPositions())
                    .put("rms_norm_eps", c.normEps()).put("rope_theta", c.ropeTheta()).put("hidden_act", "silu")
                    .put("tie_word_embeddings", c.tiedEmbeddings());
        }
        Path tmp = java.nio.file.Files.createTempFile(dir, "config", ".tmp");
        json.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), cfg);
        java.nio.file.Files.move(tmp, dir.resolve("config.json"), java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    private static void putNorm(Arena arena, java.util.Map<String, Tensor> t, String name, Norm n) {
        t.put(name + ".weight", exact16(arena, n.weight()));
        if (n.bias() != null) t.put(name + ".bias", exact16(arena, n.bias()));
    }

    /**
     * {@code t} in 16 bits where that loses nothing: as F16 if every value converts to F16 and back to the same float
     * bits, else as BF16 if every value's low 16 bits are zero, else {@code t} itself. The loader widens F16 and BF16 to
     * the same F32 bits, so a model saved and loaded again is unchanged — and one that came from an F16 or BF16 checkpoint
     * (most published decoders; zq's bundled ones) is not written back at twice its size: embeddings, norms and the LM
     * head, which no scheme quantizes, would otherwise be most of a quantized small model's file.
     */
    public static Tensor exact16(Arena arena, Tensor t) {
        if (t.dtype() != DType.F32) return t;
        long n = t.numel();
        boolean f16 = true, bf16 = true;
        for (long i = 0; i < n && (f16 || bf16); i++) {
            float v = t.getFloat(i);
            int bits = Float.floatToRawIntBits(v);
            if (f16 && Float.floatToRawIntBits(Float.float16ToFloat(Float.floatToFloat16(v))) != bits) f16 = false;
            if (bf16 && (bits & 0xFFFF) != 0) bf16 = false;
        }
        return f16 ? t.to(arena, DType.F16) : bf16 ? t.to(arena, DType.BF16) : t;
    }

    private static Tensor transpose(Arena arena, Tensor w) {
        int rows = w.dim(0), cols = w.dim(1);
        Tensor out = Tensor.allocate(arena, DType.F32, cols, rows);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) out.setFloat((long) c * rows + r, w.getFloat((long) r * cols + c));
        return out;
    }

    private record Loader(SafeTensors weights, Arena arena, String prefix) {
        Tensor tensor(String name) throws ModelFormatException {
            Tensor t = weights.get(prefix + name);
            if (!t.dtype().isFloatingPoint())
                throw ModelFormatException.of(weights.file(), prefix + name + " is " + t.dtype() + ", expected a float type");
            ModelFormatException.requireFinite(weights.file(), prefix + name, t);
            return t.dtype() == DType.F32 ? t : t.to(arena, DType.F32);
        }

        Tensor optional(String name) throws ModelFormatException {
            return weights.names().contains(prefix + name) ? tensor(name) : null;
        }

        /** GPT-2's Conv1D: weight [in, out], bias [out]. */
        Linear conv1d(String module) throws ModelFormatException {
            Tensor wt = tensor(module + ".weight");
            if (wt.rank() != 2) throw ModelFormatException.of(weights.file(), module + ".weight is " + wt.shape() + ", expected [in, out]");
            return DenseLinear.fromInOut(arena, wt, optional(module + ".bias"));
        }

        /** nn.Linear: weight [out, in], optional bias. */
        Linear linear(String module) throws ModelFormatException {
            Tensor wt = tensor(module + ".weight");
            if (wt.rank() != 2) throw ModelFormatException.of(weights.file(), module + ".weight is " + wt.shape() + ", expected [out, in]");
            return new DenseLinear(wt, optional(module + ".bias"));
        }

        Norm norm(String module, boolean withBias) throws ModelFormatException {
            return new Norm(tensor(module + ".weight"), withBias ? tensor(module + ".bias") : null);
        }
    }
}
