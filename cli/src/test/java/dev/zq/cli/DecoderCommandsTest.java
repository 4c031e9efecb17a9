package dev.zq.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.zq.model.decoder.DecoderCheckpoint;
import dev.zq.model.decoder.DecoderConfig;
import dev.zq.model.decoder.DecoderModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static dev.zq.cli.ZqCommandTest.run;
import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code zq generate} and decoder {@code zq eval} on a small random-weight GPT-2 written to disk with a
 * byte-level tokenizer (256 byte tokens, a few merges, and {@code <|endoftext|>}): the mechanics, not quality.
 */
class DecoderCommandsTest {
    @TempDir
    static Path dir;
    static Path model;

    @BeforeAll
    static void writeModel() throws Exception {
        model = dir.resolve("gpt2-random");
        try (Arena a = Arena.ofShared()) {
            DecoderCheckpoint.save(DecoderModel.random(DecoderConfig.gpt2(262, 64, 2, 4, 128), 11, a), model);
        }
        char[] b2u = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
            b2u[b] = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE) ? (char) b : (char) next++;
        ObjectMapper om = new ObjectMapper();
        ObjectNode vocab = om.createObjectNode();
        for (int b = 0; b < 256; b++) vocab.put(String.valueOf(b2u[b]), b);
        String sp = String.valueOf(b2u[' ']);
        String[][] merges = {{sp, "t"}, {"h", "e"}, {sp + "t", "he"}, {sp, "a"}, {"i", "n"}};
        int id = 256;
        for (String[] m : merges) vocab.put(m[0] + m[1], id++);
        vocab.put("<|endoftext|>", id);
        Files.writeString(model.resolve("vocab.json"), vocab.toString());
        StringBuilder mt = new StringBuilder("#version: 0.2\n");
        for (String[] m : merges) mt.append(m[0]).append(' ').append(m[1]).append('\n');
        Files.writeString(model.resolve("merges.txt"), mt);
    }

    @Test
    void generateStreamsTheContinuationAndReportsSpeed() {
        ZqCommandTest.Run r = run("generate", "--model", model.toString(), "--prompt", "Call me Ishmael.", "--max-new-tokens", "12", "--ignore-eos");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("Call me Ishmael."), r.out());
        assertTrue(r.err().contains("12 new tokens: decode"), r.err());
        ZqCommandTest.Run again = run("generate", "--model", model.toString(), "--prompt", "Call me Ishmael.", "--max-new-tokens", "12", "--ignore-eos");
        assertEquals(r.out(), again.out(), "greedy is deterministic");
        ZqCommandTest.Run s1 = run("generate", "--model", model.toString(), "--prompt", "the", "--max-new-tokens", "20",
                "--temperature", "1.5", "--top-k", "50", "--seed", "3", "--ignore-eos");
        ZqCommandTest.Run s2 = run("generate", "--model", model.toString(), "--prompt", "the", "--max-new-tokens", "20",
                "--temperature", "1.5", "--top-k", "50", "--seed", "3", "--ignore-eos");
        assertEquals(0, s1.code(), s1.err());
        assertEquals(s1.out(), s2.out(), "same seed, same sample");
    }

    /**
     * {@code --device executor}: the decoder's prefill and decode-step graphs (the GPU's kernels, as Java on the CPU)
     * stream a greedy continuation, the CPU decoder's tokens here; {@code --device gpu} does the same on a GPU or says why not.
     */
    @Test
    void generateThroughTheTaskGraphs() {
        String[] common = {"generate", "--model", model.toString(), "--prompt", "Call me Ishmael.", "--max-new-tokens", "6", "--ignore-eos"};
        ZqCommandTest.Run cpu = run(common), graph = run(concat(common, "--device", "executor"));
        assertEquals(0, graph.code(), graph.err());
        assertTrue(graph.err().contains("6 new tokens: decode") && graph.err().contains("CPU"), graph.err());
        assertEquals(cpu.out(), graph.out(), "greedy tokens of the graphs (FP16) and of the CPU decoder (FP32)");
        ZqCommandTest.Run onGpu = run(concat(common, "--device", "gpu"));
        assertTrue(onGpu.code() == 0 ? onGpu.out().equals(cpu.out()) : onGpu.code() == 2 && onGpu.err().startsWith("zq: ") && !onGpu.err().contains("\tat "),
                onGpu.code() + ": " + onGpu.err());
        ZqCommandTest.Run bad = run(concat(common, "--device", "executor", "--temperature", "0.8"));
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("greedily"), bad.err());
        bad = run(concat(common, "--device", "tpu"));
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("--device"), bad.err());
    }

    /**
     * The bundled LLaMA (RMSNorm, rotary positions, grouped-query attention, SwiGLU) through the same graphs: the CPU
     * decoder's greedy tokens, on the executor and, where there is one, on the GPU.
     */
    @Test
    void theBundledLlamaGeneratesThroughTheTaskGraphs() {
        String[] common = {"generate", "--model", "sotu-llama", "--prompt", "The state of our Union is", "--max-new-tokens", "8", "--ignore-eos"};
        ZqCommandTest.Run cpu = run(common), graph = run(concat(common, "--device", "executor"));
        assertEquals(0, cpu.code(), cpu.err());
        assertEquals(0, graph.code(), graph.err());
        assertEquals(cpu.out(), graph.out(), "greedy tokens of the graphs (FP16) and of the CPU decoder (FP32)");
        ZqCommandTest.Run onGpu = run(concat(common, "--device", "gpu"));
        assertTrue(onGpu.code() == 0 ? onGpu.out().equals(cpu.out()) : onGpu.code() == 2 && onGpu.err().startsWith("zq: ") && !onGpu.err().contains("\tat "),
                onGpu.code() + ": " + onGpu.err());
    }

    static String[] concat(String[] a, String... b) {
        String[] all = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    @Test
    void generateRejectsBadInputInOneLine() {
        ZqCommandTest.Run r = run("generate", "--model", model.toString(), "--prompt", "x", "--max-new-tokens", "500");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("positions"), r.err());
        assertEquals("", r.out(), "nothing on stdout before the request is refused");
        r = run("generate", "--model", model.toString(), "--prompt", "x", "--max-new-tokens", "-1");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("max new tokens"), r.err());
        assertEquals("", r.out());
        r = run("generate", "--model", dir.resolve("absent").toString(), "--prompt", "x");
        assertEquals(2, r.code());
        r = run("generate", "--model", model.toString(), "--prompt", "x", "--top-p", "0");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("top-p"), r.err());
    }

    @Test
    void generationThatFailsMidwayEndsItsLineBeforeTheError() throws Exception {
        // Finite weights so large that the logits overflow: the model loads, and the first sampled token fails.
        Path huge = dir.resolve("overflowing");
        try (Arena a = Arena.ofShared()) {
            DecoderModel m = DecoderModel.random(DecoderConfig.gpt2(262, 64, 2, 4, 128), 11, a);
            for (long i = 0; i < m.tokenEmbeddings().numel(); i++) m.tokenEmbeddings().setFloat(i, (i % 2 == 0 ? 3e38f : -3e38f));
            DecoderCheckpoint.save(m, huge);
        }
        for (String f : new String[]{"vocab.json", "merges.txt"}) Files.copy(model.resolve(f), huge.resolve(f));
        ZqCommandTest.Run r = run("generate", "--model", huge.toString(), "--prompt", "Call me", "--max-new-tokens", "3");
        assertEquals(2, r.code(), r.out() + r.err());
        assertTrue(r.err().startsWith("zq: ") && r.err().contains("distribution"), r.err());
        assertEquals("Call me" + System.lineSeparator(), r.out(), "the echoed prompt ends its line");
    }

    @Test
    void quantizeRefusesAnOutputDirectoryItDidNotWrite() throws Exception {
        Path foreign = Files.createDirectories(dir.resolve("someone-elses"));
        Files.writeString(foreign.resolve("notes.txt"), "precious");
        ZqCommandTest.Run r = run("quantize", "--model", model.toString(), "--config", "w8a8", "--out", foreign.toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("not a model zq wrote") && r.err().contains("notes.txt"), r.err());
        try (var s = Files.list(foreign)) {
            assertEquals(List.of(foreign.resolve("notes.txt")), s.toList());
        }
    }

    @Test
    void inspectDescribesADecoderFpOrQuantized() throws Exception {
        ZqCommandTest.Run fp = run("inspect", model.toString(), "--no-tensors");
        assertEquals(0, fp.code(), fp.err());
        assertTrue(fp.out().contains("architecture: GPT-2 decoder, 2 layers") && fp.out().contains("precision: FP"), fp.out());
        Path q = dir.resolve("inspected");
        Path text = Files.writeString(dir.resolve("inspect-calibration.txt"), "Some text to calibrate on, though W8A8 needs none. ".repeat(20));
        assertEquals(0, run("quantize", "--model", model.toString(), "--config", "w8a8", "--calibration", text.toString(), "--out", q.toString()).code());
        ZqCommandTest.Run r = run("inspect", q.toString(), "--no-tensors");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("GPT-2 decoder") && r.out().contains("quantized by zq, W8A8"), r.out());
    }

    @Test
    void evalRefusesNegativeCountsRatherThanTakingTheDefault() {
        for (String[] option : new String[][]{{"--window", "-1"}, {"--stride", "-2"}, {"--max-tokens", "-5"}}) {
            ZqCommandTest.Run r = run("eval", "--model", model.toString(), option[0], option[1], "--json");
            assertEquals(2, r.code(), r.out());
            assertTrue(r.err().contains(option[0]) && r.err().contains(option[1]), r.err());
            assertEquals("", r.out());
        }
    }

    @Test
    void theBundledLlamaGeneratesAndIsEvaluatedOnItsHeldOutSplitByDefault() throws Exception {
        ZqCommandTest.Run g = run("generate", "--model", "sotu-llama", "--prompt", "The state of the Union", "--max-new-tokens", "8", "--ignore-eos");
        assertEquals(0, g.code(), g.err());
        assertTrue(g.out().startsWith("The state of the Union") && g.out().strip().length() > "The state of the Union".length(), g.out());
        ZqCommandTest.Run e = run("eval", "--model", "sotu-llama", "--max-tokens", "700", "--json");
        assertEquals(0, e.code(), e.err());
        JsonNode o = new ObjectMapper().readTree(e.out());
        assertEquals("sotu-test", o.get("corpus").asText());
        // A trained model, far below the 4,096 of a uniform guess (38.8 over the whole split; a short head varies more).
        double fp = o.get("metrics").get("perplexity_fp32").asDouble();
        assertTrue(fp > 10 && fp < 150, "FP32 perplexity " + fp);
    }

    @Test
    void evalPrintsPerplexityAsOneJsonObject() throws Exception {
        Path text = dir.resolve("text.txt");
        Files.writeString(text, ("Call me Ishmael. Some years ago - never mind how long precisely - having little or no money in my purse, "
                + "and nothing particular to interest me on shore, I thought I would sail about a little and see the watery part of the world. ").repeat(4));
        ZqCommandTest.Run r = run("eval", "--model", model.toString(), "--corpus", text.toString(), "--scheme", "w8a8-ptq",
                "--window", "64", "--stride", "32", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode o = new ObjectMapper().readTree(r.out());
        assertEquals("W8A8 PTQ", o.get("scheme").asText().replace("(", "").replace(")", "").trim().substring(0, 8));
        double fp = o.get("metrics").get("perplexity_fp32").asDouble(), q = o.get("metrics").get("perplexity").asDouble();
        // A random model is close to uniform over 262 tokens; quantization must not make it a different function.
        assertTrue(fp > 100 && fp < 600, "FP32 perplexity " + fp);
        assertEquals(fp, q, 0.05 * fp, "W8A8 perplexity");
        assertTrue(o.get("tokens_scored").asLong() > 100);
        assertEquals(64, o.get("window").asInt());
    }

    @Test
    void quantizedDecoderIsEvaluatedAsStoredAndGenerates() throws Exception {
        Path text = dir.resolve("cal.txt");
        Files.writeString(text, "the theme then thin in a tin hat, the heat in a tent; ".repeat(40));
        Path out = dir.resolve("gpt2-w4");
        ZqCommandTest.Run q = run("quantize", "--model", model.toString(), "--config", "w4-8a8", "--calibration", text.toString(), "--out", out.toString());
        assertEquals(0, q.code(), q.err());
        ZqCommandTest.Run e = run("eval", "--model", out.toString(), "--corpus", text.toString(), "--window", "64", "--json");
        assertEquals(0, e.code(), e.err());
        JsonNode o = new ObjectMapper().readTree(e.out());
        assertEquals("W4/8A8 ZeroQuant", o.get("scheme").asText());
        assertEquals(model.toAbsolutePath().toString(), o.get("fp_model").asText(), "the FP source is found and measured beside it");
        double fp = o.get("metrics").get("perplexity_fp32").asDouble(), p = o.get("metrics").get("perplexity").asDouble();
        assertTrue(p != fp && Math.abs(p - fp) < 0.2 * fp, fp + " vs " + p);
        assertTrue(o.get("weights_bytes_in_memory").asLong() < o.get("weights_bytes_in_memory_fp32").asLong() / 2);
        ZqCommandTest.Run twice = run("eval", "--model", out.toString(), "--scheme", "w8a8", "--corpus", text.toString());
        assertEquals(2, twice.code());
        assertTrue(twice.err().contains("already quantized"), twice.err());
        ZqCommandTest.Run g = run("generate", "--model", out.toString(), "--prompt", "the", "--max-new-tokens", "8", "--ignore-eos");
        assertEquals(0, g.code(), g.err());
        assertTrue(g.out().startsWith("the"), g.out());
    }

    @Test
    void decoderLkdWritesAModelInBothRecipesAndResumes() throws Exception {
        for (String recipe : new String[]{"zq", "paper"}) {
            Path out = dir.resolve("gpt2-lkd-" + recipe);
            List<String> args = new java.util.ArrayList<>(List.of("quantize", "--model", model.toString(), "--config", "w4-8a16", "--lkd",
                    "--lkd-data", "random", "--lkd-steps", "2", "--lkd-windows", "8", "--out", out.toString()));
            if (recipe.equals("paper")) args.add("--lkd-paper");
            ZqCommandTest.Run q = run(args.toArray(String[]::new));
            assertEquals(0, q.code(), q.err());
            assertTrue(q.err().contains("LKD layer 1"), q.err());
            assertTrue(Files.isRegularFile(dir.resolve("gpt2-lkd-" + recipe + ".lkd").resolve("layer-1.safetensors")));
            ZqCommandTest.Run g = run("generate", "--model", out.toString(), "--prompt", "the", "--max-new-tokens", "4", "--ignore-eos");
            assertEquals(0, g.code(), g.err());
            ZqCommandTest.Run again = run(args.toArray(String[]::new));
            assertEquals(0, again.code(), again.err());
            assertTrue(again.err().contains("(from checkpoint)"), again.err());
        }
        ZqCommandTest.Run none = run("quantize", "--model", model.toString(), "--config", "w4-8a16", "--lkd", "--lkd-windows", "0",
                "--out", dir.resolve("gpt2-lkd-none").toString());
        assertEquals(2, none.code());
        assertTrue(none.err().contains("--lkd-windows must be at least 1"), none.err());
        ZqCommandTest.Run noLkd = run("quantize", "--model", model.toString(), "--config", "w4-8a16", "--lkd-windows", "8",
                "--out", dir.resolve("gpt2-no-lkd").toString());
        assertEquals(2, noLkd.code());
        assertTrue(noLkd.err().contains("--lkd-windows applies to LKD only"), noLkd.err());
        assertFalse(Files.exists(dir.resolve("gpt2-no-lkd")), "nothing written");
    }

    @Test
    void llamaLkdWritesAModelThatGeneratesAndEvaluates() throws Exception {
        Path llama = dir.resolve("llama-random");
        try (Arena a = Arena.ofShared()) {
            DecoderCheckpoint.save(DecoderModel.random(new DecoderConfig(DecoderConfig.Family.LLAMA, 262, 64, 2, 4, 2, 128, 128, 1e-5f, 10000f,
                    DecoderConfig.Activation.SWIGLU, false), 13, a), llama);
        }
        for (String f : new String[]{"vocab.json", "merges.txt"}) Files.copy(model.resolve(f), llama.resolve(f));
        Path out = dir.resolve("llama-lkd");
        ZqCommandTest.Run q = run("quantize", "--model", llama.toString(), "--config", "w4-8a8", "--lkd", "--lkd-data", "random",
                "--lkd-steps", "2", "--lkd-windows", "8", "--out", out.toString());
        assertEquals(0, q.code(), q.err());
        assertTrue(q.err().contains("LKD layer 1"), q.err());
        ZqCommandTest.Run g = run("generate", "--model", out.toString(), "--prompt", "the", "--max-new-tokens", "4", "--ignore-eos");
        assertEquals(0, g.code(), g.err());
        Path text = Files.writeString(dir.resolve("llama-text.txt"), "the theme in the attic: the tea, the thin heat. ".repeat(20));
        ZqCommandTest.Run e = run("eval", "--model", out.toString(), "--corpus", text.toString(), "--window", "64", "--stride", "32", "--json");
        assertEquals(0, e.code(), e.err());
        assertTrue(e.out().contains("perplexity"), e.out());
    }
}
