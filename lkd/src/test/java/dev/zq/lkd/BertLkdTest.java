package dev.zq.lkd;

import dev.zq.lkd.autodiff.Var;
import dev.zq.model.BundledModels;
import dev.zq.model.bert.BertEncoder;
import dev.zq.model.bert.BertModel;
import dev.zq.model.tokenizer.Encoding;
import dev.zq.model.tokenizer.WordPieceTokenizer;
import dev.zq.quant.QuantizedLinear;
import dev.zq.quant.Scheme;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** LKD on the real all-MiniLM-L6-v2 with a few sentences and few steps: the mechanics, not the final quality. */
class BertLkdTest {
    static BertModel model;
    static List<List<Encoding>> batches;

    @BeforeAll
    static void load() throws Exception {
        Path dir = BundledModels.miniLm();
        model = BertModel.open(dir);
        WordPieceTokenizer tok = WordPieceTokenizer.fromJson(dir.resolve("tokenizer.json"));
        batches = List.of(
                tok.encodeBatch(List.of("The cat sat on the mat.", "Quantization shrinks models.", "A short one."), 32, true),
                tok.encodeBatch(List.of("Stock markets fell sharply today after the announcement.", "Hello world"), 32, true));
    }

    @AfterAll
    static void close() { model.close(); }

    @Test
    void theDoubleTeacherPathEqualsTheFloatEncoder() {
        BertEncoder fp = model.encoder();
        List<Encoding> b = batches.get(0);
        Var x = BertLkd.embed(fp, b);
        int[] mask = new int[x.dim(0) * x.dim(1)];
        for (int i = 0; i < b.size(); i++) System.arraycopy(b.get(i).attentionMask(), 0, mask, i * x.dim(1), x.dim(1));
        for (int k = 0; k < fp.layers().size(); k++) x = StudentLayer.of(fp, k, false).forward(x, mask, null);
        int B = b.size(), S = b.getFirst().length();
        int[] ids = new int[B * S], types = new int[B * S];
        for (int i = 0; i < B; i++) {
            System.arraycopy(b.get(i).ids(), 0, ids, i * S, S);
            System.arraycopy(b.get(i).typeIds(), 0, types, i * S, S);
        }
        try (Arena a = Arena.ofShared()) {
            Tensor ref = fp.forward(a, B, S, ids, types, mask);
            double maxDiff = 0, maxRef = 0;
            for (int i = 0; i < mask.length; i++) {
                if (mask[i] == 0) continue;
                for (int h = 0; h < 384; h++) {
                    maxDiff = Math.max(maxDiff, Math.abs(x.data[i * 384 + h] - ref.getFloat((long) i * 384 + h)));
                    maxRef = Math.max(maxRef, Math.abs(ref.getFloat((long) i * 384 + h)));
                }
            }
            assertTrue(maxDiff / maxRef < 1e-5, "double teacher vs float encoder: " + maxDiff / maxRef);
        }
    }

    @Test
    void distillationLowersEveryLayersLossAndResumesFromCheckpoints(@TempDir Path ckpt) throws Exception {
        Scheme scheme = Scheme.builtin("w4-8a8");
        List<Lkd.LayerReport> reports = new ArrayList<>();
        Lkd.Listener listener = new Lkd.Listener() {
            @Override public void step(int layer, int step, int steps, double loss) { assertTrue(Double.isFinite(loss)); }
            @Override public void layerDone(Lkd.LayerReport r) { reports.add(r); }
        };
        Lkd.Options o = new Lkd.Options(6, 5e-5, 1, 1.0, ckpt);
        try (Arena a = Arena.ofShared()) {
            BertEncoder q = BertLkd.distill(model.encoder(), scheme, batches, o, listener, a);
            assertEquals(6, reports.size());
            for (Lkd.LayerReport r : reports) {
                assertFalse(r.resumed());
                assertTrue(r.lossAfter() < r.lossBefore(), "layer " + r.layer() + ": " + r.lossBefore() + " -> " + r.lossAfter());
            }
            for (var l : q.layers()) assertInstanceOf(QuantizedLinear.class, l.intermediate());

            // A rerun finds every layer's checkpoint: nothing trains, and the result is the same model.
            reports.clear();
            BertEncoder again = BertLkd.distill(model.encoder(), scheme, batches, o, listener, a);
            assertTrue(reports.stream().allMatch(Lkd.LayerReport::resumed));
            QuantizedLinear x = (QuantizedLinear) q.layers().get(3).output(), y = (QuantizedLinear) again.layers().get(3).output();
            assertArrayEquals(x.weight().codes().toFloatArray(), y.weight().codes().toFloatArray());
            assertArrayEquals(x.weight().scales().toFloatArray(), y.weight().scales().toFloatArray());

            // Another scheme or other data with the same checkpoints: refused, not resumed as if they were its own.
            var e = assertThrows(IllegalArgumentException.class, () -> BertLkd.distill(model.encoder(), Scheme.builtin("w4-8a16"), batches, o, listener, a));
            assertTrue(e.getMessage().contains("another LKD run"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> BertLkd.distill(model.encoder(), scheme, batches.subList(0, 1), o, listener, a));
        }
        assertThrows(IllegalArgumentException.class, () -> BertLkd.distill(model.encoder(), Scheme.builtin("w8a8-ptq"), batches, o,
                listener, Arena.ofAuto()));
    }
}
