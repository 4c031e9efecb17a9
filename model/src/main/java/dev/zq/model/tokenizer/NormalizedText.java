package dev.zq.model.tokenizer;

import java.util.Arrays;

/**
 * Text as code points, each remembering the span of the original string it came from, so tokens found
 * after normalization (which drops, inserts and decomposes characters) still map back to the input.
 */
final class NormalizedText {
    int[] cps = new int[16];
    int[] start = new int[16];
    int[] end = new int[16];
    int size;

    void add(int cp, int s, int e) {
        if (size == cps.length) {
            cps = Arrays.copyOf(cps, size * 2);
            start = Arrays.copyOf(start, size * 2);
            end = Arrays.copyOf(end, size * 2);
        }
        cps[size] = cp;
        start[size] = s;
        end[size] = e;
        size++;
    }

    static NormalizedText of(String s, int from, int to) {
        NormalizedText t = new NormalizedText();
        for (int i = from; i < to; ) {
            int cp = s.codePointAt(i);
            int n = Character.charCount(cp);
            t.add(cp, i, i + n);
            i += n;
        }
        return t;
    }

    String substring(int from, int to) {
        StringBuilder b = new StringBuilder(to - from);
        for (int i = from; i < to; i++) b.appendCodePoint(cps[i]);
        return b.toString();
    }
}
