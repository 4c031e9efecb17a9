package dev.zq.lkd;

import dev.zq.model.tokenizer.Encoding;
import dev.zq.model.tokenizer.WordPieceTokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Pattern;

/**
 * Where LKD's unlabeled inputs come from (the paper's Table 9): sentences of a corpus — the model's own kind
 * of data or another corpus — or data-free random token sequences.
 */
public final class LkdData {
    private static final Pattern SENTENCE_END = Pattern.compile("(?<=[.!?])\\s+");

    private LkdData() {}

    /** Tokenized batches of {@code sentences}, each batch padded to its longest sentence. */
    public static List<List<Encoding>> batches(WordPieceTokenizer tok, List<String> sentences, int batchSize, int maxLength) {
        if (batchSize <= 0) throw new IllegalArgumentException("batch size must be positive");
        List<List<Encoding>> out = new ArrayList<>();
        for (int i = 0; i < sentences.size(); i += batchSize)
            out.add(tok.encodeBatch(sentences.subList(i, Math.min(sentences.size(), i + batchSize)), maxLength, true));
        return out;
    }

    /** {@code count} sentences spread evenly over a long text (split after . ! ?), each 40–400 characters. */
    public static List<String> sentencesOf(String text, int count) {
        List<String> all = Arrays.stream(SENTENCE_END.split(text)).map(s -> s.replaceAll("\\s+", " ").strip())
                .filter(s -> s.length() >= 40 && s.length() <= 400).toList();
        if (all.size() < count) throw new IllegalArgumentException("the text has " + all.size() + " usable sentences, " + count + " wanted");
        List<String> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) out.add(all.get((int) ((long) i * all.size() / count)));
        return out;
    }

    /**
     * Data-free inputs: {@code count} sequences of random ordinary vocabulary ids (ids from {@code firstId} up,
     * skipping BERT's special and unused entries), 8 to {@code maxLength - 2} long, between [CLS] and [SEP].
     */
    public static List<List<Encoding>> randomTokens(WordPieceTokenizer tok, int count, int batchSize, int maxLength, int firstId, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] specials = tok.encode("", maxLength).ids();   // [CLS] [SEP]
        int cls = specials[0], sep = specials[specials.length - 1], vocab = tok.vocabSize();
        if (firstId <= 0 || firstId >= vocab) throw new IllegalArgumentException("first id " + firstId + " outside the vocabulary of " + vocab);
        List<int[]> seqs = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int n = 8 + rnd.nextInt(Math.max(1, maxLength - 2 - 8 + 1));
            int[] ids = new int[n + 2];
            ids[0] = cls;
            for (int j = 1; j <= n; j++) ids[j] = firstId + rnd.nextInt(vocab - firstId);
            ids[n + 1] = sep;
            seqs.add(ids);
        }
        List<List<Encoding>> out = new ArrayList<>();
        for (int i = 0; i < seqs.size(); i += batchSize) {
            List<int[]> b = seqs.subList(i, Math.min(seqs.size(), i + batchSize));
            int len = b.stream().mapToInt(a -> a.length).max().orElseThrow();
            List<Encoding> enc = new ArrayList<>();
            for (int[] ids : b) {
                int[] padded = Arrays.copyOf(ids, len), mask = new int[len];
                Arrays.fill(mask, 0, ids.length, 1);
                enc.add(new Encoding(padded, new int[len], mask, new String[len], new int[len][2]));
            }
            out.add(enc);
        }
        return out;
    }

    /**
     * Decoder batches from a token stream: {@code count} windows of {@code seq} tokens spread evenly over
     * {@code tokens}, grouped {@code batchSize} at a time ({@code int[batch][seq]}, the last batch may be smaller).
     */
    public static List<int[][]> tokenWindows(int[] tokens, int count, int batchSize, int seq) {
        requireShape(count, batchSize, seq);
        if (tokens.length < seq) throw new IllegalArgumentException("the text has " + tokens.length + " tokens, a window needs " + seq);
        int[][] windows = new int[count][];
        long room = tokens.length - seq;
        for (int i = 0; i < count; i++) {
            int from = (int) (count == 1 ? 0 : room * i / (count - 1));
            windows[i] = Arrays.copyOfRange(tokens, from, from + seq);
        }
        return group(windows, batchSize);
    }

    /** Data-free decoder batches: {@code count} sequences of ids drawn uniformly from {@code [firstId, vocab)}. */
    public static List<int[][]> randomWindows(int vocab, int firstId, int count, int batchSize, int seq, long seed) {
        if (firstId < 0 || firstId >= vocab) throw new IllegalArgumentException("first id " + firstId + " outside the vocabulary of " + vocab);
        requireShape(count, batchSize, seq);
        SplittableRandom rnd = new SplittableRandom(seed);
        int[][] windows = new int[count][seq];
        for (int[] w : windows) for (int j = 0; j < seq; j++) w[j] = firstId + rnd.nextInt(vocab - firstId);
        return group(windows, batchSize);
    }

    private static void requireShape(int count, int batchSize, int seq) {
        if (count <= 0 || batchSize <= 0 || seq < 2) throw new IllegalArgumentException("count, batch size > 0 and seq >= 2 are required");
    }

    private static List<int[][]> group(int[][] windows, int batchSize) {
        List<int[][]> out = new ArrayList<>();
        for (int i = 0; i < windows.length; i += batchSize) out.add(Arrays.copyOfRange(windows, i, Math.min(windows.length, i + batchSize)));
        return out;
    }
}
