package dev.zq.runtime;

import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** A kernel parameter: IEEE half-precision values, read and written as float (rounded to nearest even). */
public final class HalfArray implements KernelBuffer {
    private final MemorySegment segment;

    private HalfArray(MemorySegment segment) { this.segment = segment; }

    /**
     * The memory of {@code other} seen as halves: in a task graph both name the same device memory, so one kernel
     * can write what the next reads in another element type.
     */
    public static HalfArray alias(KernelBuffer other) {
        if (other.segment().byteSize() % 2 != 0)
            throw new IllegalArgumentException(other.segment().byteSize() + " bytes are not a whole number of halves");
        return new HalfArray(other.segment());
    }

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
