package dev.zq.model.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.zq.model.ModelFormatException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * BERT's WordPiece tokenizer as Hugging Face {@code tokenizers} runs it from a {@code tokenizer.json}:
 * special (added) tokens are matched on the raw text first; the text between them goes through the
 * {@link BertNormalizer}, is split on whitespace and around punctuation, and each word becomes the longest
 * vocabulary pieces left to right ({@code ##} marks a continuation; a word with no split, or longer than
 * {@code max_input_chars_per_word}, becomes {@code [UNK]}); then {@code [CLS] … [SEP]} are added and the
 * result truncated to the requested length.
 */
public final class WordPieceTokenizer {
    private final Map<String, Integer> vocab;
    private final String[] idToToken;
    private final String unkToken;
    private final int unkId;
    private final String prefix;
    private final int maxInputCharsPerWord;
    private final BertNormalizer normalizer;
    private final List<String> addedTokens;          // longest first: leftmost-longest matching
    private final Map<String, Integer> addedIds;
    private final boolean[] special;
    private final int clsId, sepId, padId;

    private WordPieceTokenizer(Map<String, Integer> vocab, String[] idToToken, String unkToken, String prefix, int maxChars,
                               BertNormalizer normalizer, Map<String, Integer> added, boolean[] special,
                               int clsId, int sepId, int padId) {
        this.vocab = vocab;
        this.idToToken = idToToken;
        this.unkToken = unkToken;
        this.unkId = vocab.get(unkToken);
        this.prefix = prefix;
        this.maxInputCharsPerWord = maxChars;
        this.normalizer = normalizer;
        this.addedIds = added;
        this.addedTokens = added.keySet().stream().sorted(Comparator.comparingInt(String::length).reversed()).toList();
        this.special = special;
        this.clsId = clsId;
        this.sepId = sepId;
        this.padId = padId;
    }

    public static WordPieceTokenizer fromJson(Path tokenizerJson) throws ModelFormatException {
        try (InputStream in = Files.newInputStream(tokenizerJson)) {
            return fromJson(in, tokenizerJson.toString());
        } catch (IOException e) {
            throw new ModelFormatException(tokenizerJson + ": cannot read: " + e.getMessage(), e);
        }
    }

    public static WordPieceTokenizer fromJson(InputStream in, String sourceName) throws ModelFormatException {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(in);
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(sourceName + ": malformed JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new ModelFormatException(sourceName + ": cannot read: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new ModelFormatException(sourceName + ": not a tokenizer.json object");
        JsonNode model = root.get("model");
        if (model == null || !model.isObject()) throw new ModelFormatException(sourceName + ": no 'model' section");
        String type = model.path("type").asText("");
        if (!type.equals("WordPiece"))
            throw new ModelFormatException(sourceName + ": model type '" + type + "' is not WordPiece");
        JsonNode v = model.get("vocab");
        if (v == null || !v.isObject() || v.isEmpty()) throw new ModelFormatException(sourceName + ": WordPiece model has no vocab");
        Map<String, Integer> vocab = new HashMap<>();
        int maxId = -1;
        for (var e : v.properties()) {
            if (!e.getValue().isIntegralNumber() || e.getValue().asLong() < 0 || e.getValue().asLong() > 10_000_000)
                throw new ModelFormatException(sourceName + ": vocab id of '" + e.getKey() + "' is invalid: " + e.getValue());
            vocab.put(e.getKey(), e.getValue().asInt());
            maxId = Math.max(maxId, e.getValue().asInt());
        }
        Map<String, Integer> added = new HashMap<>();
        List<Integer> specialIds = new ArrayList<>();
        for (JsonNode a : root.path("added_tokens")) {
            String content = a.path("content").asText("");
            if (content.isEmpty() || !a.path("id").isIntegralNumber())
                throw new ModelFormatException(sourceName + ": malformed added token " + a);
            added.put(content, a.get("id").asInt());
            maxId = Math.max(maxId, a.get("id").asInt());
            if (a.path("special").asBoolean(false)) specialIds.add(a.get("id").asInt());
        }
        String[] idToToken = new String[maxId + 1];
        for (var e : vocab.entrySet()) {
            if (idToToken[e.getValue()] != null)
                throw new ModelFormatException(sourceName + ": id " + e.getValue() + " is used by both '" + idToToken[e.getValue()] + "' and '" + e.getKey() + "'");
            idToToken[e.getValue()] = e.getKey();
        }
        for (var e : added.entrySet()) {
            if (idToToken[e.getValue()] == null) idToToken[e.getValue()] = e.getKey();
            else if (!idToToken[e.getValue()].equals(e.getKey()))
                throw new ModelFormatException(sourceName + ": added token '" + e.getKey() + "' reuses id " + e.getValue() + " of '" + idToToken[e.getValue()] + "'");
        }
        boolean[] special = new boolean[maxId + 1];
        for (int id : specialIds) special[id] = true;

        String unk = model.path("unk_token").asText("[UNK]");
        if (!vocab.containsKey(unk)) throw new ModelFormatException(sourceName + ": unk token '" + unk + "' is not in the vocab");

        JsonNode n = root.get("normalizer");
        BertNormalizer normalizer;
        if (n == null || n.isNull()) normalizer = new BertNormalizer(false, false, false, false);
        else if (n.path("type").asText().equals("BertNormalizer")) {
            boolean lower = n.path("lowercase").asBoolean(true);
            JsonNode sa = n.get("strip_accents");
            normalizer = new BertNormalizer(n.path("clean_text").asBoolean(true), n.path("handle_chinese_chars").asBoolean(true),
                    sa == null || sa.isNull() ? lower : sa.asBoolean(), lower);
        } else throw new ModelFormatException(sourceName + ": normalizer type '" + n.path("type").asText() + "' is not supported (BertNormalizer only)");
        JsonNode pre = root.get("pre_tokenizer");
        if (pre != null && !pre.isNull() && !pre.path("type").asText().equals("BertPreTokenizer"))
            throw new ModelFormatException(sourceName + ": pre_tokenizer type '" + pre.path("type").asText() + "' is not supported (BertPreTokenizer only)");

        int cls = idOf(vocab, added, "[CLS]", sourceName), sep = idOf(vocab, added, "[SEP]", sourceName);
        JsonNode pad = root.path("padding");
        int padId = pad.isObject() && pad.has("pad_id") ? pad.get("pad_id").asInt() : idOf(vocab, added, "[PAD]", sourceName);
        JsonNode post = root.get("post_processor");
        if (post != null && !post.isNull()) {
            String pt = post.path("type").asText();
            if (pt.equals("TemplateProcessing")) {
                JsonNode st = post.path("special_tokens");
                cls = st.path("[CLS]").path("ids").path(0).asInt(cls);
                sep = st.path("[SEP]").path("ids").path(0).asInt(sep);
            } else if (!pt.equals("BertProcessing"))
                throw new ModelFormatException(sourceName + ": post_processor type '" + pt + "' is not supported");
        }
        return new WordPieceTokenizer(vocab, idToToken, unk, model.path("continuing_subword_prefix").asText("##"),
                model.path("max_input_chars_per_word").asInt(100), normalizer, added, special, cls, sep, padId);
    }

    private static int idOf(Map<String, Integer> vocab, Map<String, Integer> added, String token, String source) throws ModelFormatException {
        Integer id = added.getOrDefault(token, vocab.get(token));
        if (id == null) throw new ModelFormatException(source + ": no '" + token + "' token");
        return id;
    }

    public int vocabSize() { return idToToken.length; }
    public int padId() { return padId; }

    public OptionalInt tokenId(String token) {
        Integer id = addedIds.getOrDefault(token, vocab.get(token));
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    public String token(int id) {
        if (id < 0 || id >= idToToken.length || idToToken[id] == null) throw new IllegalArgumentException("no token with id " + id);
        return idToToken[id];
    }

    /** {@code [CLS] text [SEP]}, the text's tokens cut so that the whole fits in {@code maxLength}. */
    public Encoding encode(String text, int maxLength) {
        if (maxLength < 2) throw new IllegalArgumentException("maxLength must leave room for [CLS] and [SEP], got " + maxLength);
        List<int[]> toks = new ArrayList<>();          // {id, start, end}
        tokenize(text, toks);
        int keep = Math.min(toks.size(), maxLength - 2), n = keep + 2;
        int[] ids = new int[n], types = new int[n], mask = new int[n];
        String[] tokens = new String[n];
        int[][] offsets = new int[n][];
        ids[0] = clsId;
        offsets[0] = new int[]{0, 0};
        for (int i = 0; i < keep; i++) {
            int[] t = toks.get(i);
            ids[i + 1] = t[0];
            offsets[i + 1] = new int[]{t[1], t[2]};
        }
        ids[n - 1] = sepId;
        offsets[n - 1] = new int[]{0, 0};
        Arrays.fill(mask, 1);
        for (int i = 0; i < n; i++) tokens[i] = idToToken[ids[i]];
        return new Encoding(ids, types, mask, tokens, offsets);
    }

    /** Encodings of every text; with {@code padToLongest} all are padded (mask 0) to the longest one. */
    public List<Encoding> encodeBatch(List<String> texts, int maxLength, boolean padToLongest) {
        List<Encoding> out = new ArrayList<>(texts.size());
        for (String t : texts) out.add(encode(t, maxLength));
        if (!padToLongest) return out;
        int len = out.stream().mapToInt(Encoding::length).max().orElse(0);
        List<Encoding> padded = new ArrayList<>(out.size());
        for (Encoding e : out) {
            int n = e.length();
            int[] ids = Arrays.copyOf(e.ids(), len), types = Arrays.copyOf(e.typeIds(), len), mask = Arrays.copyOf(e.attentionMask(), len);
            String[] tokens = Arrays.copyOf(e.tokens(), len);
            int[][] offsets = Arrays.copyOf(e.offsets(), len);
            for (int i = n; i < len; i++) {
                ids[i] = padId;
                tokens[i] = idToToken[padId];
                offsets[i] = new int[]{0, 0};
            }
            padded.add(new Encoding(ids, types, mask, tokens, offsets));
        }
        return padded;
    }

    /** Tokens of {@code text} without specials, as {id, start, end}. */
    private void tokenize(String text, List<int[]> out) {
        int from = 0;
        for (int i = 0; i < text.length(); ) {
            String hit = addedTokenAt(text, i);
            if (hit == null) { i++; continue; }
            if (i > from) tokenizeSegment(text, from, i, out);
            out.add(new int[]{addedIds.get(hit), i, i + hit.length()});
            i += hit.length();
            from = i;
        }
        if (from < text.length()) tokenizeSegment(text, from, text.length(), out);
    }

    private String addedTokenAt(String text, int i) {
        for (String t : addedTokens) if (text.startsWith(t, i)) return t;
        return null;
    }

    /** Normalize, split into words (whitespace removed, punctuation isolated), WordPiece each word. */
    private void tokenizeSegment(String text, int from, int to, List<int[]> out) {
        NormalizedText t = normalizer.apply(NormalizedText.of(text, from, to));
        int wordStart = -1;
        for (int i = 0; i <= t.size; i++) {
            int c = i < t.size ? t.cps[i] : ' ';
            boolean space = BertNormalizer.isWhitespace(c), punct = !space && BertNormalizer.isPunctuation(c);
            if (space || punct) {
                if (wordStart >= 0) wordPiece(t, wordStart, i, out);
                wordStart = -1;
                if (punct) wordPiece(t, i, i + 1, out);
            } else if (wordStart < 0) wordStart = i;
        }
    }

    private void wordPiece(NormalizedText t, int from, int to, List<int[]> out) {
        if (to - from > maxInputCharsPerWord) {
            out.add(new int[]{unkId, t.start[from], t.end[to - 1]});
            return;
        }
        int mark = out.size();
        int start = from;
        while (start < to) {
            int end = to, found = -1;
            while (start < end) {
                String piece = (start > from ? prefix : "") + t.substring(start, end);
                Integer id = vocab.get(piece);
                if (id != null) { found = id; break; }
                end--;
            }
            if (found < 0) {
                while (out.size() > mark) out.removeLast();
                out.add(new int[]{unkId, t.start[from], t.end[to - 1]});
                return;
            }
            out.add(new int[]{found, t.start[start], t.end[end - 1]});
            start = end;
        }
    }

    /** WordPiece decoding: pieces joined by spaces, {@code ##} continuations glued, HF's cleanup of spaces before punctuation. */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        StringBuilder b = new StringBuilder();
        for (int id : ids) {
            if (skipSpecialTokens && id >= 0 && id < special.length && special[id]) continue;
            String tok = token(id);
            if (tok.startsWith(prefix)) b.append(tok, prefix.length(), tok.length());
            else {
                if (!b.isEmpty()) b.append(' ');
                b.append(tok);
            }
        }
        return b.toString().replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",")
                .replace(" ' ", "'").replace(" n't", "n't").replace(" 'm", "'m").replace(" do not", " don't")
                .replace(" 's", "'s").replace(" 've", "'ve").replace(" 're", "'re");
    }

    /** Id of the unknown token. */
    public int unkId() { return unkId; }
    String unkToken() { return unkToken; }
}
