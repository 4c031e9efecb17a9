package dev.zq.model.format;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.zq.model.BundledModels;
import dev.zq.model.ModelFormatException;
import dev.zq.tensor.DType;
import dev.zq.tensor.Shape;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class OnnxModelTest {
    @TempDir
    Path dir;

    /** A minimal protobuf writer for building test models (tests only). */
    static final class Pb {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Pb varint(int field, long v) { tag(field, 0); raw(v); return this; }
        Pb bytes(int field, byte[] b) { tag(field, 2); raw(b.length); out.writeBytes(b); return this; }
        Pb string(int field, String s) { return bytes(field, s.getBytes(StandardCharsets.UTF_8)); }
        Pb message(int field, Pb m) { return bytes(field, m.out.toByteArray()); }
        Pb fixed32(int field, int v) { tag(field, 5); out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array()); return this; }
        void tag(int field, int wire) { raw(((long) field << 3) | wire); }
        void raw(long v) { while ((v & ~0x7FL) != 0) { out.write((int) ((v & 0x7F) | 0x80)); v >>>= 7; } out.write((int) v); }
        byte[] bytes() { return out.toByteArray(); }
    }

    static Pb tensor(String name, int[] dims, float[] values, boolean raw) {
        Pb t = new Pb();
        for (int d : dims) t.varint(1, d);
        t.varint(2, 1).string(8, name);
        if (raw) {
            ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : values) b.putFloat(v);
            t.bytes(9, b.array());
        } else for (float v : values) t.fixed32(4, Float.floatToIntBits(v));   // unpacked float_data
        return t;
    }

    static Pb valueInfo(String name, String... dims) {
        Pb shape = new Pb();
        for (String d : dims) shape.message(1, d.matches("\\d+") ? new Pb().varint(1, Long.parseLong(d)) : new Pb().string(2, d));
        return new Pb().string(1, name).message(2, new Pb().message(1, new Pb().varint(1, 1).message(2, shape)));
    }

    /** Y = MatMul(X, W) + B with W raw, B as float_data. */
    static byte[] matmulModel(float[] w, float[] b) {
        return matmulModel(w, b, true);
    }

    static byte[] matmulModel(float[] w, float[] b, boolean opset) {
        Pb graph = new Pb()
                .message(1, new Pb().string(1, "X").string(1, "W").string(2, "XW").string(3, "mm").string(4, "MatMul"))
                .message(1, new Pb().string(1, "XW").string(1, "B").string(2, "Y").string(3, "add").string(4, "Add"))
                .string(2, "g")
                .message(5, tensor("W", new int[]{3, 2}, w, true))
                .message(5, tensor("B", new int[]{2}, b, false))
                .message(11, valueInfo("X", "batch", "3"))
                .message(12, valueInfo("Y", "batch", "2"));
        Pb model = new Pb().varint(1, 8).string(2, "zq-test").message(7, graph);
        return opset ? model.message(8, new Pb().string(1, "").varint(2, 17)).bytes() : model.bytes();
    }

    @Test
    void readsWhatOnnxRuntimeRuns() throws Exception {
        Random rnd = new Random(3);
        float[] w = new float[6], b = new float[2];
        for (int i = 0; i < 6; i++) w[i] = (float) rnd.nextGaussian();
        for (int i = 0; i < 2; i++) b[i] = (float) rnd.nextGaussian();
        Path f = dir.resolve("mm.onnx");
        Files.write(f, matmulModel(w, b));
        float[][] x = {{1f, 2f, -0.5f}};
        float[][] ortY;
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession s = env.createSession(f.toString(), new OrtSession.SessionOptions());
             OnnxTensor xt = OnnxTensor.createTensor(env, x);
             OrtSession.Result r = s.run(Map.of("X", xt))) {
            ortY = (float[][]) r.get(0).getValue();
        }
        try (OnnxModel m = OnnxModel.read(f)) {
            Tensor wt = m.initializer("W"), bt = m.initializer("B");
            assertEquals(Shape.of(3, 2), wt.shape());
            assertEquals(DType.F32, bt.dtype());
            assertEquals("MatMul", m.node("mm").orElseThrow().opType());
            assertEquals(java.util.List.of("batch", "3"), m.inputs().getFirst().dims());
            // Our reading of W and B reproduces ONNX Runtime's output of the same file.
            for (int j = 0; j < 2; j++) {
                double y = bt.getFloat(j);
                for (int k = 0; k < 3; k++) y += x[0][k] * wt.getFloat(k * 2L + j);
                assertEquals(ortY[0][j], y, 1e-6);
            }
            assertArrayEquals(w, wt.toFloatArray());
            assertArrayEquals(b, bt.toFloatArray());
        }
    }

    @Test
    void readsTheRealMiniLmExport() throws Exception {
        try (OnnxModel m = OnnxModel.read(BundledModels.miniLm().resolve("model.onnx"))) {
            assertEquals("pytorch", m.producer());
            assertEquals(Shape.of(30522, 384), m.initializer("embeddings.word_embeddings.weight").shape());
            for (int l = 0; l < 6; l++) {
                String p = "/encoder/layer." + l + "/";
                assertEquals(Shape.of(384, 384), m.initializer(m.node(p + "attention/self/query/MatMul").orElseThrow().inputs().get(1)).shape());
                assertEquals(Shape.of(384, 1536), m.initializer(m.node(p + "intermediate/dense/MatMul").orElseThrow().inputs().get(1)).shape());
                assertEquals(Shape.of(1536, 384), m.initializer(m.node(p + "output/dense/MatMul").orElseThrow().inputs().get(1)).shape());
            }
            assertEquals(java.util.List.of("input_ids", "attention_mask", "token_type_ids"), m.inputs().stream().map(OnnxValueInfo::name).toList());
            Tensor pos = m.initializer("embeddings.position_ids");
            assertEquals(DType.I64, pos.dtype());
            assertEquals(511L, pos.getLong(511));
        }
    }

    String fails(byte[] content) throws Exception {
        Path f = Files.createTempFile(dir, "bad", ".onnx");
        Files.write(f, content);
        var e = assertThrows(ModelFormatException.class, () -> OnnxModel.read(f).close());
        assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
        return e.getMessage();
    }

    @Test
    void corruptFilesFailClearly() throws Exception {
        byte[] good = matmulModel(new float[6], new float[2]);
        // Every truncation of a valid model that cuts into or before its graph is rejected (cutting after
        // the graph, e.g. dropping the trailing opset import, leaves a shorter valid message).
        int graphEnd = matmulModel(new float[6], new float[2], false).length;
        for (int n = 0; n < graphEnd; n++) fails(java.util.Arrays.copyOf(good, n));
        assertTrue(fails(new byte[]{0x3A, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x0F}).contains("claims"));
        byte[] longVarint = new byte[12];
        longVarint[0] = 0x08;
        java.util.Arrays.fill(longVarint, 1, 12, (byte) 0x80);
        assertTrue(fails(longVarint).contains("varint"));
        // Declared raw_data length that does not fit its dims.
        Pb bad = new Pb().message(7, new Pb().message(5, tensor("W", new int[]{4, 4}, new float[3], true)));
        assertTrue(fails(bad.bytes()).contains("needs 64 bytes of raw_data, has 12"));
        Pb overflow = new Pb().message(7, new Pb().message(5, tensor("W", new int[]{1 << 30, 1 << 30, 1 << 30}, new float[1], true)));
        assertTrue(fails(overflow.bytes()).contains("overflows"));
        Pb unknownType = new Pb().message(7, new Pb().message(5, new Pb().varint(1, 1).varint(2, 8).string(8, "s")));
        assertTrue(fails(unknownType.bytes()).contains("data type 8"));
        Pb external = new Pb().message(7, new Pb().message(5, new Pb().varint(1, 1).varint(2, 1).string(8, "e").varint(14, 1)));
        assertTrue(fails(external.bytes()).contains("external"));
        assertTrue(fails("hello, I am not a model".getBytes(StandardCharsets.UTF_8)).contains("ONNX"));
        assertTrue(fails(new byte[0]).contains("empty"));
    }
}
