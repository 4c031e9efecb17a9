package dev.zq.model.tokenizer;

import dev.zq.model.ModelFormatException;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

class WordPieceMalformedTest {
    static String fails(String json) {
        var e = assertThrows(ModelFormatException.class,
                () -> WordPieceTokenizer.fromJson(new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)), "bad.json"));
        assertTrue(e.getMessage().startsWith("bad.json"), e.getMessage());
        return e.getMessage();
    }

    @Test
    void clearErrors() {
        assertTrue(fails("{not json").contains("malformed JSON"));
        assertTrue(fails("[]").contains("not a tokenizer.json"));
        assertTrue(fails("{}").contains("no 'model'"));
        assertTrue(fails("{\"model\":{\"type\":\"BPE\",\"vocab\":{}}}").contains("not WordPiece"));
        assertTrue(fails("{\"model\":{\"type\":\"WordPiece\"}}").contains("no vocab"));
        assertTrue(fails("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":-1}}}").contains("invalid"));
        assertTrue(fails("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0,\"b\":0}}}").contains("used by both"));
        assertTrue(fails("{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"a\":0}}}").contains("unk token"));
        assertTrue(fails("{\"normalizer\":{\"type\":\"NFKC\"},\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"[PAD]\":3}}}").contains("not supported"));
    }

    @Test
    void minimalTokenizerWorks() throws Exception {
        String json = "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"[PAD]\":3,\"un\":4,\"##able\":5,\"!\":6}},"
                + "\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":true}}";
        WordPieceTokenizer t = WordPieceTokenizer.fromJson(new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)), "mini");
        assertArrayEquals(new int[]{1, 4, 5, 6, 0, 2}, t.encode("UNABLE! xyz", 16).ids());
        assertArrayEquals(new int[]{1, 4, 2}, t.encode("UNABLE! xyz", 3).ids());
        assertThrows(IllegalArgumentException.class, () -> t.encode("x", 1));
    }
}
