package dev.zq.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.zq.model.BundledModels;
import dev.zq.model.bert.BertEncoder;
import dev.zq.model.bert.BertModel;
import dev.zq.model.tokenizer.WordPieceTokenizer;
import dev.zq.tensor.Tensor;
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
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The FP32 CPU encoder (all-MiniLM-L6-v2) against ONNX Runtime's CPU execution of the same ONNX file,
 * in one run: a batch of {@code batch} sequences of exactly {@code seq} real tokens. Both use every core
 * the machine has. Time per batch; sentences/s = batch / time.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class EncoderBenchmark {
    /** Real prose, tokenized and repeated until it fills the sequence. */
    static final String TEXT = "Quantization maps the weights and activations of a trained network to low-precision "
            + "integers, so that matrix multiplications run on integer tensor cores and the model needs less memory. "
            + "Fine-grained schemes keep one scale per group of weights and one per token of activations.";

    @Param({"1", "32"})
    public int batch;

    @Param({"128"})
    public int seq;

    BertModel model;
    BertEncoder encoder;
    int[] ids, types, mask;
    OrtEnvironment env;
    OrtSession session;
    Map<String, OnnxTensor> ortInputs;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        var dir = BundledModels.miniLm();
        model = BertModel.open(dir);
        encoder = model.encoder();
        WordPieceTokenizer tok = WordPieceTokenizer.fromJson(dir.resolve("tokenizer.json"));
        int[] text = tok.encode(TEXT, 512).ids();
        int[] row = new int[seq];
        row[0] = text[0];                                     // [CLS]
        for (int i = 1; i < seq - 1; i++) row[i] = text[1 + (i - 1) % (text.length - 2)];
        row[seq - 1] = text[text.length - 1];                 // [SEP]
        ids = new int[batch * seq];
        for (int b = 0; b < batch; b++) System.arraycopy(row, 0, ids, b * seq, seq);
        types = new int[batch * seq];
        mask = new int[batch * seq];
        Arrays.fill(mask, 1);

        env = OrtEnvironment.getEnvironment();
        OrtSession.SessionOptions opts = new OrtSession.SessionOptions();
        opts.setIntraOpNumThreads(Runtime.getRuntime().availableProcessors());
        opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        session = env.createSession(dir.resolve("model.onnx").toString(), opts);
        ortInputs = Map.of("input_ids", OnnxTensor.createTensor(env, rows(ids)),
                "token_type_ids", OnnxTensor.createTensor(env, rows(types)),
                "attention_mask", OnnxTensor.createTensor(env, rows(mask)));
    }

    private long[][] rows(int[] flat) {
        long[][] out = new long[batch][seq];
        for (int b = 0; b < batch; b++) for (int s = 0; s < seq; s++) out[b][s] = flat[b * seq + s];
        return out;
    }

    @Benchmark
    public float zqFp32() {
        try (Arena arena = Arena.ofShared()) {
            Tensor h = encoder.forward(arena, batch, seq, ids, types, mask);
            return h.getFloat(0);
        }
    }

    @Benchmark
    public Object onnxRuntime() throws Exception {
        try (OrtSession.Result r = session.run(ortInputs)) {
            return ((float[][][]) r.get(0).getValue())[0][0][0];
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        for (OnnxTensor t : ortInputs.values()) t.close();
        session.close();
        model.close();
    }
}
