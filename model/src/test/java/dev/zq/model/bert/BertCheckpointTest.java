package dev.zq.model.bert;

import dev.zq.model.BundledModels;
import dev.zq.model.ModelFormatException;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** The ONNX weights written in HF's layout (config.json + model.safetensors) load back into the same encoder. */
class BertCheckpointTest {
    @TempDir
    Path dir;

    @Test
    void onnxToSafetensorsRoundTripGivesIdenticalOutputs() throws Exception {
        int[] ids = {101, 7592, 2088, 999, 102}, types = new int[5], mask = {1, 1, 1, 1, 1};
        float[] fromOnnx;
        try (BertModel m = BertModel.open(BundledModels.miniLm())) {
            BertCheckpoint.save(m.encoder(), dir);
            try (Arena a = Arena.ofShared()) {
                fromOnnx = m.encoder().forward(a, 1, 5, ids, types, mask).toFloatArray();
            }
        }
        assertTrue(Files.isRegularFile(dir.resolve("config.json")));
        try (BertModel m = BertModel.open(dir); Arena a = Arena.ofShared()) {
            assertEquals(new BertConfig(30522, 384, 6, 12, 1536, 512, 2, 1e-12f), m.encoder().config());
            Tensor h = m.encoder().forward(a, 1, 5, ids, types, mask);
            // Same weights; only the Vector API's lane-reduction order may differ between runs.
            assertArrayEquals(fromOnnx, h.toFloatArray(), 2e-5f);
        }
    }

    @Test
    void configThatDisagreesWithWeightsIsRejected() throws Exception {
        try (BertModel m = BertModel.open(BundledModels.miniLm())) {
            BertCheckpoint.save(m.encoder(), dir);
        }
        String cfg = Files.readString(dir.resolve("config.json")).replace("\"hidden_size\" : 384", "\"hidden_size\" : 512");
        Files.writeString(dir.resolve("config.json"), cfg);
        var e = assertThrows(ModelFormatException.class, () -> BertModel.open(dir));
        assertTrue(e.getMessage().contains("do not match config.json") || e.getMessage().contains("512"), e.getMessage());
        assertThrows(ModelFormatException.class, () -> BertModel.open(dir.resolve("nothing-here")));
    }

    @Test
    void badInputsAreRejectedBeforeAnyWork() throws Exception {
        try (BertModel m = BertModel.open(BundledModels.miniLm()); Arena a = Arena.ofShared()) {
            BertEncoder enc = m.encoder();
            assertThrows(IllegalArgumentException.class, () -> enc.forward(a, 1, 2, new int[]{101, 40000}, new int[2], new int[]{1, 1}));
            assertThrows(IllegalArgumentException.class, () -> enc.forward(a, 1, 2, new int[]{101, 102}, new int[]{0, 5}, new int[]{1, 1}));
            assertThrows(IllegalArgumentException.class, () -> enc.forward(a, 1, 513, new int[513], new int[513], new int[513]));
            assertThrows(IllegalArgumentException.class, () -> enc.forward(a, 2, 2, new int[3], new int[4], new int[4]));
        }
    }
}
