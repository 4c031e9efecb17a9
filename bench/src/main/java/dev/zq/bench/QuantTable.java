package dev.zq.bench;

import dev.zq.model.BundledModels;
import dev.zq.model.bert.BertModel;
import dev.zq.model.bert.SentenceEmbedder;
import dev.zq.model.tokenizer.WordPieceTokenizer;
import dev.zq.quant.Scheme;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

/**
 * The quantization tables for all-MiniLM-L6-v2: every built-in scheme, the paper's Table 7 ablation
 * (per-tensor → group-wise weights → + token-wise activations) and an INT4 group-size sweep.
 * Run: {@code java -cp … dev.zq.bench.QuantTable} (prints Markdown).
 */
public final class QuantTable {
    public static void main(String[] args) throws Exception {
        Path dir = BundledModels.miniLm();
        List<String> sentences = EmbeddingEvaluation.resource("sentences.txt"), cal = EmbeddingEvaluation.resource("calibration.txt");
        try (BertModel fp = BertModel.open(dir)) {
            WordPieceTokenizer tok = WordPieceTokenizer.fromJson(dir.resolve("tokenizer.json"));
            float[][] ref = EmbeddingEvaluation.embed(fp.encoder(), tok, sentences, SentenceEmbedder.DEFAULT_MAX_LENGTH, 8);
            System.out.println("### Schemes (all-MiniLM-L6-v2, " + sentences.size() + " sentences; calibration: " + cal.size() + " other sentences)\n");
            header();
            for (String id : Scheme.BUILTIN) row(EmbeddingEvaluation.evaluate("all-MiniLM-L6-v2", fp, tok, Scheme.builtin(id), sentences, cal, ref));

            System.out.println("\n### Ablation (the paper's Table 7 shape): W8A8\n");
            header();
            row(EmbeddingEvaluation.evaluate("all-MiniLM-L6-v2", fp, tok, scheme("per-tensor W8, static A8", 8, "\"granularity\":\"per_tensor\"", "static"), sentences, cal, ref));
            row(EmbeddingEvaluation.evaluate("all-MiniLM-L6-v2", fp, tok, scheme("group-wise W8 (64), static A8", 8, "\"group_size\":64", "static"), sentences, cal, ref));
            row(EmbeddingEvaluation.evaluate("all-MiniLM-L6-v2", fp, tok, scheme("group-wise W8 (64), token-wise A8", 8, "\"group_size\":64", "dynamic"), sentences, cal, ref));
            System.out.println("\n### Ablation: W4 (all projections), A16\n");
            header();
            row(EmbeddingEvaluation.evaluate("all-MiniLM-L6-v2", fp, tok, scheme("per-tensor W4", 4, "\"granularity\":\"per_tensor\"", null), sentences, cal, ref));
            for (String g : new String[]{"\"granularity\":\"per_row\"", "\"group_size\":128", "\"group_size\":64", "\"group_size\":32", "\"group_size\":16"})
                row(EmbeddingEvaluation.evaluate("all-MiniLM-L6-v2", fp, tok, scheme("W4 " + g.replace("\"", ""), 4, g, null), sentences, cal, ref));
        }
    }

    static Scheme scheme(String name, int bits, String granularity, String activations) throws Exception {
        String json = "{\"name\":\"" + name + "\",\"weight_quantization\":{\"shared_parameters\":{" + granularity + "},"
                + "\"different_groups\":{\"all\":{\"params\":{\"bits\":" + bits + "},\"modules\":[\"*\"]}}}"
                + (activations == null ? "" : ",\"activation_quantization\":{\"shared_parameters\":{\"range_calibration\":\"" + activations + "\"},"
                + "\"different_groups\":{\"all\":{\"params\":{\"bits\":8},\"modules\":[\"*\"]}}}") + "}";
        return Scheme.parse(new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)), name);
    }

    static void header() {
        System.out.println("| scheme | cosine to FP32 (mean) | cosine (min) | top-1 NN agreement | top-5 NN overlap | quantize s | weights in memory MB | file MB |");
        System.out.println("|---|---:|---:|---:|---:|---:|---:|---:|");
    }

    static void row(EmbeddingEvaluation.Result r) {
        System.out.printf("| %s | %.5f | %.5f | %.3f | %.3f | %.2f | %.1f | %.1f |%n", r.scheme(), r.cosineMean(), r.cosineMin(),
                r.top1Agreement(), r.top5Overlap(), r.quantizeSeconds(), r.memoryBytes() / 1e6, r.diskBytes() / 1e6);
    }

}
