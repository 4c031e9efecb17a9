package dev.zq.quant;

import dev.zq.model.DenseLinear;
import dev.zq.model.Linear;
import dev.zq.model.ModelFormatException;
import dev.zq.model.decoder.DecoderCheckpoint;
import dev.zq.model.decoder.DecoderConfig;
import dev.zq.model.decoder.DecoderModel;
import dev.zq.model.decoder.KvCache;
import dev.zq.model.decoder.LanguageModel;
import dev.zq.model.format.SafeTensors;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class QuantizedDecoderFileTest {
    @TempDir Path tmp;

    static final DecoderConfig GPT2 = DecoderConfig.gpt2(96, 64, 2, 4, 32);
    static final DecoderConfig LLAMA = new DecoderConfig(DecoderConfig.Family.LLAMA, 96, 64, 2, 4, 2, 128, 32, 1e-5f, 10000f,
            DecoderConfig.Activation.SWIGLU, false);

    static float[] logits(DecoderModel m, int[] ids) {
        try (Arena a = Arena.ofShared(); KvCache c = m.newCache(1, ids.length)) {
            return m.forward(a, c, 1, ids.length, ids, true).toFloatArray();
        }
    }

    /** Every projection of {@code back} holds the same bits as {@code q}'s: codes, scales, bias, dense weights; same activation quantizer. */
    static void sameWeights(DecoderModel q, DecoderModel back, String what) {
        Map<String, Linear> want = linears(q), got = linears(back);
        assertFalse(want.isEmpty(), what);
        assertEquals(want.keySet(), got.keySet(), what);
        for (var e : want.entrySet()) {
            Linear a = e.getValue(), b = got.get(e.getKey());
            String where = what + " " + e.getKey();
            assertEquals(a.getClass(), b.getClass(), where);
            if (a instanceof QuantizedLinear qa && b instanceof QuantizedLinear qb) {
                sameBits(qa.weight().codes(), qb.weight().codes(), where + " codes");
                sameBits(qa.weight().scales(), qb.weight().scales(), where + " scales");
                assertEquals(qa.weight().groupSize(), qb.weight().groupSize(), where + " group size");
                sameBits(qa.bias(), qb.bias(), where + " bias");
                assertEquals(qa.activations() == null ? null : qa.activations().getClass(),
                        qb.activations() == null ? null : qb.activations().getClass(), where + " activations");
            } else if (a instanceof DenseLinear da && b instanceof DenseLinear db) {
                sameBits(da.weight(), db.weight(), where + " weight");
                sameBits(da.bias(), db.bias(), where + " bias");
            }
        }
    }

    static Map<String, Linear> linears(DecoderModel m) {
        Map<String, Linear> out = new java.util.LinkedHashMap<>();
        m.withLinears((name, lin) -> {
            out.put(name, lin);
            return lin;
        });
        return out;
    }

    static void sameBits(Tensor a, Tensor b, String what) {
        if (a == null || b == null) {
            assertEquals(a == null, b == null, what);
            return;
        }
        assertEquals(a.byteSize(), b.byteSize(), what);
        assertEquals(-1L, a.segment().mismatch(b.segment()), what);
    }

    @Test
    void everySchemeRoundTripsBitForBitOnBothFamilies() throws Exception {
        int[] ids = {1, 5, 9, 40, 2, 77, 13, 0, 95, 3};
        List<int[]> calibration = List.of(new int[]{4, 8, 15, 16, 23, 42}, new int[]{7, 1, 90, 33});
        for (DecoderConfig c : List.of(GPT2, LLAMA))
            for (String id : List.of("w8a8", "w8a8-ptq", "w4-8a8", "w4-8a16", "w16a8")) {
                Path out = tmp.resolve(c.family() + "-" + id);
                try (Arena a = Arena.ofShared()) {
                    DecoderModel fp = DecoderModel.random(c, 3, a);
                    DecoderModel q = DecoderQuantizer.quantize(fp, Scheme.builtin(id), calibration, a);
                    QuantizedDecoderFile.write(out, q, id, tmp);
                    assertTrue(QuantizedDecoderFile.isQuantized(out));
                    assertEquals(id, QuantizedDecoderFile.schemeOf(out));
                    try (LanguageModel back = QuantizedDecoderFile.openAny(out)) {
                        sameWeights(q, back.model(), c.family() + " " + id);
                        // The stored model is the same bits (above); two forward passes of it agree to float rounding only:
                        // the Vector API's float reduceLanes(ADD) and lanewise(EXP) may round differently before and after
                        // C2 compiles them, so the last bit depends on JIT timing (a CI run once differed by 1 ulp here).
                        float[] want = logits(q, ids), got = logits(back.model(), ids);
                        float scale = 0f;
                        for (float v : want) scale = Math.max(scale, Math.abs(v));
                        assertArrayEquals(want, got, 1e-5f * scale, c.family() + " " + id);
                        assertEquals(q.weightBytes(), back.model().weightBytes());
                    }
                }
            }
    }

    /**
     * W16A16 and W16A8 keep a model's projections in floating point. Of an F16 checkpoint they were written as F32 — twice
     * the source's size; now each FP weight and bias goes in 16 bits where that is exact and is widened to the same F32
     * bits when read, so the file is the source's size and the model read back is the same bits (a projection whose values
     * F16 cannot hold stays F32: the first layer's query here).
     */
    @Test
    void fpProjectionsOfAnF16ModelAreWrittenIn16Bits() throws Exception {
        int[] ids = {1, 5, 9, 40, 2, 77, 13, 0, 95, 3};
        List<int[]> calibration = List.of(new int[]{4, 8, 15, 16, 23, 42});
        try (Arena a = Arena.ofShared()) {
            DecoderModel fp = DecoderModel.random(LLAMA, 5, a).withLinears((name, lin) -> {
                DenseLinear d = (DenseLinear) lin;
                Tensor w = d.weight().to(a, dev.zq.tensor.DType.F16).to(a, dev.zq.tensor.DType.F32);
                if (name.equals("model.layers.0.self_attn.q_proj")) w.setFloat(0, 1.1f);   // not an F16 value
                return new DenseLinear(w, d.bias());
            });
            Path source = tmp.resolve("source");
            DecoderCheckpoint.save(fp, source);
            long sourceBytes = Files.size(source.resolve("model.safetensors"));
            for (String id : List.of("w16a16", "w16a8")) {
                DecoderModel q = DecoderQuantizer.quantize(fp, Scheme.builtin(id), calibration, a);
                Path out = tmp.resolve(id);
                QuantizedDecoderFile.write(out, q, id, source);
                long bytes = Files.size(out.resolve("model.safetensors"));
                assertTrue(bytes < sourceBytes * 1.02, id + ": " + bytes + " bytes against the source's " + sourceBytes);
                try (SafeTensors st = SafeTensors.open(out.resolve("model.safetensors"))) {
                    assertEquals(dev.zq.tensor.DType.F16, st.get("model.layers.1.mlp.down_proj.weight").dtype(), id);
                    assertEquals(dev.zq.tensor.DType.F32, st.get("model.layers.0.self_attn.q_proj.weight").dtype(), id);
                }
                try (LanguageModel back = QuantizedDecoderFile.openAny(out)) {
                    sameWeights(q, back.model(), id);
                    float[] want = logits(q, ids), got = logits(back.model(), ids);
                    float scale = 0f;
                    for (float v : want) scale = Math.max(scale, Math.abs(v));
                    assertArrayEquals(want, got, 1e-5f * scale, id);
                    assertEquals(q.weightBytes(), back.model().weightBytes(), id);   // after a forward pass each: both packed for the CPU kernels
                }
            }
        }
    }

    @Test
    void anFpDirectoryStillOpensAndReplacingIsAtomic() throws Exception {
        try (Arena a = Arena.ofShared()) {
            DecoderModel fp = DecoderModel.random(GPT2, 3, a);
            Path fpDir = tmp.resolve("fp");
            DecoderCheckpoint.save(fp, fpDir);
            Files.writeString(fpDir.resolve("tokenizer_config.json"), "{}");
            assertFalse(QuantizedDecoderFile.isQuantized(fpDir));
            try (LanguageModel m = QuantizedDecoderFile.openAny(fpDir)) {
                assertArrayEquals(logits(fp, new int[]{1, 2, 3}), logits(m.model(), new int[]{1, 2, 3}));
            }
            Path out = tmp.resolve("q");
            DecoderModel q = DecoderQuantizer.quantize(fp, Scheme.builtin("w8a8"), null, a);
            QuantizedDecoderFile.write(out, q, "first", fpDir);
            QuantizedDecoderFile.write(out, q, "second", fpDir);
            assertEquals("second", QuantizedDecoderFile.schemeOf(out));
            assertEquals(fpDir.toAbsolutePath(), QuantizedDecoderFile.sourceOf(out));
            assertTrue(Files.isRegularFile(out.resolve("tokenizer_config.json")), "tokenizer files travel with the model");
            try (var s = Files.list(tmp)) {
                assertEquals(2, s.count(), "no temporary or old directories left behind");
            }
            // A write that fails half way leaves the previous model in place.
            DecoderModel odd = q.withLinears((n, l) -> n.endsWith("h.1.mlp.c_proj") ? new dev.zq.model.Linear() {
                public int inFeatures() { return l.inFeatures(); }
                public int outFeatures() { return l.outFeatures(); }
                public long weightBytes() { return 0; }
                public void forward(Tensor x, Tensor y) { l.forward(x, y); }
            } : l);
            assertThrows(IllegalArgumentException.class, () -> QuantizedDecoderFile.write(out, odd, "third", fpDir));
            assertEquals("second", QuantizedDecoderFile.schemeOf(out));
            // The FP model's own directory is not zq's output: refused, not replaced.
            var refused = assertThrows(IllegalArgumentException.class, () -> QuantizedDecoderFile.write(fpDir, q, "over the source", fpDir));
            assertTrue(refused.getMessage().contains("not a model zq wrote"), refused.getMessage());
            try (LanguageModel m = QuantizedDecoderFile.openAny(fpDir)) {
                assertArrayEquals(logits(fp, new int[]{1, 2, 3}), logits(m.model(), new int[]{1, 2, 3}));
            }

            // Tampered metadata: a clear error, no crash.
            Map<String, Tensor> tensors = new java.util.LinkedHashMap<>();
            Map<String, String> meta;
            try (SafeTensors st = SafeTensors.open(out.resolve("model.safetensors")); Arena copy = Arena.ofShared()) {
                meta = new HashMap<>(st.metadata());
                for (String n : st.names()) tensors.put(n, st.get(n).to(copy, st.get(n).dtype()));
                meta.put("zq.group.transformer.h.0.attn.c_attn", "many");
                SafeTensors.write(out.resolve("model.safetensors"), tensors, meta);
            }
            var e = assertThrows(ModelFormatException.class, () -> QuantizedDecoderFile.openAny(out));
            assertTrue(e.getMessage().contains("many"), e.getMessage());
        }
    }
}
