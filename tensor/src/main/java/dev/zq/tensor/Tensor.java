package dev.zq.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * A row-major, contiguous tensor in off-heap memory. The memory belongs to the {@link Arena} that
 * allocated it (or to whoever owns the segment passed to {@link #wrap}); a tensor is a typed view of it.
 * All values are little-endian, as in safetensors, ONNX and on the GPU.
 *
 * <p>Element accessors take a flat row-major index. {@link #getFloat}/{@link #setFloat} convert for the
 * float types (F32, F16, BF16); the integer types have their own accessors, and I4 values are signed
 * nibbles, element {@code 2i} in the low nibble of byte {@code i}.
 */
public final class Tensor {
    public static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final MemorySegment segment;
    private final DType dtype;
    private final Shape shape;

    private Tensor(MemorySegment segment, DType dtype, Shape shape) {
        this.segment = segment;
        this.dtype = dtype;
        this.shape = shape;
    }

    /** A zero-filled tensor allocated in {@code arena}, aligned to 64 bytes for vector loads. */
    public static Tensor allocate(Arena arena, DType dtype, int... dims) {
        Shape shape = Shape.of(dims);
        return new Tensor(arena.allocate(Math.max(1, dtype.byteSize(shape.numel())), 64), dtype, shape);
    }

    /** A typed view of existing memory; the segment must be exactly as large as the shape needs. */
    public static Tensor wrap(MemorySegment segment, DType dtype, Shape shape) {
        Objects.requireNonNull(segment, "segment");
        long need = dtype.byteSize(shape.numel());
        if (segment.byteSize() != need)
            throw new IllegalArgumentException("segment of " + segment.byteSize() + " bytes cannot hold " + dtype + shape + " (" + need + " bytes)");
        return new Tensor(segment, dtype, shape);
    }

    /** An F32 tensor holding a copy of {@code values}. */
    public static Tensor ofFloats(Arena arena, float[] values, int... dims) {
        Tensor t = allocate(arena, DType.F32, dims);
        if (t.shape.numel() != values.length)
            throw new IllegalArgumentException(values.length + " values for shape " + t.shape);
        MemorySegment.copy(values, 0, t.segment, F32, 0, values.length);
        return t;
    }

    public MemorySegment segment() { return segment; }

    /**
     * Whether threads other than this one may read and write the tensor (its arena is shared, global or automatic, not
     * confined): where a fill or a conversion may split over threads.
     */
    public boolean sharedAcrossThreads() { return segment.isAccessibleBy(NOT_THE_OWNER); }

    /** A thread that owns no arena (never started): a confined segment is not accessible by it. */
    private static final Thread NOT_THE_OWNER = Thread.ofVirtual().unstarted(() -> { });
    public DType dtype() { return dtype; }
    public Shape shape() { return shape; }
    public int dim(int i) { return shape.dim(i); }
    public int rank() { return shape.rank(); }
    public long numel() { return shape.numel(); }
    public long byteSize() { return segment.byteSize(); }

    /** The same memory seen with another shape of the same element count. */
    public Tensor reshape(int... dims) {
        Shape s = Shape.of(dims);
        if (s.numel() != shape.numel()) throw new IllegalArgumentException("cannot reshape " + shape + " to " + s);
        return new Tensor(segment, dtype, s);
    }

    /** Rows {@code [from, to)} of the first dimension, sharing memory. Not for I4 with odd row lengths. */
    public Tensor slice(int from, int to) {
        int rows = shape.dim(0);
        Objects.checkFromToIndex(from, to, rows);
        long rowElems = shape.stride(0);
        if (dtype == DType.I4 && rowElems % 2 != 0) throw new IllegalArgumentException("I4 rows of odd length cannot be sliced");
        int[] d = shape.dims();
        d[0] = to - from;
        long rowBytes = dtype.byteSize(rowElems);
        return new Tensor(segment.asSlice(from * rowBytes, (to - from) * rowBytes), dtype, Shape.of(d));
    }

    public float getFloat(long i) {
        return switch (dtype) {
            case F32 -> segment.getAtIndex(F32, i);
            case F16 -> Float.float16ToFloat(segment.getAtIndex(I16, i));
            case BF16 -> Float.intBitsToFloat(segment.getAtIndex(I16, i) << 16);
            case I8 -> segment.get(ValueLayout.JAVA_BYTE, i);
            case I32 -> segment.getAtIndex(I32, i);
            case F64 -> (float) segment.getAtIndex(F64, i);
            case I64 -> segment.getAtIndex(I64, i);
            case I4 -> getI4(i);
        };
    }

    public void setFloat(long i, float v) {
        switch (dtype) {
            case F32 -> segment.setAtIndex(F32, i, v);
            case F16 -> segment.setAtIndex(I16, i, Float.floatToFloat16(v));
            case BF16 -> segment.setAtIndex(I16, i, bf16(v));
            case F64 -> segment.setAtIndex(F64, i, v);
            default -> throw new UnsupportedOperationException("setFloat on " + dtype + " tensor");
        }
    }

    public byte getByte(long i) { return segment.get(ValueLayout.JAVA_BYTE, i); }
    public void setByte(long i, byte v) { segment.set(ValueLayout.JAVA_BYTE, i, v); }
    public int getInt(long i) { return segment.getAtIndex(I32, i); }
    public void setInt(long i, int v) { segment.setAtIndex(I32, i, v); }
    public long getLong(long i) { return segment.getAtIndex(I64, i); }
    public void setLong(long i, long v) { segment.setAtIndex(I64, i, v); }

    /** Signed 4-bit value at element {@code i} of an I4 tensor, in [-8, 7]. */
    public int getI4(long i) {
        int b = segment.get(ValueLayout.JAVA_BYTE, i >>> 1);
        int nibble = (i & 1) == 0 ? b & 0xF : (b >> 4) & 0xF;
        return (nibble << 28) >> 28;
    }

    public void setI4(long i, int v) {
        if (v < -8 || v > 7) throw new IllegalArgumentException("I4 value out of range: " + v);
        long at = i >>> 1;
        int b = segment.get(ValueLayout.JAVA_BYTE, at);
        b = (i & 1) == 0 ? (b & 0xF0) | (v & 0xF) : (b & 0x0F) | ((v & 0xF) << 4);
        segment.set(ValueLayout.JAVA_BYTE, at, (byte) b);
    }

    /**
     * The flat index of the first NaN or ±Inf of a float tensor, or -1 when every value is finite (and for integer
     * tensors); reads the bits, so that an F16 tensor is checked without widening it.
     */
    public long firstNonFinite() {
        long n = shape.numel();
        switch (dtype) {
            case F32 -> { for (long i = 0; i < n; i++) if ((segment.getAtIndex(I32, i) & 0x7f80_0000) == 0x7f80_0000) return i; }
            case F16 -> { for (long i = 0; i < n; i++) if ((segment.getAtIndex(I16, i) & 0x7c00) == 0x7c00) return i; }
            case BF16 -> { for (long i = 0; i < n; i++) if ((segment.getAtIndex(I16, i) & 0x7f80) == 0x7f80) return i; }
            case F64 -> { for (long i = 0; i < n; i++) if ((segment.getAtIndex(I64, i) & 0x7ff0_0000_0000_0000L) == 0x7ff0_0000_0000_0000L) return i; }
            default -> { }
        }
        return -1;
    }

    /** A copy of the values as float (any dtype). */
    public float[] toFloatArray() {
        long n = shape.numel();
        if (n > Integer.MAX_VALUE - 8) throw new IllegalStateException("tensor too large for a Java array: " + shape);
        float[] out = new float[(int) n];
        if (dtype == DType.F32) MemorySegment.copy(segment, F32, 0, out, 0, out.length);
        else for (int i = 0; i < out.length; i++) out[i] = getFloat(i);
        return out;
    }

    /** A copy converted to {@code to} in {@code arena}; float types round to nearest even. */
    public Tensor to(Arena arena, DType to) {
        Tensor t = allocate(arena, to, shape.dims());
        long n = shape.numel();
        if (dtype == to) { MemorySegment.copy(segment, 0, t.segment, 0, segment.byteSize()); return t; }
        if (!to.isFloatingPoint()) throw new UnsupportedOperationException("conversion " + dtype + " -> " + to + " needs a quantizer");
        for (long i = 0; i < n; i++) t.setFloat(i, getFloat(i));
        return t;
    }

    /** Round-to-nearest-even bfloat16 bits of {@code v}; NaN stays NaN. */
    public static short bf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) return (short) ((bits >>> 16) | 0x40);
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    @Override public String toString() { return "Tensor" + shape + " " + dtype; }
}
