package dev.zq.model.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.CharSpan;
import dev.zq.model.BundledModels;
import dev.zq.model.TestSentences;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Our WordPiece against Hugging Face's Rust {@code tokenizers} (through DJL's JNI wrapper, tests only) on
 * the same tokenizer.json, for every sentence of {@code sentences.txt} at three truncation lengths.
 */
class WordPieceAgainstHfTokenizersTest {
    static Path json;
    static WordPieceTokenizer ours;
    static List<String> sentences;

    @BeforeAll
    static void load() throws Exception {
        json = BundledModels.miniLm().resolve("tokenizer.json");
        ours = WordPieceTokenizer.fromJson(json);
        sentences = TestSentences.load();
        assertTrue(sentences.size() >= 60);
    }

    @ParameterizedTest
    @ValueSource(ints = {128, 256, 512})
    void idsTypesMaskAndOffsetsEqualTheReference(int maxLength) throws Exception {
        try (HuggingFaceTokenizer ref = HuggingFaceTokenizer.newInstance(json, Map.of(
                "maxLength", Integer.toString(maxLength), "truncation", "true", "padding", "false", "addSpecialTokens", "true"))) {
            int truncated = 0;
            for (String s : sentences) {
                var e = ref.encode(s);
                Encoding o = ours.encode(s, maxLength);
                String what = "\"" + (s.length() > 50 ? s.substring(0, 50) + "…" : s) + "\" at " + maxLength;
                assertArrayEquals(toInts(e.getIds()), o.ids(), "ids of " + what);
                assertArrayEquals(toInts(e.getTypeIds()), o.typeIds(), "type ids of " + what);
                assertArrayEquals(toInts(e.getAttentionMask()), o.attentionMask(), "mask of " + what);
                assertArrayEquals(e.getTokens(), o.tokens(), "tokens of " + what);
                CharSpan[] spans = e.getCharTokenSpans();
                for (int i = 0; i < spans.length; i++) {
                    if (spans[i] == null) { assertArrayEquals(new int[]{0, 0}, o.offsets()[i], "special token span in " + what); continue; }
                    // The reference counts Unicode scalar values; Encoding offsets are UTF-16 indices (String.substring's).
                    assertEquals(s.offsetByCodePoints(0, spans[i].getStart()), o.offsets()[i][0], "start of token " + i + " (" + o.tokens()[i] + ") in " + what);
                    assertEquals(s.offsetByCodePoints(0, spans[i].getEnd()), o.offsets()[i][1], "end of token " + i + " (" + o.tokens()[i] + ") in " + what);
                }
                if (o.length() == maxLength) truncated++;
            }
            assertTrue(truncated >= 2, "the sentence set must hit the " + maxLength + " limit, hit it " + truncated + " times");
        }
    }

    @Test
    void decodeRoundTripsAsciiText() {
        String s = "the quick brown fox jumps over the lazy dog, doesn't it? yes.";
        assertEquals(s, ours.decode(ours.encode(s, 512).ids(), true));
        assertEquals("[CLS] hello world [SEP]", ours.decode(ours.encode("Hello world", 512).ids(), false));
    }

    @Test
    void batchPaddingUsesPadIdAndMaskZero() {
        List<Encoding> b = ours.encodeBatch(List.of("short", "a somewhat longer sentence here"), 64, true);
        assertEquals(b.get(0).length(), b.get(1).length());
        Encoding e = b.get(0);
        assertEquals(3, java.util.Arrays.stream(e.attentionMask()).sum());
        assertEquals(ours.padId(), e.ids()[e.length() - 1]);
        assertEquals(0, e.attentionMask()[e.length() - 1]);
    }

    static int[] toInts(long[] v) {
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) out[i] = Math.toIntExact(v[i]);
        return out;
    }
}
