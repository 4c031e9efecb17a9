package dev.zq.lkd;

import dev.zq.model.DenseLinear;
import dev.zq.model.ModelFormatException;
import dev.zq.model.format.SafeTensors;
import dev.zq.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/** What every LKD driver ({@link BertLkd}, {@link DecoderLkd}) takes and reports. */
public final class Lkd {
    private Lkd() {}

    /** What a layer's student learns. */
    public enum Method {
        /** The paper's: the FP weights and biases, through fake quantization with a straight-through estimator. */
        WEIGHTS,
        /** As {@link #WEIGHTS}, plus a clipping threshold per weight group (LSQ/OmniQuant-style; the paper's "optionally scales"). */
        WEIGHTS_AND_CLIPPING,
        /** Each weight's rounding direction, up or down, through AdaRound's relaxation; the FP weights stay. */
        ROUNDING
    }

    /**
     * {@code quantizedInputs}: block k's student sees the output of the already distilled, quantized blocks 1..k-1
     * (and still imitates the FP block on the FP path's input), so that it also learns to undo the error it inherits;
     * off, both see the FP path, as in the paper. {@code method} other than WEIGHTS and {@code quantizedInputs} are for decoders.
     * {@code thresholdLearningRateScale}: learned clipping thresholds train at this multiple of the learning rate.
     * {@code normLearningRateScale} (decoders): when positive, the block's two LayerNorms' γ and β train too, at this
     * multiple of the learning rate (they stay FP32 at inference and feed the quantized projections, so they can rescale
     * what those quantize); 0 leaves them as they are. {@code fpInputShare} (decoders, with {@code quantizedInputs}): the
     * share of the student's input elements taken from the FP path instead of the quantized path, drawn afresh at every
     * step (QDrop's idea, Wei et al. 2022: training on a random mix of both inputs finds weights that tolerate either);
     * 0 feeds the quantized path only. {@code tokenNormalizedLoss} (decoders): each token's squared error is divided by
     * the variance of its target over the hidden dimension (weights of mean 1), so that the few tokens whose residual
     * stream is far larger than the rest (GPT-2's first positions) do not outweigh all others in the MSE — the next
     * block's LayerNorm sees each token's error relative to its own scale. {@code gptqStart} (decoders): each block's
     * student starts from GPTQ's error-compensated rounding of its weights on its training inputs ({@link Gptq}) instead
     * of the FP weights; with 0 steps that is GPTQ alone. {@code fisherWeightedLoss} (decoders): each element of block k's
     * squared error is weighted by the squared gradient of the FP model's next-token loss with respect to block k's output
     * there (BRECQ's diagonal Fisher, Li et al. 2021), labels drawn from the FP model's own predictions (so no labels are
     * needed, and random data works too), normalized to a mean of 1 per block: errors where the model's output is
     * sensitive count more. {@code averagedShare} (decoders): 0, or the last share of each block's steps over which its
     * trained values are averaged (Polyak–Ruppert averaging), the block keeping the average instead of the last step's.
     * {@code logitBlocks} (decoders): the last so many blocks learn the KL divergence of the model's next-token
     * distribution from the FP model's instead of their own output's MSE ({@link #withLogitBlocks}); 0 for none.
     */
    public record Options(int stepsPerLayer, double learningRate, int warmupSteps, double clipNorm, Path checkpointDir,
                          Method method, boolean quantizedInputs, double thresholdLearningRateScale, double normLearningRateScale,
                          double fpInputShare, boolean tokenNormalizedLoss, boolean gptqStart, boolean fisherWeightedLoss, boolean biasCorrection,
                          double averagedShare, int logitBlocks) {
        public Options {
            if (stepsPerLayer < 0 || !(learningRate > 0) || warmupSteps < 0 || !(clipNorm > 0) || method == null || !(thresholdLearningRateScale > 0) || !(normLearningRateScale >= 0))
                throw new IllegalArgumentException("steps >= 0, learning rate > 0, warm-up >= 0, clip > 0, a method and a positive threshold "
                        + "learning-rate factor (and a norm factor >= 0) are required");
            if (!(fpInputShare >= 0 && fpInputShare <= 1) || (fpInputShare > 0 && !quantizedInputs))
                throw new IllegalArgumentException("the FP input share is a fraction in [0, 1] and needs quantized inputs to mix with, not " + fpInputShare);
            if (gptqStart && method == Method.ROUNDING)
                throw new IllegalArgumentException("learned rounding starts from the FP weights; a GPTQ start would leave it nothing to round");
            if (fisherWeightedLoss && tokenNormalizedLoss)
                throw new IllegalArgumentException("the loss is weighted by the Fisher information or token-normalized, not both");
            if (!(averagedShare >= 0 && averagedShare <= 1))
                throw new IllegalArgumentException("the averaged share of the steps is a fraction in [0, 1], not " + averagedShare);
            if (logitBlocks < 0) throw new IllegalArgumentException("the number of blocks that learn from the model's output is >= 0, not " + logitBlocks);
            if (logitBlocks > 0 && (fisherWeightedLoss || tokenNormalizedLoss))
                throw new IllegalArgumentException("blocks that learn from the model's output distribution have no squared error to weight");
        }

        /** zq's kind of setting: a method, quantized inputs or not, the thresholds' learning-rate factor; every other option off. */
        public Options(int stepsPerLayer, double learningRate, int warmupSteps, double clipNorm, Path checkpointDir, Method method,
                       boolean quantizedInputs, double thresholdLearningRateScale) {
            this(stepsPerLayer, learningRate, warmupSteps, clipNorm, checkpointDir, method, quantizedInputs, thresholdLearningRateScale,
                    0, 0, false, false, false, false, 0, 0);
        }

        /** Learned clipping thresholds, if any, train at the weights' learning rate. */
        public Options(int stepsPerLayer, double learningRate, int warmupSteps, double clipNorm, Path checkpointDir, Method method,
                       boolean quantizedInputs) {
            this(stepsPerLayer, learningRate, warmupSteps, clipNorm, checkpointDir, method, quantizedInputs, 1);
        }

        /** The paper's LKD: weights (and biases) train, inputs from the FP path. */
        public Options(int stepsPerLayer, double learningRate, int warmupSteps, double clipNorm, Path checkpointDir) {
            this(stepsPerLayer, learningRate, warmupSteps, clipNorm, checkpointDir, Method.WEIGHTS, false);
        }

        /** The same with layer checkpoints in {@code dir} (null: none). */
        public Options withCheckpointDir(Path dir) {
            return new Options(stepsPerLayer, learningRate, warmupSteps, clipNorm, dir, method, quantizedInputs, thresholdLearningRateScale,
                    normLearningRateScale, fpInputShare, tokenNormalizedLoss, gptqStart, fisherWeightedLoss, biasCorrection, averagedShare, logitBlocks);
        }

        /** The same with the blocks' LayerNorms trained at this multiple of the learning rate (0: not trained). */
        public Options withNormLearningRateScale(double scale) {
            return new Options(stepsPerLayer, learningRate, warmupSteps, clipNorm, checkpointDir, method, quantizedInputs, thresholdLearningRateScale,
                    scale, fpInputShare, tokenNormalizedLoss, gptqStart, fisherWeightedLoss, biasCorrection, averagedShare, logitBlocks);
        }

        /** The same with this share of the student's input elements from the FP path (needs quantized inputs). */
        public Options withFpInputShare(double share) {
            return new Options(stepsPerLayer, learningRate, warmupSteps, clipNorm, checkpointDir, method, quantizedInputs, thresholdLearningRateScale,
                    normLearningRateScale, share, tokenNormalizedLoss, gptqStart, fisherWeightedLoss, biasCorrection, averagedShare, logitBlocks);
        }

        /** The same with a token-normalized squared error or the plain one. */
        public Options withTokenNormalizedLoss(boolean normalized) {
            return new Options(stepsPerLayer, learningRate, warmupSteps, clipNorm, checkpointDir, method, quantizedInputs, thresholdLearningRateScale,
                    normLearningRateScale, fpInputShare, normalized, gptqStart, fisherWeightedLoss, biasCorrection, averagedShare, logitBlocks);
        }

        /** The same with a GPTQ start or not. */
        public Options withGptqStart(boolean start) {
            return new Options(stepsPerLayer, learningRate, warmupSteps, clipNorm, checkpointDir, method, quantizedInputs, thresholdLearningRateScale,
                    normLearningRateScale, fpInputShare, tokenNormalizedLoss, start, fisherWeightedLoss, biasCorrection, averagedShare, logitBlocks);
        }

        /** The same with a Fisher-weighted loss or the plain one. */
        public Options withFisherWeightedLoss(boolean fisher) {
            return new Options(stepsPerLayer, learningRate, warmupSteps, clipNorm, checkpointDir, method, quantizedInputs, thresholdLearningRateScale,
                    normLearningRateScale, fpInputShare, tokenNormalizedLoss, gptqStart, fisher, biasCorrection, averagedShare, logitBlocks);
        }

        /**
         * The same with a bias correction after each block's training or not: the block's mean output error over its
         * training data (target minus the quantized student's output, per channel) is added to the bias of its last
         * projection (the MLP's down projection, whose output joins the residual stream), which shifts the block's output
         * by exactly that much — a move Adam cannot make in a short schedule, whose steps are about the learning rate. Off in
         * zq's recipe: on sotu-gpt it closed 65% and 63% of the W4/8A16 gap against the recipe's 68% and 69% on the same
         * windows (bench/RESULTS.md, session 26).
         */
        public Options withBiasCorrection(boolean correct) {
            return new Options(stepsPerLayer, learningRate, warmupSteps, clipNorm, checkpointDir, method, quantizedInputs, thresholdLearningRateScale,
                    normLearningRateScale, fpInputShare, tokenNormalizedLoss, gptqStart, fisherWeightedLoss, correct, averagedShare, logitBlocks);
        }

        /**
         * The same with each block's trained values averaged over the last {@code share} of its steps (0: the last step's
         * values, as without this). Off in zq's recipe: on sotu-gpt, averaged over the second half, it closed 67% and 64% of
         * the W4/8A16 gap against the recipe's 68% and 69% on the same windows (bench/RESULTS.md, session 28).
         */
        public Options withAveragedShare(double share) {
            return new Options(stepsPerLayer, learningRate, warmupSteps, clipNorm, checkpointDir, method, quantizedInputs, thresholdLearningRateScale,
                    normLearningRateScale, fpInputShare, tokenNormalizedLoss, gptqStart, fisherWeightedLoss, biasCorrection, share, logitBlocks);
        }

        /**
         * The same with the last {@code blocks} blocks (decoders) learning from the model's output instead of their own:
         * block k's student output runs through the FP blocks after it, the final LayerNorm and the LM head, and its loss is
         * the KL divergence of that next-token distribution from the FP model's (no labels; the FP blocks after k are fixed
         * functions on the tape, so they hold activations but no optimizer state). 0: every block its own MSE.
         */
        public Options withLogitBlocks(int blocks) {
            return new Options(stepsPerLayer, learningRate, warmupSteps, clipNorm, checkpointDir, method, quantizedInputs, thresholdLearningRateScale,
                    normLearningRateScale, fpInputShare, tokenNormalizedLoss, gptqStart, fisherWeightedLoss, biasCorrection, averagedShare, blocks);
        }
    }

    /** Loss of the quantized student on all batches, before and after training, and the time it took. */
    public record LayerReport(int layer, double lossBefore, double lossAfter, int steps, double seconds, boolean resumed) {}

    public interface Listener {
        void step(int layer, int step, int steps, double loss);
        void layerDone(LayerReport report);
    }

    /** A layer checkpoint's format; version 1 recorded no run (see {@link #resumable}). */
    static final String CHECKPOINT_FORMAT = "zq-lkd-layer/2";

    /** A finished layer's trained projections, as {@code NAME.weight} / {@code NAME.bias}, for resuming by run {@code run}. */
    static void saveLayer(Map<String, DenseLinear> trained, Path file, String run) throws IOException {
        saveLayer(trained, Map.of(), file, run);
    }

    /**
     * A layer's trained tensors (and {@code extra}, by their full names, e.g. a block's LayerNorms) with the run they
     * belong to ({@link RunFingerprint}).
     */
    static void saveLayer(Map<String, DenseLinear> trained, Map<String, Tensor> extra, Path file, String run) throws IOException {
        Map<String, Tensor> t = new LinkedHashMap<>(extra);
        for (var e : trained.entrySet()) {
            t.put(e.getKey() + ".weight", e.getValue().weight());
            if (e.getValue().bias() != null) t.put(e.getKey() + ".bias", e.getValue().bias());
        }
        SafeTensors.write(file, t, Map.of("format", CHECKPOINT_FORMAT, "zq.lkd.run", run));
    }

    /**
     * Whether {@code file}, a layer checkpoint, may be resumed by run {@code run}: false where there is none; true where it
     * was written by the same run; otherwise an {@link IllegalArgumentException} naming the file and the way out, since
     * loading it would give a model trained for another scheme, model, data or setting — and deleting it would lose work.
     */
    static boolean resumable(Path file, String run) throws ModelFormatException {
        if (file == null || !Files.isRegularFile(file)) return false;
        try (SafeTensors s = SafeTensors.open(file)) {
            if (run.equals(s.metadata().get("zq.lkd.run")) && CHECKPOINT_FORMAT.equals(s.metadata().get("format"))) return true;
        }
        throw new IllegalArgumentException(file + " is a checkpoint of another LKD run (another model, scheme, data or setting, or an older zq): "
                + "delete " + file.getParent() + " to start over, or give this run its own checkpoint directory");
    }

    static Map<String, Tensor> tensors(SafeTensors s) throws dev.zq.model.ModelFormatException {
        Map<String, Tensor> t = new HashMap<>();
        for (String n : s.names()) t.put(n, s.get(n));
        return t;
    }
}
