package dev.zq.lkd;

import dev.zq.lkd.autodiff.Ops;
import dev.zq.lkd.autodiff.Var;
import dev.zq.model.decoder.DecoderConfig;
import dev.zq.model.decoder.DecoderModel;
import dev.zq.model.decoder.KvCache;
import dev.zq.quant.QuantizedLinear;
import dev.zq.quant.Scheme;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** LKD on a small random GPT-2-family decoder: the teacher path is the model's function, the mechanics work. */
class DecoderLkdTest {
    static final DecoderConfig CONFIG = DecoderConfig.gpt2(64, 64, 3, 4, 24);

    @Test
    void theDoubleTeacherPathThenTheHeadEqualsTheFloatDecodersLogits() {
        try (Arena a = Arena.ofShared()) {
            DecoderModel m = DecoderModel.random(CONFIG, 7, a);
            int[][] batch = LkdData.randomWindows(64, 0, 2, 2, 12, 3).getFirst();
            Var x = DecoderLkd.embed(m, batch);
            DecoderLkd.OutputHead head = DecoderLkd.OutputHead.of(m);   // what the KL loss and the Fisher weights run
            Var logits = head.logits(x, 0);
            // The teacher path block by block (as distill walks it), then only the final LayerNorm and the head: the same bits.
            for (int k = 0; k < CONFIG.numLayers(); k++) x = DecoderStudentLayer.of(m, k, false).forward(x, null);
            assertArrayEquals(logits.data, head.logits(x, CONFIG.numLayers()).data);
            assertArrayEquals(logits.data, head.logits(DecoderLkd.embed(m, batch), 0).data, "the same pass again");
            double err = relativeErrorAgainstTheFloatDecoder(m, batch, logits, a);
            assertTrue(err < 1e-5, "double teacher vs float decoder: " + err);
        }
    }

    /** The largest difference between {@code logits} and the float decoder's over {@code batch}, relative to its largest logit. */
    static double relativeErrorAgainstTheFloatDecoder(DecoderModel m, int[][] batch, Var logits, Arena a) {
        int n = batch.length, t = batch[0].length;
        int[] flat = new int[n * t];
        for (int b = 0; b < n; b++) System.arraycopy(batch[b], 0, flat, b * t, t);
        try (KvCache cache = m.newCache(n, t)) {
            Tensor ref = m.forward(a, cache, n, t, flat, true);
            double maxDiff = 0, maxRef = 0;
            for (int i = 0; i < ref.numel(); i++) {
                maxDiff = Math.max(maxDiff, Math.abs(logits.data[i] - ref.getFloat(i)));
                maxRef = Math.max(maxRef, Math.abs(ref.getFloat(i)));
            }
            assertTrue(maxRef > 0, "the float decoder's logits are all zero");
            return maxDiff / maxRef;
        }
    }

    /** A LLaMA with grouped-query attention (4 query heads sharing 2 kv heads), untied head, and a non-default rope θ. */
    static final DecoderConfig LLAMA = new DecoderConfig(DecoderConfig.Family.LLAMA, 64, 64, 2, 4, 2, 128, 32, 1e-5f, 5000f,
            DecoderConfig.Activation.SWIGLU, false);

    @Test
    void theLlamaTeacherPathEqualsTheFloatDecodersLogits() {
        try (Arena a = Arena.ofShared()) {
            DecoderModel m = DecoderModel.random(LLAMA, 5, a);
            int[][] batch = LkdData.randomWindows(64, 0, 2, 2, 12, 3).getFirst();
            Var x = DecoderLkd.embed(m, batch);
            for (int k = 0; k < LLAMA.numLayers(); k++) x = DecoderStudentLayer.of(m, k, false).forward(x, null);
            Var logits = DecoderLkd.OutputHead.of(m).logits(x, LLAMA.numLayers());
            double err = relativeErrorAgainstTheFloatDecoder(m, batch, logits, a);
            assertTrue(err < 1e-5, "double teacher vs float decoder: " + err);
        }
    }

    @Test
    void llamaDistillationLowersEveryBlocksLossWritesTheNormsItTrainedAndResumes(@TempDir Path ckpt) throws Exception {
        List<Lkd.LayerReport> reports = new ArrayList<>();
        Lkd.Listener listener = new Lkd.Listener() {
            @Override public void step(int layer, int step, int steps, double loss) { assertTrue(Double.isFinite(loss)); }
            @Override public void layerDone(Lkd.LayerReport r) { reports.add(r); }
        };
        Lkd.Options o = new Lkd.Options(16, 1e-4, 2, 1.0, ckpt, Lkd.Method.WEIGHTS_AND_CLIPPING, true, 10).withNormLearningRateScale(1);
        try (Arena a = Arena.ofShared()) {
            DecoderModel m = DecoderModel.random(LLAMA, 5, a);
            List<int[][]> data = LkdData.randomWindows(64, 1, 6, 3, 16, 11);
            DecoderModel q = DecoderLkd.distill(m, Scheme.builtin("w4-8a8"), data, o, listener, a);
            assertEquals(2, reports.size());
            for (Lkd.LayerReport r : reports)
                assertTrue(r.lossAfter() < r.lossBefore(), "block " + r.layer() + ": " + r.lossBefore() + " -> " + r.lossAfter());
            for (var l : q.layers()) {
                for (var lin : List.of(l.q(), l.k(), l.v(), l.output(), l.gate(), l.up(), l.down())) assertInstanceOf(QuantizedLinear.class, lin);
                assertNull(l.attentionNorm().bias(), "RMSNorm stays without a bias");
            }
            assertNotEquals(m.layers().get(1).mlpNorm().weight().getFloat(3), q.layers().get(1).mlpNorm().weight().getFloat(3), "the norms trained");

            reports.clear();
            DecoderModel again = DecoderLkd.distill(m, Scheme.builtin("w4-8a8"), data, o, listener, a);
            assertTrue(reports.stream().allMatch(Lkd.LayerReport::resumed));
            QuantizedLinear x = (QuantizedLinear) q.layers().get(1).gate(), y = (QuantizedLinear) again.layers().get(1).gate();
            assertArrayEquals(x.weight().codes().toFloatArray(), y.weight().codes().toFloatArray());
            assertEquals(q.layers().get(1).mlpNorm().weight().getFloat(3), again.layers().get(1).mlpNorm().weight().getFloat(3));
        }
    }

    @Test
    void distillationLowersEveryBlocksLossAndResumesFromCheckpoints(@TempDir Path ckpt) throws Exception {
        Scheme scheme = Scheme.builtin("w4-8a8");
        List<Lkd.LayerReport> reports = new ArrayList<>();
        Lkd.Listener listener = new Lkd.Listener() {
            @Override public void step(int layer, int step, int steps, double loss) { assertTrue(Double.isFinite(loss)); }
            @Override public void layerDone(Lkd.LayerReport r) { reports.add(r); }
        };
        Lkd.Options o = new Lkd.Options(16, 1e-4, 2, 1.0, ckpt);
        try (Arena a = Arena.ofShared()) {
            DecoderModel m = DecoderModel.random(CONFIG, 7, a);
            List<int[][]> data = LkdData.randomWindows(64, 1, 8, 4, 16, 11);
            DecoderModel q = DecoderLkd.distill(m, scheme, data, o, listener, a);
            assertEquals(3, reports.size());
            for (Lkd.LayerReport r : reports) {
                assertFalse(r.resumed());
                assertTrue(r.lossAfter() < r.lossBefore(), "block " + r.layer() + ": " + r.lossBefore() + " -> " + r.lossAfter());
            }
            for (var l : q.layers()) assertInstanceOf(QuantizedLinear.class, l.up());

            reports.clear();
            DecoderModel again = DecoderLkd.distill(m, scheme, data, o, listener, a);
            assertTrue(reports.stream().allMatch(Lkd.LayerReport::resumed));
            QuantizedLinear x = (QuantizedLinear) q.layers().get(1).down(), y = (QuantizedLinear) again.layers().get(1).down();
            assertArrayEquals(x.weight().codes().toFloatArray(), y.weight().codes().toFloatArray());
            assertArrayEquals(x.weight().scales().toFloatArray(), y.weight().scales().toFloatArray());

            // Another run with the same checkpoints — another scheme, model, data or setting — is refused, and they stay.
            List<String> files;
            try (var f = java.nio.file.Files.list(ckpt)) { files = f.map(Path::toString).sorted().toList(); }
            DecoderModel other = DecoderModel.random(CONFIG, 8, a);
            List<int[][]> otherData = LkdData.randomWindows(64, 1, 8, 4, 16, 12);
            List<org.junit.jupiter.api.function.Executable> others = List.of(
                    () -> DecoderLkd.distill(m, Scheme.builtin("w4-8a16"), data, o, listener, a),
                    () -> DecoderLkd.distill(other, scheme, data, o, listener, a),
                    () -> DecoderLkd.distill(m, scheme, otherData, o, listener, a),
                    () -> DecoderLkd.distill(m, scheme, data, new Lkd.Options(17, 1e-4, 2, 1.0, ckpt), listener, a));
            for (var run : others) {
                var e = assertThrows(IllegalArgumentException.class, run);
                assertTrue(e.getMessage().contains("layer-0.safetensors") && e.getMessage().contains("another LKD run"), e.getMessage());
            }
            try (var f = java.nio.file.Files.list(ckpt)) { assertEquals(files, f.map(Path::toString).sorted().toList()); }
            reports.clear();   // the first run's own rerun still resumes
            DecoderLkd.distill(m, scheme, data, o, listener, a);
            assertTrue(reports.stream().allMatch(Lkd.LayerReport::resumed));
        }
    }

    /**
     * A GPTQ start: with no steps at all every block's loss is well below plain ZeroQuant's (its "before"), and LKD runs from it.
     */
    @Test
    void aGptqStartBeatsRoundingToNearestBeforeAnyStep() throws Exception {
        Scheme scheme = Scheme.builtin("w4-8a16");
        List<Lkd.LayerReport> reports = new ArrayList<>();
        Lkd.Listener listener = new Lkd.Listener() {
            @Override public void step(int layer, int step, int steps, double loss) {}
            @Override public void layerDone(Lkd.LayerReport r) { reports.add(r); }
        };
        try (Arena a = Arena.ofShared()) {
            DecoderModel m = DecoderModel.random(CONFIG, 7, a);
            List<int[][]> data = LkdData.randomWindows(64, 1, 8, 4, 16, 11);
            Lkd.Options gptqOnly = new Lkd.Options(0, 1e-4, 0, 1.0, null, Lkd.Method.WEIGHTS_AND_CLIPPING, true, 30).withGptqStart(true);
            DecoderLkd.distill(m, scheme, data, gptqOnly, listener, a);
            List<Lkd.LayerReport> start = List.copyOf(reports);
            for (Lkd.LayerReport r : start)
                assertTrue(r.lossAfter() < 0.9 * r.lossBefore(), "block " + r.layer() + ": " + r.lossBefore() + " -> " + r.lossAfter());
            reports.clear();   // and LKD runs from it
            DecoderLkd.distill(m, scheme, data, new Lkd.Options(4, 1e-4, 2, 1.0, null, Lkd.Method.WEIGHTS_AND_CLIPPING, true, 30).withGptqStart(true), listener, a);
            for (Lkd.LayerReport r : reports) assertTrue(Double.isFinite(r.lossAfter()) && r.steps() == 4);
        }
        assertThrows(IllegalArgumentException.class, () -> new Lkd.Options(1, 1e-3, 0, 1.0, null, Lkd.Method.ROUNDING, true).withGptqStart(true));
    }

    /**
     * Bias correction: the block's mean output error, added to its down projection's bias, moves its output by exactly that
     * much — the loss falls by the mean of the squared per-channel errors (the MSE's mean part), the mean error after it is
     * zero — and distillation with it keeps every block's loss below its start.
     */
    @Test
    void biasCorrectionRemovesTheBlocksMeanErrorAndLowersItsLossByItsSquare() throws Exception {
        Scheme scheme = Scheme.builtin("w4-8a16");
        try (Arena a = Arena.ofShared()) {
            DecoderModel m = DecoderModel.random(CONFIG, 7, a);
            List<int[][]> data = LkdData.randomWindows(64, 1, 4, 2, 16, 11);
            List<Var> inputs = new ArrayList<>(), targets = new ArrayList<>();
            for (int[][] b : data) inputs.add(DecoderLkd.embed(m, b));
            DecoderStudentLayer teacher = DecoderStudentLayer.of(m, 1, false);
            for (Var x : inputs) targets.add(Var.constant(teacher.forward(x, null).data, x.shape));
            DecoderStudentLayer student = DecoderStudentLayer.of(m, 1, true);
            double before = DecoderLkd.loss(student, inputs, targets, scheme);
            double[] d = DecoderLkd.meanError(student, inputs, targets, scheme);
            assertEquals(CONFIG.hiddenSize(), d.length);
            double meanSquare = 0, largest = 0;
            for (double v : d) { meanSquare += v * v / d.length; largest = Math.max(largest, Math.abs(v)); }
            assertTrue(largest > 0, "INT4 weights leave a mean error");
            student.shiftOutput(d);
            double after = DecoderLkd.loss(student, inputs, targets, scheme);
            assertEquals(before - meanSquare, after, 1e-9 * before, "the loss falls by the mean error's square");
            for (double v : DecoderLkd.meanError(student, inputs, targets, scheme)) assertEquals(0, v, 1e-9 * largest);

            List<Lkd.LayerReport> reports = new ArrayList<>();
            Lkd.Listener listener = new Lkd.Listener() {
                @Override public void step(int layer, int step, int steps, double loss) { assertTrue(Double.isFinite(loss)); }
                @Override public void layerDone(Lkd.LayerReport r) { reports.add(r); }
            };
            DecoderLkd.distill(m, scheme, data,
                    new Lkd.Options(16, 1e-4, 2, 1.0, null, Lkd.Method.WEIGHTS_AND_CLIPPING, true, 30).withBiasCorrection(true), listener, a);
            assertEquals(CONFIG.numLayers(), reports.size());
            for (Lkd.LayerReport r : reports) assertTrue(r.lossAfter() < r.lossBefore(), "block " + r.layer() + ": " + r);
        }
    }

    /**
     * Averaging over the last step alone is no averaging (the same codes and scales, bit for bit); over the last half,
     * every block still ends below its starting loss, and its codes differ from the last step's. A share outside [0, 1] is refused.
     */
    @Test
    void averagingTheStepsTailKeepsItsMeanAndOverOneStepChangesNothing() throws Exception {
        Scheme scheme = Scheme.builtin("w4-8a16");
        Lkd.Options plain = new Lkd.Options(16, 1e-4, 2, 1.0, null, Lkd.Method.WEIGHTS_AND_CLIPPING, true, 30);
        try (Arena a = Arena.ofShared()) {
            DecoderModel m = DecoderModel.random(CONFIG, 7, a);
            List<int[][]> data = LkdData.randomWindows(64, 1, 8, 4, 16, 11);
            List<Lkd.LayerReport> reports = new ArrayList<>();
            Lkd.Listener listener = new Lkd.Listener() {
                @Override public void step(int layer, int step, int steps, double loss) { assertTrue(Double.isFinite(loss)); }
                @Override public void layerDone(Lkd.LayerReport r) { reports.add(r); }
            };
            DecoderModel last = DecoderLkd.distill(m, scheme, data, plain, listener, a);
            DecoderModel oneStep = DecoderLkd.distill(m, scheme, data, plain.withAveragedShare(1.0 / 16), listener, a);
            reports.clear();
            DecoderModel half = DecoderLkd.distill(m, scheme, data, plain.withAveragedShare(0.5), listener, a);
            for (Lkd.LayerReport r : reports) assertTrue(r.lossAfter() < r.lossBefore(), "block " + r.layer() + ": " + r);
            boolean differs = false;
            for (int i = 0; i < CONFIG.numLayers(); i++) {
                QuantizedLinear x = (QuantizedLinear) last.layers().get(i).up(), y = (QuantizedLinear) oneStep.layers().get(i).up();
                QuantizedLinear z = (QuantizedLinear) half.layers().get(i).up();
                assertArrayEquals(x.weight().codes().toFloatArray(), y.weight().codes().toFloatArray());
                assertArrayEquals(x.weight().scales().toFloatArray(), y.weight().scales().toFloatArray());
                differs |= !java.util.Arrays.equals(x.weight().scales().toFloatArray(), z.weight().scales().toFloatArray());
            }
            assertTrue(differs, "the mean over eight steps is not the last step's values");
        }
        assertThrows(IllegalArgumentException.class, () -> plain.withAveragedShare(1.5));
        assertThrows(IllegalArgumentException.class, () -> plain.withAveragedShare(-0.1));
    }

    /**
     * The Fisher weights: one array per block and batch, finite, of mean 1 per block and not uniform (the gradients they
     * square come from ops each checked in {@code GradientCheckTest}, cross-entropy included); distillation with them lowers
     * every block's (unweighted) loss.
     */
    @Test
    void fisherWeightsAreTheSquaredGradientsOfTheModelsOwnLossAndDistillationUsesThem() throws Exception {
        try (Arena a = Arena.ofShared()) {
            DecoderModel m = DecoderModel.random(CONFIG, 7, a);
            List<int[][]> data = LkdData.randomWindows(64, 1, 4, 2, 16, 11);
            List<Var> inputs = new ArrayList<>();
            for (int[][] b : data) inputs.add(DecoderLkd.embed(m, b));
            List<List<double[]>> f = DecoderLkd.fisherWeights(m, inputs, 5);
            assertEquals(CONFIG.numLayers(), f.size());
            for (List<double[]> block : f) {
                assertEquals(inputs.size(), block.size());
                double sum = 0, min = Double.MAX_VALUE, max = 0;
                long n = 0;
                for (double[] w : block) for (double v : w) { assertTrue(Double.isFinite(v) && v >= 0); sum += v; n++; min = Math.min(min, v); max = Math.max(max, v); }
                assertEquals(1, sum / n, 1e-9);
                assertTrue(max > 10 * min, "not uniform: " + min + " .. " + max);
            }
            List<Lkd.LayerReport> reports = new ArrayList<>();
            Lkd.Listener listener = new Lkd.Listener() {
                @Override public void step(int layer, int step, int steps, double loss) { assertTrue(Double.isFinite(loss)); }
                @Override public void layerDone(Lkd.LayerReport r) { reports.add(r); }
            };
            DecoderLkd.distill(m, Scheme.builtin("w4-8a16"), data,
                    new Lkd.Options(16, 1e-4, 2, 1.0, null, Lkd.Method.WEIGHTS_AND_CLIPPING, true, 30).withFisherWeightedLoss(true), listener, a);
            for (Lkd.LayerReport r : reports) assertTrue(r.lossAfter() < r.lossBefore(), "block " + r.layer() + ": " + r);
        }
        assertThrows(IllegalArgumentException.class, () -> new Lkd.Options(1, 1e-3, 0, 1.0, null, Lkd.Method.WEIGHTS, true).withTokenNormalizedLoss(true)
                .withFisherWeightedLoss(true));
    }

    /**
     * With {@code logitBlocks} the last blocks learn the KL divergence of the model's next-token distribution from the FP
     * model's: the FP head on the teacher path gives the FP model's own distribution (divergence 0 from itself), the
     * trained blocks' divergence on a batch falls between its first and last visit, and impossible counts are rejected.
     */
    @Test
    void theLastBlocksCanLearnFromTheModelsOutputDistribution() throws Exception {
        try (Arena a = Arena.ofShared()) {
            DecoderModel m = DecoderModel.random(CONFIG, 7, a);
            List<int[][]> data = LkdData.randomWindows(64, 1, 4, 2, 16, 11);
            DecoderLkd.OutputHead head = DecoderLkd.OutputHead.of(m);
            Var x = DecoderLkd.embed(m, data.getFirst());
            double[] p = Ops.softmax(head.logits(x, 0)).data;
            assertEquals(0, Ops.klDivergence(head.logits(x, 0), p).item(), 1e-12);
            Var afterOne = DecoderStudentLayer.of(m, 0, false).forward(x, null);
            assertEquals(0, Ops.klDivergence(head.logits(afterOne, 1), p).item(), 1e-12, "the rest of the FP model from block 1 on");

            int steps = 16;
            double[][] losses = new double[CONFIG.numLayers()][steps];
            Lkd.Listener listener = new Lkd.Listener() {
                @Override public void step(int layer, int step, int steps, double loss) { assertTrue(Double.isFinite(loss)); losses[layer][step - 1] = loss; }
                @Override public void layerDone(Lkd.LayerReport r) {}
            };
            Lkd.Options o = new Lkd.Options(steps, 1e-4, 2, 1.0, null, Lkd.Method.WEIGHTS_AND_CLIPPING, true, 30).withLogitBlocks(2);
            DecoderModel q = DecoderLkd.distill(m, Scheme.builtin("w4-8a16"), data, o, listener, a);
            for (int k = 1; k < CONFIG.numLayers(); k++)   // two batches: steps 1 and 15 see the same one
                assertTrue(losses[k][steps - 2] < losses[k][0], "block " + k + ": KL " + losses[k][0] + " -> " + losses[k][steps - 2]);
            for (var l : q.layers()) assertInstanceOf(QuantizedLinear.class, l.up());
            assertThrows(IllegalArgumentException.class, () -> DecoderLkd.distill(m, Scheme.builtin("w4-8a16"), data, o.withLogitBlocks(4), listener, a));
        }
        assertThrows(IllegalArgumentException.class, () -> new Lkd.Options(1, 1e-3, 0, 1.0, null).withLogitBlocks(-1));
        assertThrows(IllegalArgumentException.class, () -> new Lkd.Options(1, 1e-3, 0, 1.0, null, Lkd.Method.WEIGHTS, true).withTokenNormalizedLoss(true).withLogitBlocks(1));
    }

    /**
     * With {@code normLearningRateScale > 0} the blocks' LayerNorms train with the projections: the distilled model carries the trained
     * γ and β (different from the FP model's, finite), the FP model keeps its own, and a rerun resumes them from the
     * checkpoints exactly.
     */
    @Test
    void trainedLayerNormsReachTheModelAndResume(@TempDir Path ckpt) throws Exception {
        Scheme scheme = Scheme.builtin("w4-8a16");
        Lkd.Listener quiet = new Lkd.Listener() {
            @Override public void step(int layer, int step, int steps, double loss) {}
            @Override public void layerDone(Lkd.LayerReport r) {}
        };
        Lkd.Options o = new Lkd.Options(8, 1e-3, 2, 1.0, ckpt, Lkd.Method.WEIGHTS_AND_CLIPPING, true, 30).withNormLearningRateScale(10);
        try (Arena a = Arena.ofShared()) {
            DecoderModel m = DecoderModel.random(CONFIG, 7, a);
            float[] fpGamma = m.layers().get(1).mlpNorm().weight().toFloatArray();
            List<int[][]> data = LkdData.randomWindows(64, 1, 4, 4, 16, 11);
            DecoderModel q = DecoderLkd.distill(m, scheme, data, o, quiet, a);
            assertArrayEquals(fpGamma, m.layers().get(1).mlpNorm().weight().toFloatArray(), "the FP model is left as it was");
            for (int k = 0; k < CONFIG.numLayers(); k++) {
                var fpLayer = m.layers().get(k);
                var qLayer = q.layers().get(k);
                for (Tensor[] pair : new Tensor[][]{{fpLayer.attentionNorm().weight(), qLayer.attentionNorm().weight()},
                        {fpLayer.attentionNorm().bias(), qLayer.attentionNorm().bias()}, {fpLayer.mlpNorm().weight(), qLayer.mlpNorm().weight()},
                        {fpLayer.mlpNorm().bias(), qLayer.mlpNorm().bias()}}) {
                    float[] before = pair[0].toFloatArray(), after = pair[1].toFloatArray();
                    double moved = 0;
                    for (int i = 0; i < before.length; i++) {
                        assertTrue(Float.isFinite(after[i]));
                        moved = Math.max(moved, Math.abs(after[i] - before[i]));
                    }
                    assertTrue(moved > 1e-4, "block " + k + ": a LayerNorm parameter did not train (" + moved + ")");
                }
            }
            DecoderModel again = DecoderLkd.distill(m, scheme, data, o, quiet, a);
            for (int k = 0; k < CONFIG.numLayers(); k++) {
                assertArrayEquals(q.layers().get(k).attentionNorm().weight().toFloatArray(), again.layers().get(k).attentionNorm().weight().toFloatArray());
                assertArrayEquals(q.layers().get(k).mlpNorm().bias().toFloatArray(), again.layers().get(k).mlpNorm().bias().toFloatArray());
            }
            Lkd.Options without = new Lkd.Options(8, 1e-3, 2, 1.0, null, Lkd.Method.WEIGHTS_AND_CLIPPING, true, 30);
            DecoderModel plain = DecoderLkd.distill(m, scheme, data, without, quiet, a);
            assertSame(m.layers().get(0).attentionNorm(), plain.layers().get(0).attentionNorm(), "without the option the norms are the FP model's");
        }
    }

    /**
     * Learned clipping thresholds start at their groups' maxima and must learn from the first step (the gradient there is the
     * one from below; with none, as before a fix, they never moved), at the learning-rate multiple they are given.
     */
    @Test
    void learnedClippingThresholdsMoveFromTheFirstStep() throws Exception {
        Scheme scheme = Scheme.builtin("w4-8a16");
        try (Arena a = Arena.ofShared()) {
            DecoderModel m = DecoderModel.random(CONFIG, 7, a);
            Var x = DecoderLkd.embed(m, LkdData.randomWindows(64, 1, 4, 4, 16, 11).getFirst());
            Var target = Var.constant(DecoderStudentLayer.of(m, 0, false).forward(x, null).data, x.shape);
            DecoderStudentLayer s = DecoderStudentLayer.of(m, 0, true).learnClipping(scheme);
            List<Var> thresholds = s.thresholds();
            assertEquals(4, thresholds.size(), "every quantized projection of the block");
            List<double[]> start = thresholds.stream().map(t -> t.data.clone()).toList();
            var adam = new dev.zq.lkd.train.Adam(s.trainable(), 1e-4, 10, 0, 1.0);
            for (Var t : thresholds) adam.scaleLearningRate(t, 30);
            Ops.mse(s.forward(x, scheme), target).backward();
            adam.update();
            int moved = 0, full = 0, total = 0;
            for (int i = 0; i < thresholds.size(); i++)
                for (int g = 0; g < start.get(i).length; g++, total++) {
                    double step = Math.abs(thresholds.get(i).data[g] - start.get(i)[g]);
                    if (step > 0) moved++;
                    if (step > 1e-4 + 1e-9) full++;   // beyond any step at the plain learning rate: the factor applies
                    assertTrue(step <= 3e-3 + 1e-9, "no threshold steps further than 30 × the learning rate");
                }
            assertTrue(moved > 0.95 * total, moved + " of " + total + " thresholds moved on the first step");
            assertTrue(full > 0.5 * total, full + " of " + total + " thresholds stepped further than the plain learning rate allows");
        }
    }

    @Test
    void staticSchemesAndWindowsPastThePositionsAreRejectedWithAReason() {
        try (Arena a = Arena.ofShared()) {
            Lkd.Options o = new Lkd.Options(1, 1e-3, 0, 1.0, null);
            Lkd.Listener none = new Lkd.Listener() {
                @Override public void step(int layer, int step, int steps, double loss) {}
                @Override public void layerDone(Lkd.LayerReport r) {}
            };
            List<int[][]> data = LkdData.randomWindows(64, 1, 2, 2, 8, 1);
            DecoderModel gpt = DecoderModel.random(CONFIG, 7, a);
            assertThrows(IllegalArgumentException.class, () -> DecoderLkd.distill(gpt, Scheme.builtin("w8a8-ptq"), data, o, none, a));
            assertThrows(IllegalArgumentException.class, () -> LkdData.randomWindows(64, 1, 2, 2, 30, 1).forEach(b -> DecoderLkd.embed(gpt, b)));
            for (int count : new int[]{0, -3}) {   // a count from the command line: a reason, not a NegativeArraySizeException
                var e = assertThrows(IllegalArgumentException.class, () -> LkdData.randomWindows(64, 1, count, 2, 8, 1));
                assertTrue(e.getMessage().contains("count"), e.getMessage());
            }
        }
    }

    @Test
    void tokenWindowsSpreadOverTheTextAndRejectShortTexts() {
        int[] text = new int[100];
        for (int i = 0; i < 100; i++) text[i] = i;
        List<int[][]> w = LkdData.tokenWindows(text, 5, 2, 10);
        assertEquals(3, w.size());
        assertEquals(1, w.get(2).length);
        assertEquals(0, w.get(0)[0][0]);
        assertEquals(90, w.get(2)[0][0]);
        assertEquals(99, w.get(2)[0][9]);
        assertThrows(IllegalArgumentException.class, () -> LkdData.tokenWindows(new int[5], 1, 1, 10));
    }

    /** QDrop-style input mixing: a share of elements from the FP path, the rest from the quantized path; refused without quantized inputs. */
    @Test
    void mixedInputsTakeEachElementFromOneOfTheTwoPaths() {
        double[] q = new double[4000], fp = new double[4000];
        for (int i = 0; i < q.length; i++) {
            q[i] = -1 - i;
            fp[i] = 1 + i;
        }
        Var m = DecoderLkd.mixed(Var.constant(q, 40, 100), Var.constant(fp, 40, 100), 0.3, new java.util.Random(3));
        assertArrayEquals(new int[]{40, 100}, m.shape);
        int fromFp = 0;
        for (int i = 0; i < q.length; i++) {
            assertTrue(m.data[i] == q[i] || m.data[i] == fp[i], "element " + i);
            if (m.data[i] == fp[i]) fromFp++;
        }
        assertEquals(0.3, fromFp / 4000.0, 0.03);
        assertThrows(IllegalArgumentException.class, () -> new Lkd.Options(1, 1e-3, 0, 1.0, null, Lkd.Method.WEIGHTS, false).withFpInputShare(0.5));
        assertThrows(IllegalArgumentException.class, () -> new Lkd.Options(1, 1e-3, 0, 1.0, null, Lkd.Method.WEIGHTS, true).withFpInputShare(1.5));
    }

    /** Token-normalized loss weights: one per row, mean 1, inversely proportional to the row's variance. */
    @Test
    void tokenWeightsFollowTheInverseVarianceOfEachRow() {
        double[] t = new double[3 * 4];
        double[] scale = {1, 10, 0.5};
        for (int r = 0; r < 3; r++)
            for (int j = 0; j < 4; j++) t[r * 4 + j] = 7 + scale[r] * (j % 2 == 0 ? 1 : -1);   // variance scale², any mean
        double[] w = DecoderLkd.tokenWeights(Var.constant(t, 3, 4));
        assertEquals(3, w.length);
        assertEquals(3.0, w[0] + w[1] + w[2], 1e-9);
        assertEquals(100.0, w[0] / w[1], 1e-3);
        assertEquals(0.25, w[0] / w[2], 1e-3);
    }
}
