package dev.zq.quant;

import dev.zq.model.BundledModels;
import dev.zq.model.ModelFormatException;
import dev.zq.model.bert.BertEncoder;
import dev.zq.model.bert.BertModel;
import dev.zq.model.format.SafeTensors;
import dev.zq.model.tokenizer.WordPieceTokenizer;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** A quantized MiniLM written to disk loads without the original weights and computes the same outputs. */
class QuantizedModelFileTest {
    @TempDir
    Path tmp;

    static float[] run(BertEncoder e) {
        int[] ids = {101, 1996, 4937, 7719, 2006, 1996, 13523, 1012, 102};
        try (Arena a = Arena.ofShared()) {
            return e.forward(a, 1, ids.length, ids, new int[ids.length], new int[]{1, 1, 1, 1, 1, 1, 1, 1, 1}).toFloatArray();
        }
    }

    @Test
    void roundTripForEveryKindOfLayer() throws Exception {
        Path mini = BundledModels.miniLm();
        WordPieceTokenizer tok = WordPieceTokenizer.fromJson(mini.resolve("tokenizer.json"));
        var cal = List.of(tok.encodeBatch(List.of("Calibration needs some real text.", "A second sentence for the ranges."), 64, true));
        try (BertModel fp = BertModel.open(mini)) {
            for (String id : List.of("w4-8a8", "w8a8-ptq", "w16a8", "w8a16")) {
                try (Arena arena = Arena.ofShared()) {
                    BertEncoder q = BertQuantizer.quantize(fp.encoder(), Scheme.builtin(id), cal, arena);
                    Path out = tmp.resolve(id);
                    QuantizedModelFile.write(out, q, id, mini.resolve("tokenizer.json"));
                    assertTrue(QuantizedModelFile.isQuantized(out));
                    try (BertModel loaded = QuantizedModelFile.openAny(out)) {
                        assertArrayEquals(run(q), run(loaded.encoder()), 1e-5f, id);
                    }
                }
            }
            // W4/8 files are smaller than W8 ones, which are smaller than FP32 (embeddings stay FP32 in all).
            long f4 = Files.size(tmp.resolve("w4-8a8/model.safetensors")), f8 = Files.size(tmp.resolve("w8a16/model.safetensors"));
            long fp32 = Files.size(tmp.resolve("w16a8/model.safetensors"));
            assertTrue(f4 < f8 && f8 < fp32, f4 + " " + f8 + " " + fp32);
        }
    }

    @Test
    void replacingIsAtomicAndTamperedMetadataIsRejected() throws Exception {
        Path mini = BundledModels.miniLm();
        Path out = tmp.resolve("m");
        try (BertModel fp = BertModel.open(mini); Arena arena = Arena.ofShared()) {
            BertEncoder q = BertQuantizer.quantize(fp.encoder(), Scheme.builtin("w8a8"), null, arena);
            QuantizedModelFile.write(out, q, "first", mini.resolve("tokenizer.json"));
            QuantizedModelFile.write(out, q, "second", mini.resolve("tokenizer.json"));
            try (SafeTensors st = SafeTensors.open(out.resolve("model.safetensors"))) {
                assertEquals("second", st.metadata().get("zq.scheme"));
            }
            try (var s = Files.list(tmp)) {
                assertEquals(List.of(out), s.toList(), "no temporary or old directories left behind");
            }
            // A write that fails half way (an unsavable layer) leaves the previous model in place.
            BertEncoder odd = q.withLinears((n, l) -> n.endsWith("layer.5.output.dense") ? new dev.zq.model.Linear() {
                public int inFeatures() { return l.inFeatures(); }
                public int outFeatures() { return l.outFeatures(); }
                public long weightBytes() { return 0; }
                public void forward(Tensor x, Tensor y) { l.forward(x, y); }
            } : l);
            assertThrows(IllegalArgumentException.class, () -> QuantizedModelFile.write(out, odd, "third", mini.resolve("tokenizer.json")));
            try (BertModel still = QuantizedModelFile.open(out)) {
                assertNotNull(still.encoder());
            }

            // Only an empty directory or zq's own output is replaced; anything else is refused and left as it was.
            Path foreign = Files.createDirectories(tmp.resolve("foreign"));
            Files.writeString(foreign.resolve("notes.txt"), "precious");
            var refused = assertThrows(IllegalArgumentException.class, () -> QuantizedModelFile.write(foreign, q, "x", mini.resolve("tokenizer.json")));
            assertTrue(refused.getMessage().contains("notes.txt"), refused.getMessage());
            assertEquals("precious", Files.readString(foreign.resolve("notes.txt")));
            Path file = Files.writeString(tmp.resolve("a-file"), "also precious");
            assertThrows(IllegalArgumentException.class, () -> QuantizedModelFile.write(file, q, "x", mini.resolve("tokenizer.json")));
            assertEquals("also precious", Files.readString(file));
            assertThrows(IllegalArgumentException.class, () -> QuantizedModelFile.checkReplaceable(tmp.getRoot()));
            Path empty = Files.createDirectories(tmp.resolve("empty"));
            QuantizedModelFile.write(empty, q, "into an empty directory", mini.resolve("tokenizer.json"));
            assertTrue(QuantizedModelFile.isQuantized(empty));
            assertEquals(out.toAbsolutePath(), QuantizedModelFile.checkReplaceable(out.resolve("..").resolve("m")), "zq's own output, the path normalised");

            // Tamper with the activation metadata: a clear error naming the file.
            Map<String, Tensor> tensors = new java.util.LinkedHashMap<>();
            Map<String, String> meta;
            try (SafeTensors st = SafeTensors.open(out.resolve("model.safetensors")); Arena copy = Arena.ofShared()) {
                meta = new HashMap<>(st.metadata());
                for (String n : st.names()) tensors.put(n, st.get(n).to(copy, st.get(n).dtype()));
                meta.put("zq.act.encoder.layer.0.attention.self.query", "sometimes");
                meta.remove("zq.dtype.encoder.layer.0.output.dense.qweight");
                SafeTensors.write(out.resolve("model.safetensors"), tensors, meta);
            }
            var e = assertThrows(ModelFormatException.class, () -> QuantizedModelFile.open(out));
            assertTrue(e.getMessage().contains("model.safetensors") && e.getMessage().contains("sometimes"), e.getMessage());
        }
    }

    @Test
    void aNonFiniteScaleOrWeightIsRefusedWhenTheModelIsOpened() throws Exception {
        Path mini = BundledModels.miniLm();
        Path out = tmp.resolve("m");
        try (BertModel fp = BertModel.open(mini); Arena arena = Arena.ofShared()) {
            QuantizedModelFile.write(out, BertQuantizer.quantize(fp.encoder(), Scheme.builtin("w8a8"), null, arena), "w8a8", mini.resolve("tokenizer.json"));
        }
        String[][] cases = {{"encoder.layer.2.intermediate.dense.scales", "NaN"}, {"embeddings.position_embeddings.weight", "Infinity"},
                {"encoder.layer.0.output.LayerNorm.bias", "NaN"}};
        for (String[] c : cases) {
            Map<String, Tensor> tensors = new java.util.LinkedHashMap<>();
            try (SafeTensors st = SafeTensors.open(out.resolve("model.safetensors")); Arena copy = Arena.ofShared()) {
                for (String n : st.names()) tensors.put(n, st.get(n).to(copy, st.get(n).dtype()));
                float was = tensors.get(c[0]).getFloat(1);
                tensors.get(c[0]).setFloat(1, Float.parseFloat(c[1]));
                Path bad = Files.createDirectories(tmp.resolve("bad"));
                try (var files = Files.list(out)) {   // the config and tokenizer as written
                    for (Path f : files.toList()) Files.copy(f, bad.resolve(f.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
                SafeTensors.write(bad.resolve("model.safetensors"), tensors, st.metadata());
                var e = assertThrows(ModelFormatException.class, () -> QuantizedModelFile.open(bad), c[0]);
                assertTrue(e.getMessage().contains(c[0] + " holds " + c[1] + " at "), e.getMessage());
                tensors.get(c[0]).setFloat(1, was);
            }
        }
    }
}
