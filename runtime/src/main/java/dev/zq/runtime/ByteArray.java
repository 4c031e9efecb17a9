package dev.zq.runtime;

import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A kernel parameter: signed bytes (INT8 codes) in off-heap memory. */
public final class ByteArray implements KernelBuffer {
    private final MemorySegment segment;

    private ByteArray(MemorySegment segment) { this.segment = segment; }


    public static ByteArray allocate(Arena arena, int length) { return new ByteArray(arena.allocate(length, 64)); }

    public static ByteArray of(Arena arena, byte... values) {
        ByteArray a = allocate(arena, values.length);
        MemorySegment.copy(values, 0, a.segment, ValueLayout.JAVA_BYTE, 0, values.length);
        return a;
    }

    public static ByteArray view(Tensor t) {
        if (t.dtype() != DType.I8) throw new IllegalArgumentException("ByteArray needs an I8 tensor, got " + t);
        return new ByteArray(t.segment());
    }

    public byte get(int i) { return segment.get(ValueLayout.JAVA_BYTE, i); }
    public void set(int i, byte v) { segment.set(ValueLayout.JAVA_BYTE, i, v); }
    public int length() { return (int) segment.byteSize(); }
    @Override public MemorySegment segment() { return segment; }
    public byte[] toArray() { return segment.toArray(ValueLayout.JAVA_BYTE); }
}
