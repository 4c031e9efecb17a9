package dev.zq.model.bert;

import dev.zq.model.BundledModels;
import dev.zq.model.ModelFormatException;
import dev.zq.model.tokenizer.Encoding;
import dev.zq.model.tokenizer.WordPieceTokenizer;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Sentence embeddings as sentence-transformers computes them for all-MiniLM-L6-v2: WordPiece tokens
 * (truncated to {@code maxLength}), the BERT encoder, mean pooling over the non-padding tokens, then L2
 * normalisation.
 */
public final class SentenceEmbedder implements AutoCloseable {
    /** sentence-transformers' {@code max_seq_length} for all-MiniLM-L6-v2. */
    public static final int DEFAULT_MAX_LENGTH = 256;

    private final BertModel model;
    private final WordPieceTokenizer tokenizer;
    private final int maxLength;

    public SentenceEmbedder(BertModel model, WordPieceTokenizer tokenizer, int maxLength) {
        if (maxLength < 2 || maxLength > model.encoder().config().maxPositions())
            throw new IllegalArgumentException("maxLength " + maxLength + " outside [2, " + model.encoder().config().maxPositions() + "]");
        this.model = model;
        this.tokenizer = tokenizer;
        this.maxLength = maxLength;
    }

    /** A model directory (or .onnx file) with {@code tokenizer.json} beside it. */
    public static SentenceEmbedder open(Path model, int maxLength) throws ModelFormatException {
        return open(model, maxLength, BertModel::open);
    }

    /** Opens the weights with {@code opener} (e.g. one that also understands quantized model files). */
    public static SentenceEmbedder open(Path model, int maxLength, BertModel.Opener opener) throws ModelFormatException {
        Path dir = BundledModels.directoryOf(model);
        WordPieceTokenizer tok = WordPieceTokenizer.fromJson(dir.resolve("tokenizer.json"));
        BertModel m = opener.open(model);
        try {
            return new SentenceEmbedder(m, tok, maxLength);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    public WordPieceTokenizer tokenizer() { return tokenizer; }
    public BertModel model() { return model; }
    public int maxLength() { return maxLength; }

    /** Unit-length embeddings, one per sentence, computed in batches of {@code batchSize}. */
    public float[][] embed(List<String> sentences, int batchSize) {
        if (batchSize <= 0) throw new IllegalArgumentException("batch size must be positive: " + batchSize);
        float[][] out = new float[sentences.size()][];
        for (int from = 0; from < sentences.size(); from += batchSize) {
            List<String> chunk = sentences.subList(from, Math.min(sentences.size(), from + batchSize));
            float[][] e = embedBatch(tokenizer.encodeBatch(chunk, maxLength, true));
            System.arraycopy(e, 0, out, from, e.length);
        }
        return out;
    }

    /** Embeddings of already tokenized, equally long (padded) encodings. */
    public float[][] embedBatch(List<Encoding> batch) {
        return embed(model.encoder(), batch);
    }

    /** Unit-length mean-pooled embeddings that {@code encoder} gives a padded batch. */
    public static float[][] embed(BertEncoder encoder, List<Encoding> batch) {
        int b = batch.size(), seq = batch.getFirst().ids().length;
        int[][] in = pack(batch, b, seq);
        try (Arena arena = Arena.ofShared()) {
            Tensor hidden = encoder.forward(arena, b, seq, in[0], in[1], in[2]);
            return normalize(meanPool(hidden, in[2]));
        }
    }

    /**
     * Encodings of one length as row-major {@code [rows, seq]} token ids, type ids and attention mask ({@code {ids, types,
     * mask}}); rows past the batch and positions past the encodings' length are padding (mask 0).
     */
    public static int[][] pack(List<Encoding> batch, int rows, int seq) {
        int len = batch.getFirst().ids().length;
        if (batch.size() > rows || len > seq) throw new IllegalArgumentException(batch.size() + " encodings of " + len + " tokens do not fit " + rows + " x " + seq);
        int[] ids = new int[rows * seq], types = new int[rows * seq], mask = new int[rows * seq];
        for (int i = 0; i < batch.size(); i++) {
            Encoding e = batch.get(i);
            if (e.ids().length != len) throw new IllegalArgumentException("encodings must be padded to one length");
            System.arraycopy(e.ids(), 0, ids, i * seq, len);
            System.arraycopy(e.typeIds(), 0, types, i * seq, len);
            System.arraycopy(e.attentionMask(), 0, mask, i * seq, len);
        }
        return new int[][]{ids, types, mask};
    }

    /** Mean of the hidden states of the tokens whose mask is 1; {@code hidden} is [batch, seq, dim]. */
    public static float[][] meanPool(Tensor hidden, int[] mask) {
        int b = hidden.dim(0), seq = hidden.dim(1), dim = hidden.dim(2);
        float[][] out = new float[b][dim];
        for (int i = 0; i < b; i++) {
            double[] sum = new double[dim];
            int count = 0;
            for (int s = 0; s < seq; s++) {
                if (mask[i * seq + s] == 0) continue;
                count++;
                long base = ((long) i * seq + s) * dim;
                for (int d = 0; d < dim; d++) sum[d] += hidden.getFloat(base + d);
            }
            // sentence-transformers clamps the token count to at least 1e-9; an all-padding row stays zero.
            for (int d = 0; d < dim; d++) out[i][d] = (float) (sum[d] / Math.max(count, 1e-9));
        }
        return out;
    }

    /**
     * L2-normalised copies (a zero vector stays zero, as torch's normalize with eps does). A vector with a NaN or an
     * infinity (an encoder whose activations overflowed) is an error: its embedding would be NaN throughout.
     */
    public static float[][] normalize(float[][] v) {
        List<float[]> out = new ArrayList<>(v.length);
        for (float[] row : v) {
            double n = 0;
            for (float x : row) n += (double) x * x;
            if (!Double.isFinite(n))
                throw new IllegalStateException("the encoder's output for sentence " + out.size() + " of its batch is not finite (NaN or overflowing): no embedding");
            double scale = 1.0 / Math.max(Math.sqrt(n), 1e-12);
            float[] r = new float[row.length];
            for (int d = 0; d < row.length; d++) r[d] = (float) (row[d] * scale);
            out.add(r);
        }
        return out.toArray(new float[0][]);
    }

    @Override
    public void close() { model.close(); }
}
