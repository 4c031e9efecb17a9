package dev.zq.runtime;

import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** A kernel parameter: IEEE half-precision values, read and written as float (rounded to nearest even). */
public final class HalfArray implements KernelBuffer {
    private final MemorySegment segment;

    private HalfArray(MemorySegment segment) { this.segment = segment; }


    public static HalfArray allocate(Arena arena, int length) { return new HalfArray(arena.allocate(2L * length, 64)); }

    public static HalfArray view(Tensor t) {
        if (t.dtype() != DType.F16) throw new IllegalArgumentException("HalfArray needs an F16 tensor, got " + t);
        return new HalfArray(t.segment());
    }

    public float get(int i) { return Float.float16ToFloat(segment.getAtIndex(Tensor.I16, i)); }
    public void set(int i, float v) { segment.setAtIndex(Tensor.I16, i, Float.floatToFloat16(v)); }
    public int length() { return (int) (segment.byteSize() / 2); }
    @Override public MemorySegment segment() { return segment; }
}
