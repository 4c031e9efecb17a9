package dev.zq.model.tokenizer;

import java.text.Normalizer;
import java.util.Locale;

/**
 * HF tokenizers' {@code BertNormalizer}, in its order: clean text (drop NUL, U+FFFD and control characters,
 * turn whitespace into spaces), put spaces around CJK ideographs, strip accents (NFD, then drop nonspacing
 * marks; when {@code strip_accents} is null it follows {@code lowercase}), lowercase (per code point, the
 * full Unicode mapping). Character classes follow Rust's definitions, which the reference uses.
 */
record BertNormalizer(boolean cleanText, boolean handleChineseChars, boolean stripAccents, boolean lowercase) {

    NormalizedText apply(NormalizedText in) {
        NormalizedText t = in;
        if (cleanText) {
            NormalizedText o = new NormalizedText();
            for (int i = 0; i < t.size; i++) {
                int c = t.cps[i];
                if (c == 0 || c == 0xFFFD || isControl(c)) continue;
                o.add(isWhitespace(c) ? ' ' : c, t.start[i], t.end[i]);
            }
            t = o;
        }
        if (handleChineseChars) {
            NormalizedText o = new NormalizedText();
            for (int i = 0; i < t.size; i++) {
                int c = t.cps[i];
                boolean cjk = isChineseChar(c);
                if (cjk) o.add(' ', t.start[i], t.end[i]);
                o.add(c, t.start[i], t.end[i]);
                if (cjk) o.add(' ', t.start[i], t.end[i]);
            }
            t = o;
        }
        if (stripAccents) {
            NormalizedText o = new NormalizedText();
            for (int i = 0; i < t.size; i++) {
                String d = Normalizer.normalize(new String(Character.toChars(t.cps[i])), Normalizer.Form.NFD);
                for (int k = 0; k < d.length(); ) {
                    int c = d.codePointAt(k);
                    k += Character.charCount(c);
                    if (Character.getType(c) != Character.NON_SPACING_MARK) o.add(c, t.start[i], t.end[i]);
                }
            }
            t = o;
        }
        if (lowercase) {
            NormalizedText o = new NormalizedText();
            for (int i = 0; i < t.size; i++) {
                int c = t.cps[i];
                if (c < 128) {
                    o.add(c >= 'A' && c <= 'Z' ? c + 32 : c, t.start[i], t.end[i]);
                    continue;
                }
                // A one-code-point string lowercases as Rust's char::to_lowercase does (İ → i̇, Σ → σ).
                String l = new String(Character.toChars(c)).toLowerCase(Locale.ROOT);
                for (int k = 0; k < l.length(); ) {
                    int lc = l.codePointAt(k);
                    k += Character.charCount(lc);
                    o.add(lc, t.start[i], t.end[i]);
                }
            }
            t = o;
        }
        return t;
    }

    /** Rust's {@code char::is_whitespace}: the Unicode White_Space property. */
    static boolean isWhitespace(int c) {
        return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A)
                || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
    }

    /** BERT's control characters: Unicode category C* except tab, newline and carriage return. */
    static boolean isControl(int c) {
        if (c == '\t' || c == '\n' || c == '\r') return false;
        int t = Character.getType(c);
        return t == Character.CONTROL || t == Character.FORMAT || t == Character.SURROGATE || t == Character.PRIVATE_USE
                || t == Character.UNASSIGNED;
    }

    /** The CJK Unified Ideograph blocks BERT isolates (not Hangul, Hiragana or Katakana). */
    static boolean isChineseChar(int c) {
        return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF)
                || (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF)
                || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
    }

    /** BERT's punctuation: ASCII punctuation or any Unicode P* category. */
    static boolean isPunctuation(int c) {
        if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
        int t = Character.getType(c);
        return t == Character.CONNECTOR_PUNCTUATION || t == Character.DASH_PUNCTUATION || t == Character.START_PUNCTUATION
                || t == Character.END_PUNCTUATION || t == Character.INITIAL_QUOTE_PUNCTUATION
                || t == Character.FINAL_QUOTE_PUNCTUATION || t == Character.OTHER_PUNCTUATION;
    }
}
