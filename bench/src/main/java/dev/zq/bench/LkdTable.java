package dev.zq.bench;

import dev.zq.lkd.BertLkd;
import dev.zq.lkd.Lkd;
import dev.zq.lkd.LkdData;
import dev.zq.model.BundledModels;
import dev.zq.model.bert.BertEncoder;
import dev.zq.model.bert.BertModel;
import dev.zq.model.bert.SentenceEmbedder;
import dev.zq.model.corpus.TextCorpora;
import dev.zq.model.tokenizer.Encoding;
import dev.zq.model.tokenizer.WordPieceTokenizer;
import dev.zq.quant.BertQuantizer;
import dev.zq.quant.Scheme;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * ZeroQuant vs ZeroQuant-LKD on all-MiniLM-L6-v2 (the paper's Table 9 shape: LKD data from the model's
 * own kind of text, another corpus, or random tokens), printed as a Markdown table. Command:
 * {@code java … dev.zq.bench.LkdTable [steps-per-layer]}. Metrics on zq's 60 evaluation sentences, which
 * no LKD data source contains.
 */
public final class LkdTable {
    public static void main(String[] args) throws Exception {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 100;
        Path dir = BundledModels.miniLm();
        List<String> sentences = EmbeddingEvaluation.resource("sentences.txt");
        int maxLen = 64, batch = 8, count = 64;
        try (BertModel fp = BertModel.open(dir)) {
            WordPieceTokenizer tok = WordPieceTokenizer.fromJson(dir.resolve("tokenizer.json"));
            float[][] ref = EmbeddingEvaluation.embed(fp.encoder(), tok, sentences, SentenceEmbedder.DEFAULT_MAX_LENGTH, 8);
            List<String> calibration = EmbeddingEvaluation.resource("calibration.txt");
            List<List<Encoding>> own = LkdData.batches(tok, calibration, batch, maxLen);
            List<List<Encoding>> moby = LkdData.batches(tok, LkdData.sentencesOf(TextCorpora.read(TextCorpora.MOBY_DICK), count), batch, maxLen);
            List<List<Encoding>> random = LkdData.randomTokens(tok, count, batch, maxLen, 1999, 7);
            System.out.printf("LKD: %d Adam steps per layer, lr 5e-5 (warm-up 10, cosine), clip 1.0, batches of %d, max %d tokens%n%n", steps, batch, maxLen);
            System.out.println("| scheme | method | LKD data | cosine mean | cosine min | top-1 NN agreement | LKD wall s | peak RSS MiB |");
            System.out.println("|---|---|---|---:|---:|---:|---:|---:|");
            for (String id : List.of("w4-8a16", "w4-8a8")) {
                Scheme s = Scheme.builtin(id);
                resetPeakRss();
                try (Arena a = Arena.ofShared()) {
                    row(s, "ZeroQuant", "—", BertQuantizer.quantize(fp.encoder(), s, null, a), tok, sentences, ref, 0, peakRssMiB());
                }
                for (var source : List.of(
                        new Object[]{"zq calibration sentences (24, in-domain)", own},
                        new Object[]{"Moby-Dick sentences (64, other corpus)", moby},
                        new Object[]{"random tokens (64 sequences)", random})) {
                    resetPeakRss();
                    @SuppressWarnings("unchecked") List<List<Encoding>> data = (List<List<Encoding>>) source[1];
                    try (Arena a = Arena.ofShared()) {
                        long t0 = System.nanoTime();
                        BertEncoder q = BertLkd.distill(fp.encoder(), s, data, new Lkd.Options(steps, 5e-5, 10, 1.0, null), quiet(), a);
                        double secs = (System.nanoTime() - t0) / 1e9;
                        row(s, "ZeroQuant-LKD", (String) source[0], q, tok, sentences, ref, secs, peakRssMiB());
                    }
                }
            }
        }
    }

    static void row(Scheme s, String method, String data, BertEncoder q, WordPieceTokenizer tok, List<String> sentences, float[][] ref,
                    double secs, long rss) {
        float[][] emb = EmbeddingEvaluation.embed(q, tok, sentences, SentenceEmbedder.DEFAULT_MAX_LENGTH, 8);
        EmbeddingEvaluation.Agreement m = EmbeddingEvaluation.compare(emb, ref);
        System.out.printf("| %s | %s | %s | %.4f | %.4f | %.3f | %s | %d |%n", s.name(), method, data, m.cosineMean(), m.cosineMin(), m.top1(),
                secs == 0 ? "—" : String.format("%.0f", secs), rss);
    }

    static Lkd.Listener quiet() {
        return new Lkd.Listener() {
            @Override public void step(int layer, int step, int steps, double loss) {}
            @Override public void layerDone(Lkd.LayerReport r) {
                System.err.printf("  layer %d: loss %.3e -> %.3e (%.1f s)%n", r.layer(), r.lossBefore(), r.lossAfter(), r.seconds());
            }
        };
    }

    /**
     * Linux: clear the process's peak resident set (VmHWM), so that the next reading is this run's peak — after a full GC, so
     * that the start is the live data, not the previous run's garbage (the JVM keeps the heap it grew, so a reading is never below it).
     */
    static void resetPeakRss() {
        System.gc();
        try { Files.writeString(Path.of("/proc/self/clear_refs"), "5"); } catch (Exception ignored) { }
    }

    static long peakRssMiB() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status")))
                if (l.startsWith("VmHWM:")) return Long.parseLong(l.replaceAll("\\D", "")) / 1024;
        } catch (Exception ignored) { }
        return -1;
    }
}
