package dev.zq.runtime;

import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** A kernel parameter: I32 values in off-heap memory. */
public final class IntArray implements KernelBuffer {
    private final MemorySegment segment;

    private IntArray(MemorySegment segment) { this.segment = segment; }


    public static IntArray allocate(Arena arena, int length) { return new IntArray(arena.allocate(4L * length, 64)); }

    public static IntArray of(Arena arena, int... values) {
        IntArray a = allocate(arena, values.length);
        MemorySegment.copy(values, 0, a.segment, Tensor.I32, 0, values.length);
        return a;
    }

    public static IntArray view(Tensor t) {
        if (t.dtype() != DType.I32) throw new IllegalArgumentException("IntArray needs an I32 tensor, got " + t);
        return new IntArray(t.segment());
    }

    public int get(int i) { return segment.getAtIndex(Tensor.I32, i); }
    public void set(int i, int v) { segment.setAtIndex(Tensor.I32, i, v); }
    public int length() { return (int) (segment.byteSize() / 4); }
    @Override public MemorySegment segment() { return segment; }
    public int[] toArray() { return segment.toArray(Tensor.I32); }

    synchronized int getAndAdd(int i, int v) {
        int old = get(i);
        set(i, old + v);
        return old;
    }
}
