package dev.zq.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.zq.model.format.SafeTensors;
import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class ZqCommandTest {
    @TempDir
    Path dir;

    record Run(int code, String out, String err) {}

    static synchronized Run run(String... args) {
        PrintStream out = System.out, err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
        try {
            int code = Zq.run(args);
            return new Run(code, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    @Test
    void embedPrintsUnitVectorsAsJson() throws Exception {
        Path input = dir.resolve("in.txt");
        Files.writeString(input, "A dog runs in the park.\nStocks fell sharply.\n");
        Run r = run("embed", "--input", input.toString(), "A puppy plays outside.");
        assertEquals(0, r.code(), r.err());
        JsonNode json = new ObjectMapper().readTree(r.out());
        assertEquals(3, json.size());
        double[][] v = new double[3][];
        for (int i = 0; i < 3; i++) {
            JsonNode e = json.get(i).get("embedding");
            assertEquals(384, e.size());
            v[i] = new double[384];
            double n = 0;
            for (int d = 0; d < 384; d++) { v[i][d] = e.get(d).asDouble(); n += v[i][d] * v[i][d]; }
            assertEquals(1.0, n, 1e-5);
        }
        assertEquals("A puppy plays outside.", json.get(0).get("text").asText());
        // The model must put the two dog sentences closer than a dog and the stock market.
        assertTrue(dot(v[0], v[1]) > dot(v[0], v[2]) + 0.2, "semantic similarity is off");
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    @Test
    void inspectListsTensorsOfASafetensorsFile() throws Exception {
        Path f = dir.resolve("tiny.safetensors");
        try (Arena a = Arena.ofConfined()) {
            SafeTensors.write(f, Map.of("layer.weight", Tensor.allocate(a, DType.F16, 4, 8), "layer.bias", Tensor.allocate(a, DType.F32, 4)), Map.of());
        }
        Run r = run("inspect", f.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("layer.weight") && r.out().contains("F16") && r.out().contains("[4, 8]"), r.out());
        assertTrue(r.out().contains("parameters: 36"), r.out());
        assertTrue(r.out().contains("not recognised as a BERT encoder"), r.out());
    }

    @Test
    void quantizeThenEmbedWithTheQuantizedModelAndEvalPrintsJson() throws Exception {
        Path out = dir.resolve("q");
        Run r = run("quantize", "--config", "w8a8", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        Run fp = run("embed", "The weather is lovely today.");
        Run q = run("embed", "--model", out.toString(), "The weather is lovely today.");
        assertEquals(0, q.code(), q.err());
        ObjectMapper m = new ObjectMapper();
        double cos = cosine(m.readTree(fp.out()).get(0).get("embedding"), m.readTree(q.out()).get(0).get("embedding"));
        assertTrue(cos > 0.98 && cos < 1.0, "W8A8 embedding should be close to FP32 but not identical: cosine " + cos);
        Run e = run("eval", "--scheme", "w8a8", "--json");
        assertEquals(0, e.code(), e.err());
        JsonNode j = m.readTree(e.out());
        assertEquals("W8A8 ZeroQuant", j.get("scheme").asText());
        assertTrue(j.get("metrics").get("cosine_mean").asDouble() > 0.99, e.out());
        Run bad = run("eval", "--scheme", "w3a3");
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("w3a3"), bad.err());
    }

    /**
     * {@code --device executor} runs the encoder's task graph (the GPU's kernels, as Java on the CPU): W16A16 for the FP32
     * model, the same embeddings as the CPU engine to FP16 accuracy; W8A8 (with the exact attention) for a model quantized
     * w8a8-per-row, and W4/8A8 for one quantized w4-8a8, close to the CPU engine's. {@code --device gpu} runs the same graph on a GPU, or says why not.
     */
    @Test
    void embedThroughTheTaskGraphAgreesWithTheCpuEngine() throws Exception {
        String[] s = {"The weather is lovely today.", "A puppy plays outside in the garden."};
        ObjectMapper m = new ObjectMapper();
        Run cpu = run("embed", s[0], s[1]), graph = run("embed", "--device", "executor", "--batch", "4", s[0], s[1]);
        assertEquals(0, graph.code(), graph.err());
        for (int i = 0; i < 2; i++) {
            double cos = cosine(m.readTree(cpu.out()).get(i).get("embedding"), m.readTree(graph.out()).get(i).get("embedding"));
            assertTrue(cos > 0.9999, "W16A16 graph vs FP32 CPU engine, sentence " + i + ": cosine " + cos);
        }
        Path q = dir.resolve("q8");
        assertEquals(0, run("quantize", "--config", "w8a8-per-row", "--out", q.toString()).code());
        Run qcpu = run("embed", "--model", q.toString(), s[0]), qgraph = run("embed", "--model", q.toString(), "--device", "executor", "--exact-attention", s[0]);
        assertEquals(0, qgraph.code(), qgraph.err());
        double cos = cosine(m.readTree(qcpu.out()).get(0).get("embedding"), m.readTree(qgraph.out()).get(0).get("embedding"));
        assertTrue(cos > 0.995, "W8A8 graph vs the CPU engine's W8A8: cosine " + cos);
        Path q4 = dir.resolve("q4");   // W4/8A8: the MLP's INT4 weights on the group-wise GEMMs
        assertEquals(0, run("quantize", "--config", "w4-8a8", "--out", q4.toString()).code());
        Run q4cpu = run("embed", "--model", q4.toString(), s[0]), q4graph = run("embed", "--model", q4.toString(), "--device", "executor", "--exact-attention", s[0]);
        assertEquals(0, q4graph.code(), q4graph.err());
        cos = cosine(m.readTree(q4cpu.out()).get(0).get("embedding"), m.readTree(q4graph.out()).get(0).get("embedding"));
        assertTrue(cos > 0.995, "W4/8A8 graph vs the CPU engine's W4/8A8: cosine " + cos);

        boolean gpu;
        try (var d = dev.zq.runtime.Device.cuda()) {
            gpu = true;
        } catch (Exception e) {
            gpu = false;
        }
        Run onGpu = run("embed", "--device", "gpu", s[0]);
        if (gpu) {
            assertEquals(0, onGpu.code(), onGpu.err());
            cos = cosine(m.readTree(cpu.out()).get(0).get("embedding"), m.readTree(onGpu.out()).get(0).get("embedding"));
            assertTrue(cos > 0.9999, "W16A16 on the GPU vs FP32 CPU engine: cosine " + cos);
        } else {
            assertEquals(2, onGpu.code());
            assertTrue(onGpu.err().startsWith("zq: ") && !onGpu.err().contains("\tat "), "one line saying why: " + onGpu.err());
        }
        Run bad = run("embed", "--device", "tpu", s[0]);
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("--device"), bad.err());
        bad = run("embed", "--exact-attention", s[0]);
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("--exact-attention"), bad.err());
    }

    static double cosine(JsonNode a, JsonNode b) {
        double c = 0;
        for (int i = 0; i < a.size(); i++) c += a.get(i).asDouble() * b.get(i).asDouble();
        return c;
    }

    @Test
    void badInputGivesOneClearLineAndExitCode2() throws Exception {
        Path junk = dir.resolve("junk.onnx");
        Files.writeString(junk, "this is not a model");
        Run r = run("inspect", junk.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("zq: " + junk), r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
        r = run("inspect", dir.resolve("missing").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("no such file"), r.err());
        r = run("embed", "--input", dir.resolve("missing.txt").toString());
        assertEquals(2, r.code());
        assertEquals("zq: " + dir.resolve("missing.txt") + ": no such file or directory", r.err().strip());
        r = run("embed");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("no sentences"), r.err());
        r = run("embed", "--batch", "0", "x");
        assertEquals(2, r.code());
        r = run("embed", "--max-length", "1", "x");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("maxLength"), r.err());
        r = run("bench", "nothing");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("unknown benchmark"), r.err());
    }

    @Test
    void anErrorThatIsOnlyAPathSaysWhatIsWrongWithIt() {
        assertEquals("/x/y: no such file or directory", Zq.describe(new java.nio.file.NoSuchFileException("/x/y")));
        assertEquals("/x: permission denied", Zq.describe(new java.nio.file.AccessDeniedException("/x")));
        assertEquals("/a → /b: already exists", Zq.describe(new java.nio.file.FileAlreadyExistsException("/a", "/b", null)));
        assertEquals("/x: Is a directory", Zq.describe(new java.nio.file.FileSystemException("/x", null, "Is a directory")));
        assertEquals("extracting m: /y: no such file or directory",
                Zq.describe(new java.io.UncheckedIOException("extracting m", new java.nio.file.NoSuchFileException("/y"))));
        assertEquals("/y: no such file or directory",
                Zq.describe(new java.io.UncheckedIOException(new java.nio.file.NoSuchFileException("/y"))));
        assertEquals("NullPointerException", Zq.describe(new NullPointerException()));
        assertEquals("bad shape", Zq.describe(new IllegalArgumentException("bad shape")));
    }

    @Test
    void benchWithoutAGpuSaysWhy() {
        org.junit.jupiter.api.Assumptions.assumeFalse(dev.zq.runtime.Device.best(w -> {}) instanceof dev.zq.runtime.cuda.CudaDevice, "a GPU is present");
        Run r = run("bench", "gemm", "128x128x128");
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("zq: ") && (r.err().contains("NVIDIA driver") || r.err().contains("CUDA")), r.err());
    }

    @Test
    void quantizeWithLkdWritesAModelAndResumesFromItsCheckpoints() throws Exception {
        Path out = dir.resolve("lkd-model");
        Run r = run("quantize", "--config", "w4-8a16", "--lkd", "--lkd-data", "random", "--lkd-steps", "2", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("LKD layer 5"), r.err());
        assertTrue(Files.isRegularFile(dir.resolve("lkd-model.lkd").resolve("layer-5.safetensors")));
        Run e = run("embed", "--model", out.toString(), "A dog runs in the park.");
        assertEquals(0, e.code(), e.err());
        Run again = run("quantize", "--config", "w4-8a16", "--lkd", "--lkd-data", "random", "--lkd-steps", "2", "--out", out.toString());
        assertEquals(0, again.code(), again.err());
        assertTrue(again.err().contains("(from checkpoint)"), again.err());
        Run bad = run("quantize", "--config", "w8a8-ptq", "--lkd", "--out", dir.resolve("x").toString());
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("static"), bad.err());
        Run windows = run("quantize", "--config", "w4-8a16", "--lkd", "--lkd-windows", "8", "--out", dir.resolve("y").toString());
        assertEquals(2, windows.code());
        assertTrue(windows.err().contains("--lkd-windows applies to decoders"), windows.err());
        Run noLkd = run("quantize", "--config", "w4-8a16", "--lkd-data", "random", "--out", dir.resolve("z").toString());
        assertEquals(2, noLkd.code());
        assertTrue(noLkd.err().contains("--lkd-data applies to LKD only"), noLkd.err());
        assertFalse(Files.exists(dir.resolve("z")), "nothing written");
    }
}
