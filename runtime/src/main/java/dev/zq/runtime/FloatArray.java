package dev.zq.runtime;

import dev.zq.tensor.DType;
import dev.zq.tensor.Shape;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** A kernel parameter: F32 values in off-heap memory (a view of a tensor, or allocated). */
public final class FloatArray implements KernelBuffer {
    private final MemorySegment segment;

    private FloatArray(MemorySegment segment) { this.segment = segment; }


    public static FloatArray allocate(Arena arena, int length) { return new FloatArray(arena.allocate(4L * length, 64)); }

    public static FloatArray of(Arena arena, float... values) {
        FloatArray a = allocate(arena, values.length);
        MemorySegment.copy(values, 0, a.segment, Tensor.F32, 0, values.length);
        return a;
    }

    public static FloatArray view(Tensor t) {
        if (t.dtype() != DType.F32) throw new IllegalArgumentException("FloatArray needs an F32 tensor, got " + t);
        return new FloatArray(t.segment());
    }

    public float get(int i) { return segment.getAtIndex(Tensor.F32, i); }
    public void set(int i, float v) { segment.setAtIndex(Tensor.F32, i, v); }
    public int length() { return (int) (segment.byteSize() / 4); }
    @Override public MemorySegment segment() { return segment; }
    public float[] toArray() { return segment.toArray(Tensor.F32); }
    public Tensor asTensor() { return Tensor.wrap(segment, DType.F32, Shape.of(length())); }

    synchronized float getAndAdd(int i, float v) {
        float old = get(i);
        set(i, old + v);
        return old;
    }
}
