package dev.zq.quant;

import dev.zq.model.DenseLinear;
import dev.zq.model.Linear;
import dev.zq.model.ModelFormatException;
import dev.zq.model.bert.BertCheckpoint;
import dev.zq.model.bert.BertConfig;
import dev.zq.model.bert.BertEncoder;
import dev.zq.model.bert.BertLayer;
import dev.zq.model.bert.BertModel;
import dev.zq.model.bert.Norm;
import dev.zq.model.decoder.DecoderCheckpoint;
import dev.zq.model.format.SafeTensors;
import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A quantized model on disk: a directory with {@code config.json}, {@code tokenizer.json} and
 * {@code model.safetensors} holding the integer weights and their scales, so the model runs without the
 * original weights. Per projection {@code NAME}:
 * <ul>
 * <li>integer weights: {@code NAME.qweight} (I8, or I4 packed two per byte) {@code [out, in]},
 *     {@code NAME.scales} (F32 {@code [out, groups]}), {@code NAME.bias}; metadata {@code zq.bits.NAME},
 *     {@code zq.group.NAME};</li>
 * <li>FP weights: {@code NAME.weight}, {@code NAME.bias};</li>
 * <li>weights and biases in floating point are F32, or F16 or BF16 where that holds every value exactly (read back as the
 *     same F32 values);</li>
 * <li>activations: metadata {@code zq.act.NAME} = {@code none}, {@code tokenwise}, or {@code static:SCALE}.</li>
 * </ul>
 * {@code zq.format} marks the file, {@code zq.scheme} keeps the scheme's name. Writing goes to a temporary
 * directory beside the target, which is renamed into place only when complete: a crash leaves the previous
 * model (or none), never a half-written one that loads.
 */
public final class QuantizedModelFile {
    public static final String FORMAT = "zq-quantized-bert/1";

    private QuantizedModelFile() {}

    public static void write(Path dir, BertEncoder encoder, String schemeName, Path tokenizerJson) throws IOException {
        writeAtomically(dir, tmp -> {
            Map<String, Tensor> t = new LinkedHashMap<>(encoder.embeddingTensors());
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("zq.format", FORMAT);
            meta.put("zq.scheme", schemeName);
            for (int i = 0; i < encoder.layers().size(); i++) {
                BertLayer l = encoder.layers().get(i);
                List<String> names = BertEncoder.linearNames(i);
                List<Linear> lins = List.of(l.query(), l.key(), l.value(), l.attentionOutput(), l.intermediate(), l.output());
                for (int k = 0; k < 6; k++) putLinear(t, meta, names.get(k), lins.get(k));
                String p = "encoder.layer." + i + ".";
                t.put(p + "attention.output.LayerNorm.weight", l.attentionNorm().gamma());
                t.put(p + "attention.output.LayerNorm.bias", l.attentionNorm().beta());
                t.put(p + "output.LayerNorm.weight", l.outputNorm().gamma());
                t.put(p + "output.LayerNorm.bias", l.outputNorm().beta());
            }
            SafeTensors.write(tmp.resolve("model.safetensors"), t, meta);
            BertCheckpoint.writeConfig(encoder.config(), tmp);
            Files.copy(tokenizerJson, tmp.resolve("tokenizer.json"));
        });
    }

    /** Fills the temporary directory that {@link #writeAtomically} then puts in place of the model directory. */
    interface DirectoryWriter {
        void write(Path tmp) throws IOException;
    }

    /**
     * Writes a model directory at {@code dir} through {@code writer}, into a temporary directory beside it that then takes
     * its place: a crash leaves the previous model (or none), never a half-written one that loads. {@code dir} must pass
     * {@link #checkReplaceable}.
     */
    static void writeAtomically(Path dir, DirectoryWriter writer) throws IOException {
        Path abs = checkReplaceable(dir);
        Path parent = abs.getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createTempDirectory(parent, "." + abs.getFileName() + ".tmp-");
        try {
            writer.write(tmp);
            Path old = null;
            if (Files.exists(abs)) {
                old = parent.resolve("." + abs.getFileName() + ".old-" + System.nanoTime());
                Files.move(abs, old, StandardCopyOption.ATOMIC_MOVE);
            }
            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE);
            if (old != null) deleteTree(old);
        } finally {
            if (Files.exists(tmp)) deleteTree(tmp);
        }
    }

    /**
     * Whether a model may be written to {@code dir}: it is absent, an empty directory, or a model directory zq wrote (an
     * encoder or a decoder), which the write then replaces. Anything else — a file, a directory of other things — is
     * refused with an {@link IllegalArgumentException} saying so, since the write would otherwise delete it. Returns
     * {@code dir} absolute and normalised. The CLI asks before it quantizes, so that a wrong {@code --out} costs nothing.
     */
    public static Path checkReplaceable(Path dir) throws IOException {
        Path abs = dir.toAbsolutePath().normalize();
        if (abs.getParent() == null) throw new IllegalArgumentException(dir + " is a file system root: write the model to a directory inside it");
        if (!Files.exists(abs, LinkOption.NOFOLLOW_LINKS)) return abs;
        if (!Files.isDirectory(abs, LinkOption.NOFOLLOW_LINKS))
            throw new IllegalArgumentException(dir + " exists and is not a directory: zq writes a model directory there only if it is absent, empty or a model zq wrote");
        try (Stream<Path> entries = Files.list(abs)) {
            List<String> names = entries.map(e -> e.getFileName().toString()).sorted().limit(3).toList();
            if (names.isEmpty() || hasFormat(abs, FORMAT) || hasFormat(abs, QuantizedDecoderFile.FORMAT)) return abs;
            throw new IllegalArgumentException(dir + " exists and is not a model zq wrote (it holds " + String.join(", ", names)
                    + (names.size() == 3 ? ", …" : "") + "); zq replaces only an empty directory or its own output: choose another output directory");
        }
    }

    static void putLinear(Map<String, Tensor> t, Map<String, String> meta, String name, Linear lin) {
        switch (lin) {
            case QuantizedLinear q -> {
                t.put(name + ".qweight", q.weight().codes());
                t.put(name + ".scales", q.weight().scales());
                if (q.bias() != null) t.put(name + ".bias", narrow(q.bias()));
                meta.put("zq.bits." + name, Integer.toString(q.weight().bits()));
                meta.put("zq.group." + name, Integer.toString(q.weight().groupSize()));
                meta.put("zq.act." + name, describe(q.activations()));
            }
            case FakeQuantInputLinear f -> {
                t.put(name + ".weight", narrow(f.inner().weight()));
                if (f.inner().bias() != null) t.put(name + ".bias", narrow(f.inner().bias()));
                meta.put("zq.act." + name, describe(f.activations()));
            }
            case DenseLinear d -> {
                t.put(name + ".weight", narrow(d.weight()));
                if (d.bias() != null) t.put(name + ".bias", narrow(d.bias()));
                meta.put("zq.act." + name, "none");
            }
            default -> throw new IllegalArgumentException(name + ": cannot save a " + lin.getClass().getSimpleName());
        }
    }

    /**
     * An FP projection's weight or bias in 16 bits where that is exact ({@link DecoderCheckpoint#exact16}): W16A16 and
     * W16A8 models of an F16 checkpoint are then the source's size, not twice it; {@link #readLinear} widens them back to
     * the same F32 bits. The copy lives until the write has used it (memory the collector frees).
     */
    private static Tensor narrow(Tensor t) {
        return DecoderCheckpoint.exact16(Arena.ofAuto(), t);
    }

    /**
     * An FP projection's weight or bias {@code name} as F32: as stored, or widened to the same values where {@link #narrow}
     * stored it in 16 bits (memory the collector frees with the model's last reference to it).
     */
    private static Tensor floats(SafeTensors st, String name) throws ModelFormatException {
        Tensor t = st.get(name);
        if (!t.dtype().isFloatingPoint()) throw ModelFormatException.of(st.file(), name + " is " + t.dtype() + ", expected a float type");
        ModelFormatException.requireFinite(st.file(), name, t);
        return t.dtype() == DType.F32 ? t : t.to(Arena.ofAuto(), DType.F32);
    }

    private static String describe(ActivationQuantizer a) {
        return switch (a) {
            case null -> "none";
            case TokenwiseQuantizer t -> "tokenwise";
            case StaticQuantizer s -> "static:" + Float.toString(s.scale());
        };
    }

    /** Whether {@code dir} holds a model written by {@link #write}. */
    public static boolean isQuantized(Path dir) {
        return hasFormat(dir, FORMAT);
    }

    /** Whether {@code dir}'s {@code model.safetensors} is readable and records {@code zq.format} = {@code format}. */
    static boolean hasFormat(Path dir, String format) {
        Path st = dir.resolve("model.safetensors");
        if (!Files.isRegularFile(st)) return false;
        try (SafeTensors s = SafeTensors.open(st)) {
            return format.equals(s.metadata().get("zq.format"));
        } catch (ModelFormatException e) {
            return false;
        }
    }

    /** Opens a quantized model directory, or any model {@link BertModel#open} reads. */
    public static BertModel openAny(Path path) throws ModelFormatException {
        return Files.isDirectory(path) && isQuantized(path) ? open(path) : BertModel.open(path);
    }

    public static BertModel open(Path dir) throws ModelFormatException {
        BertConfig config = BertCheckpoint.readConfig(dir);
        SafeTensors st = SafeTensors.open(dir.resolve("model.safetensors"));
        Arena arena = Arena.ofShared();
        try {
            Map<String, String> meta = st.metadata();
            if (!FORMAT.equals(meta.get("zq.format")))
                throw ModelFormatException.of(st.file(), "not a zq quantized model (zq.format is " + meta.get("zq.format") + ")");
            List<BertLayer> layers = new ArrayList<>();
            for (int i = 0; i < config.numLayers(); i++) {
                List<String> n = BertEncoder.linearNames(i);
                List<Linear> lin = new ArrayList<>();
                for (String name : n) lin.add(readLinear(st, meta, name));
                String p = "encoder.layer." + i + ".";
                layers.add(new BertLayer(lin.get(0), lin.get(1), lin.get(2), lin.get(3),
                        new Norm(finite(st, p + "attention.output.LayerNorm.weight"), finite(st, p + "attention.output.LayerNorm.bias")),
                        lin.get(4), lin.get(5),
                        new Norm(finite(st, p + "output.LayerNorm.weight"), finite(st, p + "output.LayerNorm.bias"))));
            }
            BertEncoder enc = new BertEncoder(config, finite(st, "embeddings.word_embeddings.weight"), finite(st, "embeddings.position_embeddings.weight"),
                    finite(st, "embeddings.token_type_embeddings.weight"),
                    new Norm(finite(st, "embeddings.LayerNorm.weight"), finite(st, "embeddings.LayerNorm.bias")), layers);
            return BertModel.of(enc, arena, st, dir);
        } catch (ModelFormatException e) {
            st.close();
            arena.close();
            throw e;
        } catch (IllegalArgumentException e) {
            st.close();
            arena.close();
            throw ModelFormatException.of(dir, "inconsistent quantized model: " + e.getMessage(), e);
        }
    }

    static Linear readLinear(SafeTensors st, Map<String, String> meta, String name) throws ModelFormatException {
        Tensor bias = st.names().contains(name + ".bias") ? floats(st, name + ".bias") : null;
        ActivationQuantizer act = parseAct(st, meta.get("zq.act." + name), name);
        if (st.names().contains(name + ".qweight")) {
            Tensor codes = st.get(name + ".qweight"), scales = finite(st, name + ".scales");
            int bits = intMeta(st, meta, "zq.bits." + name), group = intMeta(st, meta, "zq.group." + name);
            if (codes.rank() != 2) throw ModelFormatException.of(st.file(), name + ".qweight is " + codes.shape() + ", expected [out, in]");
            QuantizedWeight w = new QuantizedWeight(bits, codes.dim(0), codes.dim(1), group, codes, scales);
            return new QuantizedLinear(w, bias, act);
        }
        DenseLinear d = new DenseLinear(floats(st, name + ".weight"), bias);
        return act == null ? d : new FakeQuantInputLinear(d, act);
    }

    private static Tensor finite(SafeTensors st, String name) throws ModelFormatException {
        return ModelFormatException.requireFinite(st.file(), name, st.get(name));
    }

    private static ActivationQuantizer parseAct(SafeTensors st, String v, String name) throws ModelFormatException {
        if (v == null) throw ModelFormatException.of(st.file(), "no zq.act." + name + " metadata");
        if (v.equals("none")) return null;
        if (v.equals("tokenwise")) return new TokenwiseQuantizer();
        if (v.startsWith("static:")) {
            try {
                return new StaticQuantizer(Float.parseFloat(v.substring(7)));
            } catch (IllegalArgumentException e) {
                throw ModelFormatException.of(st.file(), "zq.act." + name + " = '" + v + "' is not a valid static scale");
            }
        }
        throw ModelFormatException.of(st.file(), "zq.act." + name + " = '" + v + "' is unknown");
    }

    private static int intMeta(SafeTensors st, Map<String, String> meta, String key) throws ModelFormatException {
        try {
            return Integer.parseInt(meta.get(key));
        } catch (NumberFormatException e) {
            throw ModelFormatException.of(st.file(), "metadata " + key + " = '" + meta.get(key) + "' is not an integer");
        }
    }

    /** Bytes of every weight, scale and embedding the encoder holds in memory. */
    public static long memoryBytes(BertEncoder e) {
        long n = 0;
        for (Tensor t : e.embeddingTensors().values()) n += t.byteSize();
        for (BertLayer l : e.layers()) {
            for (Linear lin : List.of(l.query(), l.key(), l.value(), l.attentionOutput(), l.intermediate(), l.output())) n += lin.weightBytes();
            n += l.attentionNorm().gamma().byteSize() * 4;
        }
        return n;
    }

    static void deleteTree(Path p) throws IOException {
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(q);
        }
    }

}
