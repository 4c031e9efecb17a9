package dev.zq.model.decoder;

import dev.zq.model.BundledModels;
import dev.zq.model.ModelFormatException;
import dev.zq.model.format.SafeTensors;
import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class DecoderCheckpointTest {
    @Test
    void savedModelsLoadBackToTheSameFunction(@TempDir Path dir) throws Exception {
        for (DecoderConfig c : new DecoderConfig[]{DecoderConfig.gpt2(300, 32, 2, 4, 64),
                new DecoderConfig(DecoderConfig.Family.LLAMA, 300, 32, 2, 4, 2, 48, 64, 1e-5f, 10000f, DecoderConfig.Activation.SWIGLU, false)}) {
            Path d = dir.resolve(c.family().name());
            try (Arena a = Arena.ofShared()) {
                DecoderModel m = DecoderModel.random(c, 5, a);
                DecoderCheckpoint.save(m, d);
                assertEquals(c, DecoderCheckpoint.readConfig(d));
                try (SafeTensors w = SafeTensors.open(d.resolve("model.safetensors"))) {
                    DecoderModel back = DecoderCheckpoint.load(d, w, a);
                    int[] ids = {1, 299, 7, 42, 0};
                    try (KvCache c1 = m.newCache(1, 5); KvCache c2 = back.newCache(1, 5)) {
                        Tensor x = m.forward(a, c1, 1, 5, ids, true), y = back.forward(a, c2, 1, 5, ids, true);
                        for (long i = 0; i < x.numel(); i++) assertEquals(x.getFloat(i), y.getFloat(i), 0f, c.family() + " logit " + i);
                    }
                }
            }
        }
    }

    /**
     * A decoder loaded from an F16 checkpoint (the bundled ones) is saved in F16 again — not at twice its size — and loads
     * back to the same bits: every tensor of the written file is F16, the file is the original's size, the logits equal.
     */
    @ParameterizedTest
    @ValueSource(strings = {BundledModels.SOTU_GPT, BundledModels.SOTU_LLAMA})
    void aSixteenBitCheckpointIsSavedInSixteenBits(String name, @TempDir Path dir) throws Exception {
        Path src = BundledModels.resolve(name);
        try (LanguageModel lm = LanguageModel.open(src); Arena a = Arena.ofShared()) {
            DecoderCheckpoint.save(lm.model(), dir);
            try (SafeTensors w = SafeTensors.open(dir.resolve("model.safetensors"))) {
                for (String t : w.names()) assertEquals(DType.F16, w.get(t).dtype(), t);
                long was = Files.size(src.resolve("model.safetensors")), now = Files.size(dir.resolve("model.safetensors"));
                assertTrue(Math.abs(now - was) < was / 100, name + ": " + now + " bytes written for " + was);
                DecoderModel back = DecoderCheckpoint.load(dir, w, a);
                int[] ids = {1, 4095, 7, 42, 0, 300};
                try (KvCache c1 = lm.model().newCache(1, 6); KvCache c2 = back.newCache(1, 6)) {
                    Tensor x = lm.model().forward(a, c1, 1, 6, ids, true), y = back.forward(a, c2, 1, 6, ids, true);
                    for (long i = 0; i < x.numel(); i++) assertEquals(x.getFloat(i), y.getFloat(i), 0f, name + " logit " + i);
                }
            }
        }
    }

    /** Each tensor takes the narrowest type that holds all its values exactly: F16, else BF16, else F32 — never a rounding. */
    @Test
    void tensorsNarrowOnlyWhereNoValueChanges() {
        try (Arena a = Arena.ofConfined()) {
            float twoTo126 = Math.scalb(1f, 126), tiny = Math.scalb(1f, -24);   // BF16 holds 2^126, F16 does not; 2^-24: F16's least subnormal
            Object[][] cases = {
                    {new float[]{1f, -0.5f, 0f, -0f, 65504f, tiny, Float.NEGATIVE_INFINITY}, DType.F16},
                    {new float[]{1f, twoTo126, -2f}, DType.BF16},
                    {new float[]{1f, Math.scalb(1f, -25)}, DType.BF16},   // below F16's subnormals
                    {new float[]{1f, 1.1f}, DType.F32},                    // 1.1 needs F32's mantissa
                    {new float[]{twoTo126, 1.1f}, DType.F32},
            };
            for (Object[] c : cases) {
                float[] values = (float[]) c[0];
                String what = java.util.Arrays.toString(values);
                Tensor n = DecoderCheckpoint.exact16(a, Tensor.ofFloats(a, values, values.length));
                assertEquals(c[1], n.dtype(), what);
                for (int i = 0; i < values.length; i++)
                    assertEquals(Float.floatToRawIntBits(values[i]), Float.floatToRawIntBits(n.getFloat(i)), what + " [" + i + "]");
            }
        }
    }

    @Test
    void badConfigsAndMissingWeightsAreClearErrors(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("config.json"), "{\"model_type\":\"t5\"}");
        var e = assertThrows(ModelFormatException.class, () -> DecoderCheckpoint.readConfig(dir));
        assertTrue(e.getMessage().contains("t5"), e.getMessage());
        Files.writeString(dir.resolve("config.json"), "{\"model_type\":\"gpt2\",\"vocab_size\":10,\"n_embd\":30,\"n_layer\":1,\"n_head\":4}");
        e = assertThrows(ModelFormatException.class, () -> DecoderCheckpoint.readConfig(dir));
        assertTrue(e.getMessage().contains("divisible"), e.getMessage());
        Files.writeString(dir.resolve("config.json"), "{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":32,\"num_hidden_layers\":1,"
                + "\"num_attention_heads\":4,\"intermediate_size\":8,\"rope_scaling\":{\"rope_type\":\"yarn\"}}");
        e = assertThrows(ModelFormatException.class, () -> DecoderCheckpoint.readConfig(dir));
        assertTrue(e.getMessage().contains("scaled rotary"), e.getMessage());
        // A GPT-2 config whose weights file lacks a layer.
        try (Arena a = Arena.ofShared()) {
            DecoderModel m = DecoderModel.random(DecoderConfig.gpt2(300, 32, 1, 4, 16), 1, a);
            Path d = dir.resolve("m");
            DecoderCheckpoint.save(m, d);
            Files.writeString(d.resolve("config.json"), Files.readString(d.resolve("config.json")).replace("\"n_layer\" : 1", "\"n_layer\" : 2"));
            try (SafeTensors w = SafeTensors.open(d.resolve("model.safetensors"))) {
                assertThrows(ModelFormatException.class, () -> DecoderCheckpoint.load(d, w, a));
            }
        }
    }

    @Test
    void aNaNOrAnInfinityInTheWeightsIsRefusedWhereItIsRead(@TempDir Path dir) throws Exception {
        try (Arena a = Arena.ofShared()) {
            DecoderModel m = DecoderModel.random(DecoderConfig.gpt2(300, 32, 2, 4, 16), 1, a);
            ((dev.zq.model.DenseLinear) m.layers().get(1).up()).weight().setFloat(32 + 3, Float.NaN);   // [out 1, in 3]
            DecoderCheckpoint.save(m, dir);
            try (SafeTensors w = SafeTensors.open(dir.resolve("model.safetensors"))) {
                var e = assertThrows(ModelFormatException.class, () -> DecoderCheckpoint.load(dir, w, a));
                // GPT-2 stores the MLP's up projection as Conv1D [in, out]: the element is [3, 1] there.
                assertTrue(e.getMessage().contains("transformer.h.1.mlp.c_fc.weight holds NaN at [3, 1]"), e.getMessage());
            }
            DecoderModel n = DecoderModel.random(DecoderConfig.gpt2(300, 32, 2, 4, 16), 1, a);
            n.finalNorm().weight().setFloat(7, Float.NEGATIVE_INFINITY);
            Path d = dir.resolve("inf");
            DecoderCheckpoint.save(n, d);
            try (SafeTensors w = SafeTensors.open(d.resolve("model.safetensors"))) {
                var e = assertThrows(ModelFormatException.class, () -> DecoderCheckpoint.load(d, w, a));
                assertTrue(e.getMessage().contains("transformer.ln_f.weight holds -Infinity at [7]"), e.getMessage());
            }
        }
    }
}
