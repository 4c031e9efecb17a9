package dev.zq.bench;

import dev.zq.model.decoder.DecoderConfig;
import dev.zq.model.decoder.DecoderModel;
import dev.zq.model.decoder.KvCache;
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
 * The FP32 CPU decoder at real GPT-2 shapes with random weights (no pretrained decoder is reachable from
 * the project's registries; speed does not depend on the values). {@code decode}: one new token at batch 1
 * after a 128-token prompt, the context growing to 256 and then cut back to 128 (mean context ≈ 192), so
 * tokens/s = 1 / time. {@code prefill}: a 128-token prompt into an empty cache, so prompt tokens/s = 128 / time.
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

    Arena weights;
    DecoderModel model;
    KvCache decodeCache, prefillCache;
    int[] prompt;
    int next = 1;

    @Setup(Level.Trial)
    public void setUp() {
        DecoderConfig c = switch (shape) {
            case "gpt2-small" -> DecoderConfig.gpt2Small();
            case "gpt2-medium" -> DecoderConfig.gpt2(50257, 1024, 24, 16, 1024);
            default -> throw new IllegalArgumentException("unknown shape " + shape);
        };
        weights = Arena.ofShared();
        model = DecoderModel.random(c, 1, weights);
        SplittableRandom rnd = new SplittableRandom(2);
        prompt = new int[PROMPT];
        for (int i = 0; i < PROMPT; i++) prompt[i] = rnd.nextInt(c.vocabSize());
        decodeCache = model.newCache(1, MAX_CONTEXT);
        prefillCache = model.newCache(1, PROMPT);
        try (Arena a = Arena.ofShared()) {
            model.forward(a, decodeCache, 1, PROMPT, prompt, false);
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
            float v = model.forward(a, decodeCache, 1, 1, new int[]{next}, false).getFloat(0);
            next = (next * 31 + 7) % model.config().vocabSize();
            return v;
        }
    }

    @Benchmark
    public float prefill() {
        prefillCache.reset();
        try (Arena a = Arena.ofShared()) {
            return model.forward(a, prefillCache, 1, PROMPT, prompt, false).getFloat(0);
        }
    }
}
