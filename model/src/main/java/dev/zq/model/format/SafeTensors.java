package dev.zq.model.format;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.zq.model.ModelFormatException;
import dev.zq.tensor.DType;
import dev.zq.tensor.Shape;
import dev.zq.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Hugging Face's safetensors format: an 8-byte little-endian header length, a JSON header
 * ({@code name → {dtype, shape, data_offsets}} plus an optional {@code __metadata__} string map), then the
 * tensor bytes. Reading memory-maps the file and validates the header as the reference implementation
 * does (offsets in bounds, contiguous from 0 with no holes or overlaps, sizes equal to shape × dtype),
 * so a hostile header fails with a message instead of an out-of-bounds read or a huge allocation.
 *
 * <p>safetensors has no 4-bit type: a packed {@link DType#I4} tensor is written as {@code I8} bytes of shape
 * {@code [ceil(n/2)]}, with its real type and shape in the metadata under {@code zq.dtype.NAME} and
 * {@code zq.shape.NAME}; this reader restores it.
 */
public final class SafeTensors implements AutoCloseable {
    /** The reference implementation's limit on the JSON header. */
    public static final long MAX_HEADER = 100L << 20;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, DType> DTYPES = Map.of("F32", DType.F32, "F16", DType.F16, "BF16", DType.BF16,
            "F64", DType.F64, "I8", DType.I8, "I32", DType.I32, "I64", DType.I64);
    private static final Set<String> KNOWN_UNSUPPORTED = Set.of("I16", "U8", "U16", "U32", "U64", "BOOL", "F8_E4M3", "F8_E5M2");

    private final Path file;
    private final Arena arena;
    private final Map<String, Tensor> tensors;
    private final Map<String, String> metadata;

    private SafeTensors(Path file, Arena arena, Map<String, Tensor> tensors, Map<String, String> metadata) {
        this.file = file;
        this.arena = arena;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    public static SafeTensors open(Path file) throws ModelFormatException {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment data;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                data = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            }
            return parse(file, arena, data);
        } catch (IOException e) {
            arena.close();
            throw ModelFormatException.of(file, "cannot read: " + e.getMessage(), e);
        } catch (ModelFormatException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static SafeTensors parse(Path file, Arena arena, MemorySegment data) throws ModelFormatException {
        long size = data.byteSize();
        if (size < 8) throw ModelFormatException.of(file, "file of " + size + " bytes is too short for a safetensors header");
        long headerLen = data.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLen < 2 || headerLen > MAX_HEADER || headerLen > size - 8)
            throw ModelFormatException.of(file, "header length " + Long.toUnsignedString(headerLen) + " is impossible for a file of "
                    + size + " bytes (at most " + Math.min(MAX_HEADER, size - 8) + ")");
        byte[] headerBytes = data.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
        JsonNode header;
        try {
            header = JSON.readTree(headerBytes);
        } catch (JsonProcessingException e) {
            throw ModelFormatException.of(file, "header is not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw ModelFormatException.of(file, "header cannot be read: " + e.getMessage(), e);
        }
        if (header == null || !header.isObject()) throw ModelFormatException.of(file, "header is not a JSON object");

        Map<String, String> metadata = new LinkedHashMap<>();
        JsonNode meta = header.get("__metadata__");
        if (meta != null) {
            if (!meta.isObject()) throw ModelFormatException.of(file, "__metadata__ must be an object of strings");
            for (var e : meta.properties()) {
                if (!e.getValue().isTextual()) throw ModelFormatException.of(file, "__metadata__." + e.getKey() + " must be a string");
                metadata.put(e.getKey(), e.getValue().asText());
            }
        }

        long dataStart = 8 + headerLen, dataLen = size - dataStart;
        record Entry(String name, DType dtype, Shape shape, long begin, long end) {}
        List<Entry> entries = new ArrayList<>();
        for (var e : header.properties()) {
            String name = e.getKey();
            if (name.equals("__metadata__")) continue;
            JsonNode t = e.getValue();
            String what = "tensor '" + name + "'";
            if (!t.isObject()) throw ModelFormatException.of(file, what + " is not an object");
            for (String k : List.of("dtype", "shape", "data_offsets"))
                if (!t.has(k)) throw ModelFormatException.of(file, what + " has no '" + k + "'");
            String dt = t.get("dtype").asText();
            DType dtype = DTYPES.get(dt);
            if (dtype == null)
                throw ModelFormatException.of(file, what + " has " + (KNOWN_UNSUPPORTED.contains(dt) ? "dtype " + dt + ", which zq does not support" : "unknown dtype '" + t.get("dtype") + "'"));
            JsonNode sh = t.get("shape"), off = t.get("data_offsets");
            if (!sh.isArray()) throw ModelFormatException.of(file, what + " shape is not an array");
            long[] dims = new long[sh.size()];
            for (int i = 0; i < dims.length; i++) {
                JsonNode d = sh.get(i);
                if (!d.isIntegralNumber() || !d.canConvertToLong() || d.asLong() < 0 || d.asLong() > Integer.MAX_VALUE)
                    throw ModelFormatException.of(file, what + " has invalid dimension " + d);
                dims[i] = d.asLong();
            }
            Shape shape;
            try {
                shape = Shape.ofLongs(dims);
            } catch (ArithmeticException | IllegalArgumentException ex) {
                throw ModelFormatException.of(file, what + " shape " + Arrays.toString(dims) + " overflows");
            }
            if (!off.isArray() || off.size() != 2 || !off.get(0).canConvertToLong() || !off.get(1).canConvertToLong()
                    || !off.get(0).isIntegralNumber() || !off.get(1).isIntegralNumber())
                throw ModelFormatException.of(file, what + " data_offsets must be two integers, got " + off);
            long begin = off.get(0).asLong(), end = off.get(1).asLong();
            if (begin < 0 || end < begin || end > dataLen)
                throw ModelFormatException.of(file, what + " data_offsets [" + begin + ", " + end + "] fall outside the " + dataLen + " data bytes");
            long need;
            try {
                need = dtype.byteSize(shape.numel());
            } catch (ArithmeticException ex) {
                throw ModelFormatException.of(file, what + " is too large");
            }
            if (end - begin != need)
                throw ModelFormatException.of(file, what + " " + dt + shape + " needs " + need + " bytes, data_offsets give " + (end - begin));
            entries.add(new Entry(name, dtype, shape, begin, end));
        }
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long expect = 0;
        for (Entry en : sorted) {
            if (en.begin() < expect)
                throw ModelFormatException.of(file, "tensor '" + en.name() + "' overlaps the tensor before it (offset " + en.begin() + " < " + expect + ")");
            if (en.begin() > expect)
                throw ModelFormatException.of(file, "hole in the data before tensor '" + en.name() + "' (bytes " + expect + ".." + en.begin() + " belong to no tensor)");
            expect = en.end();
        }
        if (expect != dataLen)
            throw ModelFormatException.of(file, "the tensors cover " + expect + " of the " + dataLen + " data bytes");

        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Entry en : entries) {
            MemorySegment seg = data.asSlice(dataStart + en.begin(), en.end() - en.begin());
            tensors.put(en.name(), restoreI4(file, en.name(), metadata, Tensor.wrap(seg, en.dtype(), en.shape())));
        }
        return new SafeTensors(file, arena, Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
    }

    private static Tensor restoreI4(Path file, String name, Map<String, String> meta, Tensor t) throws ModelFormatException {
        String dt = meta.get("zq.dtype." + name);
        if (dt == null) return t;
        if (!dt.equals("I4") || t.dtype() != DType.I8)
            throw ModelFormatException.of(file, "metadata zq.dtype." + name + " = " + dt + " does not fit stored " + t.dtype());
        String shape = meta.get("zq.shape." + name);
        if (shape == null) throw ModelFormatException.of(file, "I4 tensor '" + name + "' has no zq.shape metadata");
        Shape s;
        try {
            long[] dims = Arrays.stream(shape.replaceAll("[\\[\\]\\s]", "").split(",")).filter(x -> !x.isEmpty()).mapToLong(Long::parseLong).toArray();
            s = Shape.ofLongs(dims);
        } catch (RuntimeException e) {
            throw ModelFormatException.of(file, "bad zq.shape." + name + " '" + shape + "'");
        }
        if (DType.I4.byteSize(s.numel()) != t.byteSize())
            throw ModelFormatException.of(file, "I4 tensor '" + name + "' of shape " + s + " needs " + DType.I4.byteSize(s.numel()) + " bytes, has " + t.byteSize());
        return Tensor.wrap(t.segment(), DType.I4, s);
    }

    public Path file() { return file; }
    public java.util.Set<String> names() { return tensors.keySet(); }
    public Map<String, String> metadata() { return metadata; }

    public Tensor get(String name) throws ModelFormatException {
        Tensor t = tensors.get(name);
        if (t == null) throw ModelFormatException.of(file, "no tensor named '" + name + "'");
        return t;
    }

    @Override
    public void close() { arena.close(); }

    /**
     * Writes {@code tensors} (in the map's order) and {@code metadata} to {@code file} atomically: into a
     * temporary file beside it, then renamed over it, so a crash never leaves a half-written file.
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        Map<String, String> meta = new LinkedHashMap<>(metadata);
        ObjectNode header = JSON.createObjectNode();
        long offset = 0;
        for (var e : tensors.entrySet()) {
            Tensor t = e.getValue();
            String name = e.getKey();
            if (name.equals("__metadata__")) throw new IllegalArgumentException("'__metadata__' cannot name a tensor");
            String dtype;
            long[] shape;
            if (t.dtype() == DType.I4) {
                dtype = "I8";
                shape = new long[]{t.byteSize()};
                meta.put("zq.dtype." + name, "I4");
                meta.put("zq.shape." + name, t.shape().toString());
            } else {
                dtype = t.dtype().name();
                shape = Arrays.stream(t.shape().dims()).asLongStream().toArray();
            }
            ObjectNode n = header.putObject(name);
            n.put("dtype", dtype);
            var sh = n.putArray("shape");
            for (long d : shape) sh.add(d);
            n.putArray("data_offsets").add(offset).add(offset + t.byteSize());
            offset += t.byteSize();
        }
        if (!meta.isEmpty()) {
            ObjectNode m = JSON.createObjectNode();
            meta.forEach(m::put);
            // __metadata__ first, as the reference writer does.
            ObjectNode withMeta = JSON.createObjectNode();
            withMeta.set("__metadata__", m);
            withMeta.setAll(header);
            header = withMeta;
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;
        byte[] headerBytes = Arrays.copyOf(json, padded);
        Arrays.fill(headerBytes, json.length, padded, (byte) ' ');

        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".part");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).flip();
                writeFully(ch, len);
                writeFully(ch, ByteBuffer.wrap(headerBytes));
                for (Tensor t : tensors.values()) writeFully(ch, t.segment().asByteBuffer());
                ch.force(true);
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }

    @Override
    public String toString() { return "SafeTensors(" + file + ", " + tensors.size() + " tensors)"; }

}
