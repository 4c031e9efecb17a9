package dev.zq.bench;

import dev.zq.model.decoder.DecoderConfig;
import dev.zq.model.decoder.DecoderModel;
import dev.zq.model.decoder.KvCache;
import dev.zq.quant.DecoderQuantizer;
import dev.zq.quant.Scheme;
import dev.zq.quant.SchemeException;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The CPU decoder at real GPT-2 shapes with random weights (no pretrained decoder is reachable from the
 * project's registries; speed does not depend on the values), FP32 or under a quantization scheme (block
 * projections quantized; embeddings and LM head stay FP32, as in ZeroQuant, unless the scheme ends in +head8). {@code decode}: one new token for
 * each of {@code batch} sequences after a 128-token prompt, the context growing to 256 and then cut back to 128
 * (mean context ≈ 192), so tokens/s = batch / time. {@code prefill}: {@code batch} 128-token prompts into an empty
 * cache, so prompt tokens/s = 128·batch / time.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 3)
@Measurement(iterations = 5, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx12g"})
public class DecoderBenchmark {
    static final int PROMPT = 128, MAX_CONTEXT = 256;

    @Param({"gpt2-small"})
    public String shape;

    /**
     * fp32, or a built-in scheme id (e.g. w8a8: INT8 weights in groups of 64, token-wise INT8 activations), optionally with
     * {@code +head8}: the LM head INT8 too ({@link DecoderQuantizer#withInt8Head}; not ZeroQuant's scheme, an opt-in for speed).
     */
    @Param({"fp32", "w8a8"})
    public String scheme;

    /** Sequences decoded together (each step feeds one token per sequence). */
    @Param({"1", "8"})
    public int batch;

    Arena weights;
    DecoderModel model;
    KvCache decodeCache, prefillCache;
    int[] prompt;
    int next = 1;
    int[] step;

    @Setup(Level.Trial)
    public void setUp() {
        DecoderConfig c = switch (shape) {
            case "gpt2-small" -> DecoderConfig.gpt2Small();
            case "gpt2-medium" -> DecoderConfig.gpt2(50257, 1024, 24, 16, 1024);
            default -> throw new IllegalArgumentException("unknown shape " + shape);
        };
        weights = Arena.ofShared();
        model = DecoderModel.random(c, 1, weights);
        boolean head8 = scheme.endsWith("+head8");
        String blocks = head8 ? scheme.substring(0, scheme.length() - "+head8".length()) : scheme;
        if (!blocks.equals("fp32")) {
            try {
                model = DecoderQuantizer.quantize(model, Scheme.builtin(blocks), null, weights);
            } catch (SchemeException e) {
                throw new IllegalArgumentException(e.getMessage(), e);
            }
        }
        if (head8) model = DecoderQuantizer.withInt8Head(model, weights);
        SplittableRandom rnd = new SplittableRandom(2);
        prompt = new int[batch * PROMPT];
        for (int i = 0; i < prompt.length; i++) prompt[i] = rnd.nextInt(c.vocabSize());
        step = new int[batch];
        decodeCache = model.newCache(batch, MAX_CONTEXT);
        prefillCache = model.newCache(batch, PROMPT);
        try (Arena a = Arena.ofShared()) {
            model.forward(a, decodeCache, batch, PROMPT, prompt, false);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        decodeCache.close();
        prefillCache.close();
        weights.close();
    }

    @Benchmark
    public float decode() {
        if (decodeCache.length() == MAX_CONTEXT) decodeCache.truncate(PROMPT);
        try (Arena a = Arena.ofShared()) {
            for (int b = 0; b < batch; b++) {
                step[b] = next;
                next = (next * 31 + 7) % model.config().vocabSize();
            }
            return model.forward(a, decodeCache, batch, 1, step, false).getFloat(0);
        }
    }

    @Benchmark
    public float prefill() {
        prefillCache.reset();
        try (Arena a = Arena.ofShared()) {
            return model.forward(a, prefillCache, batch, PROMPT, prompt, false).getFloat(0);
        }
    }
}
