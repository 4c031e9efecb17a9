package dev.zq.model;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** The varied real sentences of {@code sentences.txt}, escapes decoded, plus the empty and a blank string. */
public final class TestSentences {
    private TestSentences() {}

    public static List<String> load() throws IOException {
        List<String> out = new ArrayList<>();
        try (InputStream in = TestSentences.class.getResourceAsStream("/sentences.txt")) {
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (line.isEmpty() || line.startsWith("#")) continue;
                out.add(unescape(line));
            }
        }
        out.add("");
        out.add(" \t  ");
        return out;
    }

    static String unescape(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '\\' || i + 1 == s.length()) { b.append(c); continue; }
            char n = s.charAt(++i);
            switch (n) {
                case 't' -> b.append('\t');
                case 'n' -> b.append('\n');
                case 'r' -> b.append('\r');
                case '\\' -> b.append('\\');
                case 'u' -> { b.append((char) Integer.parseInt(s.substring(i + 1, i + 5), 16)); i += 4; }
                default -> b.append('\\').append(n);
            }
        }
        return b.toString();
    }
}
