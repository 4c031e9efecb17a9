package dev.zq.model.decoder;

import dev.zq.model.ModelFormatException;
import dev.zq.model.format.SafeTensors;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
