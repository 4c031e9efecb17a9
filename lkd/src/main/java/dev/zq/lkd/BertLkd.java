package dev.zq.lkd;

import dev.zq.lkd.autodiff.Ops;
import dev.zq.lkd.autodiff.Var;
import dev.zq.lkd.train.Adam;
import dev.zq.model.DenseLinear;
import dev.zq.model.Linear;
import dev.zq.model.ModelFormatException;
import dev.zq.model.bert.BertEncoder;
import dev.zq.model.format.SafeTensors;
import dev.zq.model.tokenizer.Encoding;
import dev.zq.quant.LinearQuantizer;
import dev.zq.quant.Scheme;
import dev.zq.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * ZeroQuant's layer-by-layer knowledge distillation (§4.2) for a BERT encoder. For layer k, the input is
 * the FP model's layers 1..k-1 applied to the data (the teacher path); the teacher is FP layer k; the student
 * is layer k under the scheme's fake quantization; loss = MSE(teacher(x), student(x)) over real (unpadded)
 * tokens; only the student's projection weights and biases train (Adam). Then the trained layer is quantized
 * for real with the scheme, and the next layer starts from the teacher's output. No labels are used.
 * Only one layer's activations and optimizer state are in memory at a time. With a checkpoint directory,
 * each finished layer is saved and a rerun resumes after the last one.
 */
public final class BertLkd {
    private BertLkd() {}

    public static BertEncoder distill(BertEncoder fp, Scheme scheme, List<List<Encoding>> batches, Lkd.Options o, Lkd.Listener listener,
                                      Arena arena) throws IOException, ModelFormatException {
        if (LinearQuantizer.needsCalibration(scheme))
            throw new IllegalArgumentException("LKD trains for ZeroQuant's dynamic token-wise activations; scheme " + scheme.name() + " has static ranges");
        if (batches.isEmpty()) throw new IllegalArgumentException("LKD needs at least one batch of data");
        List<int[]> masks = new ArrayList<>();
        List<Var> inputs = new ArrayList<>();
        for (List<Encoding> b : batches) {
            masks.add(flatten(b, Encoding::attentionMask));
            inputs.add(embed(fp, b));
        }
        String run = o.checkpointDir() == null ? null : RunFingerprint.of(fp, scheme, o, batches);   // what a checkpoint must match
        if (o.checkpointDir() != null) Files.createDirectories(o.checkpointDir());
        Map<String, Linear> trained = new HashMap<>();
        for (int k = 0; k < fp.layers().size(); k++) {
            long t0 = System.nanoTime();
            StudentLayer teacher = StudentLayer.of(fp, k, false);
            List<Var> targets = new ArrayList<>();
            for (int i = 0; i < inputs.size(); i++) targets.add(teacher.forward(inputs.get(i), masks.get(i), null));

            StudentLayer student = StudentLayer.of(fp, k, true);
            Path ckpt = o.checkpointDir() == null ? null : o.checkpointDir().resolve("layer-" + k + ".safetensors");
            boolean resumed = Lkd.resumable(ckpt, run);
            double before = loss(student, inputs, targets, masks, scheme);
            if (resumed) {
                try (SafeTensors s = SafeTensors.open(ckpt)) {
                    student.load(Lkd.tensors(s));
                }
            } else {
                Adam adam = new Adam(student.trainable(), o.learningRate(), Math.max(1, o.stepsPerLayer()), Math.min(o.warmupSteps(), o.stepsPerLayer()), o.clipNorm());
                for (int step = 0; step < o.stepsPerLayer(); step++) {
                    int i = step % inputs.size();
                    Var l = rowLoss(student.forward(inputs.get(i), masks.get(i), scheme), targets.get(i), masks.get(i));
                    l.backward();
                    adam.update();
                    listener.step(k, step + 1, o.stepsPerLayer(), l.item());
                }
                if (ckpt != null) try (Arena a = Arena.ofConfined()) {
                    Lkd.saveLayer(student.toDense(a), ckpt, run);
                }
            }
            double after = loss(student, inputs, targets, masks, scheme);
            trained.putAll(student.toDense(arena));   // FP32 in the caller's arena; quantized below
            listener.layerDone(new Lkd.LayerReport(k, before, after, resumed ? 0 : o.stepsPerLayer(), (System.nanoTime() - t0) / 1e9, resumed));
            inputs = targets;   // the next layer learns from the teacher path
        }
        LinearQuantizer q = new LinearQuantizer(scheme, null, arena);
        return fp.withLinears((name, lin) -> q.quantize(name, trained.getOrDefault(name, lin)));
    }

    /** Mean over batches of the student's loss. */
    private static double loss(StudentLayer s, List<Var> inputs, List<Var> targets, List<int[]> masks, Scheme scheme) {
        double sum = 0;
        for (int i = 0; i < inputs.size(); i++) sum += rowLoss(s.forward(inputs.get(i), masks.get(i), scheme), targets.get(i), masks.get(i)).item();
        return sum / inputs.size();
    }

    /** MSE over the rows of real tokens only (padding rows are gathered out). */
    static Var rowLoss(Var out, Var target, int[] mask) {
        int H = out.dim(-1);
        int[] rows = java.util.stream.IntStream.range(0, mask.length).filter(i -> mask[i] != 0).toArray();
        Var o = Ops.embedding(Ops.reshape(out, mask.length, H), rows);
        Var t = Ops.embedding(Var.constant(target.data, mask.length, H), rows);
        return Ops.mse(o, t);
    }

    private static int[] flatten(List<Encoding> batch, java.util.function.Function<Encoding, int[]> f) {
        int s = batch.getFirst().length();
        int[] out = new int[batch.size() * s];
        for (int b = 0; b < batch.size(); b++) {
            if (batch.get(b).length() != s) throw new IllegalArgumentException("a batch must be padded to one length");
            System.arraycopy(f.apply(batch.get(b)), 0, out, b * s, s);
        }
        return out;
    }

    /** BERT's embeddings (word + position + token type, then LayerNorm) in double: [B, S, H]. */
    static Var embed(BertEncoder fp, List<Encoding> batch) {
        Map<String, Tensor> e = fp.embeddingTensors();
        Tensor word = e.get("embeddings.word_embeddings.weight"), pos = e.get("embeddings.position_embeddings.weight"),
                type = e.get("embeddings.token_type_embeddings.weight");
        int B = batch.size(), S = batch.getFirst().length(), H = fp.config().hiddenSize();
        int[] ids = flatten(batch, Encoding::ids), types = flatten(batch, Encoding::typeIds);
        double[] x = new double[B * S * H];
        for (int r = 0; r < B * S; r++)
            for (int h = 0; h < H; h++)
                x[r * H + h] = (double) word.getFloat((long) ids[r] * H + h) + pos.getFloat((long) (r % S) * H + h) + type.getFloat((long) types[r] * H + h);
        return Ops.layerNorm(Var.constant(x, B, S, H), StudentLayer.var(e.get("embeddings.LayerNorm.weight"), false),
                StudentLayer.var(e.get("embeddings.LayerNorm.bias"), false), fp.config().layerNormEps());
    }
}
