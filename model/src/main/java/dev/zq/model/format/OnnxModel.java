package dev.zq.model.format;

import dev.zq.model.ModelFormatException;
import dev.zq.tensor.DType;
import dev.zq.tensor.Shape;
import dev.zq.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * An ONNX model read with our own protobuf decoder (no protobuf-java, no ONNX Runtime). The file is
 * memory-mapped; initializers stored as {@code raw_data} are zero-copy views of the mapping, typed
 * repeated fields are copied. Only what loading weights needs is kept: initializers, nodes with their
 * attributes, graph inputs and outputs. Close it to unmap.
 */
public final class OnnxModel implements AutoCloseable {
    private static final int FLOAT = 1, INT8 = 3, INT32 = 6, INT64 = 7, FLOAT16 = 10, DOUBLE = 11, BFLOAT16 = 16;

    private final Path file;
    private final Arena arena;
    private final Map<String, Tensor> initializers = new LinkedHashMap<>();
    private final List<OnnxNode> nodes = new ArrayList<>();
    private final Map<String, OnnxNode> nodesByName = new LinkedHashMap<>();
    private final List<OnnxValueInfo> inputs = new ArrayList<>();
    private final List<OnnxValueInfo> outputs = new ArrayList<>();
    private String producer = "";
    private long irVersion;

    private OnnxModel(Path file, Arena arena) {
        this.file = file;
        this.arena = arena;
    }

    public static OnnxModel read(Path file) throws ModelFormatException {
        Arena arena = Arena.ofShared();
        OnnxModel m = new OnnxModel(file, arena);
        try {
            MemorySegment data;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                long size = ch.size();
                if (size == 0) throw ModelFormatException.of(file, "empty file, not an ONNX model");
                data = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            }
            m.parseModel(new ProtoReader(data, 0, data.byteSize()));
            if (m.nodes.isEmpty() && m.initializers.isEmpty())
                throw ModelFormatException.of(file, "no graph found: not an ONNX model");
            return m;
        } catch (ProtoReader.ProtoException e) {
            arena.close();
            throw ModelFormatException.of(file, "corrupt ONNX protobuf: " + e.getMessage(), e);
        } catch (IOException e) {
            arena.close();
            throw ModelFormatException.of(file, "cannot read: " + e.getMessage(), e);
        } catch (ModelFormatException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    public Path file() { return file; }
    public String producer() { return producer; }
    public long irVersion() { return irVersion; }
    public Map<String, Tensor> initializers() { return Collections.unmodifiableMap(initializers); }
    public List<OnnxNode> nodes() { return Collections.unmodifiableList(nodes); }
    public List<OnnxValueInfo> inputs() { return Collections.unmodifiableList(inputs); }
    public List<OnnxValueInfo> outputs() { return Collections.unmodifiableList(outputs); }
    public Optional<OnnxNode> node(String name) { return Optional.ofNullable(nodesByName.get(name)); }

    public Tensor initializer(String name) throws ModelFormatException {
        Tensor t = initializers.get(name);
        if (t == null) throw ModelFormatException.of(file, "no initializer named '" + name + "'");
        return t;
    }

    @Override
    public void close() { arena.close(); }

    // ------------------------------------------------------------------------------------------- parsing

    private void parseModel(ProtoReader r) throws ProtoReader.ProtoException, ModelFormatException {
        boolean sawGraph = false;
        while (r.next()) {
            switch (r.field()) {
                case 1 -> irVersion = r.varint();
                case 2 -> producer = r.string();
                case 7 -> {
                    if (sawGraph) throw ModelFormatException.of(file, "more than one graph");
                    sawGraph = true;
                    long s = r.lengthDelimited();
                    parseGraph(r.sub(s));
                }
                default -> r.skip();
            }
        }
        if (!sawGraph) throw ModelFormatException.of(file, "no graph found: not an ONNX model");
    }

    private void parseGraph(ProtoReader r) throws ProtoReader.ProtoException, ModelFormatException {
        while (r.next()) {
            switch (r.field()) {
                case 1 -> {
                    OnnxNode n = parseNode(r.sub(r.lengthDelimited()));
                    nodes.add(n);
                    if (!n.name().isEmpty()) nodesByName.putIfAbsent(n.name(), n);
                }
                case 5 -> {
                    var named = parseTensor(r.sub(r.lengthDelimited()), 0);
                    if (initializers.put(named.name, named.tensor) != null)
                        throw ModelFormatException.of(file, "initializer '" + named.name + "' defined twice");
                }
                case 11 -> inputs.add(parseValueInfo(r.sub(r.lengthDelimited())));
                case 12 -> outputs.add(parseValueInfo(r.sub(r.lengthDelimited())));
                default -> r.skip();
            }
        }
    }

    private OnnxNode parseNode(ProtoReader r) throws ProtoReader.ProtoException, ModelFormatException {
        List<String> in = new ArrayList<>(), out = new ArrayList<>();
        Map<String, OnnxAttribute> attrs = new LinkedHashMap<>();
        String name = "", op = "";
        while (r.next()) {
            switch (r.field()) {
                case 1 -> in.add(r.string());
                case 2 -> out.add(r.string());
                case 3 -> name = r.string();
                case 4 -> op = r.string();
                case 5 -> {
                    OnnxAttribute a = parseAttribute(r.sub(r.lengthDelimited()));
                    attrs.put(a.name(), a);
                }
                default -> r.skip();
            }
        }
        return new OnnxNode(name, op, List.copyOf(in), List.copyOf(out), Collections.unmodifiableMap(attrs));
    }

    private OnnxAttribute parseAttribute(ProtoReader r) throws ProtoReader.ProtoException, ModelFormatException {
        String name = "", s = null;
        int type = 0;
        long i = 0;
        float f = 0;
        Tensor t = null;
        List<Long> ints = new ArrayList<>();
        List<Float> floats = new ArrayList<>();
        List<String> strings = new ArrayList<>();
        while (r.next()) {
            switch (r.field()) {
                case 1 -> name = r.string();
                case 2 -> f = r.float32();
                case 3 -> i = r.varint();
                case 4 -> s = r.string();
                case 5 -> t = parseTensor(r.sub(r.lengthDelimited()), 0).tensor;
                case 7 -> r.repeatedFixed(4, v -> floats.add(Float.intBitsToFloat((int) v)));
                case 8 -> r.repeatedVarint(ints::add);
                case 9 -> strings.add(r.string());
                case 20 -> type = r.int32();
                default -> r.skip();
            }
        }
        long[] iv = ints.stream().mapToLong(Long::longValue).toArray();
        float[] fv = new float[floats.size()];
        for (int k = 0; k < fv.length; k++) fv[k] = floats.get(k);
        return new OnnxAttribute(name, type, i, f, s, iv, fv, List.copyOf(strings), t);
    }

    private OnnxValueInfo parseValueInfo(ProtoReader r) throws ProtoReader.ProtoException {
        String name = "";
        int elem = 0;
        List<String> dims = new ArrayList<>();
        while (r.next()) {
            if (r.field() == 1) name = r.string();
            else if (r.field() == 2) {
                ProtoReader type = r.sub(r.lengthDelimited());
                while (type.next()) {
                    if (type.field() != 1) { type.skip(); continue; }         // tensor_type
                    ProtoReader tt = type.sub(type.lengthDelimited());
                    while (tt.next()) {
                        if (tt.field() == 1) elem = tt.int32();
                        else if (tt.field() == 2) {                             // shape
                            ProtoReader shape = tt.sub(tt.lengthDelimited());
                            while (shape.next()) {
                                if (shape.field() != 1) { shape.skip(); continue; }
                                ProtoReader dim = shape.sub(shape.lengthDelimited());
                                String d = "?";
                                while (dim.next()) {
                                    if (dim.field() == 1) d = Long.toString(dim.varint());
                                    else if (dim.field() == 2) d = dim.string();
                                    else dim.skip();
                                }
                                dims.add(d);
                            }
                        } else tt.skip();
                    }
                }
            } else r.skip();
        }
        return new OnnxValueInfo(name, elem, List.copyOf(dims));
    }

    private record Named(String name, Tensor tensor) {}

    /** A TensorProto: raw_data becomes a view of the mapping, typed repeated fields a copy. */
    private Named parseTensor(ProtoReader r, int depth) throws ProtoReader.ProtoException, ModelFormatException {
        List<Long> dims = new ArrayList<>();
        int dataType = 0;
        String name = "";
        long rawStart = -1, rawLen = 0;
        boolean external = false;
        List<Long> ints = new ArrayList<>();      // int32_data / int64_data values
        List<Long> fixed = new ArrayList<>();     // float_data (bits) / double_data (bits)
        while (r.next()) {
            switch (r.field()) {
                case 1 -> r.repeatedVarint(dims::add);
                case 2 -> dataType = r.int32();
                case 4 -> r.repeatedFixed(4, fixed::add);
                case 5, 7 -> r.repeatedVarint(ints::add);
                case 8 -> name = r.string();
                case 9 -> {
                    rawStart = r.lengthDelimited();
                    rawLen = r.position() - rawStart;
                }
                case 10 -> r.repeatedFixed(8, fixed::add);
                case 13 -> { external = true; r.skip(); }
                case 14 -> external |= r.int32() == 1;
                default -> r.skip();
            }
        }
        String what = "tensor '" + name + "'";
        if (external) throw ModelFormatException.of(file, what + " keeps its data in an external file, which zq does not read");
        DType dtype = switch (dataType) {
            case FLOAT -> DType.F32;
            case FLOAT16 -> DType.F16;
            case BFLOAT16 -> DType.BF16;
            case DOUBLE -> DType.F64;
            case INT8 -> DType.I8;
            case INT32 -> DType.I32;
            case INT64 -> DType.I64;
            default -> throw ModelFormatException.of(file, what + " has ONNX data type " + dataType + ", which zq does not support");
        };
        long[] d = new long[dims.size()];
        for (int k = 0; k < d.length; k++) {
            d[k] = dims.get(k);
            if (d[k] < 0 || d[k] > Integer.MAX_VALUE) throw ModelFormatException.of(file, what + " has dimension " + d[k]);
        }
        Shape shape;
        try {
            shape = Shape.ofLongs(d);
        } catch (ArithmeticException | IllegalArgumentException e) {
            throw ModelFormatException.of(file, what + " has dims " + dims + " whose product overflows");
        }
        long numel = shape.numel();
        if (rawStart >= 0) {
            long need = dtype.byteSize(numel);
            if (rawLen != need)
                throw ModelFormatException.of(file, what + " " + dtype + shape + " needs " + need + " bytes of raw_data, has " + rawLen);
            return new Named(name, Tensor.wrap(r.slice(rawStart, rawLen), dtype, shape));
        }
        List<Long> values = dtype == DType.F32 || dtype == DType.F64 ? fixed : ints;
        if (values.size() != numel)
            throw ModelFormatException.of(file, what + " " + dtype + shape + " holds " + values.size() + " values, needs " + numel);
        Tensor t = Tensor.allocate(arena, dtype, shape.dims());
        for (int k = 0; k < values.size(); k++) {
            long v = values.get(k);
            switch (dtype) {
                case F32 -> t.setFloat(k, Float.intBitsToFloat((int) v));
                case F64 -> t.segment().setAtIndex(Tensor.F64, k, Double.longBitsToDouble(v));
                case F16, BF16 -> t.segment().setAtIndex(Tensor.I16, k, (short) v);   // int32_data holds the 16 bits
                case I8 -> t.setByte(k, (byte) v);
                case I32 -> t.setInt(k, (int) v);
                case I64 -> t.setLong(k, v);
                default -> throw new IllegalStateException();
            }
        }
        return new Named(name, t);
    }
}
