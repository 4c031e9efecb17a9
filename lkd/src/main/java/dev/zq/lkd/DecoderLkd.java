package dev.zq.lkd;

import dev.zq.lkd.autodiff.Ops;
import dev.zq.lkd.autodiff.Var;
import dev.zq.lkd.train.Adam;
import dev.zq.lkd.train.Average;
import dev.zq.model.Linear;
import dev.zq.model.ModelFormatException;
import dev.zq.model.decoder.DecoderLayer;
import dev.zq.model.decoder.DecoderModel;
import dev.zq.model.decoder.Norm;
import dev.zq.model.format.SafeTensors;
import dev.zq.quant.LinearQuantizer;
import dev.zq.quant.Scheme;
import dev.zq.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * ZeroQuant's LKD (§4.2) for a GPT-2 or LLaMA decoder, block by block. A batch is {@code B} token sequences of
 * one length {@code S} ({@code int[B][S]}); every position is real, and causal attention keeps each position's
 * output a function of its prefix, as at inference. For block k the input is the FP model's embeddings and
 * blocks 1..k-1 (the teacher path), the target FP block k's output, the loss their MSE over all positions;
 * only block k's projection weights and biases train. The trained block is then quantized for real with the
 * scheme and block k+1 starts from the teacher's output. No labels; one block's activations and Adam state
 * in memory at a time; with a checkpoint directory each finished block is saved and a rerun resumes.
 */
public final class DecoderLkd {
    /** AdaRound's regulariser weight, relative to the layer's loss before training. */
    static final double ROUNDING_WEIGHT = 0.1;

    private DecoderLkd() {}

    public static DecoderModel distill(DecoderModel fp, Scheme scheme, List<int[][]> batches, Lkd.Options o, Lkd.Listener listener,
                                       Arena arena) throws IOException, ModelFormatException {
        if (LinearQuantizer.needsCalibration(scheme))
            throw new IllegalArgumentException("LKD trains for ZeroQuant's dynamic token-wise activations; scheme " + scheme.name() + " has static ranges");
        if (batches.isEmpty()) throw new IllegalArgumentException("LKD needs at least one batch of data");
        DecoderStudentLayer.of(fp, 0, false);   // rejects families the tape cannot run, before any work
        List<Var> inputs = new ArrayList<>();
        for (int[][] b : batches) inputs.add(embed(fp, b));
        List<Var> studentInputs = inputs;   // the quantized path, when the options ask for it
        List<List<double[]>> fisher = o.fisherWeightedLoss() ? fisherWeights(fp, inputs, 17) : null;
        int L = fp.layers().size();
        if (o.logitBlocks() > L) throw new IllegalArgumentException(o.logitBlocks() + " blocks cannot learn from the output of a model of " + L);
        OutputHead head = o.logitBlocks() > 0 ? OutputHead.of(fp) : null;   // with Options.logitBlocks: the FP model's next-token distributions
        List<double[]> teacherProbs = new ArrayList<>();
        if (head != null) for (Var x : inputs) teacherProbs.add(Ops.softmax(head.logits(x, 0)).data);
        String run = o.checkpointDir() == null ? null : RunFingerprint.of(fp, scheme, o, batches);   // what a checkpoint must match
        if (o.checkpointDir() != null) Files.createDirectories(o.checkpointDir());
        Map<String, Linear> trained = new HashMap<>();
        Map<Integer, Norm[]> trainedNorms = new HashMap<>();   // with Options.normLearningRateScale > 0: each block's two LayerNorms
        for (int k = 0; k < fp.layers().size(); k++) {
            long t0 = System.nanoTime();
            DecoderStudentLayer teacher = DecoderStudentLayer.of(fp, k, false);
            List<Var> targets = new ArrayList<>();
            for (Var x : inputs) targets.add(Var.constant(teacher.forward(x, null).data, x.shape));
            List<double[]> weights = new ArrayList<>();   // with Options.tokenNormalizedLoss: each target row's weight
            if (o.tokenNormalizedLoss()) for (Var t : targets) weights.add(tokenWeights(t));
            List<double[]> elementWeights = fisher == null ? null : fisher.get(k);   // with Options.fisherWeightedLoss

            DecoderStudentLayer student = DecoderStudentLayer.of(fp, k, true, o.normLearningRateScale() > 0);
            List<Var> seen = o.quantizedInputs() ? studentInputs : inputs;
            Path ckpt = o.checkpointDir() == null ? null : o.checkpointDir().resolve("layer-" + k + ".safetensors");
            boolean resumed = Lkd.resumable(ckpt, run);
            double before = loss(student, seen, targets, scheme);   // plain ZeroQuant's, also with a GPTQ start
            if (o.gptqStart() && !resumed) student.gptqStart(scheme, seen);
            if (o.method() == Lkd.Method.WEIGHTS_AND_CLIPPING) student.learnClipping(scheme);
            if (o.method() == Lkd.Method.ROUNDING) student.learnRounding(scheme).hardRounding(true);
            if (resumed) {
                try (SafeTensors s = SafeTensors.open(ckpt)) {
                    student.load(Lkd.tensors(s));
                }
            } else {
                Adam adam = new Adam(student.trainable(), o.learningRate(), Math.max(1, o.stepsPerLayer()), Math.min(o.warmupSteps(), o.stepsPerLayer()), o.clipNorm());
                for (Var c : student.thresholds()) adam.scaleLearningRate(c, o.thresholdLearningRateScale());
                for (Var n : student.normParameters()) adam.scaleLearningRate(n, o.normLearningRateScale());
                student.hardRounding(false);
                // With averaging, the block keeps the mean of its values over the last averagedShare of the steps.
                int averageFrom = o.stepsPerLayer() - (int) Math.round(o.averagedShare() * o.stepsPerLayer());
                Average average = averageFrom < o.stepsPerLayer() ? new Average(student.trainable()) : null;
                for (int step = 0; step < o.stepsPerLayer(); step++) {
                    int i = step % inputs.size();
                    Var in = o.fpInputShare() > 0 ? mixed(studentInputs.get(i), inputs.get(i), o.fpInputShare(), new Random(31L * k + step)) : seen.get(i);
                    Var out = student.forward(in, scheme);
                    Var fit = k >= L - o.logitBlocks() ? Ops.klDivergence(head.logits(out, k + 1), teacherProbs.get(i))
                            : elementWeights != null ? Ops.elementWeightedMse(out, targets.get(i), elementWeights.get(i))
                            : Ops.rowWeightedMse(out, targets.get(i), o.tokenNormalizedLoss() ? weights.get(i) : null), l = fit;
                    // AdaRound: after a fifth of the steps a regulariser, its exponent annealed from 20 to 2, drives every
                    // rounding to up or down; weighted relative to the layer's starting loss so that one setting fits all layers.
                    double t = (step - 0.2 * o.stepsPerLayer()) / (0.8 * o.stepsPerLayer());
                    Var reg = t < 0 ? null : student.roundingRegularizer(20 - 18 * t, ROUNDING_WEIGHT * before);
                    if (reg != null) l = Ops.add(fit, reg);
                    l.backward();
                    adam.update();
                    if (average != null && step >= averageFrom) average.add();
                    listener.step(k, step + 1, o.stepsPerLayer(), fit.item());
                }
                if (average != null) average.apply();
                student.hardRounding(true);
                if (o.biasCorrection()) student.shiftOutput(meanError(student, seen, targets, scheme));
                if (ckpt != null) try (Arena a = Arena.ofConfined()) {
                    Lkd.saveLayer(student.toDense(a), student.normTensors(a), ckpt, run);
                }
            }
            double after = loss(student, seen, targets, scheme);
            trained.putAll(student.toDense(arena));
            Norm[] norms = student.norms(arena);
            if (norms != null) trainedNorms.put(k, norms);
            listener.layerDone(new Lkd.LayerReport(k, before, after, resumed ? 0 : o.stepsPerLayer(), (System.nanoTime() - t0) / 1e9, resumed));
            if (o.quantizedInputs()) {
                List<Var> next = new ArrayList<>();
                for (Var x : studentInputs) next.add(Var.constant(student.forward(x, scheme).data, x.shape));
                studentInputs = next;
            }
            inputs = targets;   // the next block's target comes from the teacher path
        }
        LinearQuantizer q = new LinearQuantizer(scheme, null, arena);
        DecoderModel out = fp.withLinears((name, lin) -> q.quantize(name, trained.getOrDefault(name, lin)));
        return trainedNorms.isEmpty() ? out : withNorms(out, trainedNorms);
    }

    /**
     * The FP model from block {@code from} on: its blocks, final LayerNorm and LM head as fixed functions on the tape
     * ({@link Lkd.Options#logitBlocks}), so that a student block's output can be judged by the next-token distribution it
     * leads to.
     */
    record OutputHead(DecoderStudentLayer[] blocks, Var gamma, Var beta, Var weight, Var bias, double eps) {
        static OutputHead of(DecoderModel fp) {
            if (!(fp.lmHead() instanceof dev.zq.model.DenseLinear head)) throw new IllegalArgumentException("learning from the model's output needs its FP (dense) LM head");
            DecoderStudentLayer[] blocks = new DecoderStudentLayer[fp.layers().size()];
            for (int k = 0; k < blocks.length; k++) blocks[k] = DecoderStudentLayer.of(fp, k, false);
            return new OutputHead(blocks, StudentLayer.var(fp.finalNorm().weight(), false),
                    fp.finalNorm().bias() == null ? null : StudentLayer.var(fp.finalNorm().bias(), false),
                    StudentLayer.var(head.weight(), false), head.bias() == null ? null : StudentLayer.var(head.bias(), false), fp.config().normEps());
        }

        /** Logits of hidden states {@code h} that enter block {@code from} (blocks.length: the final LayerNorm). */
        Var logits(Var h, int from) {
            for (int k = from; k < blocks.length; k++) h = blocks[k].forward(h, null);
            return Ops.linear(DecoderStudentLayer.norm(h, gamma, beta, eps), weight, bias);
        }
    }

    /**
     * The block's mean output error over {@code inputs}, per channel: target minus the quantized student's output, averaged
     * over every position of every batch ({@link Lkd.Options#biasCorrection}).
     */
    static double[] meanError(DecoderStudentLayer student, List<Var> inputs, List<Var> targets, Scheme scheme) {
        double[] sum = null;
        long rows = 0;
        for (int i = 0; i < inputs.size(); i++) {
            Var out = student.forward(inputs.get(i), scheme), t = targets.get(i);
            int h = out.dim(-1), n = out.numel() / h;
            if (sum == null) sum = new double[h];
            for (int r = 0; r < n; r++)
                for (int c = 0; c < h; c++) sum[c] += t.data[r * h + c] - out.data[r * h + c];
            rows += n;
        }
        for (int c = 0; c < sum.length; c++) sum[c] /= rows;
        return sum;
    }

    /**
     * BRECQ's diagonal Fisher information of every block's output: for each batch, the FP model runs forward on the tape
     * (embeddings {@code inputs}, blocks, final LayerNorm, LM head), draws one label per position from its own next-token
     * distribution ({@code seed}), and back-propagates the mean cross-entropy; block k's weights for batch i are the squared
     * gradients at block k's output, scaled to a mean of 1 over all of block k's batches. Result: [block][batch] → weights.
     */
    static List<List<double[]>> fisherWeights(DecoderModel fp, List<Var> inputs, long seed) {
        int L = fp.layers().size();
        List<List<double[]>> out = new ArrayList<>();
        for (int k = 0; k < L; k++) out.add(new ArrayList<>());
        OutputHead head = OutputHead.of(fp);
        Random random = new Random(seed);
        for (Var in : inputs) {
            Var h = Var.param(in.data.clone(), in.shape);   // a leaf that wants gradients, so that every block output gets one
            Var[] outs = new Var[L];
            for (int k = 0; k < L; k++) outs[k] = h = head.blocks()[k].forward(h, null);
            Var logits = head.logits(h, L);
            int V = logits.dim(-1), R = logits.numel() / V;
            int[] labels = new int[R];
            for (int r = 0; r < R; r++) labels[r] = sample(logits.data, r * V, V, random.nextDouble());
            Ops.crossEntropy(logits, labels).backward();
            for (int k = 0; k < L; k++) {
                double[] g = outs[k].grad(), w = new double[g.length];
                for (int j = 0; j < g.length; j++) w[j] = g[j] * g[j];
                out.get(k).add(w);
            }
        }
        for (List<double[]> block : out) {
            double sum = 0;
            long n = 0;
            for (double[] w : block) { for (double v : w) sum += v; n += w.length; }
            if (!(sum > 0) || !Double.isFinite(sum)) throw new IllegalStateException("the Fisher weights of a block are all zero or not finite");
            for (double[] w : block) for (int j = 0; j < w.length; j++) w[j] *= n / sum;
        }
        return out;
    }

    /** A draw from softmax(logits[o … o + V)) given a uniform u in [0, 1). */
    static int sample(double[] logits, int o, int V, double u) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int v = 0; v < V; v++) max = Math.max(max, logits[o + v]);
        for (int v = 0; v < V; v++) sum += Math.exp(logits[o + v] - max);
        double target = u * sum, acc = 0;
        for (int v = 0; v < V; v++) {
            acc += Math.exp(logits[o + v] - max);
            if (acc > target) return v;
        }
        return V - 1;
    }

    /** 1 / (variance of each row of {@code target} over its last dimension + 1e-6), scaled to a mean of 1. */
    static double[] tokenWeights(Var target) {
        int d = target.shape[target.shape.length - 1], rows = target.numel() / d;
        double[] w = new double[rows];
        double sum = 0;
        for (int r = 0; r < rows; r++) {
            double mean = 0, sq = 0;
            for (int j = 0; j < d; j++) mean += target.data[r * d + j];
            mean /= d;
            for (int j = 0; j < d; j++) { double e = target.data[r * d + j] - mean; sq += e * e; }
            w[r] = 1 / (sq / d + 1e-6);
            sum += w[r];
        }
        for (int r = 0; r < rows; r++) w[r] *= rows / sum;
        return w;
    }

    /** Each element from {@code fp} with probability {@code share}, else from {@code quantized} (same shapes). */
    static Var mixed(Var quantized, Var fp, double share, Random random) {
        double[] d = quantized.data.clone();
        for (int j = 0; j < d.length; j++) if (random.nextDouble() < share) d[j] = fp.data[j];
        return Var.constant(d, quantized.shape);
    }

    /** {@code m} with block k's attention and MLP LayerNorms replaced by {@code norms.get(k)} where present. */
    static DecoderModel withNorms(DecoderModel m, Map<Integer, Norm[]> norms) {
        List<DecoderLayer> layers = new ArrayList<>();
        for (int k = 0; k < m.layers().size(); k++) {
            DecoderLayer l = m.layers().get(k);
            Norm[] n = norms.get(k);
            layers.add(n == null ? l : new DecoderLayer(n[0], l.qkv(), l.q(), l.k(), l.v(), l.output(), n[1], l.gate(), l.up(), l.down()));
        }
        return new DecoderModel(m.config(), m.tokenEmbeddings(), m.positionEmbeddings(), layers, m.finalNorm(), m.lmHead());
    }

    static double loss(DecoderStudentLayer s, List<Var> inputs, List<Var> targets, Scheme scheme) {
        double sum = 0;
        for (int i = 0; i < inputs.size(); i++) sum += Ops.mse(s.forward(inputs.get(i), scheme), targets.get(i)).item();
        return sum / inputs.size();
    }

    /** Token embeddings plus learned position embeddings where the model has them (GPT-2), in double: [B, S, H]. */
    static Var embed(DecoderModel fp, int[][] batch) {
        int B = batch.length, S = batch[0].length, H = fp.config().hiddenSize(), V = fp.config().vocabSize();
        if (S > fp.config().maxPositions()) throw new IllegalArgumentException("sequences of " + S + " exceed the model's " + fp.config().maxPositions() + " positions");
        Tensor wte = fp.tokenEmbeddings(), wpe = fp.positionEmbeddings();
        double[] x = new double[B * S * H];
        for (int b = 0; b < B; b++) {
            if (batch[b].length != S) throw new IllegalArgumentException("a batch's sequences must have one length");
            for (int s = 0; s < S; s++) {
                int id = batch[b][s];
                if (id < 0 || id >= V) throw new IllegalArgumentException("token id " + id + " outside the vocabulary of " + V);
                for (int h = 0; h < H; h++)
                    x[(b * S + s) * H + h] = (double) wte.getFloat((long) id * H + h) + (wpe == null ? 0 : wpe.getFloat((long) s * H + h));
            }
        }
        return Var.constant(x, B, S, H);
    }
}
