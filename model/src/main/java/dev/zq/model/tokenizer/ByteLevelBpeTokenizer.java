package dev.zq.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.zq.model.ModelFormatException;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * GPT-2's byte-level BPE. Text is cut into pieces by GPT-2's regular expression (contractions, letters,
 * digits, other symbols, each optionally after one space; runs of whitespace), each piece is turned into
 * its UTF-8 bytes, and adjacent tokens are merged, lowest rank first, until no pair merges. Every byte is a
 * token, so any text round-trips exactly. Three sources of the same vocabulary: HF's {@code tokenizer.json},
 * the original {@code vocab.json} + {@code merges.txt}, and tiktoken's rank files (r50k_base is GPT-2's).
 * <p>Tokens are kept as byte strings: a Latin-1 {@code String} holds one byte per char, which makes them
 * cheap map keys. {@link #encode} never turns text into special tokens: "&lt;|endoftext|&gt;" in the input is
 * plain text (like tiktoken's {@code encode_ordinary}); ask for special ids with {@link #specialId}.
 */
public final class ByteLevelBpeTokenizer {
    /** GPT-2's pre-tokenizer; Unicode classes for {@code \s} as Python's {@code regex} has them. */
    private static final Pattern GPT2_SPLIT = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", Pattern.UNICODE_CHARACTER_CLASS);

    private final Map<String, Integer> ids;       // byte string -> id
    private final String[] tokens;                 // id -> byte string (null for unused ids)
    private final Map<Long, Integer> pairRanks;    // (left id, right id) -> merge rank; null: rank = id of the merged token
    private final Map<String, Integer> specials;
    private final int[] byteIds = new int[256];
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    private ByteLevelBpeTokenizer(Map<String, Integer> ids, Map<Long, Integer> pairRanks, Map<String, Integer> specials) {
        this.ids = ids;
        this.pairRanks = pairRanks;
        this.specials = Map.copyOf(specials);
        int max = -1;
        for (int id : ids.values()) max = Math.max(max, id);
        for (int id : specials.values()) max = Math.max(max, id);
        tokens = new String[max + 1];
        ids.forEach((t, id) -> tokens[id] = t);
        specials.forEach((t, id) -> { if (tokens[id] == null) tokens[id] = latin1(t.getBytes(StandardCharsets.UTF_8)); });
        for (int b = 0; b < 256; b++) {
            Integer id = ids.get(String.valueOf((char) b));
            if (id == null) throw new IllegalArgumentException("vocabulary lacks the single byte 0x" + Integer.toHexString(b));
            byteIds[b] = id;
        }
    }

    // ---- loading ---------------------------------------------------------------------------------------

    /** From a model directory: {@code tokenizer.json}, else {@code vocab.json} + {@code merges.txt}. */
    public static ByteLevelBpeTokenizer fromDirectory(Path dir) throws ModelFormatException {
        if (Files.isRegularFile(dir.resolve("tokenizer.json"))) return fromTokenizerJson(dir.resolve("tokenizer.json"));
        if (Files.isRegularFile(dir.resolve("vocab.json")) && Files.isRegularFile(dir.resolve("merges.txt")))
            return fromVocabAndMerges(dir.resolve("vocab.json"), dir.resolve("merges.txt"));
        throw ModelFormatException.of(dir, "no tokenizer: neither tokenizer.json nor vocab.json + merges.txt is there");
    }

    /** HF {@code tokenizers}' JSON with a BPE model and a ByteLevel pre-tokenizer. */
    public static ByteLevelBpeTokenizer fromTokenizerJson(Path file) throws ModelFormatException {
        JsonNode root = readJson(file);
        JsonNode model = root.path("model");
        if (!"BPE".equals(model.path("type").asText("BPE")) || !model.has("vocab") || !model.has("merges"))
            throw ModelFormatException.of(file, "model is not a BPE with vocab and merges");
        if (!mentionsByteLevel(root.path("pre_tokenizer")))
            throw ModelFormatException.of(file, "pre_tokenizer is not ByteLevel: only GPT-2-style byte-level BPE is supported");
        List<String[]> merges = new ArrayList<>();
        for (JsonNode m : model.get("merges")) {
            if (m.isArray() && m.size() == 2) merges.add(new String[]{m.get(0).asText(), m.get(1).asText()});
            else if (m.isTextual() && m.asText().split(" ").length == 2) merges.add(m.asText().split(" "));
            else throw ModelFormatException.of(file, "malformed merge " + m);
        }
        Map<String, Integer> specials = new LinkedHashMap<>();
        for (JsonNode t : root.path("added_tokens")) specials.put(t.path("content").asText(), t.path("id").asInt());
        return fromUnicodeVocab(file, model.get("vocab"), merges, specials);
    }

    /** GPT-2's original files. */
    public static ByteLevelBpeTokenizer fromVocabAndMerges(Path vocabJson, Path mergesTxt) throws ModelFormatException {
        JsonNode vocab = readJson(vocabJson);
        List<String[]> merges = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(mergesTxt, StandardCharsets.UTF_8)) {
                if (line.startsWith("#version") || line.isBlank()) continue;
                String[] p = line.split(" ");
                if (p.length != 2) throw ModelFormatException.of(mergesTxt, "malformed merge line '" + line + "'");
                merges.add(p);
            }
        } catch (IOException e) {
            throw ModelFormatException.of(mergesTxt, "cannot read: " + e.getMessage(), e);
        }
        Map<String, Integer> specials = new LinkedHashMap<>();
        Integer eot = vocab.has("<|endoftext|>") ? vocab.get("<|endoftext|>").asInt() : null;
        if (eot != null) specials.put("<|endoftext|>", eot);
        return fromUnicodeVocab(vocabJson, vocab, merges, specials);
    }

    /**
     * tiktoken's format: one {@code base64(token bytes) rank} per line, rank = id; merging takes the pair
     * whose concatenation has the lowest rank. {@code specials} are added as given (r50k_base: endoftext 50256).
     */
    public static ByteLevelBpeTokenizer fromTiktoken(InputStream in, Map<String, Integer> specials) throws IOException {
        Map<String, Integer> ids = new HashMap<>();
        BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII));
        String line;
        int n = 0;
        while ((line = r.readLine()) != null) {
            n++;
            if (line.isBlank()) continue;
            int sp = line.indexOf(' ');
            if (sp < 0) throw new IOException("line " + n + ": expected 'base64 rank'");
            try {
                ids.put(latin1(Base64.getDecoder().decode(line.substring(0, sp))), Integer.parseInt(line.substring(sp + 1).trim()));
            } catch (IllegalArgumentException e) {
                throw new IOException("line " + n + ": " + e.getMessage(), e);
            }
        }
        return new ByteLevelBpeTokenizer(ids, null, specials);
    }

    private static ByteLevelBpeTokenizer fromUnicodeVocab(Path file, JsonNode vocab, List<String[]> merges,
                                                          Map<String, Integer> specials) throws ModelFormatException {
        char[] unicodeToByte = new char[512];
        java.util.Arrays.fill(unicodeToByte, (char) 0xFFFF);
        char[] byteToUnicode = byteToUnicode();
        for (int b = 0; b < 256; b++) unicodeToByte[byteToUnicode[b]] = (char) b;
        Map<String, Integer> ids = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (specials.containsKey(e.getKey())) continue;
            String bytes = decodeUnicodeToken(e.getKey(), unicodeToByte);
            if (bytes == null) {
                // Not byte-level text: an added/special token that was also put in the vocabulary.
                specials.putIfAbsent(e.getKey(), e.getValue().asInt());
                continue;
            }
            ids.put(bytes, e.getValue().asInt());
        }
        Map<Long, Integer> ranks = new HashMap<>();
        for (int i = 0; i < merges.size(); i++) {
            String a = decodeUnicodeToken(merges.get(i)[0], unicodeToByte), b = decodeUnicodeToken(merges.get(i)[1], unicodeToByte);
            Integer ia = a == null ? null : ids.get(a), ib = b == null ? null : ids.get(b);
            if (ia == null || ib == null || !ids.containsKey(a + b))
                throw ModelFormatException.of(file, "merge " + i + " '" + merges.get(i)[0] + " " + merges.get(i)[1] + "' uses tokens not in the vocabulary");
            ranks.putIfAbsent(pair(ia, ib), i);
        }
        try {
            return new ByteLevelBpeTokenizer(ids, ranks, specials);
        } catch (IllegalArgumentException e) {
            throw ModelFormatException.of(file, e.getMessage(), e);
        }
    }

    /** GPT-2's printable stand-ins for bytes: printable Latin-1 maps to itself, the rest to U+0100 onwards. */
    static char[] byteToUnicode() {
        char[] map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char) b : (char) next++;
        }
        return map;
    }

    private static String decodeUnicodeToken(String s, char[] unicodeToByte) {
        char[] out = new char[s.length()];
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c >= unicodeToByte.length || unicodeToByte[c] == 0xFFFF) return null;
            out[i] = unicodeToByte[c];
        }
        return new String(out);
    }

    private static boolean mentionsByteLevel(JsonNode pre) {
        if ("ByteLevel".equals(pre.path("type").asText())) return true;
        for (JsonNode p : pre.path("pretokenizers")) if (mentionsByteLevel(p)) return true;
        return false;
    }

    private static JsonNode readJson(Path file) throws ModelFormatException {
        try {
            return new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw ModelFormatException.of(file, "not valid JSON: " + e.getMessage(), e);
        }
    }

    // ---- encoding / decoding ---------------------------------------------------------------------------

    public int vocabSize() { return tokens.length; }

    /** The id of a special token such as {@code <|endoftext|>}. */
    public OptionalInt specialId(String token) {
        Integer id = specials.get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** Token ids of {@code text}; special-token strings in it are encoded as ordinary text. */
    public int[] encode(String text) {
        IntList out = new IntList(text.length() / 3 + 4);
        Matcher m = GPT2_SPLIT.matcher(text);
        while (m.find()) {
            String piece = text.substring(m.start(), m.end());
            int[] t = cache.get(piece);
            if (t == null) {
                t = bpe(piece.getBytes(StandardCharsets.UTF_8));
                if (cache.size() < 200_000) cache.put(piece, t);
            }
            out.addAll(t);
        }
        return out.toArray();
    }

    /** The text of {@code ids}; byte sequences that are not valid UTF-8 become U+FFFD, as HF decodes them. */
    public String decode(int[] ids) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (int id : ids) b.writeBytes(bytes(id));
        return b.toString(StandardCharsets.UTF_8);
    }

    /** The bytes token {@code id} stands for. */
    public byte[] bytes(int id) {
        if (id < 0 || id >= tokens.length || tokens[id] == null)
            throw new IllegalArgumentException("token id " + id + " is not in the vocabulary of " + tokens.length);
        return tokens[id].getBytes(StandardCharsets.ISO_8859_1);
    }

    private int[] bpe(byte[] piece) {
        int n = piece.length;
        int[] parts = new int[n];
        for (int i = 0; i < n; i++) parts[i] = byteIds[piece[i] & 0xFF];
        while (n > 1) {
            int best = -1, bestRank = Integer.MAX_VALUE, bestId = -1;
            for (int i = 0; i + 1 < n; i++) {
                int merged = mergedId(parts[i], parts[i + 1]);
                if (merged < 0) continue;
                int rank = pairRanks == null ? merged : pairRanks.get(pair(parts[i], parts[i + 1]));
                if (rank < bestRank) { bestRank = rank; best = i; bestId = merged; }
            }
            if (best < 0) break;
            parts[best] = bestId;
            System.arraycopy(parts, best + 2, parts, best + 1, n - best - 2);
            n--;
        }
        return java.util.Arrays.copyOf(parts, n);
    }

    private int mergedId(int left, int right) {
        if (pairRanks != null && !pairRanks.containsKey(pair(left, right))) return -1;
        Integer id = ids.get(tokens[left] + tokens[right]);
        return id == null ? -1 : id;
    }

    private static long pair(int a, int b) { return ((long) a << 32) | (b & 0xFFFFFFFFL); }

    private static String latin1(byte[] b) { return new String(b, StandardCharsets.ISO_8859_1); }

    /** A growable int array, so encoding a book does not box a million Integers. */
    private static final class IntList {
        private int[] a;
        private int n;
        IntList(int cap) { a = new int[Math.max(4, cap)]; }
        void addAll(int[] v) {
            if (n + v.length > a.length) a = java.util.Arrays.copyOf(a, Math.max(a.length * 2, n + v.length));
            System.arraycopy(v, 0, a, n, v.length);
            n += v.length;
        }
        int[] toArray() { return java.util.Arrays.copyOf(a, n); }
    }
}
