package dev.zq.model.bert;

import dev.zq.model.BundledModels;
import dev.zq.model.tokenizer.Encoding;
import dev.zq.model.tokenizer.WordPieceTokenizer;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The FP32 engine against ONNX Runtime on the real all-MiniLM-L6-v2 export, on every sentence of
 * {@code sentences.txt}. Relative error is per sentence {@code ‖ours − ort‖₂ / ‖ort‖₂} over all its
 * hidden states (resp. its embedding): an element-wise ratio would blow up on values near zero, the
 * norm ratio is what "the outputs agree" means for a vector.
 */
class BertAgainstOnnxRuntimeTest {
    static final double TOLERANCE = 1e-4;
    static Path dir;
    static SentenceEmbedder embedder;
    static OnnxRuntimeReference ort;
    static List<String> sentences;

    @BeforeAll
    static void open() throws Exception {
        dir = BundledModels.miniLm();
        embedder = SentenceEmbedder.open(dir, SentenceEmbedder.DEFAULT_MAX_LENGTH);
        ort = new OnnxRuntimeReference(dir.resolve("model.onnx"));
        sentences = dev.zq.model.TestSentences.load();
        assertTrue(sentences.size() >= 50, "need at least 50 sentences, have " + sentences.size());
    }

    @AfterAll
    static void close() throws Exception {
        if (embedder != null) embedder.close();
        if (ort != null) ort.close();
    }

    @Test
    void configReadFromTheGraph() {
        BertConfig c = embedder.model().encoder().config();
        assertEquals(new BertConfig(30522, 384, 6, 12, 1536, 512, 2, 1e-12f), c);
    }

    @Test
    void hiddenStatesAndEmbeddingsMatchOnnxRuntime() throws Exception {
        double worstHidden = 0, worstEmbedding = 0;
        int maxLen = 0;
        for (String s : sentences) {
            // Long inputs are also run at the model's full 512 positions.
            for (int limit : new int[]{SentenceEmbedder.DEFAULT_MAX_LENGTH, 512}) {
                Encoding e = embedder.tokenizer().encode(s, limit);
                if (limit == 512 && e.ids().length <= SentenceEmbedder.DEFAULT_MAX_LENGTH) continue;
                maxLen = Math.max(maxLen, e.ids().length);
                int seq = e.ids().length;
                float[][][] ref = ort.lastHiddenState(1, seq, e.ids(), e.typeIds(), e.attentionMask());
                float[] ours;
                float[] embedding;
                try (Arena arena = Arena.ofConfined()) {
                    Tensor h = embedder.model().encoder().forward(arena, 1, seq, e.ids(), e.typeIds(), e.attentionMask());
                    ours = h.toFloatArray();
                    embedding = SentenceEmbedder.normalize(SentenceEmbedder.meanPool(h, e.attentionMask()))[0];
                }
                double errH = relError(ours, flatten(ref[0]));
                double errE = relError(embedding, referenceEmbedding(ref[0], e.attentionMask()));
                assertTrue(errH <= TOLERANCE, "hidden states of \"" + abbrev(s) + "\" (" + seq + " tokens): rel error " + errH);
                assertTrue(errE <= TOLERANCE, "embedding of \"" + abbrev(s) + "\": rel error " + errE);
                worstHidden = Math.max(worstHidden, errH);
                worstEmbedding = Math.max(worstEmbedding, errE);
            }
        }
        assertEquals(512, maxLen, "the sentence set must contain an input that fills all 512 positions");
        System.out.printf("MiniLM vs ONNX Runtime on %d sentences: worst relative error hidden %.2e, embedding %.2e%n",
                sentences.size(), worstHidden, worstEmbedding);
    }

    @Test
    void paddedBatchEqualsOneByOne() {
        List<String> batch = new ArrayList<>(sentences.subList(0, 12));
        float[][] together = embedder.embed(batch, 12);
        for (int i = 0; i < batch.size(); i++) {
            float[] alone = embedder.embed(List.of(batch.get(i)), 1)[0];
            assertTrue(relError(together[i], alone) <= 1e-5, "padding changed the embedding of sentence " + i);
        }
    }

    /** sentence-transformers' pooling, in double precision, on ONNX Runtime's output. */
    static float[] referenceEmbedding(float[][] hidden, int[] mask) {
        int dim = hidden[0].length;
        double[] sum = new double[dim];
        int n = 0;
        for (int s = 0; s < hidden.length; s++) {
            if (mask[s] == 0) continue;
            n++;
            for (int d = 0; d < dim; d++) sum[d] += hidden[s][d];
        }
        double norm = 0;
        for (int d = 0; d < dim; d++) { sum[d] /= n; norm += sum[d] * sum[d]; }
        norm = Math.sqrt(norm);
        float[] out = new float[dim];
        for (int d = 0; d < dim; d++) out[d] = (float) (sum[d] / norm);
        return out;
    }

    static float[] flatten(float[][] m) {
        float[] out = new float[m.length * m[0].length];
        for (int i = 0; i < m.length; i++) System.arraycopy(m[i], 0, out, i * m[0].length, m[0].length);
        return out;
    }

    static double relError(float[] a, float[] ref) {
        assertEquals(ref.length, a.length, "lengths differ");
        double diff = 0, norm = 0;
        for (int i = 0; i < a.length; i++) {
            double d = (double) a[i] - ref[i];
            diff += d * d;
            norm += (double) ref[i] * ref[i];
        }
        return Math.sqrt(diff / norm);
    }

    static String abbrev(String s) { return s.length() > 60 ? s.substring(0, 60) + "…" : s; }
}
