package dev.zq.bench;

import dev.zq.model.bert.BertEncoder;
import dev.zq.model.bert.BertModel;
import dev.zq.model.bert.SentenceEmbedder;
import dev.zq.model.tokenizer.Encoding;
import dev.zq.model.tokenizer.WordPieceTokenizer;
import dev.zq.quant.BertQuantizer;
import dev.zq.quant.QuantizedModelFile;
import dev.zq.quant.Scheme;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;

/**
 * How much a quantization scheme changes a sentence encoder: cosine similarity of every sentence's
 * embedding to the FP32 one, and agreement of nearest-neighbour rankings among the sentences (top-1
 * identical, and overlap of the 5 nearest). Also the time to quantize and the model's size in memory and
 * on disk (the quantized model file).
 */
public final class EmbeddingEvaluation {
    public record Result(String model, String scheme, String corpus, int sentences, double cosineMean, double cosineMin,
                         double top1Agreement, double top5Overlap, double quantizeSeconds, long memoryBytes, long diskBytes) {}

    private EmbeddingEvaluation() {}

    /** Lines of a bundled text resource, comments and blank lines skipped. */
    public static List<String> resource(String name) throws IOException {
        try (InputStream in = EmbeddingEvaluation.class.getResourceAsStream("/eval/" + name)) {
            if (in == null) throw new IOException("no resource /eval/" + name);
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().filter(l -> !l.isBlank() && !l.startsWith("#")).toList();
        }
    }

    public static float[][] embed(BertEncoder encoder, WordPieceTokenizer tok, List<String> sentences, int maxLength, int batch) {
        float[][] out = new float[sentences.size()][];
        for (int from = 0; from < sentences.size(); from += batch) {
            List<Encoding> enc = tok.encodeBatch(sentences.subList(from, Math.min(sentences.size(), from + batch)), maxLength, true);
            float[][] e = SentenceEmbedder.embed(encoder, enc);
            System.arraycopy(e, 0, out, from, e.length);
        }
        return out;
    }

    public static Result evaluate(String modelName, BertModel fp, WordPieceTokenizer tok, Scheme scheme, List<String> sentences,
                                  List<String> calibration, float[][] reference) throws IOException {
        int maxLen = SentenceEmbedder.DEFAULT_MAX_LENGTH;
        List<List<Encoding>> cal = new ArrayList<>();
        for (int i = 0; i < calibration.size(); i += 8)
            cal.add(tok.encodeBatch(calibration.subList(i, Math.min(calibration.size(), i + 8)), maxLen, true));
        try (Arena arena = Arena.ofShared()) {
            long t0 = System.nanoTime();
            BertEncoder q = BertQuantizer.quantize(fp.encoder(), scheme, cal, arena);
            double seconds = (System.nanoTime() - t0) / 1e9;
            float[][] emb = embed(q, tok, sentences, maxLen, 8);
            Agreement m = compare(emb, reference);
            long disk = WrittenModelSize.of(out -> QuantizedModelFile.write(out, q, scheme.name(), fp.path().resolve("tokenizer.json")));
            return new Result(modelName, scheme.name(), "zq eval sentences (" + sentences.size() + ")", sentences.size(),
                    m.cosineMean(), m.cosineMin(), m.top1(), m.top5(), seconds, QuantizedModelFile.memoryBytes(q), disk);
        }
    }

    /** How far quantized embeddings are from the FP32 ones: cosine mean/min, nearest-neighbour agreement. */
    public record Agreement(double cosineMean, double cosineMin, double top1, double top5) {}

    public static Agreement compare(float[][] emb, float[][] reference) {
        double sum = 0, min = 1;
        for (int i = 0; i < emb.length; i++) {
            double c = dot(emb[i], reference[i]);
            sum += c;
            min = Math.min(min, c);
        }
        int[][] refRank = ranks(reference), qRank = ranks(emb);
        double top1 = 0, top5 = 0;
        for (int i = 0; i < emb.length; i++) {
            if (refRank[i][0] == qRank[i][0]) top1++;
            int[] a = Arrays.copyOf(refRank[i], 5), b = Arrays.copyOf(qRank[i], 5);
            top5 += Arrays.stream(a).filter(x -> Arrays.stream(b).anyMatch(y -> y == x)).count() / 5.0;
        }
        return new Agreement(sum / emb.length, min, top1 / emb.length, top5 / emb.length);
    }

    /** For each sentence, the other sentences ordered by decreasing cosine similarity. */
    static int[][] ranks(float[][] e) {
        int[][] out = new int[e.length][];
        for (int i = 0; i < e.length; i++) {
            int self = i;
            out[i] = IntStream.range(0, e.length).filter(j -> j != self).boxed()
                    .sorted(Comparator.comparingDouble((Integer j) -> -dot(e[self], e[j])).thenComparingInt(j -> j))
                    .mapToInt(Integer::intValue).toArray();
        }
        return out;
    }

    static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += (double) a[i] * b[i];
        return s;
    }
}
