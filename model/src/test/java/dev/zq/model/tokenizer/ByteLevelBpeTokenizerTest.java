package dev.zq.model.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;
import dev.zq.model.ModelFormatException;
import dev.zq.model.TestSentences;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * GPT-2's byte-level BPE against two references: jtokkit's r50k_base (GPT-2's vocabulary, tiktoken's
 * algorithm) on the shared sentence set, and Hugging Face's Rust tokenizers (via DJL) on a tokenizer.json
 * whose merges this test learns from the same sentences.
 */
class ByteLevelBpeTokenizerTest {
    static List<String> sentences;
    static ByteLevelBpeTokenizer r50k;
    static Encoding jtokkit;

    @BeforeAll
    static void load() throws Exception {
        sentences = new ArrayList<>(TestSentences.load());
        sentences.add("");
        sentences.add("   \n\n  \t ");
        sentences.add("Hello world!  Two spaces, trailing space ");
        sentences.add("I'm sure they'll've done it; it's 'quoted' and we'd ... 'S and 'T");
        sentences.add("<|endoftext|> is plain text to encode()");
        try (InputStream in = Encoding.class.getResourceAsStream("/com/knuddels/jtokkit/r50k_base.tiktoken")) {
            assertNotNull(in, "jtokkit ships r50k_base.tiktoken");
            r50k = ByteLevelBpeTokenizer.fromTiktoken(in, Map.of("<|endoftext|>", 50256));
        }
        jtokkit = Encodings.newDefaultEncodingRegistry().getEncoding(EncodingType.R50K_BASE);
    }

    @Test
    void r50kIdsEqualJtokkitOnEverySentence() {
        for (String s : sentences) {
            IntArrayList ref = jtokkit.encodeOrdinary(s);
            assertArrayEquals(ref.toArray(), r50k.encode(s), "ids of \"" + s + "\"");
        }
        assertEquals(50257, r50k.vocabSize());
        assertEquals(50256, r50k.specialId("<|endoftext|>").orElseThrow());
    }

    @Test
    void longTextEqualsJtokkitAndRoundTrips() {
        String book = String.join("\n\n", sentences).repeat(3);
        assertArrayEquals(jtokkit.encodeOrdinary(book).toArray(), r50k.encode(book));
        assertEquals(book, r50k.decode(r50k.encode(book)));
    }

    @Test
    void arbitraryUnicodeRoundTripsExactly() {
        Random rnd = new Random(7);
        for (int trial = 0; trial < 300; trial++) {
            StringBuilder sb = new StringBuilder();
            int n = rnd.nextInt(40);
            for (int i = 0; i < n; i++) {
                int cp = switch (rnd.nextInt(5)) {
                    case 0 -> rnd.nextInt(0x80);
                    case 1 -> 0x80 + rnd.nextInt(0x780);
                    case 2 -> 0x800 + rnd.nextInt(0xD000 - 0x800);
                    case 3 -> 0x10000 + rnd.nextInt(0x10000);
                    default -> " \n\t'".charAt(rnd.nextInt(4));
                };
                sb.appendCodePoint(cp);
            }
            String s = sb.toString();
            int[] ids = r50k.encode(s);
            assertEquals(s, r50k.decode(ids), "round trip of " + s.codePoints().boxed().toList());
            assertArrayEquals(jtokkit.encodeOrdinary(s).toArray(), ids, "ids of " + s.codePoints().boxed().toList());
        }
    }

    @Test
    void tokenBytesConcatenateToTheUtf8OfTheText() {
        String s = "Emoji 😀 split across tokens: 🎉👍🏽";
        var out = new java.io.ByteArrayOutputStream();
        for (int id : r50k.encode(s)) out.writeBytes(r50k.bytes(id));
        assertArrayEquals(s.getBytes(StandardCharsets.UTF_8), out.toByteArray());
        assertThrows(IllegalArgumentException.class, () -> r50k.bytes(50257));
        assertThrows(IllegalArgumentException.class, () -> r50k.bytes(-1));
    }

    @Test
    void tokenizerJsonMatchesHuggingFaceTokenizers(@TempDir Path dir) throws Exception {
        Path json = writeLearnedTokenizer(dir, 400);
        ByteLevelBpeTokenizer ours = ByteLevelBpeTokenizer.fromTokenizerJson(json);
        try (HuggingFaceTokenizer ref = HuggingFaceTokenizer.newInstance(json, Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false"))) {
            for (String s : sentences) {
                if (s.contains("<|endoftext|>")) continue; // HF splits added tokens out of the text; encode() does not
                long[] e = ref.encode(s).getIds();
                int[] want = new int[e.length];
                for (int i = 0; i < e.length; i++) want[i] = (int) e[i];
                assertArrayEquals(want, ours.encode(s), "ids of \"" + s + "\"");
                assertEquals(s, ours.decode(ours.encode(s)));
            }
        }
    }

    @Test
    void vocabAndMergesReadLikeTheTokenizerJson(@TempDir Path dir) throws Exception {
        Path json = writeLearnedTokenizer(dir, 200);
        var root = (ObjectNode) new ObjectMapper().readTree(json.toFile());
        Files.writeString(dir.resolve("vocab.json"), root.get("model").get("vocab").toString());
        StringBuilder merges = new StringBuilder("#version: 0.2\n");
        for (var m : root.get("model").get("merges")) merges.append(m.get(0).asText()).append(' ').append(m.get(1).asText()).append('\n');
        Files.writeString(dir.resolve("merges.txt"), merges);
        ByteLevelBpeTokenizer a = ByteLevelBpeTokenizer.fromTokenizerJson(json);
        ByteLevelBpeTokenizer b = ByteLevelBpeTokenizer.fromVocabAndMerges(dir.resolve("vocab.json"), dir.resolve("merges.txt"));
        for (String s : sentences) assertArrayEquals(a.encode(s), b.encode(s), s);
    }

    @Test
    void malformedFilesAreRejectedWithTheFileNamed(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("tokenizer.json");
        Files.writeString(json, "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}");
        var e = assertThrows(ModelFormatException.class, () -> ByteLevelBpeTokenizer.fromTokenizerJson(json));
        assertTrue(e.getMessage().contains("tokenizer.json"), e.getMessage());
        Files.writeString(json, "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"ByteLevel\"}}");
        e = assertThrows(ModelFormatException.class, () -> ByteLevelBpeTokenizer.fromTokenizerJson(json));
        assertTrue(e.getMessage().contains("single byte"), e.getMessage());
        Files.writeString(json, "{not json");
        assertThrows(ModelFormatException.class, () -> ByteLevelBpeTokenizer.fromTokenizerJson(json));
        assertThrows(ModelFormatException.class, () -> ByteLevelBpeTokenizer.fromDirectory(dir.resolve("nowhere")));
    }

    /**
     * A byte-level BPE tokenizer.json with {@code merges} merges learned greedily (most frequent adjacent pair
     * first) from the sentences' GPT-2 pieces; vocabulary ids are shuffled so that they do not follow merge order.
     */
    static Path writeLearnedTokenizer(Path dir, int mergeCount) throws Exception {
        char[] b2u = ByteLevelBpeTokenizer.byteToUnicode();
        List<List<String>> words = new ArrayList<>();
        var split = java.util.regex.Pattern.compile("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
                java.util.regex.Pattern.UNICODE_CHARACTER_CLASS);
        for (String s : sentences) {
            var m = split.matcher(s);
            while (m.find()) {
                List<String> w = new ArrayList<>();
                for (byte x : m.group().getBytes(StandardCharsets.UTF_8)) w.add(String.valueOf(b2u[x & 0xFF]));
                words.add(w);
            }
        }
        List<String> vocab = new ArrayList<>();
        for (int i = 0; i < 256; i++) vocab.add(String.valueOf(b2u[i]));
        List<String[]> merges = new ArrayList<>();
        for (int k = 0; k < mergeCount; k++) {
            Map<String, Integer> counts = new HashMap<>();
            for (List<String> w : words)
                for (int i = 0; i + 1 < w.size(); i++) counts.merge(w.get(i) + "\u0000" + w.get(i + 1), 1, Integer::sum);
            if (counts.isEmpty()) break;
            String best = counts.entrySet().stream().max(Map.Entry.<String, Integer>comparingByValue()
                    .thenComparing(Map.Entry.comparingByKey(java.util.Comparator.reverseOrder()))).orElseThrow().getKey();
            String[] p = best.split("\u0000");
            merges.add(p);
            if (!vocab.contains(p[0] + p[1])) vocab.add(p[0] + p[1]);
            for (List<String> w : words)
                for (int i = 0; i + 1 < w.size(); i++)
                    if (w.get(i).equals(p[0]) && w.get(i + 1).equals(p[1])) { w.set(i, p[0] + p[1]); w.remove(i + 1); }
        }
        java.util.Collections.shuffle(vocab, new Random(3));
        ObjectMapper om = new ObjectMapper();
        ObjectNode root = om.createObjectNode();
        root.put("version", "1.0");
        root.putArray("added_tokens");
        root.putNull("normalizer");
        root.putObject("pre_tokenizer").put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true).put("use_regex", true);
        root.putNull("post_processor");
        root.putObject("decoder").put("type", "ByteLevel").put("add_prefix_space", true).put("trim_offsets", true).put("use_regex", true);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").putNull("dropout");
        model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false).put("byte_fallback", false);
        ObjectNode v = model.putObject("vocab");
        for (int i = 0; i < vocab.size(); i++) v.put(vocab.get(i), i);
        ArrayNode m = model.putArray("merges");
        for (String[] p : merges) m.addArray().add(p[0]).add(p[1]);
        Path json = dir.resolve("tokenizer.json");
        om.writeValue(json.toFile(), root);
        return json;
    }
}
