package dev.zq.model.corpus;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/** The little of ustar that npm's tarballs use: regular files with names up to 255 bytes (prefix + name). */
final class TarReader {
    private TarReader() {}

    record Entry(String name, byte[] content) {}

    /** The next regular file, or null at the end of the archive. */
    static Entry next(InputStream in) throws IOException {
        while (true) {
            byte[] header = in.readNBytes(512);
            if (header.length < 512 || isZero(header)) return null;
            String name = field(header, 0, 100), prefix = field(header, 345, 155);
            long size = octal(header, 124, 12);
            if (size < 0 || size > (256L << 20)) throw new IOException("tar entry " + name + " has an impossible size " + size);
            byte[] data = in.readNBytes((int) size);
            if (data.length != size) throw new IOException("tar entry " + name + " is truncated");
            in.skipNBytes((512 - size % 512) % 512);
            char type = (char) header[156];
            if (type == '0' || type == 0) return new Entry(prefix.isEmpty() ? name : prefix + "/" + name, data);
        }
    }

    private static boolean isZero(byte[] b) {
        for (byte x : b) if (x != 0) return false;
        return true;
    }

    private static String field(byte[] h, int off, int len) {
        int end = off;
        while (end < off + len && h[end] != 0) end++;
        return new String(h, off, end - off, StandardCharsets.UTF_8);
    }

    private static long octal(byte[] h, int off, int len) throws IOException {
        String s = field(h, off, len).trim();
        try {
            return s.isEmpty() ? 0 : Long.parseLong(s, 8);
        } catch (NumberFormatException e) {
            throw new IOException("bad tar size field '" + s + "'");
        }
    }
}
